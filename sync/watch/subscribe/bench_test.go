package subscribe

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSubscribe: messages of 100 devices queued in a persistent
// session through Mosquitto, then received, handled by a handler that does
// nothing and acknowledged: the subscriber's own rate of draining a
// backlog (b.N messages).
func BenchmarkSubscribe(b *testing.B) {
	br := startBroker(b, nil)
	devices := make([]int, 100)
	for i := range devices {
		devices[i] = i
	}
	var handled atomic.Int64
	h := func(context.Context, string, []byte) error { handled.Add(1); return nil }
	cfg := Config{Brokers: []Broker{quick(br.URL(), "watch-bench")}}
	s, err := New(cfg, h, nil)
	if err != nil {
		b.Fatal(err)
	}
	start(b, s)() // the session exists
	per := max(1, b.N/len(devices))
	publish(b, br.URL(), devices, 0, per)
	want := int64(per * len(devices))
	s, err = New(cfg, h, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t0 := time.Now()
	stop := start(b, s)
	waitFor(b, strconv.FormatInt(want, 10)+" messages handled", func() bool { return handled.Load() >= want })
	b.StopTimer()
	b.ReportMetric(float64(want)/time.Since(t0).Seconds(), "msg/s")
	stop()
}
