package eventlog

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/testbench/fault"
)

// Flags of the fault tests. A seed of 0 picks one from the clock; every test
// logs the seed it used so that a failure can be replayed.
var (
	faultSeed   = flag.Int64("fault.seed", 0, "seed of the fault tests' random choices (0: from the clock)")
	crashTrials = flag.Int("fault.trials", 0, "kill trials of TestLog_KillDuringAppend (0: 100, or 20 with -short)")
)

// testSeed returns the seed to use and logs how to replay it.
func testSeed(t *testing.T) int64 {
	s := *faultSeed
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("seed %d (replay with -fault.seed=%d)", s, s)
	return s
}

// Environment of the helper processes.
const (
	envDir      = "WAYBILL_FAULT_DIR"
	envSegBytes = "WAYBILL_FAULT_SEGMENT_BYTES"
	envSeed     = "WAYBILL_FAULT_SEED"
)

// crashAppenders is how many goroutines the appender child runs.
const crashAppenders = 4

// crashCheckpointEvery is how many acknowledged events separate the
// appender child's checkpoints.
const crashCheckpointEvery = 50

// crashEvent is the appender child's event number i of goroutine g, with a
// padding of random length so that segments fill at an irregular pace.
func crashEvent(g, i int, rng *rand.Rand) event.Event {
	pad := strings.Repeat("w", rng.Intn(1500))
	return event.Event{
		Time:    time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i),
		Source:  event.SourceNTP,
		Kind:    "x_crash",
		Payload: fmt.Appendf(nil, `{"g":%d,"i":%d,"pad":"%s"}`, g, i, pad),
	}
}

// TestHelperAppender is the child process of TestLog_KillDuringAppend: it
// appends from several goroutines until it is killed and reports on stdout
//
//	open SIZE             once Open has returned
//	ack SEQ LEAFHASH      after Append returned SEQ (LEAFHASH in hex)
//	cp NOTE               after Checkpoint returned NOTE (base64)
//	error TEXT            before exiting on an unexpected error
func TestHelperAppender(t *testing.T) {
	if !fault.IsHelper("TestHelperAppender") {
		t.Skip("helper process of TestLog_KillDuringAppend")
	}
	dir := os.Getenv(envDir)
	segBytes, _ := strconv.ParseInt(os.Getenv(envSegBytes), 10, 64)
	seed, _ := strconv.ParseInt(os.Getenv(envSeed), 10, 64)
	out := fault.NewLineWriter(os.Stdout)
	l := openTest(t, dir, &Options{SegmentBytes: segBytes})
	if d := l.Damage(); d != "" {
		out.Printf("error opened a damaged log: %s", d)
		os.Exit(3)
	}
	out.Printf("open %d", l.Size())
	fail := func(format string, args ...any) {
		out.Printf("error "+format, args...)
		os.Exit(3)
	}
	var acked atomic.Uint64
	ctx := context.Background()
	for g := 0; g < crashAppenders; g++ {
		go func(g int) {
			rng := rand.New(rand.NewSource(seed + int64(g)))
			for i := 0; ; i++ {
				s, err := l.Append(ctx, crashEvent(g, i, rng))
				if err != nil {
					fail("append: %v", err)
				}
				leaf, err := s.Leaf()
				if err != nil {
					fail("leaf: %v", err)
				}
				h := merkle.LeafHash(leaf)
				out.Printf("ack %d %s", s.Seq, hex.EncodeToString(h[:]))
				if acked.Add(1)%crashCheckpointEvery == 0 {
					note, _, err := l.Checkpoint(ctx)
					if err != nil {
						fail("checkpoint: %v", err)
					}
					out.Printf("cp %s", base64.StdEncoding.EncodeToString(note))
				}
			}
		}(g)
	}
	select {} // until killed
}

// childReport is what the parent learned from one appender child.
type childReport struct {
	opened bool
	acks   map[uint64]merkle.Hash
	notes  [][]byte
	errs   []string
}

