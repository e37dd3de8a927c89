package anchor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// Log is what the anchoring loop reads from the event log.
// *eventlog.Log implements it.
type Log interface {
	// Origin is the current epoch's checkpoint origin.
	Origin() string
	// Size is the number of events in the current epoch.
	Size() uint64
	// Latest returns the latest signed checkpoint note and its body, or an
	// error if none was signed in the current epoch.
	Latest() ([]byte, checkpoint.Checkpoint, error)
	// ProveConsistency returns both roots and the RFC 9162 consistency
	// proof between two tree sizes.
	ProveConsistency(oldSize, newSize uint64) (oldRoot, newRoot merkle.Hash, proof []merkle.Hash, err error)
}

// ErrForked is wrapped by Step's error when the log's history no longer
// contains a checkpoint the loop anchored: its root at the anchored size
// differs, or it is shorter. The loop then anchors nothing more for that
// origin, since the ledger already witnesses the other history.
var ErrForked = errors.New("anchor: log contradicts an anchored checkpoint")

// Defaults of Options.
const (
	DefaultEvery      = 4096
	DefaultInterval   = time.Hour
	DefaultStuckAfter = 3 * time.Minute
	DefaultPoll       = 15 * time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// DefaultMaxFeePerGas is the default fee cap: 100 gwei.
var DefaultMaxFeePerGas = big.NewInt(100_000_000_000)

// Options configures an Anchorer. The zero value is usable; nil means zero.
type Options struct {
	// Every anchors the latest checkpoint once this many events are not
	// anchored yet. Default DefaultEvery.
	Every uint64
	// Interval anchors the latest checkpoint once this long has passed since
	// the last anchor was created (or the store, for the first), if any
	// event is not anchored yet. Default DefaultInterval.
	Interval time.Duration
	// Finality is the chain's finality rule. The zero value is QBFT: set it
	// for any chain whose blocks are not final at once.
	Finality Finality
	// MaxFeePerGas caps the fee cap of a new anchor's transaction, in the
	// ledger's smallest unit. Default DefaultMaxFeePerGas.
	MaxFeePerGas *big.Int
	// MaxTipPerGas caps the tip of every transaction. Default FeeCeiling.
	MaxTipPerGas *big.Int
	// FeeCeiling caps the fee cap of replacements of a stuck transaction;
	// at least MaxFeePerGas. Default MaxFeePerGas.
	FeeCeiling *big.Int
	// StuckAfter is how long a sent transaction may stay without a receipt
	// before it is replaced with higher fees (or, at the ceiling,
	// rebroadcast). Default DefaultStuckAfter.
	StuckAfter time.Duration
	// Poll is how often Run steps. Default DefaultPoll.
	Poll time.Duration
	// MaxBackoff is the longest Run waits between steps while the ledger
	// is unreachable; the wait doubles from Poll. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Checkpoint, if set, signs a checkpoint of the log's current tree; the
	// loop calls it when an anchor is due and the log's latest checkpoint
	// is older than its events (the daemon passes eventlog.Log.Checkpoint).
	// Without it the loop anchors the latest checkpoint the log has.
	Checkpoint func(ctx context.Context) ([]byte, checkpoint.Checkpoint, error)
	// Logger receives the loop's events; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// LockTimeout is how long Open waits for another process to release
	// the store. Default 1 s.
	LockTimeout time.Duration
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Every == 0 {
		r.Every = DefaultEvery
	}
	if r.Interval <= 0 {
		r.Interval = DefaultInterval
	}
	if r.MaxFeePerGas == nil {
		r.MaxFeePerGas = DefaultMaxFeePerGas
	}
	if r.FeeCeiling == nil {
		r.FeeCeiling = r.MaxFeePerGas
	}
	if r.MaxTipPerGas == nil {
		r.MaxTipPerGas = r.FeeCeiling
	}
	switch {
	case r.MaxFeePerGas.Sign() < 0:
		return r, fmt.Errorf("anchor: MaxFeePerGas %s is negative", r.MaxFeePerGas)
	case r.MaxTipPerGas.Sign() < 0:
		return r, fmt.Errorf("anchor: MaxTipPerGas %s is negative", r.MaxTipPerGas)
	case r.FeeCeiling.Cmp(r.MaxFeePerGas) < 0:
		return r, fmt.Errorf("anchor: FeeCeiling %s is below MaxFeePerGas %s", r.FeeCeiling, r.MaxFeePerGas)
	}
	if r.StuckAfter <= 0 {
		r.StuckAfter = DefaultStuckAfter
	}
	if r.Poll <= 0 {
		r.Poll = DefaultPoll
	}
	if r.MaxBackoff < r.Poll {
		r.MaxBackoff = max(DefaultMaxBackoff, r.Poll)
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.LockTimeout <= 0 {
		r.LockTimeout = time.Second
	}
	return r, nil
}

// Status is what the anchoring loop reports.
type Status struct {
	// Created is when the store was created.
	Created time.Time
	// NextNonce is the nonce the next new anchor will use (before the
	// node's pending nonce is consulted).
	NextNonce uint64
	// Confirmed and Failed count the anchors in those states.
	Confirmed int
	Failed    int
	// Last is the newest confirmed anchor, or nil.
	Last *Anchor
	// InFlight is the anchor being sent or awaiting finality, or nil.
	InFlight *Anchor
	// Queued is the checkpoint waiting for the ledger, or nil.
	Queued *Queued

	// Damaged says why the store found at start could not be used and
	// where it was moved aside ("" if it could be used).
	Damaged string `json:",omitempty"`

	// The following are live, as of the last step; zero from ReadStore.

	// Origin and LogSize are the log's current origin and size.
	Origin  string
	LogSize uint64
	// Unanchored is the number of the origin's events no confirmed anchor
	// covers.
	Unanchored uint64
	// Reachable tells whether the ledger answered; Head is its head block.
	Reachable bool
	Head      uint64
	// Err is the last step's error ("" if it succeeded) and ErrAt its time.
	Err   string
	ErrAt time.Time
}

// confirmedRef is the newest confirmed anchor's checkpoint of an origin.
type confirmedRef struct {
	size uint64
	root merkle.Hash
}

// Anchorer is the anchoring loop: it decides when to anchor the log's
// latest checkpoint and carries each anchor's transaction from signing to
// finality, durably. Run drives it; Status and Anchors may be called at any
// time from any goroutine.
type Anchorer struct {
	// Constant after Open.
	log  Log
	be   Backend
	opts Options
	st   *store
	wake chan struct{}
	// damaged is Status.Damaged: the store found at Open was moved aside.
	damaged string

	stepMu sync.Mutex // serializes Step and Close
	unsure bool       // guarded by stepMu: the last findReceipt met ErrNotIndexed

	// mu guards the following.
	mu        sync.Mutex
	created   time.Time
	next      uint64
	nextID    uint64
	inflight  *Anchor                 // the one anchor in signed, sent or mined state, or nil
	newest    map[string]*Anchor      // newest anchor of each origin, any state
	confirmed map[string]confirmedRef // newest confirmed checkpoint of each origin
	last      *Anchor                 // newest confirmed anchor
	lastAt    time.Time               // when the newest anchor was created
	nConf     int
	nFailed   int
	queued    *Queued
	forked    map[string]error
	closed    bool
	live      Status // live fields only
}

// Open opens (creating if needed) the anchor store at path, a bbolt file of
// its own (for example DIR/anchor.db beside the log), and returns the loop
// over lg and be. It does not contact the ledger.
func Open(path string, lg Log, be Backend, o *Options) (*Anchorer, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	st, p, err := openChecked(path, false, opts.LockTimeout, opts.Now())
	var damaged string
	if errors.Is(err, ErrDamaged) {
		// A damaged store must not keep the agent from running (a restart
		// loop): it is moved aside, never deleted, and a new one started.
		// The node's pending nonce is the truth for the next anchor; an
		// anchor in flight in the old store is not resent, and retention
		// waits for the first anchor the new store confirms.
		to, merr := moveAside(path, opts.Now())
		if merr != nil {
			return nil, fmt.Errorf("%w; it cannot be moved aside (%v): move or delete %s to start a new store", err, merr, path)
		}
		damaged = fmt.Sprintf("%v; moved aside to %s; a new store was started", err, to)
		opts.Logger.Error("ANCHOR STORE DAMAGED: moved aside; a new store was started", "file", path, "moved_to", to, "err", err)
		st, p, err = openChecked(path, false, opts.LockTimeout, opts.Now())
	}
	if err != nil {
		return nil, err
	}
	a := &Anchorer{damaged: damaged,
		log: lg, be: be, opts: opts, st: st, wake: make(chan struct{}, 1),
		created: p.created, next: p.next, nextID: 1, queued: p.queued,
		newest: map[string]*Anchor{}, confirmed: map[string]confirmedRef{}, forked: map[string]error{},
	}
	for _, an := range p.anchors {
		a.nextID = an.ID + 1
		a.newest[an.Origin] = an
		a.lastAt = an.Created
		switch {
		case an.State == StateConfirmed:
			a.confirmed[an.Origin] = confirmedRef{an.Size, an.Root}
			a.last = an
			a.nConf++
		case an.State == StateFailed:
			a.nFailed++
		case a.inflight != nil:
			st.close()
			return nil, fmt.Errorf("anchor: store %s: anchors %d and %d are both in flight", path, a.inflight.ID, an.ID)
		default:
			a.inflight = an
		}
	}
	if a.inflight != nil {
		opts.Logger.Info("resuming anchor", "id", a.inflight.ID, "state", a.inflight.State,
			"size", a.inflight.Size, "nonce", a.inflight.Nonce, "tx", a.inflight.Attempts[a.inflight.Current].Hash)
	}
	return a, nil
}

// Close closes the store. It waits for a running Step; call it after Run
// has returned. It is idempotent.
func (a *Anchorer) Close() error {
	a.stepMu.Lock()
	defer a.stepMu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	return a.st.close()
}

// Notify tells the loop that the log grew; it never blocks. Run then steps
// at once if the event count alone makes an anchor due. The daemon calls
// it from its OnEvent callback.
func (a *Anchorer) Notify() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run steps the loop every Poll, and when Notify says enough events wait,
// until ctx is cancelled, which is not an error. While the ledger is
// unreachable the wait doubles up to MaxBackoff. Step errors are logged
// when they change, not on every step.
func (a *Anchorer) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var backoff time.Duration
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
			if !a.eventsDue() {
				continue
			}
		case <-timer.C:
		}
		err := a.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr {
			if err != nil {
				a.opts.Logger.Warn("anchoring step failed", "err", err)
			} else {
				a.opts.Logger.Info("anchoring recovered", "after", lastErr)
			}
			lastErr = msg
		}
		wait := a.opts.Poll
		if a.Status().Reachable {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, a.opts.Poll), a.opts.MaxBackoff)
			wait = backoff
		}
		timer.Reset(wait)
	}
}

