// Package archivetest is the conformance suite of the watch.Archive
// contract: every Archive implementation runs it from its own tests.
package archivetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Devices used by the suite.
var (
	devA = event.Address{0xaa, 1}
	devB = event.Address{0xaa, 2} // shares devA's first byte: keys must not bleed across devices
)

// Run runs the conformance suite against archives returned by open, which
// must return a new, empty archive on each call (and close it when t ends).
// The optional watch.FrontierStore is tested when the archive implements it.
// The suite ends with watchers on the archive handling many devices' feeds
// concurrently.
func Run(t *testing.T, open func(t *testing.T) watch.Archive) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, watch.Archive)
	}{
		{"Events", testEvents},
		{"Leaves", testLeaves},
		{"Checkpoints", testCheckpoints},
		{"Received", testReceived},
		{"Cosigned", testCosigned},
		{"Anchors", testAnchors},
		{"Progress", testProgress},
		{"Epochs", testEpochs},
		{"Alarms", testAlarms},
		{"Rejected", testRejected},
		{"Concurrent", testConcurrent},
		{"Frontier", testFrontier},
		{"Watchers", testWatchers},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func leaf(dev event.Address, epoch uint32, seq uint64) []byte {
	return fmt.Appendf(nil, "leaf %s/%d/%d", dev, epoch, seq)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, a watch.Archive, k watch.Key, l []byte) []byte {
	t.Helper()
	prev, err := a.PutEvent(context.Background(), k, l)
	if err != nil {
		t.Fatalf("PutEvent(%v): %v", k, err)
	}
	return prev
}

func leaves(t *testing.T, a watch.Archive, dev event.Address, epoch uint32, from uint64, limit int) (seqs []uint64, ls [][]byte) {
	t.Helper()
	err := a.Leaves(context.Background(), dev, epoch, from, func(seq uint64, l []byte) bool {
		seqs = append(seqs, seq)
		ls = append(ls, bytes.Clone(l))
		return limit <= 0 || len(seqs) < limit
	})
	must(t, err)
	return seqs, ls
}

func progress(t *testing.T, a watch.Archive, dev event.Address, epoch uint32) watch.Progress {
	t.Helper()
	p, err := a.Progress(context.Background(), dev, epoch)
	must(t, err)
	return p
}

// testEvents: PutEvent stores once by key, returns what the key held, and
// never overwrites it.
func testEvents(t *testing.T, a watch.Archive) {
	k := watch.Key{Device: devA, Epoch: 0, Seq: 5}
	if prev := put(t, a, k, []byte("one")); prev != nil {
		t.Fatalf("first PutEvent returned %q, want nil", prev)
	}
	if prev := put(t, a, k, []byte("one")); string(prev) != "one" {
		t.Fatalf("PutEvent of the same bytes returned %q, want %q", prev, "one")
	}
	if prev := put(t, a, k, []byte("two")); string(prev) != "one" {
		t.Fatalf("PutEvent of other bytes returned %q, want %q", prev, "one")
	}
	if _, ls := leaves(t, a, devA, 0, 0, 0); len(ls) != 1 || string(ls[0]) != "one" {
		t.Fatalf("archive holds %q under the key, want [one]: overwritten or duplicated", ls)
	}
	for _, other := range []watch.Key{{Device: devA, Epoch: 1, Seq: 5}, {Device: devB, Epoch: 0, Seq: 5}, {Device: devA, Epoch: 0, Seq: 6}} {
		if prev := put(t, a, other, []byte("three")); prev != nil {
			t.Fatalf("PutEvent(%v) returned %q of another key", other, prev)
		}
	}
	if p := progress(t, a, devA, 0); p.Events != 2 {
		t.Fatalf("Progress of %s/0 counts %d events, want 2", devA, p.Events)
	}
}

// testLeaves: Leaves returns one origin's events in sequence order, from a
// given sequence number, and stops when told.
func testLeaves(t *testing.T, a watch.Archive) {
	order := []uint64{7, 0, 300, 2, 1, 256, 3}
	for _, s := range order {
		put(t, a, watch.Key{Device: devA, Epoch: 2, Seq: s}, leaf(devA, 2, s))
		put(t, a, watch.Key{Device: devB, Epoch: 2, Seq: s + 1000}, leaf(devB, 2, s))
		put(t, a, watch.Key{Device: devA, Epoch: 3, Seq: s + 2000}, leaf(devA, 3, s))
	}
	sorted := slices.Sorted(slices.Values(order))
	seqs, ls := leaves(t, a, devA, 2, 0, 0)
	if !slices.Equal(seqs, sorted) {
		t.Fatalf("Leaves from 0 = %v, want %v", seqs, sorted)
	}
	for i, s := range seqs {
		if !bytes.Equal(ls[i], leaf(devA, 2, s)) {
			t.Fatalf("Leaves: event %d is %q", s, ls[i])
		}
	}
	if seqs, _ := leaves(t, a, devA, 2, 3, 0); !slices.Equal(seqs, []uint64{3, 7, 256, 300}) {
		t.Fatalf("Leaves from 3 = %v", seqs)
	}
	if seqs, _ := leaves(t, a, devA, 2, 4, 2); !slices.Equal(seqs, []uint64{7, 256}) {
		t.Fatalf("Leaves from 4, stopped after 2 = %v", seqs)
	}
	if seqs, _ := leaves(t, a, devA, 2, 301, 0); seqs != nil {
		t.Fatalf("Leaves past the end = %v", seqs)
	}
	if seqs, _ := leaves(t, a, devA, 9, 0, 0); seqs != nil {
		t.Fatalf("Leaves of an unknown epoch = %v", seqs)
	}
}

// testCheckpoints: the checkpoint of the largest size is the latest; one
// stored under a size is never overwritten; Checkpointed only moves up.
func testCheckpoints(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	if n, err := a.Checkpoint(ctx, devA, 0); err != nil || n != nil {
		t.Fatalf("Checkpoint of an empty origin = %q, %v", n, err)
	}
	must(t, a.PutCheckpoint(ctx, devA, 0, 10, []byte("cp10")))
	must(t, a.PutCheckpoint(ctx, devA, 0, 4, []byte("cp4")))
	must(t, a.PutCheckpoint(ctx, devA, 0, 10, []byte("cp10 other")))
	must(t, a.PutCheckpoint(ctx, devB, 0, 20, []byte("B cp20")))
	must(t, a.PutCheckpoint(ctx, devA, 1, 30, []byte("A1 cp30")))
	if n, err := a.Checkpoint(ctx, devA, 0); err != nil || string(n) != "cp10" {
		t.Fatalf("Checkpoint = %q, %v, want cp10 (the largest, first stored)", n, err)
	}
	if p := progress(t, a, devA, 0); p.Checkpointed != 10 {
		t.Fatalf("Checkpointed = %d, want 10", p.Checkpointed)
	}
	must(t, a.PutCheckpoint(ctx, devA, 0, 12, []byte("cp12")))
	if n, _ := a.Checkpoint(ctx, devA, 0); string(n) != "cp12" {
		t.Fatalf("Checkpoint after cp12 = %q", n)
	}
	if p := progress(t, a, devA, 0); p.Checkpointed != 12 || p.Events != 0 {
		t.Fatalf("Progress = %+v, want Checkpointed 12 and no events", p)
	}
}

// testReceived: received checkpoints are kept by size, in size order.
func testReceived(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	for _, s := range []uint64{9, 3, 5} {
		must(t, a.PutReceived(ctx, devA, 0, s, fmt.Appendf(nil, "r%d", s)))
	}
	must(t, a.PutReceived(ctx, devA, 0, 5, []byte("r5 other")))
	must(t, a.PutReceived(ctx, devB, 0, 4, []byte("B r4")))
	var got []string
	must(t, a.Received(ctx, devA, 0, 4, func(size uint64, note []byte) bool {
		got = append(got, fmt.Sprintf("%d:%s", size, note))
		return true
	}))
	if want := []string{"5:r5", "9:r9"}; !slices.Equal(got, want) {
		t.Fatalf("Received from 4 = %v, want %v", got, want)
	}
	if p := progress(t, a, devA, 0); p.Checkpointed != 0 {
		t.Fatalf("a received checkpoint raised Checkpointed to %d", p.Checkpointed)
	}
}

// testCosigned: as checkpoints, for cosigned notes and their mark.
func testCosigned(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	if n, err := a.Cosigned(ctx, devA, 0); err != nil || n != nil {
		t.Fatalf("Cosigned of an empty origin = %q, %v", n, err)
	}
	must(t, a.PutCosigned(ctx, devA, 0, 8, []byte("co8")))
	must(t, a.PutCosigned(ctx, devA, 0, 2, []byte("co2")))
	must(t, a.PutCosigned(ctx, devA, 0, 8, []byte("co8 again")))
	must(t, a.PutCosigned(ctx, devB, 0, 9, []byte("B co9")))
	if n, err := a.Cosigned(ctx, devA, 0); err != nil || string(n) != "co8" {
		t.Fatalf("Cosigned = %q, %v, want co8", n, err)
	}
	if p := progress(t, a, devA, 0); p.Cosigned != 8 {
		t.Fatalf("Cosigned mark = %d, want 8", p.Cosigned)
	}
}

// testAnchors: anchors are kept by key, merged so that confirmations and
// finality only move forward, and listed by size.
func testAnchors(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	base := watch.Anchor{Device: devA, Epoch: 1, Size: 10, Root: [32]byte{1}, ChainID: 1337, Block: 100,
		Tx: [32]byte{0xee}, Confirmations: 1, Source: "registry"}
	later := base
	later.Block, later.Confirmations, later.Final = 101, 12, true
	stale := base
	stale.Confirmations = 3
	other := base
	other.Size, other.Root, other.Tx = 4, [32]byte{2}, [32]byte{0xef}
	otherChain := base
	otherChain.ChainID = 1
	for _, x := range []watch.Anchor{base, later, stale, other, otherChain, {Device: devB, Epoch: 1, Size: 7}} {
		must(t, a.PutAnchor(ctx, x))
	}
	var got []watch.Anchor
	must(t, a.Anchors(ctx, devA, 1, 0, func(x watch.Anchor) bool { got = append(got, x); return true }))
	if len(got) != 3 || got[0] != other {
		t.Fatalf("Anchors = %+v, want 3, the size-4 one first", got)
	}
	var merged, chain1 bool
	for _, x := range got[1:] {
		switch x.ChainID {
		case 1337:
			merged = x == later
		case 1:
			chain1 = x == otherChain
		}
	}
	if !merged || !chain1 {
		t.Fatalf("Anchors at size 10 = %+v, want %+v (merged: final, 12 confirmations) and %+v", got[1:], later, otherChain)
	}
	got = nil
	must(t, a.Anchors(ctx, devA, 1, 5, func(x watch.Anchor) bool { got = append(got, x); return false }))
	if len(got) != 1 || got[0].Size != 10 {
		t.Fatalf("Anchors from 5, stopped after one = %+v", got)
	}
}

// testProgress: marks only move up, each on its own, per origin, and
// Origins lists every origin with events.
func testProgress(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	for s := range uint64(6) {
		put(t, a, watch.Key{Device: devA, Epoch: 0, Seq: s}, leaf(devA, 0, s))
	}
	put(t, a, watch.Key{Device: devB, Epoch: 3, Seq: 0}, leaf(devB, 3, 0))
	must(t, a.PutCheckpoint(ctx, devA, 0, 6, []byte("cp6")))
	must(t, a.RaiseAnchored(ctx, devA, 0, 4))
	must(t, a.RaiseAnchored(ctx, devA, 0, 2))
	must(t, a.PutCosigned(ctx, devA, 0, 6, []byte("co6")))
	must(t, a.PutCheckpoint(ctx, devA, 0, 3, []byte("cp3")))
	want := watch.Progress{Events: 6, Checkpointed: 6, Anchored: 4, Cosigned: 6}
	if p := progress(t, a, devA, 0); p != want {
		t.Fatalf("Progress = %+v, want %+v", p, want)
	}
	if p := progress(t, a, devA, 7); p != (watch.Progress{}) {
		t.Fatalf("Progress of an unknown origin = %+v", p)
	}
	var got []watch.Origin
	must(t, a.Origins(ctx, func(o watch.Origin) bool { got = append(got, o); return true }))
	wantO := []watch.Origin{{Device: devA, Epoch: 0, Progress: want}, {Device: devB, Epoch: 3, Progress: watch.Progress{Events: 1}}}
	if !slices.Equal(got, wantO) {
		t.Fatalf("Origins = %+v, want %+v", got, wantO)
	}
}

// testEpochs: AddEpoch reports a new epoch once; Epochs are per device,
// in increasing order.
func testEpochs(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	for _, tc := range []struct {
		dev   event.Address
		epoch uint32
		added bool
	}{{devA, 2, true}, {devA, 0, true}, {devA, 2, false}, {devB, 1, true}, {devA, 1 << 20, true}, {devB, 1, false}} {
		added, err := a.AddEpoch(ctx, tc.dev, tc.epoch)
		if err != nil || added != tc.added {
			t.Fatalf("AddEpoch(%s, %d) = %v, %v, want %v", tc.dev, tc.epoch, added, err, tc.added)
		}
	}
	if es, err := a.Epochs(ctx, devA); err != nil || !slices.Equal(es, []uint32{0, 2, 1 << 20}) {
		t.Fatalf("Epochs(A) = %v, %v", es, err)
	}
	if es, err := a.Epochs(ctx, event.Address{0xaa}); err != nil || len(es) != 0 {
		t.Fatalf("Epochs of an unknown device = %v, %v", es, err)
	}
}

// testAlarms: an alarm is stored once by its ID, in order, intact.
func testAlarms(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)
	x := watch.Alarm{Time: t0, Device: devA, Epoch: 1, Reason: watch.ReasonEquivocation, Detail: "two events", Evidence: []byte(`{"e":1}`)}
	y := x
	y.Evidence = []byte(`{"e":2}`)
	z := watch.Alarm{Time: t0, Device: devB, Reason: watch.ReasonAnchorMismatch, Detail: "no evidence"}
	again := x
	again.Time, again.Detail = t0.Add(time.Hour), "seen again"
	for i, tc := range []struct {
		a     watch.Alarm
		added bool
	}{{x, true}, {y, true}, {again, false}, {z, true}, {z, false}} {
		added, err := a.PutAlarm(ctx, tc.a)
		if err != nil || added != tc.added {
			t.Fatalf("PutAlarm #%d = %v, %v, want %v", i, added, err, tc.added)
		}
	}
	var got []watch.Alarm
	must(t, a.Alarms(ctx, func(al watch.Alarm) bool { got = append(got, al); return true }))
	if len(got) != 3 {
		t.Fatalf("Alarms = %d, want 3", len(got))
	}
	for i, w := range []watch.Alarm{x, y, z} {
		g := got[i]
		if !g.Time.Equal(w.Time) || g.Device != w.Device || g.Epoch != w.Epoch || g.Reason != w.Reason ||
			g.Detail != w.Detail || !bytes.Equal(g.Evidence, w.Evidence) || g.ID() != w.ID() {
			t.Fatalf("alarm %d = %+v, want %+v", i, g, w)
		}
	}
}

