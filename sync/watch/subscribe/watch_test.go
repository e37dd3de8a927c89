package subscribe_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/subscribe"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// TestSubscribe_IntoWatcher: a device's log published by sync/feed through
// Mosquitto, received by a subscriber whose handler is the verification
// core on a bbolt archive; the watcher is stopped mid-stream and started
// again on its archive. Every event the device logged is archived exactly
// once, byte for byte, and checkpointed; nothing is rejected.
func TestSubscribe_IntoWatcher(t *testing.T) {
	const n = 300
	ctx := context.Background()
	b := mosquitto.Start(t, &mosquitto.Config{Extra: []string{"max_inflight_messages 0"}})
	k := eventlogtest.Key(t)
	l := eventlogtest.Open(t, t.TempDir(), nil)
	t.Cleanup(func() { l.Close() })
	id := eventlogtest.Identity(k)
	vkey, err := k.VerifierKey(signer.KeyName(id.Fleet, id.Device))
	if err != nil {
		t.Fatal(err)
	}
	trust := watch.Trust{Operators: []watch.Operator{{Name: "operator", Devices: []watch.Device{
		{Address: id.Device, Fleet: id.Fleet, ChainID: id.ChainID, NoteKey: vkey}}}}}
	path := filepath.Join(t.TempDir(), "archive.db")

	var handled, rejected atomic.Int64
	// The first watcher hangs in its handler (an archive that does not
	// answer) once it has handled a third of the feed.
	var hold atomic.Bool
	hold.Store(true)
	held := make(chan struct{})
	var once sync.Once
	// watcher opens the archive and runs a watcher on it until stop.
	watcher := func() (a *watch.Bolt, stop func()) {
		a, err := watch.OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := watch.New(trust, a)
		if err != nil {
			t.Fatal(err)
		}
		h := func(ctx context.Context, topic string, payload []byte) error {
			if hold.Load() && handled.Load() >= n/3 {
				once.Do(func() { close(held) })
				<-ctx.Done()
				return ctx.Err()
			}
			v, err := w.Handle(ctx, topic, payload)
			if err != nil {
				return err
			}
			handled.Add(1)
			if v.State == watch.StateRejected {
				rejected.Add(1)
				t.Errorf("%s: rejected: %s: %v", topic, v.Reason, v.Err)
			}
			return nil
		}
		s, err := subscribe.New(subscribe.Config{Brokers: []subscribe.Broker{{
			URL: b.URL(), ClientID: "watcher-1", Filters: []string{subscribe.DeviceFilter(id.Fleet, id.Device)},
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		}}, ShutdownTimeout: 200 * time.Millisecond}, h, nil)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(rctx); close(done) }()
		wait(t, "the subscription", func() bool { return s.Status()[0].Subscribed })
		return a, func() {
			cancel()
			<-done
			if err := a.Close(); err != nil {
				t.Error(err)
			}
		}
	}

	_, stop := watcher() // the session exists before the device publishes

	eventlogtest.AppendBatch(t, l, 0, n)
	if _, _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := feed.New(l, feed.Options{Brokers: []string{b.URL()}, CursorFile: filepath.Join(t.TempDir(), "cursor")})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan struct{})
	go func() { p.Run(pctx); close(pdone) }()
	t.Cleanup(func() { pcancel(); <-pdone })

	select {
	case <-held:
	case <-time.After(90 * time.Second):
		t.Fatal("the watcher never held a message")
	}
	stop()
	hold.Store(false)
	t.Logf("stopped after %d messages", handled.Load())

	a, stop := watcher()
	defer stop()
	wait(t, "every event archived and checkpointed", func() bool {
		pr, err := a.Progress(ctx, id.Device, l.Epoch())
		if err != nil {
			t.Fatal(err)
		}
		return pr.Events == n && pr.Checkpointed == n
	})
	seen := 0
	err = a.Leaves(ctx, id.Device, l.Epoch(), 0, func(seq uint64, leaf []byte) bool {
		want, err := l.Leaf(seq)
		if err != nil || !bytes.Equal(leaf, want) || seq != uint64(seen) {
			t.Errorf("archived event %d (the %dth) differs from the log's (%v)", seq, seen, err)
		}
		seen++
		return true
	})
	if err != nil || seen != n {
		t.Errorf("archive holds %d events (%v), the log %d", seen, err, n)
	}
	t.Logf("%d messages handled for %d events, %d rejected", handled.Load(), n, rejected.Load())
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 90s for %s in vain", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
