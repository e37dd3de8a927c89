// Package gethdev runs a real go-ethereum node in developer mode (`geth --dev`)
// for integration tests: a single-node proof-of-stake chain (chain id 1337)
// whose blocks are sealed by geth's in-process simulated beacon, either one
// per transaction (--dev.period 0, the default here) or one every N seconds.
//
// The binary is build/geth at the module root, built by `make geth` with
//
//	CGO_ENABLED=0 GOBIN=$PWD/build go install github.com/ethereum/go-ethereum/cmd/geth@v1.17.10
//
// or the file named by the environment variable WAYBILL_GETH. Tests skip when
// build/geth is missing and fail when the binary's version differs from the
// go-ethereum version this module links, so the node always runs the same
// code as the client library.
//
// Each node gets its own temporary data directory and two free loopback
// ports: HTTP JSON-RPC (eth, net, web3, txpool, debug) and the authenticated
// RPC port geth opens beside it. IPC, peer-to-peer networking, discovery and
// NAT probing are off (the last one alone would add two seconds to every
// stop), so nodes of parallel tests never collide and nothing leaves the
// loopback interface. The node is stopped when the test ends: SIGTERM, then
// SIGKILL after a bound; on Linux the kernel also kills it if the test binary
// dies.
//
// Faults a ledger client must survive, each on a real node:
//   - Restart stops geth cleanly (it journals its state) and starts it again
//     on the same data directory and port; clients keep their URL and their
//     *ethclient.Client, and the chain is intact.
//   - Kill then Restart is a crash of the node process. Geth may lose its
//     latest block (writes it had buffered but not yet handed to the
//     kernel): killed right after a receipt appeared, it lost that block in
//     7 runs out of 25. What it serves afterwards is consistent: the lost
//     block, its receipt and its transactions are gone (not back in the
//     pool), the rest is intact, and it mines again. This holds because the
//     node runs with --state.scheme hash --gcmode archive, writing each
//     block's state as it seals it; with geth's default path scheme, a
//     killed dev node restarted at genesis without the genesis system
//     contracts, could no longer seal a block, and still served the lost
//     blocks and their receipts.
//   - SetHead rewinds the chain (debug_setHead): a reorganisation that drops
//     mined transactions, deterministically.
//   - WithMinTip leaves a transaction with a lower tip pending and unmined
//     until it is replaced.
//
// Geth answers a transaction or receipt lookup with an error, not "not
// found", while its transaction indexer lags the head, which it does briefly
// after every start and every new block; IsTxIndexing recognises it.
//
// The developer account is geth's well-known dev key (DevKey, DevAddress),
// funded in the dev genesis with a practically unlimited balance; Fund pays
// other accounts from it.
package gethdev

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/version"
)

// BinaryEnv names the environment variable that overrides the geth binary's
// path. When it is set, the file must exist: a wrong path fails the test
// instead of skipping it.
const BinaryEnv = "WAYBILL_GETH"

// ChainID is the chain id of every geth --dev chain (EIP-155).
const ChainID = 1337

// devKeyHex is the developer key geth imports into a fresh --dev keystore
// (cmd/utils/flags.go, DeveloperKey). It is public: never use it on a real
// chain.
const devKeyHex = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"

// DevAddress is the developer account: the dev genesis funds it, geth
// unlocks it and uses it as the fee recipient.
var DevAddress = crypto.PubkeyToAddress(DevKey().PublicKey)

// DevKey returns the developer account's private key (a new copy per call).
func DevKey() *ecdsa.PrivateKey {
	k, err := crypto.HexToECDSA(devKeyHex)
	if err != nil {
		panic("gethdev: bad developer key constant: " + err.Error())
	}
	return k
}

// Version is the geth version the binary must report: the go-ethereum
// version this module links.
var Version = fmt.Sprintf("%d.%d.%d", version.Major, version.Minor, version.Patch)

// Default bounds.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 15 * time.Second
	DefaultWaitTimeout  = 30 * time.Second
)

// Option configures Start.
type Option func(*config)

type config struct {
	binary       string
	period       uint64
	minTip       *big.Int
	startTimeout time.Duration
	stopTimeout  time.Duration
	args         []string
}