// testRejected: records are kept by reason, in order; unknown_device apart.
func testRejected(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)
	recs := []watch.Record{
		{Time: t0, Topic: "t/1", Payload: []byte("x"), Reason: watch.ReasonMalformed, Detail: "1"},
		{Time: t0, Topic: "t/2", Payload: []byte{0, 0xff}, Reason: watch.ReasonUnknownDevice, Detail: "2"},
		{Time: t0, Topic: "t/3", Payload: []byte("z"), Reason: watch.ReasonBadSignature, Detail: "3"},
		{Time: t0, Topic: "t/4", Payload: []byte("x"), Reason: watch.ReasonMalformed, Detail: "4"},
		{Time: t0, Topic: "t/2", Payload: []byte{0, 0xff}, Reason: watch.ReasonUnknownDevice, Detail: "2"},
	}
	for _, r := range recs {
		must(t, a.PutRejected(ctx, r))
	}
	for _, tc := range []struct {
		reason watch.Reason
		want   []string
	}{
		{watch.ReasonMalformed, []string{"1", "4"}},
		{watch.ReasonUnknownDevice, []string{"2", "2"}},
		{watch.ReasonBadSignature, []string{"3"}},
		{watch.ReasonEquivocation, nil},
	} {
		var got []string
		must(t, a.Rejected(ctx, tc.reason, func(r watch.Record) bool {
			if r.Reason != tc.reason || !r.Time.Equal(t0) || r.Topic == "" {
				t.Errorf("Rejected(%s) gave %+v", tc.reason, r)
			}
			if r.Reason == watch.ReasonUnknownDevice && !bytes.Equal(r.Payload, []byte{0, 0xff}) {
				t.Errorf("unknown_device payload %x, want 00ff", r.Payload)
			}
			got = append(got, r.Detail)
			return true
		}))
		if !slices.Equal(got, tc.want) {
			t.Fatalf("Rejected(%s) = %v, want %v", tc.reason, got, tc.want)
		}
	}
	n := 0
	must(t, a.Rejected(ctx, watch.ReasonMalformed, func(watch.Record) bool { n++; return false }))
	if n != 1 {
		t.Fatalf("Rejected went on after fn returned false: %d calls", n)
	}
}

