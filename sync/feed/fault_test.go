package feed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/testbench/fault"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// statusSequence returns the status payloads received, with consecutive
// repeats folded.
func statusSequence(rs []received) []string {
	var out []string
	for _, r := range rs {
		if s := string(r.payload); len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// The link to the broker drops: the broker publishes the last will
// "offline", the publisher reconnects and says "online" again, and no event
// is lost.
func TestPublisher_LastWillOnDroppedLink(t *testing.T) {
	b := mosquitto.Start(t, nil)
	px := newProxy(t, b.URL())
	l := newLog(t, 100)
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events, topics.Status)

	p, err := New(l, testOptions(t, px.URL()))
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, p)
	waitCursor(t, p, 100)
	sub.waitFor("online", func() bool { return slices.Equal(statusSequence(sub.messages(topics.Status)), []string{"online"}) })

	px.Drop()
	sub.waitFor("offline then online", func() bool {
		return slices.Equal(statusSequence(sub.messages(topics.Status)), []string{"online", "offline", "online"})
	})
	appendEvents(t, l, 100)
	p.Notify()
	waitCursor(t, p, 200)
	sub.waitFor("200 events", sub.eventsThrough(topics.Events, 200))
	c := checkFeed(t, sub.messages(topics.Events), testDomain, id.Device, l.Origin())
	if c.next != 200 || len(c.problems) > 0 {
		t.Fatalf("events 0-%d, problems %v", int(c.next)-1, c.problems)
	}
	if st := p.Status(); st.Connects != 2 {
		t.Errorf("Connects = %d, want 2", st.Connects)
	}
}

// A link that stops carrying anything without closing (a dead mobile link
// TCP has not noticed): the PUBACKs stop coming, the publish timeout drops
// the connection, and the publisher reconnects and delivers everything.
func TestPublisher_PublishTimeoutOnStalledLink(t *testing.T) {
	testStalled(t, func(o *Options) { o.PublishTimeout = 300 * time.Millisecond }, "no PUBACK in time")
}

// The same with a long publish timeout: the progress watchdog reconnects
// because the cursor stopped moving while connected with a backlog.
func TestPublisher_WatchdogOnStalledLink(t *testing.T) {
	testStalled(t, func(o *Options) { o.PublishTimeout = time.Minute; o.Watchdog = 300 * time.Millisecond }, "watchdog")
}

func testStalled(t *testing.T, tune func(*Options), wantErr string) {
	b := mosquitto.Start(t, nil)
	px := newProxy(t, b.URL())
	l := newLog(t, 50)
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events, topics.Status)
	opts := testOptions(t, px.URL())
	opts.KeepAlive = time.Minute // the keep-alive would notice the dead link too, later
	tune(&opts)
	p, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, p)
	waitCursor(t, p, 50)

	px.Stall()
	appendEvents(t, l, 50)
	p.Notify()
	waitCursor(t, p, 100)
	sub.waitFor("100 events", sub.eventsThrough(topics.Events, 100))
	st := p.Status()
	if st.Connects < 2 || !strings.Contains(st.LastError, wantErr) {
		t.Errorf("Status() = %+v, want a reconnection after %q", st, wantErr)
	}
	c := checkFeed(t, sub.messages(topics.Events), testDomain, id.Device, l.Origin())
	if c.next != 100 || len(c.problems) > 0 {
		t.Fatalf("events 0-%d, problems %v", int(c.next)-1, c.problems)
	}
	sub.waitFor("online last", func() bool {
		s := statusSequence(sub.messages(topics.Status))
		return len(s) > 0 && s[len(s)-1] == StatusOnline
	})
}

// fakeToken is a paho token the test completes by hand.
type fakeToken struct {
	done chan struct{}
	err  error
}

func (f *fakeToken) Wait() bool                       { <-f.done; return true }
func (f *fakeToken) WaitTimeout(d time.Duration) bool { return false }
func (f *fakeToken) Done() <-chan struct{}            { return f.done }
func (f *fakeToken) Error() error                     { return f.err }

var _ mqtt.Token = (*fakeToken)(nil)

// Only a token that completed without error on a connection still up is
// a delivery: paho completes tokens on some connection losses without an
// error, and EdgeX and Telegraf counted those as sent.
func TestAwaitAck(t *testing.T) {
	closed := func() chan struct{} { c := make(chan struct{}); close(c); return c }
	for _, tc := range []struct {
		name     string
		complete bool
		tokErr   error
		lost     bool
		open     bool
		done     bool
		want     error // nil, or a sentinel; tokErr is matched by identity
	}{
		{name: "puback", complete: true, open: true},
		// Both channels are ready: either way it is not a delivery.
		{name: "completed and the connection lost", complete: true, lost: true, open: true},
		{name: "completed while the client is down", complete: true, open: false, want: errNotOnLine},
		{name: "token error", complete: true, tokErr: errors.New("connection lost before Publish completed"), open: true},
		{name: "timeout", open: true, want: errAckTimeout},
		{name: "lost while waiting", lost: true, open: false},
		{name: "stopped", open: true, done: true, want: errStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := &fakeToken{done: make(chan struct{}), err: tc.tokErr}
			if tc.complete {
				close(tok.done)
			}
			lost, done := make(chan struct{}), make(chan struct{})
			if tc.lost {
				lost = closed()
			}
			if tc.done {
				done = closed()
			}
			timer := time.NewTimer(time.Hour)
			timer.Stop()
			deadline := time.Now().Add(time.Hour)
			if !tc.complete && !tc.lost && !tc.done {
				deadline = time.Now() // expires at once
			}
			err := awaitAck(tok, lost, func() bool { return tc.open }, deadline, done, timer)
			switch {
			case tc.name == "puback":
				if err != nil {
					t.Errorf("awaitAck = %v, want delivered", err)
				}
			case tc.tokErr != nil:
				if !errors.Is(err, tc.tokErr) {
					t.Errorf("awaitAck = %v, want the token's error", err)
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Errorf("awaitAck = %v, want %v", err, tc.want)
				}
			default:
				if err == nil {
					t.Error("awaitAck = nil, want not delivered")
				}
			}
		})
	}
}