// eventsDue reports whether the event count alone makes an anchor due.
func (a *Anchorer) eventsDue() bool {
	origin, size := a.log.Origin(), a.log.Size()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight != nil {
		return false
	}
	base, _ := a.policyBaseLocked(origin)
	return size > base && size-base >= a.opts.Every
}

// Status returns the loop's status.
func (a *Anchorer) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.live
	st.Created = a.created
	st.Damaged = a.damaged
	st.NextNonce = a.next
	st.Confirmed, st.Failed = a.nConf, a.nFailed
	st.Last = a.last.Clone()
	st.InFlight = a.inflight.Clone()
	if a.queued != nil {
		q := *a.queued
		st.Queued = &q
	}
	st.Unanchored = st.LogSize
	if c, ok := a.confirmed[st.Origin]; ok && c.size <= st.LogSize {
		st.Unanchored = st.LogSize - c.size
	}
	return st
}

// Anchored returns the tree size of origin's newest confirmed anchor: the
// number of the origin's leading events that anchoring is done with (0 if
// none is confirmed).
func (a *Anchorer) Anchored(origin string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.confirmed[origin].size
}

// Anchors returns every anchor in the store, oldest first: confirmed ones
// with their full evidence, failed ones, and the one in flight.
func (a *Anchorer) Anchors() ([]Anchor, error) {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return nil, errors.New("anchor: store is closed")
	}
	p, err := a.st.load()
	if err != nil {
		return nil, err
	}
	out := make([]Anchor, len(p.anchors))
	for i, an := range p.anchors {
		out[i] = *an
	}
	return out, nil
}

