// Package retention keeps an event log's directory within a disk budget.
//
// Payloads go first: once every consumer of the log is done with an event
// (the feed's broker acknowledged it, an anchor covering it is confirmed),
// its payload may be pruned, segment by segment, oldest first
// (eventlog.Log.Prune); its hash stays, so every root and proof still
// works. When the budget is reached and nothing more can be pruned, the
// Keeper refuses new events, low-priority kinds first, and never drops an
// acknowledged one: refusals are counted, logged, reported in Status, and
// summed up in an events_refused event once events are accepted again.
package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

// Mode is what the Keeper does when the budget is reached and nothing can
// be pruned.
type Mode string

// The modes.
const (
	// RefuseLowPriority refuses the low-priority kinds and keeps taking the
	// others until the hard limit.
	RefuseLowPriority Mode = "refuse_low_priority"
	// RefuseAll refuses every new event.
	RefuseAll Mode = "refuse_all"
)

// Policy is the retention configuration.
type Policy struct {
	// MaxBytes is the budget: the disk space every file under the log
	// directory may take, as du counts it (allocated blocks).
	MaxBytes int64
	// HardBytes is the limit beyond which every event is refused, whatever
	// its kind. Default MaxBytes + MaxBytes/8.
	HardBytes int64
	// MinFreeBytes is the free space the filesystem must keep: below it,
	// every event is refused. Default 16 MiB.
	MinFreeBytes int64
	// OnFull is the mode once the budget is reached; default RefuseLowPriority.
	OnFull Mode
	// LowPriority are the kinds refused first; default ["position"].
	LowPriority []string
	// Interval is how often usage is measured and payloads pruned when
	// nothing asks sooner; default 30 s.
	Interval time.Duration
}

// SegmentBytes is the segment size suited to a budget: small enough that
// pruning frees space in steps of at most a sixteenth of the budget, and
// from 1 MiB to eventlog's default of 256 MiB.
func SegmentBytes(budget int64) int64 {
	return min(max(budget/16, 1<<20), 256<<20)
}

// MinBudget is the smallest budget accepted: sixteen of the smallest segments.
const MinBudget = 16 << 20

func (p Policy) withDefaults() (Policy, error) {
	if p.MaxBytes < MinBudget {
		return p, fmt.Errorf("retention: a budget of %d bytes is below the minimum of %d (16 MiB)", p.MaxBytes, MinBudget)
	}
	if p.HardBytes == 0 {
		p.HardBytes = p.MaxBytes + p.MaxBytes/8
	}
	if p.HardBytes < p.MaxBytes {
		return p, fmt.Errorf("retention: the hard limit (%d bytes) is below the budget (%d bytes)", p.HardBytes, p.MaxBytes)
	}
	if p.MinFreeBytes == 0 {
		p.MinFreeBytes = 16 << 20
	}
	switch p.OnFull {
	case "":
		p.OnFull = RefuseLowPriority
	case RefuseLowPriority, RefuseAll:
	default:
		return p, fmt.Errorf("retention: unknown mode %q (want %s or %s)", p.OnFull, RefuseLowPriority, RefuseAll)
	}
	if p.LowPriority == nil {
		p.LowPriority = []string{string(event.KindPosition)}
	}
	if p.Interval <= 0 {
		p.Interval = 30 * time.Second
	}
	return p, nil
}

// Hold is a consumer of the log that must be done with an event before its
// payload may be pruned.
type Hold struct {
	Name string
	// Done returns how many leading events of the log's epoch of origin
	// the consumer is done with.
	Done func(origin string) uint64
}

// ErrRefused is wrapped by Admit's error.
var ErrRefused = errors.New("event refused: the log is at its disk budget")

// Level says which events the Keeper accepts.
type Level string

// The levels, from the least to the most refusing.
const (
	Accepting   Level = "accepting"
	RefusingLow Level = "refusing_low_priority"
	RefusingAll Level = "refusing_all"
)

// The reasons for refusing, as Status and Refusals give them.
const (
	ReasonBudget   = "budget"    // the budget is reached and nothing can be pruned
	ReasonDiskFull = "disk_full" // the hard limit or the filesystem's free-space floor is reached
)

