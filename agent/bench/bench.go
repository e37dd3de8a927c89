// Package bench measures what bounds the agent on the machine it runs on:
// the rate at which one core signs events, the rate at which it appends
// them signed and durable to an event log, the latency of an inclusion
// proof and the time to open a full log, and the process's peak memory.
// `waybill bench` runs it and prints its [Result].
//
// The two rates are measured with the process pinned to one core
// (agent/onecore), as on a single-core device, in [Rounds] paired rounds so
// that both see the same machine. The rest runs on every core.
//
// Run changes process-wide state while it measures (the CPU affinity of
// every thread and GOMAXPROCS, restored before it fills the log): run one
// at a time, in a process doing nothing else that matters.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/onecore"
	"github.com/waybill-eu/waybill/agent/signer"
)

const (
	// Rounds is how many paired rounds Run measures the two rates in.
	Rounds = 5
	// MinEvents is the fewest events Options.Events may ask for.
	MinEvents = 1000
	// MinRound is the shortest Options.Round.
	MinRound = 10 * time.Millisecond

	// producers and inflight are the append rounds' offered load: enough
	// events in flight to keep the signer busy while a commit syncs.
	producers = 8
	inflight  = 128
	// proofs is how many inclusion proofs the proof latency is the mean of.
	proofs = 2000
)

// Options says what Run measures and where.
type Options struct {
	// Dir is the directory of the benchmark's log. Empty means a new
	// temporary directory, removed when Run returns.
	Dir string
	// Events is how many events the log holds for the proof and open
	// measurements, at least MinEvents. The rounds' appends count towards
	// it: when they alone exceed it, the log holds those.
	Events uint64
	// Round is the length of each paired round, at least MinRound.
	Round time.Duration
	// OnRound, if not nil, is called after each paired round.
	OnRound func(Round)
	// OnFill, if not nil, is called while the log fills: about once a
	// second, and when it holds Events. It is not called when the rounds
	// alone filled the log.
	OnFill func(Fill)
}

// Round is what one paired round measured, on one core.
type Round struct {
	N             int     // the round, from 1 to Rounds
	SignsPerSec   float64 // EIP-712 digests and secp256k1 signatures a second
	AppendsPerSec float64 // events appended signed and durable a second
}

// Fill is how far the log's fill has come.
type Fill struct {
	Done, Total uint64        // events in the log, of the Total asked for
	Elapsed     time.Duration // since the fill began
}

// Result is what Run measured. Its JSON form is what `waybill bench
// --json` prints (firmware-docs/CLI.md §12). Rates and memory are rounded
// to 0.1, the ratio and times to 0.001.
type Result struct {
	// AppendsPerSec is the median of the rounds' append rates.
	AppendsPerSec float64 `json:"appends_per_sec"`
	// SignsPerSec is the median of the rounds' signing rates.
	SignsPerSec float64 `json:"signs_per_sec"`
	// Ratio is the median of the rounds' AppendsPerSec/SignsPerSec: each
	// round's two rates saw the same machine, so this is less noisy than
	// the ratio of the medians.
	Ratio float64 `json:"ratio"`
	// ProofMS is the mean time to make an inclusion proof in the filled
	// log, in milliseconds.
	ProofMS float64 `json:"proof_ms"`
	// OpenMS is the time to open the filled log, in milliseconds.
	OpenMS float64 `json:"open_ms"`
	// Events is how many events the filled log holds.
	Events uint64 `json:"events"`
	// PeakRSSMiB is the process's peak resident memory (VmHWM), the log's
	// memory-mapped file pages included, in MiB.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// PeakAnonMiB is the peak anonymous memory (heap, stacks), sampled
	// every 10 ms during Run, in MiB.
	PeakAnonMiB float64 `json:"peak_anon_mib"`
	// End is the resident memory when the measurements ended, the log
	// still open.
	End Memory `json:"-"`
}

// Run measures this machine as opts says: first the raw signing rate and
// the signed, durable append rate, paired in Rounds rounds with the
// process pinned to one core; then it fills a log to opts.Events events
// with every core, reopens it, timing the opening, and times inclusion
// proofs in it, checking a sample of them. It returns ctx's error if ctx
// ends first.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Events < MinEvents {
		return Result{}, fmt.Errorf("bench: %d events asked for; at least %d are needed", opts.Events, MinEvents)
	}
	if opts.Round < MinRound {
		return Result{}, fmt.Errorf("bench: a round of %s asked for; at least %s is needed", opts.Round, MinRound)
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "waybill-bench-")
		if err != nil {
			return Result{}, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	k, err := devkey.Generate()
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: "bench", ChainID: 1337}

	stopSampling := sampleAnon()
	defer func() {
		if stopSampling != nil {
			stopSampling()
		}
	}()
	restore, err := onecore.Pin()
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if restore != nil {
			restore()
		}
	}()

	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	signRate, appendRate, ratio, err := pairedRounds(ctx, l, k, id.Domain(), opts)
	if err != nil {
		return Result{}, err
	}
	restore()
	restore = nil

	if err := fill(ctx, l, opts); err != nil {
		return Result{}, err
	}
	err = l.Close()
	l = nil
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}

	t0 := time.Now()
	l, err = eventlog.Open(ctx, dir, &eventlog.Options{Keys: k})
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	openMS := float64(time.Since(t0).Microseconds()) / 1000
	size, proofMS, err := proofLatency(l)
	if err != nil {
		return Result{}, err
	}

	peakAnon := stopSampling()
	stopSampling = nil
	return Result{
		AppendsPerSec: round1(appendRate),
		SignsPerSec:   round1(signRate),
		Ratio:         round3(ratio),
		ProofMS:       round3(proofMS),
		OpenMS:        round3(openMS),
		Events:        size,
		PeakRSSMiB:    round1(statusKiB("VmHWM:") / 1024),
		PeakAnonMiB:   round1(peakAnon),
		End:           resident(),
	}, nil
}

