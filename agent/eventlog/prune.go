package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/atomicfile"
)

// ErrPruned is wrapped by every *PrunedError.
var ErrPruned = errors.New("payload pruned by retention")

// PrunedError is returned for a read of the leaf of an event whose payload
// Prune removed. The event's hash and the tree's nodes remain: inclusion
// proofs need only the event itself, which its readers (the feed's
// consumers) hold, and consistency proofs and roots need nothing else.
type PrunedError struct {
	Seq uint64
	// Retained is the first event whose payload the log still holds.
	Retained uint64
}

func (e *PrunedError) Error() string {
	return fmt.Sprintf("eventlog: event %d: %v (payloads are kept from event %d on; the event's hash remains, so a proof for it can be made from the event itself)",
		e.Seq, ErrPruned, e.Retained)
}

// Unwrap returns ErrPruned.
func (e *PrunedError) Unwrap() error { return ErrPruned }

// Segment describes one segment file of the current epoch.
type Segment struct {
	File   string // relative to the log directory
	First  uint64 // its first event
	End    uint64 // one past its last event (the log size, for the active segment)
	Bytes  int64  // the disk space the file takes (allocated blocks; bbolt files are sparse)
	Pruned bool   // its leaves were removed; its hashes and checkpoints remain
	Active bool   // the segment appends go to; never pruned
}

// Segments lists the segments of the current epoch, oldest first.
func (l *Log) Segments() ([]Segment, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	segs, active, size := l.man.Segments, l.activeNo, l.frontier.Size()
	l.mu.Unlock()
	out := make([]Segment, len(segs))
	for i, s := range segs {
		end := size
		if i+1 < len(segs) {
			end = segs[i+1].First
		}
		out[i] = Segment{File: s.File, First: s.First, End: end, Pruned: s.Pruned, Active: i == active}
		if fi, err := os.Stat(filepath.Join(l.dir, s.File)); err == nil {
			out[i].Bytes = DiskBytes(fi)
		}
	}
	return out, nil
}

// DiskBytes is the disk space a file takes, as du counts it: its allocated
// blocks. bbolt extends its files without writing them, so a segment's
// size overstates what it holds.
func DiskBytes(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// Retained returns the first event whose payload the log still holds: the
// first event of the oldest segment Prune has not pruned.
func (l *Log) Retained() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.man.Segments {
		if !s.Pruned {
			return s.First
		}
	}
	return l.frontier.Size()
}

// PruneResult says what one call of Prune did.
type PruneResult struct {
	Segments int    // segments pruned
	Events   uint64 // events whose payloads were removed
	Freed    int64  // disk space the segment files shrank by (see DiskBytes)
	// Busy is 1 when Prune stopped at a segment a reader was using at
	// the moment of the swap; a later call goes on from there.
	Busy int
}

// Prune removes the leaves, the signed events' bytes, of every sealed
// segment whose events all lie below below, and keeps everything else:
// the stored hashes of every leaf and node, the top nodes and the signed
// checkpoints. Roots, consistency proofs and inclusion proofs therefore
// still work; only reading a pruned event's bytes (Leaf, Range,
// ProveInclusion) fails, with a *PrunedError. The caller chooses below:
// retention passes the events both anchored and acknowledged by the feed.
//
// Segments are pruned oldest first, so the pruned events are always those
// below Retained. Each segment is pruned whole, or not at all. Before any leaf is removed,
// every leaf of the segment is checked against its stored hash, so what is
// kept proves exactly the events that are removed. The kept hashes are
// copied into a new file (written, fsynced and renamed into place); the
// manifest, written atomically, then names the new file instead of the old
// one, which is removed last. A crash at any point leaves either the old or
// the new file named by the manifest, both complete; Open removes the
// other. The active segment and the one just sealed before it are never
// pruned.
func (l *Log) Prune(ctx context.Context, below uint64) (PruneResult, error) {
	var res PruneResult
	if !l.writable {
		return res, ErrReadOnly
	}
	// Checkpoint stores notes in the segment it found active; holding its
	// lock keeps a note from landing in a file being replaced.
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return res, ErrClosed
	}
	segs, active := l.man.Segments, l.activeNo
	l.mu.Unlock()
	for i := 0; i < active; i++ {
		end := segs[i+1].First
		if end > below {
			break
		}
		if segs[i].Pruned {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		freed, busy, err := l.pruneSegment(ctx, i, segs[i], end)
		if err != nil {
			return res, err
		}
		if busy {
			// Stop here: the pruned events stay a prefix of the log,
			// exactly those below Retained.
			res.Busy++
			break
		}
		res.Segments++
		res.Events += end - segs[i].First
		res.Freed += freed
	}
	return res, nil
}