// Status is the Keeper's state, for `waybill status`.
type Status struct {
	Level    Level            `json:"level"`
	Reason   string           `json:"reason,omitempty"` // why events are refused: budget or disk_full
	Budget   int64            `json:"budget_bytes"`
	Hard     int64            `json:"hard_limit_bytes"`
	Used     int64            `json:"used_bytes"`
	Free     int64            `json:"fs_free_bytes"`
	Retained uint64           `json:"payloads_from"`  // the first event whose payload is kept
	Prunable uint64           `json:"prunable_below"` // events below it may be pruned
	HeldBy   string           `json:"held_by,omitempty"`
	Segments int              `json:"pruned_segments"` // pruned by this process
	Events   uint64           `json:"pruned_events"`   // pruned by this process
	Freed    int64            `json:"freed_bytes"`     // by this process's pruning
	Refused  map[string]int64 `json:"refused_by_kind,omitempty"`
	Err      string           `json:"error,omitempty"` // the last measurement's or pruning's error
	Measured time.Time        `json:"measured"`
}

// Refusals sums up the events refused in one episode, for the
// events_refused event that records it in the log.
type Refusals struct {
	Reason   string
	From, To time.Time
	ByKind   map[string]int64
}

// Count is the number of events refused.
func (r Refusals) Count() int64 {
	var n int64
	for _, c := range r.ByKind {
		n += c
	}
	return n
}

// Kinds is "kind count" pairs, sorted by kind and joined by ", ".
func (r Refusals) Kinds() string {
	keys := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s %d", k, r.ByKind[k])
	}
	return strings.Join(keys, ", ")
}

// Keeper enforces a Policy on one log. Create it with New.
type Keeper struct {
	l     *eventlog.Log
	p     Policy
	holds []Hold
	log   *slog.Logger
	low   map[string]bool
	wake  chan struct{}
	now   func() time.Time

	mu       sync.Mutex
	st       Status
	since    int       // Admit calls since the last measurement
	pruneErr error     // the last prune's error: nothing counts as prunable meanwhile
	episode  *Refusals // the refusals not yet summed up in the log
	warnedAt time.Time // wall-clock time of the last warning
}

// Options configures New.
type Options struct {
	Holds  []Hold
	Logger *slog.Logger // nil: discard
	// Now is the clock of refusal times; default time.Now.
	Now func() time.Time
}

// New returns a Keeper of policy p for l. Without holds nothing is ever
// pruned: the log is then the only copy of its events.
func New(l *eventlog.Log, p Policy, o Options) (*Keeper, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	k := &Keeper{l: l, p: p, holds: o.Holds, log: o.Logger, low: map[string]bool{}, wake: make(chan struct{}, 1), now: o.Now}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if k.now == nil {
		k.now = time.Now
	}
	for _, kind := range p.LowPriority {
		k.low[kind] = true
	}
	k.st = Status{Level: Accepting, Budget: p.MaxBytes, Hard: p.HardBytes, Refused: map[string]int64{}}
	k.evaluate()
	return k, nil
}

// minStepGap is the least time between two steps that Notify asks for: a
// segment a reader holds cannot be pruned, and the next try waits a little.
const minStepGap = 200 * time.Millisecond

// Run measures and prunes every Interval, and when Notify asks, until ctx
// is done.
func (k *Keeper) Run(ctx context.Context) error {
	t := time.NewTicker(k.p.Interval)
	defer t.Stop()
	for {
		last := time.Now()
		k.Step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-k.wake:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Until(last.Add(minStepGap))):
			}
		}
	}
}

// Notify asks Run for a step soon; it never blocks.
func (k *Keeper) Notify() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Step measures the directory and, above nine tenths of the budget, prunes
// the oldest payloads that every hold is done with, until usage is
// expected back under three quarters of it.
func (k *Keeper) Step(ctx context.Context) {
	err := k.prune(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		k.log.Error("pruning failed; events will be refused at the budget", "err", err)
	}
	k.mu.Lock()
	k.pruneErr = err
	k.mu.Unlock()
	k.evaluate()
}

