package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/ledger"
)

// Real anchors of three devices, made by their anchoring loops through the
// registry: the reader reports those of the two allowlisted devices, in
// chain order, final under QBFT, and a reader restarted from the cursor
// reports only what came after.
func TestRegistry_ReadsAllowlistedAnchors(t *testing.T) {
	a, b, c := newDevice(t), newDevice(t), newDevice(t)
	s := newSim(t, a, b, c)
	for _, d := range []*device{a, b, c} {
		d.startAnchorer(s.ch.Client, s.ch.Registry, anchor.QBFT)
	}
	a1 := s.anchorOnce(a, 3)
	b1 := s.anchorOnce(b, 2)
	s.anchorOnce(c, 4) // not allowlisted
	a2 := s.anchorOnce(a, 2)
	if a2.Size != 5 || a2.PrevSize != 3 || a1.State != anchor.StateConfirmed {
		t.Fatalf("anchors: a1 %d %s, a2 %d (prev %d)", a1.Size, a1.State, a2.Size, a2.PrevSize)
	}

	cfg := ledger.Config{Devices: []watch.Device{a.trusted(), b.trusted()}, ChainID: simchain.ChainID}
	head := s.head()
	var cur ledger.Cursor
	// By device topic, and (more devices than MaxTopics) every event of
	// the contract, filtered by the reader.
	for _, maxTopics := range []int{0, 1} {
		cfg.MaxTopics = maxTopics
		r := newRegistry(t, s.rpc(), s.ch.Registry, cfg)
		if r.Source() != anchor.PayloadRegistry {
			t.Errorf("Source() = %q", r.Source())
		}
		var got []watch.Anchor
		got, cur = poll(t, r, ledger.Cursor{})
		equalAnchors(t, fmt.Sprintf("first poll, MaxTopics %d", maxTopics), got, []watch.Anchor{
			expected(a, a1, head, true), expected(b, b1, head, true), expected(a, a2, head, true),
		})
		if want := (ledger.Cursor{Next: head + 1, Hash: s.blockHash(head)}); cur != want {
			t.Errorf("cursor %v, want %v", cur, want)
		}
		again, cur2 := poll(t, r, cur)
		if len(again) != 0 || cur2 != cur {
			t.Errorf("poll at the head: %d anchors, cursor %v; want none, %v", len(again), cur2, cur)
		}
	}
	cfg.MaxTopics = 0

	b2 := s.anchorOnce(b, 1)
	restarted := newRegistry(t, s.rpc(), s.ch.Registry, cfg)
	head = s.head()
	got, _ := poll(t, restarted, cur)
	equalAnchors(t, "after restart", got, []watch.Anchor{expected(b, b2, head, true)})
}

// Under "confirmations:3" an anchor is reported with its confirmations and
// not final until the third, and again on each poll until it is; the
// cursor never passes a block that is not final.
func TestRegistry_Confirmations(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	fin := anchor.Confirmations(3)
	a.startAnchorer(s.ch.Client, s.ch.Registry, fin)
	an := s.anchorOnce(a, 4)
	if an.State != anchor.StateMined {
		t.Fatalf("anchor is %s after one block, want mined", an.State)
	}
	r := newRegistry(t, s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()}, Finality: fin})
	cur := ledger.Cursor{}
	for i, conf := range []uint64{1, 2, 3} {
		if i > 0 {
			s.commit()
		}
		head := s.head()
		var got []watch.Anchor
		got, cur = poll(t, r, cur)
		equalAnchors(t, "poll", got, []watch.Anchor{expected(a, an, head, conf == 3)})
		if got[0].Confirmations != conf {
			t.Errorf("confirmations %d, want %d", got[0].Confirmations, conf)
		}
		if conf < 3 && cur.Next > an.BlockNumber {
			t.Errorf("with %d confirmations the cursor passed the anchor's block %d: %v", conf, an.BlockNumber, cur)
		}
	}
	if got, _ := poll(t, r, cur); len(got) != 0 {
		t.Errorf("after the final report: %+v", got)
	}
}

// Under "finalized" an anchor is final once the node's finalized block
// reaches it (the simulated chain finalizes every 32 blocks).
func TestRegistry_FinalizedTag(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	a.startAnchorer(s.ch.Client, s.ch.Registry, anchor.FinalizedTag)
	an := s.anchorOnce(a, 2)
	r := newRegistry(t, s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()}, Finality: anchor.FinalizedTag})
	got, cur := poll(t, r, ledger.Cursor{})
	equalAnchors(t, "before finalization", got, []watch.Anchor{expected(a, an, s.head(), false)})
	for s.head() < 32 {
		s.commit()
	}
	got, cur = poll(t, r, cur)
	equalAnchors(t, "after finalization", got, []watch.Anchor{expected(a, an, s.head(), true)})
	if cur.Next != 33 {
		t.Errorf("cursor %v, want next 33", cur)
	}
}

