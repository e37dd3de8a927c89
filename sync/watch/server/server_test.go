package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch/watchconfig"
	"github.com/waybill-eu/waybill/sync/witness"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

const (
	testFleet   = "city-test"
	testChainID = 1337
	// otherKeyHex is a second trusted device; strangerKeyHex is a device
	// outside the allowlist.
	otherKeyHex    = "8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a"
	strangerKeyHex = "1111111111111111111111111111111111111111111111111111111111111111"
)

// agent is a device's real event log and its feed publisher.
type agent struct {
	key *devkey.Key
	log *eventlog.Log
	dir string
}

func newAgent(t *testing.T, k *devkey.Key, events int) *agent {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(context.Background(), dir, &eventlog.Options{Keys: k,
		Create: &eventlog.Identity{Device: k.Address(), Fleet: testFleet, ChainID: testChainID}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	a := &agent{key: k, log: l, dir: dir}
	a.append(t, 0, events)
	return a
}

func (a *agent) append(t *testing.T, lo, hi int) {
	t.Helper()
	for i := lo; i < hi; i++ {
		if _, err := a.log.Append(context.Background(), eventlogtest.Event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.log.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// publish runs the agent's feed publisher to url until the test ends.
func (a *agent) publish(t *testing.T, url string) {
	t.Helper()
	p, err := feed.New(a.log, feed.Options{Brokers: []string{url}, CursorFile: filepath.Join(a.dir, "feed.cursor"),
		BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("feed publisher: %v", err)
		}
	})
}

func key(t *testing.T, h string) *devkey.Key {
	t.Helper()
	k, err := devkey.FromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func vkey(t *testing.T, k *devkey.Key) string {
	t.Helper()
	v, err := k.VerifierKey(signer.KeyName(testFleet, k.Address()))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// writeConfig writes a configuration trusting the devices of keys, with
// a bbolt archive, a new witness key and an HTTP listener on a free port,
// and loads it as waybill-watch run does.
func writeConfig(t *testing.T, broker string, keys ...*devkey.Key) *watchconfig.Config {
	t.Helper()
	dir := t.TempDir()
	wk, err := witness.GenerateKey("witness.city.example/test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wk.Save(filepath.Join(dir, "witness.skey")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("operators:\n  - name: city-test\n    devices:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "      - address: %q\n        fleet: %s\n        chain_id: %d\n        note_key: %s\n", k.Address(), testFleet, testChainID, vkey(t, k))
	}
	fmt.Fprintf(&b, "brokers:\n  - name: city\n    url: %s\n    publish: true\narchive:\n  bolt: archive.db\nwitness:\n  key_file: witness.skey\nhttp:\n  listen: 127.0.0.1:0\n", broker)
	path := filepath.Join(dir, "watch.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := watchconfig.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// running is a server running in the background.
type running struct {
	*Server
	base string
	stop func() error
}

func start(t *testing.T, c *watchconfig.Config) *running {
	t.Helper()
	s, err := New(context.Background(), Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = errors.Join(<-done, s.Close())
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return &running{Server: s, base: "http://" + s.Addr().String(), stop: stop}
}

func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// metric returns the value of the sample named name (with its labels, as
// exposed), and whether /metrics has it.
func (r *running) metric(t *testing.T, sample string) (float64, bool) {
	t.Helper()
	code, body := r.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			return f, true
		}
	}
	return 0, false
}

// waitFor polls cond until it holds, failing the test with what after a
// bound far above what an idle machine needs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServer_EndToEnd: two agents publish their logs through a real
// Mosquitto, and a device outside the allowlist publishes too; the
// server verifies every event of the trusted ones, rejects the stranger's,
// and /metrics and /healthz say so. With the broker down, /healthz is 503
// naming it; back up, 200 again, and new events arrive.
func TestServer_EndToEnd(t *testing.T) {
	b := mosquitto.Start(t, nil)
	van, bike := key(t, eventlogtest.KeyHex), key(t, otherKeyHex)
	c := writeConfig(t, b.URL(), van, bike)
	srv := start(t, c)

	agents := []*agent{newAgent(t, van, 40), newAgent(t, bike, 25)}
	stranger := newAgent(t, key(t, strangerKeyHex), 3)
	for _, a := range append(agents, stranger) {
		a.publish(t, b.URL())
	}
	checkpointed := func(want float64) func() bool {
		return func() bool {
			v, _ := srv.metric(t, `waybill_watch_events{state="checkpointed"}`)
			return v == want
		}
	}
	waitFor(t, "65 events checkpointed", checkpointed(65))
	waitFor(t, "the stranger's events rejected as unknown_device", func() bool {
		v, _ := srv.metric(t, `waybill_watch_verdicts_total{channel="events",reason="unknown_device",state="rejected"}`)
		return v == 3
	})
	for _, s := range []string{"verified", "anchored", "witnessed"} {
		if v, ok := srv.metric(t, `waybill_watch_events{state="`+s+`"}`); !ok || v != 0 {
			t.Errorf("events %s = %v (exposed %v), want 0", s, v, ok)
		}
	}
	if v, ok := srv.metric(t, `waybill_watch_broker_connected{broker="city"}`); !ok || v != 1 {
		t.Errorf("broker_connected = %v (exposed %v), want 1", v, ok)
	}
	if v, _ := srv.metric(t, `waybill_watch_broker_messages_total{broker="city"}`); v < 65+3 {
		t.Errorf("broker_messages_total = %v, want at least the 68 events", v)
	}
	if v, ok := srv.metric(t, `waybill_watch_gaps_open`); !ok || v != 0 {
		t.Errorf("gaps_open = %v (exposed %v), want 0", v, ok)
	}
	if _, ok := srv.metric(t, `waybill_watch_checkpoint_age_seconds{device="`+van.Address().String()+`"}`); !ok {
		t.Errorf("no checkpoint age of the van")
	}
	code, body := srv.get(t, "/healthz")
	var h Health
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != http.StatusOK || !h.OK {
		t.Fatalf("/healthz = %d %s (%v), want 200 ok", code, body, err)
	}

	b.Stop()
	waitFor(t, "/healthz 503 naming the broker", func() bool {
		code, body := srv.get(t, "/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"broker city: not connected`)
	})
	b.Restart()
	waitFor(t, "/healthz 200 after the broker's restart", func() bool {
		code, _ := srv.get(t, "/healthz")
		return code == http.StatusOK
	})
	agents[0].append(t, 40, 50)
	waitFor(t, "75 events checkpointed after the restart", checkpointed(75))

	if code, body := srv.get(t, "/v1/checkpoints/0x12/0"); code != http.StatusBadRequest {
		t.Errorf("/v1/checkpoints of a bad address = %d %s, want 400", code, body)
	}
	if code, body := srv.get(t, "/v1/checkpoints/"+van.Address().String()+"/x"); code != http.StatusBadRequest {
		t.Errorf("/v1/checkpoints of a bad epoch = %d %s, want 400", code, body)
	}
	// The checkpoints the watcher cosigned, over HTTP and retained on the
	// broker, verify with the witness's key.
	wk, err := witness.LoadKey(c.WitnessKey)
	if err != nil {
		t.Fatal(err)
	}
	code, note := srv.get(t, "/v1/checkpoints/"+van.Address().String()+"/0")
	if code != http.StatusOK {
		t.Fatalf("/v1/checkpoints of the van = %d %s", code, note)
	}
	if _, err := witness.VerifyCosignature([]byte(note), wk.VerifierKey()); err != nil {
		t.Errorf("the cosigned checkpoint over HTTP does not verify: %v\n%s", err, note)
	}
	if c, err := parseCheckpointText([]byte(note)); err != nil || c.Size != 50 {
		t.Errorf("the cosigned checkpoint over HTTP is of size %d (%v), want 50", c.Size, err)
	}
	topic := CosignedTopic(wk.KeyID(), testFleet, van.Address(), 0)
	waitFor(t, "the cosigned checkpoint of size 50 retained on "+topic, func() bool {
		got := retained(t, b.URL(), topic)
		c, err := parseCheckpointText(got)
		if err != nil || c.Size != 50 {
			return false
		}
		if _, err := witness.VerifyCosignature(got, wk.VerifierKey()); err != nil {
			t.Fatalf("the retained cosigned checkpoint does not verify: %v", err)
		}
		return true
	})
	if v, _ := srv.metric(t, "waybill_watch_cosigned_total"); v < 3 {
		t.Errorf("cosigned_total = %v, want at least the 3 checkpoints", v)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// retained returns the message retained on topic at the broker, or nil.
func retained(t *testing.T, url, topic string) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("retained-reader").SetCleanSession(true))
	if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to read %s: %v", topic, tok.Error())
	}
	defer cl.Disconnect(0)
	tok := cl.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe to %s: %v", topic, tok.Error())
	}
	select {
	case p := <-got:
		return p
	case <-time.After(time.Second):
		return nil
	}
}

func loadConfig(t *testing.T, path string) *watchconfig.Config {
	t.Helper()
	c, err := watchconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func timeText(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }
