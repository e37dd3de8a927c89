package salvage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/eventlog/logcheck"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// svZeroMeta destroys both bbolt meta pages of a segment file.
func svZeroMeta(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[:2*4096])
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true}); err == nil {
		db.Close()
		t.Fatalf("bbolt still opens %s", path)
	}
}

// svLatest reads the log's latest checkpoint note.
func svLatest(t *testing.T, dir string) ([]byte, checkpoint.Checkpoint) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "epoch-0", "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	id := eventlogtest.Identity(eventlogtest.Key(t))
	c, _, err := checkpoint.OpenCheckpoint(b, signer.NoteVerifier(id.KeyName(), id.Device, id.Domain()))
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// svCheckOut opens the salvaged log read-only and proves events against
// the old checkpoint.
func svCheckOut(t *testing.T, out string, leaves [][]byte, n uint64, note []byte, cp checkpoint.Checkpoint) {
	t.Helper()
	l, err := eventlog.Open(context.Background(), out, nil)
	if err != nil {
		t.Fatalf("Open(salvaged): %v", err)
	}
	defer l.Close()
	if l.Size() != n || l.Epoch() != 0 || l.Origin() != eventlogtest.Identity(eventlogtest.Key(t)).Origin(0) {
		t.Fatalf("salvaged log: size %d epoch %d origin %q", l.Size(), l.Epoch(), l.Origin())
	}
	latest, _, err := l.Latest()
	if err != nil || !bytes.Equal(latest, note) {
		t.Fatalf("salvaged Latest = %q, %v; want the old note", latest, err)
	}
	if at, err := l.CheckpointAt(cp.Size); err != nil || !bytes.Equal(at, note) {
		t.Fatalf("salvaged CheckpointAt(%d) = %v", cp.Size, err)
	}
	for _, seq := range []uint64{0, 1, cp.Size / 2, cp.Size - 1} {
		leaf, proof, err := l.ProveInclusion(seq, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf, leaves[seq]) {
			t.Fatalf("salvaged leaf %d differs", seq)
		}
		if err := merkle.CheckInclusion(proof, seq, cp.Size, merkle.LeafHash(leaf), cp.Root); err != nil {
			t.Fatalf("inclusion of %d against the old checkpoint: %v", seq, err)
		}
	}
	l.Close()
	// Nobody may append to a salvaged copy.
	if w, err := eventlog.Open(context.Background(), out, &eventlog.Options{Keys: eventlogtest.Key(t)}); err == nil || !strings.Contains(err.Error(), "is a read-only copy salvaged from") {
		if w != nil {
			w.Close()
		}
		t.Fatalf("Open(salvaged, keys) = %v; want a refusal", err)
	}
}

func TestSalvage_BothMetaPagesDestroyed(t *testing.T) {
	dir := t.TempDir()
	const n = 400
	leaves := eventlogtest.Build(t, dir, n, 1<<30, 100, 300)
	note, cp := svLatest(t, dir)
	seg := filepath.Join(dir, "epoch-0", "seg-000000.db")
	svZeroMeta(t, seg)

	// The writer finds the damage and moves the epoch aside.
	l := eventlogtest.Open(t, dir, nil)
	if l.Damage() == "" || l.Epoch() != 1 {
		t.Fatalf("Open did not move the damaged epoch aside: epoch %d, %q", l.Epoch(), l.Damage())
	}
	l.Close()
	src, err := Source(dir, 0)
	if err != nil || !strings.Contains(src, "damaged") {
		t.Fatalf("Source = %q, %v", src, err)
	}
	rep, err := Recover(context.Background(), src, "", Options{})
	if err != nil {
		t.Fatalf("Salvage: %v\n%s", err, rep.Summary())
	}
	t.Logf("\n%s", rep.Summary())
	f := rep.Files[0]
	if f.BoltErr == "" || f.Pages != n || f.PageSizeKnown {
		t.Fatalf("file report %+v; want bbolt to fail and the page scan to find all %d", f, n)
	}
	if rep.Recovered != n || rep.Prefix != n || len(rep.Gaps) != 0 || rep.Unprovable != 0 || len(rep.Conflicts) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if !rep.CheckpointReproduced || rep.ProvenSize != cp.Size || rep.Checkpoints != 2 || len(rep.Contradicted) != 0 {
		t.Fatalf("checkpoints: reproduced %v, proven %d, found %d, contradicted %v", rep.CheckpointReproduced, rep.ProvenSize, rep.Checkpoints, rep.Contradicted)
	}
	if want := filepath.Join(dir, "salvaged", "epoch-0"); rep.Out != want {
		t.Fatalf("Out = %q, want %q", rep.Out, want)
	}
	svCheckOut(t, rep.Out, leaves, n, note, cp)
	if crep, err := logcheck.Check(context.Background(), rep.Out, logcheck.Options{}); err != nil || crep.Events != n || crep.Checkpoints != 2 {
		t.Fatalf("Check(salvaged) = %+v, %v", crep, err)
	}
	// The output is not overwritten.
	if _, err := Recover(context.Background(), src, "", Options{}); err == nil {
		t.Fatal("second Salvage into the same output succeeded")
	}
}

