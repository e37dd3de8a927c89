package pgarchive

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/watch"
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
