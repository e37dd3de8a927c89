package watch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/sync/feed"
)

// TestHandle_HonestFeed: a device's events and checkpoints, with a
// checkpoint that arrives before its events, all end checkpointed.
func TestHandle_HonestFeed(t *testing.T) {
	ctx := context.Background()
	w, a := newWatcher(t)
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 4)
	cp4 := d.checkpoint()
	d.append(4, 10)
	cp10 := d.checkpoint()
	tp := d.topics()

	if v := handle(t, w, tp.Checkpoints, cp4); v.State != StateReceived || v.Size != 4 {
		t.Fatalf("checkpoint before its events: %+v, want received", v)
	}
	for seq := range uint64(10) {
		v := handle(t, w, tp.Events, d.message(seq))
		if v.State == StateRejected || v.Seq != seq || v.Operator != "vans" || v.Gaps != nil {
			t.Fatalf("event %d: %+v", seq, v)
		}
		if seq == 3 {
			if len(v.Checkpoints) != 1 || v.Checkpoints[0].State != StateVerified || v.Checkpoints[0].Size != 4 {
				t.Fatalf("event 3 completes checkpoint 4: %+v", v.Checkpoints)
			}
			if v.State != StateCheckpointed {
				t.Fatalf("event 3 is %q once checkpoint 4 verified, want checkpointed", v.State)
			}
		}
	}
	if v := handle(t, w, tp.Checkpoints, cp10); v.State != StateVerified {
		t.Fatalf("checkpoint 10: %+v", v)
	}
	if v := handle(t, w, tp.Checkpoints, cp4); v.State != StateVerified {
		t.Fatalf("checkpoint 4 again (older than the latest): %+v", v)
	}
	for seq := range uint64(10) {
		if s, err := w.State(ctx, Key{Device: d.key.Address(), Seq: seq}); err != nil || s != StateCheckpointed {
			t.Fatalf("State(%d) = %q, %v", seq, s, err)
		}
	}
	if s, _ := w.State(ctx, Key{Device: d.key.Address(), Seq: 10}); s != "" {
		t.Fatalf("State of an event never received = %q", s)
	}
	if got, _ := a.Checkpoint(ctx, d.key.Address(), 0); !bytes.Equal(got, cp10) {
		t.Fatalf("archived checkpoint is not the latest verified one:\n%s", got)
	}
	for _, tc := range []struct{ topic, payload string }{
		{tp.Domain, string((&feed.DomainMessage{ChainID: testChainID, Device: d.key.Address(), Fleet: testFleet}).Marshal())},
		{tp.Status, feed.StatusOnline},
	} {
		if v := handle(t, w, tc.topic, []byte(tc.payload)); v.State == StateRejected {
			t.Fatalf("%s: %+v", tc.topic, v)
		}
	}
}

