package feed

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// Each new anchor record is published once, retained, on the anchors
// topic; a consumer that subscribes later gets the newest.
func TestPublisher_AnchorRecords(t *testing.T) {
	b := mosquitto.Start(t, nil)
	l := newLog(t, 10)
	var rec atomic.Pointer[[]byte]
	opts := testOptions(t, b.URL())
	opts.LatestAnchor = func() []byte {
		if p := rec.Load(); p != nil {
			return *p
		}
		return nil
	}
	p, err := New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	topics := p.Topics()
	sub := subscribe(t, b.URL(), "consumer", topics.Anchors)
	stop := runPublisher(t, p)
	defer stop()
	first, second := []byte(`{"size":5}`), []byte(`{"size":10}`)
	rec.Store(&first)
	sub.waitFor("the first anchor record", func() bool { return len(sub.messages(topics.Anchors)) == 1 })
	rec.Store(&second)
	sub.waitFor("the second anchor record", func() bool { return len(sub.messages(topics.Anchors)) == 2 })
	got := sub.messages(topics.Anchors)
	if !bytes.Equal(got[0].payload, first) || !bytes.Equal(got[1].payload, second) {
		t.Errorf("anchor records = %q", payloads(got))
	}
	late := subscribe(t, b.URL(), "late-consumer", topics.Anchors)
	late.waitFor("the retained record", func() bool { return len(late.messages(topics.Anchors)) == 1 })
	if m := late.messages(topics.Anchors); !bytes.Equal(m[0].payload, second) || !m[0].retained {
		t.Errorf("late subscriber got %q (retained %v), want the newest record retained", m[0].payload, m[0].retained)
	}
}
