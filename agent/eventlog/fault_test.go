package eventlog

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/testbench/fault"
)

// appendN appends n test events numbered from first and returns the leaf
// hash of each by sequence number.
func appendN(t *testing.T, l *Log, first, n int) map[uint64]merkle.Hash {
	t.Helper()
	acks := map[uint64]merkle.Hash{}
	for i := first; i < first+n; i++ {
		s, err := l.Append(context.Background(), testEvent(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		leaf, err := s.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		acks[s.Seq] = merkle.LeafHash(leaf)
	}
	return acks
}

// snapshotTree returns the content of every regular file under root, by
// path relative to root.
func snapshotTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameTree(t *testing.T, what string, want, got map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: %s is missing", what, name)
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s: %s changed (%d bytes, was %d)", what, name, len(g), len(w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected file %s", what, name)
		}
	}
}

// corruptMetaPages overwrites both bbolt meta pages of the segment file.
func corruptMetaPages(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := bytes.Repeat([]byte{0xa5}, 512)
	ps := int64(os.Getpagesize())
	for _, off := range []int64{0, ps} {
		if _, err := f.WriteAt(garbage, off); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpen_DamagedSegmentStartsNewEpoch(t *testing.T) {
	seg0 := filepath.Join(EpochDir(0), "seg-000000.db")
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		cause  string // in the damage report
	}{
		{"MetaPagesOverwritten", func(t *testing.T, dir string) {
			corruptMetaPages(t, filepath.Join(dir, seg0))
		}, "invalid"},
		{"TruncatedToFewBytes", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, seg0), 10); err != nil {
				t.Fatal(err)
			}
		}, "invalid"},
		{"TruncatedBelowTwoPages", func(t *testing.T, dir string) {
			// Meta page 0 intact, the rest of the file gone.
			if err := os.Truncate(filepath.Join(dir, seg0), int64(os.Getpagesize())+100); err != nil {
				t.Fatal(err)
			}
		}, "seg-000000.db"},
		{"TruncatedToHalf", func(t *testing.T, dir string) {
			// bbolt itself panics on this file (its freelist page is gone).
			l := openTest(t, dir, nil)
			appendN(t, l, 100, 400)
			l.Close()
			path := filepath.Join(dir, seg0)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "seg-000000.db"},
		{"CheckpointAheadOfLog", func(t *testing.T, dir string) {
			// An SD card that acknowledged fsyncs it did not keep: the
			// segment goes back to an older state, while the checkpoint
			// signed later survives.
			path := filepath.Join(dir, seg0)
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			l := openTest(t, dir, nil)
			appendN(t, l, 100, 20)
			if _, _, err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "checkpoint 60 was signed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, nil)
			appendN(t, l, 0, 40)
			if _, _, err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.Close()
			tc.damage(t, dir)
			before := snapshotTree(t, dir)
			epoch0 := snapshotTree(t, filepath.Join(dir, EpochDir(0)))

			// A reader must not repair anything: it fails and moves nothing.
			if r, err := Open(context.Background(), dir, nil); err == nil {
				r.Close()
				t.Fatalf("read-only Open of a damaged log succeeded")
			} else {
				t.Logf("read-only Open: %v", err)
			}
			sameTree(t, "after read-only Open", before, snapshotTree(t, dir))
			if _, err := os.Stat(filepath.Join(dir, "damaged")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("read-only Open created damaged/ (%v)", err)
			}

			l = openTest(t, dir, nil)
			d := l.Damage()
			t.Logf("Damage: %s", d)
			if d == "" || !strings.Contains(d, "epoch 0") || !strings.Contains(d, "damaged/") || !strings.Contains(d, tc.cause) {
				t.Fatalf("Damage() = %q; want a report on epoch 0 naming damaged/ and %q", d, tc.cause)
			}
			if l.Epoch() != 1 || !strings.HasSuffix(l.Origin(), "/1") || l.Size() != 0 {
				t.Fatalf("after damage: epoch %d origin %q size %d; want epoch 1, origin …/1, empty", l.Epoch(), l.Origin(), l.Size())
			}
			eps := l.Epochs()
			if len(eps) != 2 || eps[0].Epoch != 0 || eps[1].Epoch != 1 || eps[0].Reason == "" || eps[0].MovedTo == "" || eps[0].Ended == "" ||
				eps[1].Reason != "" || eps[1].Origin != l.Origin() {
				t.Fatalf("Epochs() = %+v", eps)
			}
			m, err := ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.Epoch != 1 || len(m.Epochs) != 2 || m.Epochs[0].MovedTo != eps[0].MovedTo || m.Epochs[0].Reason != eps[0].Reason {
				t.Fatalf("manifest: epoch %d, epochs %+v", m.Epoch, m.Epochs)
			}
			if !strings.HasPrefix(eps[0].MovedTo, "damaged"+string(filepath.Separator)+"epoch-0-") {
				t.Fatalf("epoch 0 moved to %q", eps[0].MovedTo)
			}
			sameTree(t, "moved epoch 0", epoch0, snapshotTree(t, filepath.Join(dir, eps[0].MovedTo)))
			if _, err := os.Stat(filepath.Join(dir, EpochDir(0))); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s still exists (%v)", EpochDir(0), err)
			}

			s, err := l.Append(context.Background(), testEvent(1000))
			if err != nil || s.Seq != 0 || s.Epoch != 1 {
				t.Fatalf("first append in the new epoch = %+v, %v; want seq 0 of epoch 1", s, err)
			}
			acks := appendN(t, l, 1001, 9)
			note, _, err := l.Checkpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			l.Close()

			// The new epoch is healthy: a reopen stays in it.
			l = openTest(t, dir, nil)
			defer l.Close()
			if l.Epoch() != 1 || l.Damage() != "" || l.Size() != 10 || len(l.Epochs()) != 2 {
				t.Fatalf("reopen: epoch %d, damage %q, size %d, %d epochs; want epoch 1, no damage, 10 events, 2 epochs",
					l.Epoch(), l.Damage(), l.Size(), len(l.Epochs()))
			}
			checkAcks(t, l, acks)
			checkLeaves(t, l, 0)
			checkNote(t, l, note)
			// Read-only opens of the healthy new epoch work.
			l.Close()
			r, err := Open(context.Background(), dir, nil)
			if err != nil {
				t.Fatalf("read-only Open of the new epoch: %v", err)
			}
			if r.Epoch() != 1 || r.Size() != 10 {
				t.Fatalf("read-only: epoch %d size %d", r.Epoch(), r.Size())
			}
			r.Close()
		})
	}
}