// TestHandle_HostileFeeds: each hostile message is rejected with its reason
// (or flagged), and the watcher goes on verifying another device.
func TestHandle_HostileFeeds(t *testing.T) {
	honest := newDevice(t, eventlogtest.Key(t))
	honest.append(0, 10)
	cp4 := func() []byte { // a checkpoint of the honest log's first 4 events
		d := newDevice(t, eventlogtest.Key(t))
		d.append(0, 4)
		return d.checkpoint()
	}()
	cp10 := honest.checkpoint()
	// fork is the same device keeping a second log: other events, same origin.
	fork := newDevice(t, eventlogtest.Key(t))
	fork.append(100, 110)
	forkCP := fork.checkpoint()
	stranger := newDevice(t, key(t, strangerKeyHex))
	stranger.append(0, 2)
	other := newDevice(t, key(t, otherKeyHex))
	other.append(0, 20)

	tp := honest.topics()
	all := func() (ms [][2]string) {
		for seq := range uint64(10) {
			ms = append(ms, [2]string{tp.Events, string(honest.message(seq))})
		}
		return ms
	}
	forged := func() []byte {
		m, err := feed.ParseMessage(honest.message(3))
		if err != nil {
			t.Fatal(err)
		}
		m.Event.Sig[5] ^= 0x40
		return (&feed.Message{Origin: m.Origin, Seq: 3, Leaf: m.Event.LeafOfValid()}).Marshal()
	}
	ev3 := honest.message(3)
	seqMismatch := func() []byte {
		leaf, _ := honest.log.Leaf(3)
		return (&feed.Message{Origin: honest.log.Origin(), Seq: 4, Leaf: leaf}).Marshal()
	}

	type msg = [2]string
	cases := []struct {
		name    string
		before  []msg
		hostile msg
		reason  Reason
		check   func(t *testing.T, v Verdict, a *Bolt)
	}{
		{name: "ForgedSignature", before: all()[:3], hostile: msg{tp.Events, string(forged())}, reason: ReasonBadSignature},
		{name: "UnknownDevice", hostile: msg{stranger.topics().Events, string(stranger.message(0))}, reason: ReasonUnknownDevice,
			check: func(t *testing.T, v Verdict, a *Bolt) {
				var unknown, others int
				a.Rejected(context.Background(), ReasonUnknownDevice, func(Record) bool { unknown++; return true })
				for _, r := range Reasons {
					if r != ReasonUnknownDevice {
						a.Rejected(context.Background(), r, func(Record) bool { others++; return true })
					}
				}
				if unknown != 1 || others != 0 || countLeaves(t, a, stranger.key.Address(), 0) != 0 {
					t.Fatalf("kept apart: %d unknown, %d other records, %d archived events", unknown, others, countLeaves(t, a, stranger.key.Address(), 0))
				}
			}},
		{name: "TrustedDeviceInAnotherFleet", hostile: msg{feed.TopicsFor("other-fleet", honest.key.Address()).Events, string(ev3)}, reason: ReasonUnknownDevice},
		{name: "EventOnAnotherDevicesTopic", hostile: msg{other.topics().Events, string(ev3)}, reason: ReasonBadSignature},
		{name: "ReplayedOldEvent", before: all(), hostile: msg{tp.Events, string(honest.message(2))},
			check: func(t *testing.T, v Verdict, a *Bolt) {
				if !v.Duplicate || v.State != StateVerified || countLeaves(t, a, honest.key.Address(), 0) != 10 {
					t.Fatalf("replay: %+v, %d archived", v, countLeaves(t, a, honest.key.Address(), 0))
				}
			}},
		{name: "Reordered", before: slices.Concat(all()[5:], all()[:4]), hostile: msg{tp.Events, string(honest.message(4))},
			check: func(t *testing.T, v Verdict, a *Bolt) {
				if v.State != StateVerified || v.Gaps != nil || countLeaves(t, a, honest.key.Address(), 0) != 10 {
					t.Fatalf("last of the backlog: %+v", v)
				}
			}},
		{name: "Duplicated", before: slices.Concat(all()[:5], all()[:5]), hostile: msg{tp.Events, string(honest.message(4))},
			check: func(t *testing.T, v Verdict, a *Bolt) {
				if !v.Duplicate || countLeaves(t, a, honest.key.Address(), 0) != 5 {
					t.Fatalf("duplicate: %+v", v)
				}
			}},
		{name: "Equivocation", before: all()[:5], hostile: msg{tp.Events, string(fork.message(3))}, reason: ReasonEquivocation,
			check: func(t *testing.T, v Verdict, a *Bolt) {
				var kept [][]byte
				a.Rejected(context.Background(), ReasonEquivocation, func(r Record) bool { kept = append(kept, r.Payload); return true })
				var archived []byte
				a.Leaves(context.Background(), honest.key.Address(), 0, 3, func(_ uint64, l []byte) bool { archived = l; return false })
				want, _ := honest.log.Leaf(3)
				if len(kept) != 1 || !bytes.Equal(kept[0], fork.message(3)) || !bytes.Equal(archived, want) {
					t.Fatal("both signed events are not kept as evidence")
				}
			}},
		{name: "Truncated", hostile: msg{tp.Events, string(ev3[:len(ev3)/2])}, reason: ReasonMalformed},
		{name: "Oversized", hostile: msg{tp.Events, string(ev3) + strings.Repeat(" ", feed.MaxMessage)}, reason: ReasonOversized},
		{name: "NonCanonical", hostile: msg{tp.Events, "{ " + string(ev3[1:])}, reason: ReasonMalformed},
		{name: "TrailingNewline", hostile: msg{tp.Events, string(ev3) + "\n"}, reason: ReasonMalformed},
		{name: "SeqDisagreesWithLeaf", hostile: msg{tp.Events, string(seqMismatch())}, reason: ReasonMalformed},
		{name: "NotJSON", hostile: msg{tp.Events, "\x00\xff"}, reason: ReasonMalformed},
		{name: "BadTopic", hostile: msg{"waybill/v1/test-fleet/events", string(ev3)}, reason: ReasonBadTopic},
		{name: "CheckpointRewritesHistory", before: append(all(), msg{tp.Checkpoints, string(cp4)}),
			hostile: msg{tp.Checkpoints, string(forkCP)}, reason: ReasonInconsistent},
		{name: "CheckpointRootNotTheLeaves", before: all(), hostile: msg{tp.Checkpoints, string(forkCP)}, reason: ReasonRootMismatch},
		{name: "CheckpointOfAnotherDevice", hostile: msg{tp.Checkpoints, string(other.checkpoint())}, reason: ReasonBadSignature},
		{name: "CheckpointNotANote", hostile: msg{tp.Checkpoints, "waybill\n"}, reason: ReasonMalformed},
		{name: "CheckpointOversized", hostile: msg{tp.Checkpoints, string(cp10) + strings.Repeat("x", 1<<20)}, reason: ReasonOversized},
		{name: "WrongChainInDomain", hostile: msg{tp.Domain, string((&feed.DomainMessage{ChainID: 1, Device: honest.key.Address(), Fleet: testFleet}).Marshal())}, reason: ReasonWrongDomain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, a := newWatcher(t)
			for i, m := range tc.before {
				if v := handle(t, w, m[0], []byte(m[1])); v.State == StateRejected {
					t.Fatalf("honest message %d rejected: %v", i, v.Err)
				}
				// Another device's feed interleaved with the hostile one.
				if v := handle(t, w, other.topics().Events, other.message(uint64(i))); v.State != StateVerified {
					t.Fatalf("other device's event %d: %+v", i, v)
				}
			}
			v := handle(t, w, tc.hostile[0], []byte(tc.hostile[1]))
			if tc.reason != "" {
				if v.State != StateRejected || v.Reason != tc.reason {
					t.Fatalf("verdict %q reason %q (%v), want rejected %q", v.State, v.Reason, v.Err, tc.reason)
				}
				t.Logf("%s: %v", v.Reason, v.Err)
				var kept int
				a.Rejected(context.Background(), tc.reason, func(r Record) bool {
					if r.Topic == tc.hostile[0] && string(r.Payload) == tc.hostile[1] && r.Detail == v.Err.Error() {
						kept++
					}
					return true
				})
				if kept != 1 {
					t.Fatalf("the rejected message is kept %d times, want once", kept)
				}
			}
			if tc.check != nil {
				tc.check(t, v, a)
			}
			next := uint64(len(tc.before))
			for seq := next; seq < next+3; seq++ {
				if v := handle(t, w, other.topics().Events, other.message(seq)); v.State != StateVerified || v.Gaps != nil {
					t.Fatalf("other device's event %d after the hostile message: %+v", seq, v)
				}
			}
		})
	}
}

