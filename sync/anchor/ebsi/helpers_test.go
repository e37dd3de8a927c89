package ebsi_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/ebsitest"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// deviceKeyHex is PROTOCOL.md §10's vector device scalar; never a real key.
const deviceKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// did is the device operator's DID in the stand-in's DID registry.
const did = "did:ebsi:zWaybillTestOperator"

// tokenTTL is the lifetime of EBSI's access tokens (expires_in 7200).
const tokenTTL = 2 * time.Hour

// clock is the fake clock the tests advance instead of sleeping; the
// stand-in, the backend and the anchoring loop share it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testLogger logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// switchable is a token source whose behaviour a test changes mid-run; it
// counts its calls.
type switchable struct {
	mu    sync.Mutex
	src   ebsi.TokenSource
	calls atomic.Int32
}

func (s *switchable) Token(ctx context.Context) (string, time.Time, error) {
	s.calls.Add(1)
	s.mu.Lock()
	src := s.src
	s.mu.Unlock()
	return src.Token(ctx)
}

func (s *switchable) set(src ebsi.TokenSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = src
}

// rig is one anchoring loop over a real signed log, anchoring through the
// EBSI backend against the stand-in.
type rig struct {
	t     testing.TB
	clock *clock
	key   *devkey.Key
	srv   *ebsitest.Server
	tok   *switchable
	be    *ebsi.Backend
	log   *eventlog.Log
	a     *anchor.Anchorer
	seq   int
}

func newRig(t testing.TB) *rig {
	t.Helper()
	k, err := devkey.FromHex(deviceKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clock: newClock(), key: k}
	addr := common.Address(k.Address())
	r.srv, err = ebsitest.Start(ebsitest.Options{Fund: []common.Address{addr}, Now: r.clock.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })
	r.srv.RegisterDID(did, addr)
	r.tok = &switchable{src: r.srv.TokenSource(did, ebsitest.Scope, tokenTTL)}
	r.be = r.backend(nil)

	dir := t.TempDir()
	r.log, err = eventlog.Open(context.Background(), filepath.Join(dir, "log"), &eventlog.Options{
		Keys:   k,
		Create: &eventlog.Identity{Device: k.Address(), Fleet: "test-fleet", ChainID: ebsitest.ChainID},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.log.Close() })
	r.a, err = anchor.Open(filepath.Join(dir, "anchor.db"), r.log, r.be, &anchor.Options{
		Every: 10, Finality: anchor.QBFT, Now: r.clock.Now, Checkpoint: r.log.Checkpoint, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.a.Close() })
	return r
}

// backend returns a backend on the stand-in; edit, if set, changes its
// options first.
func (r *rig) backend(edit func(*ebsi.Options)) *ebsi.Backend {
	r.t.Helper()
	o := ebsi.Options{
		Endpoint: r.srv.TimestampURL(), APIVersion: "v4", Token: r.tok,
		Signer: evmtx.KeySigner(r.key.ECDSA()), ChainID: big.NewInt(ebsitest.ChainID),
		HashAlgorithmID: big.NewInt(ebsitest.SHA256AlgorithmID), Contract: r.srv.Contract,
		HTTPClient: r.srv.HTTPClient(), Logger: testLogger(r.t), Now: r.clock.Now,
	}
	if edit != nil {
		edit(&o)
	}
	be, err := ebsi.New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	return be
}

// appendEvents appends n signed events to the log.
func (r *rig) appendEvents(n int) {
	r.t.Helper()
	for range n {
		r.seq++
		_, err := r.log.Append(context.Background(), event.Event{
			Time:    time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(r.seq)*1000,
			Source:  event.SourceGNSS,
			Kind:    "delivery",
			Payload: fmt.Appendf(nil, `{"parcel":"P%06d"}`, r.seq),
		})
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) step() {
	r.t.Helper()
	if err := r.a.Step(context.Background()); err != nil {
		r.t.Fatalf("Step: %v", err)
	}
}

// confirm seals a block and steps until the anchor in flight is confirmed
// (QBFT: one block).
func (r *rig) confirm() anchor.Anchor {
	r.t.Helper()
	if r.a.Status().InFlight == nil {
		r.t.Fatal("no anchor in flight")
	}
	r.srv.Commit()
	r.step()
	st := r.a.Status()
	if st.InFlight != nil {
		r.t.Fatalf("anchor %d still %s after a block", st.InFlight.ID, st.InFlight.State)
	}
	if st.Last == nil || st.Last.State != anchor.StateConfirmed {
		r.t.Fatalf("no confirmed anchor: %+v", st.Last)
	}
	return *st.Last
}

// pendingNonce is the device account's pending nonce on the chain.
func (r *rig) pendingNonce() uint64 {
	r.t.Helper()
	n, err := r.srv.Sim.Client().PendingNonceAt(context.Background(), common.Address(r.key.Address()))
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}
