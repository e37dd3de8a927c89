package watch

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/event"
)

// Key names one event of one device's log: its device, epoch and sequence
// number. The archive holds at most one event per key.
type Key struct {
	Device event.Address
	Epoch  uint32
	Seq    uint64
}

// Record is a message the watcher rejected or set apart, kept verbatim as
// evidence: the topic and payload it came with, the reason code and the
// error text.
type Record struct {
	Time    time.Time `json:"time"`
	Topic   string    `json:"topic"`
	Payload []byte    `json:"payload"`
	Reason  Reason    `json:"reason"`
	Detail  string    `json:"detail"`
}

// Archive is where the watcher keeps what it verified. Writes are
// idempotent by Key: storing an event under a key that holds the same
// bytes changes nothing, and a key is never overwritten.
type Archive interface {
	// PutEvent stores leaf under k unless k holds an event already; it
	// returns the leaf k held before (nil if none, and then leaf is stored).
	PutEvent(ctx context.Context, k Key, leaf []byte) (prev []byte, err error)
	// Leaves calls fn for the stored events of device's epoch in sequence
	// order, from seq from on, until fn returns false.
	Leaves(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(seq uint64, leaf []byte) bool) error
	// PutCheckpoint records note as the latest verified checkpoint of
	// device's epoch.
	PutCheckpoint(ctx context.Context, device event.Address, epoch uint32, note []byte) error
	// Checkpoint returns the latest verified checkpoint note of device's
	// epoch, or nil if there is none.
	Checkpoint(ctx context.Context, device event.Address, epoch uint32) ([]byte, error)
	// AddEpoch records that device has a log of epoch; it reports whether
	// the epoch was new to the archive.
	AddEpoch(ctx context.Context, device event.Address, epoch uint32) (added bool, err error)
	// Epochs returns the epochs recorded for device, in increasing order.
	Epochs(ctx context.Context, device event.Address) ([]uint32, error)
	// PutRejected keeps a rejected message as evidence. Messages of
	// devices outside the allowlist (ReasonUnknownDevice) are kept apart
	// from the others.
	PutRejected(ctx context.Context, r Record) error
	// Rejected calls fn for each kept record of the given reason, in the
	// order they were kept.
	Rejected(ctx context.Context, reason Reason, fn func(Record) bool) error
}

// Bucket names of the bbolt archive.
var (
	bucketEvents      = []byte("events")      // device‖epoch → seq(8, big-endian) → leaf
	bucketCheckpoints = []byte("checkpoints") // device‖epoch → note
	bucketEpochs      = []byte("epochs")      // device‖epoch → empty
	bucketRejected    = []byte("rejected")    // sequence(8) → Record JSON
	bucketUnknown     = []byte("unknown")     // sequence(8) → Record JSON (unknown_device only)
)

// Bolt is an Archive in one bbolt file.
type Bolt struct {
	db *bolt.DB
}

// OpenBolt opens or creates the archive file at path.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("watch: open archive %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketCheckpoints, bucketEpochs, bucketRejected, bucketUnknown} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("watch: open archive %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the archive file.
func (b *Bolt) Close() error { return b.db.Close() }

func originKey(device event.Address, epoch uint32) []byte {
	k := make([]byte, 24)
	copy(k, device[:])
	binary.BigEndian.PutUint32(k[20:], epoch)
	return k
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// PutEvent implements Archive.
func (b *Bolt) PutEvent(ctx context.Context, k Key, leaf []byte) (prev []byte, err error) {
	err = b.db.Update(func(tx *bolt.Tx) error {
		ob, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists(originKey(k.Device, k.Epoch))
		if err != nil {
			return err
		}
		if v := ob.Get(seqKey(k.Seq)); v != nil {
			prev = bytes.Clone(v)
			return nil
		}
		return ob.Put(seqKey(k.Seq), leaf)
	})
	if err != nil {
		return nil, fmt.Errorf("watch: archive event %s/%d/%d: %w", k.Device, k.Epoch, k.Seq, err)
	}
	return prev, nil
}

// Leaves implements Archive.
func (b *Bolt) Leaves(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(seq uint64, leaf []byte) bool) error {
	return b.db.View(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketEvents).Bucket(originKey(device, epoch))
		if ob == nil {
			return nil
		}
		c := ob.Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
			if !fn(binary.BigEndian.Uint64(k), v) {
				return nil
			}
		}
		return nil
	})
}

// PutCheckpoint implements Archive.
func (b *Bolt) PutCheckpoint(ctx context.Context, device event.Address, epoch uint32, note []byte) error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).Put(originKey(device, epoch), note)
	})
	if err != nil {
		return fmt.Errorf("watch: archive checkpoint of %s/%d: %w", device, epoch, err)
	}
	return nil
}

// Checkpoint implements Archive.
func (b *Bolt) Checkpoint(ctx context.Context, device event.Address, epoch uint32) (note []byte, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		note = bytes.Clone(tx.Bucket(bucketCheckpoints).Get(originKey(device, epoch)))
		return nil
	})
	return note, err
}

// AddEpoch implements Archive.
func (b *Bolt) AddEpoch(ctx context.Context, device event.Address, epoch uint32) (added bool, err error) {
	err = b.db.Update(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEpochs)
		k := originKey(device, epoch)
		if eb.Get(k) != nil {
			return nil
		}
		added = true
		return eb.Put(k, []byte{})
	})
	if err != nil {
		return false, fmt.Errorf("watch: archive epoch %d of %s: %w", epoch, device, err)
	}
	return added, nil
}

// Epochs implements Archive.
func (b *Bolt) Epochs(ctx context.Context, device event.Address) (epochs []uint32, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEpochs).Cursor()
		for k, _ := c.Seek(device[:]); k != nil && bytes.HasPrefix(k, device[:]); k, _ = c.Next() {
			epochs = append(epochs, binary.BigEndian.Uint32(k[20:]))
		}
		return nil
	})
	return epochs, err
}

func rejectedBucket(r Reason) []byte {
	if r == ReasonUnknownDevice {
		return bucketUnknown
	}
	return bucketRejected
}

// PutRejected implements Archive.
func (b *Bolt) PutRejected(ctx context.Context, r Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("watch: archive rejected message: %w", err)
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(rejectedBucket(r.Reason))
		n, err := rb.NextSequence()
		if err != nil {
			return err
		}
		return rb.Put(seqKey(n), v)
	})
	if err != nil {
		return fmt.Errorf("watch: archive rejected message: %w", err)
	}
	return nil
}

// Rejected implements Archive.
func (b *Bolt) Rejected(ctx context.Context, reason Reason, fn func(Record) bool) error {
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(rejectedBucket(reason)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("watch: archive record %x: %w", k, err)
			}
			if r.Reason == reason && !fn(r) {
				return nil
			}
		}
		return nil
	})
}

var _ Archive = (*Bolt)(nil)
