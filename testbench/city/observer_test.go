package city

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

// TestObserver_Check checks that Check finds an event never verified and
// an event verified twice, and passes a redelivered duplicate.
func TestObserver_Check(t *testing.T) {
	ctx := context.Background()
	c, err := New(Config{Devices: 2, Broker: "tcp://127.0.0.1:1", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	watcher := func() *watch.Watcher {
		a, err := watch.OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		trust, err := c.Trust()
		if err != nil {
			t.Fatal(err)
		}
		w, err := watch.New(trust, a)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	o := NewObserver(c, watcher())
	d := c.Devices[0]
	for range 3 {
		if _, err := d.Append(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	send := func(seq uint64) {
		t.Helper()
		m := feed.Message{Origin: d.Origin(), Seq: seq, Leaf: d.Leaf(seq)}
		if err := o.Handle(ctx, d.Topics().Events, m.Marshal()); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	send(2)
	if err := o.Check(); err == nil || !strings.Contains(err.Error(), "event 1 verified 0 times") {
		t.Fatalf("Check with event 1 missing: %v", err)
	}
	send(1)
	send(1)
	if err := o.Check(); err != nil {
		t.Fatalf("Check after a redelivery: %v", err)
	}
	if got := o.Counts(); got.Events != 3 || got.Duplicates != 1 {
		t.Fatalf("counts %+v, want 3 events and 1 duplicate", got)
	}
	o.w = watcher() // a watcher that has not seen the events verifies them again
	send(0)
	if err := o.Check(); err == nil || !strings.Contains(err.Error(), "event 0 verified 2 times") {
		t.Fatalf("Check with event 0 verified twice: %v", err)
	}
}