// policyBaseLocked returns what the policy counts from for origin: the
// tree size of the newest anchor in any state (or of the queued checkpoint
// while the ledger is away) and when that anchor (of any origin) was
// created or the checkpoint queued.
func (a *Anchorer) policyBaseLocked(origin string) (uint64, time.Time) {
	var size uint64
	if an := a.newest[origin]; an != nil {
		size = an.Size
	}
	at := a.created
	if !a.lastAt.IsZero() {
		at = a.lastAt
	}
	if q := a.queued; q != nil && q.Origin == origin && q.Size >= size {
		size, at = q.Size, q.Updated
	}
	return size, at
}

// coveredLocked returns the tree size of origin that an anchor covers or is
// about to: the newest anchor's unless it failed, then the newest confirmed.
func (a *Anchorer) coveredLocked(origin string) uint64 {
	an := a.newest[origin]
	if an == nil {
		return 0
	}
	if an.State == StateFailed {
		return a.confirmed[origin].size
	}
	return an.Size
}

// dueLocked applies the policy: some event is not covered, and N events
// arrived since the newest anchor or T passed since it.
func (a *Anchorer) dueLocked(now time.Time, origin string, size uint64) bool {
	if size <= a.coveredLocked(origin) {
		return false
	}
	base, at := a.policyBaseLocked(origin)
	return (size > base && size-base >= a.opts.Every) || !now.Before(at.Add(a.opts.Interval))
}