// pruneStep reports a durable step of pruning a segment to
// Options.PruneStep.
func (l *Log) pruneStep(step string) {
	if l.opts.PruneStep != nil {
		l.opts.PruneStep(step)
	}
}

// pruneSegment replaces sealed segment i, holding events [s.First, end), by
// a copy without leaves. busy reports that a reader held the segment at the
// moment of the swap: nothing changed and a later call tries again.
func (l *Log) pruneSegment(ctx context.Context, i int, s SegmentInfo, end uint64) (freed int64, busy bool, err error) {
	// What is removed must be what the kept hashes prove.
	r, err := l.newReader()
	if err != nil {
		return 0, false, err
	}
	err = verifyRange(ctx, r, s.First, end, false)
	r.release()
	if err != nil {
		return 0, false, fmt.Errorf("eventlog: prune %s: refused, the segment does not match its stored hashes (run waybill log check): %w", s.File, err)
	}
	oldPath := filepath.Join(l.dir, s.File)
	newFile := strings.TrimSuffix(s.File, ".db") + ".pruned.db"
	newPath := filepath.Join(l.dir, newFile)
	tmp := newPath + ".tmp"
	os.Remove(tmp) // leftovers of an earlier attempt, named by no manifest
	os.Remove(newPath)
	oldInfo, err := os.Stat(oldPath)
	if err != nil {
		return 0, false, fmt.Errorf("eventlog: prune %s: %w", s.File, err)
	}
	if err := guard(s.File, 0, false, func() error { return l.copyHashes(i, tmp, s, end) }); err != nil {
		os.Remove(tmp)
		return 0, false, fmt.Errorf("eventlog: prune %s: %w", s.File, keepErrno(err))
	}
	l.pruneStep("copied")
	if err := os.Rename(tmp, newPath); err != nil {
		os.Remove(tmp)
		return 0, false, fmt.Errorf("eventlog: prune %s: %w", s.File, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(newPath)); err != nil {
		os.Remove(newPath)
		return 0, false, fmt.Errorf("eventlog: prune %s: %w", s.File, err)
	}
	l.pruneStep("renamed")

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		os.Remove(newPath)
		return 0, false, ErrClosed
	}
	if ss, ok := l.sealed[i]; ok {
		if ss.refs > 0 {
			l.mu.Unlock()
			os.Remove(newPath)
			return 0, true, nil
		}
		ss.db.Close()
		delete(l.sealed, i)
	}
	m := *l.man
	m.Segments = append([]SegmentInfo(nil), l.man.Segments...)
	m.Segments[i] = SegmentInfo{File: newFile, First: s.First, Pruned: true}
	if err := writeManifest(l.dir, &m); err != nil {
		l.mu.Unlock()
		os.Remove(newPath)
		return 0, false, fmt.Errorf("eventlog: prune %s: %w", s.File, err)
	}
	l.man = &m
	l.mu.Unlock()
	l.pruneStep("manifest")

	if err := os.Remove(oldPath); err != nil {
		l.opts.Logger.Warn("pruned segment: could not remove the old file; the next open removes it", "file", s.File, "err", err)
	} else if err := atomicfile.SyncDir(filepath.Dir(oldPath)); err != nil {
		l.opts.Logger.Warn("pruned segment: directory not synced", "err", err)
	}
	newSize := int64(0)
	if fi, err := os.Stat(newPath); err == nil {
		newSize = DiskBytes(fi)
	}
	l.opts.Logger.Info("pruned segment: payloads removed, hashes kept", "segment", s.File, "events", fmt.Sprintf("%d-%d", s.First, end-1),
		"bytes_before", DiskBytes(oldInfo), "bytes_after", newSize)
	return DiskBytes(oldInfo) - newSize, false, nil
}

// pruneChunk is how many stored-hash entries one transaction of the copy
// writes, which bounds the copy's memory.
const pruneChunk = 1 << 15

