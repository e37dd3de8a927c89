package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// ErrInconsistent is wrapped by Checkpoint's error when the stored history
// contradicts the latest signed checkpoint: stored hashes that do not give
// its root, nodes that are not the hash of their children, a segment that
// cannot be read. The log then signs nothing more until an operator has
// checked it (waybill log check) and restarted it. An event whose bytes
// alone are damaged is not such a contradiction: see Checkpoint.
var ErrInconsistent = errors.New("history is inconsistent with the last signed checkpoint")

// ErrNoCheckpoint is returned when no checkpoint has been signed yet.
var ErrNoCheckpoint = errors.New("no checkpoint has been signed in this epoch")

// scrubBudget is the least number of older events each Checkpoint re-hashes,
// on top of every event since the previous checkpoint.
const scrubBudget = 4096

func (l *Log) checkpointPath() string {
	return filepath.Join(l.dir, EpochDir(l.epoch), "checkpoint")
}

// Verifier returns the checkpoint verifier that needs no secret: the
// device's secp256k1 signature line, checked against its address.
func (l *Log) Verifier() checkpoint.Verifier {
	return signer.NoteVerifier(l.id.KeyName(), l.id.Device, l.id.Domain())
}

// latest reads and verifies the latest checkpoint of the current epoch; it
// returns nil, nil, nil when there is none. The caller holds l.mu or is
// Open.
//
// The checkpoint file is a copy: every note is also committed to the
// segment that was active when it was signed (storeCheckpoint). When the
// file is missing, unreadable or damaged, the newest note stored in the
// segments is used instead, and a writable log puts it back in the file
// (the damaged bytes are kept under damaged/), so that a damaged copy never
// stops the log. Only when neither holds a valid note is the file's damage
// an error.
func (l *Log) latest() (*checkpoint.Checkpoint, []byte, error) {
	path := l.checkpointPath()
	b, err := os.ReadFile(path)
	if err == nil {
		var c checkpoint.Checkpoint
		if c, err = l.openLatest(b); err == nil {
			return &c, b, nil
		}
	}
	missing := errors.Is(err, fs.ErrNotExist)
	if !missing {
		err = fmt.Errorf("latest checkpoint %s: %w", l.relFile(path), err)
	}
	stored, serr := l.latestStored()
	if serr != nil || stored == nil {
		if missing {
			// No file and no stored note: nothing was signed in this
			// epoch, or the notes are in segments that cannot be read,
			// which the reads of those segments report.
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("eventlog: %w: %w; no checkpoint stored in the segments replaces it (%v); check the log with: waybill log check --data %s",
			errSegmentCheck, err, serr, l.dir)
	}
	c, _ := l.openLatest(stored) // latestStored verified it
	switch {
	case !missing && l.writable:
		l.opts.Logger.Error("CHECKPOINT FILE DAMAGED: restored from the copy stored in the segments; the damaged file is kept under damaged/", "file", l.relFile(path), "size", c.Size, "err", err)
	case !missing:
		l.opts.Logger.Error("CHECKPOINT FILE DAMAGED: using the copy stored in the segments (the agent restores the file when it starts)", "file", l.relFile(path), "size", c.Size, "err", err)
	default:
		l.opts.Logger.Warn("checkpoint file missing: using the copy stored in the segments", "file", l.relFile(path), "size", c.Size)
	}
	if l.writable {
		if !missing && b != nil {
			keep := filepath.Join(l.dir, "damaged", fmt.Sprintf("checkpoint-%s-%s", EpochDir(l.epoch), l.opts.Now().UTC().Format("20060102T150405.000000000Z")))
			if e := os.MkdirAll(filepath.Dir(keep), 0o755); e == nil {
				if e := atomicfile.WriteFile(keep, b, 0o644); e != nil {
					l.opts.Logger.Error("could not keep the damaged checkpoint file", "to", keep, "err", e)
				}
			}
		}
		if e := atomicfile.WriteFile(path, stored, 0o644); e != nil {
			l.opts.Logger.Error("could not restore the checkpoint file; the stored copy stays in use", "file", l.relFile(path), "err", e)
		}
	}
	return &c, stored, nil
}

// openLatest verifies note as a checkpoint of the current epoch.
func (l *Log) openLatest(note []byte) (checkpoint.Checkpoint, error) {
	c, _, err := checkpoint.OpenCheckpoint(note, l.Verifier())
	if err != nil {
		return c, err
	}
	if c.Origin != l.origin {
		return c, fmt.Errorf("it is a checkpoint of origin %q, not %q", c.Origin, l.origin)
	}
	return c, nil
}

// latestStored returns the newest valid checkpoint note stored in the
// epoch's segments, or nil. Notes are stored in the segment active when
// they were signed, so the newest is in the last segment holding any, or
// (signed while the segment rolled) in the one before it. The caller holds
// l.mu or is Open.
func (l *Log) latestStored() ([]byte, error) {
	var best []byte
	var bestSize uint64
	found := -1
	var errs []error
	for i := len(l.man.Segments) - 1; i >= 0 && (found < 0 || i >= found-1); i-- {
		seg := l.man.Segments[i]
		db, own := (*bolt.DB)(nil), false
		if s, ok := l.sealed[i]; ok {
			db = s.db
		} else {
			var err error
			if db, err = l.boltOpen(filepath.Join(l.dir, seg.File), true); err != nil {
				errs = append(errs, err)
				continue
			}
			own = true
		}
		err := guard(seg.File, 0, false, func() error {
			return db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket(bCheckpoints)
				if b == nil {
					return nil
				}
				c := b.Cursor()
				if k, _ := c.Last(); k != nil && found < 0 {
					found = i
				}
				for k, v := c.Last(); k != nil; k, v = c.Prev() {
					if len(k) != 8 {
						continue
					}
					size := binary.BigEndian.Uint64(k)
					if best != nil && size <= bestSize {
						break
					}
					if _, err := l.openLatest(v); err == nil {
						best, bestSize = bytes.Clone(v), size
						break
					}
				}
				return nil
			})
		})
		if own {
			db.Close()
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if best == nil {
		return nil, errors.Join(errs...)
	}
	return best, nil
}

// Latest returns the latest signed checkpoint note and its parsed body, or
// ErrNoCheckpoint.
func (l *Log) Latest() ([]byte, checkpoint.Checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, note, err := l.latest()
	if err != nil {
		return nil, checkpoint.Checkpoint{}, err
	}
	if c == nil {
		return nil, checkpoint.Checkpoint{}, ErrNoCheckpoint
	}
	return note, *c, nil
}

// CheckpointAt returns the signed checkpoint note of tree size size, if one
// was signed in this epoch.
func (l *Log) CheckpointAt(size uint64) ([]byte, error) {
	r, err := l.newReader()
	if err != nil {
		return nil, err
	}
	defer r.release()
	start := 0
	if size > 0 {
		start = r.segFor(size - 1)
	}
	for i := start; i < len(r.segs); i++ {
		var note []byte
		err := r.view(i, 0, false, func(tx *bolt.Tx) error {
			note = bytes.Clone(tx.Bucket(bCheckpoints).Get(u64(size)))
			return nil
		})
		if err != nil {
			return nil, err
		}
		if note == nil {
			continue
		}
		// A stored note is handed out only if it is what was signed.
		c, _, err := checkpoint.OpenCheckpoint(note, l.Verifier())
		if err == nil && (c.Origin != r.l.Origin() || c.Size != size) {
			err = fmt.Errorf("it is the checkpoint of %q at size %d", c.Origin, c.Size)
		}
		if err != nil {
			return nil, l.noteDamage(&DamageError{File: r.segs[i].File,
				Err: fmt.Errorf("the checkpoint stored at size %d does not verify: %v", size, err)})
		}
		return note, nil
	}
	return nil, fmt.Errorf("eventlog: no checkpoint was signed at size %d (sign one with: waybill log checkpoint --key …, or prove against the latest)", size)
}

// Checkpoint signs a checkpoint of the current tree and makes it the latest.
// Before signing it checks that the stored history still reproduces the
// previous signed checkpoint, re-hashes every event added since, and
// re-hashes a rotating share of the older events. If any check fails it
// signs nothing, raises the alarm (logged at error level, and returned by
// Alarm) and returns an error wrapping ErrInconsistent; it then refuses to
// sign until the log is reopened.
//
// An event whose bytes do not match its stored hash, while its stored
// hashes agree with the nodes above them and with the signed checkpoints,
// is damage of that event, not of the history: the tree Checkpoint signs is
// made of the stored hashes. Checkpoint records it (Log.Damaged, logged
// once at error level) and signs; the event is never served, and is proven
// like a pruned one, from a copy its holder supplies.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, checkpoint.Checkpoint, error) {
	var zero checkpoint.Checkpoint
	if !l.writable {
		return nil, zero, ErrReadOnly
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, zero, ErrClosed
	}
	if l.alarm != nil {
		err := l.alarm
		l.mu.Unlock()
		return nil, zero, err
	}
	prev, _, err := l.latest()
	if err != nil {
		l.mu.Unlock()
		return nil, zero, err
	}
	r := l.readerAt(l.frontier.Size())
	size, root := l.frontier.Size(), l.frontier.Root()
	scrubFrom := l.scrub
	l.mu.Unlock()
	// Release the read transactions before writing (a bbolt write that
	// grows the mapping waits for every open read transaction), and
	// whatever happens: bbolt's Close waits for them too.
	next, err := func() (uint64, error) {
		defer r.release()
		return l.verifyHistory(ctx, r, prev, size, root, scrubFrom)
	}()
	if err != nil {
		if errors.Is(err, ErrInconsistent) {
			l.mu.Lock()
			l.alarm = err
			l.mu.Unlock()
			l.opts.Logger.Error("ALARM: refusing to sign a checkpoint", "dir", l.dir, "origin", l.origin, "err", err)
		}
		return nil, zero, err
	}
	if prev != nil && prev.Size == size {
		// Nothing new: re-sign nothing, return the latest.
		note, c, err := l.Latest()
		return note, c, err
	}
	c := checkpoint.Checkpoint{Origin: l.origin, Size: size, Root: root}
	signers, err := l.opts.Keys.NoteSigners(l.id.KeyName(), l.id.Domain())
	if err != nil {
		return nil, zero, err
	}
	note, err := checkpoint.SignCheckpoint(c, signers...)
	if err != nil {
		return nil, zero, fmt.Errorf("eventlog: sign checkpoint: %w", err)
	}
	if err := l.storeCheckpoint(size, note); err != nil {
		return nil, zero, err
	}
	l.mu.Lock()
	l.scrub = next
	l.mu.Unlock()
	return note, c, nil
}

