package feed

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/eventlog"

	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// A log of events reaches a subscriber in order, each message verifiable
// alone; the latest checkpoint and the "online" status are retained; live
// events follow the backlog; the cursor is persisted.
func TestPublisher_DeliversInOrder(t *testing.T) {
	b := mosquitto.Start(t, nil)
	l := newLog(t, 500)
	note, cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events, topics.Checkpoints, topics.Status)

	opts := testOptions(t, b.URL())
	p, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Topics() != topics || p.ClientID() != "waybill-"+strings.TrimPrefix(id.Device.String(), "0x") {
		t.Fatalf("Topics() = %+v, ClientID() = %s", p.Topics(), p.ClientID())
	}
	stop := runPublisher(t, p)
	waitCursor(t, p, 500)
	sub.waitFor("events 0-499", sub.eventsThrough(topics.Events, 500))

	// Live events after the backlog.
	appendEvents(t, l, 50)
	p.Notify()
	waitCursor(t, p, 550)
	sub.waitFor("events 500-549", sub.eventsThrough(topics.Events, 550))
	sub.waitFor("the checkpoint", func() bool { return len(sub.messages(topics.Checkpoints)) > 0 })
	// The subscriber may see the checkpoint before the publisher has
	// processed its PUBACK: wait for the status to say so too.
	waitStatus(t, p, "the checkpoint", func(s Status) bool { return s.Checkpoint == cp.Size })
	if st := p.Status(); !st.Connected || st.Cursor != 550 || st.Backlog != 0 || st.Checkpoint != cp.Size || st.Connects != 1 {
		t.Errorf("Status() = %+v", st)
	}

	// Without Notify the poll finds new events; a new checkpoint replaces
	// the retained one.
	appendEvents(t, l, 25)
	note2, cp2, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitCursor(t, p, 575)
	waitStatus(t, p, "the second checkpoint", func(s Status) bool { return s.Checkpoint == cp2.Size })
	sub.waitFor("events 550-574", sub.eventsThrough(topics.Events, 575))
	stop()

	c := checkFeed(t, sub.messages(topics.Events), testDomain, id.Device, l.Origin())
	if c.next != 575 || len(c.problems) > 0 {
		t.Fatalf("events received: 0-%d, problems: %v", int(c.next)-1, c.problems)
	}
	if c.duplicates != 0 {
		t.Errorf("%d duplicates without any fault", c.duplicates)
	}
	cps := sub.messages(topics.Checkpoints)
	if len(cps) != 2 || !bytes.Equal(cps[0].payload, note) || !bytes.Equal(cps[1].payload, note2) {
		t.Errorf("checkpoint messages = %q, want the notes %q and %q", payloads(cps), note, note2)
	}
	if got, epoch, err := VerifyCheckpoint(cps[0].payload, testDomain, id.Device); err != nil || got.Size != 500 || epoch != 0 {
		t.Errorf("VerifyCheckpoint = %+v, %d, %v", got, epoch, err)
	}
	st := sub.messages(topics.Status)
	if len(st) < 2 || string(st[0].payload) != StatusOnline || string(st[len(st)-1].payload) != StatusOffline {
		t.Errorf("status messages %q: want online first and offline (clean shutdown) last", payloads(st))
	}
	if c, ok, err := readCursor(opts.CursorFile); err != nil || !ok || c.Next != 575 || c.Origin != l.Origin() {
		t.Errorf("cursor file: %+v %v %v, want 575 of %s", c, ok, err, l.Origin())
	}

	// A new consumer gets the retained checkpoint and status at once.
	late := subscribe(t, b.URL(), "late", topics.Checkpoints, topics.Status)
	late.waitFor("retained messages", func() bool {
		return len(late.messages(topics.Checkpoints)) > 0 && len(late.messages(topics.Status)) > 0
	})
	if m := late.messages(topics.Checkpoints)[0]; !m.retained || !bytes.Equal(m.payload, note2) {
		t.Errorf("retained checkpoint = %q (retained %v)", m.payload, m.retained)
	}
	if m := late.messages(topics.Status)[0]; !m.retained || string(m.payload) != StatusOffline {
		t.Errorf("retained status = %q (retained %v), want offline after the publisher stopped", m.payload, m.retained)
	}
}

