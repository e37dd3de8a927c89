package city

import (
	"fmt"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Device is one simulated device: a real key (secp256k1, and the Ed25519
// note key derived from it) that signs its events and checkpoints as the
// agent does, and its log of signed leaves, held in memory. It implements
// feed.Log, so that a real feed.Publisher publishes it. Its methods are
// safe for concurrent use.
type Device struct {
	key    *devkey.Key
	id     eventlog.Identity
	origin string
	notes  []checkpoint.Signer

	mu     sync.Mutex
	leaves [][]byte
	signed []time.Time // when each event was signed
	front  merkle.Frontier
	note   []byte // the latest checkpoint note
	ck     checkpoint.Checkpoint
}

// NewDevice returns a device with a new key, in fleet and chain chainID,
// whose log is empty (epoch 0).
func NewDevice(fleet string, chainID uint64) (*Device, error) {
	k, err := devkey.Generate()
	if err != nil {
		return nil, fmt.Errorf("city: %w", err)
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: fleet, ChainID: chainID}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("city: %w", err)
	}
	notes, err := k.NoteSigners(id.KeyName(), id.Domain())
	if err != nil {
		return nil, fmt.Errorf("city: %w", err)
	}
	return &Device{key: k, id: id, origin: signer.Origin(fleet, k.Address(), 0), notes: notes}, nil
}

// Address is the device's address.
func (d *Device) Address() event.Address { return d.id.Device }

// Topics are the device's feed topics.
func (d *Device) Topics() feed.Topics { return feed.TopicsFor(d.id.Fleet, d.id.Device) }

// Trust returns the device's entry in a watcher's allowlist.
func (d *Device) Trust() (watch.Device, error) {
	vkey, err := d.key.VerifierKey(d.id.KeyName())
	if err != nil {
		return watch.Device{}, fmt.Errorf("city: %w", err)
	}
	return watch.Device{Address: d.id.Device, Fleet: d.id.Fleet, ChainID: d.id.ChainID, NoteKey: vkey}, nil
}

// Append signs the device's next event at now and appends it to its log.
// It returns the event's sequence number.
func (d *Device) Append(now time.Time) (uint64, error) {
	d.mu.Lock()
	seq := uint64(len(d.leaves))
	d.mu.Unlock()
	e := event.Event{
		Device: d.id.Device, Seq: seq, Time: now.UnixMilli(), Source: event.SourceGNSS, Kind: event.KindDelivery,
		Payload: fmt.Appendf(nil, `{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A1%08X","proof":"scan","zone":"bay-marche-aux-herbes"}`, seq),
	}
	s, err := d.key.SignEvent(d.id.Domain(), e)
	if err != nil {
		return 0, fmt.Errorf("city: sign event %d of %s: %w", seq, d.id.Device, err)
	}
	leaf, err := s.Leaf()
	if err != nil {
		return 0, fmt.Errorf("city: event %d of %s: %w", seq, d.id.Device, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if uint64(len(d.leaves)) != seq {
		return 0, fmt.Errorf("city: device %s appended to from two goroutines at once", d.id.Device)
	}
	d.leaves, d.signed = append(d.leaves, leaf), append(d.signed, now)
	d.front.Append(merkle.LeafHash(leaf))
	return seq, nil
}

// Checkpoint signs a checkpoint of the log as it is and makes it the
// latest.
func (d *Device) Checkpoint() error {
	d.mu.Lock()
	c := checkpoint.Checkpoint{Origin: d.origin, Size: d.front.Size(), Root: d.front.Root()}
	d.mu.Unlock()
	note, err := checkpoint.SignCheckpoint(c, d.notes...)
	if err != nil {
		return fmt.Errorf("city: checkpoint of %s: %w", d.id.Device, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.Size >= d.ck.Size {
		d.note, d.ck = note, c
	}
	return nil
}

// Signed returns when event seq was signed.
func (d *Device) Signed(seq uint64) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq >= uint64(len(d.signed)) {
		return time.Time{}
	}
	return d.signed[seq]
}

// Leaf returns the leaf bytes of event seq, or nil.
func (d *Device) Leaf(seq uint64) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq >= uint64(len(d.leaves)) {
		return nil
	}
	return d.leaves[seq]
}

// Identity implements feed.Log.
func (d *Device) Identity() eventlog.Identity { return d.id }

// Origin implements feed.Log.
func (d *Device) Origin() string { return d.origin }

// Size implements feed.Log.
func (d *Device) Size() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return uint64(len(d.leaves))
}

// Range implements feed.Log.
func (d *Device) Range(from, limit uint64, fn func(seq uint64, leaf []byte) error) error {
	d.mu.Lock()
	n := uint64(len(d.leaves))
	if from > n {
		d.mu.Unlock()
		return fmt.Errorf("city: range from %d beyond the log's %d events", from, n)
	}
	leaves := d.leaves[from:min(n, from+limit)]
	d.mu.Unlock()
	for i, l := range leaves {
		if err := fn(from+uint64(i), l); err != nil {
			return err
		}
	}
	return nil
}

// Latest implements feed.Log.
func (d *Device) Latest() ([]byte, checkpoint.Checkpoint, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.note == nil {
		return nil, checkpoint.Checkpoint{}, errNoCheckpoint
	}
	return d.note, d.ck, nil
}

var errNoCheckpoint = fmt.Errorf("city: %w", eventlog.ErrNoCheckpoint)

// Retained implements feed.Log: the device keeps every event.
func (d *Device) Retained() uint64 { return 0 }

var _ feed.Log = (*Device)(nil)