func (k *Keeper) prune(ctx context.Context) error {
	used, _, _, err := usage(k.l.Dir())
	if err != nil {
		return err
	}
	if used < k.p.MaxBytes/10*9 {
		return nil
	}
	below, _ := k.watermark()
	segs, err := k.l.Segments()
	if err != nil {
		return err
	}
	target, upto := used-k.p.MaxBytes/4*3, uint64(0)
	for _, s := range segs {
		if target <= 0 || s.Active || s.End > below {
			break
		}
		if !s.Pruned {
			target -= s.Bytes - s.Bytes/6 // the hashes keep about a sixth
		}
		upto = s.End
	}
	if upto == 0 {
		return nil
	}
	res, err := k.l.Prune(ctx, upto)
	k.mu.Lock()
	k.st.Segments += res.Segments
	k.st.Events += res.Events
	k.st.Freed += res.Freed
	k.mu.Unlock()
	if res.Segments > 0 {
		k.log.Info("pruned payloads of anchored and published events", "segments", res.Segments, "events", res.Events,
			"freed_bytes", res.Freed, "payloads_from", k.l.Retained())
	}
	return err
}

// watermark returns the number of leading events every hold is done with,
// and the hold that limits it.
func (k *Keeper) watermark() (uint64, string) {
	if len(k.holds) == 0 {
		return 0, "no feed or anchor configured (the log is the only copy)"
	}
	origin := k.l.Origin()
	below, by := k.l.Size(), k.holds[0].Name
	for _, h := range k.holds {
		if d := h.Done(origin); d < below {
			below, by = d, h.Name
		}
	}
	return below, by
}

