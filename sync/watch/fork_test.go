package watch

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/verify"
)

// TestHandle_ForkEvidence: equivocation and each way a checkpoint can
// rewrite history raise an alarm whose evidence proves the fork offline
// (verify.Fork, what `waybill verify` runs), and the watcher cosigns
// neither the fork nor anything after it.
func TestHandle_ForkEvidence(t *testing.T) {
	honest := newDevice(t, eventlogtest.Key(t))
	honest.append(0, 4)
	cp4 := honest.checkpoint()
	honest.append(4, 10)
	cp10 := honest.checkpoint()
	fork := newDevice(t, eventlogtest.Key(t)) // the same device keeping a second log
	fork.append(100, 104)
	fork4 := fork.checkpoint()
	fork.append(104, 110)
	fork10 := fork.checkpoint()
	tp := honest.topics()
	addr := honest.key.Address()
	events := func(n uint64) (ms [][2]string) {
		for seq := range n {
			ms = append(ms, [2]string{tp.Events, string(honest.message(seq))})
		}
		return ms
	}
	for _, tc := range []struct {
		name    string
		before  [][2]string
		hostile [2]string
		reason  Reason
		kind    string
	}{
		{"Equivocation", events(10), [2]string{tp.Events, string(fork.message(3))}, ReasonEquivocation, verify.ForkEvents},
		{"LargerCheckpointDoesNotExtend", append(events(10), [2]string{tp.Checkpoints, string(cp4)}), [2]string{tp.Checkpoints, string(fork10)}, ReasonInconsistent, verify.ForkCheckpoints},
		{"SmallerCheckpointIsNoPrefix", append(events(10), [2]string{tp.Checkpoints, string(cp10)}), [2]string{tp.Checkpoints, string(fork4)}, ReasonInconsistent, verify.ForkCheckpoints},
		{"SameSizeOtherRoot", append(events(10), [2]string{tp.Checkpoints, string(cp10)}), [2]string{tp.Checkpoints, string(fork10)}, ReasonInconsistent, verify.ForkCheckpoints},
		{"FirstCheckpointNotTheLeaves", events(10), [2]string{tp.Checkpoints, string(fork4)}, ReasonRootMismatch, verify.ForkCheckpoints},
		{"TwoWaitingOfOneSize", [][2]string{{tp.Checkpoints, string(cp10)}}, [2]string{tp.Checkpoints, string(fork10)}, ReasonInconsistent, verify.ForkCheckpoints},
		{"ForkBeforeItsEvents", [][2]string{{tp.Checkpoints, string(cp4)}, {tp.Checkpoints, string(fork10)}}, [2]string{}, ReasonInconsistent, verify.ForkCheckpoints},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			a := openBolt(t, filepath.Join(t.TempDir(), "archive.db"))
			w, cosigned := witnessing(t, a)
			var v Verdict
			for _, m := range tc.before {
				v = handle(t, w, m[0], []byte(m[1]))
			}
			if tc.hostile[0] != "" {
				v = handle(t, w, tc.hostile[0], []byte(tc.hostile[1]))
			} else { // the fork waits for its events; the last of them concludes
				for _, m := range events(10) {
					v = handle(t, w, m[0], []byte(m[1]))
				}
				if len(v.Checkpoints) != 1 {
					t.Fatalf("the last event settles %d checkpoints, want 1 (checkpoint 4 settled at event 3)", len(v.Checkpoints))
				}
				v = v.Checkpoints[0]
			}
			if v.State != StateRejected || v.Reason != tc.reason || v.Alarm == nil {
				t.Fatalf("verdict %+v, want rejected %s with an alarm", v, tc.reason)
			}
			f, err := verify.ParseFork(v.Alarm.Evidence)
			if err != nil {
				t.Fatalf("evidence: %v\n%s", err, v.Alarm.Evidence)
			}
			what, err := f.Verify(verify.Options{Device: &addr, Fleet: testFleet, ChainID: testChainID})
			if err != nil || f.Kind != tc.kind {
				t.Fatalf("evidence of kind %s does not prove the fork: %v\n%s", f.Kind, err, v.Alarm.Evidence)
			}
			t.Log(what)
			var alarms []Alarm
			a.Alarms(ctx, func(al Alarm) bool { alarms = append(alarms, al); return true })
			if len(alarms) != 1 || alarms[0].Reason != tc.reason || alarms[0].Device != addr || string(alarms[0].Evidence) != string(v.Alarm.Evidence) {
				t.Fatalf("archived alarms %+v", alarms)
			}
			for _, c := range *cosigned {
				for _, bad := range [][]byte{fork4, fork10} {
					if string(c.Note[:len(bad)]) == string(bad) {
						t.Fatal("the watcher cosigned a fork")
					}
				}
			}
			n := len(*cosigned)
			more := newDevice(t, eventlogtest.Key(t)) // the honest log, grown
			more.append(0, 12)
			for seq := range uint64(12) {
				handle(t, w, tp.Events, more.message(seq))
			}
			if v := handle(t, w, tp.Checkpoints, more.checkpoint()); v.State != StateVerified || v.Cosigned || len(*cosigned) != n {
				t.Fatalf("honest checkpoint after the fork: %+v, want verified and not cosigned", v)
			}
		})
	}
}