// storeCheckpoint stores note, signed at size, in the active segment and
// as the epoch's checkpoint file. Either both hold it when it returns nil,
// or, when it returns an error, the file is as it was and the segment
// holds it at most if the error came after the segment's commit and the
// file's rename (a failed directory sync; see below). The steps:
//
//  1. write the new file's content to a temporary file and fsync it:
//     a full disk fails here, before anything is stored;
//  2. commit the note to the active segment's checkpoints bucket;
//  3. rename the temporary file over the checkpoint file and fsync the
//     directory.
//
// A crash between 2 and 3 leaves the note in the segment and the previous
// checkpoint in the file: a state Open accepts, as the file then names an
// older checkpoint of the same history. For the same reason a failed
// directory sync after the rename is only logged: the checkpoint is stored.
func (l *Log) storeCheckpoint(size uint64, note []byte) error {
	path := l.checkpointPath()
	tmp := path + ".tmp"
	fail := func(err error) error {
		os.Remove(tmp)
		return fmt.Errorf("eventlog: store checkpoint of size %d: %w (nothing was stored)", size, keepErrno(err))
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fail(err)
	}
	_, err = f.Write(note)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fail(err)
	}
	l.mu.Lock()
	active, file := l.active, l.man.Segments[l.activeNo].File
	l.mu.Unlock()
	err = update(active, file, 0, false, func(tx *bolt.Tx) error { return tx.Bucket(bCheckpoints).Put(u64(size), note) })
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		// The note is in the segment; the file still names the previous
		// checkpoint. Take the note out again so that the result agrees.
		if e := update(active, file, 0, false, func(tx *bolt.Tx) error { return tx.Bucket(bCheckpoints).Delete(u64(size)) }); e != nil {
			os.Remove(tmp)
			return fmt.Errorf("eventlog: store checkpoint of size %d: %w; it is stored in %s but is not the latest (removing it failed: %v)", size, err, file, e)
		}
		return fail(err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		l.opts.Logger.Warn("checkpoint stored; its directory was not synced", "size", size, "err", err)
	}
	return nil
}

