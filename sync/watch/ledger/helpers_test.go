package ledger_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/ledger"
)

const testFleet = "city-fleet"

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

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// device is a real device: its key, its signed log, and an anchoring loop
// that anchors through its own funded relayer.
type device struct {
	t       testing.TB
	key     *devkey.Key
	relayer *ecdsa.PrivateKey
	log     *eventlog.Log
	a       *anchor.Anchorer
	seq     int
}

// newDevice creates a device key, a relayer key and a log; anchoring
// starts with startAnchorer once the relayer is funded.
func newDevice(t testing.TB) *device {
	t.Helper()
	k, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(context.Background(), filepath.Join(t.TempDir(), "log"), &eventlog.Options{
		Keys:   k,
		Create: &eventlog.Identity{Device: k.Address(), Fleet: testFleet, ChainID: simchain.ChainID},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &device{t: t, key: k, relayer: rk, log: l}
}

func (d *device) address() event.Address { return d.key.Address() }

func (d *device) relayerAddress() common.Address { return crypto.PubkeyToAddress(d.relayer.PublicKey) }

// trusted is the device's allowlist entry.
func (d *device) trusted() watch.Device {
	return watch.Device{Address: d.address(), Fleet: testFleet, ChainID: simchain.ChainID}
}

// startAnchorer opens the device's anchoring loop on the registry at
// contract through client, anchoring once per appended event.
func (d *device) startAnchorer(client evmtx.Client, contract common.Address, fin anchor.Finality) {
	d.t.Helper()
	be, err := evmtx.New(evmtx.Options{Client: client, Signer: evmtx.KeySigner(d.relayer),
		Payload: registry.Payload{Contract: contract, Domain: signer.Domain{ChainID: simchain.ChainID, Fleet: testFleet}, Device: d.address()}})
	if err != nil {
		d.t.Fatal(err)
	}
	a, err := anchor.Open(filepath.Join(d.t.TempDir(), "anchor.db"), d.log, be, &anchor.Options{
		Every: 1, Interval: 24 * time.Hour, Finality: fin, Checkpoint: d.log.Checkpoint, Logger: discard(),
	})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { a.Close() })
	d.a = a
}

// appendEvents appends n signed events to the device's log.
func (d *device) appendEvents(n int) {
	d.t.Helper()
	for range n {
		d.seq++
		_, err := d.log.Append(context.Background(), event.Event{
			Time:    time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(d.seq)*1000,
			Source:  event.SourceGNSS,
			Kind:    "delivery",
			Payload: fmt.Appendf(nil, `{"parcel":"P%06d"}`, d.seq),
		})
		if err != nil {
			d.t.Fatal(err)
		}
	}
}

// step runs the device's anchoring loop once.
func (d *device) step() {
	d.t.Helper()
	if err := d.a.Step(context.Background()); err != nil {
		d.t.Fatalf("anchor step: %v", err)
	}
}

// inFlight returns the anchor the loop is carrying, failing if none.
func (d *device) inFlight() *anchor.Anchor {
	d.t.Helper()
	an := d.a.Status().InFlight
	if an == nil {
		d.t.Fatal("no anchor in flight")
	}
	return an
}

// sim is a simulated chain with the registry deployed; blocks are sealed
// only by commit.
type sim struct {
	t  testing.TB
	ch *simchain.Chain
}

func newSim(t testing.TB, devs ...*device) *sim {
	t.Helper()
	var fund []common.Address
	for _, d := range devs {
		fund = append(fund, d.relayerAddress())
	}
	// The period is never reached: the tests seal every block themselves.
	ch, err := simchain.Start(24*time.Hour, fund...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return &sim{t: t, ch: ch}
}

func (s *sim) commit() common.Hash { return s.ch.Backend.Commit() }

func (s *sim) head() uint64 {
	s.t.Helper()
	n, err := s.ch.Client.BlockNumber(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

func (s *sim) blockHash(n uint64) common.Hash {
	s.t.Helper()
	h, err := s.ch.Client.HeaderByNumber(context.Background(), new(big.Int).SetUint64(n))
	if err != nil {
		s.t.Fatal(err)
	}
	return h.Hash()
}

// anchorOnce appends n events to d and carries one anchor of them through
// a sealed block to the state the loop's finality rule allows after one
// block; it returns the anchor as the loop stored it.
func (s *sim) anchorOnce(d *device, n int) anchor.Anchor {
	s.t.Helper()
	d.appendEvents(n)
	d.step() // signs and sends
	an := d.inFlight()
	s.commit()
	d.step() // mined (and, under QBFT, confirmed)
	for _, got := range anchors(s.t, d) {
		if got.ID == an.ID {
			return got
		}
	}
	s.t.Fatalf("anchor %d vanished from the store", an.ID)
	return anchor.Anchor{}
}

func anchors(t testing.TB, d *device) []anchor.Anchor {
	t.Helper()
	as, err := d.a.Anchors()
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// expected is the watch.Anchor a reader should report for an anchor the
// loop made, with its finality and confirmations.
func expected(d *device, an anchor.Anchor, head uint64, final bool) watch.Anchor {
	return watch.Anchor{Device: d.address(), Epoch: 0, Size: an.Size, Root: an.Root, ChainID: simchain.ChainID,
		Block: an.BlockNumber, Tx: an.Attempts[an.Included].Hash, Confirmations: head - an.BlockNumber + 1,
		Final: final, Source: anchor.PayloadRegistry}
}

func newRegistry(t testing.TB, c ledger.Caller, contract common.Address, cfg ledger.Config) *ledger.Reader {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := ledger.NewRegistry(c, contract, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func poll(t testing.TB, r *ledger.Reader, from ledger.Cursor) ([]watch.Anchor, ledger.Cursor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	as, next, err := r.Poll(ctx, from)
	if err != nil {
		t.Fatalf("Poll(%v): %v", from, err)
	}
	return as, next
}

func equalAnchors(t testing.TB, what string, got, want []watch.Anchor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d anchors, want %d:\ngot  %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: anchor %d:\ngot  %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// rpcError is a node's JSON-RPC error answer (go-ethereum's rpc.Error).
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string  { return e.msg }
func (e *rpcError) ErrorCode() int { return e.code }

// errRefused is what a client gets from a node that does not listen.
var errRefused = errors.New(`post "http://127.0.0.1:8545": dial tcp 127.0.0.1:8545: connect: connection refused`)

// faultClient is a node connection with faults: down makes every call
// fail as an unreachable node does; maxSpan, if not zero, makes the node
// refuse eth_getLogs ranges wider than it as providers do; afterLogs, if
// set, runs after each eth_getLogs that returned logs, before the caller
// sees them.
type faultClient struct {
	ledger.Caller
	down      atomic.Bool
	downN     atomic.Int64 // calls refused while down
	maxSpan   uint64
	calls     atomic.Int64 // eth_getLogs requests that reached the node
	refusals  atomic.Int64
	mu        sync.Mutex
	afterLogs func()
	// finalized, if set, is the node's answer to the "finalized" tag.
	finalized error
}

func (f *faultClient) downCalls() int64 { return f.downN.Load() }

func (f *faultClient) CallContext(ctx context.Context, result any, method string, args ...any) error {
	if f.down.Load() {
		f.downN.Add(1)
		return errRefused
	}
	if method == "eth_getBlockByNumber" && args[0] == "finalized" && f.finalized != nil {
		return f.finalized
	}
	if method != "eth_getLogs" {
		return f.Caller.CallContext(ctx, result, method, args...)
	}
	q := args[0].(map[string]any)
	from, err1 := hexutil.DecodeUint64(q["fromBlock"].(string))
	to, err2 := hexutil.DecodeUint64(q["toBlock"].(string))
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad range %v %v", q["fromBlock"], q["toBlock"])
	}
	if f.maxSpan > 0 && to-from+1 > f.maxSpan {
		f.refusals.Add(1)
		return &rpcError{code: -32000, msg: fmt.Sprintf("exceed maximum block range: %d", f.maxSpan)}
	}
	f.calls.Add(1)
	err := f.Caller.CallContext(ctx, result, method, args...)
	f.mu.Lock()
	hook := f.afterLogs
	f.mu.Unlock()
	if logs, ok := result.(*[]types.Log); err == nil && ok && len(*logs) > 0 && hook != nil {
		hook()
	}
	return err
}

func (f *faultClient) setAfterLogs(h func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterLogs = h
}

// rpc returns the chain's in-process JSON-RPC connection, as a watcher
// has one to a node. The simulated client hides its *ethclient.Client in
// an embedded field, whose name shadows the Client method.
func (s *sim) rpc() *rpc.Client {
	return reflect.ValueOf(s.ch.Client).Field(0).Interface().(*ethclient.Client).Client()
}
