package bench

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog"
)

// TestRun runs a small benchmark into a directory and checks that its
// figures are those of what it ran: the log it leaves holds Events events,
// the number asked for; the rates and ratio are the medians of the rounds
// it reported; the peak resident memory covers the memory resident at the
// end. No figure is held to a speed.
func TestRun(t *testing.T) {
	// Each round's appends drain 8×128 events in flight, so five rounds
	// leave a few thousand events: ask for more, so that the fill runs.
	const events = 10_000
	dir := filepath.Join(t.TempDir(), "log")
	var rounds []Round
	var fills []Fill
	res, err := Run(context.Background(), Options{
		Dir: dir, Events: events, Round: MinRound,
		OnRound: func(r Round) { rounds = append(rounds, r) },
		OnFill:  func(f Fill) { fills = append(fills, f) },
	})
	if err != nil {
		t.Fatal(err)
	}

	l, err := eventlog.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("the benchmark's log: %v", err)
	}
	size := l.Size()
	l.Close()
	if res.Events != events || size != events {
		t.Errorf("Events = %d; the log holds %d, asked for %d", res.Events, size, events)
	}
	if len(fills) == 0 {
		t.Fatalf("no fill reported: the rounds alone appended %d events", size)
	}
	if last := fills[len(fills)-1]; last.Done != events || last.Total != events {
		t.Errorf("the fill ended at %d/%d, want %d/%d", last.Done, last.Total, events, events)
	}
	for i, f := range fills {
		if f.Elapsed <= 0 || f.Total != events || (i > 0 && f.Done <= fills[i-1].Done) {
			t.Errorf("fill report %d: %+v after %+v", i, f, fills[max(i-1, 0)])
		}
	}

	if len(rounds) != Rounds {
		t.Fatalf("%d rounds reported, want %d", len(rounds), Rounds)
	}
	var signs, appends, ratios []float64
	for i, r := range rounds {
		if r.N != i+1 || !positive(r.SignsPerSec) || !positive(r.AppendsPerSec) {
			t.Errorf("round %d reported as %+v", i+1, r)
		}
		signs, appends, ratios = append(signs, r.SignsPerSec), append(appends, r.AppendsPerSec), append(ratios, r.AppendsPerSec/r.SignsPerSec)
	}
	for _, c := range []struct {
		name      string
		got, want float64
		tol       float64 // the rounding of Result's figures
	}{
		{"SignsPerSec", res.SignsPerSec, upperMedian(signs), 0.05},
		{"AppendsPerSec", res.AppendsPerSec, upperMedian(appends), 0.05},
		{"Ratio", res.Ratio, upperMedian(ratios), 0.0005},
	} {
		if !positive(c.got) || math.Abs(c.got-c.want) > c.tol+1e-9 {
			t.Errorf("%s = %v, want %v ± %v, the median of the rounds %v", c.name, c.got, c.want, c.tol, rounds)
		}
	}

	for name, v := range map[string]float64{"ProofMS": res.ProofMS, "OpenMS": res.OpenMS, "PeakRSSMiB": res.PeakRSSMiB, "PeakAnonMiB": res.PeakAnonMiB, "End.AnonKiB": res.End.AnonKiB, "End.FileKiB": res.End.FileKiB} {
		if !positive(v) {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
	if end := (res.End.AnonKiB + res.End.FileKiB) / 1024; res.PeakRSSMiB+0.05 < end {
		t.Errorf("PeakRSSMiB = %v, below the %v MiB resident at the end (%+v)", res.PeakRSSMiB, end, res.End)
	}
}

// TestRun_Refuses checks that options outside the limits and an ended
// context stop Run with an error naming the cause, and that the temporary
// directory of a run without Dir is removed.
func TestRun_Refuses(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		opts Options
		want string
		is   error
	}{
		{"too few events", context.Background(), Options{Events: MinEvents - 1, Round: MinRound}, "999 events", nil},
		{"too short a round", context.Background(), Options{Events: MinEvents, Round: MinRound - 1}, "a round of 9.999999ms", nil},
		{"ended context", ended, Options{Events: MinEvents, Round: MinRound}, "", context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rounds := 0
			tt.opts.OnRound = func(Round) { rounds++ }
			_, err := Run(tt.ctx, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Run = %v, want an error containing %q (is %v)", err, tt.want, tt.is)
			}
			if rounds != 0 {
				t.Errorf("%d rounds reported", rounds)
			}
		})
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("left in the temporary directory: %v %v", left, err)
	}
}

func positive(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

// upperMedian is the median of x, the upper one of an even count.
func upperMedian(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}
