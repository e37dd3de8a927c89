package eventlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/testbench/fault"
)

// rcBuild writes a closed log of n events in several segments with
// checkpoints, and returns the leaves. With legacy, the identity keys are
// removed from every segment's meta, as in segments written before they
// were recorded.
func rcBuild(t *testing.T, dir string, n int, legacy bool) [][]byte {
	t.Helper()
	l, leaves := prBuild(t, dir, n, 64<<10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "epoch-*", "seg-*.db"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	if legacy {
		for _, p := range segs {
			db, err := bolt.Open(p, 0o644, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				m := tx.Bucket(bMeta)
				if m.Get(kChainID) == nil {
					return errors.New("segment does not record its chain ID")
				}
				for _, k := range [][]byte{kChainID, kDevice, kFleet} {
					if err := m.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return leaves
}

// rcHashes returns the SHA-256 of every regular file under dir but LOCK.
func rcHashes(t *testing.T, dir string) map[[32]byte]string {
	t.Helper()
	h := map[[32]byte]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == "LOCK" {
			return err
		}
		b, err := os.ReadFile(p)
		h[sha256.Sum256(b)] = p
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rcKept fails unless every file of before is still somewhere under dir,
// byte for byte (moved is fine; overwritten, truncated or removed is not).
func rcKept(t *testing.T, dir string, before map[[32]byte]string, except ...string) {
	t.Helper()
	after := rcHashes(t, dir)
outer:
	for h, p := range before {
		for _, e := range except {
			if strings.HasSuffix(p, e) {
				continue outer
			}
		}
		if _, ok := after[h]; !ok {
			t.Errorf("%s is gone or changed", p)
		}
	}
}

// rcLeaves checks that the log in dir holds exactly leaves in epoch 0.
func rcLeaves(t *testing.T, l *Log, leaves [][]byte) {
	t.Helper()
	if l.Epoch() != 0 || l.Size() != uint64(len(leaves)) {
		t.Fatalf("epoch %d size %d, want epoch 0 size %d", l.Epoch(), l.Size(), len(leaves))
	}
	for i, want := range leaves {
		got, err := l.Leaf(uint64(i))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("event %d: %v (differs: %v)", i, err, !bytes.Equal(got, want))
		}
	}
}

// TestOpen_ManifestLostOrDamaged is the reproduction of a missing or
// damaged manifest.json: a normal start rebuilds it from the segments,
// keeps every acknowledged event in epoch 0, keeps the damaged bytes under
// damaged/, and a second start is a plain one. Segments that record their
// identity and older ones that do not (their chain ID is confirmed from
// their signatures) are both tried.
func TestOpen_ManifestLostOrDamaged(t *testing.T) {
	const n = 1200
	damage := []struct {
		name string
		edit func(b []byte) []byte // nil: remove the file
	}{
		{"missing", nil},
		{"empty", func([]byte) []byte { return nil }},
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0xa5, 0x00, '{'}, 100) }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"bit flip", func(b []byte) []byte { b[len(b)/3] ^= 0x10; return b }},
		{"epoch 5", func(b []byte) []byte { return bytes.Replace(b, []byte(`"epoch": 0,`), []byte(`"epoch": 5,`), 1) }},
		{"epoch 5 everywhere", func(b []byte) []byte {
			b = bytes.ReplaceAll(b, []byte(`"epoch": 0`), []byte(`"epoch": 5`))
			b = bytes.ReplaceAll(b, []byte(`/0"`), []byte(`/5"`))
			return bytes.ReplaceAll(b, []byte("epoch-0/"), []byte("epoch-5/"))
		}},
		{"no such segment", func(b []byte) []byte { return bytes.Replace(b, []byte("seg-000001.db"), []byte("seg-000099.db"), 1) }},
		{"first changed", func(b []byte) []byte {
			return regexp.MustCompile(`"first": [1-9][0-9]*`).ReplaceAll(b, []byte(`"first": 7`))
		}},
		{"segments out of order", func(b []byte) []byte {
			b = bytes.Replace(b, []byte("seg-000001.db"), []byte("seg-00000X.db"), 1)
			b = bytes.Replace(b, []byte("seg-000002.db"), []byte("seg-000001.db"), 1)
			return bytes.Replace(b, []byte("seg-00000X.db"), []byte("seg-000002.db"), 1)
		}},
		{"last two segments dropped", func(b []byte) []byte {
			// (The last one alone may be the empty segment a roll started.)
			for range 2 {
				i := bytes.LastIndex(b, []byte(",\n    {\n      \"file\""))
				b = append(b[:i:i], []byte("\n  ]\n}\n")...)
			}
			return b
		}},
		{"device changed", func(b []byte) []byte {
			return regexp.MustCompile(`"device": "0x.`).ReplaceAllFunc(b, func(m []byte) []byte {
				m = bytes.Clone(m)
				m[len(m)-1] ^= 1
				return m
			})
		}},
		{"chain changed", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"chain_id": 1337`), []byte(`"chain_id": 1338`), 1)
		}},
	}
	for _, legacy := range []bool{false, true} {
		base := t.TempDir()
		leaves := rcBuild(t, base, n, legacy)
		orig, err := os.ReadFile(filepath.Join(base, ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range damage {
			name := d.name
			if legacy {
				name += ", legacy segments"
			}
			t.Run(name, func(t *testing.T) {
				dir := copyDir(t, base)
				path := filepath.Join(dir, ManifestFile)
				var bad []byte
				if d.edit == nil {
					os.Remove(path)
				} else {
					bad = d.edit(bytes.Clone(orig))
					if bytes.Equal(bad, orig) {
						t.Fatal("the edit changed nothing")
					}
					os.WriteFile(path, bad, 0o644)
				}
				before := rcHashes(t, dir)
				l := openTest(t, dir, &Options{SegmentBytes: 64 << 10})
				if !strings.Contains(l.Damage(), "rebuilt") {
					t.Errorf("Damage() = %q, want a report of the rebuild", l.Damage())
				}
				rcLeaves(t, l, leaves)
				rcKept(t, dir, before, ManifestFile)
				if _, err := l.Append(context.Background(), testEvent(n)); err != nil {
					t.Fatal(err)
				}
				if _, _, err := l.Checkpoint(context.Background()); err != nil {
					t.Fatal(err)
				}
				l.Close()
				if bad != nil {
					kept, _ := filepath.Glob(filepath.Join(dir, "damaged", "manifest-*.json"))
					if len(kept) != 1 {
						t.Fatalf("damaged manifests kept: %v", kept)
					}
					if b, _ := os.ReadFile(kept[0]); !bytes.Equal(b, bad) {
						t.Fatalf("%s does not hold the damaged bytes", kept[0])
					}
				}
				// The second start is a plain one, with or without the identity.
				l, err := Open(context.Background(), dir, &Options{Keys: testKey(t)})
				if err != nil {
					t.Fatal(err)
				}
				if l.Damage() != "" {
					t.Errorf("second start: Damage() = %q", l.Damage())
				}
				more, _ := l.Leaf(n)
				rcLeaves(t, l, append(leaves[:n:n], more))
				l.Close()
				if _, err := checkLog(context.Background(), dir, CheckOptions{}); err != nil {
					t.Fatalf("Check: %v", err)
				}
			})
		}
	}
}

// TestOpen_NeverCreatesOverALog: without a manifest, a chain ID the
// signatures do not confirm, or none where the segments do not record it,
// is refused with a message that says what to give; no file is changed and
// no epoch is created.
func TestOpen_NeverCreatesOverALog(t *testing.T) {
	base := t.TempDir()
	rcBuild(t, base, 300, true)
	os.Remove(filepath.Join(base, ManifestFile))
	before := rcHashes(t, base)
	k := testKey(t)
	wrong := *testIdentity(k)
	wrong.ChainID = 1
	for _, c := range []struct {
		name string
		o    *Options
		want string
	}{
		{"wrong chain ID", &Options{Keys: k, Create: &wrong}, "do not verify with chain ID 1"},
		{"no chain ID", &Options{Keys: k}, "--chain-id"},
		{"read-only", &Options{}, "--chain-id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := Open(context.Background(), base, c.o)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !errors.Is(err, errManifest) {
				t.Fatalf("Open: %v; want %q", err, c.want)
			}
			after := rcHashes(t, base)
			if len(after) != len(before) {
				t.Fatalf("files before %d, after %d", len(before), len(after))
			}
			rcKept(t, base, before)
			if _, err := os.Stat(filepath.Join(base, "epoch-1")); err == nil {
				t.Fatal("a new epoch was created")
			}
		})
	}
}

// TestOpen_ReadOnlyWithoutManifest: a reader reads a log whose segments
// record the identity without its manifest, and writes nothing.
func TestOpen_ReadOnlyWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	leaves := rcBuild(t, dir, 300, false)
	os.Remove(filepath.Join(dir, ManifestFile))
	before := rcHashes(t, dir)
	l, err := Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcLeaves(t, l, leaves)
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		t.Fatal("a reader wrote the manifest")
	}
	if len(rcHashes(t, dir)) != len(before) {
		t.Fatal("a reader changed the files")
	}
	if id, err := ReadIdentity(dir); err != nil || id != *testIdentity(testKey(t)) {
		t.Fatalf("ReadIdentity = %+v, %v", id, err)
	}
}

// TestOpen_SegmentsDisagree: without a manifest, segments that do not form
// one log (one is missing) are moved aside intact and a new epoch starts;
// salvage recovers the events before the gap.
func TestOpen_SegmentsDisagree(t *testing.T) {
	dir := t.TempDir()
	leaves := rcBuild(t, dir, 1200, false)
	m, _ := ReadManifest(dir)
	os.Remove(filepath.Join(dir, ManifestFile))
	gone := m.Segments[1]
	os.Remove(filepath.Join(dir, gone.File))
	before := rcHashes(t, dir)
	l := openTest(t, dir, nil)
	if l.Epoch() != 1 || l.Size() != 0 || !strings.Contains(l.Damage(), "segment 1 is missing") {
		t.Fatalf("epoch %d size %d, damage %q", l.Epoch(), l.Size(), l.Damage())
	}
	l.Close()
	rcKept(t, dir, before)
	src, err := salvageSource(dir, 0)
	if err != nil || !strings.Contains(src, "damaged") {
		t.Fatalf("SalvageSource = %s, %v", src, err)
	}
	rep, err := salvageEpoch(context.Background(), src, filepath.Join(t.TempDir(), "out"), SalvageOptions{LogDir: dir})
	if err != nil && rep == nil {
		t.Fatal(err)
	}
	if rep.Prefix != gone.First || rep.Recovered != uint64(len(leaves))-(m.Segments[2].First-gone.First) {
		t.Fatalf("salvage: prefix %d recovered %d; want %d and %d\n%s", rep.Prefix, rep.Recovered, gone.First, uint64(len(leaves))-(m.Segments[2].First-gone.First), rep.Summary)
	}
}

// TestOpen_NoLiveEpoch: the epoch directory was moved aside but the
// manifest still names it (a power cut inside moveAside): the next epoch
// number is one no file uses, and the history records the moved epoch.
func TestOpen_NoLiveEpoch(t *testing.T) {
	dir := t.TempDir()
	rcBuild(t, dir, 300, false)
	os.MkdirAll(filepath.Join(dir, "damaged"), 0o755)
	os.Rename(filepath.Join(dir, "epoch-0"), filepath.Join(dir, "damaged", "epoch-0-20260101T000000Z"))
	os.MkdirAll(filepath.Join(dir, "salvaged", "epoch-3"), 0o755)
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.Epoch() != 4 {
		t.Fatalf("new epoch %d, want 4 (above the salvaged epoch 3)", l.Epoch())
	}
	eps := l.Epochs()
	if len(eps) != 2 || eps[0].MovedTo != filepath.Join("damaged", "epoch-0-20260101T000000Z") || eps[1].Epoch != 4 {
		t.Fatalf("epochs %+v", eps)
	}
}

// TestOpen_UnnamedSegmentKept: a segment file the manifest does not name
// and that may hold events is moved under damaged/, never removed; an empty
// one a roll left is removed.
func TestOpen_UnnamedSegmentKept(t *testing.T) {
	dir := t.TempDir()
	leaves := rcBuild(t, dir, 300, false)
	m, _ := ReadManifest(dir)
	next := segFile(0, len(m.Segments))
	junk := bytes.Repeat([]byte("not a bbolt file "), 1000)
	os.WriteFile(filepath.Join(dir, next), junk, 0o644)
	l := openTest(t, dir, nil)
	rcLeaves(t, l, leaves)
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, next)); err == nil {
		t.Fatal("the unnamed segment is still in the epoch")
	}
	kept, _ := filepath.Glob(filepath.Join(dir, "damaged", "leftover-*"))
	if len(kept) != 1 {
		t.Fatalf("kept %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); !bytes.Equal(b, junk) {
		t.Fatal("the kept file differs")
	}
}

// TestOpen_StaleManifest: a manifest from before the last roll (restored
// from a backup, or a write the storage lost) names fewer segments than the
// log has; the segments it misses hold acknowledged events, so it is
// rebuilt, not trusted.
func TestOpen_StaleManifest(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, &Options{SegmentBytes: 64 << 10})
	var old []byte
	for i := 0; len(old) == 0 || l.Size() < 1500; i++ {
		if _, err := l.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
		if m, _ := ReadManifest(dir); old == nil && len(m.Segments) == 2 {
			old, _ = os.ReadFile(filepath.Join(dir, ManifestFile))
		}
	}
	size := l.Size()
	l.Close()
	os.WriteFile(filepath.Join(dir, ManifestFile), old, 0o644)
	l = openTest(t, dir, nil)
	defer l.Close()
	if l.Size() != size || !strings.Contains(l.Damage(), "which it does not name") {
		t.Fatalf("size %d want %d; damage %q", l.Size(), size, l.Damage())
	}
}

// TestOpen_GarbageSegmentWithoutManifest: a segment file that is not a
// bbolt file, with no manifest, is neither truncated nor reused: the epoch
// is moved aside intact and the log starts epoch 1.
func TestOpen_GarbageSegmentWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "epoch-0"), 0o755)
	junk := bytes.Repeat([]byte{0xee}, 64<<10)
	os.WriteFile(filepath.Join(dir, "epoch-0", "seg-000000.db"), junk, 0o644)
	before := rcHashes(t, dir)
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.Epoch() != 1 || l.Damage() == "" {
		t.Fatalf("epoch %d, damage %q", l.Epoch(), l.Damage())
	}
	rcKept(t, dir, before)
}

// TestExists: which directories hold a log.
func TestExists(t *testing.T) {
	for _, c := range []struct {
		files []string
		want  bool
	}{
		{nil, false},
		{[]string{"LOCK", "waybill.sock", "anchor.db", "feed.cursor"}, false},
		{[]string{"epoch-0/"}, false}, // an empty directory a crash left
		{[]string{"manifest.json"}, true},
		{[]string{"epoch-0/seg-000000.db"}, true},
		{[]string{"epoch-7/checkpoint"}, true},
		{[]string{"damaged/epoch-0-20260101T000000Z/"}, true},
		{[]string{"salvaged/epoch-0/"}, true},
		{[]string{".manifest.json.tmp-123"}, true},
	} {
		dir := t.TempDir()
		for _, f := range c.files {
			p := filepath.Join(dir, f)
			if strings.HasSuffix(f, "/") {
				os.MkdirAll(p, 0o755)
				continue
			}
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte("x"), 0o644)
		}
		got, err := Exists(dir)
		if err != nil || got != c.want {
			t.Errorf("Exists(%v) = %v, %v; want %v", c.files, got, err, c.want)
		}
	}
}

// TestChainSegments: the order rules of a rebuild.
func TestChainSegments(t *testing.T) {
	o := "waybill/f/0x0000000000000000000000000000000000000001/0"
	seg := func(k int, pruned bool, first, size uint64) diskSeg {
		n := segFile(0, k)
		if pruned {
			n = strings.TrimSuffix(n, ".db") + ".pruned.db"
		}
		return diskSeg{file: n, k: k, pruned: pruned, meta: segMeta{origin: o, first: first, size: size, pruned: pruned}}
	}
	bad := seg(1, false, 0, 0)
	bad.err = errors.New("damaged")
	for _, c := range []struct {
		name string
		segs []diskSeg
		want []string // files, or the error's text
	}{
		{"one", []diskSeg{seg(0, false, 0, 5)}, []string{"epoch-0/seg-000000.db"}},
		{"three", []diskSeg{seg(0, true, 0, 5), seg(1, false, 5, 9), seg(2, false, 9, 9)},
			[]string{"epoch-0/seg-000000.pruned.db", "epoch-0/seg-000001.db", "epoch-0/seg-000002.db"}},
		{"whole before pruned", []diskSeg{seg(0, false, 0, 5), seg(0, true, 0, 5), seg(1, false, 5, 6)},
			[]string{"epoch-0/seg-000000.db", "epoch-0/seg-000001.db"}},
		{"damaged last", []diskSeg{seg(0, false, 0, 5), bad}, []string{"epoch-0/seg-000000.db", "epoch-0/seg-000001.db"}},
		{"damaged middle", []diskSeg{seg(0, false, 0, 5), bad, seg(2, false, 9, 9)},
			[]string{"epoch-0/seg-000000.db", "epoch-0/seg-000001.db", "epoch-0/seg-000002.db"}},
		{"missing", []diskSeg{seg(0, false, 0, 5), seg(2, false, 5, 9)}, []string{"segment 1 is missing"}},
		{"gap", []diskSeg{seg(0, false, 0, 5), seg(1, false, 6, 9)}, []string{"starts at event 6"}},
		{"not at 0", []diskSeg{seg(0, false, 3, 5)}, []string{"starts at event 3"}},
		{"two damaged", []diskSeg{seg(0, false, 0, 5), bad, func() diskSeg { s := bad; s.k = 2; return s }()}, []string{"where epoch-0/seg-000001.db starts is unknown"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			segs := append([]diskSeg(nil), c.segs...)
			sort.SliceStable(segs, func(i, j int) bool { return segs[i].k < segs[j].k })
			got, err := chainSegments(&diskEpoch{rel: "epoch-0", segs: segs}, o)
			if err != nil {
				if len(c.want) != 1 || !strings.Contains(err.Error(), c.want[0]) || !errors.Is(err, errUnresolved) {
					t.Fatalf("error %v; want %v", err, c.want)
				}
				return
			}
			var files []string
			for _, s := range got {
				files = append(files, s.File)
			}
			if strings.Join(files, " ") != strings.Join(c.want, " ") {
				t.Fatalf("got %v; want %v", files, c.want)
			}
		})
	}
}

// TestOpen_UnreadableDirectory: a log directory the process may not read
// (mode 000) is reported as unreadable, never as holding no log, and
// nothing is created in it. Permissions do not bind root, so when the test
// runs as root it runs the checks in a copy of the test binary started as
// the user nobody.
func TestOpen_UnreadableDirectory(t *testing.T) {
	parent, err := os.MkdirTemp("", "eventlog-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	os.Chmod(parent, 0o755)
	dir := filepath.Join(parent, "log")
	rcBuild(t, dir, 300, false)
	os.Chmod(dir, 0)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })

	bin, _ := os.Executable()
	cmd := exec.Command(bin, "-test.run=^TestHelperUnreadable$", "-test.count=1", "-test.v")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("running as root and there is no user nobody to test permissions with: %v", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Path = filepath.Join(parent, "eventlog.test")
		if err := os.WriteFile(cmd.Path, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	cmd.Dir = parent
	cmd.Env = append(os.Environ(), fault.HelperEnv+"=TestHelperUnreadable", "WAYBILL_UNREADABLE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("helper, as uid %d or nobody:\n%s", os.Geteuid(), out)
	for _, want := range []string{"Exists: unreadable", "reader: unreadable", "writer: unreadable"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helper output lacks %q:\n%s", want, out)
		}
	}
	os.Chmod(dir, 0o755)
	if _, err := os.Stat(filepath.Join(dir, "epoch-1")); err == nil {
		t.Fatal("a new epoch was created")
	}
	l, err := Open(context.Background(), dir, nil)
	if err != nil || l.Size() != 300 {
		t.Fatalf("after the permissions are restored: %v", err)
	}
	l.Close()
}

func TestHelperUnreadable(t *testing.T) {
	if !fault.IsHelper("TestHelperUnreadable") {
		t.Skip("helper process of TestOpen_UnreadableDirectory")
	}
	dir := os.Getenv("WAYBILL_UNREADABLE_DIR")
	report := func(what string, err error) {
		if errors.Is(err, ErrUnreadable) && strings.Contains(err.Error(), dir) {
			fmt.Printf("%s: unreadable (%v)\n", what, err)
		} else {
			fmt.Printf("%s: WRONG: %v\n", what, err)
		}
	}
	_, err := Exists(dir)
	report("Exists", err)
	_, err = Open(context.Background(), dir, nil)
	report("reader", err)
	_, err = Open(context.Background(), dir, &Options{Keys: testKey(t), Create: testIdentity(testKey(t))})
	report("writer", err)
}

// TestSegments_RecordIdentity: every segment written (the first, rolled,
// pruned copies) records the chain ID, device and fleet next to its origin.
func TestSegments_RecordIdentity(t *testing.T) {
	dir := t.TempDir()
	l, _ := prBuild(t, dir, 1200, 64<<10)
	if res, err := l.Prune(context.Background(), l.Size()-300); err != nil || res.Segments == 0 {
		t.Fatalf("Prune: %+v, %v", res, err)
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "epoch-0", "seg-*.db"))
	pruned := 0
	id := testIdentity(testKey(t))
	for _, p := range segs {
		s := diskSeg{bytes: 1}
		readDiskSeg(p, &s)
		if s.err != nil || s.chainID != id.ChainID {
			t.Errorf("%s: chain ID %d, %v", p, s.chainID, s.err)
		}
		db, err := bolt.Open(p, 0o644, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		db.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bMeta)
			if !bytes.Equal(m.Get(kDevice), id.Device[:]) || string(m.Get(kFleet)) != id.Fleet {
				t.Errorf("%s: device %x fleet %q", p, m.Get(kDevice), m.Get(kFleet))
			}
			return nil
		})
		db.Close()
		if strings.HasSuffix(p, ".pruned.db") {
			pruned++
		}
	}
	if pruned == 0 || len(segs) < 3 {
		t.Fatalf("%d segments, %d pruned", len(segs), pruned)
	}
}
