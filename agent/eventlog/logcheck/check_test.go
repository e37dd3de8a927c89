package logcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// ckXorAll xors mask into the byte at offset off of every copy of pattern in
// the log's segment files (bbolt leaves stale copies in freed pages), and
// returns how many copies it changed.
func ckXorAll(t *testing.T, dir string, pattern []byte, off int, mask byte) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "epoch-*", "seg-*.db"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		changed := false
		for i := 0; ; {
			j := bytes.Index(b[i:], pattern)
			if j < 0 {
				break
			}
			b[i+j+off] ^= mask
			n++
			changed = true
			i += j + len(pattern)
		}
		if changed {
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n == 0 {
		t.Fatalf("pattern not found in the segment files")
	}
	return n
}

func ckWantProblem(t *testing.T, rep *Report, err error, want ...string) {
	t.Helper()
	if err == nil || rep.Problem == nil || !errors.Is(err, ErrFailed) {
		t.Fatalf("Check = %v (problem %v); want a problem", err, rep.Problem)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("Check problem %q does not contain %q", err, w)
		}
	}
	t.Logf("problem: %v", err)
}

func TestCheck_GoodLog(t *testing.T) {
	dir := t.TempDir()
	const n = 300
	eventlogtest.Build(t, dir, n, 64<<10, 1, 100, 250, 300)
	m, err := eventlog.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) < 2 {
		t.Fatalf("want several segments, got %d", len(m.Segments))
	}
	var progress []uint64
	rep, err := Check(context.Background(), dir, Options{ProgressEvery: 100, Progress: func(v, total uint64) {
		if total != n {
			t.Errorf("progress total %d", total)
		}
		progress = append(progress, v)
	}})
	if err != nil || rep.Problem != nil {
		t.Fatalf("Check = %v, %v", err, rep.Problem)
	}
	if rep.Events != n || rep.Size != n || rep.Segments != len(m.Segments) || rep.Checkpoints != 4 {
		t.Fatalf("report %+v; want %d events, %d segments, 4 checkpoints", rep, n, len(m.Segments))
	}
	if len(progress) != 3 || progress[2] != n {
		t.Fatalf("progress calls %v", progress)
	}
	// With one worker the result is the same.
	if rep, err := Check(context.Background(), dir, Options{Workers: 1}); err != nil || rep.Events != n {
		t.Fatalf("Check with one worker = %+v, %v", rep, err)
	}
	// A reader may have the log open at the same time.
	l, err := eventlog.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Check(context.Background(), dir, Options{}); err != nil {
		t.Fatalf("Check beside a reader: %v", err)
	}
}

func TestCheck_EmptyLogAndLocked(t *testing.T) {
	dir := t.TempDir()
	l := eventlogtest.Open(t, dir, nil)
	_, err := Check(context.Background(), dir, Options{})
	if !errors.Is(err, eventlog.ErrLocked) {
		t.Fatalf("Check of a log open for writing = %v; want ErrLocked", err)
	}
	l.Close()
	rep, err := Check(context.Background(), dir, Options{})
	if err != nil || rep.Events != 0 || rep.Segments != 1 {
		t.Fatalf("Check of an empty log = %+v, %v", rep, err)
	}
}

func TestCheck_FlippedLeafByte(t *testing.T) {
	dir := t.TempDir()
	leaves := eventlogtest.Build(t, dir, 300, 64<<10, 200)
	// Change the parcel number inside the payload of event 123 ("P000123"
	// becomes "P000122"): still canonical, but no longer what was signed.
	leaf := leaves[123]
	off := bytes.Index(leaf, []byte("P000123"))
	ckXorAll(t, dir, leaf, off+6, 1)
	rep, err := Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "epoch 0, epoch-0/seg-", "event 123: its bytes are damaged", "signature does not verify", "--leaf")
	if !errors.Is(err, signer.ErrSignature) || rep.Problem.Seq != 123 || rep.DamagedEvents != 1 || rep.Events != 299 {
		t.Fatalf("problem %+v, %d damaged, events %d; want event 123 damaged and the other 299 verified", rep.Problem, rep.DamagedEvents, rep.Events)
	}
	// A byte that breaks the JSON is reported as such.
	dir2 := t.TempDir()
	leaves = eventlogtest.Build(t, dir2, 50, 1<<20)
	ckXorAll(t, dir2, leaves[7], 0, 0xff)
	rep, err = Check(context.Background(), dir2, Options{})
	ckWantProblem(t, rep, err, "event 7: its bytes are damaged", "leaf does not parse")
}

