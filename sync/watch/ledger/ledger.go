package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Caller is a JSON-RPC connection to a node: go-ethereum's *rpc.Client has
// it (ethclient.Client.Client returns one; rpc.DialOptions dials EBSI's
// Ledger API with the HTTP client its TLS needs). The reader calls
// eth_chainId, eth_getBlockByNumber, eth_getLogs and, for the registry,
// eth_getCode, always with a params array (EBSI's API refuses a request
// without one), and takes block hashes as the node reports them (a Besu
// QBFT block's hash is not the hash go-ethereum would compute from its
// header).
type Caller interface {
	CallContext(ctx context.Context, result any, method string, args ...any) error
}

// Defaults of Config.
const (
	DefaultMaxRange   = 1000
	DefaultMaxBlocks  = 20 * DefaultMaxRange
	DefaultMaxTopics  = 256
	DefaultPoll       = 15 * time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Config configures a Reader. Devices is required; the zero value of every
// other field is usable.
type Config struct {
	// Devices is the allowlist: only their anchors are reported.
	Devices []watch.Device
	// Finality is the chain's finality rule; the zero value is QBFT (EBSI).
	Finality anchor.Finality
	// ChainID, if not zero, pins the chain: a node on another is refused.
	ChainID uint64
	// Start is the first block read when the cursor is before it (the
	// zero Cursor): the contract's deployment block, say.
	Start uint64
	// MaxRange is the most blocks one eth_getLogs request spans. Default
	// DefaultMaxRange.
	MaxRange uint64
	// MaxBlocks is the most blocks one Poll reads past its cursor; Run
	// polls again at once while it is behind the head. Default
	// DefaultMaxBlocks.
	MaxBlocks uint64
	// MaxTopics is the most device topics a registry query names; with
	// more devices the query asks for every Anchored event of the contract
	// and the reader keeps the allowlisted devices' ones. Default
	// DefaultMaxTopics.
	MaxTopics int
	// Poll is how often Run polls once it has caught up with the head.
	// Default DefaultPoll.
	Poll time.Duration
	// MaxBackoff is the longest Run waits after failures; the wait doubles
	// from Poll. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives the reader's events; default discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Devices) == 0 {
		return c, errors.New("ledger: Config.Devices is empty: no device's anchors would be read")
	}
	if c.MaxRange == 0 {
		c.MaxRange = DefaultMaxRange
	}
	if c.MaxBlocks == 0 {
		c.MaxBlocks = max(DefaultMaxBlocks, c.MaxRange)
	}
	if c.MaxBlocks < c.MaxRange {
		return c, fmt.Errorf("ledger: Config.MaxBlocks %d is below MaxRange %d", c.MaxBlocks, c.MaxRange)
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = DefaultMaxTopics
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.MaxBackoff < c.Poll {
		c.MaxBackoff = max(DefaultMaxBackoff, c.Poll)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// Errors of Poll, for errors.Is.
var (
	// ErrWrongChain: the node is on another chain than Config.ChainID.
	ErrWrongChain = errors.New("ledger: node is on another chain")
	// ErrReorgBeyondFinality: the block the cursor last read as final is no
	// longer in the node's chain. Anchors reported Final from it may be
	// gone: the chain's finality rule is too weak, or the node is on a
	// fork. Poll refuses to go on from that cursor.
	ErrReorgBeyondFinality = errors.New("ledger: a block read as final left the chain")
	// ErrChanged: the chain changed while Poll read it (a block it read an
	// anchor from is not the canonical one any more). Poll again.
	ErrChanged = errors.New("ledger: the chain changed while it was read")
)

// found is one anchor a decoder read from a log: whose, and what.
type found struct {
	device event.Address
	epoch  uint32
	size   uint64
	root   [32]byte
}

// decoder is what a Reader knows of one contract's anchors.
type decoder interface {
	// source names the anchors' Source.
	source() string
	// check runs once, before the first read: that the contract is the
	// one it should be.
	check(ctx context.Context, c Caller) error
	// topics returns the topic filters of the queries that together find
	// every allowlisted device's anchors.
	topics() [][][]common.Hash
	// decode returns the allowlisted devices' anchors a log holds; nil for
	// a log that holds none of theirs. An error names what claims to be an
	// allowlisted device's anchor and does not verify; it is logged, not
	// fatal, and the anchors returned with it are kept.
	decode(lg *types.Log) ([]found, error)
}

// Reader reads the anchors of the allowlisted devices from one contract on
// one chain. Poll and Run must not be called concurrently.
type Reader struct {
	c        Caller
	contract common.Address
	cfg      Config
	dec      decoder

	chainID uint64 // once known
	checked bool   // dec.check passed
	span    uint64 // blocks per eth_getLogs now: MaxRange, halved on refusals
	more    bool   // the last Poll stopped before the head
}

func newReader(c Caller, contract common.Address, cfg Config, dec decoder) (*Reader, error) {
	if c == nil {
		return nil, errors.New("ledger: no client")
	}
	if contract == (common.Address{}) {
		return nil, errors.New("ledger: the contract address is zero")
	}
	return &Reader{c: c, contract: contract, cfg: cfg, dec: dec, span: cfg.MaxRange}, nil
}

// Source returns the Source of the reader's anchors: anchor.PayloadRegistry
// or anchor.PayloadEBSI.
func (r *Reader) Source() string { return r.dec.source() }

// Poll reads the anchors of the blocks from cursor from (at least
// Config.Start) to the node's head, at most Config.MaxBlocks of them, and
// returns them in chain order with the cursor to continue from. Anchors in
// blocks not final yet are returned with Final false, and again by the
// next Poll. On error nothing is returned and from stays the cursor to
// poll from.
func (r *Reader) Poll(ctx context.Context, from Cursor) ([]watch.Anchor, Cursor, error) {
	r.more = false
	if err := r.prepare(ctx); err != nil {
		return nil, from, err
	}
	next := from.Next
	if next < r.cfg.Start {
		next, from = r.cfg.Start, Cursor{Next: r.cfg.Start}
	}
	head, _, ok, err := r.block(ctx, "latest")
	switch {
	case err != nil:
		return nil, from, fmt.Errorf("ledger: block latest: %w", err)
	case !ok:
		return nil, from, errors.New("ledger: the node has no latest block")
	}
	if next > 0 && from.Hash != (common.Hash{}) {
		if head < next-1 {
			// A node behind the others of a provider, or one that lost
			// its newest blocks: not (yet) a reorganisation.
			return nil, from, fmt.Errorf("ledger: the node's head %d is below block %d, the last read as final", head, next-1)
		}
		h, err := r.hashAt(ctx, next-1)
		if err != nil {
			return nil, from, err
		}
		if h != from.Hash {
			return nil, from, fmt.Errorf("%w: block %d was %s when read as final, the node now has %s",
				ErrReorgBeyondFinality, next-1, from.Hash, h)
		}
	}
	if next > head {
		return nil, from, nil
	}
	final, hasFinal, err := r.finalThrough(ctx, head)
	if err != nil {
		return nil, from, err
	}
	to := head
	if head-next >= r.cfg.MaxBlocks {
		to = next + r.cfg.MaxBlocks - 1
	}
	hasFinal = hasFinal && final >= next
	final = min(final, to)

	logs, marks, err := r.logs(ctx, next, to, hasFinal, final)
	if err != nil {
		return nil, from, err
	}
	// Each answer's newest final block must be the node's canonical one
	// now: a block's hash commits to its ancestors, so the answer's older
	// final blocks are then canonical too.
	checked := map[uint64]common.Hash{}
	for _, m := range marks {
		if err := r.canonical(ctx, checked, m.Number, m.Hash); err != nil {
			return nil, from, err
		}
	}
	var out []watch.Anchor
	for i := range logs {
		lg := &logs[i]
		if lg.Removed || lg.Address != r.contract || lg.BlockNumber < next || lg.BlockNumber > to {
			continue
		}
		fs, err := r.dec.decode(lg)
		if err != nil {
			r.cfg.Logger.Warn("ledger: skipped an anchor that does not verify", "source", r.dec.source(),
				"block", lg.BlockNumber, "tx", lg.TxHash, "index", lg.Index, "err", err)
		}
		if len(fs) == 0 {
			continue
		}
		isFinal := hasFinal && lg.BlockNumber <= final
		for _, f := range fs {
			out = append(out, watch.Anchor{Device: f.device, Epoch: f.epoch, Size: f.size, Root: f.root,
				ChainID: r.chainID, Block: lg.BlockNumber, Tx: lg.TxHash, Confirmations: head - lg.BlockNumber + 1,
				Final: isFinal, Source: r.dec.source()})
		}
	}
	if !hasFinal {
		return out, from, nil
	}
	h, ok := checked[final]
	if !ok {
		if h, err = r.hashAt(ctx, final); err != nil {
			return nil, from, err
		}
	}
	// Behind the head with every block read final: more to read at once.
	r.more = to < head && final == to
	return out, Cursor{Next: final + 1, Hash: h}, nil
}

// prepare learns the chain ID and checks the contract, once.
func (r *Reader) prepare(ctx context.Context) error {
	if r.chainID == 0 {
		var h hexutil.Big
		if err := r.c.CallContext(ctx, &h, "eth_chainId", noParams...); err != nil {
			return fmt.Errorf("ledger: chain ID: %w", err)
		}
		id := (*big.Int)(&h)
		if !id.IsUint64() || id.Sign() <= 0 {
			return fmt.Errorf("ledger: node reports chain ID %s", id)
		}
		if r.cfg.ChainID != 0 && id.Uint64() != r.cfg.ChainID {
			return fmt.Errorf("%w: the node reports chain %s, the configured chain is %d", ErrWrongChain, id, r.cfg.ChainID)
		}
		r.chainID = id.Uint64()
	}
	if !r.checked {
		if err := r.dec.check(ctx, r.c); err != nil {
			return err
		}
		r.checked = true
	}
	return nil
}

// canonical checks, once per block, that block n of the node's chain is
// the one with hash want.
func (r *Reader) canonical(ctx context.Context, checked map[uint64]common.Hash, n uint64, want common.Hash) error {
	got, ok := checked[n]
	if !ok {
		h, err := r.hashAt(ctx, n)
		if err != nil {
			return err
		}
		got = h
		checked[n] = got
	}
	if got != want {
		return fmt.Errorf("%w: an anchor was read from block %d %s, the node's block %d is now %s", ErrChanged, n, want, n, got)
	}
	return nil
}

// finalThrough returns the highest final block at head by the finality
// rule, and false when no block is final yet.
func (r *Reader) finalThrough(ctx context.Context, head uint64) (uint64, bool, error) {
	f := r.cfg.Finality
	if f == anchor.FinalizedTag {
		n, _, ok, err := r.block(ctx, "finalized")
		if err != nil {
			err = evmtx.BlockError("ledger", anchor.Finalized, err)
			if errors.Is(err, anchor.ErrNotFound) {
				return 0, false, nil
			}
			return 0, false, err
		}
		if !ok {
			return 0, false, nil
		}
		return min(n, head), true, nil
	}
	// The rule is monotone: every block below a final one is final.
	if !f.Final(0, head, 0) {
		return 0, false, nil
	}
	lo, hi := uint64(0), head // f.Final(lo) holds
	for lo < hi {
		mid := hi - (hi-lo)/2
		if f.Final(mid, head, 0) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, true, nil
}

// mark is a block as an answer of the node named it.
type mark struct {
	Number uint64
	Hash   common.Hash
}

// logs returns the contract's logs of the decoder's queries in blocks
// from..to, in chain order, asking in ranges of at most r.span blocks and
// halving the range when the node refuses it. With hasFinal it also
// returns, for each answer, its newest block at or below final that holds
// a log, with the hash the answer gave it.
func (r *Reader) logs(ctx context.Context, from, to uint64, hasFinal bool, final uint64) ([]types.Log, []mark, error) {
	var out []types.Log
	var marks []mark
	for _, topics := range r.dec.topics() {
		for a := from; a <= to; {
			b := min(to, a+r.span-1)
			var logs []types.Log
			err := r.c.CallContext(ctx, &logs, "eth_getLogs", map[string]any{
				"address": []common.Address{r.contract}, "topics": topics,
				"fromBlock": hexutil.EncodeUint64(a), "toBlock": hexutil.EncodeUint64(b),
			})
			if err != nil {
				if tooLarge(err) && r.span > 1 {
					r.span = max(1, (b-a+1)/2)
					r.cfg.Logger.Info("ledger: node refused a log range; halving it", "from", a, "to", b, "span", r.span, "err", err)
					continue
				}
				return nil, nil, fmt.Errorf("ledger: logs of %s in blocks %d-%d: %w", r.contract.Hex(), a, b, err)
			}
			var m mark
			for _, lg := range logs {
				if hasFinal && lg.BlockNumber <= final && lg.BlockNumber >= m.Number {
					m = mark{lg.BlockNumber, lg.BlockHash}
				}
			}
			if m.Hash != (common.Hash{}) {
				marks = append(marks, m)
			}
			out = append(out, logs...)
			if r.span < r.cfg.MaxRange {
				r.span = min(r.cfg.MaxRange, 2*r.span)
			}
			if b == to {
				break
			}
			a = b + 1
		}
	}
	slices.SortFunc(out, func(x, y types.Log) int {
		if x.BlockNumber != y.BlockNumber {
			return cmpU(x.BlockNumber, y.BlockNumber)
		}
		return cmpU(uint64(x.Index), uint64(y.Index))
	})
	// A node may repeat a log; keep each (block, index) once.
	return slices.CompactFunc(out, func(x, y types.Log) bool {
		return x.BlockHash == y.BlockHash && x.Index == y.Index
	}), marks, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// noParams makes go-ethereum's rpc.Client send "params":[] for a method
// without parameters, as EBSI's Ledger API requires, rather than leave the
// member out.
var noParams = []any{}

// rpcBlock is the part of an eth_getBlockByNumber result the reader uses.
type rpcBlock struct {
	Number *hexutil.Uint64 `json:"number"`
	Hash   *common.Hash    `json:"hash"`
}

// block returns the number and hash, as the node reports them, of the
// block at tag ("latest", "finalized" or a 0x number); ok is false when
// the node has no such block. The node's errors are returned as they are,
// for evmtx.BlockError to classify.
func (r *Reader) block(ctx context.Context, tag string) (n uint64, h common.Hash, ok bool, err error) {
	var raw json.RawMessage
	if err := r.c.CallContext(ctx, &raw, "eth_getBlockByNumber", tag, false); err != nil {
		return 0, h, false, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return 0, h, false, nil
	}
	var b rpcBlock
	if err := json.Unmarshal(raw, &b); err != nil || b.Number == nil || b.Hash == nil {
		return 0, h, false, fmt.Errorf("ledger: block %s: malformed result %s", tag, short(string(raw)))
	}
	return uint64(*b.Number), *b.Hash, true, nil
}

// hashAt returns the hash of block n of the node's chain. A node without
// block n, which it had, changed its chain under the reader.
func (r *Reader) hashAt(ctx context.Context, n uint64) (common.Hash, error) {
	got, h, ok, err := r.block(ctx, hexutil.EncodeUint64(n))
	switch {
	case err != nil:
		return h, fmt.Errorf("ledger: block %d: %w", n, err)
	case !ok:
		return h, fmt.Errorf("%w: the node has no block %d", ErrChanged, n)
	case got != n:
		return h, fmt.Errorf("ledger: asked for block %d, the node answered block %d", n, got)
	}
	return h, nil
}

// rangeRefusals are lower-case parts of the messages with which nodes and
// providers refuse an eth_getLogs range as too wide or its answer as too
// large: go-ethereum ("exceed maximum block range: 5000"), Besu ("Requested
// range exceeds maximum range limit"), Erigon, and hosted providers
// ("query returned more than 10000 results", "block range is too wide",
// "Log response size exceeded", "block range too large").
var rangeRefusals = []string{
	"block range", "maximum block range", "range limit", "range too large", "range is too large",
	"returned more than", "more than 10000", "response size", "too many", "limit exceeded",
}

// tooLarge reports whether err is a node's refusal of a log range for its
// width or its answer's size: a JSON-RPC error naming it, or HTTP 413.
func tooLarge(err error) bool {
	var he rpc.HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusRequestEntityTooLarge {
		return true
	}
	var re rpc.Error
	if !errors.As(err, &re) {
		return false
	}
	s := strings.ToLower(re.Error())
	if strings.Contains(s, "beyond current head") {
		// go-ethereum: "block range extends beyond current head block",
		// from a node whose log index lags its head (just after a
		// start): the range is not too wide, the node is behind.
		return false
	}
	for _, t := range rangeRefusals {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// Run polls from cursor from until ctx ends, which is not an error. After
// each poll that read anchors or moved the cursor it calls fn with the
// anchors and the cursor to persist once they are handled; when fn fails
// the same blocks are read again, so fn sees every anchor at least once.
// An anchor that is not final yet is handed over once per block it is
// seen in (not on every poll that reads it again), and again once final.
// Failures of the node or of fn are logged when they change and retried
// with jittered exponential backoff from Config.Poll to MaxBackoff; while
// behind the head, Run polls again at once.
func (r *Reader) Run(ctx context.Context, from Cursor, fn func(ctx context.Context, anchors []watch.Anchor, next Cursor) error) error {
	cur := from
	var backoff time.Duration
	lastErr := ""
	timer := time.NewTimer(0)
	defer timer.Stop()
	// pending holds the not-final anchors fn has handled, by key and
	// block; a block the cursor passed leaves it.
	type seen struct {
		key   watch.AnchorKey
		block uint64
	}
	pending := map[seen]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		as, next, err := r.Poll(ctx, cur)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			news := as[:0:0]
			for _, a := range as {
				if a.Final || !pending[seen{a.Key(), a.Block}] {
					news = append(news, a)
				}
			}
			if len(news) > 0 || next != cur {
				if ferr := fn(ctx, news, next); ferr != nil {
					err = fmt.Errorf("ledger: handling anchors: %w", ferr)
				} else {
					cur = next
					for _, a := range news {
						if !a.Final {
							pending[seen{a.Key(), a.Block}] = true
						}
					}
					for k := range pending {
						if k.block < cur.Next {
							delete(pending, k)
						}
					}
				}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr {
			if err != nil {
				r.cfg.Logger.Warn("ledger: poll failed", "source", r.dec.source(), "from", cur, "err", err)
			} else {
				r.cfg.Logger.Info("ledger: poll recovered", "source", r.dec.source(), "after", lastErr)
			}
			lastErr = msg
		}
		wait := r.cfg.Poll
		switch {
		case err != nil:
			backoff = min(max(2*backoff, r.cfg.Poll), r.cfg.MaxBackoff)
			wait = jitter(backoff)
		case r.more:
			backoff, wait = 0, 0
		default:
			backoff = 0
		}
		timer.Reset(wait)
	}
}

// jitter returns d less up to a fifth, at random, so that watchers that
// failed together do not retry together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