// Full disk ---------------------------------------------------------------

const (
	envFullMode = "WAYBILL_FAULT_FULL_MODE" // "rlimit" or "ballast"
	envBallast  = "WAYBILL_FAULT_BALLAST"   // ballast file, in ballast mode
)

// diskFiller makes the log's file system full for a helper process and
// makes space return.
type diskFiller struct {
	t       *testing.T
	mode    string
	ballast string
	limit   syscall.Rlimit // the process's limit before the test
}

// fill makes writes that grow the active segment fail from now on.
func (d *diskFiller) fill(l *Log) {
	switch d.mode {
	case "rlimit":
		// The file may not grow beyond its current size.
		l.mu.Lock()
		path := l.active.Path()
		l.mu.Unlock()
		fi, err := os.Stat(path)
		if err != nil {
			d.t.Fatal(err)
		}
		lim := syscall.Rlimit{Cur: uint64(fi.Size()), Max: d.limit.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			d.t.Fatalf("setrlimit: %v", err)
		}
	case "ballast":
		// Fill the file system to the last block.
		f, err := os.OpenFile(d.ballast, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			d.t.Fatal(err)
		}
		chunk := make([]byte, 4096)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					d.t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
		f.Close()
	}
}

// free makes space return.
func (d *diskFiller) free() {
	switch d.mode {
	case "rlimit":
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &d.limit); err != nil {
			d.t.Fatalf("setrlimit: %v", err)
		}
	case "ballast":
		if err := os.Remove(d.ballast); err != nil {
			d.t.Fatal(err)
		}
	}
}

