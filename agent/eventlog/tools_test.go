package eventlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The damage, recovery and pruning tests verify the logs they leave with
// the log checker and salvage (agent/eventlog/logcheck and
// agent/eventlog/salvage), which import this package; tools_ext_test.go,
// in package eventlog_test, plugs them in here with SetTools.

// CheckResult is what the tests read of a logcheck report.
type CheckResult struct {
	Events, Pruned uint64
	Problem        *CheckResultProblem // nil when the log verified
}

// CheckResultProblem is the problem a check found.
type CheckResultProblem struct {
	File   string
	Seq    uint64
	HasSeq bool
	Err    error // the whole problem, as logcheck reports it
}

func (p *CheckResultProblem) Error() string { return p.Err.Error() }

// SalvageResult is what the tests read of a salvage report.
type SalvageResult struct {
	Recovered, Prefix uint64
	Summary           string
}

// CheckOptions and SalvageOptions name the log checker's and salvage's
// options the tests set.
type (
	CheckOptions   struct{ Workers int }
	SalvageOptions struct {
		LogDir  string
		Workers int
	}
)

var (
	checkHook         func(ctx context.Context, dir string, o CheckOptions) (*CheckResult, error)
	salvageHook       func(ctx context.Context, from, out string, o SalvageOptions) (*SalvageResult, error)
	salvageSourceHook func(dir string, epoch uint32) (string, error)
)

// SetTools plugs in the log checker and salvage.
func SetTools(check func(ctx context.Context, dir string, o CheckOptions) (*CheckResult, error),
	salvage func(ctx context.Context, from, out string, o SalvageOptions) (*SalvageResult, error),
	source func(dir string, epoch uint32) (string, error)) {
	checkHook, salvageHook, salvageSourceHook = check, salvage, source
}

// checkLog runs logcheck.Check on the log in dir.
func checkLog(ctx context.Context, dir string, o CheckOptions) (*CheckResult, error) {
	return checkHook(ctx, dir, o)
}

// salvageEpoch runs salvage.Recover.
func salvageEpoch(ctx context.Context, from, out string, o SalvageOptions) (*SalvageResult, error) {
	return salvageHook(ctx, from, out, o)
}

// SalvageSource runs salvage.Source.
func salvageSource(dir string, epoch uint32) (string, error) { return salvageSourceHook(dir, epoch) }

// ckBuild writes a closed log of n events in dir, signing a checkpoint after
// each size in cps, and returns the leaves.
func ckBuild(t *testing.T, dir string, n int, segBytes int64, cps ...int) [][]byte {
	t.Helper()
	l := openTest(t, dir, &Options{SegmentBytes: segBytes})
	var leaves [][]byte
	for i := 0; i < n; i++ {
		if _, err := l.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			if c == i+1 {
				if _, _, err := l.Checkpoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i := 0; i < n; i++ {
		leaf, err := l.Leaf(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return leaves
}

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
