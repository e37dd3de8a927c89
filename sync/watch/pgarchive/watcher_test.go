package pgarchive

import (
	"context"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/testbench/postgres"
)

// feedOf is a real device log and the feed messages its publisher sends.
type feedOf struct {
	t   *testing.T
	log *eventlog.Log
}

// message is a feed message: its topic and payload.
type message struct {
	topic   string
	payload []byte
}

func (f feedOf) event(seq uint64) message {
	f.t.Helper()
	leaf, err := f.log.Leaf(seq)
	if err != nil {
		f.t.Fatal(err)
	}
	m := feed.Message{Origin: f.log.Origin(), Seq: seq, Leaf: leaf}
	id := f.log.Identity()
	return message{feed.TopicsFor(id.Fleet, id.Device).Events, m.Marshal()}
}

func (f feedOf) checkpoint() message {
	f.t.Helper()
	note, _, err := f.log.Checkpoint(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	id := f.log.Identity()
	return message{feed.TopicsFor(id.Fleet, id.Device).Checkpoints, note}
}

func handle(t *testing.T, w *watch.Watcher, m message) watch.Verdict {
	t.Helper()
	v, err := w.Handle(context.Background(), m.topic, m.payload)
	if err != nil {
		t.Fatalf("Handle(%s): %v", m.topic, err)
	}
	if v.State == watch.StateRejected {
		t.Fatalf("Handle(%s): rejected: %s %v", m.topic, v.Reason, v.Err)
	}
	return v
}

// Two watchers on one PostgreSQL archive, fed the same device's messages
// interleaved (as after a change of shards, or a redelivery to the other),
// archive each event once, and each verifies the device's checkpoint: the
// events the other archived count as archived.
func TestWatchers_OneArchive(t *testing.T) {
	s := postgres.Start(t)
	dsn := s.NewDatabase(t)
	k := eventlogtest.Key(t)
	l := eventlogtest.Open(t, t.TempDir(), nil)
	t.Cleanup(func() { l.Close() })
	const n = 20
	eventlogtest.AppendBatch(t, l, 0, n)
	dev := feedOf{t, l}

	trust := watch.Trust{Operators: []watch.Operator{{Name: "vans", Devices: []watch.Device{{
		Address: k.Address(), Fleet: l.Identity().Fleet, ChainID: l.Identity().ChainID}}}}}
	if err := (signer.Domain{ChainID: l.Identity().ChainID, Fleet: l.Identity().Fleet}).Validate(); err != nil {
		t.Fatal(err)
	}
	var ws []*watch.Watcher
	for range 2 {
		w, err := watch.New(trust, open(t, dsn))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	a, b := ws[0], ws[1]
	for seq := range uint64(n / 2) {
		handle(t, a, dev.event(seq))
	}
	if v := handle(t, b, dev.event(0)); !v.Duplicate {
		t.Fatalf("the second watcher stored event 0 again: %+v", v)
	}
	for seq := uint64(n / 2); seq < n; seq++ {
		handle(t, a, dev.event(seq))
		if v := handle(t, b, dev.event(seq)); !v.Duplicate {
			t.Fatalf("the second watcher stored event %d again", seq)
		}
	}
	for i, w := range ws {
		if v := handle(t, w, dev.checkpoint()); v.State != watch.StateVerified || len(v.Gaps) != 0 {
			t.Errorf("watcher %d: checkpoint of size %d is %s with gaps %v, want verified", i, n, v.State, v.Gaps)
		}
	}
	c := connect(t, dsn)
	if got := count(t, c, "SELECT count(*) FROM events"); got != n {
		t.Errorf("events table holds %d rows, want %d", got, n)
	}
	if got := count(t, c, "SELECT count(*) FROM event_states WHERE state = 'checkpointed'"); got != n {
		t.Errorf("%d events checkpointed, want %d", got, n)
	}
	if got := count(t, c, "SELECT size::int FROM frontiers"); got != n {
		t.Errorf("the stored frontier has size %d, want %d", got, n)
	}

	// A watcher started afresh on the archive goes on from the stored
	// frontier: the device's next checkpoint verifies.
	eventlogtest.AppendBatch(t, l, n, n+5)
	w, err := watch.New(trust, open(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(n); seq < n+5; seq++ {
		handle(t, w, dev.event(seq))
	}
	if v := handle(t, w, dev.checkpoint()); v.State != watch.StateVerified || v.Size != n+5 {
		t.Errorf("restarted watcher: checkpoint of size %d is %s, want verified at %d", v.Size, v.State, n+5)
	}
	if got := count(t, c, "SELECT size::int FROM frontiers"); got != n+5 {
		t.Errorf("the stored frontier has size %d, want %d", got, n+5)
	}
}
