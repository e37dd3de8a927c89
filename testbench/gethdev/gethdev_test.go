package gethdev

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/agent/devkey"
)

var oneEther = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// deviceTx builds an EIP-1559 transfer from a device key and signs it the way
// the agent signs everything: through the device key's digest signer.
func deviceTx(t *testing.T, ctx context.Context, n *Node, k *devkey.Key, to common.Address, value *big.Int) *types.Transaction {
	t.Helper()
	from := common.Address(k.Address())
	unsigned, err := n.DynamicFeeTx(ctx, from, &to, value, nil)
	if err != nil {
		t.Fatalf("DynamicFeeTx: %v", err)
	}
	s := types.LatestSignerForChainID(big.NewInt(ChainID))
	sig, err := k.Signer.SignDigest(s.Hash(unsigned))
	if err != nil {
		t.Fatalf("SignDigest: %v", err)
	}
	sig[64] -= 27 // the agent's v is 27/28, a transaction's y-parity 0/1
	tx, err := unsigned.WithSignature(s, sig[:])
	if err != nil {
		t.Fatalf("WithSignature: %v", err)
	}
	if got, err := types.Sender(s, tx); err != nil || got != from {
		t.Fatalf("Sender = %v, %v; want %v", got, err, from)
	}
	return tx
}

