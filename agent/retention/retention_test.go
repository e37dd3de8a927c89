package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
)

func TestDecide(t *testing.T) {
	p, err := Policy{MaxBytes: 100 << 20}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	all := p
	all.OnFull = RefuseAll
	const MiB = 1 << 20
	for _, c := range []struct {
		p          Policy
		used, free int64
		prunable   bool
		want       Level
		reason     string
	}{
		{p, 50 * MiB, 1 << 30, false, Accepting, ""},
		{p, 100 * MiB, 1 << 30, true, Accepting, ""}, // pruning will make room
		{p, 100 * MiB, 1 << 30, false, RefusingLow, ReasonBudget},
		{all, 100 * MiB, 1 << 30, false, RefusingAll, ReasonBudget},
		{p, 112*MiB + MiB/2, 1 << 30, true, RefusingAll, ReasonDiskFull}, // hard limit, even if prunable
		{p, 10 * MiB, 15 * MiB, false, RefusingAll, ReasonDiskFull},      // the filesystem is nearly full
	} {
		lvl, reason := decide(c.p, c.used, c.free, c.prunable)
		if lvl != c.want || reason != c.reason {
			t.Errorf("decide(%s, used %d, free %d, prunable %v) = %s %q; want %s %q", c.p.OnFull, c.used, c.free, c.prunable, lvl, reason, c.want, c.reason)
		}
	}
}

func TestPolicy_Refusals(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{MaxBytes: 1 << 20}, "below the minimum"},
		{Policy{MaxBytes: 32 << 20, HardBytes: 20 << 20}, "hard limit"},
		{Policy{MaxBytes: 32 << 20, OnFull: "drop_oldest"}, `unknown mode "drop_oldest"`},
	} {
		if _, err := c.p.withDefaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error with %q", c.p, err, c.want)
		}
	}
	if got := SegmentBytes(2 << 30); got != 128<<20 {
		t.Errorf("SegmentBytes(2 GiB) = %d", got)
	}
	if got := SegmentBytes(16 << 20); got != 1<<20 {
		t.Errorf("SegmentBytes(16 MiB) = %d", got)
	}
}

const testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func openLog(t *testing.T, budget int64) *eventlog.Log {
	t.Helper()
	k, err := devkey.FromHex(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Keys: k,
		Create: &eventlog.Identity{Device: k.Address(), Fleet: "test", ChainID: 1337}, SegmentBytes: SegmentBytes(budget)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fill appends events of kind, 100 to a commit, through k.Admit, with a
// Step (as Run makes) after each commit, until one is refused or n are
// appended. It records the leaf hashes appended and returns how many
// were refused.
func fill(t *testing.T, l *eventlog.Log, k *Keeper, kind string, n int, hashes map[uint64]merkle.Hash) (refused int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; {
		var ps []*eventlog.Pending
		for j := 0; j < 100 && i < n; j, i = j+1, i+1 {
			if err := k.Admit(kind); err != nil {
				if !errors.Is(err, ErrRefused) {
					t.Fatal(err)
				}
				refused++
				continue
			}
			p, err := l.Enqueue(ctx, event.Event{Time: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i),
				Source: event.SourceGNSS, Kind: event.Kind(kind), Payload: payload(kind, i)})
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		for _, p := range ps {
			s, err := p.Wait()
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := s.Leaf()
			hashes[s.Seq] = merkle.LeafHash(leaf)
		}
		if refused > 0 {
			return refused
		}
		if i%1000 == 0 {
			k.Step(ctx)
		}
	}
	return refused
}

func payload(kind string, i int) []byte {
	if kind == "position" {
		return fmt.Appendf(nil, `{"lat":50.85,"lon":4.35,"speed_mps":%d}`, i%30)
	}
	return fmt.Appendf(nil, `{"parcel":"P%08d"}`, i)
}

// TestKeeper_BudgetPrunesAndRefuses runs a log into a 16 MiB budget: with
// the feed not done with anything, low-priority events are refused and
// deliveries still taken; once the feed is done with them, payloads are
// pruned, usage falls, events are accepted again and the refusals are
// handed over for the log; with the feed stuck again, deliveries reach the
// hard limit and then everything is refused. No appended event is lost:
// every one is still proven by the tree.
func TestKeeper_BudgetPrunesAndRefuses(t *testing.T) {
	const budget = 16 << 20
	l := openLog(t, budget)
	var fed atomic.Uint64
	k, err := New(l, Policy{MaxBytes: budget, MinFreeBytes: 1}, Options{Holds: []Hold{
		{Name: "feed", Done: func(string) uint64 { return fed.Load() }},
		{Name: "anchor", Done: func(string) uint64 { return l.Size() }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hashes := map[uint64]merkle.Hash{}
	refused := fill(t, l, k, "position", 200000, hashes)
	if refused == 0 {
		t.Fatal("no position refused within 200,000 events")
	}
	k.Step(ctx)
	st := k.Status()
	if st.Level != RefusingLow || st.Reason != ReasonBudget || st.HeldBy != "feed" || st.Used < budget || st.Segments != 0 {
		t.Fatalf("at the budget with nothing prunable: %+v", st)
	}
	t.Logf("budget reached at %d events, %d bytes used", l.Size(), st.Used)
	if err := k.Admit("delivery"); err != nil {
		t.Fatalf("a delivery at the budget: %v", err)
	}
	if _, ok := k.TakeRefusals(); ok {
		t.Fatal("refusals handed over while still refusing")
	}

	// The feed catches up: the oldest payloads go, the budget has room.
	fed.Store(l.Size())
	k.Step(ctx)
	st = k.Status()
	if st.Level != Accepting || st.Segments == 0 || st.Used >= budget/10*8 || st.Retained == 0 {
		t.Fatalf("after the feed caught up: %+v", st)
	}
	t.Logf("pruned %d segments (%d events, %d bytes): %d bytes used, payloads from event %d", st.Segments, st.Events, st.Freed, st.Used, st.Retained)
	r, ok := k.TakeRefusals()
	if !ok || r.ByKind["position"] != int64(refused) || r.Count() != int64(refused) || r.Reason != ReasonBudget || r.Kinds() != fmt.Sprintf("position %d", refused) {
		t.Fatalf("refusals = %+v, %v", r, ok)
	}
	if _, ok := k.TakeRefusals(); ok {
		t.Fatal("refusals handed over twice")
	}

	// Stuck again: deliveries pass the budget and stop at the hard limit.
	fill(t, l, k, "position", 200000, hashes)
	if n := fill(t, l, k, "delivery", 400000, hashes); n == 0 {
		t.Fatal("no delivery refused")
	}
	k.Step(ctx)
	if st = k.Status(); st.Level != RefusingAll || st.Reason != ReasonDiskFull || st.Used < st.Hard {
		t.Fatalf("at the hard limit: %+v", st)
	}
	if err := k.Admit("manual"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "refusing_all") {
		t.Fatalf("a manual event at the hard limit: %v", err)
	}

	size, root := l.Root()
	if uint64(len(hashes)) != size {
		t.Fatalf("%d events appended, log size %d", len(hashes), size)
	}
	for seq, h := range hashes {
		if seq%5 != 0 && seq != size-1 { // a fifth of them, each segment's included, keeps the test short
			continue
		}
		got, proof, err := l.InclusionProof(seq, size)
		if err != nil || got != h {
			t.Fatalf("event %d: %s, %v", seq, got, err)
		}
		if err := merkle.CheckInclusion(proof, seq, size, h, root); err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
	}
}

func TestKeeper_RefuseAllAndNoHolds(t *testing.T) {
	const budget = 16 << 20
	l := openLog(t, budget)
	k, err := New(l, Policy{MaxBytes: budget, OnFull: RefuseAll, MinFreeBytes: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := fill(t, l, k, "delivery", 200000, map[uint64]merkle.Hash{}); n == 0 {
		t.Fatal("nothing refused")
	}
	k.Step(context.Background())
	st := k.Status()
	if st.Level != RefusingAll || st.Reason != ReasonBudget || st.Segments != 0 || !strings.Contains(st.HeldBy, "only copy") {
		t.Fatalf("%+v", st)
	}
	// The filesystem's floor: every event refused as soon as it is crossed.
	l2 := openLog(t, budget)
	k2, err := New(l2, Policy{MaxBytes: budget, MinFreeBytes: 1 << 62}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := k2.Admit("delivery"); !errors.Is(err, ErrRefused) || k2.Status().Reason != ReasonDiskFull {
		t.Fatalf("below the free-space floor: %v, %+v", err, k2.Status())
	}
}