// A node without the finalized tag (Besu on QBFT) is an error naming it;
// one that has finalized no block yet leaves every anchor not final.
func TestRegistry_FinalizedTagRefusals(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	a.startAnchorer(s.ch.Client, s.ch.Registry, anchor.QBFT)
	an := s.anchorOnce(a, 2)
	cfg := ledger.Config{Devices: []watch.Device{a.trusted()}, Finality: anchor.FinalizedTag}

	fc := &faultClient{Caller: s.rpc(), finalized: &rpcError{code: -39001, msg: "Unknown block"}}
	if _, _, err := newRegistry(t, fc, s.ch.Registry, cfg).Poll(context.Background(), ledger.Cursor{}); !errors.Is(err, anchor.ErrNoFinalizedTag) {
		t.Errorf("Besu's answer: %v, want ErrNoFinalizedTag", err)
	} else {
		t.Logf("Poll: %v", err)
	}
	fc = &faultClient{Caller: s.rpc(), finalized: &rpcError{code: -32000, msg: "finalized block not found"}}
	got, cur := poll(t, newRegistry(t, fc, s.ch.Registry, cfg), ledger.Cursor{})
	equalAnchors(t, "nothing finalized", got, []watch.Anchor{expected(a, an, s.head(), false)})
	if cur != (ledger.Cursor{}) {
		t.Errorf("cursor moved with nothing final: %v", cur)
	}
}

// reorgOut reorganises the chain from an's parent block so that the
// block holding an is replaced by one where the relayer spent the anchor's
// nonce on a plain transfer, seals blocks until the new chain is blocks
// long past an's, and checks that the anchor transaction is gone.
func (s *sim) reorgOut(d *device, an anchor.Anchor, blocks int) {
	s.t.Helper()
	ctx := context.Background()
	if err := s.ch.Backend.Fork(s.blockHash(an.BlockNumber - 1)); err != nil {
		s.t.Fatalf("fork: %v", err)
	}
	var old types.Transaction
	if err := old.UnmarshalBinary(an.Attempts[an.Included].Raw); err != nil {
		s.t.Fatal(err)
	}
	to := d.relayerAddress()
	chainID := big.NewInt(simchain.ChainID)
	repl, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: old.Nonce(),
		GasTipCap: new(big.Int).Mul(old.GasTipCap(), big.NewInt(2)), GasFeeCap: new(big.Int).Mul(old.GasFeeCap(), big.NewInt(2)),
		Gas: 21000, To: &to}), types.LatestSignerForChainID(chainID), d.relayer)
	if err != nil {
		s.t.Fatal(err)
	}
	// The pool takes the new head asynchronously: until then it refuses
	// the nonce as used.
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.ch.Client.SendTransaction(ctx, repl)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "nonce too low") || time.Now().After(deadline) {
			s.t.Fatalf("send the replacement: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range blocks {
		s.commit()
	}
	if _, err := s.ch.Client.TransactionReceipt(ctx, old.Hash()); !errors.Is(err, ethereum.NotFound) {
		s.t.Fatalf("the anchor transaction is still on the chain after the reorg: %v", err)
	}
	if r, err := s.ch.Client.TransactionReceipt(ctx, repl.Hash()); err != nil || r.BlockNumber.Uint64() != an.BlockNumber {
		s.t.Fatalf("the replacement is not in block %d: %v", an.BlockNumber, err)
	}
}

// An anchor seen in a block that a reorganisation then removes is never
// reported Final, by the reader that saw it nor by a new one.
func TestRegistry_ReorgBeforeFinality(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	fin := anchor.Confirmations(3)
	a.startAnchorer(s.ch.Client, s.ch.Registry, fin)
	an := s.anchorOnce(a, 3)
	s.commit()
	cfg := ledger.Config{Devices: []watch.Device{a.trusted()}, Finality: fin}
	r := newRegistry(t, s.rpc(), s.ch.Registry, cfg)
	got, cur := poll(t, r, ledger.Cursor{})
	equalAnchors(t, "before the reorg", got, []watch.Anchor{expected(a, an, s.head(), false)})

	s.reorgOut(a, an, 5)
	for _, from := range []ledger.Cursor{cur, {}} {
		if got, _ := poll(t, r, from); len(got) != 0 {
			t.Errorf("after the reorg, from %v: %+v", from, got)
		}
	}
	if got, _ := poll(t, newRegistry(t, s.rpc(), s.ch.Registry, cfg), ledger.Cursor{}); len(got) != 0 {
		t.Errorf("a new reader after the reorg: %+v", got)
	}
}