// WithPeriod sets --dev.period: 0 (the default) seals a block as soon as a
// transaction is pending and never otherwise; N > 0 seals a block every N
// seconds, empty or not.
func WithPeriod(seconds uint64) Option { return func(c *config) { c.period = seconds } }

// WithMinTip sets the smallest priority fee (tip) geth's block builder
// accepts (--miner.gasprice; geth --dev otherwise takes 1 wei). A
// transaction with a lower tip is accepted into the pool and stays there
// unmined until it is replaced by one with a tip at least this high and 10%
// above its own: the "transaction left unmined" fault. It needs WithPeriod
// of 1 or more: at period 0 geth seals empty blocks in a busy loop for as
// long as such a transaction is pending, so Start refuses the combination.
func WithMinTip(wei *big.Int) Option { return func(c *config) { c.minTip = wei } }

// WithBinary runs the geth binary at path instead of build/geth or
// WAYBILL_GETH.
func WithBinary(path string) Option { return func(c *config) { c.binary = path } }

// WithStartTimeout bounds the wait for the first RPC answer (default
// DefaultStartTimeout).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithStopTimeout bounds the wait after SIGTERM before SIGKILL (default
// DefaultStopTimeout).
func WithStopTimeout(d time.Duration) Option { return func(c *config) { c.stopTimeout = d } }

// WithArgs appends geth flags, for example "--dev.gaslimit", "30000000".
// Flags that set ports, the data directory, the RPC APIs or the state scheme
// are the package's own.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Node is a running (or stopped) geth --dev process.
type Node struct {
	// Constant after Start.
	cfg      config
	binary   string
	datadir  string
	logPath  string
	httpPort int
	authPort int
	url      string
	rpc      *rpc.Client
	eth      *ethclient.Client

	fundMu sync.Mutex // serialises Fund's nonce use

	mu   sync.Mutex // guards proc
	proc *process   // nil when stopped
}

// process is one run of the geth binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// Start runs geth --dev for the test and returns once its JSON-RPC answers.
// It skips the test when build/geth is missing, and fails it when geth does
// not answer within the start timeout (logging geth's output). The node is
// stopped and its client closed when the test ends.
func Start(t testing.TB, opts ...Option) *Node {
	t.Helper()
	cfg := config{startTimeout: DefaultStartTimeout, stopTimeout: DefaultStopTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.minTip != nil && (cfg.period == 0 || cfg.minTip.Sign() <= 0) {
		t.Fatalf("gethdev: WithMinTip(%v) needs a positive tip and WithPeriod of at least 1 (period is %d)", cfg.minTip, cfg.period)
	}
	bin, err := findBinary(cfg.binary)
	if errors.Is(err, errMissing) {
		t.Skipf("build/geth missing: run make geth (%v)", err)
	}
	if err != nil {
		t.Fatalf("gethdev: %v", err)
	}
	dir := t.TempDir() // removed after the cleanup below has stopped geth
	n := &Node{
		cfg:     cfg,
		binary:  bin,
		datadir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "geth.log"),
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("gethdev: %v", err)
		}
		if t.Failed() {
			n.logTail(t, 60)
		}
		if n.eth != nil {
			n.eth.Close()
		}
	})

	// The ports are free when chosen, not when geth binds them: another
	// process may take one in between, so a bind failure picks new ports.
	const attempts = 3
	for i := 1; ; i++ {
		if n.httpPort, n.authPort, err = freePorts(); err != nil {
			t.Fatalf("gethdev: %v", err)
		}
		n.url = "http://127.0.0.1:" + strconv.Itoa(n.httpPort)
		began := time.Now()
		err = n.start()
		if err == nil {
			t.Logf("gethdev: geth %s --dev.period %d at %s answered after %v", Version, cfg.period, n.url, time.Since(began).Round(time.Millisecond))
			break
		}
		if !errors.Is(err, errAddrInUse) || i == attempts {
			n.logTail(t, 60)
			t.Fatalf("gethdev: start: %v", err)
		}
	}
	c, err := rpc.DialContext(context.Background(), n.url)
	if err != nil {
		t.Fatalf("gethdev: dial %s: %v", n.url, err)
	}
	n.rpc = c
	n.eth = ethclient.NewClient(c)
	return n
}

