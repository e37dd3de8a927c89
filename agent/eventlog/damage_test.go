package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// The damage tests run on real bbolt files written by the log, damaged the
// ways a failing SD card damages them: a page zeroed, bits flipped, bytes
// of an event changed, the file cut short.

// dmDeadline bounds every operation on a damaged log: one that has not
// returned by then hangs.
const dmDeadline = 60 * time.Second

// within runs fn and fails the test if it has not returned after
// dmDeadline.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(dmDeadline):
		t.Fatalf("%s has not returned after %v: it hangs", what, dmDeadline)
	}
}

// appendBatch enqueues testEvent(lo) … testEvent(hi-1) on l, so that they
// share commits, waits for them and returns their leaves.
func appendBatch(t testing.TB, l *Log, lo, hi int) [][]byte {
	t.Helper()
	var ps []*Pending
	for i := lo; i < hi; i++ {
		p, err := l.Enqueue(context.Background(), testEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	leaves := make([][]byte, 0, hi-lo)
	for _, p := range ps {
		s, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := s.Leaf()
		leaves = append(leaves, leaf)
	}
	return leaves
}

// dmBuild writes a closed log of n events to dir, with a checkpoint after
// every 1000, and returns the leaves.
func dmBuild(t testing.TB, dir string, n int) [][]byte {
	t.Helper()
	l := openTest(t, dir, nil)
	var leaves [][]byte
	for lo := 0; lo < n; lo += 250 {
		leaves = append(leaves, appendBatch(t, l, lo, min(lo+250, n))...)
		if (lo+250)%1000 == 0 || lo+250 >= n {
			if _, _, err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return leaves
}

var dmBase struct {
	once   sync.Once
	dir    string
	leaves [][]byte
}

// dmCopy returns a copy of a log of 3,000 events with checkpoints and its
// leaves; the log is written once per test process.
func dmCopy(t *testing.T) (string, [][]byte) {
	t.Helper()
	dmBase.once.Do(func() {
		dir, err := os.MkdirTemp("", "waybill-damage-base-")
		if err != nil {
			t.Fatal(err)
		}
		dmBase.dir, dmBase.leaves = dir, dmBuild(t, dir, 3000)
	})
	if dmBase.leaves == nil {
		t.Fatal("the base log was not written")
	}
	return copyDir(t, dmBase.dir), dmBase.leaves
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dmBase.dir != "" {
		os.RemoveAll(dmBase.dir)
	}
	os.Exit(code)
}

var seg0 = filepath.Join(EpochDir(0), "seg-000000.db")

// zeroPagesHolding zeroes every page of the segment that holds a copy of
// event seq's parcel (the live page among them) and returns how many it
// zeroed.
func zeroPagesHolding(t *testing.T, path string, seq int) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	n := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(fmt.Sprintf(`"parcel":"P%06d"`, seq)))
		if i < 0 {
			break
		}
		p := (off + i) / ps
		copy(b[p*ps:(p+1)*ps], make([]byte, ps))
		n++
		off = (p + 1) * ps
	}
	if n == 0 {
		t.Fatal("the leaf is not in the segment")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return n
}

// readAll reads every event of a read-only open of dir and checks that
// whatever is handed out is the original: it returns the number of events
// read and the error that stopped the reading (nil when all were read).
// Open and Range errors must be damage naming the segment file.
func readAll(t *testing.T, dir string, leaves [][]byte) (uint64, error) {
	t.Helper()
	var n uint64
	var rerr error
	within(t, "reading the damaged log", func() {
		l, err := Open(context.Background(), dir, nil)
		if err != nil {
			rerr = err
			return
		}
		defer func() {
			within(t, "Close", func() {
				if err := l.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}()
		rerr = l.Range(0, 0, func(seq uint64, leaf []byte) error {
			if seq != n || seq >= uint64(len(leaves)) || !bytes.Equal(leaf, leaves[seq]) {
				t.Errorf("Range handed out an altered event %d: %.80s", seq, leaf)
			}
			n++
			return nil
		})
		if rerr == nil {
			return
		}
		var d *DamageError
		if errors.As(rerr, &d) && d.HasSeq {
			if _, err := l.Leaf(d.Seq); !errors.Is(err, ErrDamaged) {
				t.Errorf("Leaf(%d) after Range reported it damaged: %v; want the damage again", d.Seq, err)
			}
			if c, ds := l.Damaged(); c == 0 || len(ds) == 0 {
				t.Errorf("Damaged() = %d, %v after a read met damage", c, ds)
			}
		}
	})
	if rerr != nil && (!isDamage(rerr) || !strings.Contains(rerr.Error(), "seg-000000.db")) {
		t.Errorf("reading the damaged log: %v; want damage naming the segment file", rerr)
	}
	return n, rerr
}

// checkDamaged runs Check and expects a problem naming the segment.
func checkDamaged(t *testing.T, dir string) *CheckResultProblem {
	t.Helper()
	var rep *CheckResult
	var err error
	within(t, "Check", func() { rep, err = checkLog(context.Background(), dir, CheckOptions{Workers: 2}) })
	if rep.Problem == nil || rep.Problem.File != seg0 {
		t.Fatalf("Check: %v; want a problem in %s", err, seg0)
	}
	return rep.Problem
}

// salvageAll salvages epoch 0 of dir (moved aside or not) and checks that
// what it recovers is the original, that it leaves no .partial behind, and
// returns how many events it recovered.
func salvageAll(t *testing.T, dir string, leaves [][]byte) uint64 {
	t.Helper()
	from, err := salvageSource(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "salvaged")
	var rep *SalvageResult
	within(t, "Salvage", func() {
		rep, err = salvageEpoch(context.Background(), from, out, SalvageOptions{LogDir: dir, Workers: 2})
	})
	if _, e := os.Stat(out + ".partial"); !errors.Is(e, os.ErrNotExist) {
		t.Errorf("Salvage left %s.partial behind (%v)", out, e)
	}
	if err != nil {
		t.Logf("Salvage: %v", err)
		return 0
	}
	l, err := Open(context.Background(), out, nil)
	if err != nil {
		t.Fatalf("open the salvaged log: %v", err)
	}
	defer l.Close()
	err = l.Range(0, 0, func(seq uint64, leaf []byte) error {
		if !bytes.Equal(leaf, leaves[seq]) {
			t.Errorf("salvage recovered an altered event %d", seq)
		}
		return nil
	})
	if err != nil {
		t.Errorf("reading the salvaged log: %v", err)
	}
	return rep.Recovered
}

// openMovesAside opens dir for writing and expects the damaged epoch to be
// moved aside and a new one started.
func openMovesAside(t *testing.T, dir string) {
	t.Helper()
	k := testKey(t)
	within(t, "writable Open", func() {
		l, err := Open(context.Background(), dir, &Options{Keys: k, Create: testIdentity(k)})
		if err != nil {
			t.Errorf("writable Open of the damaged log: %v", err)
			return
		}
		defer l.Close()
		if l.Damage() == "" || l.Epoch() != 1 || l.Size() != 0 {
			t.Errorf("writable Open of the damaged log: epoch %d, size %d, damage %q; want epoch 0 moved aside", l.Epoch(), l.Size(), l.Damage())
		}
		if _, err := l.Append(context.Background(), testEvent(0)); err != nil {
			t.Errorf("Append to the new epoch: %v", err)
		}
	})
}

// TestDamage_ZeroedPage zeroes the leaf page holding event 1500. Reads hand
// out every event before it and then report it, naming the file; Check
// names the file and event; a writable Open moves the epoch aside; salvage
// recovers the other events.
func TestDamage_ZeroedPage(t *testing.T) {
	dir, leaves := dmCopy(t)
	zeroPagesHolding(t, filepath.Join(dir, seg0), 1500)
	n, err := readAll(t, dir, leaves)
	var d *DamageError
	if !errors.As(err, &d) || !d.HasSeq || d.Seq > 1500 || n != d.Seq {
		t.Fatalf("Range read %d events and stopped with %v; want the damage reported at the first event it lost, at most 1500", n, err)
	}
	t.Logf("read %d events, then: %v", n, err)
	p := checkDamaged(t, dir)
	if !p.HasSeq || p.Seq > 1500 || !strings.Contains(p.Error(), "page") {
		t.Errorf("Check: %v; want the page and the event", p)
	}
	openMovesAside(t, dir)
	if got := salvageAll(t, dir, leaves); got < uint64(len(leaves))-20 {
		t.Errorf("salvage recovered %d of %d events", got, len(leaves))
	}
}

// TestDamage_ZeroedPageWhileRunning is the deadlock of a running agent: a
// page is zeroed under an open log, then a checkpoint is signed. Before,
// bbolt's panic in the checkpoint's history check left a read transaction
// open and Close waited on it for ever. Now the checkpoint returns, refusing
// to sign (ErrInconsistent wrapping ErrDamaged), and so does Close, each
// within a bounded time, whether the page holds events under the signed
// size (the scrub meets it) or the events about to be signed.
func TestDamage_ZeroedPageWhileRunning(t *testing.T) {
	for _, tc := range []struct {
		name string
		zero int // the event whose page is zeroed
	}{
		{"UnderTheSignedSize", 1500},
		{"NewEvents", 3005},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := dmCopy(t)
			l := openTest(t, dir, nil)
			defer func() {
				within(t, "Close", func() {
					if err := l.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}()
			appendN(t, l, 3000, 10)
			zeroPagesHolding(t, filepath.Join(dir, seg0), tc.zero)
			within(t, "Checkpoint", func() {
				_, c, err := l.Checkpoint(context.Background())
				t.Logf("Checkpoint: size %d, %v", c.Size, err)
				if !errors.Is(err, ErrDamaged) || !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "seg-000000.db") {
					t.Errorf("Checkpoint over a zeroed page: %v; want ErrInconsistent and ErrDamaged naming the segment", err)
				}
			})
			within(t, "reads", func() {
				if _, err := l.Leaf(uint64(tc.zero)); !errors.Is(err, ErrDamaged) {
					t.Errorf("Leaf(%d) = %v; want ErrDamaged", tc.zero, err)
				}
				if n, ds := l.Damaged(); n == 0 {
					t.Errorf("Damaged() = %d, %v; want the damage counted", n, ds)
				}
			})
		})
	}
	dir, _ := dmCopy(t)
	zeroPagesHolding(t, filepath.Join(dir, seg0), 1500)
	openMovesAside(t, dir)
}

// TestDamage_TamperedEvent changes event 100's bytes inside the segment
// file, as the event-000100 → event-999999 edit did. Reads stop at
// it, proofs refuse it, Check and a writable Open find it. Its stored hash
// is intact: the writable Open keeps the epoch, reports the event damaged
// and signs the next checkpoint.
func TestDamage_TamperedEvent(t *testing.T) {
	dir, leaves := dmCopy(t)
	if n := ckXorAll(t, dir, []byte(`"parcel":"P000100"`), len(`"parcel":"P`), '0'^'9'); n == 0 {
		t.Fatal("event 100 not found in the segment")
	}
	n, err := readAll(t, dir, leaves)
	var d *DamageError
	if !errors.As(err, &d) || d.Seq != 100 || d.File != seg0 || n != 100 {
		t.Fatalf("Range read %d events and stopped with %v; want event 100 of %s reported", n, err, seg0)
	}
	within(t, "proofs", func() {
		l, err := Open(context.Background(), dir, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		if _, _, err := l.ProveInclusion(100, 3000); !errors.Is(err, ErrDamaged) {
			t.Errorf("ProveInclusion(100) = %v; want ErrDamaged", err)
		}
		if _, _, err := l.ProveInclusion(99, 3000); err != nil {
			t.Errorf("ProveInclusion(99) = %v", err)
		}
	})
	if p := checkDamaged(t, dir); !p.HasSeq || p.Seq != 100 {
		t.Errorf("Check: %v; want event 100", p)
	}
	before, err := os.ReadFile(filepath.Join(dir, seg0))
	if err != nil {
		t.Fatal(err)
	}
	l := openTest(t, dir, nil)
	defer func() { within(t, "Close", func() { l.Close() }) }()
	// The segment holding the damaged event is sealed and never written
	// again: its free pages may hold the only intact copy of the event.
	defer func() {
		after, err := os.ReadFile(filepath.Join(dir, seg0))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("%s, which holds a damaged event, was written after the writable Open", seg0)
		}
	}()
	if n, ds := l.Damaged(); l.Damage() != "" || l.Epoch() != 0 || n != 1 || ds[0].Seq != 100 {
		t.Fatalf("writable Open: epoch %d, damage %q, Damaged() = %d, %v; want epoch 0 kept and event 100 reported", l.Epoch(), l.Damage(), n, ds)
	}
	appendN(t, l, 3000, 3)
	within(t, "Checkpoint", func() {
		if _, c, err := l.Checkpoint(context.Background()); err != nil || c.Size != 3003 {
			t.Errorf("Checkpoint = size %d, %v; want 3003 signed", c.Size, err)
		}
	})
}

// TestDamage_BitFlips flips bits at seeded offsets of the used part of the
// segment. Whatever is handed out is the original; damage is reported
// naming the file; Check, salvage and a writable Open return.
func TestDamage_BitFlips(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		dir, leaves := dmCopy(t)
		path := filepath.Join(dir, seg0)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		used := len(b)
		for used > 8192 && bytes.Count(b[used-4096:used], []byte{0}) == 4096 {
			used -= 4096
		}
		rng := rand.New(rand.NewSource(seed))
		for i := 0; i < 8; i++ {
			o := 8192 + rng.Intn(used-8192)
			b[o] ^= 1 << rng.Intn(8)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		n, rerr := readAll(t, dir, leaves)
		var rep *CheckResult
		within(t, "Check", func() { rep, _ = checkLog(context.Background(), dir, CheckOptions{Workers: 2}) })
		if rerr != nil && rep.Problem == nil {
			t.Errorf("seed %d: reads met damage (%v) but Check found none", seed, rerr)
		}
		k := testKey(t)
		var l *Log
		within(t, "writable Open", func() { l, err = Open(context.Background(), dir, &Options{Keys: k}) })
		if err != nil {
			t.Fatalf("seed %d: writable Open: %v", seed, err)
		}
		if l.Damage() == "" {
			// Kept: every event reads as written, or is damaged, reported.
			n, ds := l.Damaged()
			for seq := range l.Size() {
				leaf, err := l.Leaf(seq)
				var d *DamageError
				switch {
				case err == nil && !bytes.Equal(leaf, leaves[seq]):
					t.Errorf("seed %d: event %d handed out altered", seed, seq)
				case err != nil && (!errors.As(err, &d) || !slices.ContainsFunc(ds, func(k DamageError) bool { return k.Seq == seq })):
					t.Errorf("seed %d: Leaf(%d) = %v; Damaged() = %d, %v: want it among them", seed, seq, err, n, ds)
				}
			}
		}
		within(t, "Close", func() { l.Close() })
		t.Logf("seed %d: read %d events (%v); check: %v", seed, n, rerr, rep.Problem)
	}
}

// TestDamage_Truncated cuts the segment short at offsets between 30% and
// 60% of its size (a crash in readSegMeta and salvage's scan before).
func TestDamage_Truncated(t *testing.T) {
	for _, pct := range []int64{30, 38, 45, 52, 60} {
		dir, leaves := dmCopy(t)
		path := filepath.Join(dir, seg0)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()*pct/100+123); err != nil {
			t.Fatal(err)
		}
		readAll(t, dir, leaves)
		p := checkDamaged(t, dir)
		got := salvageAll(t, dir, leaves)
		openMovesAside(t, dir)
		t.Logf("cut at %d%%: check: %v; salvage recovered %d events", pct, p, got)
	}
}

// TestCheckpoint_FullDiskStoresAllOrNothing fills a small tmpfs and signs
// a checkpoint: it fails, and nothing is stored (the latest checkpoint and
// the segments' are as before); once space returns it succeeds and both
// hold it. A commit that fails (writes to the segment broken) stores
// nothing either.
func TestCheckpoint_FullDiskStoresAllOrNothing(t *testing.T) {
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "waybill-test", mnt).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and CAP_SYS_ADMIN): %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, "log")
	sw := &fdSwapper{files: map[string]*os.File{}}
	l := openTest(t, dir, &Options{OpenFile: sw.openFile})
	defer l.Close()
	appendN(t, l, 0, 50)
	if _, _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 50, 10)
	stored := func(what string, want uint64) {
		t.Helper()
		_, c, err := l.Latest()
		if err != nil || c.Size != want {
			t.Errorf("%s: Latest = size %d, %v; want %d", what, c.Size, err, want)
		}
		_, err = l.CheckpointAt(60)
		if (err == nil) != (want == 60) {
			t.Errorf("%s: CheckpointAt(60) = %v; stored must agree with Latest (size %d)", what, err, want)
		}
		if _, err := os.Stat(l.checkpointPath() + ".tmp"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the temporary checkpoint file remains (%v)", what, err)
		}
	}

	// The disk is full.
	ballast := filepath.Join(mnt, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	_, _, err = l.Checkpoint(context.Background())
	t.Logf("Checkpoint on a full disk: %v", err)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Checkpoint on a full disk = %v; want ENOSPC", err)
	}
	stored("full disk", 50)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}

	// The segment's commit fails.
	restore, _ := sw.breakWrites(t, "seg-000000.db")
	_, _, err = l.Checkpoint(context.Background())
	t.Logf("Checkpoint with the segment's writes failing: %v", err)
	if err == nil {
		t.Error("Checkpoint with the segment's writes failing succeeded")
	}
	stored("failed commit", 50)
	restore()

	note, c, err := l.Checkpoint(context.Background())
	if err != nil || c.Size != 60 {
		t.Fatalf("Checkpoint once space returned = size %d, %v", c.Size, err)
	}
	stored("space returned", 60)
	if got, _ := l.CheckpointAt(60); !bytes.Equal(got, note) {
		t.Error("the checkpoint stored in the segment is not the one returned")
	}
}