// copyHashes writes to path a segment file holding segment i's meta (marked
// pruned), stored hashes, top nodes and checkpoints, and no leaves.
func (l *Log) copyHashes(i int, path string, s SegmentInfo, end uint64) error {
	src, err := l.acquire(i)
	if err != nil {
		return err
	}
	defer func() {
		l.mu.Lock()
		if ss, ok := l.sealed[i]; ok {
			ss.refs--
		}
		l.mu.Unlock()
	}()
	stx, err := src.Begin(false)
	if err != nil {
		return err
	}
	defer stx.Rollback()
	meta, err := readSegMeta(stx)
	if err != nil {
		return err
	}
	if meta.first != s.First || meta.size != end || meta.pruned {
		return fmt.Errorf("segment meta says events %d to %d (pruned %v); the manifest says %d to %d", meta.first, meta.size, meta.pruned, s.First, end)
	}
	dst, err := l.boltOpen(path, false)
	if err != nil {
		return err
	}
	defer dst.Close()
	err = dst.Update(func(tx *bolt.Tx) error {
		if err := initSegment(tx, meta.origin, meta.first, nil); err != nil {
			return err
		}
		m := tx.Bucket(bMeta)
		if err := m.Put(kSize, u64(meta.size)); err != nil {
			return err
		}
		if err := m.Put(kPruned, u64(uint64(l.opts.Now().Unix()))); err != nil {
			return err
		}
		if err := copyMetaIdentity(stx, tx); err != nil {
			return err
		}
		for _, name := range [][]byte{bTop, bCheckpoints} {
			if _, _, err := copyBucketN(stx.Bucket(name), tx.Bucket(name), nil, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var from []byte
	for n := uint64(0); ; {
		var next []byte
		var copied int
		err := dst.Update(func(tx *bolt.Tx) error {
			var err error
			next, copied, err = copyBucketN(stx.Bucket(bTree), tx.Bucket(bTree), from, pruneChunk)
			return err
		})
		if err != nil {
			return err
		}
		n += uint64(copied)
		if next == nil {
			if n != end-s.First {
				return fmt.Errorf("copied %d entries of stored hashes; the segment holds %d events", n, end-s.First)
			}
			break
		}
		from = next
	}
	return dst.Close()
}

// copyBucketN copies up to n pairs (0: all) of src from key from (nil: the
// first) into dst, and returns the key to continue from (nil at the end).
// Values are copied: bbolt keeps the slices given to Put until the commit,
// and src's pages belong to another file's mapping.
func copyBucketN(src, dst *bolt.Bucket, from []byte, n int) (next []byte, copied int, err error) {
	dst.FillPercent = 1.0
	c := src.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for ; k != nil; k, v = c.Next() {
		if n > 0 && copied == n {
			return bytes.Clone(k), copied, nil
		}
		if err := dst.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
			return nil, copied, err
		}
		copied++
	}
	return nil, copied, nil
}

// leftoverRE matches the names of the files a segment roll or a prune
// writes in an epoch directory.
var leftoverRE = regexp.MustCompile(`^seg-[0-9]+(\.pruned)?\.db(\.tmp)?$`)

// removeLeftovers removes the segment files of the current epoch that the
// manifest does not name and that hold nothing of the log: the other form of
// a named segment (a prune stopped before or after the manifest named the
// copy) and an empty segment a roll created before the manifest named it.
// Any other unnamed segment file is moved, intact, under damaged/.
func (l *Log) removeLeftovers() {
	named := map[string]bool{}
	for _, s := range l.man.Segments {
		named[filepath.Base(s.File)] = true
		named[segBase(filepath.Base(s.File))] = true
	}
	dir := filepath.Join(l.dir, EpochDir(l.epoch))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	removed := false
	for _, e := range ents {
		if !e.Type().IsRegular() || named[e.Name()] || !leftoverRE.MatchString(e.Name()) {
			continue
		}
		if named[segBase(e.Name())] || l.emptySegment(filepath.Join(dir, e.Name())) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
				removed = true
				l.opts.Logger.Info("removed a segment file no manifest names (left by an interrupted roll or prune)", "file", e.Name())
			}
			continue
		}
		l.keepLeftover(filepath.Join(EpochDir(l.epoch), e.Name()))
	}
	if removed {
		atomicfile.SyncDir(dir)
	}
}