// URL returns the HTTP JSON-RPC endpoint, http://127.0.0.1:PORT. It stays
// the same across Restart.
func (n *Node) URL() string { return n.url }

// DataDir returns geth's data directory.
func (n *Node) DataDir() string { return n.datadir }

// Client returns a client of the node's JSON-RPC endpoint. It is the same
// value for the node's whole life and keeps working across Restart (calls
// made while the node is stopped fail with a connection error).
func (n *Node) Client() *ethclient.Client { return n.eth }

// RPC returns the raw JSON-RPC client behind Client, for methods ethclient
// lacks (txpool_content, debug_setHead, eth_sendTransaction).
func (n *Node) RPC() *rpc.Client { return n.rpc }

// Running reports whether the geth process is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.done:
		return false
	default:
		return true
	}
}

// Stop sends geth SIGTERM and waits for it to exit, sending SIGKILL after the
// stop timeout. It returns an error when geth had to be killed or exited
// with an error of its own. Stopping a stopped node does nothing.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked(syscall.SIGTERM)
}

// Kill ends geth with SIGKILL, without a clean shutdown: the crash half of a
// crash-and-restart test. Geth may lose its latest block (see the package
// documentation). Killing a stopped node does nothing.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked(syscall.SIGKILL)
}

// Restart stops the node (if it runs) and starts it again on the same data
// directory and port, failing the test when either step fails.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if err := n.Stop(); err != nil {
		t.Fatalf("gethdev: restart: %v", err)
	}
	began := time.Now()
	if err := n.start(); err != nil {
		n.logTail(t, 60)
		t.Fatalf("gethdev: restart: %v", err)
	}
	t.Logf("gethdev: geth restarted at %s, answered after %v", n.url, time.Since(began).Round(time.Millisecond))
}

// SetHead rewinds the chain to block number (debug_setHead): the blocks
// above it are gone and their transactions are neither in the chain nor
// back in the pool, so their receipts become "not found" and their senders'
// nonces fall back. The next block is built on the new head. It is the
// deterministic way to have a reorganisation drop a mined transaction.
func (n *Node) SetHead(ctx context.Context, number uint64) error {
	if err := n.rpc.CallContext(ctx, nil, "debug_setHead", hexutil.EncodeUint64(number)); err != nil {
		return fmt.Errorf("gethdev: debug_setHead(%d): %w", number, err)
	}
	return nil
}

// Fund sends wei from the developer account to addr in an EIP-1559
// transaction and waits (bounded by ctx and DefaultWaitTimeout) for its
// successful receipt. Concurrent calls are serialised.
func (n *Node) Fund(ctx context.Context, addr common.Address, wei *big.Int) (*types.Receipt, error) {
	if wei == nil || wei.Sign() < 0 {
		return nil, fmt.Errorf("gethdev: fund %s: amount %v is not a non-negative number of wei", addr, wei)
	}
	n.fundMu.Lock()
	defer n.fundMu.Unlock()
	tx, err := n.SignDynamicFeeTx(ctx, DevKey(), &addr, wei, nil)
	if err != nil {
		return nil, fmt.Errorf("gethdev: fund %s: %w", addr, err)
	}
	if err := n.eth.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("gethdev: fund %s: send: %w", addr, err)
	}
	r, err := n.WaitReceipt(ctx, tx.Hash())
	if err != nil {
		return nil, fmt.Errorf("gethdev: fund %s: %w", addr, err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return r, fmt.Errorf("gethdev: fund %s: transaction %s failed in block %d", addr, tx.Hash(), r.BlockNumber)
	}
	return r, nil
}