// Step runs the loop once: it probes the ledger; carries the anchor in
// flight one step further (send, replace when stuck, record the receipt,
// re-check its block, confirm at finality, resend after a reorg); and, with
// none in flight, starts a new anchor of the newest checkpoint when the
// policy says so (or queues that checkpoint while the ledger is away). Run
// calls it; tests call it directly. Every state change is committed to the
// store before the next ledger call.
func (a *Anchorer) Step(ctx context.Context) error {
	a.stepMu.Lock()
	defer a.stepMu.Unlock()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("anchor: closed")
	}
	a.mu.Unlock()
	err := a.step(ctx)
	a.mu.Lock()
	if err != nil {
		a.live.Err, a.live.ErrAt = err.Error(), a.opts.Now()
	} else {
		a.live.Err, a.live.ErrAt = "", time.Time{}
	}
	a.mu.Unlock()
	return err
}

func (a *Anchorer) step(ctx context.Context) error {
	now := a.opts.Now()
	origin, size := a.log.Origin(), a.log.Size()
	a.mu.Lock()
	a.live.Origin, a.live.LogSize = origin, size
	a.mu.Unlock()

	head, err := a.be.Block(ctx, Latest)
	a.mu.Lock()
	a.live.Reachable = err == nil
	if err == nil {
		a.live.Head = head.Number
	}
	inflight, due := a.inflight, a.dueLocked(now, origin, size)
	a.mu.Unlock()
	if err != nil {
		if inflight == nil && due {
			if qerr := a.queue(ctx, now, origin, size); qerr != nil {
				return errors.Join(fmt.Errorf("anchor: ledger unreachable: %w", err), qerr)
			}
		}
		return fmt.Errorf("anchor: ledger unreachable: %w", err)
	}
	if inflight != nil {
		if err := a.advance(ctx, now, head, inflight); err != nil {
			return err
		}
		a.mu.Lock()
		inflight, due = a.inflight, a.dueLocked(now, origin, size)
		a.mu.Unlock()
		if inflight != nil {
			return nil
		}
	}
	a.mu.Lock()
	queued, forked := a.queued, a.forked[origin]
	a.mu.Unlock()
	if forked != nil {
		return forked
	}
	if !due && queued == nil {
		return nil
	}
	return a.start(ctx, now, origin, size)
}

// freshCheckpoint returns the newest checkpoint: the log's latest, or a new
// one from Options.Checkpoint when the latest is older than the log.
func (a *Anchorer) freshCheckpoint(ctx context.Context, size uint64) ([]byte, checkpoint.Checkpoint, error) {
	note, c, err := a.log.Latest()
	if (err != nil || c.Size < size) && a.opts.Checkpoint != nil {
		note, c, err = a.opts.Checkpoint(ctx)
		if err != nil {
			return nil, c, fmt.Errorf("anchor: sign checkpoint: %w", err)
		}
	}
	if err != nil {
		return nil, c, fmt.Errorf("anchor: latest checkpoint: %w", err)
	}
	return note, c, nil
}