// verifyHistory runs Checkpoint's checks and returns where the next scrub
// starts.
func (l *Log) verifyHistory(ctx context.Context, r *reader, prev *checkpoint.Checkpoint, size uint64, root merkle.Hash, scrub uint64) (uint64, error) {
	var from uint64
	if prev != nil {
		if prev.Size > size {
			return 0, fmt.Errorf("eventlog: %w: it was signed at size %d, the log holds %d", ErrInconsistent, prev.Size, size)
		}
		got, err := merkle.TreeHash(prev.Size, r)
		if err != nil {
			return 0, fmt.Errorf("eventlog: %w: %w", ErrInconsistent, err)
		}
		if got != prev.Root {
			return 0, fmt.Errorf("eventlog: %w: stored tree of size %d has root %s, the checkpoint signed %s", ErrInconsistent, prev.Size, got, merkle.Hash(prev.Root))
		}
		from = prev.Size
	}
	if err := verifyRange(ctx, r, from, size, true); err != nil {
		return 0, fmt.Errorf("eventlog: %w: %w", ErrInconsistent, err)
	}
	if got, err := merkle.TreeHash(size, r); err != nil {
		return 0, fmt.Errorf("eventlog: %w: %w", ErrInconsistent, err)
	} else if got != root {
		return 0, fmt.Errorf("eventlog: %w: stored tree of size %d does not give the in-memory root", ErrInconsistent, size)
	}
	// Rotating scrub of the events under the previous checkpoint.
	if from == 0 {
		return 0, nil
	}
	budget := max(uint64(scrubBudget), size-from)
	if scrub >= from {
		scrub = 0
	}
	end := min(scrub+budget, from)
	if err := verifyRange(ctx, r, scrub, end, true); err != nil {
		return 0, fmt.Errorf("eventlog: %w: an event under the signed size %d changed: %w", ErrInconsistent, from, err)
	}
	if end >= from {
		end = 0
	}
	return end, nil
}

