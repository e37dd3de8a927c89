package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
)

const (
	testFleet   = "test-fleet"
	testChainID = 1337
	// otherKeyHex is a second trusted device; strangerKeyHex is a device
	// outside the allowlist.
	otherKeyHex    = "8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a"
	strangerKeyHex = "1111111111111111111111111111111111111111111111111111111111111111"
)

func key(t testing.TB, h string) *devkey.Key {
	t.Helper()
	k, err := devkey.FromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// device is a real event log of one device and the feed messages its
// publisher would send.
type device struct {
	t   testing.TB
	key *devkey.Key
	dir string
	log *eventlog.Log
}

// newDevice creates a log for k in a new directory; first is the number
// of the first test event it appends (a fork of the same device appends
// other events).
func newDevice(t testing.TB, k *devkey.Key) *device {
	t.Helper()
	d := &device{t: t, key: k, dir: t.TempDir()}
	d.open()
	return d
}

func (d *device) open() {
	d.t.Helper()
	l, err := eventlog.Open(context.Background(), d.dir, &eventlog.Options{Keys: d.key,
		Create: &eventlog.Identity{Device: d.key.Address(), Fleet: testFleet, ChainID: testChainID}})
	if err != nil {
		d.t.Fatal(err)
	}
	d.log = l
	d.t.Cleanup(func() { l.Close() })
}

// append appends test events lo … hi-1.
func (d *device) append(lo, hi int) {
	d.t.Helper()
	for i := lo; i < hi; i++ {
		if _, err := d.log.Append(context.Background(), eventlogtest.Event(i)); err != nil {
			d.t.Fatal(err)
		}
	}
}

// checkpoint signs a checkpoint of the log as it is and returns the note.
func (d *device) checkpoint() []byte {
	d.t.Helper()
	note, _, err := d.log.Checkpoint(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return note
}

// message returns the events-topic message of event seq, as sync/feed
// publishes it.
func (d *device) message(seq uint64) []byte {
	d.t.Helper()
	leaf, err := d.log.Leaf(seq)
	if err != nil {
		d.t.Fatal(err)
	}
	m := feed.Message{Origin: d.log.Origin(), Seq: seq, Leaf: leaf}
	return m.Marshal()
}

func (d *device) topics() feed.Topics { return feed.TopicsFor(testFleet, d.key.Address()) }

// restartEpoch damages the log's first segment and reopens it, so that it
// moves the damaged epoch aside and starts the next one.
func (d *device) restartEpoch() {
	d.t.Helper()
	if err := d.log.Close(); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(d.dir, eventlog.EpochDir(d.log.Epoch()), "seg-000000.db"), 10); err != nil {
		d.t.Fatal(err)
	}
	before := d.log.Epoch()
	d.open()
	if d.log.Epoch() != before+1 {
		d.t.Fatalf("epoch %d after damage, want %d", d.log.Epoch(), before+1)
	}
}

// trustOf returns the allowlist entry of the device of k.
func trustOf(t testing.TB, k *devkey.Key) Device {
	t.Helper()
	vkey, err := k.VerifierKey(signer.KeyName(testFleet, k.Address()))
	if err != nil {
		t.Fatal(err)
	}
	return Device{Address: k.Address(), Fleet: testFleet, ChainID: testChainID, NoteKey: vkey}
}

// newWatcher returns a watcher of the test devices (the eventlogtest key
// and otherKeyHex) on a bbolt archive in a new directory.
func newWatcher(t testing.TB) (*Watcher, *Bolt) {
	t.Helper()
	a, err := OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return watcherOn(t, a), a
}

func watcherOn(t testing.TB, a Archive) *Watcher {
	t.Helper()
	w, err := New(Trust{Operators: []Operator{
		{Name: "vans", Devices: []Device{trustOf(t, eventlogtest.Key(t))}},
		{Name: "bikes", Devices: []Device{trustOf(t, key(t, otherKeyHex))}},
	}}, a)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// handle passes one message to w and fails the test on an archive error.
func handle(t testing.TB, w *Watcher, topic string, payload []byte) Verdict {
	t.Helper()
	v, err := w.Handle(context.Background(), topic, payload)
	if err != nil {
		t.Fatalf("Handle(%s): %v", topic, err)
	}
	if (v.State == StateRejected) != (v.Reason != "") || (v.Reason != "") != (v.Err != nil) {
		t.Fatalf("Handle(%s): state %q reason %q err %v disagree", topic, v.State, v.Reason, v.Err)
	}
	return v
}

// countLeaves returns how many events of device's epoch the archive holds.
func countLeaves(t testing.TB, a Archive, device event.Address, epoch uint32) int {
	t.Helper()
	n := 0
	if err := a.Leaves(context.Background(), device, epoch, 0, func(uint64, []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}
