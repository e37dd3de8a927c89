package subscribe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// TestSubscribe_OrderPerDevice: the messages of many devices, interleaved,
// are handled by several lanes at once, each device's in order, every one.
func TestSubscribe_OrderPerDevice(t *testing.T) {
	b := startBroker(t, nil)
	devices := []int{0, 1, 2, 3, 4, 5, 6, 7}
	const n = 150
	var rec record
	var busy, most atomic.Int32
	r := rand.New(rand.NewPCG(3, 4))
	var rmu = make(chan struct{}, 1)
	handler := func(ctx context.Context, topic string, payload []byte) error {
		// Take a varying while, so that lanes overtake each other.
		cur := busy.Add(1)
		defer busy.Add(-1)
		for m := most.Load(); cur > m && !most.CompareAndSwap(m, cur); m = most.Load() {
		}
		rmu <- struct{}{}
		d := time.Duration(r.IntN(300)) * time.Microsecond
		<-rmu
		time.Sleep(d)
		return rec.handle(ctx, topic, payload)
	}
	s, err := New(Config{Brokers: []Broker{quick(b.URL(), "watch-order")}, Workers: 4}, handler, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	publish(t, b.URL(), devices, 0, n)
	want := wantAll(devices, n)
	waitFor(t, "every message handled", func() bool {
		_, complete, err := checkOrder(rec.lines(), want)
		if err != nil {
			t.Fatal(err)
		}
		return complete
	})
	st := s.Status()[0]
	if !st.Connected || st.Connects != 1 || st.Handled < uint64(len(devices)*n) || st.HandlerErrors != 0 || st.LastMessage.IsZero() {
		t.Errorf("status %+v", st)
	}
	if most.Load() < 2 {
		t.Logf("at most %d handler at once", most.Load())
	}
}

// TestSubscribe_HandlerFails: while the handler fails (the archive is
// down), nothing is acknowledged past the failed message of a device; once
// it works again, the broker delivers every message again and each device's
// messages are all handled in order.
func TestSubscribe_HandlerFails(t *testing.T) {
	b := startBroker(t, nil)
	devices := []int{10, 11, 12}
	const n = 100
	var down atomic.Bool
	var failures atomic.Int32
	var failedAt atomic.Value // the first message refused
	rec := record{fail: func(topic, payload string) error {
		if topic == eventsTopic(11) && payload == "40" && failures.Load() == 0 {
			down.Store(true) // the archive goes down at this message
		}
		if down.Load() {
			if failures.Add(1) == 1 {
				failedAt.Store(topic + " " + payload)
			}
			// A failing archive takes its time (a connection timeout):
			// meanwhile the broker sends more.
			time.Sleep(20 * time.Millisecond)
			return errors.New("archive down")
		}
		return nil
	}}
	s, err := New(Config{Brokers: []Broker{quick(b.URL(), "watch-fails")}, Workers: 3}, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	publish(t, b.URL(), devices, 0, n)
	// The archive stays down over several connections.
	waitFor(t, "handler errors on three connections", func() bool {
		st := s.Status()[0]
		return st.HandlerErrors >= 3 && st.Connects >= 3
	})
	down.Store(false)
	want := wantAll(devices, n)
	waitFor(t, "every message handled", func() bool {
		_, complete, err := checkOrder(rec.lines(), want)
		if err != nil {
			t.Fatal(err)
		}
		return complete
	})
	lines := rec.lines()
	first := failedAt.Load().(string)
	handledAfter := false
	for _, l := range lines {
		handledAfter = handledAfter || l == first
	}
	if !handledAfter {
		t.Errorf("the message the handler failed on (%s) was never handled", first)
	}
	st := s.Status()[0]
	if st.Redelivered == 0 {
		t.Errorf("no message was flagged as delivered again: %+v", st)
	}
	t.Logf("%d handler errors, %d connections, %d messages received, %d flagged DUP", st.HandlerErrors, st.Connects, st.Received, st.Redelivered)
}

// TestSubscribe_StopMidStream: a subscriber stopped while messages are in
// flight (a handler that does not finish in time, messages handled and not
// yet acknowledged, messages not yet handled) loses none: a new subscriber
// with the client ID gets them all.
func TestSubscribe_StopMidStream(t *testing.T) {
	b := startBroker(t, nil)
	devices := []int{20, 21}
	const n = 200
	var rec record
	var hold atomic.Bool
	hold.Store(true)
	held := make(chan struct{})
	var once sync.Once
	handler := func(ctx context.Context, topic string, payload []byte) error {
		if hold.Load() && topic == eventsTopic(20) && len(rec.lines()) >= n/4 {
			// An archive that hangs: the handler returns only when its
			// context is cancelled.
			once.Do(func() { close(held) })
			<-ctx.Done()
			return ctx.Err()
		}
		return rec.handle(ctx, topic, payload)
	}
	cfg := Config{Brokers: []Broker{quick(b.URL(), "watch-stop")}, Workers: 2, ShutdownTimeout: 200 * time.Millisecond}
	s1, err := New(cfg, handler, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s1)
	publish(t, b.URL(), devices, 0, n)
	select {
	case <-held:
	case <-time.After(waitLimit):
		t.Fatal("the handler never held a message")
	}
	stop()
	first := len(rec.lines())
	if st := s1.Status()[0]; st.HandlerErrors != 1 {
		t.Errorf("the held handler's context was not cancelled: %+v", st)
	}
	hold.Store(false)
	s2, err := New(cfg, handler, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s2)
	want := wantAll(devices, n)
	waitFor(t, "every message handled after the restart", func() bool {
		_, complete, err := checkOrder(rec.lines(), want)
		if err != nil {
			t.Fatal(err)
		}
		return complete
	})
	dups, _, _ := checkOrder(rec.lines(), want)
	t.Logf("%d handled before the stop, %d in all, %d duplicates", first, len(rec.lines()), dups)
}

// TestSubscribe_Killed: a watcher process killed (SIGKILL) mid-stream, twice,
// loses no message: what it handled and had not acknowledged, and what it
// had not handled, the broker delivers to the next process.
func TestSubscribe_Killed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	b := startBroker(t, nil)
	devices := []int{30, 31, 32}
	const n = 300
	const clientID = "watch-killed"
	out := filepath.Join(t.TempDir(), "handled")
	// The session (and its subscription) exists before anything is
	// published: the first process subscribes and is stopped.
	{
		s, err := New(Config{Brokers: []Broker{quick(b.URL(), clientID)}}, func(context.Context, string, []byte) error { return nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		start(t, s)()
	}
	publish(t, b.URL(), devices, 0, n)
	lines := func() []string {
		d, err := os.ReadFile(out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		s := strings.Split(string(d), "\n")
		// A kill may cut the last line short: only whole lines count.
		return s[:len(s)-1]
	}
	want := wantAll(devices, n)
	for round, quota := range []int{150, 250, 0} {
		before := len(lines())
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledChild$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("SUBSCRIBE_CHILD=%s %s %s %d", b.URL(), clientID, out, quota))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if quota == 0 {
			waitFor(t, "every message handled", func() bool {
				_, complete, err := checkOrder(lines(), want)
				if err != nil {
					t.Fatal(err)
				}
				return complete
			})
		} else {
			// The child handles its quota, then hangs in its handler with
			// messages received and not acknowledged.
			waitFor(t, "the child handling its quota", func() bool { return len(lines()) >= before+quota })
		}
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(waitLimit):
			t.Fatal("the child did not exit on SIGKILL")
		}
		if quota > 0 {
			if _, complete, err := checkOrder(lines(), want); err != nil || complete {
				t.Fatalf("round %d: killed after every message was handled (%v): the test proves nothing", round, err)
			}
		}
	}
	dups, _, _ := checkOrder(lines(), want)
	t.Logf("%d messages published, %d handled over three processes, %d duplicates", len(devices)*n, len(lines()), dups)
}

// TestKilledChild is the watcher process of TestSubscribe_Killed: its
// handler appends each message to a file, synced, before it returns.
func TestKilledChild(t *testing.T) {
	env := os.Getenv("SUBSCRIBE_CHILD")
	if env == "" {
		t.Skip("the child process of TestSubscribe_Killed")
	}
	args := strings.Fields(env)
	f, err := os.OpenFile(args[2], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	quota, _ := strconv.Atoi(args[3])
	handled := 0
	handler := func(_ context.Context, topic string, payload []byte) error {
		if quota > 0 && handled >= quota {
			select {} // hangs until killed
		}
		if _, err := f.WriteString(topic + " " + string(payload) + "\n"); err != nil {
			return err
		}
		handled++
		return f.Sync()
	}
	s, err := New(Config{Brokers: []Broker{quick(args[0], args[1])}, Workers: 1}, handler, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Run(context.Background()) // until killed
}

// TestSubscribe_BrokerRestart: the subscriber reconnects after the broker
// restarts, and messages queued for its session while it was away survive
// a broker restart.
func TestSubscribe_BrokerRestart(t *testing.T) {
	b := startBroker(t, nil)
	devices := []int{40, 41}
	var rec record
	cfg := Config{Brokers: []Broker{quick(b.URL(), "watch-restart")}}
	s, err := New(cfg, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s)
	publish(t, b.URL(), devices, 0, 50)
	waitFor(t, "the first messages handled", func() bool { _, c, _ := checkOrder(rec.lines(), wantAll(devices, 50)); return c })

	b.Restart()
	waitFor(t, "a new connection after the broker's restart", func() bool {
		st := s.Status()[0]
		return st.Connects >= 2 && st.Subscribed
	})
	if st := s.Status()[0]; !st.SessionPresent {
		t.Errorf("the broker lost the session over its restart: %+v", st)
	}
	publish(t, b.URL(), devices, 50, 50)
	waitFor(t, "the messages after the restart", func() bool { _, c, _ := checkOrder(rec.lines(), wantAll(devices, 100)); return c })

	// Away: messages are queued in the session, the broker restarts, the
	// subscriber comes back to them.
	stop()
	publish(t, b.URL(), devices, 100, 50)
	b.Restart()
	s2, err := New(cfg, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s2)
	want := wantAll(devices, 150)
	waitFor(t, "the messages queued over the restart", func() bool {
		_, complete, err := checkOrder(rec.lines(), want)
		if err != nil {
			t.Fatal(err)
		}
		return complete
	})
}

// TestSubscribe_Brokers: two brokers at once, each with its own status;
// Select skips (and acknowledges) what another shard handles.
func TestSubscribe_Brokers(t *testing.T) {
	b1, b2 := startBroker(t, nil), startBroker(t, nil)
	var rec record
	shard := Shard{Index: 1, Count: 2}
	var mine, theirs []int
	for i := 50; len(mine) < 2 || len(theirs) < 2; i++ {
		if shard.Owns(testDevice(i)) {
			mine = append(mine, i)
		} else {
			theirs = append(theirs, i)
		}
	}
	cfg := Config{
		Brokers: []Broker{quick(b1.URL(), "watch-a"), quick(b2.URL(), "watch-a")},
		Select:  shard.OwnsTopic,
	}
	cfg.Brokers[0].Name = "one"
	s, err := New(cfg, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	publish(t, b1.URL(), append(mine[:1:1], theirs...), 0, 20)
	publish(t, b2.URL(), mine[1:2], 0, 20)
	want := map[string]int{eventsTopic(mine[0]): 20, eventsTopic(mine[1]): 20}
	waitFor(t, "the shard's messages from both brokers", func() bool {
		_, complete, err := checkOrder(rec.lines(), want)
		if err != nil {
			t.Fatal(err)
		}
		return complete
	})
	waitFor(t, "the other shard's messages skipped", func() bool { return s.Status()[0].Skipped == uint64(20*len(theirs)) })
	st := s.Status()
	if len(st) != 2 || st[0].Name != "one" || st[1].Name != b2.URL() || st[1].Handled != 20 || st[1].Skipped != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestSubscribe_Password: a broker that requires a password, read from a
// file; a wrong one is refused and reported.
func TestSubscribe_Password(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd is not installed")
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if out, err := exec.Command(bin, "-c", "-b", pw, "watcher", "s3cret pass").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	b := mosquitto.Start(t, &mosquitto.Config{Extra: []string{"allow_anonymous false", "password_file " + pw}})
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("s3cret pass\n"), 0o600)
	os.WriteFile(bad, []byte("wrong\n"), 0o600)

	var rec record
	c := quick(b.URL(), "watch-pw")
	c.Username, c.PasswordFile = "watcher", bad
	s, err := New(Config{Brokers: []Broker{c}}, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "the refusal reported", func() bool { return s.Status()[0].LastError != "" })
	cancel()
	<-done
	if st := s.Status()[0]; st.Connects != 0 || !strings.Contains(st.LastError, "connect") {
		t.Errorf("wrong password: status %+v", st)
	}

	c.PasswordFile = good
	s, err = New(Config{Brokers: []Broker{c}}, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s) // connected and subscribed
	if st := s.Status()[0]; st.Connects != 1 {
		t.Errorf("right password: status %+v", st)
	}
}

func TestNew_RefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	ok := func() Broker {
		return Broker{URL: "tcp://127.0.0.1:1883", ClientID: "w", Filters: []string{"waybill/v1/demo/+/+"}}
	}
	h := func(context.Context, string, []byte) error { return nil }
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no broker", func(c *Config) { c.Brokers = nil }, "no broker"},
		{"scheme", func(c *Config) { c.Brokers[0].URL = "http://127.0.0.1:1883" }, `scheme "http"`},
		{"no port", func(c *Config) { c.Brokers[0].URL = "tcp://127.0.0.1" }, "host:port"},
		{"password in URL not shown", func(c *Config) { c.Brokers[0].URL = "ftp://u:hunter2@127.0.0.1:1" }, "xxxxx"},
		{"not a URL", func(c *Config) { c.Brokers[0].URL = "tcp://[::1" }, "broker 1 of 1: the URL is not a URL"},
		{"no client ID", func(c *Config) { c.Brokers[0].ClientID = "" }, "no client ID"},
		{"no filter", func(c *Config) { c.Brokers[0].Filters = nil }, "no topic filter"},
		{"bad filter", func(c *Config) { c.Brokers[0].Filters = []string{"waybill/#/x"} }, "'#' is not the last level"},
		{"filter twice", func(c *Config) { c.Brokers[0].Filters = []string{"a/+", "a/+"} }, "listed twice"},
		{"same session twice", func(c *Config) { c.Brokers = append(c.Brokers, ok()) }, "brokers 1 and 2 have the same URL and client ID"},
		{"password file missing", func(c *Config) { c.Brokers[0].PasswordFile = filepath.Join(dir, "none") }, "password file"},
		{"password file empty", func(c *Config) { c.Brokers[0].PasswordFile = empty }, "first line is empty"},
		{"TLS on tcp", func(c *Config) { c.Brokers[0].TLS = &TLS{} }, "TLS options are set but the URL is not"},
		{"CA missing", func(c *Config) {
			c.Brokers[0].URL = "ssl://127.0.0.1:8883"
			c.Brokers[0].TLS = &TLS{CAFile: filepath.Join(dir, "none")}
		}, "TLS CA file"},
		{"CA not PEM", func(c *Config) {
			c.Brokers[0].URL = "ssl://127.0.0.1:8883"
			c.Brokers[0].TLS = &TLS{CAFile: empty}
		}, "holds no PEM certificate"},
		{"cert without key", func(c *Config) {
			c.Brokers[0].URL = "wss://127.0.0.1:8883/mqtt"
			c.Brokers[0].TLS = &TLS{CertFile: empty}
		}, "needs both"},
		{"keep-alive", func(c *Config) { c.Brokers[0].KeepAlive = time.Millisecond }, "keep-alive"},
		{"workers", func(c *Config) { c.Workers = -1 }, "must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Brokers: []Broker{ok()}}
			c.edit(&cfg)
			_, err := New(cfg, h, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v, want an error containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if _, err := New(Config{Brokers: []Broker{ok()}}, nil, nil); err == nil {
		t.Error("New without a handler: no error")
	}
	s, err := New(Config{Brokers: []Broker{ok()}}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); len(st) != 1 || st[0].Name != "tcp://127.0.0.1:1883" || st[0].ClientID != "w" {
		t.Errorf("status %+v", st)
	}
}

// TestSubscribe_Shards: two watchers subscribed to the device filters of
// their shards split the devices: each device's messages reach exactly the
// watcher of its shard.
func TestSubscribe_Shards(t *testing.T) {
	b := startBroker(t, nil)
	var devices []int
	var all []Device
	for i := 80; i < 90; i++ {
		devices = append(devices, i)
		all = append(all, Device{Fleet: "test", Address: testDevice(i)})
	}
	var recs [2]record
	for i := range recs {
		shard := Shard{Index: i, Count: 2}
		filters := ShardFilters(shard, all)
		if len(filters) == 0 || len(filters) == len(all) {
			t.Fatalf("shard %v has %d of %d devices: pick other test devices", shard, len(filters), len(all))
		}
		c := quick(b.URL(), "watch-shard-"+shard.String(), filters...)
		s, err := New(Config{Brokers: []Broker{c}, Select: shard.OwnsTopic}, recs[i].handle, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		start(t, s)
	}
	const n = 20
	publish(t, b.URL(), devices, 0, n)
	for i := range recs {
		want := map[string]int{}
		for _, d := range devices {
			if ShardOf(testDevice(d), 2) == i {
				want[eventsTopic(d)] = n
			}
		}
		waitFor(t, "the shard's messages", func() bool {
			_, complete, err := checkOrder(recs[i].lines(), want)
			if err != nil {
				t.Fatal(err)
			}
			return complete
		})
		for _, l := range recs[i].lines() {
			topic, _, _ := strings.Cut(l, " ")
			if _, ok := want[topic]; !ok {
				t.Errorf("watcher of shard %d/2 handled %s", i, l)
			}
		}
	}
}
