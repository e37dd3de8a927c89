package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// benchResult is what `waybill bench --json` prints.
type benchResult struct {
	AppendsPerSec float64 `json:"appends_per_sec"`
	SignsPerSec   float64 `json:"signs_per_sec"`
	Ratio         float64 `json:"ratio"`
	ProofMS       float64 `json:"proof_ms"`
	OpenMS        float64 `json:"open_ms"`
	Events        uint64  `json:"events"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
}

// cmdBench measures this machine: the raw secp256k1 signing rate and the
// signed+durable append rate, both on one core (GOMAXPROCS=1) in the same
// run, then fills a log to N events and measures inclusion-proof latency
// and log-open time, and reports the process's peak resident memory.
func cmdBench(ctx context.Context, e *env, args []string) error {
	f := newFlags("bench", e)
	n := f.Uint64("events", 1_000_000, "events in the log for the proof and open measurements")
	asJSON := f.Bool("json", false, "print one JSON object")
	f.StringVar(&f.data, "data", "", "directory for the benchmark log (default: a temporary directory, removed after)")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if *n < 1000 {
		return usageError{"bench: --events must be at least 1000"}
	}
	dir := f.data
	if dir == "" {
		d, err := os.MkdirTemp("", "waybill-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	progress := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(e.stderr, "\r"+format, a...)
		}
	}
	k, err := devkey.Generate()
	if err != nil {
		return err
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: "bench", ChainID: 1337}
	dom := id.Domain()
	ev := benchEvent(0)

	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	// 1. Raw signing rate on one core: EIP-712 digest + secp256k1 sign.
	const window = 3 * time.Second
	var signs int
	t0 := time.Now()
	for time.Since(t0) < window {
		for i := 0; i < 100; i++ {
			ev.Seq = uint64(signs)
			if _, err := k.SignEvent(dom, ev); err != nil {
				return err
			}
			signs++
		}
	}
	signRate := float64(signs) / time.Since(t0).Seconds()
	progress("signing: %.0f signatures/s on one core\n", signRate)

	// 2. Signed + durable appends on one core, 64 concurrent producers.
	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		return err
	}
	var appended uint64
	var mu sync.Mutex
	t0 = time.Now()
	var wg sync.WaitGroup
	var firstErr error
	for p := 0; p < 64; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; time.Since(t0) < window; i++ {
				if _, err := l.Append(ctx, benchEvent(p*1_000_000+i)); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				appended++
				mu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	appendRate := float64(appended) / time.Since(t0).Seconds()
	if firstErr != nil {
		return firstErr
	}
	progress("appends: %.0f signed+durable events/s on one core (%.0f%% of the signing rate)\n", appendRate, 100*appendRate/signRate)
	runtime.GOMAXPROCS(prev)

	// 3. Fill to N events with every core.
	fillStart := time.Now()
	for l.Size() < *n {
		if err := ctx.Err(); err != nil {
			return err
		}
		need := *n - l.Size()
		batch := min(need, 4096)
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
			return err
		default:
		}
		done := l.Size()
		el := time.Since(fillStart).Seconds()
		progress("filling: %d/%d events (%.0f/s, about %.0fs left)   ", done, *n, float64(done)/el, float64(*n-done)/(float64(done)/el))
	}
	progress("\n")
	if err := l.Close(); err != nil {
		return err
	}

	// 4. Open time, then proof latency.
	t0 = time.Now()
	l, err = eventlog.Open(ctx, dir, &eventlog.Options{Keys: k})
	if err != nil {
		return err
	}
	openMS := float64(time.Since(t0).Microseconds()) / 1000
	defer l.Close()
	size, root := l.Root()
	rng := rand.New(rand.NewPCG(1, 2))
	const proofs = 2000
	t0 = time.Now()
	for i := 0; i < proofs; i++ {
		seq := rng.Uint64N(size)
		leaf, p, err := l.ProveInclusion(seq, size)
		if err != nil {
			return err
		}
		if i%100 == 0 { // check a sample outside the timing's hot path cost
			if err := merkle.CheckInclusion(p, seq, size, merkle.LeafHash(leaf), root); err != nil {
				return fmt.Errorf("bench: proof %d: %w", seq, err)
			}
		}
	}
	proofMS := float64(time.Since(t0).Microseconds()) / 1000 / proofs

	res := benchResult{AppendsPerSec: round1(appendRate), SignsPerSec: round1(signRate), Ratio: round3(appendRate / signRate),
		ProofMS: round3(proofMS), OpenMS: round3(openMS), Events: size, PeakRSSMiB: round1(peakRSSMiB())}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(e.stdout, "signs_per_sec    %10.0f   (one core, EIP-712 digest + secp256k1)\n", res.SignsPerSec)
	fmt.Fprintf(e.stdout, "appends_per_sec  %10.0f   (one core, signed + fsynced, group commit)\n", res.AppendsPerSec)
	fmt.Fprintf(e.stdout, "ratio            %10.3f\n", res.Ratio)
	fmt.Fprintf(e.stdout, "proof_ms         %10.3f   (inclusion proof at %d events)\n", res.ProofMS, res.Events)
	fmt.Fprintf(e.stdout, "open_ms          %10.3f   (opening the %d-event log)\n", res.OpenMS, res.Events)
	fmt.Fprintf(e.stdout, "peak_rss_mib     %10.1f\n", res.PeakRSSMiB)
	return nil
}

func benchEvent(i int) event.Event {
	return event.Event{
		Time:   time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i),
		Source: event.SourceGNSS, Kind: "delivery",
		Payload: []byte(fmt.Sprintf(`{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A1%08X","proof":"scan","zone":"bay-marche-aux-herbes"}`, i)),
	}
}

// peakRSSMiB reads VmHWM from /proc/self/status.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
