package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/feed/embedded"
	"github.com/waybill-eu/waybill/testbench/recordings"
)

const testKey = "8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a"

// deadline bounds New, Run and Close, and the waits for a broker: far
// beyond what they need on a loaded machine (the anchor store's lock wait
// is a second), so that reaching it means they wait for something that
// never ends.
const deadline = time.Minute

// Frames of the loops Run starts.
var loopFrames = []string{
	"sync/feed.(*Publisher).Run(",
	"sync/anchor.(*Anchorer).Run(",
	"agent/retention.(*Keeper).Run(",
	"agent/localapi.(*Server).Serve(",
	"agent/pipeline.(*Pipeline).Run(",
}

// loops returns the loops some goroutine is in.
func loops() []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var in []string
	for _, f := range loopFrames {
		if bytes.Contains(buf, []byte(f)) {
			in = append(in, f)
		}
	}
	return in
}

// testOptions are the options of a System over a new log in dir with the
// test key, without the local API. Its OpenLog opens the log for writing
// with the test key, whatever key it is given.
func testOptions(t *testing.T, dir string, cfg *config.Config) Options {
	t.Helper()
	k, err := devkey.FromHex(testKey)
	if err != nil {
		t.Fatal(err)
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: "system-test", ChainID: 1337}
	return Options{Config: cfg, NoLocalAPI: true,
		Key: func(context.Context) (*devkey.Key, error) { return k, nil },
		OpenLog: func(ctx context.Context, _ *devkey.Key) (*eventlog.Log, error) {
			return eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k})
		}}
}

// syncConfig is a configuration with a feed to broker and an anchor on a
// ledger nobody serves (dialling an http:// URL contacts nothing), and no
// sensors.
func syncConfig(broker string) *config.Config {
	return &config.Config{
		Feed: &config.Feed{Brokers: []string{broker}, Window: 64},
		Anchor: &config.Anchor{Backend: config.AnchorEVM, RPC: "http://127.0.0.1:1", Finality: "qbft",
			Contract: "0x00000000000000000000000000000000000000aa", EveryEvents: 1, Every: time.Hour, MaxFeeGwei: 1},
	}
}

// presence subscribes to the device's status topic on broker (the feed
// publishes online when it connects, and offline, retained, when it
// stops) and returns the states seen so far.
func presence(t *testing.T, broker string) func() []string {
	t.Helper()
	k, err := devkey.FromHex(testKey)
	if err != nil {
		t.Fatal(err)
	}
	topic := feed.TopicsFor("system-test", k.Address()).Status
	var mu sync.Mutex
	var seen []string
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("presence").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("subscriber: connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		seen = append(seen, string(m.Payload()))
		mu.Unlock()
	}); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("subscriber: subscribe: %v", tok.Error())
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func startBroker(t *testing.T) string {
	t.Helper()
	b, err := embedded.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.URL()
}

// within runs f and fails the test if it has not returned within deadline.
func within[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(deadline):
		t.Fatalf("%s has not returned after %v; running: %v", what, deadline, loops())
		panic("unreachable")
	}
}

// An anchor that cannot open fails New at once, with the reason: New
// starts no loop, so the feed built before the anchor never connected, and
// what New built is closed (the log's lock is released).
func TestNew_AnchorCannotOpen(t *testing.T) {
	broker := startBroker(t)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, dir string, c *config.Config)
		want  func(err error) bool
	}{
		{"relayer key missing", func(t *testing.T, dir string, c *config.Config) {
			c.Anchor.KeyFile = filepath.Join(dir, "relayer.key")
		}, func(err error) bool {
			return strings.Contains(err.Error(), "relayer.key does not exist")
		}},
		{"anchor.db locked", func(t *testing.T, dir string, c *config.Config) {
			// Another open of the store holds its lock.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(filepath.Join(dir, AnchorStore), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, func(err error) bool {
			return errors.Is(err, anchor.ErrLocked) && strings.Contains(err.Error(), AnchorStore)
		}},
		{"backend not available", func(t *testing.T, dir string, c *config.Config) {
			c.Anchor.Backend = "chain-of-wishes"
		}, func(err error) bool { return strings.Contains(err.Error(), `"chain-of-wishes" is not available`) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen := presence(t, broker)
			dir := filepath.Join(t.TempDir(), "log")
			cfg := syncConfig(broker)
			tt.setup(t, dir, cfg)
			o := testOptions(t, dir, cfg)
			type result struct {
				s   *System
				err error
			}
			r := within(t, "New", func() result { s, err := New(context.Background(), o); return result{s, err} })
			if r.err == nil {
				r.s.Close()
				t.Fatal("New built a System whose anchor cannot open")
			}
			if r.s != nil {
				t.Errorf("New returned a System with its error %v", r.err)
			}
			if !tt.want(r.err) || !strings.HasPrefix(r.err.Error(), "anchor: ") {
				t.Errorf("New's error = %v; it does not give the reason", r.err)
			}
			if in := loops(); len(in) > 0 {
				t.Errorf("after New failed, goroutines are in %v", in)
			}
			if got := seen(); len(got) > 0 {
				t.Errorf("the feed connected (%v) though New failed", got)
			}
			// The log New opened is closed: another writer may open it.
			l, err := o.OpenLog(context.Background(), nil)
			if err != nil {
				t.Fatalf("the log is still held after New failed: %v", err)
			}
			l.Close()
		})
	}
}