// errno is the error a full disk gives in mode.
func (d *diskFiller) errno() syscall.Errno {
	if d.mode == "rlimit" {
		return syscall.EFBIG
	}
	return syscall.ENOSPC
}

// TestHelperDiskFull is the child process of TestLog_DiskFull. It reports
//
//	ack SEQ LEAFHASH    after Append returned SEQ
//	full ERRNO_OK TEXT  the error of the append that found the disk full
//	done                when every phase passed
func TestHelperDiskFull(t *testing.T) {
	if !fault.IsHelper("TestHelperDiskFull") {
		t.Skip("helper process of TestLog_DiskFull")
	}
	signal.Ignore(syscall.SIGXFSZ) // see the EFBIG error instead of dying
	dir := os.Getenv(envDir)
	d := &diskFiller{t: t, mode: os.Getenv(envFullMode), ballast: os.Getenv(envBallast)}
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &d.limit); err != nil {
		t.Fatal(err)
	}
	out := fault.NewLineWriter(os.Stdout)
	var acked uint64
	ack := func(s *event.Signed) {
		leaf, err := s.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		if s.Seq != acked {
			t.Fatalf("append acknowledged seq %d; want %d (the next after the last acknowledged)", s.Seq, acked)
		}
		acked++
		h := merkle.LeafHash(leaf)
		out.Printf("ack %d %s", s.Seq, hex.EncodeToString(h[:]))
	}
	appendSome := func(l *Log, n int) {
		for i := 0; i < n; i++ {
			s, err := l.Append(context.Background(), testEvent(int(acked)))
			if err != nil {
				t.Fatalf("Append with space available: %v", err)
			}
			ack(s)
		}
	}
	// appendUntilFull appends until an append fails, reports the error and
	// checks that the next append fails too, without side effects.
	appendUntilFull := func(l *Log) {
		for i := 0; ; i++ {
			if i == 1_000_000 {
				t.Fatal("the disk never filled")
			}
			s, err := l.Append(context.Background(), testEvent(int(acked)))
			if err == nil {
				ack(s)
				continue
			}
			out.Printf("full %v %s", errors.Is(err, d.errno()), strings.ReplaceAll(err.Error(), "\n", " "))
			if _, err2 := l.Append(context.Background(), testEvent(int(acked))); err2 == nil {
				t.Fatalf("an append after the disk filled succeeded")
			}
			if l.Size() != acked {
				t.Fatalf("after failed appends Size() = %d; want %d", l.Size(), acked)
			}
			return
		}
	}

	l := openTest(t, dir, nil)
	appendSome(l, 50)
	// Round 1: the disk fills; the log is closed while full and reopened
	// after space returns.
	d.fill(l)
	appendUntilFull(l)
	if err := l.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	d.free()
	l = openTest(t, dir, nil)
	if l.Size() != acked || l.Damage() != "" {
		t.Fatalf("reopened after the disk was full: size %d (want %d), damage %q", l.Size(), acked, l.Damage())
	}
	appendSome(l, 20)
	// Round 2: the disk fills and space returns while the log stays open.
	d.fill(l)
	appendUntilFull(l)
	d.free()
	appendSome(l, 20)
	if _, _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatalf("Checkpoint after space returned: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out.Printf("done")
}

func TestLog_DiskFull(t *testing.T) {
	t.Run("FileSizeLimit", func(t *testing.T) {
		dir := t.TempDir()
		runDiskFull(t, dir, "rlimit", "", "file too large")
	})
	t.Run("TmpfsENOSPC", func(t *testing.T) {
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
		runDiskFull(t, filepath.Join(mnt, "log"), "ballast", filepath.Join(mnt, "ballast"), "no space left on device")
	})
}