func parseChildLine(t *testing.T, r *childReport, line string) {
	t.Helper()
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case "open":
		r.opened = true
	case "ack":
		seqText, hashText, _ := strings.Cut(rest, " ")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		h, herr := hex.DecodeString(hashText)
		if err != nil || herr != nil || len(h) != 32 {
			t.Fatalf("child printed a malformed ack line %q", line)
		}
		if _, dup := r.acks[seq]; dup {
			t.Fatalf("child acknowledged seq %d twice", seq)
		}
		r.acks[seq] = merkle.Hash(h)
	case "cp":
		note, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			t.Fatalf("child printed a malformed checkpoint line %q", line)
		}
		r.notes = append(r.notes, note)
	case "error":
		r.errs = append(r.errs, rest)
	}
}

// checkConsistentWith checks that the log's current tree extends the tree
// of size oldSize with root oldRoot, by an RFC 9162 consistency proof.
func checkConsistentWith(t *testing.T, l *Log, what string, oldSize uint64, oldRoot merkle.Hash) {
	t.Helper()
	size, root := l.Root()
	if oldSize > size {
		t.Fatalf("%s has size %d, but the log holds only %d events", what, oldSize, size)
	}
	if oldSize == 0 {
		return
	}
	o, n, proof, err := l.ProveConsistency(oldSize, size)
	if err != nil {
		t.Fatalf("consistency proof from %s (size %d) to size %d: %v", what, oldSize, size, err)
	}
	if o != oldRoot || n != root {
		t.Fatalf("%s: proof roots %s → %s, want %s → %s", what, o, n, oldRoot, root)
	}
	if err := merkle.CheckConsistency(proof, oldSize, size, oldRoot, root); err != nil {
		t.Fatalf("%s (size %d) is not consistent with the log at size %d: %v", what, oldSize, size, err)
	}
}

// checkNote verifies a checkpoint note the log signed and that the log
// still extends it.
func checkNote(t *testing.T, l *Log, note []byte) checkpoint.Checkpoint {
	t.Helper()
	cp, _, err := checkpoint.OpenCheckpoint(note, l.Verifier())
	if err != nil {
		t.Fatalf("checkpoint note does not verify: %v\n%s", err, note)
	}
	if cp.Origin != l.Origin() {
		t.Fatalf("checkpoint origin %q, log origin %q", cp.Origin, l.Origin())
	}
	checkConsistentWith(t, l, fmt.Sprintf("checkpoint of size %d", cp.Size), cp.Size, cp.Root)
	return cp
}

// checkAcks checks that every acknowledged event is in the log with the
// leaf hash the appender saw, by an inclusion proof against the current root.
func checkAcks(t *testing.T, l *Log, acks map[uint64]merkle.Hash) {
	t.Helper()
	size, root := l.Root()
	for seq, want := range acks {
		if seq >= size {
			t.Fatalf("acknowledged event %d is lost: the log holds %d events", seq, size)
		}
		leaf, proof, err := l.ProveInclusion(seq, size)
		if err != nil {
			t.Fatalf("acknowledged event %d: %v", seq, err)
		}
		if got := merkle.LeafHash(leaf); got != want {
			t.Fatalf("acknowledged event %d has leaf hash %s, the appender saw %s", seq, got, want)
		}
		if err := merkle.CheckInclusion(proof, seq, size, want, root); err != nil {
			t.Fatalf("acknowledged event %d is not in the tree: %v", seq, err)
		}
	}
}