// SignDynamicFeeTx builds an EIP-1559 transaction from key's account to to
// (nil deploys data as a contract) at the account's pending nonce, with the
// gas the node estimates, the node's suggested tip and a fee cap of twice
// the latest base fee plus the tip, and signs it. It does not send it.
func (n *Node) SignDynamicFeeTx(ctx context.Context, key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte) (*types.Transaction, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	unsigned, err := n.DynamicFeeTx(ctx, from, to, value, data)
	if err != nil {
		return nil, err
	}
	tx, err := types.SignTx(unsigned, types.LatestSignerForChainID(big.NewInt(ChainID)), key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return tx, nil
}

// DynamicFeeTx builds the unsigned EIP-1559 transaction SignDynamicFeeTx
// signs, for a caller whose key signs digests itself: sign
// types.LatestSignerForChainID(big.NewInt(ChainID)).Hash(tx) and attach the
// signature with tx.WithSignature.
func (n *Node) DynamicFeeTx(ctx context.Context, from common.Address, to *common.Address, value *big.Int, data []byte) (*types.Transaction, error) {
	if value == nil {
		value = new(big.Int)
	}
	nonce, err := n.eth.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("pending nonce of %s: %w", from, err)
	}
	head, err := n.eth.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("latest header: %w", err)
	}
	if head.BaseFee == nil {
		return nil, fmt.Errorf("block %d has no base fee: not an EIP-1559 chain", head.Number)
	}
	tip, err := n.eth.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("suggest tip: %w", err)
	}
	gas, err := n.eth.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Value: value, Data: data})
	if err != nil {
		return nil, fmt.Errorf("estimate gas: %w", err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	return types.NewTx(&types.DynamicFeeTx{
		ChainID:   big.NewInt(ChainID),
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        to,
		Value:     value,
		Data:      data,
	}), nil
}

// WaitReceipt polls for the receipt of the transaction hash until it is
// mined, ctx ends or DefaultWaitTimeout passes. It retries while the node
// answers "not found" or IsTxIndexing, and fails on any other error.
func (n *Node) WaitReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultWaitTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := n.eth.TransactionReceipt(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) && !IsTxIndexing(err) && ctx.Err() == nil {
			return nil, fmt.Errorf("receipt of %s: %w", hash, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("receipt of %s: not mined: %w", hash, ctx.Err())
		case <-tick.C:
		}
	}
}

// IsTxIndexing reports whether err is geth's answer to a transaction or
// receipt lookup while its transaction indexer has not caught up (JSON-RPC
// error -32000, "transaction indexing is in progress"), as it does for a
// moment after every start. The transaction's fate is then unknown: it may
// be mined, so the lookup must be retried, and the error must never be read
// as "not found".
func IsTxIndexing(err error) bool {
	var re rpc.Error
	return errors.As(err, &re) && re.ErrorCode() == -32000 && re.Error() == "transaction indexing is in progress"
}

var (
	errMissing   = errors.New("geth binary missing")
	errAddrInUse = errors.New("port taken")
)

// findBinary returns the geth binary to run: explicit, else $WAYBILL_GETH,
// else build/geth in the directory holding go.mod (searched upwards from the
// working directory, which go test sets to the package's directory).
func findBinary(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(BinaryEnv)
	}
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("geth binary: %w", err)
		}
		return explicit, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory", errMissing)
		}
		dir = parent
	}
	bin := filepath.Join(dir, "build", "geth")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%w: %s", errMissing, bin)
	}
	return bin, nil
}

// freePorts returns two distinct loopback TCP ports that were free a moment
// ago.
func freePorts() (int, int, error) {
	var ls [2]net.Listener
	var ports [2]int
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ls[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

// args returns geth's command line.
func (n *Node) args() []string {
	a := []string{
		"--dev",
		"--dev.period", strconv.FormatUint(n.cfg.period, 10),
		"--datadir", n.datadir,
		"--ipcdisable",
		"--nodiscover",
		"--maxpeers", "0",
		"--nat", "none",
		// Every block's state goes to the database as it is sealed, so a
		// SIGKILL loses at most the latest writes and leaves a consistent
		// chain. With geth's default path scheme, a killed dev node
		// restarts at genesis, without the genesis system contracts,
		// unable to seal a block, while still serving the lost blocks and
		// their receipts (v1.17.10).
		"--state.scheme", "hash",
		"--gcmode", "archive",
		"--http",
		"--http.addr", "127.0.0.1",
		"--http.port", strconv.Itoa(n.httpPort),
		"--http.api", "eth,net,web3,txpool,debug",
		"--authrpc.addr", "127.0.0.1",
		"--authrpc.port", strconv.Itoa(n.authPort),
	}
	if n.cfg.minTip != nil {
		a = append(a, "--miner.gasprice", n.cfg.minTip.String())
	}
	return append(a, n.cfg.args...)
}

// start runs geth and waits until its RPC answers with the dev chain id and
// the expected version, or it exits, or the start timeout passes.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("geth log: %w", err)
	}
	fmt.Fprintf(logf, "==== gethdev: %s %s\n", n.binary, strings.Join(n.args(), " "))
	cmd := exec.Command(n.binary, n.args()...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("run %s: %w", n.binary, err)
	}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	n.proc = p

	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.startTimeout)
	defer cancel()
	err = n.waitReady(ctx, p)
	if err == nil {
		return nil
	}
	if stopErr := n.stopLocked(syscall.SIGKILL); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	if bytes.Contains(n.readLog(), []byte("address already in use")) {
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
}

