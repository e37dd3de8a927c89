package eventlog

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/merkle"
)

// arm32Budget is the guest address space, in MiB, left free for the Go heap
// and every bbolt mapping of the 32-bit run: a stand-in for the 2 GiB a
// 32-bit ARM process can map, small enough to exceed threefold in seconds
// under emulation.
const arm32Budget = 12

// arm32Figures parses "done k=v …" or "partial k=v …" from the arm32 program.
func arm32Figures(t *testing.T, out []byte, prefix string) map[string]string {
	t.Helper()
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			f := map[string]string{}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			return f
		}
	}
	t.Fatalf("the arm32 program printed no %q line:\n%s", prefix, out)
	return nil
}

func figure(t *testing.T, f map[string]string, k string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(f[k], 10, 64)
	if err != nil {
		t.Fatalf("figure %s=%q: %v", k, f[k], err)
	}
	return v
}

// TestLog_Arm32 runs a GOARCH=arm (GOARM=6) build of the log under qemu-arm
// in an address space squeezed to arm32Budget MiB, and shows that with
// 1 MiB segments it keeps logging past three times what it can map at once,
// while one bbolt file (SegmentBytes 1 GiB) fails as soon as its mapping
// outgrows the budget. The host (amd64) then reads both logs.
func TestLog_Arm32(t *testing.T) {
	qemu, err := exec.LookPath("qemu-arm")
	if err != nil {
		t.Skip("qemu-arm not found: install the Debian package qemu-user (it provides /usr/bin/qemu-arm; `make test-deps` does)")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool to cross-compile with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "arm32")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/waybill-eu/waybill/testbench/fault/arm32")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm", "GOARM=6", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cross-compiling for GOARCH=arm: %v\n%s", err, out)
	}
	// Each emulated run is bounded: many times what it takes on a loaded
	// machine, so that only a hung or runaway run fails on the bound.
	const qemuDeadline = 10 * time.Minute
	run := func(dir string, segment int64) ([]byte, time.Duration, error) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), qemuDeadline)
		defer cancel()
		cmd := exec.CommandContext(ctx, qemu, bin,
			"-dir", dir, "-key", testKeyHex,
			"-vm-budget", strconv.Itoa(arm32Budget),
			"-segment", strconv.FormatInt(segment, 10),
			"-file-bytes", strconv.Itoa(3*arm32Budget<<20),
			"-bytes", strconv.FormatInt(1<<40, 10),
			"-payload", "8192", "-workers", "16")
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("the 32-bit run (segments of %d bytes) has not finished after %v:\n%s", segment, qemuDeadline, out)
		}
		return out, time.Since(start), err
	}

	// Segmented: must go past 3× the address space it has.
	dir := t.TempDir()
	out, took, err := run(dir, 1<<20)
	if err != nil {
		t.Fatalf("32-bit run with 1 MiB segments: %v\n%s", err, out)
	}
	f := arm32Figures(t, out, "done")
	events, fileBytes, segs := figure(t, f, "events"), figure(t, f, "filebytes"), figure(t, f, "segments")
	t.Logf("GOARCH=arm under qemu-arm, %d MiB of address space free: %d events, %d leaf bytes, %d segment files of %d bytes in all (%.1f× the budget), checkpoint at %s, in %v",
		arm32Budget, events, figure(t, f, "leafbytes"), segs, fileBytes, float64(fileBytes)/float64(arm32Budget<<20), f["checkpoint"], took.Round(time.Millisecond))
	if fileBytes < 3*arm32Budget<<20 || segs < 3*arm32Budget {
		t.Fatalf("the 32-bit run stopped at %d bytes in %d segments; want at least %d bytes", fileBytes, segs, 3*arm32Budget<<20)
	}

	// The host reads what the 32-bit process wrote.
	l, err := Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	size, root := l.Root()
	if size != events || hex.EncodeToString(root[:]) != f["root"] {
		t.Fatalf("host sees size %d root %x; the 32-bit process had %d, %s", size, root, events, f["root"])
	}
	checkLeaves(t, l, 0)
	note, cp, err := l.Latest()
	if err != nil || cp.Size != size {
		t.Fatalf("Latest = size %d, %v; want the 32-bit process's checkpoint at %d", cp.Size, err, size)
	}
	checkNote(t, l, note)
	l.mu.Lock()
	bounds := append([]SegmentInfo(nil), l.man.Segments...)
	l.mu.Unlock()
	if uint64(len(bounds)) != segs {
		t.Fatalf("manifest lists %d segments, %d files", len(bounds), segs)
	}
	// Proofs that cross segments: each segment's first and last event in
	// the whole tree, and consistency from each segment boundary.
	for i, s := range bounds {
		if s.First == 0 || s.First >= size {
			continue
		}
		for _, seq := range []uint64{s.First - 1, s.First} {
			leaf, proof, err := l.ProveInclusion(seq, size)
			if err != nil || merkle.CheckInclusion(proof, seq, size, merkle.LeafHash(leaf), root) != nil {
				t.Fatalf("inclusion of event %d (segment %d) in %d: %v", seq, i, size, err)
			}
		}
		old, err := l.TreeHash(s.First)
		if err != nil {
			t.Fatal(err)
		}
		checkConsistentWith(t, l, "segment boundary", s.First, old)
	}

	// One bbolt file in the same address space: fails once its mapping
	// no longer fits, and loses nothing it acknowledged.
	if testing.Short() {
		return
	}
	one := t.TempDir()
	out, took, err = run(one, 1<<30)
	if err == nil || !strings.Contains(string(out), "mmap allocate error") {
		t.Fatalf("a single 1 GiB segment in %d MiB of address space: err %v; want an mmap failure\n%s", arm32Budget, err, out)
	}
	pf := arm32Figures(t, out, "partial")
	t.Logf("for comparison, one bbolt file in the same address space: %d events, then %s (file %d bytes, %v)",
		figure(t, pf, "events"), strings.TrimSpace(strings.SplitN(string(out[strings.Index(string(out), "error "):]), "\n", 2)[0]),
		figure(t, pf, "filebytes"), took.Round(time.Millisecond))
	lo, err := Open(context.Background(), one, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	if lo.Size() != figure(t, pf, "events") {
		t.Fatalf("single-file log: host sees %d events, the 32-bit process acknowledged %d", lo.Size(), figure(t, pf, "events"))
	}
	checkLeaves(t, lo, 0)
}