func payloads(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.payload))
	}
	return out
}

// The broker is stopped in the middle of a drain and restarted: every
// event arrives exactly once after deduplication, in order, and the cursor
// is persisted.
func TestPublisher_BrokerRestartMidStream(t *testing.T) {
	b := mosquitto.Start(t, nil)
	l := newLog(t, 3000)
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events)

	opts := testOptions(t, b.URL())
	opts.Window = 16
	p, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p)
	waitCursor(t, p, 400)
	b.Stop()
	at := p.Status().Cursor
	waitStatus(t, p, "a failed connection attempt", func(s Status) bool {
		return !s.Connected && strings.HasPrefix(s.LastError, "connect: ")
	})
	// Events appended while the broker is down wait in the log.
	appendEvents(t, l, 200)
	p.Notify()
	b.Restart()
	waitCursor(t, p, 3200)
	sub.waitFor("all 3200 events", sub.eventsThrough(topics.Events, 3200))
	st := p.Status()
	stop()

	c := checkFeed(t, sub.messages(topics.Events), testDomain, id.Device, l.Origin())
	if c.next != 3200 || len(c.problems) > 0 {
		t.Fatalf("events received: 0-%d, problems: %v", int(c.next)-1, c.problems)
	}
	t.Logf("broker stopped at cursor %d; %d duplicates after the restart; %d connections", at, c.duplicates, st.Connects)
	if st.Connects < 2 {
		t.Errorf("Status().Connects = %d, want a reconnection", st.Connects)
	}
	if c, _, err := readCursor(opts.CursorFile); err != nil || c.Next != 3200 {
		t.Errorf("cursor file: %+v, %v; want 3200", c, err)
	}
}

// A publisher stopped mid-stream and a new one over the same log and
// cursor file: the second starts at the persisted cursor.
func TestPublisher_ResumesFromCursor(t *testing.T) {
	b := mosquitto.Start(t, nil)
	l := newLog(t, 300)
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	opts := testOptions(t, b.URL())

	p1, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p1)
	waitCursor(t, p1, 300)
	stop()

	appendEvents(t, l, 100)
	after := subscribe(t, b.URL(), "after", topics.Events)
	p2, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := p2.Status(); st.Cursor != 300 || st.Persisted != 300 || st.Backlog != 100 {
		t.Fatalf("new publisher's Status() = %+v, want cursor 300 with a backlog of 100", st)
	}
	runPublisher(t, p2)
	waitCursor(t, p2, 400)
	after.waitFor("events 300-399", func() bool { return len(after.messages(topics.Events)) >= 100 })
	msgs := after.messages(topics.Events)
	for i, r := range msgs {
		m, err := ParseMessage(r.payload)
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != uint64(300+i) {
			t.Fatalf("message %d of the second publisher has seq %d, want %d", i, m.Seq, 300+i)
		}
	}
}