// TestHandle_PendingCheckpointRootMismatch: a checkpoint that arrives before
// its events and does not match them is rejected when the last of them
// arrives, in that event's verdict.
func TestHandle_PendingCheckpointRootMismatch(t *testing.T) {
	w, _ := newWatcher(t)
	honest := newDevice(t, eventlogtest.Key(t))
	honest.append(0, 6)
	fork := newDevice(t, eventlogtest.Key(t))
	fork.append(50, 56)
	tp := honest.topics()
	if v := handle(t, w, tp.Checkpoints, fork.checkpoint()); v.State != StateReceived {
		t.Fatalf("checkpoint before its events: %+v", v)
	}
	var v Verdict
	for seq := range uint64(6) {
		v = handle(t, w, tp.Events, honest.message(seq))
	}
	if v.State != StateVerified || len(v.Checkpoints) != 1 || v.Checkpoints[0].Reason != ReasonRootMismatch {
		t.Fatalf("last event: %+v", v)
	}
}

// TestHandle_Gaps: a gap is reported when a later event arrives and closed
// when the backlog does.
func TestHandle_Gaps(t *testing.T) {
	w, _ := newWatcher(t)
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 12)
	tp := d.topics()
	steps := []struct {
		seq  uint64
		gaps []Gap
	}{
		{0, nil},
		{3, []Gap{{1, 3}}},
		{7, []Gap{{1, 3}, {4, 7}}},
		{2, []Gap{{1, 2}, {4, 7}}},
		{1, []Gap{{4, 7}}},
		{5, []Gap{{4, 5}, {6, 7}}},
		{4, []Gap{{6, 7}}},
		{6, nil},
		{11, []Gap{{8, 11}}},
	}
	for _, s := range steps {
		v := handle(t, w, tp.Events, d.message(s.seq))
		if v.State != StateVerified || !slices.Equal(v.Gaps, s.gaps) {
			t.Fatalf("after event %d: state %q gaps %v, want %v", s.seq, v.State, v.Gaps, s.gaps)
		}
	}
}