// checkLeaves checks that events from..size-1 all exist, parse as canonical
// signed events and carry their own sequence number and the epoch.
func checkLeaves(t *testing.T, l *Log, from uint64) {
	t.Helper()
	size := l.Size()
	next := from
	err := l.Range(from, 0, func(seq uint64, leaf []byte) error {
		if seq != next {
			return fmt.Errorf("Range gave event %d after %d", seq, next-1)
		}
		next++
		s, err := event.Parse(leaf)
		if err != nil {
			return fmt.Errorf("event %d: %v", seq, err)
		}
		if s.Seq != seq || s.Epoch != l.Epoch() || s.Device != l.Identity().Device {
			return fmt.Errorf("leaf %d carries seq %d epoch %d device %s", seq, s.Seq, s.Epoch, s.Device)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != size && size > from {
		t.Fatalf("Range ended at %d; log size %d", next, size)
	}
}

func TestLog_KillDuringAppend(t *testing.T) {
	trials := *crashTrials
	if trials <= 0 {
		trials = 100
		if testing.Short() {
			trials = 20
		}
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	start := time.Now()

	var (
		allAcks                  = map[uint64]merkle.Hash{}
		verified                 uint64      // events checkLeaves has parsed
		prevSize                 uint64      // log size after the previous trial
		prevRoot                 merkle.Hash // and its root
		killedBeforeOpen, smallS int
		notes                    int
	)
	for trial := 0; trial < trials; trial++ {
		segBytes := int64(0) // default
		if rng.Intn(2) == 0 {
			segBytes = 256 << 10
			smallS++
		}
		// Mostly kill while appending, 5–150 ms after Open returned; in a
		// quarter of the trials kill 0–20 ms after the start, which often
		// lands in Open itself (process start-up, creation, segment checks).
		delay := time.Duration(5+rng.Intn(146)) * time.Millisecond
		fromStart := rng.Intn(4) == 0
		if fromStart {
			delay = time.Duration(rng.Intn(21)) * time.Millisecond
		}
		c := fault.Start(t, "TestHelperAppender",
			envDir+"="+dir,
			envSegBytes+"="+strconv.FormatInt(segBytes, 10),
			envSeed+"="+strconv.FormatInt(rng.Int63(), 10))
		if fromStart {
			time.AfterFunc(delay, c.Kill)
		}
		// A guard against a child that hangs without output, not a timing
		// assertion: such a child then fails the checks below.
		guard := time.AfterFunc(2*time.Minute, c.Kill)
		rep := &childReport{acks: map[uint64]merkle.Hash{}}
		for line := range c.Lines() {
			parseChildLine(t, rep, line)
			if strings.HasPrefix(line, "open ") && !fromStart {
				time.AfterFunc(delay, c.Kill)
			}
		}
		guard.Stop()
		st := c.Wait()
		if !st.Killed || len(rep.errs) > 0 {
			t.Fatalf("trial %d: child ended by itself (%v), errors %q\nstderr:\n%s\nother output:\n%s",
				trial, st, rep.errs, c.Stderr(), c.Unread())
		}
		if !rep.opened {
			killedBeforeOpen++
		}

		l := openTest(t, dir, &Options{SegmentBytes: segBytes})
		if d := l.Damage(); d != "" || l.Epoch() != 0 {
			t.Fatalf("trial %d: a kill made the log start epoch %d: %s", trial, l.Epoch(), d)
		}
		size, root := l.Root()
		var maxAck uint64
		for seq, h := range rep.acks {
			if old, ok := allAcks[seq]; ok {
				t.Fatalf("trial %d: seq %d acknowledged again (hash %s, before %s): an acknowledged event was lost", trial, seq, h, old)
			}
			allAcks[seq] = h
			maxAck = max(maxAck, seq+1)
		}
		if size < maxAck || size < prevSize {
			t.Fatalf("trial %d: log size %d; max acknowledged seq+1 %d, size before the trial %d", trial, size, maxAck, prevSize)
		}
		checkAcks(t, l, rep.acks)
		checkLeaves(t, l, verified)
		verified = size
		checkConsistentWith(t, l, "the tree before the trial", prevSize, prevRoot)
		for _, n := range rep.notes {
			checkNote(t, l, n)
			notes++
		}
		if note, _, err := l.Latest(); err == nil {
			checkNote(t, l, note)
		} else if err != ErrNoCheckpoint {
			t.Fatalf("trial %d: Latest: %v", trial, err)
		}
		prevSize, prevRoot = size, root
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A last full pass over everything, on a fresh open.
	l := openTest(t, dir, nil)
	defer l.Close()
	checkLeaves(t, l, 0)
	checkAcks(t, l, allAcks)
	if _, _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatalf("Checkpoint after %d kills: %v", trials, err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, EpochDir(0), "seg-*.db"))
	t.Logf("%d kill trials in %v: %d events in the log, %d acknowledged, %d segments, %d checkpoints checked, %d trials killed before Open returned, %d with 256 KiB segments",
		trials, time.Since(start).Round(time.Millisecond), l.Size(), len(allAcks), len(segs), notes, killedBeforeOpen, smallS)
}