// testConcurrent: several writers storing the same events, checkpoints and
// marks at once (as several watchers on one archive) leave each event
// once and each mark at its largest value.
func testConcurrent(t *testing.T, a watch.Archive) {
	ctx := context.Background()
	const writers, events = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	stored := make([]int, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range uint64(events) {
				s := (i + uint64(w)*7) % events // each writer in its own order
				prev, err := a.PutEvent(ctx, watch.Key{Device: devA, Epoch: 4, Seq: s}, leaf(devA, 4, s))
				if err == nil && prev == nil {
					stored[w]++
				}
				if err == nil && prev != nil && !bytes.Equal(prev, leaf(devA, 4, s)) {
					err = fmt.Errorf("event %d holds %q", s, prev)
				}
				if err == nil {
					err = a.PutCheckpoint(ctx, devA, 4, s, fmt.Appendf(nil, "cp%d", s))
				}
				if err == nil {
					err = a.RaiseAnchored(ctx, devA, 4, s)
				}
				if err == nil {
					err = a.PutCosigned(ctx, devA, 4, s, fmt.Appendf(nil, "co%d by %d", s, w))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, n := range stored {
		total += n
	}
	if total != events {
		t.Fatalf("writers were told %d events were new, want %d", total, events)
	}
	if seqs, _ := leaves(t, a, devA, 4, 0, 0); len(seqs) != events {
		t.Fatalf("archive holds %d events, want %d", len(seqs), events)
	}
	want := watch.Progress{Events: events, Checkpointed: events - 1, Anchored: events - 1, Cosigned: events - 1}
	if p := progress(t, a, devA, 4); p != want {
		t.Fatalf("Progress = %+v, want %+v", p, want)
	}
	if n, _ := a.Checkpoint(ctx, devA, 4); string(n) != fmt.Sprintf("cp%d", events-1) {
		t.Fatalf("Checkpoint = %q", n)
	}
}

// testFrontier: the stored frontier is per origin and only moves to larger
// sizes.
func testFrontier(t *testing.T, a watch.Archive) {
	fs, ok := a.(watch.FrontierStore)
	if !ok {
		t.Skip("the archive is no watch.FrontierStore")
	}
	ctx := context.Background()
	if n, nodes, err := fs.Frontier(ctx, devA, 0); err != nil || n != 0 || len(nodes) != 0 {
		t.Fatalf("Frontier of an empty origin = %d, %v, %v", n, nodes, err)
	}
	must(t, fs.PutFrontier(ctx, devA, 0, 3, []merkle.Hash{{1}, {2}}))
	must(t, fs.PutFrontier(ctx, devA, 0, 2, []merkle.Hash{{7}}))
	must(t, fs.PutFrontier(ctx, devA, 0, 3, []merkle.Hash{{8}, {9}}))
	must(t, fs.PutFrontier(ctx, devB, 0, 4, []merkle.Hash{{4}}))
	n, nodes, err := fs.Frontier(ctx, devA, 0)
	if err != nil || n != 3 || !slices.Equal(nodes, []merkle.Hash{{1}, {2}}) {
		t.Fatalf("Frontier = %d, %v, %v; want the first of size 3", n, nodes, err)
	}
	must(t, fs.PutFrontier(ctx, devA, 0, 5, []merkle.Hash{{5}, {6}}))
	if n, nodes, err := fs.Frontier(ctx, devA, 0); err != nil || n != 5 || !slices.Equal(nodes, []merkle.Hash{{5}, {6}}) {
		t.Fatalf("Frontier after size 5 = %d, %v, %v", n, nodes, err)
	}
	if n, _, _ := fs.Frontier(ctx, devA, 1); n != 0 {
		t.Fatalf("Frontier of another epoch has size %d", n)
	}
}
