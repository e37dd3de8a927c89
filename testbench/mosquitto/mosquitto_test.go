package mosquitto

import (
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// waitLimit bounds every wait on the broker: far beyond what a step takes
// on a loaded machine, so that only a step that never happens fails on it.
const waitLimit = time.Minute

func connect(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).
		SetAutoReconnect(false).SetConnectTimeout(waitLimit))
	if tok := c.Connect(); !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// A retained message survives a graceful restart (persistence is on), and
// the broker comes back on the same port.
func TestBroker_RestartKeepsRetained(t *testing.T) {
	b := Start(t, nil)
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || b.TLSURL() != "" {
		t.Fatalf("URL() = %s, TLSURL() = %q", b.URL(), b.TLSURL())
	}
	pub := connect(t, b.URL(), "pub")
	if tok := pub.Publish("t/retained", 1, true, "kept"); !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	pub.Disconnect(100)

	b.Restart()
	if !b.Running() {
		t.Fatal("Running() = false after Restart")
	}
	got := make(chan string, 1)
	sub := connect(t, b.URL(), "sub")
	tok := sub.Subscribe("t/retained", 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case s := <-got:
		if s != "kept" {
			t.Errorf("retained message = %q, want %q", s, "kept")
		}
	case <-time.After(waitLimit):
		t.Fatalf("no retained message after restart; broker log:\n%s", b.Logs())
	}
	b.Stop()
	if b.Running() {
		t.Error("Running() = true after Stop")
	}
	b.Stop() // a second Stop does nothing
	if !strings.Contains(b.Logs(), "mosquitto version") {
		t.Errorf("Logs() lacks the broker's start line:\n%s", b.Logs())
	}
}
