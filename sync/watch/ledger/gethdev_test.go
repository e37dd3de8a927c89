package ledger_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/ledger"
	"github.com/waybill-eu/waybill/testbench/gethdev"
)

// stepUntil steps d's loop until cond holds of its status, bounded; each
// round runs between first, if set, and the step.
func stepUntil(t *testing.T, d *device, what string, between func(), cond func(anchor.Status) bool) anchor.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if between != nil {
			between()
		}
		err := d.a.Step(context.Background())
		st := d.a.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute (last step: %v, status %+v)", what, err, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mineOn appends n events to d and steps its loop until their anchor is in
// a block; it returns the anchor.
func mineOn(t *testing.T, d *device, n int) anchor.Anchor {
	t.Helper()
	d.appendEvents(n)
	st := stepUntil(t, d, "anchor mined", nil, func(st anchor.Status) bool {
		return st.InFlight != nil && st.InFlight.State == anchor.StateMined
	})
	return *st.InFlight
}

// confirm seals blocks (with block) and steps d's loop until its anchor in
// flight is confirmed; it returns the anchor.
func confirm(t *testing.T, d *device, block func()) anchor.Anchor {
	t.Helper()
	want := d.a.Status().Confirmed + 1
	st := stepUntil(t, d, "anchor confirmed", block, func(st anchor.Status) bool {
		return st.Confirmed == want && st.InFlight == nil
	})
	return *st.Last
}

// finals collects what Run hands over: every final anchor by key, every
// anchor seen, and the cursor to persist.
type finals struct {
	mu     sync.Mutex
	final  map[watch.AnchorKey]watch.Anchor
	seen   map[watch.AnchorKey]watch.Anchor
	cursor ledger.Cursor
}

func (f *finals) handle(_ context.Context, as []watch.Anchor, next ledger.Cursor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range as {
		f.seen[a.Key()] = a
		if a.Final {
			f.final[a.Key()] = a
		}
	}
	f.cursor = next
	return nil
}

func (f *finals) get(k watch.AnchorKey) (watch.Anchor, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.final[k]
	return a, ok
}

func (f *finals) next() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor.Next
}

// On a real geth --dev: three devices anchor through the registry with
// the real anchoring loop; a reader of two of them, running under
// "confirmations:3", reports their anchors final, survives the node's
// restart, and never reports Final an anchor that a reorganisation
// (debug_setHead) removed; the loop's resent transaction is reported from
// the block that holds it at last.
func TestGethDev_ReadsAnchors(t *testing.T) {
	n := gethdev.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dep, err := registry.Deploy(ctx, n.Client(), gethdev.DevKey(), registry.DeployOptions{Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The loops and the reader apply the same rule.
	fin := anchor.Confirmations(3)
	a, b, c := newDevice(t), newDevice(t), newDevice(t)
	// block seals one block: geth --dev seals one per transaction.
	block := func() {
		t.Helper()
		if _, err := n.Fund(ctx, gethdev.DevAddress, big.NewInt(1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*device{a, b, c} {
		if _, err := n.Fund(ctx, d.relayerAddress(), big.NewInt(1e18)); err != nil {
			t.Fatal(err)
		}
		d.startAnchorer(n.Client(), dep.Contract, fin)
	}
	mineOn(t, a, 3)
	a1 := confirm(t, a, block)
	mineOn(t, c, 2) // not allowlisted
	confirm(t, c, block)
	mineOn(t, b, 1)
	b1 := confirm(t, b, block)

	r, err := ledger.NewRegistry(n.RPC(), dep.Contract, ledger.Config{
		Devices: []watch.Device{a.trusted(), b.trusted()}, ChainID: gethdev.ChainID, Finality: fin,
		Start: dep.Block, Poll: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &finals{final: map[watch.AnchorKey]watch.Anchor{}, seen: map[watch.AnchorKey]watch.Anchor{}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx, ledger.Cursor{}, f.handle) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of its context's end")
		}
	}()

	key := func(d *device, an anchor.Anchor) watch.AnchorKey {
		return watch.AnchorKey{Device: d.address(), Epoch: 0, Size: an.Size, Root: an.Root, ChainID: gethdev.ChainID, Tx: an.Attempts[an.Included].Hash}
	}
	check := func(d *device, an anchor.Anchor) {
		t.Helper()
		k := key(d, an)
		waitFor(t, "a final report of the anchor", func() bool { _, ok := f.get(k); return ok })
		got, _ := f.get(k)
		if got.Block != an.BlockNumber || got.Confirmations < 3 || got.Source != anchor.PayloadRegistry {
			t.Errorf("reported %+v; the loop has block %d", got, an.BlockNumber)
		}
	}
	check(a, a1)
	check(b, b1)

	// The node restarts under the running reader.
	n.Restart(t)
	mineOn(t, a, 2)
	a2 := confirm(t, a, block)
	check(a, a2)

	// A reorganisation drops a3's block before it is final.
	a3 := mineOn(t, a, 1)
	x := a3.BlockNumber
	waitFor(t, "the reader to see the anchor not final", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.seen[key(a, a3)]
		return ok && !s.Final
	})
	if err := n.SetHead(ctx, x-1); err != nil {
		t.Fatal(err)
	}
	block()
	block()
	block()
	waitFor(t, "the cursor to pass the reorganised block", func() bool { return f.next() > x })
	if got, ok := f.get(key(a, a3)); ok {
		t.Fatalf("an anchor whose block was reorganised away was reported final: %+v", got)
	}
	// The loop notices and sends the same transaction again, which is then
	// reported from the block that holds it.
	again := confirm(t, a, block)
	if again.ID != a3.ID || again.BlockNumber <= x+2 || again.Reorgs == 0 {
		t.Fatalf("after the reorg the loop confirmed anchor %d in block %d (%d reorgs); want anchor %d past block %d",
			again.ID, again.BlockNumber, again.Reorgs, a3.ID, x+2)
	}
	check(a, again)
	if key(a, again) != key(a, a3) {
		t.Errorf("the resent anchor has another key")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.seen {
		if k.Device == c.address() {
			t.Errorf("an anchor of a device not in the allowlist: %+v", k)
		}
	}
	if len(f.final) != 4 {
		t.Errorf("%d final anchors, want 4: %+v", len(f.final), f.final)
	}
}
