package anchor_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// deviceKeyHex is PROTOCOL.md §10's vector device scalar; never a real key.
const deviceKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// errRefused is what the fault client returns while the ledger is "down":
// the error a JSON-RPC client gets from a node that does not listen.
var errRefused = errors.New("post \"http://127.0.0.1:8545\": dial tcp 127.0.0.1:8545: connect: connection refused")

// faultClient is the simulated backend's client with a switch that makes
// every call fail as an unreachable node does, and counters that make the
// next SendTransaction calls fail before reaching the node (dropSends) or
// after the node took the transaction (loseAnswers).
type faultClient struct {
	simulated.Client
	down        atomic.Bool
	dropSends   atomic.Int32
	loseAnswers atomic.Int32
}

func (f *faultClient) fail() error {
	if f.down.Load() {
		return errRefused
	}
	return nil
}

func (f *faultClient) ChainID(ctx context.Context) (*big.Int, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Client.ChainID(ctx)
}

func (f *faultClient) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Client.HeaderByNumber(ctx, n)
}

func (f *faultClient) PendingNonceAt(ctx context.Context, a common.Address) (uint64, error) {
	if err := f.fail(); err != nil {
		return 0, err
	}
	return f.Client.PendingNonceAt(ctx, a)
}

func (f *faultClient) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Client.SuggestGasTipCap(ctx)
}

func (f *faultClient) SuggestGasPrice(ctx context.Context) (*big.Int, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Client.SuggestGasPrice(ctx)
}

func (f *faultClient) EstimateGas(ctx context.Context, m ethereum.CallMsg) (uint64, error) {
	if err := f.fail(); err != nil {
		return 0, err
	}
	return f.Client.EstimateGas(ctx, m)
}

func (f *faultClient) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if err := f.fail(); err != nil {
		return err
	}
	if f.dropSends.Add(-1) >= 0 {
		return errRefused
	}
	f.dropSends.Store(0)
	if f.loseAnswers.Add(-1) >= 0 {
		if err := f.Client.SendTransaction(ctx, tx); err != nil {
			return err
		}
		return errors.New("read tcp 127.0.0.1:50122->127.0.0.1:8545: connection reset by peer")
	}
	f.loseAnswers.Store(0)
	return f.Client.SendTransaction(ctx, tx)
}

func (f *faultClient) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Client.TransactionReceipt(ctx, h)
}

// chain is a simulated chain with one funded relayer account.
type chain struct {
	sim    *simulated.Backend
	client *faultClient
	key    *ecdsa.PrivateKey
	addr   common.Address
	// payload and gasLimit, if set, replace the plain note payload to the
	// relayer itself and the node's gas estimate.
	payload  evmtx.Payload
	gasLimit uint64
}

// revertingAddr holds code that reverts every call (PUSH1 0 PUSH1 0 REVERT).
var revertingAddr = common.Address{0xde, 0xad}

func newChain(t testing.TB, keys ...*ecdsa.PrivateKey) *chain {
	t.Helper()
	if len(keys) == 0 {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	alloc := types.GenesisAlloc{revertingAddr: {Code: []byte{0x60, 0x00, 0x60, 0x00, 0xfd}, Balance: new(big.Int)}}
	for _, k := range keys {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Lsh(big.NewInt(1), 100)}
	}
	sim := simulated.NewBackend(alloc)
	t.Cleanup(func() { sim.Close() })
	return &chain{sim: sim, client: &faultClient{Client: sim.Client()}, key: keys[0], addr: crypto.PubkeyToAddress(keys[0].PublicKey)}
}

