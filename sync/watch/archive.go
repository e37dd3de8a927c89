package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
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

// Anchor is a root of a device's log anchored on a ledger, as read from the
// ledger: the origin (device and epoch), the size and root anchored, where
// (chain ID, block, transaction) and how final it is. Source names the
// reader (for example "registry" or "ebsi").
type Anchor struct {
	Device        event.Address
	Epoch         uint32
	Size          uint64
	Root          [32]byte
	ChainID       uint64
	Block         uint64
	Tx            [32]byte
	Confirmations uint64
	Final         bool
	Source        string
}

// AnchorKey identifies an anchor in the archive: one anchoring of one root
// at one size, in one transaction of one chain.
type AnchorKey struct {
	Device  event.Address
	Epoch   uint32
	Size    uint64
	Root    [32]byte
	ChainID uint64
	Tx      [32]byte
}

// Key returns the key of a.
func (a Anchor) Key() AnchorKey {
	return AnchorKey{Device: a.Device, Epoch: a.Epoch, Size: a.Size, Root: a.Root, ChainID: a.ChainID, Tx: a.Tx}
}

// Merge returns the anchor that a and b, two readings of one AnchorKey,
// make together: the larger confirmations (and the block of that reading),
// final if either is, the source of the reading kept. Archives merge with
// it, so that an anchor's finality only moves forward.
func (a Anchor) Merge(b Anchor) Anchor {
	m := a
	if b.Confirmations > a.Confirmations {
		m.Confirmations, m.Block, m.Source = b.Confirmations, b.Block, b.Source
	}
	m.Final = a.Final || b.Final
	return m
}

// Alarm is a conclusion that a device, or its operator, showed two
// histories, or that a ledger anchors a root that no consistent history
// explains. Evidence is the evidence file (firmware-docs/WATCH.md) when the
// alarm has one.
type Alarm struct {
	Time     time.Time
	Device   event.Address
	Epoch    uint32
	Reason   Reason
	Detail   string
	Evidence []byte
}

// ID identifies an alarm in the archive: the SHA-256 of its reason, origin
// and evidence. The same conclusion drawn twice (by a watcher after a
// restart, or by two watchers) is one alarm.
func (a Alarm) ID() [32]byte {
	h := sha256.New()
	h.Write([]byte(a.Reason))
	h.Write([]byte{0})
	h.Write(originKey(a.Device, a.Epoch))
	h.Write(a.Evidence)
	return [32]byte(h.Sum(nil))
}

// Progress is what the archive holds of one origin (device and epoch): how
// many events, and high-water marks that only move up. Every archived
// event with a sequence number below a mark has reached it.
type Progress struct {
	// Events is the number of events archived.
	Events uint64
	// Checkpointed is the size of the largest verified checkpoint.
	Checkpointed uint64
	// Anchored is the largest size at which a final anchor matched the
	// archived leaves.
	Anchored uint64
	// Cosigned is the size of the largest checkpoint the watcher cosigned.
	Cosigned uint64
}

// Witnessed is the mark of StateWitnessed: events below it are
// checkpointed, anchored and covered by a cosigned checkpoint.
func (p Progress) Witnessed() uint64 { return min(p.Checkpointed, p.Anchored, p.Cosigned) }

// State returns the state of the archived event seq of the origin: the
// last of checkpointed, anchored and witnessed it reached, or verified.
func (p Progress) State(seq uint64) State {
	switch {
	case seq < p.Witnessed():
		return StateWitnessed
	case seq < min(p.Checkpointed, p.Anchored):
		return StateAnchored
	case seq < p.Checkpointed:
		return StateCheckpointed
	}
	return StateVerified
}

// Origin is one log of one device and its progress.
type Origin struct {
	Device   event.Address
	Epoch    uint32
	Progress Progress
}

