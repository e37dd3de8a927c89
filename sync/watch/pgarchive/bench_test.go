package pgarchive

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/archivetest"
	"github.com/waybill-eu/waybill/testbench/postgres"
)

// BenchmarkPutEvent stores new events of 1,000 devices, each a committed,
// synced statement: one writer at a time (as one watcher's Handle), and
// from parallel writers (several watchers, or the pool's connections).
func BenchmarkPutEvent(b *testing.B) {
	b.Run("Serial", func(b *testing.B) { benchPutEvent(b, 0) })
	b.Run("Parallel8", func(b *testing.B) { benchPutEvent(b, 4) }) // 4 × GOMAXPROCS (2)
}

func benchPutEvent(b *testing.B, parallelism int) {
	s := postgres.Start(b)
	a, err := Open(context.Background(), s.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	leaf := make([]byte, 300)
	var n atomic.Uint64
	put := func() {
		i := n.Add(1)
		k := watch.Key{Device: event.Address{byte(i % 1000 >> 8), byte(i % 1000)}, Seq: i / 1000}
		if prev, err := a.PutEvent(context.Background(), k, leaf); err != nil || prev != nil {
			panic(fmt.Sprint(prev, err))
		}
	}
	b.ResetTimer()
	if parallelism == 0 {
		for range b.N {
			put()
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				put()
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandle passes one device's events through a watcher, one at a
// time, as the watcher handles a feed: the verification and the archive's
// writes of each event, on this archive and, as the baseline, on the
// embedded bbolt archive.
func BenchmarkHandle(b *testing.B) {
	b.Run("PostgreSQL", func(b *testing.B) {
		s := postgres.Start(b)
		a, err := Open(context.Background(), s.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		benchHandle(b, a)
	})
	b.Run("Bolt", func(b *testing.B) {
		a, err := watch.OpenBolt(filepath.Join(b.TempDir(), "archive.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		benchHandle(b, a)
	})
}

func benchHandle(b *testing.B, a watch.Archive) {
	l := eventlogtest.Open(b, b.TempDir(), nil)
	defer l.Close()
	eventlogtest.AppendBatch(b, l, 0, b.N)
	id := l.Identity()
	topic := feed.TopicsFor(id.Fleet, id.Device).Events
	msgs := make([][]byte, b.N)
	for i := range msgs {
		leaf, err := l.Leaf(uint64(i))
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = (&feed.Message{Origin: l.Origin(), Seq: uint64(i), Leaf: leaf}).Marshal()
	}
	w, err := watch.New(watch.Trust{Operators: []watch.Operator{{Name: "vans", Devices: []watch.Device{{
		Address: id.Device, Fleet: id.Fleet, ChainID: id.ChainID}}}}}, a)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for _, m := range msgs {
		v, err := w.Handle(ctx, topic, m)
		if err != nil || v.State != watch.StateVerified || v.Duplicate {
			b.Fatalf("Handle = %+v, %v", v, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHandleLanes hands b.N new events of 64 devices to one watcher
// from 1, 4 and 16 goroutines (the subscriber's lanes: each device's
// messages on one lane, in order), on a new archive each, and reports the
// rates and their ratios to one lane's, measured in the same run: on this
// archive (with the pool of DefaultMaxConns, and of 4 connections,
// pgxpool's default on 2 CPUs) and, as the baseline, on the embedded bbolt
// archive.
func BenchmarkHandleLanes(b *testing.B) {
	for _, pool := range []string{"", "&pool_max_conns=4"} {
		b.Run("PostgreSQL"+strings.ReplaceAll(pool, "&", "/"), func(b *testing.B) {
			s := postgres.Start(b)
			benchLanes(b, func() watch.Archive {
				a, err := Open(context.Background(), s.NewDatabase(b)+pool)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(a.Close)
				return a
			})
		})
	}
	b.Run("Bolt", func(b *testing.B) {
		benchLanes(b, func() watch.Archive {
			a, err := watch.OpenBolt(filepath.Join(b.TempDir(), "archive.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { a.Close() })
			return a
		})
	})
}

func benchLanes(b *testing.B, open func() watch.Archive) {
	rates := map[int]float64{}
	for _, lanes := range []int{1, 4, 16} {
		rates[lanes] = handleLanes(b, open(), lanes)
	}
	b.ReportMetric(rates[1], "events/s-1lane")
	b.ReportMetric(rates[4], "events/s-4lanes")
	b.ReportMetric(rates[16], "events/s-16lanes")
	b.ReportMetric(rates[4]/rates[1], "ratio-4:1")
	b.ReportMetric(rates[16]/rates[1], "ratio-16:1")
}

// handleLanes returns the events per second a watcher on a verified and
// archived from lanes goroutines.
func handleLanes(b *testing.B, a watch.Archive, lanes int) float64 {
	b.StopTimer()
	const devices = 64
	per := (b.N + devices - 1) / devices
	trust := watch.Trust{Operators: []watch.Operator{{Name: "city"}}}
	work := make([][]archivetest.Message, lanes)
	for d := range devices {
		dev, ms := archivetest.Feed(b, per+1, 0)
		trust.Operators[0].Devices = append(trust.Operators[0].Devices, dev)
		work[d%lanes] = append(work[d%lanes], ms...)
	}
	w, err := watch.New(trust, a)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for l, ms := range work { // each origin's first event records its epoch
		var rest []archivetest.Message
		for _, m := range ms {
			if m.Seq == 0 {
				if _, err := w.Handle(ctx, m.Topic, m.Payload); err != nil {
					b.Fatal(err)
				}
			} else {
				rest = append(rest, m)
			}
		}
		work[l] = rest
	}
	errs := make(chan error, lanes)
	b.StartTimer()
	t0 := time.Now()
	for _, ms := range work {
		go func() {
			for _, m := range ms {
				v, err := w.Handle(ctx, m.Topic, m.Payload)
				if err == nil && (v.State != watch.StateVerified || v.Duplicate) {
					err = fmt.Errorf("event %d: %+v", v.Seq, v)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range lanes {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	return float64(devices*per) / time.Since(t0).Seconds()
}
