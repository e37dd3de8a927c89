package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/waybill-eu/waybill/agent/bench"
)

// cmdBench measures this machine with agent/bench and prints the result:
// the raw secp256k1 signing rate and the signed+durable append rate, both
// with the process pinned to one core, in the same run, then the
// inclusion-proof latency and log-open time of a log filled to N events,
// and the process's peak resident memory.
func cmdBench(ctx context.Context, e *env, args []string) error {
	f := newFlags("bench", e)
	n := f.Uint64("events", 1_000_000, "events in the log for the proof and open measurements")
	asJSON := f.Bool("json", false, "print one JSON object")
	window := f.Duration("round", time.Second, "length of each of the five paired measuring rounds")
	f.StringVar(&f.data, "data", "", "directory for the benchmark log (default: a temporary directory, removed after)")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if *n < bench.MinEvents {
		return usageError{fmt.Sprintf("bench: --events must be at least %d", bench.MinEvents)}
	}
	if *window < bench.MinRound {
		return usageError{fmt.Sprintf("bench: --round must be at least %s", bench.MinRound)}
	}
	opts := bench.Options{Dir: f.data, Events: *n, Round: *window}
	rounds := 0
	if !*asJSON {
		opts.OnRound = func(r bench.Round) {
			rounds++
			fmt.Fprintf(e.stderr, "\rround %d: %.0f signatures/s, %.0f signed+durable appends/s on one core\n", r.N, r.SignsPerSec, r.AppendsPerSec)
		}
		opts.OnFill = func(p bench.Fill) {
			el := p.Elapsed.Seconds()
			fmt.Fprintf(e.stderr, "\rfilling: %d/%d events (%.0f/s, about %.0fs left)   ", p.Done, p.Total, float64(p.Done)/el, float64(p.Total-p.Done)/(float64(p.Done)/el))
		}
	}
	res, err := bench.Run(ctx, opts)
	if rounds == bench.Rounds {
		fmt.Fprint(e.stderr, "\r\n") // ends the fill's progress line
	}
	if err != nil {
		return err
	}
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
	fmt.Fprintf(e.stdout, "peak_anon_mib    %10.1f   (heap and stacks; now: RssAnon: %.0f kB, RssFile: %.0f kB)\n", res.PeakAnonMiB, res.End.AnonKiB, res.End.FileKiB)
	return nil
}