// evaluate measures usage and sets the level. It runs on Step and, when
// the last measurement is old, on Admit.
func (k *Keeper) evaluate() {
	used, free, skipped, err := usage(k.l.Dir())
	if err == nil && len(skipped) > 0 {
		// Reported, not fatal: what cannot be read is not counted, and
		// the measurement of everything else stands.
		err = fmt.Errorf("retention: %d unreadable path(s) under %s not counted (first %s); give the agent's user access to them, or move them out of the log directory", len(skipped), k.l.Dir(), skipped[0])
	}
	below, by := k.watermark()
	prunable := false
	if segs, serr := k.l.Segments(); serr == nil {
		for _, s := range segs {
			prunable = prunable || !s.Pruned && !s.Active && s.End <= below
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.since = 0
	prev := k.st.Level
	k.st.Err = ""
	if err == nil || len(skipped) > 0 && free > 0 {
		k.st.Used, k.st.Free = used, free
	}
	if err = errors.Join(err, k.pruneErr); err != nil {
		k.st.Err = err.Error()
		prunable = prunable && k.pruneErr == nil
	}
	k.st.Measured = k.now()
	k.st.Retained, k.st.Prunable, k.st.HeldBy = k.l.Retained(), below, by
	k.st.Level, k.st.Reason = decide(k.p, k.st.Used, k.st.Free, prunable)
	if prunable && k.st.Used >= k.p.MaxBytes/10*9 {
		k.Notify() // Run prunes
	}
	if k.st.Level != prev {
		args := []any{"used_bytes", k.st.Used, "budget_bytes", k.p.MaxBytes, "fs_free_bytes", k.st.Free,
			"payloads_from", k.st.Retained, "prunable_below", below, "held_by", by}
		switch k.st.Level {
		case Accepting:
			k.log.Info("log back under its disk budget: accepting every event", args...)
		case RefusingLow:
			k.log.Error("LOG AT ITS DISK BUDGET and nothing can be pruned yet: refusing low-priority events",
				append(args, "low_priority", k.p.LowPriority)...)
		default:
			k.log.Error("LOG FULL: refusing every new event", append(args, "reason", k.st.Reason)...)
		}
		if k.st.Level != Accepting {
			k.Notify()
		}
	}
}

// decide is the policy's table: which events are refused at a usage.
func decide(p Policy, used, free int64, prunable bool) (Level, string) {
	switch {
	case used >= p.HardBytes || free < p.MinFreeBytes:
		return RefusingAll, ReasonDiskFull
	case used >= p.MaxBytes && !prunable && p.OnFull == RefuseAll:
		return RefusingAll, ReasonBudget
	case used >= p.MaxBytes && !prunable:
		return RefusingLow, ReasonBudget
	}
	return Accepting, ""
}

// admitMeasureEvery is how many Admit calls may pass between measurements.
const admitMeasureEvery = 64

// Admit tells whether a new event of kind may be appended. A refusal is
// counted, logged (at most once a minute, with the counts) and returned as
// an error that wraps ErrRefused.
func (k *Keeper) Admit(kind string) error {
	k.mu.Lock()
	k.since++
	stale := k.since >= admitMeasureEvery || k.now().Sub(k.st.Measured) >= time.Second
	k.mu.Unlock()
	if stale {
		k.evaluate()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	lvl := k.st.Level
	if lvl == Accepting || lvl == RefusingLow && !k.low[kind] {
		return nil
	}
	now := k.now()
	k.st.Refused[kind]++
	if k.episode == nil {
		k.episode = &Refusals{Reason: k.st.Reason, From: now, ByKind: map[string]int64{}}
	}
	k.episode.To = now
	k.episode.ByKind[kind]++
	if k.episode.Reason != ReasonDiskFull {
		k.episode.Reason = k.st.Reason
	}
	if time.Since(k.warnedAt) >= time.Minute { // the process's time: replays run fast
		k.warnedAt = time.Now()
		k.log.Warn("events refused at the disk budget", "level", lvl, "kind", kind, "refused_so_far", k.episode.Kinds(),
			"used_bytes", k.st.Used, "budget_bytes", k.p.MaxBytes, "held_by", k.st.HeldBy)
	}
	return fmt.Errorf("%w (%s, %d of %d bytes used; payloads can be pruned once %s is done with them): %s",
		ErrRefused, lvl, k.st.Used, k.p.MaxBytes, k.st.HeldBy, kind)
}

// TakeRefusals returns the refusals of the episode that has ended, once
// every event is accepted again, and forgets them; the caller records them
// in the log.
func (k *Keeper) TakeRefusals() (Refusals, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.episode == nil || k.st.Level != Accepting {
		return Refusals{}, false
	}
	r := *k.episode
	k.episode = nil
	return r, true
}

// FlushRefusals returns the refusals of the current episode, even if it
// has not ended, and forgets them: for a caller that stops while events
// are still refused and records them in the log first.
func (k *Keeper) FlushRefusals() (Refusals, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.episode == nil {
		return Refusals{}, false
	}
	r := *k.episode
	k.episode = nil
	return r, true
}

// Status returns the Keeper's state.
func (k *Keeper) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.st
	st.Refused = make(map[string]int64, len(k.st.Refused))
	for kind, n := range k.st.Refused {
		st.Refused[kind] = n
	}
	return st
}

// usage returns the disk space the files under dir take, as du counts it
// (allocated blocks), and the space free to unprivileged users on its
// filesystem. A directory below dir that cannot be read (permissions, a
// damaged file system entry) is not counted and is returned in skipped: one
// unreadable subdirectory must not stop the measurement, which would leave
// the Keeper deciding on no figures at all.
func usage(dir string) (used, free int64, skipped []string, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a pruned segment)
			}
			if p == dir {
				return err
			}
			skipped = append(skipped, p)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if fi, err := d.Info(); err == nil {
			used += eventlog.DiskBytes(fi)
		}
		return nil
	})
	if err != nil {
		return used, 0, skipped, fmt.Errorf("retention: measure %s: %w", dir, err)
	}
	var sf syscall.Statfs_t
	if err := syscall.Statfs(dir, &sf); err != nil {
		return used, 0, skipped, fmt.Errorf("retention: free space of %s: %w", dir, err)
	}
	return used, int64(sf.Bavail) * int64(sf.Bsize), skipped, nil
}