// verifyRange checks that every event in [lo, hi) hashes to its stored leaf
// hash and that every node it completes is the hash of its two children.
// Of a pruned event only the nodes can be checked. So it is of an event
// whose bytes alone are damaged (errLeafBytes) when bytesDamageOK: the
// read recorded it (see Log.Damaged), and its stored hash, checked with
// the nodes, stands for it. Otherwise such an event fails the check.
func verifyRange(ctx context.Context, r *reader, lo, hi uint64, bytesDamageOK bool) error {
	for seq := lo; seq < hi; seq++ {
		if seq%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		leaf, err := r.leaf(seq)
		if err != nil && !errors.Is(err, ErrPruned) && !(bytesDamageOK && errors.Is(err, errLeafBytes)) {
			return err
		}
		hs, err := r.storedHashes(seq)
		if err != nil {
			return err
		}
		if leaf != nil && merkle.LeafHash(leaf) != hs[0] {
			return fmt.Errorf("event %d does not match its stored leaf hash", seq)
		}
		for lvl := 1; lvl < len(hs); lvl++ {
			k := seq >> lvl
			left, err := r.Node(uint8(lvl-1), 2*k)
			if err != nil {
				return err
			}
			if merkle.NodeHash(left, hs[lvl-1]) != hs[lvl] {
				return fmt.Errorf("stored node (%d, %d) is not the hash of its children", lvl, k)
			}
			if lvl >= TopLevel {
				if t, err := r.Node(uint8(lvl), k); err != nil || t != hs[lvl] {
					return fmt.Errorf("top node (%d, %d) disagrees with its stored copy", lvl, k)
				}
			}
		}
	}
	return nil
}

// Alarm returns the error that stopped checkpoint signing, or nil.
func (l *Log) Alarm() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.alarm
}