// A part that fails during Run stops every other and Run returns its
// error: here the log is closed under a replay once the feed is online and
// has published, and the pipeline (or the feed) meets it closed. The feed
// is disconnected; Close then releases the anchor store.
func TestRun_PartFails(t *testing.T) {
	broker := startBroker(t)
	seen := presence(t, broker)
	dir := filepath.Join(t.TempDir(), "log")
	cfg, err := config.Load("../../configs/van.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc := syncConfig(broker)
	cfg.Feed, cfg.Anchor = sc.Feed, sc.Anchor
	cfg.Retention = &config.Retention{MaxBytes: 64 << 20, HardBytes: 80 << 20, OnFull: config.RetentionRefuseLow, MinFreeBytes: 1}
	rec, err := replay.Load(bytes.NewReader(recordings.BrusselsVan))
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, dir, cfg)
	o.NoLocalAPI = false
	o.Replay = &Replay{Recording: rec}
	var s *System
	n := 0
	o.OnEvent = func(*event.Signed) {
		if n++; n == 20 {
			waitUntil(t, "the feed online", func() bool { return slices.Contains(seen(), "online") })
			waitUntil(t, "every loop running", func() bool { return len(loops()) == len(loopFrames) })
			s.Log().Close()
		}
	}
	if s, err = New(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = within(t, "Run", func() error { return s.Run(context.Background()) })
	if !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Run = %v; want the error of a part that met the log closed", err)
	}
	if n != 20 {
		t.Errorf("%d events appended; want the pipeline stopped at the 21st", n)
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after Run returned, goroutines are in %v", in)
	}
	if st := s.Feed().Status(); st.Connected || st.Connects == 0 {
		t.Errorf("feed status after Run: connected %v after %d connections; want it connected once, then not", st.Connected, st.Connects)
	}
	if err := within(t, "Close", s.Close); err != nil && !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("Close: %v", err)
	}
	db, err := bolt.Open(filepath.Join(dir, AnchorStore), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("the anchor store is still held after Close: %v", err)
	}
	db.Close()
}

// Run stops every part when its context is done, and returns nil; the
// pipeline signs a last checkpoint of the events appended meanwhile.
func TestRun_Stop(t *testing.T) {
	broker := startBroker(t)
	seen := presence(t, broker)
	dir := filepath.Join(t.TempDir(), "log")
	o := testOptions(t, dir, syncConfig(broker))
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitUntil(t, "the feed online", func() bool { return slices.Contains(seen(), "online") })
	appendManual(t, s.Log(), 3)
	cancel()
	if err := within(t, "Run", func() error { return <-done }); err != nil {
		t.Fatalf("Run after a stop = %v", err)
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after Run returned, goroutines are in %v", in)
	}
	if _, c, err := s.Log().Latest(); err != nil || c.Size != 3 {
		t.Errorf("latest checkpoint after the stop: size %d, %v; want 3", c.Size, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// A relayer key's passphrase FIFO that nobody writes keeps New waiting
// only until its context is cancelled; then it returns, with what it had
// built closed.
func TestNew_CancelledWhileStarting(t *testing.T) {
	dir := t.TempDir()
	relayer, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, fifo := filepath.Join(dir, "relayer.key"), filepath.Join(dir, "passphrase")
	if err := devkey.Write(keyFile, relayer, []byte("relayer passphrase")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	cfg := syncConfig("tcp://127.0.0.1:1")
	cfg.Anchor.KeyFile, cfg.Anchor.PassFile = keyFile, fifo
	o := testOptions(t, filepath.Join(dir, "log"), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s, err := New(ctx, o)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	// Cancel once New holds the FIFO open, waiting for a writer.
	waitUntil(t, "New opens "+fifo, func() bool {
		select {
		case err := <-done:
			t.Fatalf("New returned (%v) before it waited for the passphrase", err)
		default:
		}
		return fdOpen(t, fifo)
	})
	cancel()
	err = within(t, "New after its context was cancelled", func() error { return <-done })
	if err == nil {
		t.Fatal("New succeeded without the relayer's passphrase")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("New's error = %v, want one wrapping context.Canceled", err)
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after New failed, goroutines are in %v", in)
	}
}

// fdOpen reports whether this process has path open.
func fdOpen(t *testing.T, path string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		if to, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && to == path {
			return true
		}
	}
	return false
}

// waitUntil waits, boundedly, until cond holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v; running: %v", what, deadline, loops())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appendManual appends n manual events to l.
func appendManual(t *testing.T, l *eventlog.Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ev, err := event.New(event.Manual{Note: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ev.Time, ev.Source = 1795766400000+int64(i), event.SourceNTP
		if _, err := l.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// Without a configuration the System is the log alone: the local API
// serves it (its status has no agent part) and a checkpoint is signed when
// Run stops.
func TestRun_LogOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	o := testOptions(t, dir, nil)
	o.NoLocalAPI = false
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var body bytes.Buffer
	waitUntil(t, "the local API answers", func() bool {
		c, err := localapi.Dial(dir)
		if err != nil {
			return false
		}
		body.Reset()
		return c.Do(ctx, "GET", "/v1/status", nil, &body) == nil
	})
	var st map[string]any
	if err := json.Unmarshal(body.Bytes(), &st); err != nil {
		t.Fatalf("status: %v: %s", err, body.Bytes())
	}
	if _, ok := st["agent"]; ok || st["log"] == nil {
		t.Errorf("status without a configuration = %v; want the log's alone", st)
	}
	appendManual(t, s.Log(), 2)
	cancel()
	if err := within(t, "Run", func() error { return <-done }); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, cp, err := s.Log().Latest(); err != nil || cp.Size != 2 {
		t.Errorf("latest checkpoint after the stop: size %d, %v; want 2", cp.Size, err)
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after Run returned, goroutines are in %v", in)
	}
}
