package feed

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// drainEvents is the backlog BenchmarkDrain_VsRawPublish drains.
const drainEvents = 5000

// BenchmarkDrain_VsRawPublish drains a backlog of drainEvents events
// after an outage through the Publisher (read from the bbolt log, a
// bounded window, every PUBACK checked in order, the cursor persisted)
// and, in the same run against the same local Mosquitto, publishes the
// same payloads with plain paho QoS 1 (every message handed to paho at
// once, then every token awaited). Both timings start before the
// connection is made. It reports both rates and their ratio (target: the
// publisher at 0.8 of the raw rate or better).
func BenchmarkDrain_VsRawPublish(b *testing.B) {
	broker := mosquitto.Start(b, nil)
	l := newLog(b, drainEvents)
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	payloads := eventMessages(b, l)
	dir := b.TempDir()

	var pubTime, rawTime time.Duration
	run := 0
	drain := func() {
		opts := Options{Brokers: []string{broker.URL()}, CursorFile: filepath.Join(dir, "cursor-"+strconv.Itoa(run)),
			BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
		p, err := New(l, opts)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- p.Run(ctx) }()
		wctx, wcancel := context.WithTimeout(context.Background(), waitLimit)
		if err := p.Wait(wctx, drainEvents); err != nil {
			b.Fatalf("drain: %v (status %+v)", err, p.Status())
		}
		pubTime += time.Since(start)
		wcancel()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	raw := func() {
		start := time.Now()
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("raw-" + strconv.Itoa(run)).
			SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4))
		if tok := cl.Connect(); !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
			b.Fatalf("raw connect: %v", tok.Error())
		}
		toks := make([]mqtt.Token, len(payloads))
		for i, m := range payloads {
			toks[i] = cl.Publish(topics.Events, 1, false, m)
		}
		for i, tok := range toks {
			if !tok.WaitTimeout(waitLimit) || tok.Error() != nil {
				b.Fatalf("raw publish %d: %v", i, tok.Error())
			}
		}
		rawTime += time.Since(start)
		cl.Disconnect(250)
	}
	for b.Loop() {
		// Alternate which goes first, so that neither always runs on a
		// broker the other has just warmed or loaded.
		if run%2 == 0 {
			drain()
			raw()
		} else {
			raw()
			drain()
		}
		run++
	}
	n := float64(drainEvents * run)
	pubRate, rawRate := n/pubTime.Seconds(), n/rawTime.Seconds()
	b.ReportMetric(pubRate, "publisher-events/s")
	b.ReportMetric(rawRate, "raw-events/s")
	b.ReportMetric(pubRate/rawRate, "ratio")
}
