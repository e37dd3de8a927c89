package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Salvaged is a read-only log that WriteSalvaged writes from events
// recovered out of a damaged epoch (see agent/eventlog/salvage).
type Salvaged struct {
	Identity Identity
	Epoch    uint32
	// Info is the epoch's record in the new log's manifest.
	Info EpochInfo
	// From says what the events were recovered from; the manifest keeps it
	// (Manifest.Salvaged), and Open refuses to write to the log.
	From string
	// Size is the number of events, 0 to Size-1; Leaf returns each one's
	// leaf.
	Size uint64
	Leaf func(seq uint64) ([]byte, error)
	// Notes are the signed checkpoint notes to store, by tree size; each
	// must sign the root of the events up to its size.
	Notes map[uint64][]byte
	// Latest, if not nil, is the epoch's checkpoint file: one of Notes.
	Latest []byte
	// SegmentBytes is the size at which a segment is sealed.
	SegmentBytes int64
	// Workers is how many goroutines verify signatures.
	Workers int
}

// WriteSalvaged writes s as a new log in dir: the already signed events
// with their stored hashes and top nodes recomputed, each checkpoint note
// in the checkpoints bucket of the segment that was active at its size, and
// s.Latest as the epoch's checkpoint file. It verifies every leaf (form,
// sequence number, epoch, device, signature) and every note (signature,
// origin, root) before writing it. The manifest marks the log salvaged, so
// that it cannot be written to.
func WriteSalvaged(ctx context.Context, dir string, s Salvaged) error {
	id, epoch, n, notes, latest := s.Identity, s.Epoch, s.Size, s.Notes, s.Latest
	origin := id.Origin(epoch)
	v := signer.NoteVerifier(id.KeyName(), id.Device, id.Domain())
	for size, note := range notes {
		c, _, err := checkpoint.OpenCheckpoint(note, v)
		if err != nil {
			return fmt.Errorf("checkpoint of size %d: %w", size, err)
		}
		if c.Origin != origin || c.Size != size || size > n {
			return fmt.Errorf("checkpoint of size %d is of origin %q, size %d", size, c.Origin, c.Size)
		}
	}
	if latest != nil {
		c, _, err := checkpoint.OpenCheckpoint(latest, v)
		if err != nil || notes[c.Size] == nil || !bytes.Equal(notes[c.Size], latest) {
			return fmt.Errorf("the latest checkpoint is not among the checkpoints written (%v)", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, EpochDir(epoch)), 0o755); err != nil {
		return err
	}
	m := &Manifest{Version: 1, Device: id.Device.String(), Fleet: id.Fleet, ChainID: id.ChainID, Epoch: epoch,
		Epochs: []EpochInfo{s.Info}, Salvaged: s.From}
	f, _ := merkle.NewFrontier(0, nil)
	top := map[nodeKey]merkle.Hash{}
	var db *bolt.DB
	putNote := func(tx *bolt.Tx) error {
		note, ok := notes[f.Size()]
		if !ok {
			return nil
		}
		c, _, _ := checkpoint.OpenCheckpoint(note, v)
		if merkle.Hash(c.Root) != f.Root() {
			return fmt.Errorf("checkpoint of size %d signs root %s; the events give %s", c.Size, merkle.Hash(c.Root), f.Root())
		}
		return tx.Bucket(bCheckpoints).Put(u64(f.Size()), note)
	}
	startSeg := func() error {
		seg := SegmentInfo{File: segFile(epoch, len(m.Segments)), First: f.Size()}
		var err error
		db, err = bolt.Open(filepath.Join(dir, seg.File), 0o644, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return err
		}
		m.Segments = append(m.Segments, seg)
		return db.Update(func(tx *bolt.Tx) error {
			if err := initSegment(tx, origin, seg.First, top); err != nil {
				return err
			}
			if err := putMetaIdentity(tx, id); err != nil {
				return err
			}
			if seg.First == 0 {
				return putNote(tx)
			}
			return nil
		})
	}
	endSeg := func() error {
		err := db.Sync()
		if e := db.Close(); err == nil {
			err = e
		}
		db = nil
		return err
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	if err := startSeg(); err != nil {
		return err
	}
	// A batch is one transaction; the segment is sealed between batches once
	// its file has reached SegmentBytes, so a batch holds at most half of
	// that.
	const batch = 4096
	leaves := make([][]byte, 0, batch)
	errs := make([]error, batch)
	for lo := uint64(0); lo < n; lo += uint64(len(leaves)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		leaves = leaves[:0]
		var size int64
		for q := lo; q < n && len(leaves) < batch && (len(leaves) == 0 || size < s.SegmentBytes/2); q++ {
			leaf, err := s.Leaf(q)
			if err != nil {
				return err
			}
			leaves = append(leaves, leaf)
			size += int64(len(leaf)) + 32*2
		}
		k := len(leaves)
		hi := lo + uint64(k)
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(s.Workers, 1))
		for j := 0; j < k; j += 16 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				for i := j; i < min(j+16, k); i++ {
					errs[i] = id.VerifyLeaf(epoch, lo+uint64(i), leaves[i])
				}
			}()
		}
		wg.Wait()
		for i := 0; i < k; i++ {
			if errs[i] != nil {
				return fmt.Errorf("event %d: %w", lo+uint64(i), errs[i])
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			lb, tb, topb := tx.Bucket(bLeaves), tx.Bucket(bTree), tx.Bucket(bTop)
			for i := 0; i < k; i++ {
				seq := lo + uint64(i)
				hs := f.Append(merkle.LeafHash(leaves[i]))
				if err := lb.Put(u64(seq), leaves[i]); err != nil {
					return err
				}
				buf := make([]byte, 0, 32*len(hs))
				for lvl, h := range hs {
					buf = append(buf, h[:]...)
					if lvl >= TopLevel {
						nk := nodeKey{uint8(lvl), seq >> lvl}
						top[nk] = h
						if err := topb.Put(topKey(nk.level, nk.index), h[:]); err != nil {
							return err
						}
					}
				}
				if err := tb.Put(u64(seq), buf); err != nil {
					return err
				}
				if err := putNote(tx); err != nil {
					return err
				}
			}
			return tx.Bucket(bMeta).Put(kSize, u64(f.Size()))
		})
		if err != nil {
			return err
		}
		if hi < n {
			if fi, err := os.Stat(db.Path()); err == nil && fi.Size() >= s.SegmentBytes {
				if err := endSeg(); err != nil {
					return err
				}
				if err := startSeg(); err != nil {
					return err
				}
			}
		}
	}
	if err := endSeg(); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(filepath.Join(dir, EpochDir(epoch))); err != nil {
		return err
	}
	if err := writeManifest(dir, m); err != nil {
		return err
	}
	if latest != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, EpochDir(epoch), "checkpoint"), latest, 0o644); err != nil {
			return err
		}
	}
	return nil
}