// TestHandle_NewEpoch: a device that moves its damaged log aside starts a
// new epoch; the watcher records and reports it and keeps the epochs apart.
func TestHandle_NewEpoch(t *testing.T) {
	ctx := context.Background()
	w, a := newWatcher(t)
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 5)
	tp := d.topics()
	for seq := range uint64(5) {
		if v := handle(t, w, tp.Events, d.message(seq)); v.State != StateVerified || v.NewEpoch != false {
			t.Fatalf("epoch 0 event %d: %+v", seq, v)
		}
	}
	d.restartEpoch()
	d.append(5, 8)
	if gaps, err := w.Gaps(ctx, d.key.Address(), 1); err != nil || gaps != nil {
		t.Fatalf("Gaps of epoch 1 before any message = %v, %v", gaps, err)
	}
	v := handle(t, w, tp.Events, d.message(0))
	if v.State != StateVerified || !v.NewEpoch || v.Epoch != 1 || v.Seq != 0 {
		t.Fatalf("first event of epoch 1: %+v", v)
	}
	if v := handle(t, w, tp.Events, d.message(1)); v.NewEpoch || v.Gaps != nil {
		t.Fatalf("second event of epoch 1: %+v", v)
	}
	if v := handle(t, w, tp.Checkpoints, d.checkpoint()); v.State != StateReceived || v.Epoch != 1 {
		t.Fatalf("checkpoint of epoch 1 before its third event: %+v", v)
	}
	if v := handle(t, w, tp.Events, d.message(2)); len(v.Checkpoints) != 1 || v.Checkpoints[0].State != StateVerified || v.State != StateCheckpointed {
		t.Fatalf("third event of epoch 1: %+v", v)
	}
	epochs, err := a.Epochs(ctx, d.key.Address())
	if err != nil || !slices.Equal(epochs, []uint32{0, 1}) {
		t.Fatalf("Epochs = %v, %v", epochs, err)
	}
	if n0, n1 := countLeaves(t, a, d.key.Address(), 0), countLeaves(t, a, d.key.Address(), 1); n0 != 5 || n1 != 3 {
		t.Fatalf("archived %d events of epoch 0 and %d of epoch 1, want 5 and 3", n0, n1)
	}
}