// FuzzOpenSegment opens a log whose segment file is the fuzzed bytes and
// reads everything: Open, Range over all events, a proof, Check, Salvage
// into a temporary directory, Close. None may panic or hang, and no event
// handed out may differ from the original when its position is an original
// one's and it is signed as that event.
func FuzzOpenSegment(f *testing.F) {
	base := f.TempDir()
	leaves := dmBuild(f, base, 40)
	seg, err := os.ReadFile(filepath.Join(base, seg0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	for _, cut := range []int{len(seg) / 3, len(seg) / 2, 4096 * 3, 100} {
		f.Add(seg[:cut])
	}
	for p := 2; p*4096 < len(seg); p++ {
		z := bytes.Clone(seg)
		copy(z[p*4096:(p+1)*4096], make([]byte, 4096))
		f.Add(z)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 8; i++ {
		z := bytes.Clone(seg)
		for j := 0; j < 4; j++ {
			z[rng.Intn(len(z))] ^= 1 << rng.Intn(8)
		}
		f.Add(z)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, EpochDir(0)), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{ManifestFile, filepath.Join(EpochDir(0), "checkpoint")} {
			c, err := os.ReadFile(filepath.Join(base, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), c, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, seg0), b, 0o644); err != nil {
			t.Fatal(err)
		}
		within(t, "reading the fuzzed log", func() {
			l, err := Open(context.Background(), dir, nil)
			if err != nil {
				return
			}
			defer l.Close()
			l.Range(0, 0, func(seq uint64, leaf []byte) error {
				if seq < uint64(len(leaves)) && !bytes.Equal(leaf, leaves[seq]) {
					if s, err := event.Parse(leaf); err == nil && s.Seq == seq {
						t.Errorf("event %d handed out altered", seq)
					}
				}
				return nil
			})
			if n := l.Size(); n > 0 {
				l.ProveInclusion(0, n)
				l.ProveInclusion(n-1, n)
			}
			l.CheckpointAt(l.Size())
		})
		within(t, "Check", func() { checkLog(context.Background(), dir, CheckOptions{Workers: 1}) })
		out := filepath.Join(t.TempDir(), "out")
		within(t, "Salvage", func() {
			salvageEpoch(context.Background(), filepath.Join(dir, EpochDir(0)), out, SalvageOptions{LogDir: dir, Workers: 1})
		})
		if _, err := os.Stat(out + ".partial"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Salvage left %s.partial behind", out)
		}
	})
}

// TestDamage_SealedSegment changes an event in a sealed segment. The log
// opens for writing without moving anything aside (the active segment is
// intact), refuses that event on every read, naming its file, counts it,
// and goes on appending, serving the other events and signing
// checkpoints, each consistent with the one before, across a restart,
// after which it still reports the damaged event.
func TestDamage_SealedSegment(t *testing.T) {
	dir := t.TempDir()
	leaves := ckBuild(t, dir, 300, 64<<10, 300)
	segs, _ := filepath.Glob(filepath.Join(dir, EpochDir(0), "seg-*.db"))
	if len(segs) < 3 {
		t.Fatalf("%d segments; want several", len(segs))
	}
	if n := ckXorAll(t, dir, []byte(`"parcel":"P000010"`), len(`"parcel":"P`), '0'^'9'); n == 0 {
		t.Fatal("event 10 not found")
	}
	l := openTest(t, dir, nil)
	defer func() { within(t, "Close", func() { l.Close() }) }()
	if l.Damage() != "" || l.Epoch() != 0 {
		t.Fatalf("Open moved the epoch aside for damage in a sealed segment: %q", l.Damage())
	}
	var file string
	ss, _ := l.Segments()
	for _, s := range ss {
		if s.First <= 10 && 10 < s.End && !s.Active {
			file = s.File
		}
	}
	if file == "" {
		t.Fatalf("event 10 is not in a sealed segment: %+v", ss)
	}
	for i := 0; i < 2; i++ {
		_, err := l.Leaf(10)
		var d *DamageError
		if !errors.As(err, &d) || d.Seq != 10 || d.File != file {
			t.Fatalf("Leaf(10), read %d = %v; want event 10 of %s damaged", i+1, err, file)
		}
	}
	if n, ds := l.Damaged(); n != 1 || len(ds) != 1 || ds[0].Seq != 10 {
		t.Errorf("Damaged() = %d, %v; want event 10 once", n, ds)
	}
	err := l.Range(11, 0, func(seq uint64, leaf []byte) error {
		if !bytes.Equal(leaf, leaves[seq]) {
			t.Errorf("event %d handed out altered", seq)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Range past the damaged event: %v", err)
	}
	_, prev, err := l.Latest()
	if err != nil {
		t.Fatal(err)
	}
	// signs appends events and signs a checkpoint, which must extend prev.
	signs := func(first int) {
		t.Helper()
		appendN(t, l, first, 5)
		var c checkpoint.Checkpoint
		within(t, "Checkpoint", func() { _, c, err = l.Checkpoint(context.Background()) })
		if err != nil || c.Size != uint64(first+5) {
			t.Fatalf("Checkpoint after damage in a sealed segment = size %d, %v; want size %d signed", c.Size, err, first+5)
		}
		_, _, proof, err := l.ProveConsistency(prev.Size, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := merkle.CheckConsistency(proof, prev.Size, c.Size, prev.Root, c.Root); err != nil {
			t.Fatalf("checkpoint %d is not consistent with checkpoint %d: %v", c.Size, prev.Size, err)
		}
		prev = c
	}
	signs(300)
	within(t, "Close", func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})

	l = openTest(t, dir, nil)
	if l.Damage() != "" || l.Epoch() != 0 || l.Size() != 305 {
		t.Fatalf("reopen: epoch %d, size %d, damage %q; want epoch 0 of 305 events, nothing moved aside", l.Epoch(), l.Size(), l.Damage())
	}
	if n, ds := l.Damaged(); n != 1 || len(ds) != 1 || ds[0].Seq != 10 || ds[0].File != file {
		t.Errorf("Damaged() after restart = %d, %v; want event 10 of %s (the epoch's %s)", n, ds, file, damagedName)
	}
	signs(305)
	if n, ds := l.Damaged(); n != 1 || len(ds) != 1 || ds[0].Seq != 10 || ds[0].File != file {
		t.Errorf("Damaged() after restart and a checkpoint = %d, %v; want event 10 of %s once", n, ds, file)
	}
	if _, err := l.Leaf(10); !errors.Is(err, ErrDamaged) {
		t.Errorf("Leaf(10) after restart = %v; want ErrDamaged", err)
	}
	var rep *CheckResult
	within(t, "Check", func() { l.Close(); rep, _ = checkLog(context.Background(), dir, CheckOptions{Workers: 2}) })
	if p := rep.Problem; p == nil || p.File != file || !p.HasSeq || p.Seq != 10 {
		t.Errorf("Check: %v; want event 10 of %s", rep.Problem, file)
	}
}