// TestCheck_ListsEveryDamagedEvent damages the bytes of three events in
// different segments: Check goes on past each, verifies every other event
// and lists the three. A stored hash damaged after them stops the check
// there, with the damaged events before it listed.
func TestCheck_ListsEveryDamagedEvent(t *testing.T) {
	dir := t.TempDir()
	leaves := eventlogtest.Build(t, dir, 300, 64<<10, 100, 300)
	for _, seq := range []int{10, 123, 250} {
		if n := ckXorAll(t, dir, []byte(fmt.Sprintf(`"parcel":"P%06d"`, seq)), len(`"parcel":"P`), '0'^'9'); n == 0 {
			t.Fatalf("event %d not found", seq)
		}
	}
	rep, err := Check(context.Background(), dir, Options{Workers: 2})
	ckWantProblem(t, rep, err, "event 10: its bytes are damaged", "3 event(s) have damaged bytes: 10 (epoch-0/seg-", "123 (epoch-0/seg-", "250 (epoch-0/seg-")
	var got []uint64
	for _, d := range rep.Damaged {
		got = append(got, d.Seq)
	}
	if rep.DamagedEvents != 3 || fmt.Sprint(got) != "[10 123 250]" || rep.Events != 297 || rep.Checkpoints != 2 {
		t.Fatalf("%d damaged %v, %d events, %d checkpoints; want 10, 123, 250 and the other 297 events and both checkpoints verified",
			rep.DamagedEvents, got, rep.Events, rep.Checkpoints)
	}
	lh := merkle.LeafHash(leaves[200])
	ckXorAll(t, dir, lh[:], 5, 0x40)
	rep, err = Check(context.Background(), dir, Options{Workers: 2})
	ckWantProblem(t, rep, err, "event 200: stored leaf hash")
	if rep.DamagedEvents != 2 || rep.Problem.Seq != 200 {
		t.Fatalf("%d damaged, problem %v; want events 10 and 123 listed and the check stopped at event 200", rep.DamagedEvents, rep.Problem)
	}
}

func TestCheck_CorruptStoredHash(t *testing.T) {
	dir := t.TempDir()
	leaves := eventlogtest.Build(t, dir, 120, 1<<20)
	lh := merkle.LeafHash(leaves[57])
	ckXorAll(t, dir, lh[:], 5, 0x40)
	rep, err := Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "event 57: stored leaf hash")

	// A stored interior node: event 59 completes node (1, 29).
	dir = t.TempDir()
	leaves = eventlogtest.Build(t, dir, 120, 1<<20)
	node := merkle.NodeHash(merkle.LeafHash(leaves[58]), merkle.LeafHash(leaves[59]))
	ckXorAll(t, dir, node[:], 0, 1)
	rep, err = Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "event 59: stored node (1, 29)")
}

func TestCheck_WrongCheckpoint(t *testing.T) {
	k := eventlogtest.Key(t)
	id := eventlogtest.Identity(k)
	signers, err := k.NoteSigners(id.KeyName(), id.Domain())
	if err != nil {
		t.Fatal(err)
	}
	cpPath := func(dir string) string { return filepath.Join(dir, "epoch-0", "checkpoint") }

	// A validly signed checkpoint whose root is not the tree's.
	dir := t.TempDir()
	eventlogtest.Build(t, dir, 200, 1<<20, 200)
	note, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: id.Origin(0), Size: 150, Root: merkle.LeafHash([]byte("no"))}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cpPath(dir), note, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "epoch 0, epoch-0/checkpoint, event 149: checkpoint of size 150 signs root")

	// A checkpoint larger than the log.
	note, _ = checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: id.Origin(0), Size: 201, Root: merkle.LeafHash(nil)}, signers...)
	os.WriteFile(cpPath(dir), note, 0o644)
	rep, err = Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "signed at size 201 but the log holds 200 events")

	// A checkpoint of another origin.
	note, _ = checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: id.Origin(3), Size: 2, Root: merkle.LeafHash(nil)}, signers...)
	os.WriteFile(cpPath(dir), note, 0o644)
	rep, err = Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "not \""+id.Origin(0)+"\"")

	// A tampered note: its signature no longer verifies.
	dir = t.TempDir()
	eventlogtest.Build(t, dir, 40, 1<<20, 40)
	b, _ := os.ReadFile(cpPath(dir))
	b = bytes.Replace(b, []byte("\n40\n"), []byte("\n39\n"), 1)
	os.WriteFile(cpPath(dir), b, 0o644)
	rep, err = Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "epoch-0/checkpoint: latest checkpoint: signed note does not verify")
}

