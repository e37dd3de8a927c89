package watch_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/archivetest"
)

func TestBolt_Conformance(t *testing.T) {
	archivetest.Run(t, func(t *testing.T) watch.Archive {
		a, err := watch.OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	})
}

// TestBolt_Reopen: what the archive holds survives closing and reopening
// its file.
func TestBolt_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "archive.db")
	dev := event.Address{7}
	a, err := watch.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for s := range uint64(3) {
		if _, err := a.PutEvent(ctx, watch.Key{Device: dev, Seq: s}, []byte{byte(s)}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []error{
		a.PutCheckpoint(ctx, dev, 0, 3, []byte("cp3")),
		a.PutCosigned(ctx, dev, 0, 3, []byte("co3")),
		a.RaiseAnchored(ctx, dev, 0, 2),
		a.PutAnchor(ctx, watch.Anchor{Device: dev, Size: 2, Final: true}),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.PutAlarm(ctx, watch.Alarm{Device: dev, Reason: watch.ReasonInconsistent}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutEvent(ctx, watch.Key{Device: dev, Seq: 9}, []byte{9}); err == nil {
		t.Fatal("PutEvent on a closed archive succeeded")
	}
	a, err = watch.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	p, err := a.Progress(ctx, dev, 0)
	if want := (watch.Progress{Events: 3, Checkpointed: 3, Anchored: 2, Cosigned: 3}); err != nil || p != want {
		t.Fatalf("Progress after reopening = %+v, %v, want %+v", p, err, want)
	}
	if n, err := a.Cosigned(ctx, dev, 0); err != nil || string(n) != "co3" {
		t.Fatalf("Cosigned after reopening = %q, %v", n, err)
	}
	added, err := a.PutAlarm(ctx, watch.Alarm{Device: dev, Reason: watch.ReasonInconsistent})
	if err != nil || added {
		t.Fatalf("the alarm stored before reopening is new again: %v, %v", added, err)
	}
	var anchors int
	if err := a.Anchors(ctx, dev, 0, 0, func(x watch.Anchor) bool { anchors++; return x.Final }); err != nil || anchors != 1 {
		t.Fatalf("Anchors after reopening: %d, %v", anchors, err)
	}
}