// Helper process of TestPublisher_SIGKILL: publishes the log in
// WAYBILL_FEED_LOG to WAYBILL_FEED_BROKER until killed.
func TestHelperFeedPublish(t *testing.T) {
	if !fault.IsHelper("TestHelperFeedPublish") {
		t.Skip("helper process, run by TestPublisher_SIGKILL")
	}
	l, err := eventlog.Open(context.Background(), os.Getenv("WAYBILL_FEED_LOG"), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t, os.Getenv("WAYBILL_FEED_BROKER"))
	opts.CursorFile = os.Getenv("WAYBILL_FEED_CURSOR")
	opts.Window = 4
	opts.CursorInterval = time.Millisecond
	p, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := fault.NewLineWriter(os.Stdout)
	ctx := context.Background()
	go p.Run(ctx)
	for next := uint64(1); next <= l.Size(); next += 100 {
		if err := p.Wait(ctx, next); err != nil {
			t.Fatal(err)
		}
		out.Printf("acked %d persisted %d", next, p.Status().Persisted)
	}
	select {} // wait to be killed
}

// The publisher is killed with SIGKILL in the middle of a drain: the broker
// publishes its last will, and a new publisher over the same log and cursor
// file resumes from the persisted cursor; every event arrives exactly once
// after deduplication, in order.
func TestPublisher_SIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process")
	}
	b := mosquitto.Start(t, nil)
	l := newLog(t, 4000)
	id, origin, dir := l.Identity(), l.Origin(), l.Dir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events, topics.Status)
	cursorFile := filepath.Join(t.TempDir(), "feed.cursor")

	child := fault.Start(t, "TestHelperFeedPublish", "WAYBILL_FEED_LOG="+dir, "WAYBILL_FEED_BROKER="+b.URL(), "WAYBILL_FEED_CURSOR="+cursorFile)
	var acked uint64
	for line := range child.Lines() {
		var persisted uint64
		if _, err := fmt.Sscanf(line, "acked %d persisted %d", &acked, &persisted); err != nil {
			t.Fatalf("child: %q: %v", line, err)
		}
		if persisted > acked {
			t.Fatalf("child: %s: the cursor file is ahead of the acknowledgements", line)
		}
		if acked >= 1000 {
			child.Kill()
			break
		}
	}
	if st := child.Wait(); !st.Killed {
		t.Fatalf("child %s before it was killed; stderr:\n%s", st, child.Stderr())
	}
	sub.waitFor("the last will", func() bool {
		s := statusSequence(sub.messages(topics.Status))
		return len(s) > 0 && s[len(s)-1] == StatusOffline
	})

	c, ok, err := readCursor(cursorFile)
	if err != nil || !ok || c.Origin != origin || c.Next == 0 || c.Next >= 4000 {
		t.Fatalf("cursor after the kill: %+v %v %v; want some progress persisted, not all", c, ok, err)
	}
	t.Logf("killed after the child saw %d acknowledged; persisted cursor %d", acked, c.Next)

	l2, err := eventlog.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	opts := testOptions(t, b.URL())
	opts.CursorFile = cursorFile
	p, err := New(l2, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.Cursor != c.Next {
		t.Fatalf("resumed at %d, want the persisted %d", st.Cursor, c.Next)
	}
	runPublisher(t, p)
	waitCursor(t, p, 4000)
	sub.waitFor("all 4000 events", sub.eventsThrough(topics.Events, 4000))
	fc := checkFeed(t, sub.messages(topics.Events), testDomain, id.Device, origin)
	if fc.next != 4000 || len(fc.problems) > 0 {
		t.Fatalf("events 0-%d, problems %v", int(fc.next)-1, fc.problems)
	}
	t.Logf("%d duplicates after the kill", fc.duplicates)
	sub.waitFor("online again", func() bool {
		s := statusSequence(sub.messages(topics.Status))
		return s[len(s)-1] == StatusOnline
	})
	if s := statusSequence(sub.messages(topics.Status)); !slices.Equal(s, []string{"online", "offline", "online"}) {
		t.Errorf("status sequence %q", s)
	}
}

// Run keeps retrying an unreachable broker, never returns an error for it,
// and records the failure in Status.
func TestPublisher_UnreachableBroker(t *testing.T) {
	l := newLog(t, 3)
	// A port nothing listens on: a stopped broker's.
	b := mosquitto.Start(t, nil)
	url := b.URL()
	b.Stop()
	p, err := New(l, testOptions(t, url))
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, p)
	st := waitStatus(t, p, "a failed attempt", func(s Status) bool { return strings.HasPrefix(s.LastError, "connect: ") })
	if st.Connected || st.Cursor != 0 || st.Backlog != 3 || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("Status() = %+v", st)
	}
}
