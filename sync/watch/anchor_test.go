package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	tdnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/witness"
)

var witnessTime = time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)

func witnessKey(t testing.TB) *witness.Key {
	t.Helper()
	k, err := witness.NewKey("witness.city.example/waybill", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// witnessing returns a watcher of the test devices on a, cosigning with
// the test witness key, and the list its OnCosigned hook appends to.
func witnessing(t testing.TB, a Archive) (*Watcher, *[]Cosigned) {
	t.Helper()
	var got []Cosigned
	w, err := NewWithOptions(Trust{Operators: []Operator{
		{Name: "vans", Devices: []Device{trustOf(t, eventlogtest.Key(t))}},
		{Name: "bikes", Devices: []Device{trustOf(t, key(t, otherKeyHex))}},
	}}, a, Options{Witness: witnessKey(t), Now: func() time.Time { return witnessTime },
		OnCosigned: func(_ context.Context, c Cosigned) { got = append(got, c) }})
	if err != nil {
		t.Fatal(err)
	}
	return w, &got
}

// anchorOf returns a final anchor of the checkpoint note.
func anchorOf(t testing.TB, note []byte, device event.Address) Anchor {
	t.Helper()
	c, err := checkpoint.ParseCheckpoint(noteText(note))
	if err != nil {
		t.Fatal(err)
	}
	return Anchor{Device: device, Size: c.Size, Root: c.Root, ChainID: testChainID, Block: 40 + c.Size,
		Tx: [32]byte{byte(c.Size)}, Confirmations: 12, Final: true, Source: "registry"}
}

func handleAnchor(t testing.TB, w *Watcher, a Anchor) Verdict {
	t.Helper()
	v, err := w.HandleAnchor(context.Background(), a)
	if err != nil {
		t.Fatalf("HandleAnchor(size %d): %v", a.Size, err)
	}
	if (v.State == StateRejected) != (v.Reason != "") || (v.Reason != "") != (v.Err != nil) {
		t.Fatalf("HandleAnchor: state %q reason %q err %v disagree", v.State, v.Reason, v.Err)
	}
	return v
}

func openBolt(t testing.TB, path string) *Bolt {
	t.Helper()
	a, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestWatcher_AnchoredAndWitnessed: an anchor that arrives before the
// events it covers waits in the archive across a restart; every event
// ends anchored and witnessed; the cosigned checkpoints open with stock
// implementations of signed notes and tlog-cosignature.
func TestWatcher_AnchoredAndWitnessed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "archive.db")
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 4)
	cp4 := d.checkpoint()
	d.append(4, 10)
	cp10 := d.checkpoint()
	tp, addr := d.topics(), d.key.Address()

	a := openBolt(t, path)
	w, _ := witnessing(t, a)
	if v := handleAnchor(t, w, anchorOf(t, cp10, addr)); v.State != StateReceived {
		t.Fatalf("anchor before its events: %+v, want received", v)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = openBolt(t, path)
	w, cosigned := witnessing(t, a)
	var last Verdict
	for seq := range uint64(10) {
		last = handle(t, w, tp.Events, d.message(seq))
	}
	if len(last.Anchors) != 1 || last.Anchors[0].State != StateAnchored || last.Anchors[0].Size != 10 {
		t.Fatalf("the last event completes the waiting anchor: %+v", last.Anchors)
	}
	if last.State != StateVerified {
		t.Fatalf("event 9 is %q before any checkpoint, want verified (anchored needs checkpointed)", last.State)
	}
	early := anchorOf(t, cp4, addr)
	early.Final, early.Confirmations = false, 2
	if v := handleAnchor(t, w, early); v.State != StateVerified {
		t.Fatalf("matching anchor not final yet: %+v, want verified", v)
	}
	early.Final, early.Confirmations = true, 12
	if v := handleAnchor(t, w, early); v.State != StateAnchored {
		t.Fatalf("the same anchor, final: %+v, want anchored", v)
	}
	for _, cp := range [][]byte{cp4, cp10} {
		if v := handle(t, w, tp.Checkpoints, cp); v.State != StateVerified || !v.Cosigned {
			t.Fatalf("checkpoint %d: %+v, want verified and cosigned", v.Size, v)
		}
	}
	if v := handle(t, w, tp.Checkpoints, cp4); v.State != StateVerified || v.Cosigned {
		t.Fatalf("checkpoint 4 again: %+v, want verified, not cosigned again", v)
	}
	if sizes := []uint64{}; len(*cosigned) != 2 {
		t.Fatalf("OnCosigned called %d times, want 2", len(*cosigned))
	} else {
		for _, c := range *cosigned {
			sizes = append(sizes, c.Size)
			if c.Device != addr || c.Fleet != testFleet || c.Operator != "vans" || c.Epoch != 0 {
				t.Fatalf("OnCosigned got %+v", c)
			}
		}
		if !slices.Equal(sizes, []uint64{4, 10}) {
			t.Fatalf("cosigned sizes %v", sizes)
		}
	}

	p, err := w.Progress(ctx, addr, 0)
	if want := (Progress{Events: 10, Checkpointed: 10, Anchored: 10, Cosigned: 10}); err != nil || p != want {
		t.Fatalf("Progress = %+v, %v, want %+v", p, err, want)
	}
	for seq := range uint64(10) {
		if s, err := w.State(ctx, Key{Device: addr, Seq: seq}); err != nil || s != StateWitnessed {
			t.Fatalf("State(%d) = %q, %v, want witnessed", seq, s, err)
		}
	}

	co, err := w.Cosigned(ctx, addr, 0)
	if err != nil || !bytes.Equal(co, (*cosigned)[1].Note) {
		t.Fatalf("Cosigned = %q, %v, want the note handed to OnCosigned", co, err)
	}
	if !bytes.HasPrefix(co, cp10) {
		t.Fatalf("the cosigned note does not keep the device's note as it is:\n%s", co)
	}
	if ts, err := witness.VerifyCosignature(co, witnessKey(t).VerifierKey()); err != nil || !ts.Equal(witnessTime) {
		t.Fatalf("VerifyCosignature = %v, %v", ts, err)
	}
	if _, err := verify.VerifyNote(co, verify.Options{Device: &addr, Fleet: testFleet, ChainID: testChainID}); err != nil {
		t.Fatalf("the cosigned note no longer verifies as the device's: %v", err)
	}
	// Stock implementations: x/mod's signed notes for the device's
	// Ed25519 line, transparency-dev/formats for the cosignature.
	dev, err := note.NewVerifier(trustOf(t, eventlogtest.Key(t)).NoteKey)
	if err != nil {
		t.Fatal(err)
	}
	wit, err := tdnote.NewVerifierForCosignatureV1(witnessKey(t).VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(co, note.VerifierList(dev, wit))
	if err != nil {
		t.Fatalf("stock note.Open of the cosigned checkpoint: %v", err)
	}
	if len(n.Sigs) != 2 {
		t.Fatalf("stock verifiers verified %d lines, want the device's and the witness's", len(n.Sigs))
	}
	if ts, err := tdnote.CoSigV1Timestamp(n.Sigs[1]); err != nil || !ts.Equal(witnessTime) {
		t.Fatalf("stock cosignature time %v, %v", ts, err)
	}
}

// TestHandleAnchor_Mismatch: an anchored root that differs from the feed's
// is an alarm with evidence, whether the anchor comes after the events or
// before them; once it is raised the watcher cosigns nothing more of the
// origin, and the same anchor again is no second alarm.
func TestHandleAnchor_Mismatch(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 10)
	cp10 := d.checkpoint()
	fork := newDevice(t, eventlogtest.Key(t))
	fork.append(100, 112)
	forkCP := fork.checkpoint()
	tp, addr := d.topics(), d.key.Address()

	cases := []struct {
		name   string
		anchor Anchor
		before bool // the anchor arrives before the events
		proof  bool // the evidence carries a consistency proof to cp10
		leaves int  // and this many signed events beyond cp10
	}{
		{name: "SameSize", anchor: func() Anchor { a := anchorOf(t, cp10, addr); a.Root[0] ^= 1; return a }()},
		{name: "BelowTheCheckpoint", anchor: func() Anchor { a := anchorOf(t, cp10, addr); a.Size = 4; return a }(), proof: true},
		{name: "BeyondTheCheckpoint", anchor: func() Anchor { a := anchorOf(t, forkCP, addr); a.Size = 12; return a }(), leaves: 2},
		{name: "BeforeTheEvents", anchor: anchorOf(t, forkCP, addr), before: true, leaves: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t, eventlogtest.Key(t)) // the same log as cp10's, and more
			d.append(0, 10+tc.leaves)
			a := openBolt(t, filepath.Join(t.TempDir(), "archive.db"))
			w, cosigned := witnessing(t, a)
			var v Verdict
			if tc.before {
				if v := handleAnchor(t, w, tc.anchor); v.State != StateReceived {
					t.Fatalf("anchor before the events: %+v", v)
				}
			}
			handle(t, w, tp.Checkpoints, cp10)
			for seq := range uint64(10 + tc.leaves) {
				v = handle(t, w, tp.Events, d.message(seq))
			}
			if tc.before {
				if len(v.Anchors) != 1 {
					t.Fatalf("the last event's verdict carries %d anchors, want 1", len(v.Anchors))
				}
				v = v.Anchors[0]
			} else {
				v = handleAnchor(t, w, tc.anchor)
			}
			if v.State != StateRejected || v.Reason != ReasonAnchorMismatch || v.Alarm == nil {
				t.Fatalf("anchor with another root: %+v, want rejected anchor_mismatch with an alarm", v)
			}
			t.Log(v.Err)
			var e anchorEvidenceJSON
			if err := json.Unmarshal(v.Alarm.Evidence, &e); err != nil {
				t.Fatalf("evidence: %v\n%s", err, v.Alarm.Evidence)
			}
			var ea anchorJSON
			if err := json.Unmarshal(e.Anchor, &ea); err != nil || !bytes.Equal(ea.Root, tc.anchor.Root[:]) || ea.Size != tc.anchor.Size {
				t.Fatalf("evidence anchor %s, %v", e.Anchor, err)
			}
			if !bytes.Equal([]byte(e.Checkpoint), cp10) || (len(e.Proof) > 0) != tc.proof || len(e.Leaves) != tc.leaves {
				t.Fatalf("evidence: checkpoint %t, %d proof hashes, %d leaves", bytes.Equal([]byte(e.Checkpoint), cp10), len(e.Proof), len(e.Leaves))
			}
			c, _ := checkpoint.ParseCheckpoint(noteText(cp10))
			if tc.proof {
				var p []merkle.Hash
				for _, h := range e.Proof {
					p = append(p, merkle.Hash(h))
				}
				if err := merkle.CheckConsistency(p, tc.anchor.Size, c.Size, merkle.Hash(e.Root), c.Root); err != nil {
					t.Fatalf("evidence proof: %v", err)
				}
			} else {
				f, _ := merkle.NewFrontier(0, nil)
				var ls [][]byte
				a.Leaves(ctx, addr, 0, 0, func(_ uint64, l []byte) bool { ls = append(ls, l); return uint64(len(ls)) < tc.anchor.Size })
				for _, l := range ls {
					f.Append(merkle.LeafHash(l))
				}
				if f.Root() != merkle.Hash(e.Root) || f.Root() == merkle.Hash(tc.anchor.Root) {
					t.Fatalf("evidence root %x is not the root of the archived leaves %s", e.Root, f.Root())
				}
			}
			// Again: the conclusion is not drawn twice.
			if v := handleAnchor(t, w, tc.anchor); v.State != StateRejected || v.Alarm != nil {
				t.Fatalf("the same anchor again: %+v, want rejected, no new alarm", v)
			}
			var alarms, records int
			a.Alarms(ctx, func(Alarm) bool { alarms++; return true })
			a.Rejected(ctx, ReasonAnchorMismatch, func(Record) bool { records++; return true })
			if alarms != 1 || records != 1 {
				t.Fatalf("%d alarms, %d records, want one each", alarms, records)
			}
			// No more cosignatures of the origin, even after a restart.
			*cosigned = nil
			d.append(10+tc.leaves, 14)
			for seq := uint64(10 + tc.leaves); seq < 14; seq++ {
				handle(t, w, tp.Events, d.message(seq))
			}
			w2, cosigned2 := witnessing(t, a)
			for i, w := range []*Watcher{w, w2} {
				if v := handle(t, w, tp.Checkpoints, d.checkpoint()); v.State != StateVerified || v.Cosigned {
					t.Fatalf("watcher %d: a checkpoint after the alarm: %+v, want verified, not cosigned", i, v)
				}
			}
			if len(*cosigned)+len(*cosigned2) != 0 {
				t.Fatal("a checkpoint of a forked origin was cosigned")
			}
		})
	}
}
