package feed

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// Retention prunes only what the persisted cursor has passed. When the
// cursor file is removed after that, the pruned events cannot be sent
// again: the publisher says so (error log, Status.Skipped), goes on from
// the first event kept, and delivers the rest in order.
func TestPublisher_CursorResetAfterPruning(t *testing.T) {
	b := mosquitto.Start(t, nil)
	k := mustKey(t, testKeyHex)
	id := eventlog.Identity{Device: k.Address(), Fleet: testDomain.Fleet, ChainID: testDomain.ChainID}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k,
		Now: func() time.Time { return testStart }, SegmentBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 6 {
		appendEvents(t, l, 500)
	}
	opts := testOptions(t, b.URL())
	p, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p)
	waitCursor(t, p, 3000)
	stop()
	if st := p.Status(); st.Persisted != 3000 || st.Skipped != 0 {
		t.Fatalf("first publisher: %+v", st)
	}
	res, err := l.Prune(context.Background(), 3000)
	if err != nil || res.Segments == 0 {
		t.Fatalf("Prune = %+v, %v", res, err)
	}
	retained := l.Retained()
	appendEvents(t, l, 100)
	if err := os.Remove(opts.CursorFile); err != nil {
		t.Fatal(err)
	}

	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events)
	p2, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer runPublisher(t, p2)()
	waitCursor(t, p2, 3100)
	if st := p2.Status(); st.Skipped != retained || st.Cursor != 3100 {
		t.Fatalf("after the reset: %+v; want %d skipped", st, retained)
	}
	sub.waitFor("events from the first kept", func() bool { return uint64(len(sub.messages(topics.Events))) >= 3100-retained })
	msgs := sub.messages(topics.Events)
	for i, r := range msgs {
		m, err := ParseMessage(r.payload)
		if err != nil || m.Seq != retained+uint64(i) {
			t.Fatalf("message %d: seq %d, %v; want %d", i, m.Seq, err, retained+uint64(i))
		}
	}
	t.Logf("%d events pruned and skipped, %d delivered after the reset", retained, len(msgs))
}