func (c *chain) backend(t testing.TB) *evmtx.Backend {
	t.Helper()
	var p evmtx.Payload = evmtx.NotePayload{To: c.addr}
	if c.payload != nil {
		p = c.payload
	}
	b, err := evmtx.New(evmtx.Options{Client: c.client, Signer: evmtx.KeySigner(c.key), Payload: p, GasLimit: c.gasLimit})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commit mines the pending transactions into a block and returns its hash.
func (c *chain) commit() common.Hash { return c.sim.Commit() }

// head returns the current block number.
func (c *chain) head(t testing.TB) uint64 {
	t.Helper()
	n, err := c.sim.Client().BlockNumber(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// txsFrom returns the hashes of the canonical chain's transactions sent by
// addr, in order.
func (c *chain) txsFrom(t testing.TB, addr common.Address) []common.Hash {
	t.Helper()
	ctx := context.Background()
	var out []common.Hash
	for n := uint64(1); n <= c.head(t); n++ {
		b, err := c.sim.Client().BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range b.Transactions() {
			from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
			if err != nil {
				t.Fatal(err)
			}
			if from == addr {
				out = append(out, tx.Hash())
			}
		}
	}
	return out
}

// clock is the fake clock the tests advance instead of sleeping.
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

// discard is a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

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

// openLog opens (creating) a real signed log in dir.
func openLog(t testing.TB, dir string) *eventlog.Log {
	t.Helper()
	k, err := devkey.FromHex(deviceKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(context.Background(), dir, &eventlog.Options{
		Keys:   k,
		Create: &eventlog.Identity{Device: k.Address(), Fleet: "test-fleet", ChainID: 1337},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var eventCounter atomic.Int64

// appendEvents appends n signed events, pipelined through the log's queue.
func appendEvents(t testing.TB, l *eventlog.Log, n int) {
	t.Helper()
	ctx := context.Background()
	ps := make([]*eventlog.Pending, 0, n)
	for range n {
		i := eventCounter.Add(1)
		p, err := l.Enqueue(ctx, event.Event{
			Time:    time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).UnixMilli() + i*1000,
			Source:  event.SourceGNSS,
			Kind:    "delivery",
			Payload: fmt.Appendf(nil, `{"parcel":"P%06d"}`, i),
		})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// rig is one anchoring loop over a real log and a simulated chain.
type rig struct {
	t     testing.TB
	chain *chain
	log   *eventlog.Log
	clock *clock
	path  string
	opts  anchor.Options
	a     *anchor.Anchorer
}

func newRig(t testing.TB, opts anchor.Options) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, chain: newChain(t), log: openLog(t, filepath.Join(dir, "log")), clock: newClock(),
		path: filepath.Join(dir, "anchor.db"), opts: opts}
	r.open()
	return r
}

// open opens the loop on the rig's store, as a restarted daemon does.
func (r *rig) open() {
	r.t.Helper()
	o := r.opts
	o.Now = r.clock.Now
	o.Checkpoint = r.log.Checkpoint
	if o.Logger == nil {
		o.Logger = testLogger(r.t)
	}
	a, err := anchor.Open(r.path, r.log, r.chain.backend(r.t), &o)
	if err != nil {
		r.t.Fatal(err)
	}
	r.a = a
	r.t.Cleanup(func() { a.Close() })
}

// reopen closes the loop and opens a new one on the same store.
func (r *rig) reopen() {
	r.t.Helper()
	if err := r.a.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

func (r *rig) step() {
	r.t.Helper()
	if err := r.a.Step(context.Background()); err != nil {
		r.t.Fatalf("Step: %v", err)
	}
}

func (r *rig) anchors() []anchor.Anchor {
	r.t.Helper()
	as, err := r.a.Anchors()
	if err != nil {
		r.t.Fatal(err)
	}
	return as
}

// inFlight returns the anchor in flight, failing if there is none.
func (r *rig) inFlight() *anchor.Anchor {
	r.t.Helper()
	an := r.a.Status().InFlight
	if an == nil {
		r.t.Fatal("no anchor in flight")
	}
	return an
}

// confirm mines a block and steps until the anchor in flight is confirmed
// (QBFT: one block).
func (r *rig) confirm() anchor.Anchor {
	r.t.Helper()
	r.chain.commit()
	r.step()
	st := r.a.Status()
	if st.InFlight != nil {
		r.t.Fatalf("anchor %d still %s after a block", st.InFlight.ID, st.InFlight.State)
	}
	if st.Last == nil {
		r.t.Fatal("no confirmed anchor")
	}
	return *st.Last
}
