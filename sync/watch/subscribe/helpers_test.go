package subscribe

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// waitLimit bounds every wait of the tests: generous, for a loaded machine.
const waitLimit = 90 * time.Second

// startBroker starts a Mosquitto configured as FEED.md §9 recommends for
// the brokers watchers read: no in-flight window for the messages it sends
// (Mosquitto 2.0.11 sends messages that waited for the window out of order).
func startBroker(t testing.TB, cfg *mosquitto.Config) *mosquitto.Broker {
	t.Helper()
	if cfg == nil {
		cfg = &mosquitto.Config{}
	}
	cfg.Extra = append([]string{"max_inflight_messages 0"}, cfg.Extra...)
	return mosquitto.Start(t, cfg)
}

// waitFor polls cond until it holds, failing the test with what after
// waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s in vain", waitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testDevice returns the address of test device i: 20 bytes of a hash,
// as real addresses are.
func testDevice(i int) event.Address {
	h := sha256.Sum256([]byte("test device " + strconv.Itoa(i)))
	return event.Address(h[:20])
}

func eventsTopic(i int) string {
	return "waybill/v1/test/" + testDevice(i).String() + "/events"
}

// publish publishes n messages per device to the devices' events topics,
// interleaved, with QoS 1, payloads "0", "1", … from seq from, and waits
// for every PUBACK.
func publish(t testing.TB, url string, devices []int, from, n int) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("test-publisher-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
		t.Fatalf("publisher: connect to %s: %v", url, tok.Error())
	}
	defer c.Disconnect(100)
	var toks []mqtt.Token
	for seq := from; seq < from+n; seq++ {
		for _, d := range devices {
			toks = append(toks, c.Publish(eventsTopic(d), 1, false, strconv.Itoa(seq)))
		}
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
			t.Fatalf("publisher: no PUBACK: %v", tok.Error())
		}
	}
}

// record is what a handler saw, in order.
type record struct {
	mu   sync.Mutex
	seen []string // "topic seq"
	// fail, if set, is asked before each message is recorded; an error is
	// returned to the subscriber and the message not recorded.
	fail func(topic, payload string) error
}

func (r *record) handle(_ context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(topic, string(payload)); err != nil {
			return err
		}
	}
	r.seen = append(r.seen, topic+" "+string(payload))
	return nil
}

func (r *record) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// checkOrder checks handled lines ("topic seq"): per topic, every seq is
// either a duplicate of one handled before (at most the highest so far)
// or the next one; and when complete, every topic of want reached seq
// want[topic]-1. It returns the number of duplicates.
func checkOrder(lines []string, want map[string]int) (dups int, complete bool, err error) {
	next := map[string]int{}
	for i, l := range lines {
		topic, s, ok := strings.Cut(l, " ")
		seq, perr := strconv.Atoi(s)
		if !ok || perr != nil {
			return 0, false, fmt.Errorf("line %d: %q is not a test message", i, l)
		}
		switch n := next[topic]; {
		case seq < n:
			dups++
		case seq == n:
			next[topic] = n + 1
		default:
			return 0, false, fmt.Errorf("line %d: %s seq %d handled before seq %d", i, topic, seq, n)
		}
	}
	complete = true
	for topic, n := range want {
		if next[topic] < n {
			complete = false
		} else if next[topic] > n {
			return 0, false, fmt.Errorf("%s: handled up to %d, published %d", topic, next[topic]-1, n)
		}
	}
	return dups, complete, nil
}

// start runs s until the test ends (or the returned stop is called) and
// waits until every broker is subscribed.
func start(t testing.TB, s *Subscriber) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
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
				t.Errorf("Run did not return within %v of its context's end", waitLimit)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, "subscription", func() bool {
		for _, st := range s.Status() {
			if !st.Subscribed {
				return false
			}
		}
		return true
	})
	return stop
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// quick is a broker configuration with short backoffs for tests.
func quick(url, clientID string, filters ...string) Broker {
	if len(filters) == 0 {
		filters = []string{FleetFilter("test")}
	}
	return Broker{URL: url, ClientID: clientID, Filters: filters,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond, ConnectTimeout: 10 * time.Second}
}

func wantAll(devices []int, n int) map[string]int {
	w := map[string]int{}
	for _, d := range devices {
		w[eventsTopic(d)] = n
	}
	return w
}