func runDiskFull(t *testing.T, dir, mode, ballast, text string) {
	c := fault.Start(t, "TestHelperDiskFull", envDir+"="+dir, envFullMode+"="+mode, envBallast+"="+ballast)
	acks := map[uint64]merkle.Hash{}
	rep := &childReport{acks: acks}
	var fulls []string
	done := false
	for line := range c.Lines() {
		switch {
		case strings.HasPrefix(line, "full "):
			fulls = append(fulls, strings.TrimPrefix(line, "full "))
		case line == "done":
			done = true
		default:
			parseChildLine(t, rep, line)
		}
	}
	if st := c.Wait(); st.ExitCode != 0 || !done {
		t.Fatalf("helper: %v, done %v\nstdout:\n%s\nstderr:\n%s", st, done, c.Unread(), c.Stderr())
	}
	if len(fulls) != 2 {
		t.Fatalf("helper reported %d full-disk errors, want 2: %q", len(fulls), fulls)
	}
	for _, f := range fulls {
		isErrno, msg, _ := strings.Cut(f, " ")
		t.Logf("append on a full disk: %s", msg)
		if !strings.Contains(msg, "commit to "+filepath.Join(EpochDir(0), "seg-000000.db")) || !strings.Contains(msg, text) {
			t.Errorf("error %q does not name the commit, the segment and %q", msg, text)
		}
		if isErrno != "true" {
			t.Errorf("error %q does not wrap the OS error (%s)", msg, text)
		}
	}

	l := openTest(t, dir, nil)
	defer l.Close()
	if l.Size() != uint64(len(acks)) || l.Epoch() != 0 || l.Damage() != "" {
		t.Fatalf("log after the full disk: size %d epoch %d damage %q; want %d acknowledged events in epoch 0",
			l.Size(), l.Epoch(), l.Damage(), len(acks))
	}
	checkAcks(t, l, acks)
	checkLeaves(t, l, 0)
	note, _, err := l.Latest()
	if err != nil {
		t.Fatal(err)
	}
	checkNote(t, l, note)
	more := appendN(t, l, 5000, 10)
	note, cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkAcks(t, l, more)
	checkNote(t, l, note)
	t.Logf("%s: %d events acknowledged around two full-disk failures; the log then took %d more, checkpoint at size %d",
		mode, len(acks), len(more), cp.Size)
}

// Closed log and I/O errors -----------------------------------------------

func TestLog_AppendAfterClose(t *testing.T) {
	seed := testSeed(t)
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	acks := appendN(t, l, 0, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), testEvent(10)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v; want ErrClosed", err)
	}
	if _, _, err := l.Checkpoint(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint after Close = %v; want ErrClosed", err)
	}
	if _, err := l.Leaf(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Leaf after Close = %v; want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}

	// Appends racing with Close: each either is acknowledged, and then
	// durable, or fails with ErrClosed.
	l = openTest(t, dir, nil)
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		nOK int
	)
	rng := rand.New(rand.NewSource(seed))
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				s, err := l.Append(context.Background(), testEvent(1000*(g+1)+i))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append racing Close = %v; want success or ErrClosed", err)
					return
				}
				leaf, _ := s.Leaf()
				mu.Lock()
				acks[s.Seq] = merkle.LeafHash(leaf)
				nOK++
				mu.Unlock()
			}
		}(g)
	}
	time.Sleep(time.Duration(1+rng.Intn(30)) * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	l = openTest(t, dir, nil)
	defer l.Close()
	if l.Size() != uint64(len(acks)) {
		t.Fatalf("after Close during appends: size %d, %d acknowledged", l.Size(), len(acks))
	}
	checkAcks(t, l, acks)
	checkLeaves(t, l, 0)
	t.Logf("%d appends acknowledged while Close raced them", nOK)
}

// fdSwapper captures the files bbolt opens, to pull a file's descriptor
// from under it.
type fdSwapper struct {
	mu    sync.Mutex
	files map[string]*os.File
}