// TestWatcher_RestartKeepsReceived: a checkpoint received before its events
// is archived, and verified after a restart when they arrive, without being
// delivered again.
func TestWatcher_RestartKeepsReceived(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 6)
	cp := d.checkpoint()
	tp := d.topics()
	a := openBolt(t, path)
	w := watcherOn(t, a)
	handle(t, w, tp.Events, d.message(0))
	if v := handle(t, w, tp.Checkpoints, cp); v.State != StateReceived {
		t.Fatalf("checkpoint before its events: %+v", v)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openBolt(t, path)
	w = watcherOn(t, a)
	var v Verdict
	for seq := uint64(1); seq < 6; seq++ {
		v = handle(t, w, tp.Events, d.message(seq))
	}
	if len(v.Checkpoints) != 1 || v.Checkpoints[0].State != StateVerified || v.State != StateCheckpointed {
		t.Fatalf("last event after the restart: %+v", v)
	}
}

// countingArchive counts the leaves read from the archive.
type countingArchive struct {
	*Bolt
	read int
}

func (c *countingArchive) Leaves(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(uint64, []byte) bool) error {
	return c.Bolt.Leaves(ctx, device, epoch, from, func(seq uint64, leaf []byte) bool {
		c.read++
		return fn(seq, leaf)
	})
}

// TestWatcher_CheckpointsReadOnlyNewLeaves: checking each checkpoint reads
// the leaves since the previous one, not the whole log again.
func TestWatcher_CheckpointsReadOnlyNewLeaves(t *testing.T) {
	const n, every = 240, 8
	d := newDevice(t, eventlogtest.Key(t))
	tp := d.topics()
	c := &countingArchive{Bolt: openBolt(t, filepath.Join(t.TempDir(), "archive.db"))}
	w := watcherOn(t, c)
	for i := range n / every {
		d.append(i*every, (i+1)*every)
		for seq := i * every; seq < (i+1)*every; seq++ {
			handle(t, w, tp.Events, d.message(uint64(seq)))
		}
		if v := handle(t, w, tp.Checkpoints, d.checkpoint()); v.State != StateVerified {
			t.Fatalf("checkpoint %d: %+v", v.Size, v)
		}
	}
	// Rebuilding the tree for each checkpoint reads n²/(2·every) leaves
	// (3600 here); reading only the new ones reads each leaf about once.
	if c.read > 2*n {
		t.Fatalf("checking %d checkpoints of %d events read %d leaves, want at most %d", n/every, n, c.read, 2*n)
	}
	t.Logf("%d leaves read for %d events and %d checkpoints", c.read, n, n/every)
}

// TestWatchDoc_ForkMembers: WATCH.md §8.1 lists exactly the members of the
// fork evidence the watcher writes.
func TestWatchDoc_ForkMembers(t *testing.T) {
	doc, err := os.ReadFile("../../firmware-docs/WATCH.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "### 8.1 Fork evidence")
	table, _, _ = strings.Cut(table, "\n### ")
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| ((?:`[a-z_]+`(?:, )?)+) \\|").FindAllStringSubmatch(table, -1) {
		for _, n := range strings.Split(m[1], ", ") {
			listed = append(listed, strings.Trim(n, "`"))
		}
	}
	b, err := (&verify.Fork{Kind: verify.ForkEvents}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]json.RawMessage
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	if keys := slices.Sorted(maps.Keys(written)); !slices.Equal(listed, keys) {
		t.Fatalf("WATCH.md §8.1 lists %v, the evidence has %v", listed, keys)
	}
}

// TestWatcher_RestartReadsOnlyNewLeaves: a watcher restarted on the archive
// reads the events after the latest verified checkpoint, not the whole log
// (the archive keeps the frontier at it), and goes on verifying.
func TestWatcher_RestartReadsOnlyNewLeaves(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "archive.db")
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 100)
	cp100 := d.checkpoint()
	d.append(100, 110)
	cp110 := d.checkpoint()
	tp, addr := d.topics(), d.key.Address()
	b := openBolt(t, path)
	w := watcherOn(t, b)
	for seq := range uint64(105) {
		handle(t, w, tp.Events, d.message(seq))
	}
	handle(t, w, tp.Checkpoints, cp100)
	if n, nodes, err := b.Frontier(ctx, addr, 0); err != nil || n != 100 || len(nodes) != 3 {
		t.Fatalf("stored frontier: size %d, %d nodes, %v; want 100 and 3", n, len(nodes), err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c := &countingArchive{Bolt: openBolt(t, path)}
	w = watcherOn(t, c)
	if gaps, err := w.Gaps(ctx, addr, 0); err != nil || gaps != nil {
		t.Fatalf("gaps after the restart: %v, %v", gaps, err)
	}
	if c.read != 5 {
		t.Fatalf("loading the origin read %d events, want the 5 after checkpoint 100", c.read)
	}
	var v Verdict
	for seq := uint64(105); seq < 110; seq++ {
		v = handle(t, w, tp.Events, d.message(seq))
	}
	if v := handle(t, w, tp.Checkpoints, cp110); v.State != StateVerified {
		t.Fatalf("checkpoint 110 after the restart: %+v", v)
	}
	if v.State != StateVerified || c.read > 5+10 {
		t.Fatalf("event 109: %+v; %d events read in all", v, c.read)
	}
	// A frontier beyond the latest checkpoint is not used.
	if err := c.Bolt.PutFrontier(ctx, addr, 0, 111, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := watcherOn(t, c).Gaps(ctx, addr, 0); err != nil {
		t.Fatalf("a frontier beyond the checkpoint is ignored, got %v", err)
	}
}