// queue records the newest checkpoint as waiting for the ledger.
func (a *Anchorer) queue(ctx context.Context, now time.Time, origin string, size uint64) error {
	note, c, err := a.freshCheckpoint(ctx, size)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.queued
	base := a.coveredLocked(c.Origin)
	if old != nil && old.Origin == c.Origin {
		base = max(base, old.Size)
	}
	a.mu.Unlock()
	if c.Origin != origin || c.Size <= base {
		return nil
	}
	q := &Queued{Origin: c.Origin, Size: c.Size, Root: c.Root, Note: note, Since: now, Updated: now}
	if old != nil {
		q.Since, q.Superseded = old.Since, old.Superseded+1
	}
	if err := a.st.apply(update{setQueued: true, queued: q}); err != nil {
		return err
	}
	a.mu.Lock()
	a.queued = q
	a.mu.Unlock()
	a.opts.Logger.Info("ledger unreachable: checkpoint queued", "origin", c.Origin, "size", c.Size,
		"waiting_since", q.Since, "superseded", q.Superseded)
	return nil
}

// start signs, stores and sends a new anchor of the newest checkpoint.
func (a *Anchorer) start(ctx context.Context, now time.Time, origin string, size uint64) error {
	note, c, err := a.freshCheckpoint(ctx, size)
	if err != nil {
		return err
	}
	if c.Origin != origin {
		return fmt.Errorf("anchor: checkpoint is for origin %q, the log's is %q", c.Origin, origin)
	}
	a.mu.Lock()
	anchored := a.coveredLocked(origin)
	prev, hasPrev := a.confirmed[origin]
	next := a.next
	a.mu.Unlock()
	if c.Size <= anchored {
		// The newest checkpoint is anchored already; the newer events wait
		// for the daemon to sign one (there is no Options.Checkpoint).
		return a.clearQueue()
	}
	req := Request{Note: note, Checkpoint: c}
	if hasPrev {
		if err := a.consistent(origin, prev, c, &req); err != nil {
			return err
		}
	}

	pending, err := a.be.PendingNonce(ctx)
	if err != nil {
		return fmt.Errorf("anchor: pending nonce: %w", err)
	}
	nonce := next
	if pending != next {
		// With nothing in flight the node's count is the truth: above ours,
		// the account sent elsewhere; below, the chain was reset. Using ours
		// would leave a gap or collide.
		a.opts.Logger.Warn("nonce reconciled with the node", "stored", next, "node_pending", pending)
		nonce = pending
	}
	sugg, err := a.be.SuggestFees(ctx)
	if err != nil {
		return fmt.Errorf("anchor: suggest fees: %w", err)
	}
	fees := initialFees(sugg, a.opts.MaxFeePerGas, a.opts.MaxTipPerGas)
	tx, err := a.be.Build(ctx, req, nonce, fees)
	if err != nil {
		return fmt.Errorf("anchor: build transaction: %w", err)
	}
	if tx.Nonce != nonce {
		return fmt.Errorf("anchor: backend built a transaction with nonce %d, asked for %d", tx.Nonce, nonce)
	}
	a.mu.Lock()
	an := &Anchor{
		ID: a.nextID, State: StateSigned, Origin: c.Origin, Size: c.Size, Root: c.Root, Note: note,
		Consistency: req.Consistency, Nonce: nonce, Included: -1, Created: now,
		Attempts: []Attempt{attemptOf(tx, now)},
	}
	a.mu.Unlock()
	if req.Prev != nil {
		an.PrevSize, an.PrevRoot = req.Prev.Size, req.Prev.Root
	}
	newNext := nonce + 1
	// The signed transaction is durable before any node sees it: a crash
	// from here on resends these very bytes, never signs another.
	if err := a.st.apply(update{anchor: an, next: &newNext, setQueued: true}); err != nil {
		return err
	}
	a.mu.Lock()
	a.nextID++
	a.next = newNext
	a.queued = nil
	a.inflight = an
	a.newest[an.Origin] = an
	a.lastAt = now
	a.mu.Unlock()
	a.opts.Logger.Info("anchor signed", "id", an.ID, "origin", an.Origin, "size", an.Size,
		"events", an.Size-an.PrevSize, "nonce", nonce, "tx", tx.Hash, "tip", fees.Tip, "fee_cap", fees.Cap)
	return a.send(ctx, now, an)
}

// clearQueue drops a queued checkpoint that an anchor already covers.
func (a *Anchorer) clearQueue() error {
	a.mu.Lock()
	q := a.queued
	a.mu.Unlock()
	if q == nil {
		return nil
	}
	if err := a.st.apply(update{setQueued: true}); err != nil {
		return err
	}
	a.mu.Lock()
	a.queued = nil
	a.mu.Unlock()
	return nil
}