// TestWatcher_Restart: a watcher started again on the same archive file
// picks up where the last one stopped: redelivered events are duplicates,
// the gap is still open, and the backlog closes it.
func TestWatcher_Restart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 10)
	cp := d.checkpoint()
	tp := d.topics()
	addr := d.key.Address()

	a, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	w := watcherOn(t, a)
	for _, seq := range []uint64{0, 1, 2, 3, 4, 8} {
		handle(t, w, tp.Events, d.message(seq))
	}
	handle(t, w, tp.Checkpoints, cp) // waits for 5, 6, 7 and 9
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w = watcherOn(t, a)
	if gaps, err := w.Gaps(context.Background(), addr, 0); err != nil || !slices.Equal(gaps, []Gap{{5, 8}}) {
		t.Fatalf("gaps after restart = %v, %v", gaps, err)
	}
	if v := handle(t, w, tp.Events, d.message(3)); !v.Duplicate || !slices.Equal(v.Gaps, []Gap{{5, 8}}) {
		t.Fatalf("redelivered event 3: %+v", v)
	}
	if v := handle(t, w, tp.Events, d.message(8)); !v.Duplicate {
		t.Fatalf("redelivered event 8: %+v", v)
	}
	handle(t, w, tp.Checkpoints, cp) // the retained checkpoint, delivered again
	var v Verdict
	for _, seq := range []uint64{5, 6, 7, 9} {
		if v = handle(t, w, tp.Events, d.message(seq)); v.Duplicate || v.State == StateRejected {
			t.Fatalf("backlog event %d: %+v", seq, v)
		}
	}
	if v.Gaps != nil || len(v.Checkpoints) != 1 || v.Checkpoints[0].State != StateVerified || v.State != StateCheckpointed {
		t.Fatalf("last backlog event: %+v", v)
	}
	if n := countLeaves(t, a, addr, 0); n != 10 {
		t.Fatalf("archive holds %d events, want 10 (no duplicate)", n)
	}
	if epochs, _ := a.Epochs(context.Background(), addr); !slices.Equal(epochs, []uint32{0}) {
		t.Fatalf("epochs %v after restart, want [0] (a restart is no new epoch)", epochs)
	}
}

// TestNew_RefusesBadTrust: an invalid allowlist is refused with a message
// naming the entry.
func TestNew_RefusesBadTrust(t *testing.T) {
	good := trustOf(t, eventlogtest.Key(t))
	other := trustOf(t, key(t, otherKeyHex))
	for _, tc := range []struct {
		name string
		devs []Device
		want string
	}{
		{"Twice", []Device{good, good}, "listed twice"},
		{"NoChain", []Device{{Address: good.Address, Fleet: testFleet}}, "device 0"},
		{"BadFleet", []Device{{Address: good.Address, Fleet: "A/B", ChainID: 1}}, "device 0"},
		{"BadNoteKey", []Device{{Address: good.Address, Fleet: testFleet, ChainID: 1, NoteKey: "nope"}}, "note key"},
		{"AnotherDevicesNoteKey", []Device{{Address: good.Address, Fleet: testFleet, ChainID: 1, NoteKey: other.NoteKey}}, "is named"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Trust{Operators: []Operator{{Name: "op", Devices: tc.devs}}}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestWatchDoc_Reasons: firmware-docs/WATCH.md lists exactly the reason
// codes and states of the package.
func TestWatchDoc_Reasons(t *testing.T) {
	doc, err := os.ReadFile("../../firmware-docs/WATCH.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "## 5. Reason codes")
	table, _, _ = strings.Cut(table, "\n## ")
	var listed []Reason
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(table, -1) {
		listed = append(listed, Reason(m[1]))
	}
	if !slices.Equal(listed, Reasons) {
		t.Errorf("WATCH.md §5 lists %v, the package %v", listed, Reasons)
	}
	for _, s := range []State{StateReceived, StateVerified, StateCheckpointed, StateAnchored, StateWitnessed, StateRejected, StateIgnored} {
		if !strings.Contains(string(doc), "| `"+string(s)+"` |") {
			t.Errorf("WATCH.md §4 does not list state %q", s)
		}
	}
}

// TestHandle_ArchiveFails: when the archive cannot be written, Handle
// returns the error and concludes nothing; the message delivered again to
// a watcher on the reopened archive is verified once.
func TestHandle_ArchiveFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 3)
	tp := d.topics()
	a, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	w := watcherOn(t, a)
	handle(t, w, tp.Events, d.message(0))
	a.Close() // every write now fails
	for _, m := range [][2]string{{tp.Events, string(d.message(1))}, {tp.Events, "{"}, {"bad", "x"}} {
		if v, err := w.Handle(context.Background(), m[0], []byte(m[1])); err == nil {
			t.Fatalf("Handle on a closed archive: %+v, want an error", v)
		}
	}
	a, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w = watcherOn(t, a)
	for seq := range uint64(3) {
		if v := handle(t, w, tp.Events, d.message(seq)); v.State != StateVerified || v.Duplicate != (seq == 0) || v.Gaps != nil {
			t.Fatalf("event %d after reopening: %+v", seq, v)
		}
	}
	if n := countLeaves(t, a, d.key.Address(), 0); n != 3 {
		t.Fatalf("archive holds %d events, want 3", n)
	}
}
