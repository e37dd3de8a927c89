package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
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

// benchResult is what `waybill bench --json` prints.
type benchResult struct {
	AppendsPerSec float64 `json:"appends_per_sec"`
	SignsPerSec   float64 `json:"signs_per_sec"`
	Ratio         float64 `json:"ratio"`
	ProofMS       float64 `json:"proof_ms"`
	OpenMS        float64 `json:"open_ms"`
	Events        uint64  `json:"events"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`  // VmHWM: all resident pages, the log's mapped file pages included
	PeakAnonMiB   float64 `json:"peak_anon_mib"` // peak anonymous memory (heap, stacks), sampled every 10 ms
}

// cmdBench measures this machine: the raw secp256k1 signing rate and the
// signed+durable append rate, both with the process pinned to one core, in the same
// run, then fills a log to N events and measures inclusion-proof latency
// and log-open time, and reports the process's peak resident memory.
func cmdBench(ctx context.Context, e *env, args []string) error {
	f := newFlags("bench", e)
	n := f.Uint64("events", 1_000_000, "events in the log for the proof and open measurements")
	asJSON := f.Bool("json", false, "print one JSON object")
	window := f.Duration("round", time.Second, "length of each of the five paired measuring rounds")
	f.StringVar(&f.data, "data", "", "directory for the benchmark log (default: a temporary directory, removed after)")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if *n < 1000 {
		return usageError{"bench: --events must be at least 1000"}
	}
	if *window < 10*time.Millisecond {
		return usageError{"bench: --round must be at least 10ms"}
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

	stopSampling := sampleAnon()
	restore, err := onecore.Pin()
	if err != nil {
		return err
	}
	defer func() {
		if restore != nil {
			restore()
		}
	}()

	// 1 and 2, interleaved three times so that both rates see the same
	// machine: the raw signing rate (EIP-712 digest + secp256k1 signature)
	// and the signed+durable append rate with 8 producers keeping 128 events
	// each in flight (enough offered load to keep the signer busy while a
	// commit syncs),
	// both on one core. The medians are reported.
	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		return err
	}
	const rounds = 5
	ev.Device = k.Address()
	var signRates, appendRates []float64
	for round := 0; round < rounds; round++ {
		var signs int
		t0 := time.Now()
		for time.Since(t0) < *window {
			for i := 0; i < 100; i++ {
				ev.Seq = uint64(signs)
				if _, err := k.Signer.SignDigest(signer.EventDigest(dom, &ev)); err != nil {
					return err
				}
				signs++
			}
		}
		signRates = append(signRates, float64(signs)/time.Since(t0).Seconds())
		r, err := appendFor(ctx, l, *window, 8, 128, round)
		if err != nil {
			return err
		}
		appendRates = append(appendRates, r)
		progress("round %d: %.0f signatures/s, %.0f signed+durable appends/s on one core\n", round+1, signRates[round], r)
	}
	// Each round's two rates saw the same machine: the ratio is the median
	// of the rounds' ratios, less noisy than the ratio of the medians.
	signRate, appendRate := median(signRates), median(appendRates)
	ratios := make([]float64, rounds)
	for i := range ratios {
		ratios[i] = appendRates[i] / signRates[i]
	}
	ratio := median(ratios)
	restore()
	restore = nil

	// 3. Fill to N events with every core.
	fillStart, lastProgress := time.Now(), time.Time{}
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
		if done := l.Size(); time.Since(lastProgress) > time.Second || done == *n {
			lastProgress = time.Now()
			el := time.Since(fillStart).Seconds()
			progress("filling: %d/%d events (%.0f/s, about %.0fs left)   ", done, *n, float64(done)/el, float64(*n-done)/(float64(done)/el))
		}
	}
	progress("\n")
	if err := l.Close(); err != nil {
		return err
	}

	// 4. Open time, then proof latency.
	t0 := time.Now()
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

	peakAnon := stopSampling()
	res := benchResult{PeakAnonMiB: round1(peakAnon), AppendsPerSec: round1(appendRate), SignsPerSec: round1(signRate), Ratio: round3(ratio),
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
	fmt.Fprintf(e.stdout, "peak_rss_mib     %10.1f   (VmHWM: includes the log's memory-mapped file pages, which the kernel reclaims)\n", res.PeakRSSMiB)
	fmt.Fprintf(e.stdout, "peak_anon_mib    %10.1f   (heap and stacks; now: %s)\n", res.PeakAnonMiB, rssNow())
	return nil
}

// appendFor appends for d from p producers, each keeping window events in
// flight through Enqueue (as `waybill log append` and the daemon feed the
// log), and returns the rate of events acknowledged durable.
func appendFor(ctx context.Context, l *eventlog.Log, d time.Duration, p, window, round int) (float64, error) {
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
	for w := 0; w < p; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			inflight := make([]*eventlog.Pending, 0, window)
			for i := 0; ; i++ {
				if len(inflight) == window || (time.Since(t0) >= d && len(inflight) > 0) {
					if _, err := inflight[0].Wait(); err != nil {
						fail(err)
						return
					}
					appended.Add(1)
					inflight = inflight[1:]
					continue
				}
				if time.Since(t0) >= d {
					return
				}
				pe, err := l.Enqueue(ctx, benchEvent((round*p+w)*100_000_000+i))
				if err != nil {
					fail(err)
					return
				}
				inflight = append(inflight, pe)
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(appended.Load()) / time.Since(t0).Seconds(), nil
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func benchEvent(i int) event.Event {
	return event.Event{
		Time:   time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i),
		Source: event.SourceGNSS, Kind: event.KindDelivery,
		Payload: []byte(fmt.Sprintf(`{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A1%08X","proof":"scan","zone":"bay-marche-aux-herbes"}`, i)),
	}
}

// peakRSSMiB reads VmHWM from /proc/self/status.
func peakRSSMiB() float64 { return statusKiB("VmHWM:") / 1024 }

// sampleAnon samples RssAnon every 10 ms until the returned function is
// called, which returns the peak in MiB.
func sampleAnon() func() float64 {
	done := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		var max float64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v := statusKiB("RssAnon:") / 1024; v > max {
				max = v
			}
			select {
			case <-t.C:
			case <-done:
				peak <- max
				return
			}
		}
	}()
	return func() float64 { close(done); return <-peak }
}

// statusKiB reads one "kB" field of /proc/self/status.
func statusKiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	return 0
}

// rssNow reports the current anonymous and file-backed resident memory.
func rssNow() string {
	return fmt.Sprintf("RssAnon: %.0f kB, RssFile: %.0f kB", statusKiB("RssAnon:"), statusKiB("RssFile:"))
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