// consistent fills req's previous checkpoint and consistency proof, after
// checking that the log still holds the anchored history.
func (a *Anchorer) consistent(origin string, prev confirmedRef, c checkpoint.Checkpoint, req *Request) error {
	forked := func(format string, args ...any) error {
		err := fmt.Errorf("%w: origin %q: %s", ErrForked, origin, fmt.Sprintf(format, args...))
		a.mu.Lock()
		a.forked[origin] = err
		a.mu.Unlock()
		a.opts.Logger.Error("ALARM: refusing to anchor", "err", err)
		return err
	}
	if c.Size < prev.size {
		return forked("checkpoint size %d is below the anchored size %d", c.Size, prev.size)
	}
	oldRoot, newRoot, proof, err := a.log.ProveConsistency(prev.size, c.Size)
	if err != nil {
		return fmt.Errorf("anchor: consistency proof %d→%d: %w", prev.size, c.Size, err)
	}
	if oldRoot != prev.root {
		return forked("the log's root at size %d is %s, the anchored root is %s", prev.size, oldRoot, merkle.Hash(prev.root))
	}
	if newRoot != c.Root {
		return forked("the log's root at size %d is %s, the checkpoint's is %s", c.Size, newRoot, merkle.Hash(c.Root))
	}
	req.Prev = &checkpoint.Checkpoint{Origin: origin, Size: prev.size, Root: prev.root}
	req.Consistency = proof
	return nil
}

func attemptOf(tx Tx, now time.Time) Attempt {
	return Attempt{
		Hash: tx.Hash, Raw: tx.Raw, Ledger: tx.Ledger, Nonce: tx.Nonce, Gas: tx.Gas, Signed: now,
		Payload: tx.Payload, To: tx.To, Endpoint: tx.Endpoint,
		Fees: Fees{Tip: new(big.Int).Set(bigOr0(tx.Fees.Tip)), Cap: new(big.Int).Set(bigOr0(tx.Fees.Cap))},
	}
}

// save commits an anchor's new state (a copy, so readers never see a half
// update) and publishes it.
func (a *Anchorer) save(an *Anchor, next *uint64) error {
	if err := a.st.apply(update{anchor: an, next: next}); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if next != nil {
		a.next = *next
	}
	a.newest[an.Origin] = an
	switch an.State {
	case StateConfirmed:
		a.inflight = nil
		a.confirmed[an.Origin] = confirmedRef{an.Size, an.Root}
		a.last = an
		a.nConf++
	case StateFailed:
		a.inflight = nil
		a.nFailed++
	default:
		a.inflight = an
	}
	return nil
}

// send submits the current attempt and records the node's answer.
func (a *Anchorer) send(ctx context.Context, now time.Time, cur *Anchor) error {
	an := cur.Clone()
	at := &an.Attempts[an.Current]
	err := a.be.Send(ctx, at.Raw)
	switch {
	case err == nil || errors.Is(err, ErrKnown):
		at.Sent, at.Error = now, ""
		an.State = StateSent
		a.opts.Logger.Info("anchor sent", "id", an.ID, "tx", at.Hash, "nonce", at.Nonce)
	case errors.Is(err, ErrNonceUsed):
		// Either one of our transactions was included (its receipt shows
		// up on a later step) or another took the nonce (resign after
		// StuckAfter without a receipt).
		at.Error = err.Error()
		an.State = StateSent
		if an.NonceUsedAt.IsZero() {
			an.NonceUsedAt = now
		}
	case errors.Is(err, ErrUnderpriced):
		at.Error = err.Error()
		an.State = StateSent
		a.opts.Logger.Warn("anchor transaction refused for its fees", "id", an.ID, "tx", at.Hash, "err", err)
	default:
		return fmt.Errorf("anchor: send %s: %w", at.Hash, err)
	}
	return a.save(an, nil)
}

// findReceipt looks for a receipt of any of the anchor's transactions,
// newest first; it returns index -1 when there is none. It records in
// a.unsure whether a "not found" may be wrong (ErrNotIndexed).
func (a *Anchorer) findReceipt(ctx context.Context, an *Anchor) (Receipt, int, error) {
	a.unsure = false
	for i := len(an.Attempts) - 1; i >= 0; i-- {
		r, err := a.be.Receipt(ctx, an.Attempts[i].Hash)
		if errors.Is(err, ErrNotFound) {
			if errors.Is(err, ErrNotIndexed) {
				a.unsure = true
			}
			continue
		}
		if err != nil {
			return Receipt{}, -1, fmt.Errorf("anchor: receipt of %s: %w", an.Attempts[i].Hash, err)
		}
		if r.TxHash != an.Attempts[i].Hash {
			return Receipt{}, -1, fmt.Errorf("anchor: ledger returned the receipt of %s for %s", r.TxHash, an.Attempts[i].Hash)
		}
		if r.BlockNumber > maxSafeInt {
			return Receipt{}, -1, fmt.Errorf("anchor: receipt of %s names block %d, beyond 2^53-1", r.TxHash, r.BlockNumber)
		}
		return r, i, nil
	}
	return Receipt{}, -1, nil
}