// notFound retries a lookup while geth's transaction indexer catches up
// (IsTxIndexing) and reports whether the node then answers "not found".
func notFound(t *testing.T, lookup func() error) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), DefaultWaitTimeout)
	defer cancel()
	for {
		err := lookup()
		if !IsTxIndexing(err) {
			return errors.Is(err, ethereum.NotFound), err
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestNode_ChainID(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	id, err := n.Client().ChainID(ctx)
	if err != nil {
		t.Fatalf("ChainID: %v", err)
	}
	if id.Int64() != ChainID {
		t.Errorf("eth_chainId = %v, want %d", id, ChainID)
	}
	net, err := n.Client().NetworkID(ctx)
	if err != nil {
		t.Fatalf("NetworkID: %v", err)
	}
	if net.Int64() != ChainID {
		t.Errorf("net_version = %v, want %d", net, ChainID)
	}
	var accounts []common.Address
	if err := n.RPC().CallContext(ctx, &accounts, "eth_accounts"); err != nil {
		t.Fatalf("eth_accounts: %v", err)
	}
	if !slices.Contains(accounts, DevAddress) {
		t.Errorf("eth_accounts = %v, want it to hold the developer account %v", accounts, DevAddress)
	}
	bal, err := n.Client().BalanceAt(ctx, DevAddress, nil)
	if err != nil {
		t.Fatalf("BalanceAt: %v", err)
	}
	if bal.Cmp(new(big.Int).Mul(oneEther, big.NewInt(1_000_000))) < 0 {
		t.Errorf("developer balance = %v wei, want at least a million ether", bal)
	}
	head, err := n.Client().BlockNumber(ctx)
	if err != nil {
		t.Fatalf("BlockNumber: %v", err)
	}
	if head != 0 {
		t.Errorf("head = %d before any transaction at --dev.period 0, want 0", head)
	}
}

// TestNode_RestartKeepsChain funds a device key, has it send an EIP-1559
// transfer, restarts geth, and checks that the block, the receipt and the
// balances survived and that the chain still mines.
func TestNode_RestartKeepsChain(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	c := n.Client()

	k, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	from := common.Address(k.Address())
	if _, err := n.Fund(ctx, from, oneEther); err != nil {
		t.Fatalf("Fund: %v", err)
	}
	to := crypto.PubkeyToAddress(mustKey(t).PublicKey)
	value := big.NewInt(123_456_789)
	tx := deviceTx(t, ctx, n, k, to, value)
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("SendTransaction: %v", err)
	}
	r, err := n.WaitReceipt(ctx, tx.Hash())
	if err != nil {
		t.Fatalf("WaitReceipt: %v", err)
	}
	if r.Status != types.ReceiptStatusSuccessful || r.Type != types.DynamicFeeTxType {
		t.Fatalf("receipt status %d type %d, want %d and %d", r.Status, r.Type, types.ReceiptStatusSuccessful, types.DynamicFeeTxType)
	}
	fromBal, err := c.BalanceAt(ctx, from, r.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}

	n.Restart(t)

	b, err := c.BlockByNumber(ctx, r.BlockNumber)
	if err != nil {
		t.Fatalf("after restart: BlockByNumber(%v): %v", r.BlockNumber, err)
	}
	if b.Hash() != r.BlockHash {
		t.Fatalf("after restart: block %v is %v, want %v", r.BlockNumber, b.Hash(), r.BlockHash)
	}
	r2, err := n.WaitReceipt(ctx, tx.Hash()) // the indexer may still be catching up
	if err != nil {
		t.Fatalf("after restart: receipt: %v", err)
	}
	if r2.BlockHash != r.BlockHash || r2.Status != r.Status || r2.GasUsed != r.GasUsed {
		t.Errorf("after restart: receipt in %v status %d gas %d, want %v %d %d", r2.BlockHash, r2.Status, r2.GasUsed, r.BlockHash, r.Status, r.GasUsed)
	}
	for _, c2 := range []struct {
		addr common.Address
		want *big.Int
	}{{to, value}, {from, fromBal}} {
		got, err := c.BalanceAt(ctx, c2.addr, nil)
		if err != nil {
			t.Fatalf("after restart: BalanceAt(%v): %v", c2.addr, err)
		}
		if got.Cmp(c2.want) != 0 {
			t.Errorf("after restart: balance of %v = %v, want %v", c2.addr, got, c2.want)
		}
	}

	// The chain goes on: the next nonce, a new block on top.
	tx2 := deviceTx(t, ctx, n, k, to, value)
	if tx2.Nonce() != tx.Nonce()+1 {
		t.Errorf("after restart: nonce %d, want %d", tx2.Nonce(), tx.Nonce()+1)
	}
	if err := c.SendTransaction(ctx, tx2); err != nil {
		t.Fatalf("after restart: SendTransaction: %v", err)
	}
	r3, err := n.WaitReceipt(ctx, tx2.Hash())
	if err != nil {
		t.Fatalf("after restart: WaitReceipt: %v", err)
	}
	if r3.BlockNumber.Cmp(r.BlockNumber) <= 0 {
		t.Errorf("after restart: mined in block %v, want above %v", r3.BlockNumber, r.BlockNumber)
	}
}

// TestNode_KillRestart crashes geth with SIGKILL and starts it again on the
// same directory. The node may lose its last block or so (writes geth had
// not yet handed to the kernel), but what it serves is consistent: the
// chain links from the head down to genesis, a transaction in a kept block
// has its receipt there, one in a lost block is neither mined nor pending,
// and the node mines again.
func TestNode_KillRestart(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	c := n.Client()
	to := crypto.PubkeyToAddress(mustKey(t).PublicKey)
	var rs []*types.Receipt
	for range 3 {
		r, err := n.Fund(ctx, to, big.NewInt(1))
		if err != nil {
			t.Fatalf("Fund: %v", err)
		}
		rs = append(rs, r)
	}
	before, err := c.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if n.Running() {
		t.Fatal("Running after Kill")
	}
	n.Restart(t)

	head, err := c.BlockNumber(ctx)
	if err != nil {
		t.Fatalf("after crash: head: %v", err)
	}
	t.Logf("after SIGKILL: head %d, was %d", head, before)
	for i := head; i > 0; i-- {
		b, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(i))
		if err != nil {
			t.Fatalf("after crash: header %d: %v", i, err)
		}
		p, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(i-1))
		if err != nil {
			t.Fatalf("after crash: header %d: %v", i-1, err)
		}
		if b.ParentHash != p.Hash() {
			t.Fatalf("after crash: block %d's parent is %v, block %d is %v", i, b.ParentHash, i-1, p.Hash())
		}
	}
	kept := int64(0)
	for _, r := range rs {
		if r.BlockNumber.Uint64() > head {
			if ok, err := notFound(t, func() error { _, _, err := c.TransactionByHash(ctx, r.TxHash); return err }); !ok {
				t.Errorf("after crash: transaction %v of lost block %v: err %v, want not found", r.TxHash, r.BlockNumber, err)
			}
			continue
		}
		kept++
		h, err := c.HeaderByNumber(ctx, r.BlockNumber)
		if err != nil {
			t.Fatalf("after crash: header %v: %v", r.BlockNumber, err)
		}
		if h.Hash() != r.BlockHash {
			t.Errorf("after crash: block %v is %v, want %v", r.BlockNumber, h.Hash(), r.BlockHash)
		}
		got, err := n.WaitReceipt(ctx, r.TxHash)
		if err != nil {
			t.Fatalf("after crash: receipt: %v", err)
		}
		if got.BlockHash != r.BlockHash {
			t.Errorf("after crash: receipt of %v in %v, want %v", r.TxHash, got.BlockHash, r.BlockHash)
		}
	}
	if bal, err := c.BalanceAt(ctx, to, nil); err != nil || bal.Int64() != kept {
		t.Errorf("after crash: balance %v, %v; want %d (one wei per kept transfer)", bal, err, kept)
	}
	if _, err := n.Fund(ctx, to, big.NewInt(1)); err != nil {
		t.Fatalf("after crash: Fund: %v", err)
	}
}

