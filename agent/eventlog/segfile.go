package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog/boltpage"
	"github.com/waybill-eu/waybill/agent/signer"
)

// This file is what tools that inspect a log's files without opening it
// (agent/eventlog/logcheck, agent/eventlog/salvage) read them with: the
// segment files read-only, their page check, the shared lock, and the check
// of a leaf against the log's identity.

// CheckSegmentPages checks the bbolt file at path before it is opened (see
// boltpage.Check; full checks every page, as a writer needs). It returns
// nil for a file that does not exist or is empty (a new segment), and a
// *DamageError naming file, and the first event affected when a leaf or
// tree page is at fault.
func CheckSegmentPages(path, file string, full bool) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("eventlog: open segment %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("eventlog: open segment %s: %w", file, err)
	}
	if st.Size() == 0 {
		return nil
	}
	if err := boltpage.Check(f, st.Size(), full); err != nil {
		d := &DamageError{File: file, Err: err}
		var p *boltpage.Problem
		if errors.As(err, &p) && (p.Bucket == string(bLeaves) || p.Bucket == string(bTree)) && len(p.Key) == 8 {
			// The page's lowest key is the first event it affects.
			d.Seq, d.HasSeq = binary.BigEndian.Uint64(p.Key), true
		}
		return d
	}
	return nil
}

// A SegmentFile is one segment file opened read-only, in one bbolt read
// transaction. A segment is a bbolt file with five buckets:
//
//	meta         first and size (8-byte big-endian), origin, pruned (present
//	             once Prune removed the leaves), chain_id, device, fleet
//	leaves       8-byte big-endian sequence number -> the event's leaf (its
//	             canonical signed JSON); empty once pruned
//	tree         sequence number -> the hashes stored for the leaf: levels 0
//	             to the number of trailing one bits of the number, 32 bytes each
//	top          level byte and 8-byte big-endian index -> the 32-byte node,
//	             for every node of level TopLevel and above the log held when
//	             the segment was started or that its events complete
//	checkpoints  8-byte big-endian tree size -> the signed checkpoint note
//
// Run CheckSegmentPages first: bbolt trusts its file. Reading a file
// damaged in ways the check does not cover may still panic or fault; a
// caller reading untrusted files recovers (see debug.SetPanicOnFault).
type SegmentFile struct {
	db *bolt.DB
	tx *bolt.Tx
}

// OpenSegmentFile opens the segment file at path read-only, waiting at most
// timeout for a writer's lock on it.
func OpenSegmentFile(path string, timeout time.Duration) (*SegmentFile, error) {
	db, err := bolt.Open(path, 0o444, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	tx, err := db.Begin(false)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &SegmentFile{db: db, tx: tx}, nil
}

// Close ends the read transaction and closes the file.
func (f *SegmentFile) Close() error {
	f.tx.Rollback()
	return f.db.Close()
}

// SegmentMeta is what a segment's meta bucket says about it.
type SegmentMeta struct {
	Origin string
	First  uint64 // the sequence number of its first event
	Size   uint64 // the log's size after the segment's last commit
	Pruned bool   // the leaves were removed (see Log.Prune); the hashes remain
}

// Meta returns the segment's meta, or an error when a bucket is missing or
// the meta is incomplete or inconsistent.
func (f *SegmentFile) Meta() (SegmentMeta, error) {
	m, err := readSegMeta(f.tx)
	return SegmentMeta{Origin: m.origin, First: m.first, Size: m.size, Pruned: m.pruned}, err
}

// Origin returns the origin the meta bucket records, "" if none; unlike
// Meta it asks nothing else of the segment.
func (f *SegmentFile) Origin() string {
	if b := f.tx.Bucket(bMeta); b != nil {
		return string(b.Get(kOrigin))
	}
	return ""
}

// Leaves returns a cursor over the leaves bucket, nil if there is none.
func (f *SegmentFile) Leaves() *bolt.Cursor { return f.cursor(bLeaves) }

// Tree returns a cursor over the tree bucket, nil if there is none.
func (f *SegmentFile) Tree() *bolt.Cursor { return f.cursor(bTree) }

// Top returns a cursor over the top bucket, nil if there is none.
func (f *SegmentFile) Top() *bolt.Cursor { return f.cursor(bTop) }

// Checkpoints returns a cursor over the checkpoints bucket, nil if there is
// none.
func (f *SegmentFile) Checkpoints() *bolt.Cursor { return f.cursor(bCheckpoints) }

func (f *SegmentFile) cursor(name []byte) *bolt.Cursor {
	if b := f.tx.Bucket(name); b != nil {
		return b.Cursor()
	}
	return nil
}

// ReadLock takes the log directory's lock shared, as a read-only Open does,
// waiting at most timeout for a writer to release it; the error wraps
// ErrLocked and names the writer when it does not. Holding it, files are
// read beside readers but not beside a process writing the log. unlock
// releases it.
func ReadLock(dir string, timeout time.Duration) (unlock func(), err error) {
	lk, err := lockDir(dir, false, timeout)
	if err != nil {
		return nil, err
	}
	return lk.unlock, nil
}

// VerifyLeaf checks that leaf is the canonical form of event seq of the
// log's epoch, of its device, signed by it in the log's domain.
func (id Identity) VerifyLeaf(epoch uint32, seq uint64, leaf []byte) error {
	s, err := event.Parse(leaf)
	if err != nil {
		return fmt.Errorf("leaf does not parse: %v", err)
	}
	if s.Seq != seq {
		return fmt.Errorf("leaf carries sequence number %d", s.Seq)
	}
	if s.Epoch != epoch {
		return fmt.Errorf("leaf carries epoch %d", s.Epoch)
	}
	if s.Device != id.Device {
		return fmt.Errorf("leaf is an event of device %s, not %s", s.Device, id.Device)
	}
	if err := signer.VerifyEvent(id.Domain(), s); err != nil {
		msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("event %d: ", seq))
		return &shortErr{msg: msg, err: err}
	}
	return nil
}

// shortErr is an error with a shorter message than the one it wraps.
type shortErr struct {
	msg string
	err error
}

func (w *shortErr) Error() string { return w.msg }
func (w *shortErr) Unwrap() error { return w.err }