// pairedRounds measures, Rounds times, the raw signing rate (EIP-712
// digest and secp256k1 signature) for opts.Round and then the signed,
// durable append rate into l for opts.Round. It returns the medians of the
// two rates and of the rounds' ratios.
func pairedRounds(ctx context.Context, l *eventlog.Log, k *devkey.Key, dom signer.Domain, opts Options) (signRate, appendRate, ratio float64, err error) {
	ev := benchEvent(0)
	ev.Device = k.Address()
	var signRates, appendRates, ratios []float64
	for round := 0; round < Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		var signs int
		t0 := time.Now()
		for first := true; first || time.Since(t0) < opts.Round; first = false {
			for i := 0; i < 100; i++ {
				ev.Seq = uint64(signs)
				if _, err := k.Signer.SignDigest(signer.EventDigest(dom, &ev)); err != nil {
					return 0, 0, 0, fmt.Errorf("bench: sign: %w", err)
				}
				signs++
			}
		}
		s := float64(signs) / time.Since(t0).Seconds()
		a, err := appendFor(ctx, l, opts.Round, round)
		if err != nil {
			return 0, 0, 0, err
		}
		signRates, appendRates, ratios = append(signRates, s), append(appendRates, a), append(ratios, a/s)
		if opts.OnRound != nil {
			opts.OnRound(Round{N: round + 1, SignsPerSec: s, AppendsPerSec: a})
		}
	}
	return median(signRates), median(appendRates), median(ratios), nil
}

// appendFor appends for d from producers goroutines, each keeping
// inflight events in flight through Enqueue (as `waybill log append` and
// the agent's pipeline feed the log), and returns the rate of events
// acknowledged durable.
func appendFor(ctx context.Context, l *eventlog.Log, d time.Duration, round int) (float64, error) {
	var appended atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	t0 := time.Now()
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			pending := make([]*eventlog.Pending, 0, inflight)
			acked := 0
			// A round lasts d, and each producer appends at least one
			// event: on a loaded machine a producer may first run after d.
			over := func() bool { return time.Since(t0) >= d && acked+len(pending) > 0 }
			for i := 0; ; i++ {
				if len(pending) == inflight || (over() && len(pending) > 0) {
					if _, err := pending[0].Wait(); err != nil {
						fail(err)
						return
					}
					appended.Add(1)
					acked++
					pending = pending[1:]
					continue
				}
				if over() {
					return
				}
				pe, err := l.Enqueue(ctx, benchEvent((round*producers+w)*100_000_000+i))
				if err != nil {
					fail(err)
					return
				}
				pending = append(pending, pe)
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, fmt.Errorf("bench: append: %w", err)
	default:
	}
	return float64(appended.Load()) / time.Since(t0).Seconds(), nil
}

// fill appends to l with every core until it holds opts.Events events.
func fill(ctx context.Context, l *eventlog.Log, opts Options) error {
	n := opts.Events
	start, last := time.Now(), time.Time{}
	for l.Size() < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := min(n-l.Size(), 4096)
		var wg sync.WaitGroup
		errs := make(chan error, 1)
		per := (batch + 63) / 64
		for p := uint64(0); p < 64 && p*per < batch; p++ {
			wg.Add(1)
			go func(lo, hi uint64) {
				defer wg.Done()
				for i := lo; i < hi; i++ {
					if _, err := l.Append(ctx, benchEvent(int(i))); err != nil {
						select {
						case errs <- err:
						default:
						}
						return
					}
				}
			}(p*per, min((p+1)*per, batch))
		}
		wg.Wait()
		select {
		case err := <-errs:
			return fmt.Errorf("bench: fill: %w", err)
		default:
		}
		if done := l.Size(); time.Since(last) > time.Second || done == n {
			last = time.Now()
			if opts.OnFill != nil {
				opts.OnFill(Fill{Done: done, Total: n, Elapsed: time.Since(start)})
			}
		}
	}
	return nil
}

// proofLatency makes proofs inclusion proofs of random events in l at its
// current size, checks one in a hundred against its root, and returns the
// size and the mean time a proof took, in milliseconds.
func proofLatency(l *eventlog.Log) (size uint64, ms float64, err error) {
	size, root := l.Root()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	for i := 0; i < proofs; i++ {
		seq := rng.Uint64N(size)
		leaf, p, err := l.ProveInclusion(seq, size)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: proof %d: %w", seq, err)
		}
		if i%100 == 0 { // a sample, to keep the check out of the timing's cost
			if err := merkle.CheckInclusion(p, seq, size, merkle.LeafHash(leaf), root); err != nil {
				return 0, 0, fmt.Errorf("bench: proof %d: %w", seq, err)
			}
		}
	}
	return size, float64(time.Since(t0).Microseconds()) / 1000 / proofs, nil
}

// benchEvent is the i-th event of the benchmark: a delivery with a
// payload of a typical size.
func benchEvent(i int) event.Event {
	return event.Event{
		Time:   time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i),
		Source: event.SourceGNSS, Kind: event.KindDelivery,
		Payload: []byte(fmt.Sprintf(`{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A1%08X","proof":"scan","zone":"bay-marche-aux-herbes"}`, i)),
	}
}

// median returns the median of x (the upper one of an even count), not
// changing x.
func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