// TestNode_SetHeadDropsTransactions rewinds the chain below a mined
// transfer: its receipt is gone, it is not back in the pool, and the chain
// goes on from the new head.
func TestNode_SetHeadDropsTransactions(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	c := n.Client()
	to := crypto.PubkeyToAddress(mustKey(t).PublicKey)
	var rs []*types.Receipt
	for i := range 3 {
		r, err := n.Fund(ctx, to, big.NewInt(int64(1)<<i))
		if err != nil {
			t.Fatalf("Fund: %v", err)
		}
		rs = append(rs, r)
	}
	keep := rs[0].BlockNumber.Uint64()
	if err := n.SetHead(ctx, keep); err != nil {
		t.Fatal(err)
	}
	if head, err := c.BlockNumber(ctx); err != nil || head != keep {
		t.Fatalf("head after SetHead(%d) = %d, %v", keep, head, err)
	}
	for _, r := range rs[1:] {
		if ok, err := notFound(t, func() error { _, err := c.TransactionReceipt(ctx, r.TxHash); return err }); !ok {
			t.Errorf("receipt of dropped %v: err %v, want not found", r.TxHash, err)
		}
		if ok, err := notFound(t, func() error { _, _, err := c.TransactionByHash(ctx, r.TxHash); return err }); !ok {
			t.Errorf("dropped %v: err %v, want not found", r.TxHash, err)
		}
	}
	r, err := n.Fund(ctx, to, big.NewInt(8))
	if err != nil {
		t.Fatalf("Fund after SetHead: %v", err)
	}
	if r.BlockNumber.Uint64() <= keep {
		t.Errorf("mined in block %v after SetHead(%d), want above it", r.BlockNumber, keep)
	}
	if bal, err := c.BalanceAt(ctx, to, nil); err != nil || bal.Int64() != 1+8 {
		t.Errorf("balance = %v, %v; want 9", bal, err)
	}
}