// Archive is where the watcher keeps what it verified. Several watchers
// may write one archive at once, so every write is idempotent and
// monotonic: an event is stored once under its Key and never overwritten,
// a checkpoint, cosigned note or anchor is stored once under its key, and
// the marks of Progress only move up.
type Archive interface {
	// PutEvent stores leaf under k unless k holds an event already; it
	// returns the leaf k held before (nil if none, and then leaf is stored
	// and Progress.Events counts it).
	PutEvent(ctx context.Context, k Key, leaf []byte) (prev []byte, err error)
	// Leaves calls fn for the stored events of device's epoch in sequence
	// order, from seq from on, until fn returns false.
	Leaves(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(seq uint64, leaf []byte) bool) error

	// PutCheckpoint stores note, a checkpoint of device's epoch verified
	// against the archived leaves, as the checkpoint of its size unless
	// one is stored, and raises Progress.Checkpointed to size.
	PutCheckpoint(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error
	// Checkpoint returns the verified checkpoint note of device's epoch of
	// the largest size, or nil if there is none.
	Checkpoint(ctx context.Context, device event.Address, epoch uint32) ([]byte, error)
	// PutReceived keeps note, a checkpoint of device's epoch whose
	// signatures verify and whose events have not all arrived, under its
	// size unless one is kept.
	PutReceived(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error
	// Received calls fn for the kept received checkpoints of device's epoch
	// in size order, from size from on, until fn returns false.
	Received(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(size uint64, note []byte) bool) error

	// PutCosigned stores note, the checkpoint of device's epoch of that
	// size with the watcher's cosignature, unless one is stored, and
	// raises Progress.Cosigned to size.
	PutCosigned(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error
	// Cosigned returns the cosigned checkpoint note of device's epoch of
	// the largest size, or nil if there is none.
	Cosigned(ctx context.Context, device event.Address, epoch uint32) ([]byte, error)

	// PutAnchor stores a by its Key, merged (Anchor.Merge) with the anchor
	// stored under that key.
	PutAnchor(ctx context.Context, a Anchor) error
	// Anchors calls fn for the stored anchors of device's epoch of size
	// from on, by increasing size, until fn returns false.
	Anchors(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(Anchor) bool) error
	// RaiseAnchored raises Progress.Anchored of device's epoch to size.
	RaiseAnchored(ctx context.Context, device event.Address, epoch uint32, size uint64) error

	// Progress returns what the archive holds of device's epoch.
	Progress(ctx context.Context, device event.Address, epoch uint32) (Progress, error)
	// Origins calls fn for every origin with an archived event, by device
	// and epoch, until fn returns false.
	Origins(ctx context.Context, fn func(Origin) bool) error
	// AddEpoch records that device has a log of epoch; it reports whether
	// the epoch was new to the archive.
	AddEpoch(ctx context.Context, device event.Address, epoch uint32) (added bool, err error)
	// Epochs returns the epochs recorded for device, in increasing order.
	Epochs(ctx context.Context, device event.Address) ([]uint32, error)

	// PutAlarm stores a unless an alarm of the same ID is stored; it
	// reports whether a was new.
	PutAlarm(ctx context.Context, a Alarm) (added bool, err error)
	// Alarms calls fn for each stored alarm, in the order they were
	// stored, until fn returns false.
	Alarms(ctx context.Context, fn func(Alarm) bool) error

	// PutRejected keeps a rejected message as evidence. Messages of
	// devices outside the allowlist (ReasonUnknownDevice) are kept apart
	// from the others.
	PutRejected(ctx context.Context, r Record) error
	// Rejected calls fn for each kept record of the given reason, in the
	// order they were kept.
	Rejected(ctx context.Context, reason Reason, fn func(Record) bool) error
}

// FrontierStore is an Archive that also keeps, per origin, the frontier
// (merkle.Frontier.Nodes) of the tree at a verified checkpoint, so that a
// restarted watcher reads only the events after it. It is optional: a
// watcher on an Archive without it reads all of an origin's events when it
// first loads the origin.
type FrontierStore interface {
	// PutFrontier stores the frontier of device's epoch at size unless
	// one of a size at least as large is stored.
	PutFrontier(ctx context.Context, device event.Address, epoch uint32, size uint64, nodes []merkle.Hash) error
	// Frontier returns the stored frontier of device's epoch and its
	// size, or size 0 and no nodes if none is stored.
	Frontier(ctx context.Context, device event.Address, epoch uint32) (size uint64, nodes []merkle.Hash, err error)
}

// Bucket names of the bbolt archive.
var (
	bucketEvents      = []byte("events")      // device‖epoch → seq(8, big-endian) → leaf
	bucketCheckpoints = []byte("checkpoints") // device‖epoch → size(8) → note
	bucketReceived    = []byte("received")    // device‖epoch → size(8) → note
	bucketCosigned    = []byte("cosigned")    // device‖epoch → size(8) → note
	bucketAnchors     = []byte("anchors")     // device‖epoch → size(8)‖root‖chain(8)‖tx → anchor JSON
	bucketProgress    = []byte("progress")    // device‖epoch → events‖checkpointed‖anchored‖cosigned (8 each)
	bucketFrontiers   = []byte("frontiers")   // device‖epoch → size(8)‖frontier hashes (32 each)
	bucketEpochs      = []byte("epochs")      // device‖epoch → empty
	bucketAlarms      = []byte("alarms")      // sequence(8) → Alarm JSON
	bucketAlarmIDs    = []byte("alarm-ids")   // Alarm.ID → sequence(8)
	bucketRejected    = []byte("rejected")    // sequence(8) → Record JSON
	bucketUnknown     = []byte("unknown")     // sequence(8) → Record JSON (unknown_device only)
)

var buckets = [][]byte{bucketEvents, bucketCheckpoints, bucketReceived, bucketCosigned, bucketAnchors,
	bucketProgress, bucketFrontiers, bucketEpochs, bucketAlarms, bucketAlarmIDs, bucketRejected, bucketUnknown}

// Bolt is an Archive in one bbolt file. Its writes are group-committed:
// writes that arrive while a transaction commits wait, and are made
// together in the next transaction, so that concurrent writers share its
// fsync. Each write returns once its transaction is committed.
type Bolt struct {
	db *bolt.DB

	// lead holds a token while a writer commits a group.
	lead chan struct{}
	mu   sync.Mutex
	// queue holds the writes waiting for the next group.
	queue []*write
}

// write is one write of a group: its function and the channel its result
// is sent on.
type write struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// OpenBolt opens or creates the archive file at path.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("watch: open archive %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
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
	return &Bolt{db: db, lead: make(chan struct{}, 1)}, nil
}

// update runs fn in a read-write transaction, in one transaction with the
// other writes waiting at that time, and returns when it is committed.
// fn may be run more than once (if a write of its group fails, each write
// of the group is run again in a transaction of its own): it must set
// its results afresh each time.
//
// The writer that takes the lead token commits the writes queued, its own
// among them unless a previous group took it, then gives the token up; a
// waiting writer takes it for the next group. No writer waits for more
// than the group before its own and its own.
func (b *Bolt) update(fn func(*bolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case b.lead <- struct{}{}:
	}
	b.mu.Lock()
	group := b.queue
	b.queue = nil
	b.mu.Unlock()
	b.commit(group)
	<-b.lead
	return <-w.done
}

// commit runs the writes of group in one transaction and sends each its
// result. If the transaction fails, each write is run again alone, so that
// one failing write fails no other.
func (b *Bolt) commit(group []*write) {
	if len(group) == 0 {
		return
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, w := range group {
			if err := w.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for _, w := range group {
			w.done <- err
		}
		return
	}
	for _, w := range group {
		w.done <- b.db.Update(w.fn)
	}
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

// The fields of a progress value, in order.
const (
	progEvents = iota
	progCheckpointed
	progAnchored
	progCosigned
	progFields
)

func getProgress(tx *bolt.Tx, ok []byte) Progress {
	var f [progFields]uint64
	v := tx.Bucket(bucketProgress).Get(ok)
	for i := range f {
		if len(v) >= 8*(i+1) {
			f[i] = binary.BigEndian.Uint64(v[8*i:])
		}
	}
	return Progress{Events: f[progEvents], Checkpointed: f[progCheckpointed], Anchored: f[progAnchored], Cosigned: f[progCosigned]}
}

// updateProgress applies fn to the progress of origin ok.
func updateProgress(tx *bolt.Tx, ok []byte, fn func(*Progress)) error {
	p := getProgress(tx, ok)
	fn(&p)
	v := make([]byte, 0, 8*progFields)
	for _, f := range []uint64{p.Events, p.Checkpointed, p.Anchored, p.Cosigned} {
		v = binary.BigEndian.AppendUint64(v, f)
	}
	return tx.Bucket(bucketProgress).Put(ok, v)
}

// PutEvent implements Archive.
func (b *Bolt) PutEvent(ctx context.Context, k Key, leaf []byte) (prev []byte, err error) {
	err = b.update(func(tx *bolt.Tx) error {
		prev = nil
		ok := originKey(k.Device, k.Epoch)
		ob, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists(ok)
		if err != nil {
			return err
		}
		if v := ob.Get(seqKey(k.Seq)); v != nil {
			prev = bytes.Clone(v)
			return nil
		}
		if err := ob.Put(seqKey(k.Seq), leaf); err != nil {
			return err
		}
		return updateProgress(tx, ok, func(p *Progress) { p.Events++ })
	})
	if err != nil {
		return nil, fmt.Errorf("watch: archive event %s/%d/%d: %w", k.Device, k.Epoch, k.Seq, err)
	}
	return prev, nil
}

// each calls fn for the keys and values of the origin bucket ok of the
// bucket named by top, from key from on.
func (b *Bolt) each(top, ok, from []byte, fn func(k, v []byte) bool) error {
	return b.db.View(func(tx *bolt.Tx) error {
		ob := tx.Bucket(top).Bucket(ok)
		if ob == nil {
			return nil
		}
		c := ob.Cursor()
		for k, v := c.Seek(from); k != nil; k, v = c.Next() {
			if !fn(k, v) {
				return nil
			}
		}
		return nil
	})
}

// Leaves implements Archive.
func (b *Bolt) Leaves(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(seq uint64, leaf []byte) bool) error {
	err := b.each(bucketEvents, originKey(device, epoch), seqKey(from), func(k, v []byte) bool {
		return fn(binary.BigEndian.Uint64(k), v)
	})
	if err != nil {
		return fmt.Errorf("watch: archived events of %s/%d: %w", device, epoch, err)
	}
	return nil
}

// putNote stores note under size in the origin bucket ok of top unless a
// note is stored there, then applies raise to the origin's progress (if
// not nil).
func (b *Bolt) putNote(top []byte, device event.Address, epoch uint32, size uint64, note []byte, raise func(*Progress)) error {
	err := b.update(func(tx *bolt.Tx) error {
		ok := originKey(device, epoch)
		ob, err := tx.Bucket(top).CreateBucketIfNotExists(ok)
		if err != nil {
			return err
		}
		if ob.Get(seqKey(size)) == nil {
			if err := ob.Put(seqKey(size), note); err != nil {
				return err
			}
		}
		if raise == nil {
			return nil
		}
		return updateProgress(tx, ok, raise)
	})
	if err != nil {
		return fmt.Errorf("watch: archive %s checkpoint %d of %s/%d: %w", top, size, device, epoch, err)
	}
	return nil
}

// lastNote returns the note of the largest size in the origin bucket of top.
func (b *Bolt) lastNote(top []byte, device event.Address, epoch uint32) (note []byte, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		if ob := tx.Bucket(top).Bucket(originKey(device, epoch)); ob != nil {
			_, v := ob.Cursor().Last()
			note = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("watch: archived %s checkpoint of %s/%d: %w", top, device, epoch, err)
	}
	return note, nil
}

// PutCheckpoint implements Archive.
func (b *Bolt) PutCheckpoint(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error {
	return b.putNote(bucketCheckpoints, device, epoch, size, note, func(p *Progress) { p.Checkpointed = max(p.Checkpointed, size) })
}

// Checkpoint implements Archive.
func (b *Bolt) Checkpoint(ctx context.Context, device event.Address, epoch uint32) ([]byte, error) {
	return b.lastNote(bucketCheckpoints, device, epoch)
}

// PutReceived implements Archive.
func (b *Bolt) PutReceived(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error {
	return b.putNote(bucketReceived, device, epoch, size, note, nil)
}

// Received implements Archive.
func (b *Bolt) Received(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(size uint64, note []byte) bool) error {
	err := b.each(bucketReceived, originKey(device, epoch), seqKey(from), func(k, v []byte) bool {
		return fn(binary.BigEndian.Uint64(k), v)
	})
	if err != nil {
		return fmt.Errorf("watch: received checkpoints of %s/%d: %w", device, epoch, err)
	}
	return nil
}

// PutCosigned implements Archive.
func (b *Bolt) PutCosigned(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error {
	return b.putNote(bucketCosigned, device, epoch, size, note, func(p *Progress) { p.Cosigned = max(p.Cosigned, size) })
}

// Cosigned implements Archive.
func (b *Bolt) Cosigned(ctx context.Context, device event.Address, epoch uint32) ([]byte, error) {
	return b.lastNote(bucketCosigned, device, epoch)
}

// anchorJSON is the stored form of an Anchor.
type anchorJSON struct {
	Device        string `json:"device"`
	Epoch         uint32 `json:"epoch"`
	Size          uint64 `json:"size"`
	Root          []byte `json:"root"`
	ChainID       uint64 `json:"chain_id"`
	Block         uint64 `json:"block"`
	Tx            []byte `json:"tx"`
	Confirmations uint64 `json:"confirmations"`
	Final         bool   `json:"final"`
	Source        string `json:"source"`
}

func anchorKey(k AnchorKey) []byte {
	v := seqKey(k.Size)
	v = append(v, k.Root[:]...)
	v = binary.BigEndian.AppendUint64(v, k.ChainID)
	return append(v, k.Tx[:]...)
}

// PutAnchor implements Archive.
func (b *Bolt) PutAnchor(ctx context.Context, a Anchor) error {
	err := b.update(func(tx *bolt.Tx) error {
		ob, err := tx.Bucket(bucketAnchors).CreateBucketIfNotExists(originKey(a.Device, a.Epoch))
		if err != nil {
			return err
		}
		k, m := anchorKey(a.Key()), a
		if v := ob.Get(k); v != nil {
			old, err := decodeAnchor(v)
			if err != nil {
				return err
			}
			m = old.Merge(a)
		}
		v, err := json.Marshal(anchorJSON{Device: m.Device.String(), Epoch: m.Epoch, Size: m.Size, Root: m.Root[:],
			ChainID: m.ChainID, Block: m.Block, Tx: m.Tx[:], Confirmations: m.Confirmations, Final: m.Final, Source: m.Source})
		if err != nil {
			return err
		}
		return ob.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("watch: archive anchor of %s/%d at %d: %w", a.Device, a.Epoch, a.Size, err)
	}
	return nil
}

func decodeAnchor(v []byte) (Anchor, error) {
	var j anchorJSON
	if err := json.Unmarshal(v, &j); err != nil {
		return Anchor{}, err
	}
	dev, err := event.ParseAddress(j.Device)
	if err != nil {
		return Anchor{}, err
	}
	if len(j.Root) != 32 || len(j.Tx) != 32 {
		return Anchor{}, fmt.Errorf("stored anchor has a root of %d bytes and a transaction of %d", len(j.Root), len(j.Tx))
	}
	return Anchor{Device: dev, Epoch: j.Epoch, Size: j.Size, Root: [32]byte(j.Root), ChainID: j.ChainID, Block: j.Block,
		Tx: [32]byte(j.Tx), Confirmations: j.Confirmations, Final: j.Final, Source: j.Source}, nil
}

// Anchors implements Archive.
func (b *Bolt) Anchors(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(Anchor) bool) error {
	var derr error
	err := b.each(bucketAnchors, originKey(device, epoch), seqKey(from), func(k, v []byte) bool {
		a, err := decodeAnchor(v)
		if err != nil {
			derr = fmt.Errorf("stored anchor %x: %w", k, err)
			return false
		}
		return fn(a)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("watch: archived anchors of %s/%d: %w", device, epoch, err)
	}
	return nil
}

// RaiseAnchored implements Archive.
func (b *Bolt) RaiseAnchored(ctx context.Context, device event.Address, epoch uint32, size uint64) error {
	err := b.update(func(tx *bolt.Tx) error {
		return updateProgress(tx, originKey(device, epoch), func(p *Progress) { p.Anchored = max(p.Anchored, size) })
	})
	if err != nil {
		return fmt.Errorf("watch: archive anchored mark of %s/%d: %w", device, epoch, err)
	}
	return nil
}

// Progress implements Archive.
func (b *Bolt) Progress(ctx context.Context, device event.Address, epoch uint32) (p Progress, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		p = getProgress(tx, originKey(device, epoch))
		return nil
	})
	return p, err
}

// Origins implements Archive.
func (b *Bolt) Origins(ctx context.Context, fn func(Origin) bool) error {
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 24 {
				continue
			}
			o := Origin{Device: event.Address(k[:20]), Epoch: binary.BigEndian.Uint32(k[20:]), Progress: getProgress(tx, k)}
			if !fn(o) {
				return nil
			}
		}
		return nil
	})
}

// PutFrontier implements FrontierStore.
func (b *Bolt) PutFrontier(ctx context.Context, device event.Address, epoch uint32, size uint64, nodes []merkle.Hash) error {
	err := b.update(func(tx *bolt.Tx) error {
		fb, k := tx.Bucket(bucketFrontiers), originKey(device, epoch)
		if v := fb.Get(k); len(v) >= 8 && binary.BigEndian.Uint64(v) >= size {
			return nil
		}
		v := seqKey(size)
		for _, h := range nodes {
			v = append(v, h[:]...)
		}
		return fb.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("watch: archive frontier of %s/%d at %d: %w", device, epoch, size, err)
	}
	return nil
}

// Frontier implements FrontierStore.
func (b *Bolt) Frontier(ctx context.Context, device event.Address, epoch uint32) (size uint64, nodes []merkle.Hash, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketFrontiers).Get(originKey(device, epoch))
		if v == nil {
			return nil
		}
		if len(v) < 8 || (len(v)-8)%32 != 0 {
			return fmt.Errorf("stored frontier is %d bytes", len(v))
		}
		size = binary.BigEndian.Uint64(v)
		for i := 8; i < len(v); i += 32 {
			nodes = append(nodes, merkle.Hash(v[i:i+32]))
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("watch: archived frontier of %s/%d: %w", device, epoch, err)
	}
	return size, nodes, nil
}

// AddEpoch implements Archive.
func (b *Bolt) AddEpoch(ctx context.Context, device event.Address, epoch uint32) (added bool, err error) {
	err = b.update(func(tx *bolt.Tx) error {
		added = false
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

// alarmJSON is the stored form of an Alarm.
type alarmJSON struct {
	Time     time.Time `json:"time"`
	Device   string    `json:"device"`
	Epoch    uint32    `json:"epoch"`
	Reason   Reason    `json:"reason"`
	Detail   string    `json:"detail"`
	Evidence []byte    `json:"evidence,omitempty"`
}

// PutAlarm implements Archive.
func (b *Bolt) PutAlarm(ctx context.Context, a Alarm) (added bool, err error) {
	v, err := json.Marshal(alarmJSON{Time: a.Time, Device: a.Device.String(), Epoch: a.Epoch, Reason: a.Reason, Detail: a.Detail, Evidence: a.Evidence})
	if err != nil {
		return false, fmt.Errorf("watch: archive alarm: %w", err)
	}
	id := a.ID()
	err = b.update(func(tx *bolt.Tx) error {
		added = false
		ids := tx.Bucket(bucketAlarmIDs)
		if ids.Get(id[:]) != nil {
			return nil
		}
		ab := tx.Bucket(bucketAlarms)
		n, err := ab.NextSequence()
		if err != nil {
			return err
		}
		if err := ab.Put(seqKey(n), v); err != nil {
			return err
		}
		added = true
		return ids.Put(id[:], seqKey(n))
	})
	if err != nil {
		return false, fmt.Errorf("watch: archive alarm %s of %s/%d: %w", a.Reason, a.Device, a.Epoch, err)
	}
	return added, nil
}

// Alarms implements Archive.
func (b *Bolt) Alarms(ctx context.Context, fn func(Alarm) bool) error {
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAlarms).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var j alarmJSON
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("watch: archived alarm %x: %w", k, err)
			}
			dev, err := event.ParseAddress(j.Device)
			if err != nil {
				return fmt.Errorf("watch: archived alarm %x: %w", k, err)
			}
			if !fn(Alarm{Time: j.Time, Device: dev, Epoch: j.Epoch, Reason: j.Reason, Detail: j.Detail, Evidence: j.Evidence}) {
				return nil
			}
		}
		return nil
	})
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
	err = b.update(func(tx *bolt.Tx) error {
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

var (
	_ Archive       = (*Bolt)(nil)
	_ FrontierStore = (*Bolt)(nil)
)