func (s *fdSwapper) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err == nil {
		s.mu.Lock()
		s.files[filepath.Base(name)] = f
		s.mu.Unlock()
	}
	return f, err
}

// breakWrites makes the descriptor bbolt writes file base through refer to
// a read-only open of the same file, so that every write and truncate fails
// (EBADF, EINVAL) while reads through the mapping go on. It returns a
// function that puts the original back, and one that drops it for when
// bbolt has closed the file meanwhile (the dropped original holds bbolt's
// flock on the file until then).
func (s *fdSwapper) breakWrites(t *testing.T, base string) (restore, drop func()) {
	t.Helper()
	s.mu.Lock()
	f := s.files[base]
	s.mu.Unlock()
	if f == nil {
		t.Fatalf("bbolt did not open %s through Options.OpenFile", base)
	}
	fd := int(f.Fd())
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := syscall.Open(f.Name(), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(ro, fd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	syscall.Close(ro)
	restore = func() {
		if err := syscall.Dup3(saved, fd, syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		syscall.Close(saved)
	}
	drop = func() { syscall.Close(saved) }
	return restore, drop
}

func TestLog_IOError(t *testing.T) {
	dir := t.TempDir()
	sw := &fdSwapper{files: map[string]*os.File{}}
	l := openTest(t, dir, &Options{OpenFile: sw.openFile})
	acks := appendN(t, l, 0, 30)
	if _, _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}

	restore, _ := sw.breakWrites(t, "seg-000000.db")
	_, err := l.Append(context.Background(), testEvent(30))
	t.Logf("append with failing writes: %v", err)
	seg := filepath.Join(EpochDir(0), "seg-000000.db")
	var pe *os.PathError
	if err == nil || !strings.Contains(err.Error(), "commit to "+seg) || !errors.As(err, &pe) {
		t.Fatalf("Append with failing writes = %v; want an error naming the commit to %s and wrapping the OS error", err, seg)
	}
	// Concurrent appends in the same situation all fail and change nothing.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			if s, err := l.Append(context.Background(), testEvent(100+g)); err == nil {
				t.Errorf("Append with failing writes acknowledged seq %d", s.Seq)
			}
		}(g)
	}
	wg.Wait()
	// Nothing new to sign: Checkpoint returns the latest without writing.
	if _, cp, err := l.Checkpoint(context.Background()); err != nil || cp.Size != 30 {
		t.Errorf("Checkpoint with failing writes and nothing new = size %d, %v; want the latest, of size 30", cp.Size, err)
	}
	if l.Size() != 30 {
		t.Fatalf("Size() = %d after failed appends; want 30", l.Size())
	}
	checkAcks(t, l, acks)

	// The storage recovers: the same open log continues at seq 30.
	restore()
	s, err := l.Append(context.Background(), testEvent(30))
	if err != nil || s.Seq != 30 {
		t.Fatalf("Append after the writes recovered = %+v, %v; want seq 30", s, err)
	}
	leaf, _ := s.Leaf()
	acks[30] = merkle.LeafHash(leaf)
	for seq, h := range appendN(t, l, 31, 9) {
		acks[seq] = h
	}
	note, _, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Writes fail and the log is closed in that state: nothing acknowledged
	// is lost on the next open.
	sw = &fdSwapper{files: map[string]*os.File{}}
	l = openTest(t, dir, &Options{OpenFile: sw.openFile})
	_, drop := sw.breakWrites(t, "seg-000000.db")
	for i := 0; i < 3; i++ {
		if _, err := l.Append(context.Background(), testEvent(50+i)); err == nil {
			t.Fatal("Append with failing writes succeeded")
		}
	}
	l.Close()
	drop()
	l = openTest(t, dir, nil)
	defer l.Close()
	if l.Size() != 40 || l.Damage() != "" {
		t.Fatalf("reopened: size %d damage %q; want 40 events, no damage", l.Size(), l.Damage())
	}
	checkAcks(t, l, acks)
	checkLeaves(t, l, 0)
	checkNote(t, l, note)
}