// waitReady polls eth_chainId until it answers, then checks the chain id
// and the client version.
func (n *Node) waitReady(ctx context.Context, p *process) error {
	c, err := rpc.DialContext(ctx, n.url)
	if err != nil {
		return fmt.Errorf("dial %s: %w", n.url, err)
	}
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var id hexBig
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.CallContext(callCtx, &id, "eth_chainId")
		cancel()
		if err == nil {
			if id.Int64() != ChainID {
				return fmt.Errorf("%s answers chain id %d, want %d", n.url, id.Int64(), ChainID)
			}
			break
		}
		select {
		case <-p.done:
			return fmt.Errorf("geth exited before answering on %s: %v", n.url, p.err)
		case <-ctx.Done():
			return fmt.Errorf("geth did not answer on %s within %v: %v", n.url, n.cfg.startTimeout, err)
		case <-tick.C:
		}
	}
	var cv string
	if err := c.CallContext(ctx, &cv, "web3_clientVersion"); err != nil {
		return fmt.Errorf("web3_clientVersion: %w", err)
	}
	// Geth/v1.17.10-stable/linux-amd64/go1.26.8
	if !strings.HasPrefix(cv, "Geth/v"+Version+"-") && !strings.HasPrefix(cv, "Geth/v"+Version+"/") {
		return fmt.Errorf("%s is %q but go.mod requires go-ethereum v%s: rm %s && make geth", n.binary, cv, Version, n.binary)
	}
	return nil
}

// hexBig decodes a JSON-RPC quantity.
type hexBig struct{ big.Int }

func (h *hexBig) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("quantity %s: %w", b, err)
	}
	if _, ok := h.SetString(strings.TrimPrefix(s, "0x"), 16); !ok || !strings.HasPrefix(s, "0x") {
		return fmt.Errorf("quantity %q is not 0x-prefixed hex", s)
	}
	return nil
}

// stopLocked signals the process and waits for it to exit, escalating to
// SIGKILL after the stop timeout. n.mu must be held.
func (n *Node) stopLocked(sig syscall.Signal) error {
	p := n.proc
	if p == nil {
		return nil
	}
	n.proc = nil
	select {
	case <-p.done:
		return exitError(p, sig)
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal geth: %w", err)
	}
	if sig == syscall.SIGKILL {
		<-p.done
		return nil
	}
	t := time.NewTimer(n.cfg.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return exitError(p, sig)
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("geth did not exit within %v of %v: killed", n.cfg.stopTimeout, sig)
	}
}

// exitError reports an exit that sig does not explain.
func exitError(p *process, sig syscall.Signal) error {
	if p.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == sig {
			return nil
		}
	}
	return fmt.Errorf("geth exited: %w", p.err)
}

// readLog returns geth's output so far.
func (n *Node) readLog() []byte {
	b, _ := os.ReadFile(n.logPath)
	return b
}

// logTail writes the last lines of geth's output to the test log.
func (n *Node) logTail(t testing.TB, lines int) {
	t.Helper()
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(n.readLog()))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	t.Logf("gethdev: last %d lines of %s:\n%s", len(all), n.logPath, strings.Join(all, "\n"))
}