func TestCheck_ManifestAndSegmentMeta(t *testing.T) {
	dir := t.TempDir()
	eventlogtest.Build(t, dir, 300, 64<<10)
	m, err := eventlog.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Segments[1].First++
	eventlogtest.WriteManifest(t, dir, m)
	rep, err := Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "epoch 0, epoch-0/seg-000000.db: segment ends at size")
	m.Segments[1].First--
	os.Remove(filepath.Join(dir, m.Segments[1].File))
	eventlogtest.WriteManifest(t, dir, m)
	rep, err = Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, "epoch-0/seg-000001.db: segment file:")
}

// TestCheck_TopNodes builds a log of more than 2^16 events in several
// segments (through eventlog.WriteSalvaged, from events signed here) so that top nodes
// exist and are copied into later segments, then corrupts one copy.
func TestCheck_TopNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("signs and verifies 66000 events three times (about 40 s on 2 CPUs)")
	}
	k := eventlogtest.Key(t)
	id := *eventlogtest.Identity(k)
	const n = 1<<16 + 500
	leaves := make([][]byte, n)
	var wg sync.WaitGroup
	for w := range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += runtime.NumCPU() {
				ev := eventlogtest.Event(i)
				ev.Seq = uint64(i)
				s, err := k.SignEvent(id.Domain(), ev)
				if err != nil {
					panic(err)
				}
				if leaves[i], err = s.Leaf(); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	f, _ := merkle.NewFrontier(0, nil)
	for _, l := range leaves {
		f.Append(merkle.LeafHash(l))
	}
	signers, _ := k.NoteSigners(id.KeyName(), id.Domain())
	note, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: id.Origin(0), Size: n, Root: f.Root()}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = eventlog.WriteSalvaged(context.Background(), dir, eventlog.Salvaged{
		Identity: id, Epoch: 0, Info: eventlog.EpochInfo{Epoch: 0, Origin: id.Origin(0), Started: "2026-11-27T08:00:00Z"},
		From: "test", Size: n, Leaf: func(q uint64) ([]byte, error) { return leaves[q], nil },
		Notes: map[uint64][]byte{n: note}, Latest: note, SegmentBytes: 8 << 20, Workers: runtime.NumCPU(),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventlog.ReadManifest(dir)
	if len(m.Segments) < 3 {
		t.Fatalf("%d segments", len(m.Segments))
	}
	start := time.Now()
	rep, err := Check(context.Background(), dir, Options{})
	if err != nil || rep.Events != n || rep.Checkpoints != 1 {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	t.Logf("checked %d events in %d segments in %v with %d workers", n, rep.Segments, time.Since(start), runtime.NumCPU())
	l, err := eventlog.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if root, err := l.TreeHash(n); err != nil || root != f.Root() {
		t.Fatalf("TreeHash = %v, %v", root, err)
	}
	l.Close()
	last := m.Segments[len(m.Segments)-1].File
	db, err := bolt.Open(filepath.Join(dir, last), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("top"))
		key := append([]byte{16}, u64(0)...) // node (16, 0)
		v := append([]byte(nil), b.Get(key)...)
		if len(v) != 32 {
			return fmt.Errorf("no top node (16, 0) in %s", last)
		}
		v[0] ^= 1
		return b.Put(key, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	rep, err = Check(context.Background(), dir, Options{})
	ckWantProblem(t, rep, err, last+", event 65535: top node (16, 0)")
}
