package eventlog

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/testbench/fault"
)

// prBuild appends n events to a log, 50 to a commit, signing a checkpoint
// every 100 events, and returns the open log and the leaves.
func prBuild(t *testing.T, dir string, n int, segBytes int64) (*Log, [][]byte) {
	t.Helper()
	l := openTest(t, dir, &Options{SegmentBytes: segBytes})
	ctx := context.Background()
	var leaves [][]byte
	for i := 0; i < n; i += 50 {
		leaves = append(leaves, appendBatch(t, l, i, min(i+50, n))...)
		if len(leaves)%100 == 0 {
			if _, _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l, leaves
}

// prCheckAll checks every event of l against leaves: retained ones by
// their bytes and ProveInclusion, pruned ones by a *PrunedError and an
// inclusion proof from their hash; and that Check passes.
func prCheckAll(t *testing.T, l *Log, leaves [][]byte) (pruned uint64) {
	t.Helper()
	size, root := l.Root()
	if size != uint64(len(leaves)) {
		t.Fatalf("log size %d, want %d", size, len(leaves))
	}
	for seq := uint64(0); seq < size; seq++ {
		want := merkle.LeafHash(leaves[seq])
		h, proof, err := l.InclusionProof(seq, size)
		if err != nil || h != want {
			t.Fatalf("event %d: InclusionProof = %s, %v; want hash %s", seq, h, err, want)
		}
		if err := merkle.CheckInclusion(proof, seq, size, want, root); err != nil {
			t.Fatalf("event %d: proof from its hash: %v", seq, err)
		}
		leaf, err := l.Leaf(seq)
		var pe *PrunedError
		switch {
		case errors.As(err, &pe):
			if !errors.Is(err, ErrPruned) || pe.Seq != seq || pe.Retained <= seq || pe.Retained != l.Retained() {
				t.Fatalf("event %d: %v (retained %d)", seq, err, l.Retained())
			}
			if _, _, err := l.ProveInclusion(seq, size); !errors.Is(err, ErrPruned) {
				t.Fatalf("event %d: ProveInclusion of a pruned event = %v", seq, err)
			}
			pruned++
		case err != nil:
			t.Fatalf("event %d: %v", seq, err)
		case string(leaf) != string(leaves[seq]):
			t.Fatalf("event %d: leaf changed", seq)
		}
	}
	if r := l.Retained(); r != pruned {
		t.Fatalf("Retained() = %d, but %d events read as pruned", r, pruned)
	}
	return pruned
}

func TestPrune_KeepsProofsAndShrinks(t *testing.T) {
	dir := t.TempDir()
	l, leaves := prBuild(t, dir, 8000, 512<<10)
	size, root := l.Root()
	_, cp, err := l.Latest()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := l.Segments()
	if len(before) < 6 {
		t.Fatalf("%d segments; the test needs several", len(before))
	}
	var bytesBefore int64
	for _, s := range before {
		bytesBefore += s.Bytes
	}
	below := before[3].End // segments 0..3 are prunable
	res, err := l.Prune(context.Background(), below+1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 4 || res.Events != below || res.Busy != 0 || res.Freed <= 0 {
		t.Fatalf("Prune = %+v; want 4 segments, %d events", res, below)
	}
	after, _ := l.Segments()
	var bytesAfter int64
	for i, s := range after {
		bytesAfter += s.Bytes
		if s.Pruned != (i < 4) || s.First != before[i].First || s.End != before[i].End {
			t.Fatalf("segment %d after prune: %+v (before %+v)", i, s, before[i])
		}
	}
	t.Logf("%d events in %d segments: %d bytes; after pruning 4 segments (%d events): %d bytes; the pruned segments shrank from %d to %d bytes",
		size, len(after), bytesBefore, below, bytesAfter, segBytesOf(before[:4]), segBytesOf(after[:4]))
	if bytesBefore-bytesAfter != res.Freed {
		t.Fatalf("Freed = %d; the files shrank by %d", res.Freed, bytesBefore-bytesAfter)
	}
	if got := prCheckAll(t, l, leaves); got != below {
		t.Fatalf("%d events read as pruned, want %d", got, below)
	}
	// Roots, consistency from every checkpoint, and a new checkpoint
	// (whose scrub walks the pruned events) all still work.
	if s, r := l.Root(); s != size || r != root {
		t.Fatal("root changed")
	}
	if got, err := l.TreeHash(cp.Size); err != nil || got != merkle.Hash(cp.Root) {
		t.Fatalf("TreeHash(%d) = %s, %v", cp.Size, got, err)
	}
	checkConsistentWith(t, l, "a checkpoint of size 50", 50, mustTreeHash(t, leaves[:50]))
	if note, err := l.CheckpointAt(100); err != nil || len(note) == 0 {
		t.Fatalf("the checkpoint note stored in a pruned segment: %v", err)
	}
	for i := 0; i < 10; i++ {
		s, err := l.Append(context.Background(), testEvent(8000+i))
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := s.Leaf()
		leaves = append(leaves, leaf)
	}
	for i := 0; i < 3; i++ { // the scrub rotates over everything
		if _, _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatalf("Checkpoint after pruning: %v", err)
		}
		s, _ := l.Append(context.Background(), testEvent(4000+i))
		leaf, _ := s.Leaf()
		leaves = append(leaves, leaf)
	}
	// Pruning again changes nothing; a bound inside a segment prunes none of it.
	if res, err := l.Prune(context.Background(), below+1); err != nil || res.Segments != 0 {
		t.Fatalf("second Prune = %+v, %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := checkLog(context.Background(), dir, CheckOptions{})
	if err != nil {
		t.Fatalf("Check after pruning: %v", err)
	}
	if rep.Pruned != below || rep.Events != uint64(len(leaves)) {
		t.Fatalf("Check: %d events, %d pruned; want %d, %d", rep.Events, rep.Pruned, len(leaves), below)
	}
	l = openTest(t, dir, nil)
	defer l.Close()
	prCheckAll(t, l, leaves)
	// Range over pruned events says so; from Retained it works.
	if err := l.Range(0, 1, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrPruned) {
		t.Fatalf("Range over a pruned event = %v", err)
	}
	if err := l.Range(l.Retained(), 0, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func segBytesOf(segs []Segment) (n int64) {
	for _, s := range segs {
		n += s.Bytes
	}
	return n
}

func mustTreeHash(t *testing.T, leaves [][]byte) merkle.Hash {
	t.Helper()
	f, _ := merkle.NewFrontier(0, nil)
	for _, l := range leaves {
		f.Append(merkle.LeafHash(l))
	}
	return f.Root()
}

// TestPrune_RefusesDamagedSegment: a leaf that no longer matches its
// stored hash is evidence of damage; pruning it would destroy the
// evidence, so Prune refuses and changes nothing.
func TestPrune_RefusesDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	l, _ := prBuild(t, dir, 1500, 64<<10)
	l.Close()
	ckXorAll(t, dir, []byte(`"parcel":"P000010"`), 12, 0x01)
	l = openTest(t, dir, &Options{SegmentBytes: 64 << 10})
	defer l.Close()
	segs, _ := l.Segments()
	i := 0
	for segs[i].End <= 10 {
		i++
	}
	res, err := l.Prune(context.Background(), segs[i].End)
	if err == nil || !strings.Contains(err.Error(), "does not match its stored hashes") || res.Segments != i {
		t.Fatalf("Prune of a damaged segment = %+v, %v", res, err)
	}
	if r := l.Retained(); r != segs[i].First {
		t.Fatalf("Retained = %d: the segments before the damaged one should be pruned, and it not", r)
	}
}

func TestPrune_ReadOnlyAndNothingSealed(t *testing.T) {
	dir := t.TempDir()
	l, _ := prBuild(t, dir, 20, 1<<20) // one segment, the active one
	if res, err := l.Prune(context.Background(), 20); err != nil || res.Segments != 0 {
		t.Fatalf("Prune with only the active segment = %+v, %v", res, err)
	}
	l.Close()
	r, err := Open(context.Background(), dir, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Prune(context.Background(), 20); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Prune on a read-only log = %v", err)
	}
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !fi.Mode().IsRegular() || fi.Name() == "LOCK" {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestPrune_CrashAtEveryStep snapshots the log directory after each durable
// step of a prune, as a power cut there would leave it (every step fsyncs
// before the next begins), and checks that each snapshot opens to the same
// tree with every event provable, that Open removes the file the manifest
// does not name, and that pruning then completes. A copy cut off halfway
// (the process killed while writing it) is tried too.
func TestPrune_CrashAtEveryStep(t *testing.T) {
	dir := t.TempDir()
	l, leaves := prBuild(t, dir, 1500, 64<<10)
	l.Close()
	snaps := map[string]string{}
	l = openTest(t, dir, &Options{SegmentBytes: 64 << 10, PruneStep: func(step string) {
		if _, done := snaps[step]; !done {
			snaps[step] = copyDir(t, dir)
		}
	}})
	defer l.Close()
	size, root := l.Root()
	segs, _ := l.Segments()
	if _, err := l.Prune(context.Background(), segs[0].End); err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 3 {
		t.Fatalf("PruneStep was called at %d steps, want 3 (copied, renamed, manifest)", len(snaps))
	}
	torn := copyDir(t, snaps["copied"])
	tmps, _ := filepath.Glob(filepath.Join(torn, EpochDir(0), "*.tmp"))
	if len(tmps) != 1 {
		t.Fatalf("the snapshot after the copy holds %d temporary files", len(tmps))
	}
	fi, _ := os.Stat(tmps[0])
	if err := os.Truncate(tmps[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	snaps["torn copy"] = torn
	for _, step := range []string{"torn copy", "copied", "renamed", "manifest"} {
		t.Run(step, func(t *testing.T) {
			d := snaps[step]
			c := openTest(t, d, &Options{SegmentBytes: 64 << 10})
			defer c.Close()
			if s, r := c.Root(); s != size || r != root || c.Damage() != "" {
				t.Fatalf("after a crash at %q: size %d root %s damage %q", step, s, r, c.Damage())
			}
			files, _ := filepath.Glob(filepath.Join(d, EpochDir(0), "seg-*"))
			if len(files) != len(segs) {
				t.Fatalf("after a crash at %q and Open: %d segment files, want %d: %v", step, len(files), len(segs), files)
			}
			wantPruned := uint64(0)
			if step == "manifest" {
				wantPruned = segs[0].End
			}
			if got := prCheckAll(t, c, leaves); got != wantPruned {
				t.Fatalf("%d events pruned, want %d", got, wantPruned)
			}
			if _, err := c.Prune(context.Background(), segs[0].End); err != nil {
				t.Fatal(err)
			}
			if got := prCheckAll(t, c, leaves); got != segs[0].End {
				t.Fatalf("after pruning again: %d pruned, want %d", got, segs[0].End)
			}
			c.Close()
			if _, err := checkLog(context.Background(), d, CheckOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

const envPruneLag = "WAYBILL_FAULT_PRUNE_LAG"

// TestHelperPruner is the child of TestPrune_KillWhileAppendingAndPruning:
// it appends, checkpoints and prunes everything more than a lag behind,
// until killed. It reports "open SIZE", "ack SEQ LEAFHASH" and "error TEXT"
// like TestHelperAppender, and "pruned RETAINED" after each prune.
func TestHelperPruner(t *testing.T) {
	if !fault.IsHelper("TestHelperPruner") {
		t.Skip("helper process of TestPrune_KillWhileAppendingAndPruning")
	}
	dir := os.Getenv(envDir)
	seed, _ := strconv.ParseInt(os.Getenv(envSeed), 10, 64)
	lag, _ := strconv.ParseUint(os.Getenv(envPruneLag), 10, 64)
	out := fault.NewLineWriter(os.Stdout)
	l := openTest(t, dir, &Options{SegmentBytes: 64 << 10})
	if d := l.Damage(); d != "" {
		out.Printf("error opened a damaged log: %s", d)
		os.Exit(3)
	}
	out.Printf("open %d", l.Size())
	ctx := context.Background()
	rng := rand.New(rand.NewSource(seed))
	go func() {
		for {
			if n := l.Size(); n > lag {
				if _, err := l.Prune(ctx, n-lag); err != nil {
					out.Printf("error prune: %v", err)
					os.Exit(3)
				}
				out.Printf("pruned %d", l.Retained())
			}
			time.Sleep(time.Duration(rng.Intn(3)) * time.Millisecond)
		}
	}()
	for i := 0; ; i++ {
		s, err := l.Append(ctx, crashEvent(0, i, rng))
		if err != nil {
			out.Printf("error append: %v", err)
			os.Exit(3)
		}
		leaf, _ := s.Leaf()
		h := merkle.LeafHash(leaf)
		out.Printf("ack %d %s", s.Seq, hex.EncodeToString(h[:]))
		if i%40 == 39 {
			if _, _, err := l.Checkpoint(ctx); err != nil {
				out.Printf("error checkpoint: %v", err)
				os.Exit(3)
			}
		}
	}
}

// TestPrune_KillWhileAppendingAndPruning kills a process that appends and
// prunes at random moments, then checks that every acknowledged event is
// still proven by the tree (pruned ones by their hash), that the log
// passes a full Check, and that nothing pruned comes back or is lost.
func TestPrune_KillWhileAppendingAndPruning(t *testing.T) {
	trials := 12
	if testing.Short() {
		trials = 6
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	acks := map[uint64]merkle.Hash{}
	var prunes, maxRetained uint64
	for trial := 0; trial < trials; trial++ {
		c := fault.Start(t, "TestHelperPruner", envDir+"="+dir, envSeed+"="+strconv.FormatInt(rng.Int63(), 10),
			envPruneLag+"=100")
		// The kill comes at a point of the child's progress, not of the
		// clock, so that a loaded machine kills as deep into the work as an
		// idle one: after a random number of acknowledgements, or (every
		// other trial) a few acknowledgements after a prune that removed
		// something.
		killAt := 30 + rng.Intn(300)
		afterPrune := -1
		if trial%2 == 1 {
			afterPrune = rng.Intn(20)
		}
		pruned := false
		var acked int
		guard := time.AfterFunc(2*time.Minute, c.Kill)
		var errs []string
		for line := range c.Lines() {
			word, rest, _ := strings.Cut(line, " ")
			switch word {
			case "ack":
				seqText, hashText, _ := strings.Cut(rest, " ")
				seq, _ := strconv.ParseUint(seqText, 10, 64)
				h, _ := hex.DecodeString(hashText)
				acks[seq] = merkle.Hash(h)
				acked++
				if afterPrune < 0 && acked >= killAt {
					c.Kill()
				}
				if afterPrune >= 0 && pruned {
					if afterPrune == 0 {
						c.Kill()
					}
					afterPrune--
				}
			case "pruned":
				r, _ := strconv.ParseUint(rest, 10, 64)
				if r > maxRetained {
					pruned = true
					if afterPrune == 0 {
						c.Kill()
					}
				}
				maxRetained = max(maxRetained, r)
				prunes++
			case "error":
				errs = append(errs, rest)
			}
		}
		guard.Stop()
		if st := c.Wait(); !st.Killed || len(errs) > 0 {
			t.Fatalf("trial %d: child ended by itself (%v), errors %q\nstderr:\n%s", trial, st, errs, c.Stderr())
		}
		l := openTest(t, dir, &Options{SegmentBytes: 64 << 10})
		size, root := l.Root()
		if l.Damage() != "" {
			t.Fatalf("trial %d: %s", trial, l.Damage())
		}
		if r := l.Retained(); r < maxRetained {
			t.Fatalf("trial %d: the log retains payloads from %d, but a prune had reported %d: a pruned segment came back", trial, r, maxRetained)
		}
		for seq, want := range acks {
			if seq >= size {
				t.Fatalf("trial %d: acknowledged event %d lost (size %d)", trial, seq, size)
			}
			h, proof, err := l.InclusionProof(seq, size)
			if err != nil || h != want {
				t.Fatalf("trial %d: event %d: hash %s, %v; acknowledged %s", trial, seq, h, err, want)
			}
			if err := merkle.CheckInclusion(proof, seq, size, want, root); err != nil {
				t.Fatalf("trial %d: event %d: %v", trial, seq, err)
			}
		}
		checkLeaves(t, l, l.Retained())
		l.Close()
		if _, err := checkLog(context.Background(), dir, CheckOptions{}); err != nil {
			t.Fatalf("trial %d: Check: %v", trial, err)
		}
		leftovers, _ := filepath.Glob(filepath.Join(dir, EpochDir(0), "*.tmp"))
		if len(leftovers) > 0 {
			// Only the next writable Open removes them; Check opened read-only.
			t.Logf("trial %d: %d temporary files left for the next open", trial, len(leftovers))
		}
	}
	t.Logf("%d kills: %d events acknowledged, %d prunes reported, payloads retained from event %d", trials, len(acks), prunes, maxRetained)
	if maxRetained == 0 {
		t.Fatal("no prune completed in any trial: the test exercised nothing")
	}
}