func setMined(an *Anchor, i int, r Receipt) {
	an.State = StateMined
	an.Included, an.Current = i, i
	an.Nonce = an.Attempts[i].Nonce
	an.BlockNumber, an.BlockHash = r.BlockNumber, r.BlockHash
	an.Receipt = append(json.RawMessage(nil), r.JSON...)
	an.GasUsed, an.Reverted = r.GasUsed, !r.Success
	an.NonceUsedAt = time.Time{}
}

// advance carries the anchor in flight one step further.
func (a *Anchorer) advance(ctx context.Context, now time.Time, head Block, cur *Anchor) error {
	if cur.State != StateMined {
		r, i, err := a.findReceipt(ctx, cur)
		if err != nil {
			return err
		}
		if i < 0 {
			if cur.State == StateSigned {
				return a.send(ctx, now, cur)
			}
			return a.unstick(ctx, now, cur)
		}
		an := cur.Clone()
		setMined(an, i, r)
		if err := a.save(an, nil); err != nil {
			return err
		}
		a.opts.Logger.Info("anchor mined", "id", an.ID, "tx", an.Attempts[i].Hash, "block", an.BlockNumber,
			"block_hash", an.BlockHash, "gas_used", an.GasUsed)
		cur = an
	}
	return a.checkMined(ctx, now, head, cur)
}

// checkMined re-checks the including block by hash and confirms the anchor
// once the block is final; after a reorg it records the new inclusion or
// sends the transaction again.
func (a *Anchorer) checkMined(ctx context.Context, now time.Time, head Block, cur *Anchor) error {
	b, err := a.be.Block(ctx, Number(cur.BlockNumber))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("anchor: block %d: %w", cur.BlockNumber, err)
	}
	if err != nil || b.Hash != cur.BlockHash {
		r, i, rerr := a.findReceipt(ctx, cur)
		if rerr != nil {
			return rerr
		}
		an := cur.Clone()
		an.Reorgs++
		if i >= 0 && r.BlockHash != cur.BlockHash {
			setMined(an, i, r)
			a.opts.Logger.Warn("reorg: anchor transaction now in another block", "id", an.ID,
				"tx", an.Attempts[i].Hash, "old_block_hash", cur.BlockHash, "block", an.BlockNumber, "block_hash", an.BlockHash)
			return a.save(an, nil)
		}
		if i >= 0 {
			// The receipt still names the old block: the node has not
			// caught up with itself. Look again next step.
			return nil
		}
		a.opts.Logger.Warn("reorg dropped the anchor transaction; sending it again", "id", an.ID,
			"tx", an.Attempts[an.Included].Hash, "block", cur.BlockNumber, "block_hash", cur.BlockHash)
		an.State = StateSigned
		an.Current = an.Included
		an.Included = -1
		an.BlockNumber, an.BlockHash, an.Receipt, an.GasUsed, an.Reverted = 0, Hash{}, nil, 0, false
		if err := a.save(an, nil); err != nil {
			return err
		}
		return a.send(ctx, now, an)
	}
	var finalized uint64
	if a.opts.Finality.kind == finalityTag {
		fb, err := a.be.Block(ctx, Finalized)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return fmt.Errorf("anchor: finalized block: %w", err)
		default:
			finalized = fb.Number
		}
	}
	if !a.opts.Finality.final(cur.BlockNumber, head.Number, finalized) {
		return nil
	}
	an := cur.Clone()
	an.Confirmed = now
	if an.Reverted {
		an.State = StateFailed
		a.opts.Logger.Error("anchor transaction reverted: checkpoint not anchored", "id", an.ID,
			"tx", an.Attempts[an.Included].Hash, "block", an.BlockNumber, "size", an.Size)
	} else {
		an.State = StateConfirmed
		a.opts.Logger.Info("anchor confirmed", "id", an.ID, "origin", an.Origin, "size", an.Size,
			"tx", an.Attempts[an.Included].Hash, "block", an.BlockNumber, "block_hash", an.BlockHash,
			"finality", a.opts.Finality.String())
	}
	return a.save(an, nil)
}