// TestNode_MinTipLeavesTransactionUnmined sends a transaction whose tip is
// below the builder's minimum: it stays pending while blocks go by, until a
// replacement at the same nonce with a high enough tip is mined.
func TestNode_MinTipLeavesTransactionUnmined(t *testing.T) {
	minTip := big.NewInt(2_000_000_000)
	n := Start(t, WithPeriod(1), WithMinTip(minTip))
	ctx := t.Context()
	c := n.Client()
	to := crypto.PubkeyToAddress(mustKey(t).PublicKey)
	if _, err := n.Fund(ctx, to, big.NewInt(1)); err != nil { // the suggested tip is the minimum
		t.Fatalf("Fund: %v", err)
	}
	tx, err := n.DynamicFeeTx(ctx, DevAddress, &to, big.NewInt(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(tip, feeCap *big.Int) *types.Transaction {
		stx, err := types.SignNewTx(DevKey(), types.LatestSignerForChainID(big.NewInt(ChainID)), &types.DynamicFeeTx{
			ChainID: big.NewInt(ChainID), Nonce: tx.Nonce(), GasTipCap: tip, GasFeeCap: feeCap,
			Gas: tx.Gas(), To: &to, Value: big.NewInt(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		return stx
	}
	low := sign(big.NewInt(1_000_000_000), big.NewInt(20_000_000_000))
	if err := c.SendTransaction(ctx, low); err != nil {
		t.Fatalf("send low-tip transaction: %v", err)
	}
	sent, err := c.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		head, err := c.BlockNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head >= sent+3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if ok, err := notFound(t, func() error { _, err := c.TransactionReceipt(ctx, low.Hash()); return err }); !ok {
		t.Fatalf("low-tip transaction after 3 blocks: receipt err %v, want not found", err)
	}
	if _, pending, err := c.TransactionByHash(ctx, low.Hash()); err != nil || !pending {
		t.Fatalf("low-tip transaction: pending %v, err %v; want pending", pending, err)
	}
	high := sign(big.NewInt(2_200_000_000), big.NewInt(22_000_000_000)) // both +10%
	if err := c.SendTransaction(ctx, high); err != nil {
		t.Fatalf("send replacement: %v", err)
	}
	r, err := n.WaitReceipt(ctx, high.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("replacement: %v, %v", r, err)
	}
	if ok, err := notFound(t, func() error { _, err := c.TransactionReceipt(ctx, low.Hash()); return err }); !ok {
		t.Errorf("replaced transaction: receipt err %v, want not found", err)
	}
}

// TestNode_FinalityTags pins what the block tags mean on geth --dev, which a
// finality rule sees: "safe" is the head, and "finalized" moves in epochs of
// 32 blocks (the last multiple of 32 at or below the head).
func TestNode_FinalityTags(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	c := n.Client()
	number := func(tag rpc.BlockNumber) uint64 {
		t.Helper()
		h, err := c.HeaderByNumber(ctx, big.NewInt(int64(tag)))
		if err != nil {
			t.Fatalf("HeaderByNumber(%v): %v", tag, err)
		}
		return h.Number.Uint64()
	}
	for _, target := range []uint64{3, 32} { // finalized 0, then 32
		for number(rpc.LatestBlockNumber) < target {
			if _, err := n.Fund(ctx, DevAddress, big.NewInt(1)); err != nil {
				t.Fatal(err)
			}
		}
		// At period 0 geth may seal an empty block or two after a
		// transaction: read the tags until the head holds still.
		for {
			head, safe, final := number(rpc.LatestBlockNumber), number(rpc.SafeBlockNumber), number(rpc.FinalizedBlockNumber)
			if number(rpc.LatestBlockNumber) != head {
				continue
			}
			if safe != head || final != head/32*32 {
				t.Errorf("latest %d, safe %d, finalized %d; want %d, %d, %d", head, safe, final, head, head, head/32*32)
			}
			break
		}
	}
}

func TestNode_StopAndStart(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	if !n.Running() {
		t.Fatal("Running = false after Start")
	}
	for i := range 2 { // the second Stop does nothing
		if err := n.Stop(); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if n.Running() {
		t.Fatal("Running = true after Stop")
	}
	if _, err := n.Client().BlockNumber(ctx); err == nil {
		t.Fatal("BlockNumber answered while the node is stopped")
	}
	url := n.URL()
	n.Restart(t)
	if n.URL() != url {
		t.Errorf("URL after restart = %s, want %s", n.URL(), url)
	}
	if _, err := n.Client().BlockNumber(ctx); err != nil {
		t.Fatalf("BlockNumber after restart: %v", err)
	}
}

func TestNode_FundConcurrent(t *testing.T) {
	n := Start(t)
	ctx := t.Context()
	addrs := make([]common.Address, 5)
	for i := range addrs {
		addrs[i] = crypto.PubkeyToAddress(mustKey(t).PublicKey)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(addrs))
	for i, a := range addrs {
		wg.Go(func() { _, errs[i] = n.Fund(ctx, a, big.NewInt(int64(1000+i))) })
	}
	wg.Wait()
	for i, a := range addrs {
		if errs[i] != nil {
			t.Errorf("Fund(%v): %v", a, errs[i])
			continue
		}
		got, err := n.Client().BalanceAt(ctx, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Int64() != int64(1000+i) {
			t.Errorf("balance of %v = %v, want %d", a, got, 1000+i)
		}
	}
	if _, err := n.Fund(ctx, addrs[0], big.NewInt(-1)); err == nil {
		t.Error("Fund of -1 wei succeeded")
	}
}

// TestNode_Period checks that --dev.period 1 seals blocks with no
// transaction at all.
func TestNode_Period(t *testing.T) {
	n := Start(t, WithPeriod(1))
	const limit = 2 * time.Minute // two blocks take two seconds; a loaded machine, longer
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	for {
		head, err := n.Client().BlockNumber(ctx)
		if err != nil {
			t.Fatalf("BlockNumber: %v", err)
		}
		if head >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("head still %d after %v at --dev.period 1", head, limit)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestFindBinary(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	t.Setenv(BinaryEnv, "")

	if _, err := findBinary(""); !errors.Is(err, errMissing) {
		t.Errorf("findBinary without build/geth = %v, want errMissing", err)
	}
	if _, err := findBinary(filepath.Join(root, "nope")); err == nil || errors.Is(err, errMissing) {
		t.Errorf("findBinary(explicit missing file) = %v, want an error that fails the test", err)
	}
	t.Setenv(BinaryEnv, filepath.Join(root, "nope"))
	if _, err := findBinary(""); err == nil || errors.Is(err, errMissing) {
		t.Errorf("findBinary with %s set to a missing file = %v, want an error that fails the test", BinaryEnv, err)
	}
	t.Setenv(BinaryEnv, "")

	bin := filepath.Join(root, "build", "geth")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findBinary(""); err != nil || got != bin {
		t.Errorf("findBinary = %q, %v; want %q", got, err, bin)
	}
}

func TestFreePorts(t *testing.T) {
	a, b, err := freePorts()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a == 0 || b == 0 {
		t.Errorf("freePorts = %d, %d; want two distinct non-zero ports", a, b)
	}
}

// BenchmarkStart measures a cold start (fresh data directory) to the first
// RPC answer, against running `geth version` (process start-up alone) in the
// same run.
func BenchmarkStart(b *testing.B) {
	bin, err := findBinary("")
	if err != nil {
		b.Skipf("build/geth missing: run make geth (%v)", err)
	}
	var base time.Duration
	const baseRuns = 5
	for range baseRuns {
		began := time.Now()
		if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
			b.Fatalf("geth version: %v\n%s", err, out)
		}
		base += time.Since(began)
	}
	base /= baseRuns
	var total time.Duration
	runs := 0
	for b.Loop() {
		began := time.Now()
		n := Start(b)
		total += time.Since(began)
		runs++
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	per := total / time.Duration(runs)
	b.ReportMetric(float64(per.Milliseconds()), "ms/start")
	b.ReportMetric(float64(base.Milliseconds()), "ms/geth-version")
	b.ReportMetric(float64(per)/float64(base), "start/geth-version")
}

// BenchmarkRestart measures Restart (clean stop, start on the same data
// directory, first RPC answer) of a node holding a few blocks, against a
// cold Start in the same run.
func BenchmarkRestart(b *testing.B) {
	began := time.Now()
	n := Start(b)
	cold := time.Since(began)
	ctx := b.Context()
	for range 3 {
		if _, err := n.Fund(ctx, DevAddress, big.NewInt(1)); err != nil {
			b.Fatal(err)
		}
	}
	var stop, start time.Duration
	runs := 0
	for b.Loop() {
		t0 := time.Now()
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		n.Restart(b)
		stop += t1.Sub(t0)
		start += time.Since(t1)
		runs++
	}
	b.ReportMetric(float64((stop / time.Duration(runs)).Milliseconds()), "ms/stop")
	b.ReportMetric(float64((start / time.Duration(runs)).Milliseconds()), "ms/start")
	b.ReportMetric(float64(cold.Milliseconds()), "ms/cold-start")
	b.ReportMetric(float64(stop+start)/float64(runs)/float64(cold), "restart/cold-start")
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rpcErr is an error as geth's JSON-RPC client returns it.
type rpcErr struct {
	code int
	msg  string
}

func (e rpcErr) Error() string  { return e.msg }
func (e rpcErr) ErrorCode() int { return e.code }

func TestIsTxIndexing(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{rpcErr{-32000, "transaction indexing is in progress"}, true},
		{fmt.Errorf("receipt: %w", rpcErr{-32000, "transaction indexing is in progress"}), true},
		{rpcErr{-32000, "nonce too low"}, false},
		{rpcErr{-32601, "transaction indexing is in progress"}, false},
		{ethereum.NotFound, false},
		{errors.New("transaction indexing is in progress"), false},
		{nil, false},
	} {
		if got := IsTxIndexing(c.err); got != c.want {
			t.Errorf("IsTxIndexing(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// fakeTB records how Start ends a test instead of ending the real one.
type fakeTB struct {
	*testing.T
	mu     sync.Mutex
	logs   []string
	fatal  string
	skip   string
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal, f.failed = fmt.Sprintf(format, args...), true
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skip = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Failed() bool { return f.failed }

// runStart calls Start with a fakeTB on its own goroutine, as the testing
// package would, and returns the fake.
func runStart(t *testing.T, opts ...Option) *fakeTB {
	f := &fakeTB{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, opts...)
	}()
	<-done
	return f
}

func TestStart_Failures(t *testing.T) {
	dir := t.TempDir()
	exits := filepath.Join(dir, "exits")
	if err := os.WriteFile(exits, []byte("#!/bin/sh\necho 'Fatal: no chain for you' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		opts      []Option
		env       string
		wantFatal string
		wantLog   string
		wantSkip  string
	}{
		{name: "binary exits", opts: []Option{WithBinary(exits)}, wantFatal: "geth exited before answering", wantLog: "no chain for you"},
		{name: "explicit binary missing", opts: []Option{WithBinary(filepath.Join(dir, "nope"))}, wantFatal: "no such file"},
		{name: "env binary missing", env: filepath.Join(dir, "nope"), wantFatal: "no such file"},
		{name: "min tip at period 0", opts: []Option{WithBinary(exits), WithMinTip(big.NewInt(1))}, wantFatal: "WithPeriod of at least 1"},
		{name: "min tip zero", opts: []Option{WithBinary(exits), WithPeriod(1), WithMinTip(new(big.Int))}, wantFatal: "positive tip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(BinaryEnv, c.env)
			f := runStart(t, c.opts...)
			if !strings.Contains(f.fatal, c.wantFatal) || f.skip != c.wantSkip {
				t.Errorf("Start: fatal %q, skip %q; want fatal containing %q, skip %q", f.fatal, f.skip, c.wantFatal, c.wantSkip)
			}
			if logs := strings.Join(f.logs, "\n"); !strings.Contains(logs, c.wantLog) {
				t.Errorf("Start logged %q, want it to contain %q", logs, c.wantLog)
			}
		})
	}
	t.Run("build/geth missing", func(t *testing.T) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Chdir(root)
		t.Setenv(BinaryEnv, "")
		f := runStart(t)
		if !strings.HasPrefix(f.skip, "build/geth missing: run make geth") || f.fatal != "" {
			t.Errorf("Start: skip %q, fatal %q; want a skip starting %q", f.skip, f.fatal, "build/geth missing: run make geth")
		}
	})
}