// A reorganisation deeper than the finality rule allows, below the cursor,
// stops the reader with ErrReorgBeyondFinality instead of going on.
func TestRegistry_ReorgBeyondFinality(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	fin := anchor.Confirmations(2)
	a.startAnchorer(s.ch.Client, s.ch.Registry, fin)
	an := s.anchorOnce(a, 3)
	s.commit()
	r := newRegistry(t, s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()}, Finality: fin})
	got, cur := poll(t, r, ledger.Cursor{})
	equalAnchors(t, "final", got, []watch.Anchor{expected(a, an, s.head(), true)})
	if cur.Next != an.BlockNumber+1 {
		t.Fatalf("cursor %v, want next %d", cur, an.BlockNumber+1)
	}
	s.reorgOut(a, an, 3)
	_, next, err := r.Poll(context.Background(), cur)
	if !errors.Is(err, ledger.ErrReorgBeyondFinality) {
		t.Fatalf("Poll after a reorg below the cursor: %v, want ErrReorgBeyondFinality", err)
	}
	if next != cur {
		t.Errorf("cursor moved on error: %v", next)
	}
	t.Logf("Poll: %v", err)
}

// A reorganisation between reading the logs and reporting them: the block
// an anchor was read from is checked by hash before the anchor is reported
// Final, and the poll fails with ErrChanged; the next poll reads the new
// chain.
func TestRegistry_ChainChangesWhileRead(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	a.startAnchorer(s.ch.Client, s.ch.Registry, anchor.QBFT)
	an := s.anchorOnce(a, 3)
	fc := &faultClient{Caller: s.rpc()}
	fc.setAfterLogs(func() {
		fc.setAfterLogs(nil)
		s.reorgOut(a, an, 2)
	})
	r := newRegistry(t, fc, s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()}})
	as, next, err := r.Poll(context.Background(), ledger.Cursor{})
	if !errors.Is(err, ledger.ErrChanged) || len(as) != 0 || next != (ledger.Cursor{}) {
		t.Fatalf("Poll across a reorg = %d anchors, %v, %v; want none, the zero cursor, ErrChanged", len(as), next, err)
	}
	t.Logf("Poll: %v", err)
	got, _ := poll(t, r, ledger.Cursor{})
	if len(got) != 0 {
		t.Errorf("after the reorg: %+v", got)
	}
}

// A provider that refuses log ranges wider than 3 blocks: the reader halves
// its range and still reads every anchor; each Poll reads at most MaxBlocks
// blocks, and polls from the returned cursors cover the chain exactly once.
func TestRegistry_BoundedRanges(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	a.startAnchorer(s.ch.Client, s.ch.Registry, anchor.QBFT)
	var want []anchor.Anchor
	for i := range 5 {
		want = append(want, s.anchorOnce(a, 1+i))
		for range 4 {
			s.commit()
		}
	}
	head := s.head()
	fc := &faultClient{Caller: s.rpc(), maxSpan: 3}
	r := newRegistry(t, fc, s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()}, MaxRange: 8, MaxBlocks: 10})
	var got []watch.Anchor
	cur := ledger.Cursor{}
	for polls := 0; cur.Next <= head; polls++ {
		if polls > int(head/10)+2 {
			t.Fatalf("%d polls and the cursor is at %v, head %d", polls, cur, head)
		}
		as, next := poll(t, r, cur)
		if next.Next-cur.Next > 10 {
			t.Errorf("one poll moved the cursor from %v to %v, more than MaxBlocks", cur, next)
		}
		got, cur = append(got, as...), next
	}
	var exp []watch.Anchor
	for _, an := range want {
		exp = append(exp, expected(a, an, head, true))
	}
	equalAnchors(t, "all polls", got, exp)
	if fc.refusals.Load() == 0 {
		t.Error("the node never refused a range: the test tests nothing")
	}
	t.Logf("head %d: %d log requests, %d refused", head, fc.calls.Load(), fc.refusals.Load())
}