// unstick handles a sent transaction without a receipt: after StuckAfter it
// is replaced with the same nonce and fees raised by at least PriceBump
// percent, or rebroadcast when the ceiling leaves no room; after a node said
// its nonce was taken and StuckAfter passed with no receipt, the anchor is
// signed again with a new nonce.
func (a *Anchorer) unstick(ctx context.Context, now time.Time, cur *Anchor) error {
	at := cur.Attempts[cur.Current]
	if !cur.NonceUsedAt.IsZero() {
		if now.Sub(cur.NonceUsedAt) < a.opts.StuckAfter {
			return nil
		}
		if a.unsure {
			// One of our transactions may be included: signing for a new
			// nonce could anchor twice. Wait for the node's index.
			return fmt.Errorf("anchor: nonce %d is taken and the node's transaction index is incomplete: waiting", cur.Nonce)
		}
		return a.resign(ctx, now, cur)
	}
	since := at.Signed
	if at.Sent.After(since) {
		since = at.Sent
	}
	if now.Sub(since) < a.opts.StuckAfter {
		return nil
	}
	sugg, err := a.be.SuggestFees(ctx)
	if err != nil {
		return fmt.Errorf("anchor: suggest fees: %w", err)
	}
	fees, ok := replacementFees(at.Fees, sugg, a.opts.FeeCeiling, a.opts.MaxTipPerGas)
	if !ok {
		a.opts.Logger.Warn("anchor transaction unmined and its fees cannot rise: rebroadcasting", "id", cur.ID,
			"tx", at.Hash, "tip", at.Fees.Tip, "fee_cap", at.Fees.Cap, "ceiling", a.opts.FeeCeiling)
		return a.send(ctx, now, cur)
	}
	tx, err := a.be.Build(ctx, cur.request(), cur.Nonce, fees)
	if err != nil {
		return fmt.Errorf("anchor: build replacement: %w", err)
	}
	if tx.Nonce != cur.Nonce {
		return fmt.Errorf("anchor: backend built a replacement with nonce %d, asked for %d", tx.Nonce, cur.Nonce)
	}
	an := cur.Clone()
	an.Attempts = append(an.Attempts, attemptOf(tx, now))
	an.Current = len(an.Attempts) - 1
	an.State = StateSigned
	if err := a.save(an, nil); err != nil {
		return err
	}
	a.opts.Logger.Info("anchor transaction stuck: replaced", "id", an.ID, "nonce", an.Nonce,
		"old_tx", at.Hash, "tx", tx.Hash, "tip", fees.Tip, "fee_cap", fees.Cap)
	return a.send(ctx, now, an)
}

// resign signs the anchor again with the node's pending nonce, after its
// own nonce was taken by a transaction that is none of its attempts.
func (a *Anchorer) resign(ctx context.Context, now time.Time, cur *Anchor) error {
	pending, err := a.be.PendingNonce(ctx)
	if err != nil {
		return fmt.Errorf("anchor: pending nonce: %w", err)
	}
	sugg, err := a.be.SuggestFees(ctx)
	if err != nil {
		return fmt.Errorf("anchor: suggest fees: %w", err)
	}
	fees := initialFees(sugg, a.opts.MaxFeePerGas, a.opts.MaxTipPerGas)
	tx, err := a.be.Build(ctx, cur.request(), pending, fees)
	if err != nil {
		return fmt.Errorf("anchor: build transaction: %w", err)
	}
	if tx.Nonce != pending {
		return fmt.Errorf("anchor: backend built a transaction with nonce %d, asked for %d", tx.Nonce, pending)
	}
	an := cur.Clone()
	an.Attempts = append(an.Attempts, attemptOf(tx, now))
	an.Current = len(an.Attempts) - 1
	an.Nonce = pending
	an.NonceUsedAt = time.Time{}
	an.State = StateSigned
	next := pending + 1
	if err := a.save(an, &next); err != nil {
		return err
	}
	a.opts.Logger.Warn("anchor nonce taken by another transaction: signed again", "id", an.ID,
		"old_nonce", cur.Nonce, "nonce", pending, "tx", tx.Hash)
	return a.send(ctx, now, an)
}