// New moves aside a cursor file it cannot read or that is ahead of the
// log, keeping its bytes, says so in Status and publishes the log from its
// first event; it starts a new epoch's events from 0.
func TestNew_Cursor(t *testing.T) {
	l := newLog(t, 10)
	for _, tc := range []struct {
		name string
		file string // "" means no file
		want uint64
		err  string
	}{
		{name: "absent", want: 0},
		{name: "valid", file: `{"next":7,"origin":"` + l.Origin() + `","v":1}` + "\n", want: 7},
		{name: "at the end", file: `{"next":10,"origin":"` + l.Origin() + `","v":1}` + "\n", want: 10},
		{name: "other epoch", file: `{"next":7,"origin":"` + strings.TrimSuffix(l.Origin(), "/0") + `/3","v":1}` + "\n", want: 0},
		{name: "ahead of the log", file: `{"next":11,"origin":"` + l.Origin() + `","v":1}` + "\n", err: "says 11 events"},
		{name: "no newline", file: `{"next":7,"origin":"` + l.Origin() + `","v":1}`, err: "not one line of canonical JSON"},
		{name: "spaces", file: `{"next": 7,"origin":"` + l.Origin() + `","v":1}` + "\n", err: "not one line of canonical JSON"},
		{name: "version 2", file: `{"next":7,"origin":"` + l.Origin() + `","v":2}` + "\n", err: `cursor member "v" is 2, want 1`},
		{name: "extra member", file: `{"extra":1,"next":7,"origin":"` + l.Origin() + `","v":1}` + "\n", err: `cursor has unknown member "extra"`},
		{name: "negative", file: `{"next":-1,"origin":"` + l.Origin() + `","v":1}` + "\n", err: "not a non-negative integer"},
		{name: "fraction", file: `{"next":1.5,"origin":"` + l.Origin() + `","v":1}` + "\n", err: "not a non-negative integer"},
		{name: "bad origin", file: `{"next":7,"origin":"waybill/x","v":1}` + "\n", err: "not waybill/<fleet>/<device>/<epoch>"},
		{name: "empty", file: "\n", err: "not one line of canonical JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, "tcp://127.0.0.1:1")
			if tc.file != "" {
				if err := os.WriteFile(opts.CursorFile, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := New(l, opts)
			if err != nil {
				t.Fatal(err)
			}
			st := p.Status()
			if st.Cursor != tc.want || st.Backlog != 10-tc.want {
				t.Errorf("Status() = %+v, want cursor %d", st, tc.want)
			}
			aside, _ := filepath.Glob(opts.CursorFile + ".damaged-*")
			if tc.err == "" {
				if st.Damaged != "" || len(aside) != 0 {
					t.Errorf("a usable cursor reported damaged (%q) or moved aside (%v)", st.Damaged, aside)
				}
				return
			}
			if !strings.Contains(st.Damaged, tc.err) || !strings.Contains(st.Damaged, "moved aside to "+opts.CursorFile+".damaged-") {
				t.Errorf("Status().Damaged = %q, want the reason %q and where the file went", st.Damaged, tc.err)
			}
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v, want one file", aside)
			}
			if b, err := os.ReadFile(aside[0]); err != nil || string(b) != tc.file {
				t.Errorf("the file moved aside holds %q (%v), want the damaged bytes", b, err)
			}
			if _, err := os.Stat(opts.CursorFile); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the damaged cursor is still in place: %v", err)
			}
		})
	}
}

// New fails, naming the file and what to do, only when a damaged cursor
// cannot be moved aside.
func TestNew_CursorCannotMoveAside(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to a read-only directory")
	}
	l := newLog(t, 10)
	opts := testOptions(t, "tcp://127.0.0.1:1")
	if err := os.WriteFile(opts.CursorFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(opts.CursorFile)
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	_, err := New(l, opts)
	if err == nil || !errors.Is(err, ErrCursor) || !strings.Contains(err.Error(), "move or delete "+opts.CursorFile) {
		t.Fatalf("New = %v, want an ErrCursor error naming the file and the next step", err)
	}
}

// Run refuses to run twice at once, and returns an error (not a retry
// loop) when the log is closed under it.
func TestPublisher_RunOnceAndClosedLog(t *testing.T) {
	b := mosquitto.Start(t, nil)
	l := newLog(t, 10)

	down := mosquitto.Start(t, nil)
	down.Stop()
	p, err := New(l, testOptions(t, down.URL()))
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, p)
	waitStatus(t, p, "a failed attempt", func(s Status) bool { return s.LastError != "" })
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v", err)
	}

	p, err = New(l, testOptions(t, b.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	select {
	case err := <-errc:
		if !errors.Is(err, eventlog.ErrClosed) {
			t.Errorf("Run = %v, want eventlog.ErrClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return on a closed log")
	}
	if st := p.Status(); !strings.Contains(st.LastError, "closed") {
		t.Errorf("Status().LastError = %q", st.LastError)
	}
}
