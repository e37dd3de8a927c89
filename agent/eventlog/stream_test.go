package eventlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/waybill-eu/waybill/testbench/fault"
)

// checkParcels checks that events [from, from+n) of l are test events
// first, first+1, … in that order.
func checkParcels(t *testing.T, l *Log, from uint64, first, n int) {
	t.Helper()
	i := 0
	err := l.Range(from, uint64(n), func(seq uint64, leaf []byte) error {
		want := fmt.Sprintf(`"parcel":"P%06d"`, first+i)
		if !strings.Contains(string(leaf), want) {
			return fmt.Errorf("event %d holds %s; want the test event with %s", seq, leaf, want)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("checking events %d..: %d read, %v", from, i, err)
	}
}

func TestStream_StopsAtTheFirstEventNotAppended(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	defer l.Close()
	st := l.NewStream()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var ps []*Pending
	for i := 0; i < 10; i++ {
		c := ctx
		if i == 5 {
			c = cancelled
		}
		p, err := st.Enqueue(c, testEvent(i))
		switch {
		case i < 5 && err != nil:
			t.Fatalf("Enqueue %d: %v", i, err)
		case i == 5 && !errors.Is(err, context.Canceled):
			t.Fatalf("Enqueue with an ended context = %v; want context.Canceled", err)
		case i > 5 && !errors.Is(err, ErrStreamStopped):
			t.Fatalf("Enqueue %d after the stream stopped = %v; want ErrStreamStopped", i, err)
		}
		if p != nil {
			ps = append(ps, p)
		}
	}
	for i, p := range ps {
		if s, err := p.Wait(); err != nil || s.Seq != uint64(i) {
			t.Fatalf("event %d: %v, %v", i, s, err)
		}
	}
	if !errors.Is(st.Err(), context.Canceled) {
		t.Fatalf("Err() = %v; want context.Canceled", st.Err())
	}
	// Other producers and new streams are not affected.
	if s, err := l.Append(ctx, testEvent(5)); err != nil || s.Seq != 5 {
		t.Fatalf("Append after a stopped stream = %v, %v", s, err)
	}
	st2 := l.NewStream()
	p, err := st2.Enqueue(ctx, testEvent(6))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.Wait(); err != nil || s.Seq != 6 {
		t.Fatalf("a new stream's event = %v, %v", s, err)
	}
	checkParcels(t, l, 0, 0, 7)
}

// TestHelperStreamDiskFull is the child process of TestStream_DiskFull:
// with the segment unable to grow, a stream of pipelined events must be
// appended as a prefix of the stream, never with a gap.
func TestHelperStreamDiskFull(t *testing.T) {
	if !fault.IsHelper("TestHelperStreamDiskFull") {
		t.Skip("helper process of TestStream_DiskFull")
	}
	signal.Ignore(syscall.SIGXFSZ)
	d := &diskFiller{t: t, mode: "rlimit"}
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &d.limit); err != nil {
		t.Fatal(err)
	}
	out := fault.NewLineWriter(os.Stdout)
	ctx := context.Background()
	l := openTest(t, os.Getenv(envDir), nil)
	defer l.Close()
	appendN(t, l, 0, 50)
	d.fill(l)
	const n = 20_000
	st := l.NewStream()
	ps := make([]*Pending, 0, n)
	for i := 0; i < n; i++ {
		p, err := st.Enqueue(ctx, testEvent(50+i))
		if err != nil {
			if !errors.Is(err, ErrStreamStopped) {
				t.Fatalf("Enqueue %d: %v", i, err)
			}
			break
		}
		ps = append(ps, p)
	}
	ok, failed := 0, 0
	var first error
	for i, p := range ps {
		s, err := p.Wait()
		switch {
		case err == nil && failed > 0:
			t.Fatalf("stream event %d appended as %d after %d events before it were not (first: %v)", i, s.Seq, failed, first)
		case err == nil:
			if s.Seq != uint64(50+i) {
				t.Fatalf("stream event %d appended as %d", i, s.Seq)
			}
			ok++
		default:
			if failed == 0 {
				first = err
			} else if !errors.Is(err, ErrStreamStopped) && !errors.Is(err, d.errno()) && !strings.Contains(err.Error(), "the commit before it failed") {
				t.Fatalf("stream event %d after the first failure: %v", i, err)
			}
			failed++
		}
	}
	if first == nil {
		t.Fatalf("all %d events were appended on a full disk", len(ps))
	}
	if !errors.Is(first, d.errno()) {
		t.Fatalf("first failure %v does not wrap %v", first, d.errno())
	}
	if st.Err() == nil {
		t.Fatalf("the stream does not say why it stopped")
	}
	if l.Size() != uint64(50+ok) {
		t.Fatalf("log size %d; want %d (50 before, %d of the stream)", l.Size(), 50+ok, ok)
	}
	d.free()
	st2 := l.NewStream()
	for i := 0; i < 20; i++ {
		p, err := st2.Enqueue(ctx, testEvent(50+ok+i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatalf("a new stream once space returned: %v", err)
		}
	}
	checkParcels(t, l, 0, 0, 50+ok+20)
	out.Printf("done %d appended, %d refused, first: %v", ok, failed, strings.ReplaceAll(first.Error(), "\n", " "))
}

func TestStream_DiskFull(t *testing.T) {
	c := fault.Start(t, "TestHelperStreamDiskFull", envDir+"="+t.TempDir())
	done := ""
	for line := range c.Lines() {
		if strings.HasPrefix(line, "done ") {
			done = line
		}
	}
	if st := c.Wait(); st.ExitCode != 0 || done == "" {
		t.Fatalf("helper: %v\nstdout:\n%s\nstderr:\n%s", st, c.Unread(), c.Stderr())
	}
	t.Log(done)
}
