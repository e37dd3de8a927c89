package watche2e

import (
	"bytes"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// recorder keeps every event and checkpoint message the devices publish,
// as a second consumer of the feed, so that the test can deliver them all
// again later.
type recorder struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs []message
}

type message struct {
	topic   string
	payload []byte
}

// channel is the topic's last segment (FEED.md §1).
func (m message) channel() string { return m.topic[strings.LastIndexByte(m.topic, '/')+1:] }

// record subscribes to every feed topic on the broker at url.
func record(t *testing.T, url string) *recorder {
	t.Helper()
	r := &recorder{}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("watche2e-recorder").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond)
	r.c = mqtt.NewClient(o)
	wait(t, r.c.Connect(), "the recorder's connection")
	wait(t, r.c.Subscribe("waybill/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		msg := message{topic: m.Topic(), payload: bytes.Clone(m.Payload())}
		if ch := msg.channel(); m.Retained() || (ch != "events" && ch != "checkpoints") {
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, msg)
		r.mu.Unlock()
	}), "the recorder's subscription")
	t.Cleanup(func() { r.c.Disconnect(100) })
	return r
}

// messages returns the recorded messages.
func (r *recorder) messages() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]message(nil), r.msgs...)
}

// republish publishes msgs again, QoS 1, not retained, in their order.
func (r *recorder) republish(t *testing.T, msgs []message) {
	t.Helper()
	for _, m := range msgs {
		wait(t, r.c.Publish(m.topic, 1, false, m.payload), "publishing "+m.topic+" again")
	}
}

// wait waits for an MQTT operation, bounded.
func wait(t *testing.T, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(time.Minute) {
		t.Fatalf("%s: not done within a minute", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// latest subscribes to filter on the broker at url, in a session of its
// own, and returns a function that gives the newest payload received on
// each topic (retained ones included).
func latest(t *testing.T, url, filter string) func() map[string][]byte {
	t.Helper()
	var mu sync.Mutex
	got := map[string][]byte{}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("watche2e-" + strings.NewReplacer("/", "-", "#", "all").Replace(filter)).SetCleanSession(true)
	c := mqtt.NewClient(o)
	wait(t, c.Connect(), "the connection for "+filter)
	wait(t, c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got[m.Topic()] = bytes.Clone(m.Payload())
		mu.Unlock()
	}), "the subscription to "+filter)
	t.Cleanup(func() { c.Disconnect(100) })
	return func() map[string][]byte {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
}