func TestSalvage_TornMiddle(t *testing.T) {
	dir := t.TempDir()
	const n = 400
	leaves := eventlogtest.Build(t, dir, n, 1<<30, 100, n)
	_, cp := svLatest(t, dir)
	seg := filepath.Join(dir, "epoch-0", "seg-000000.db")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Zero every page holding any copy of events 150-159.
	const ps = 4096
	torn := 0
	for seq := 150; seq < 160; seq++ {
		for i := 0; ; {
			j := bytes.Index(b[i:], leaves[seq])
			if j < 0 {
				break
			}
			at := i + j
			for p := at / ps; p <= (at+len(leaves[seq])-1)/ps; p++ {
				clear(b[p*ps : (p+1)*ps])
				torn++
			}
			i = (at/ps + 1) * ps
		}
	}
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// What is still readable.
	var present []bool
	for seq := 0; seq < n; seq++ {
		present = append(present, bytes.Contains(b, leaves[seq]))
	}
	prefix, unprovable := 0, 0
	for prefix < n && present[prefix] {
		prefix++
	}
	for seq := prefix; seq < n; seq++ {
		if present[seq] {
			unprovable++
		}
	}
	if prefix > 150 || prefix < 100 {
		t.Fatalf("test setup: prefix %d after tearing %d pages", prefix, torn)
	}
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Recover(context.Background(), filepath.Join(dir, "epoch-0"), out, Options{SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatalf("Salvage: %v\n%s", err, rep.Summary())
	}
	t.Logf("tore %d pages\n%s", torn, rep.Summary())
	if rep.Prefix != uint64(prefix) || rep.Unprovable != uint64(unprovable) || len(rep.Gaps) == 0 || rep.Gaps[0].First != uint64(prefix) {
		t.Fatalf("report: prefix %d (want %d), unprovable %d (want %d), gaps %v", rep.Prefix, prefix, rep.Unprovable, unprovable, rep.Gaps)
	}
	if rep.CheckpointReproduced || rep.Checkpoint == nil || rep.Checkpoint.Size != cp.Size || rep.ProvenSize != 100 {
		t.Fatalf("checkpoints: file %+v, reproduced %v, proven %d", rep.Checkpoint, rep.CheckpointReproduced, rep.ProvenSize)
	}
	l, err := eventlog.Open(context.Background(), out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Size() != uint64(prefix) {
		t.Fatalf("salvaged size %d, want %d", l.Size(), prefix)
	}
	note100, err := l.CheckpointAt(100)
	if err != nil {
		t.Fatal(err)
	}
	c100, _, err := checkpoint.OpenCheckpoint(note100, l.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	leaf, proof, err := l.ProveInclusion(42, 100)
	if err != nil || merkle.CheckInclusion(proof, 42, 100, merkle.LeafHash(leaf), c100.Root) != nil {
		t.Fatalf("inclusion against the reproduced checkpoint at 100: %v", err)
	}
	un, err := os.ReadFile(filepath.Join(out, "epoch-0", "unprovable.jsonl"))
	if err != nil || bytes.Count(un, []byte("\n")) != unprovable {
		t.Fatalf("unprovable.jsonl: %d lines, %v; want %d", bytes.Count(un, []byte("\n")), err, unprovable)
	}
}

func TestSalvage_SegmentsAndSingleFile(t *testing.T) {
	dir := t.TempDir()
	const n = 300
	leaves := eventlogtest.Build(t, dir, n, 64<<10, 250)
	note, cp := svLatest(t, dir)
	m, err := eventlog.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) < 3 {
		t.Fatalf("%d segments", len(m.Segments))
	}
	mid := m.Segments[len(m.Segments)/2]
	svZeroMeta(t, filepath.Join(dir, mid.File))
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Recover(context.Background(), filepath.Join(dir, "epoch-0"), out, Options{SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if rep.Recovered != n || rep.Prefix != n || !rep.CheckpointReproduced || len(rep.Files) != len(m.Segments) {
		t.Fatalf("report:\n%s", rep.Summary())
	}
	svCheckOut(t, out, leaves, n, note, cp)
	if om, err := eventlog.ReadManifest(out); err != nil || len(om.Segments) < 2 {
		t.Fatalf("salvaged manifest: %v", err)
	}

	// One segment file alone: its events are readable, but without event 0
	// none is provable.
	out2 := filepath.Join(t.TempDir(), "out")
	rep, err = Recover(context.Background(), filepath.Join(dir, mid.File), out2, Options{})
	if err != nil {
		t.Fatalf("Salvage(one file): %v", err)
	}
	if rep.Recovered == 0 || rep.Prefix != 0 || rep.Unprovable != rep.Recovered || rep.Gaps[0].First != 0 || rep.Gaps[0].Last != mid.First-1 {
		t.Fatalf("report of one file:\n%s\n%+v", rep.Summary(), rep.Gaps)
	}
}

// TestSalvage_Carve wipes the page headers and element tables of the pages
// holding event 20, so only carving the bytes finds the events in them.
func TestSalvage_Carve(t *testing.T) {
	dir := t.TempDir()
	const n = 60
	leaves := eventlogtest.Build(t, dir, n, 1<<30, n)
	seg := filepath.Join(dir, "epoch-0", "seg-000000.db")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	wiped := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], leaves[20])
		if j < 0 {
			break
		}
		p := (i + j) / ps * ps
		count := int(b[p+10]) | int(b[p+11])<<8
		clear(b[p : p+16+16*count])
		wiped++
		i = p + ps
	}
	svZeroMeta(t, seg)
	os.WriteFile(seg, append(make([]byte, 2*ps), b[2*ps:]...), 0o644)
	rep, err := Recover(context.Background(), filepath.Join(dir, "epoch-0"), filepath.Join(t.TempDir(), "out"), Options{})
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	t.Logf("wiped %d page headers\n%s", wiped, rep.Summary())
	if f := rep.Files[0]; rep.Prefix != n || f.Carved == 0 || f.Pages+f.Carved != n || !rep.CheckpointReproduced {
		t.Fatalf("report %+v\n%s", f, rep.Summary())
	}
}
