package demo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/testbench/demo"
)

// TestRun runs the demo twice. Its summary agrees with the log it leaves:
// every event in the log was published, received and verified by the
// subscriber, proven offline and verified on chain, and the kinds it counts
// are the kinds the log holds. The fixed public key makes the two runs'
// roots equal. A third run into a directory that holds a log is refused.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo replays a whole round")
	}
	ctx := context.Background()
	var roots []string
	var first string
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "demo")
		var out bytes.Buffer
		sum, err := demo.Run(ctx, demo.Options{Data: dir, Out: &out})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
		first = dir
		if sum.Dir != dir {
			t.Errorf("Summary.Dir = %q, want %q", sum.Dir, dir)
		}
		kinds, root := readLog(t, dir)
		n := uint64(0)
		for _, c := range kinds {
			n += uint64(c)
		}
		if n == 0 || sum.Events != n {
			t.Fatalf("the log holds %d events; the summary says %d", n, sum.Events)
		}
		if root != sum.Root.String() {
			t.Errorf("the log's root is %s; the summary's %s", root, sum.Root)
		}
		for name, got := range map[string]uint64{"published": sum.Published, "received": uint64(sum.Received),
			"verified on chain": sum.OnChain, "proven offline": sum.Inclusion} {
			if got != n {
				t.Errorf("%s: %d events of the log's %d", name, got, n)
			}
		}
		if sum.Checkpoints < 2 || sum.Consistency != sum.Checkpoints-1 {
			t.Errorf("%d consistency proofs for %d checkpoints", sum.Consistency, sum.Checkpoints)
		}
		if w := sum.Watched[string(watch.StateWitnessed)]; w != n || sum.Cosigned == 0 || sum.Alarms != 0 || sum.Rejected != 0 {
			t.Errorf("the watcher witnessed %d events of the log's %d (by state %v), cosigned %d checkpoints, raised %d alarms, rejected %d messages",
				w, n, sum.Watched, sum.Cosigned, sum.Alarms, sum.Rejected)
		}
		if sum.Anchors == 0 || sum.Gas == 0 || sum.Records == 0 {
			t.Errorf("anchors confirmed %d, gas %d, anchor records %d: want each above 0", sum.Anchors, sum.Gas, sum.Records)
		}
		if fmt.Sprint(sum.EventsBy) != fmt.Sprint(kinds) {
			t.Errorf("events by kind: summary %v, log %v", sum.EventsBy, kinds)
		}
		for _, w := range []string{
			fmt.Sprintf("published %d events to the embedded MQTT broker; a subscriber received and verified %d of them", n, n),
			fmt.Sprintf("verified %d/%d events on chain", n, n),
			fmt.Sprintf("proved %d/%d events included in the final checkpoint", n, n),
			"Events by kind:", "Final checkpoint (C2SP signed note), root " + root,
			fmt.Sprintf("Watcher: %d events witnessed (verified, checkpointed, anchored, cosigned), %d checkpoints cosigned, alarms: none.", n, sum.Cosigned),
		} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("the report lacks %q:\n%s", w, out.String())
			}
		}
		roots = append(roots, root)
	}
	if roots[0] != roots[1] {
		t.Errorf("two runs of the same round gave roots %s and %s", roots[0], roots[1])
	}
	_, err := demo.Run(ctx, demo.Options{Data: first})
	if !errors.Is(err, demo.ErrOptions) || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), "already holds a log") {
		t.Errorf("a run into %s, which holds a log: %v; want ErrOptions naming the directory", first, err)
	}
}

// readLog returns the kinds of the events of the log in dir, and its root.
func readLog(t *testing.T, dir string) (map[string]int, string) {
	t.Helper()
	l, err := eventlog.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kinds := map[string]int{}
	err = l.Range(0, l.Size(), func(seq uint64, leaf []byte) error {
		s, err := event.Parse(leaf)
		if err != nil {
			return fmt.Errorf("event %d: %w", seq, err)
		}
		kinds[string(s.Kind)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, root := l.Root()
	return kinds, root.String()
}

// TestRunRefuses: options the demo cannot work with are refused before it
// starts, with the reason and the file named.
func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	// A text file is raw NMEA to the replay: it runs out before the
	// configured I2C sensors have read anything.
	nmea := filepath.Join(dir, "text.log")
	if err := os.WriteFile(nmea, []byte("not a recording\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.jsonl")
	if err := os.WriteFile(broken, []byte(`{"v":`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("device: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		o       demo.Options
		options bool   // ErrOptions
		want    string // in the error
		started bool   // the log was created before the error
	}{
		{"negative speed", demo.Options{Speed: -1}, true, "speed -1 is negative", false},
		{"missing configuration", demo.Options{Config: filepath.Join(dir, "none.yaml")}, false, "none.yaml", false},
		{"bad configuration", demo.Options{Config: badConfig}, false, "bad.yaml", false},
		{"missing recording", demo.Options{Replay: filepath.Join(dir, "none.jsonl")}, false, "none.jsonl", false},
		{"broken recording", demo.Options{Replay: broken}, false, "broken.jsonl", false},
		{"recording without the configured sensors", demo.Options{Replay: nmea}, false, "replaying " + nmea, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Data = filepath.Join(t.TempDir(), "demo")
			_, err := demo.Run(context.Background(), c.o)
			if err == nil || errors.Is(err, demo.ErrOptions) != c.options || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v; want an error naming %q (ErrOptions: %v)", err, c.want, c.options)
			}
			if _, err := os.Stat(filepath.Join(c.o.Data, "manifest.json")); err == nil && !c.started {
				t.Errorf("a refused run created a log in %s", c.o.Data)
			}
		})
	}
}
