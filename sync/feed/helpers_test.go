package feed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/signer"
)

// testKeyHex is a fixed device key for the tests (not the protocol
// vectors' key, which vectors_test.go uses).
const testKeyHex = "8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a"

var (
	testDomain = signer.Domain{ChainID: 1337, Fleet: "test-fleet"}
	testStart  = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
)

// waitLimit bounds every wait of the tests for something that must happen.
const waitLimit = 60 * time.Second

func mustKey(t testing.TB, h string) *devkey.Key {
	t.Helper()
	k, err := devkey.FromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newLog creates a log in a new directory with n position events and
// returns it open for writing.
func newLog(t testing.TB, n int) *eventlog.Log {
	t.Helper()
	k := mustKey(t, testKeyHex)
	id := eventlog.Identity{Device: k.Address(), Fleet: testDomain.Fleet, ChainID: testDomain.ChainID}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k,
		Now: func() time.Time { return testStart }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	appendEvents(t, l, n)
	return l
}

// appendEvents appends n position events to l (sharing commits).
func appendEvents(t testing.TB, l *eventlog.Log, n int) {
	t.Helper()
	ctx := context.Background()
	base := l.Size()
	pend := make([]*eventlog.Pending, 0, n)
	for i := range n {
		seq := base + uint64(i)
		payload, err := jcs.Canonicalize(fmt.Appendf(nil, `{"lat":50.8%04d,"lon":4.35,"sats":%d,"speed_mps":%d}`, seq%10000, seq%13, seq%30))
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.Enqueue(ctx, event.Event{
			Time: testStart.Add(time.Duration(seq) * time.Second).UnixMilli(), Source: event.SourceGNSS, Kind: "position",
			Payload: payload,
		})
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, p)
	}
	for _, p := range pend {
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// testLogger logs to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// testOptions are fast options for a publisher of a test broker.
func testOptions(t testing.TB, broker string) Options {
	return Options{
		Brokers:        []string{broker},
		CursorFile:     filepath.Join(t.TempDir(), "feed.cursor"),
		BackoffMin:     20 * time.Millisecond,
		BackoffMax:     200 * time.Millisecond,
		PollInterval:   50 * time.Millisecond,
		ConnectTimeout: 5 * time.Second,
		PublishTimeout: 10 * time.Second,
		KeepAlive:      5 * time.Second,
		Logger:         testLogger(t),
	}
}

// runPublisher runs p until the test ends (or stop is called) and reports
// Run's error.
func runPublisher(t testing.TB, p *Publisher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("Run did not return within %v of its context's cancellation", waitLimit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitCursor waits until p has every event before seq acknowledged.
func waitCursor(t testing.TB, p *Publisher, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.Wait(ctx, seq); err != nil {
		t.Fatalf("cursor did not reach %d: %v (status %+v)", seq, err, p.Status())
	}
}

// received is one message a subscriber got.
type received struct {
	topic    string
	payload  []byte
	retained bool
	dup      bool
}

// subscriber is a consumer of a device's feed: a paho client with a
// persistent session (it resumes across broker restarts) that records
// every message.
type subscriber struct {
	t      testing.TB
	cl     mqtt.Client
	mu     sync.Mutex
	msgs   []received
	signal chan struct{} // cap 1: a message arrived
}

func subscribe(t testing.TB, broker, id string, topics ...string) *subscriber {
	t.Helper()
	s := &subscriber{t: t, signal: make(chan struct{}, 1)}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetResumeSubs(true).SetOrderMatters(true).
		SetDefaultPublishHandler(s.handle)
	s.cl = mqtt.NewClient(o)
	if tok := s.cl.Connect(); !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	filters := map[string]byte{}
	for _, tp := range topics {
		filters[tp] = 1
	}
	if tok := s.cl.SubscribeMultiple(filters, s.handle); !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { s.cl.Disconnect(100) })
	return s
}

func (s *subscriber) handle(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, received{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), retained: m.Retained(), dup: m.Duplicate()})
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// messages returns a copy of what arrived on topic.
func (s *subscriber) messages(topic string) []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []received
	for _, m := range s.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits until cond holds for the messages received so far.
func (s *subscriber) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("subscriber: %s did not happen within %v", what, waitLimit)
		}
		select {
		case <-s.signal:
			time.Sleep(20 * time.Millisecond) // let a burst arrive before looking again
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// feedCheck is what a consumer makes of the events topic: each message
// parsed and verified alone, duplicates dropped by seq, and any gap or
// reordering reported.
type feedCheck struct {
	next       uint64 // events 0 … next-1 received
	duplicates int
	problems   []string
}

func checkFeed(t testing.TB, msgs []received, d signer.Domain, device event.Address, origin string) feedCheck {
	t.Helper()
	var c feedCheck
	for i, r := range msgs {
		m, err := ParseMessage(r.payload)
		if err == nil {
			err = Verify(m, d, device)
		}
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("message %d: %v", i, err))
			continue
		}
		switch {
		case m.Origin != origin:
			c.problems = append(c.problems, fmt.Sprintf("message %d: origin %s, want %s", i, m.Origin, origin))
		case m.Seq < c.next:
			c.duplicates++
		case m.Seq == c.next:
			c.next++
		default:
			c.problems = append(c.problems, fmt.Sprintf("message %d: seq %d after %d: a gap or reordering", i, m.Seq, c.next-1))
		}
	}
	return c
}

// eventsThrough returns a condition: the subscriber has events 0 … n-1.
func (s *subscriber) eventsThrough(topic string, n uint64) func() bool {
	return func() bool {
		msgs := s.messages(topic)
		if uint64(len(msgs)) < n {
			return false
		}
		var next uint64
		for _, r := range msgs {
			m, err := ParseMessage(r.payload)
			if err == nil && m.Seq == next {
				next++
			}
		}
		return next >= n
	}
}

// proxy forwards TCP connections from a loopback port to a broker, and can
// cut them (as a dropped mobile link does) or stall them (as a dead link
// that TCP has not noticed yet does).
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*proxied
}

type proxied struct {
	a, b    net.Conn
	stalled chan struct{} // closed when the connection is released from a stall
	stall   bool
}

func newProxy(t testing.TB, brokerURL string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: strings.TrimPrefix(brokerURL, "tcp://")}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.Drop() })
	return p
}

// URL is the proxy's broker URL.
func (p *proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		a, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			a.Close()
			continue
		}
		c := &proxied{a: a, b: b, stalled: make(chan struct{})}
		close(c.stalled)
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go p.pipe(c, a, b)
		go p.pipe(c, b, a)
	}
}

func (p *proxy) pipe(c *proxied, from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			wait := c.stalled
			p.mu.Unlock()
			<-wait // a stalled connection holds what it read
			if _, err := to.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	from.Close()
	to.Close()
}

// Drop closes every connection at once: each side sees its peer vanish.
func (p *proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.stall {
			close(c.stalled)
			c.stall = false
		}
		c.a.Close()
		c.b.Close()
	}
	p.conns = nil
}

// Stall stops forwarding on the connections open now (new ones work):
// bytes are read and held, and nothing arrives on either side.
func (p *proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if !c.stall {
			c.stall = true
			c.stalled = make(chan struct{})
		}
	}
}

// waitStatus waits until cond holds for p's status.
func waitStatus(t testing.TB, p *Publisher, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st := p.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("publisher: %s did not happen within %v (status %+v)", what, waitLimit, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