// Run survives a node that is down: it retries with backoff and delivers
// the anchors once the node answers; a handler that fails gets the same
// anchors again, and the cursor it is given moves only past them.
func TestRun_NodeDownAndHandlerFailure(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	a.startAnchorer(s.ch.Client, s.ch.Registry, anchor.QBFT)
	an := s.anchorOnce(a, 2)
	fc := &faultClient{Caller: s.rpc()}
	fc.down.Store(true)
	r := newRegistry(t, fc, s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()},
		Poll: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})

	type batch struct {
		as   []watch.Anchor
		next ledger.Cursor
	}
	calls := make(chan batch, 16)
	var handled int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, ledger.Cursor{}, func(_ context.Context, as []watch.Anchor, next ledger.Cursor) error {
			handled++
			calls <- batch{as, next}
			if handled == 1 {
				return errors.New("archive unavailable")
			}
			return nil
		})
	}()
	// The node is down: Run keeps trying without delivering anything.
	waitFor(t, "Run to retry against the down node", func() bool { return fc.downCalls() >= 3 })
	select {
	case b := <-calls:
		t.Fatalf("delivered %+v while the node was down", b)
	default:
	}
	fc.down.Store(false)
	want := []watch.Anchor{expected(a, an, s.head(), true)}
	for i := range 2 {
		select {
		case b := <-calls:
			equalAnchors(t, "delivery", b.as, want)
			if b.next.Next != s.head()+1 {
				t.Errorf("delivery %d: cursor %v", i, b.next)
			}
		case <-time.After(time.Minute):
			t.Fatalf("delivery %d: nothing after a minute", i)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v on cancel", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context's end")
	}
	if len(calls) != 0 {
		t.Errorf("%d more deliveries after the handler succeeded at the head", len(calls))
	}
}

// Run hands a not-final anchor over once, however many polls read it
// again, and again once it is final.
func TestRun_NotFinalOnce(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	fin := anchor.Confirmations(3)
	a.startAnchorer(s.ch.Client, s.ch.Registry, fin)
	an := s.anchorOnce(a, 2)
	fc := &faultClient{Caller: s.rpc()}
	r := newRegistry(t, fc, s.ch.Registry, ledger.Config{Devices: []watch.Device{a.trusted()}, Finality: fin,
		Poll: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: discard()})
	got := make(chan []watch.Anchor, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, ledger.Cursor{}, func(_ context.Context, as []watch.Anchor, _ ledger.Cursor) error {
			got <- as
			return nil
		})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of its context's end")
		}
	}()
	// next returns the next batch with anchors; batches that only move
	// the cursor are skipped.
	next := func(what string) []watch.Anchor {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case as := <-got:
				if len(as) > 0 {
					return as
				}
			case <-deadline:
				t.Fatalf("%s: nothing handed over within a minute", what)
				return nil
			}
		}
	}
	first := next("not final")
	equalAnchors(t, "not final", first, []watch.Anchor{expected(a, an, an.BlockNumber, false)})
	polls := fc.calls.Load()
	waitFor(t, "three more polls", func() bool { return fc.calls.Load() >= polls+3 })
	select {
	case as := <-got:
		t.Fatalf("handed over again before it was final: %+v", as)
	default:
	}
	s.commit()
	s.commit()
	final := next("final")
	equalAnchors(t, "final", final, []watch.Anchor{expected(a, an, an.BlockNumber+2, true)})
}

// waitFor waits, bounded, for cond.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Configuration and node errors are reported, naming what is wrong.
func TestRegistry_Errors(t *testing.T) {
	a := newDevice(t)
	s := newSim(t, a)
	dev := a.trusted()
	for _, tt := range []struct {
		name     string
		client   ledger.Caller
		contract common.Address
		cfg      ledger.Config
	}{
		{"no devices", s.rpc(), s.ch.Registry, ledger.Config{}},
		{"device twice", s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{dev, dev}}},
		{"invalid fleet", s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{{Address: dev.Address, Fleet: "Bad Fleet", ChainID: 1}}}},
		{"zero chain", s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{{Address: dev.Address, Fleet: testFleet}}}},
		{"zero contract", s.rpc(), common.Address{}, ledger.Config{Devices: []watch.Device{dev}}},
		{"no client", nil, s.ch.Registry, ledger.Config{Devices: []watch.Device{dev}}},
		{"MaxBlocks below MaxRange", s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{dev}, MaxRange: 10, MaxBlocks: 5}},
	} {
		if _, err := ledger.NewRegistry(tt.client, tt.contract, tt.cfg); err == nil {
			t.Errorf("%s: NewRegistry succeeded", tt.name)
		} else {
			t.Logf("%s: %v", tt.name, err)
		}
	}

	ctx := context.Background()
	r := newRegistry(t, s.rpc(), s.ch.Registry, ledger.Config{Devices: []watch.Device{dev}, ChainID: 1})
	if _, _, err := r.Poll(ctx, ledger.Cursor{}); !errors.Is(err, ledger.ErrWrongChain) {
		t.Errorf("node on another chain: %v, want ErrWrongChain", err)
	}
	r = newRegistry(t, s.rpc(), a.relayerAddress(), ledger.Config{Devices: []watch.Device{dev}})
	if _, _, err := r.Poll(ctx, ledger.Cursor{}); !errors.Is(err, registry.ErrNoCode) {
		t.Errorf("an account, not the registry: %v, want registry.ErrNoCode", err)
	}
}
