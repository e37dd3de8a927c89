package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

const (
	benchFleet   = "bench-city"
	benchChainID = 1337
)

var benchDomain = signer.Domain{ChainID: benchChainID, Fleet: benchFleet}

// benchDevice signs a device's events and checkpoints with a real key.
type benchDevice struct {
	key    *devkey.Key
	topics feed.Topics
	origin string
	front  merkle.Frontier
	seq    uint64
}

func newBenchDevices(b *testing.B, n int) ([]*benchDevice, watch.Trust) {
	b.Helper()
	op := watch.Operator{Name: "bench"}
	var ds []*benchDevice
	for range n {
		k, err := devkey.Generate()
		if err != nil {
			b.Fatal(err)
		}
		vkey, err := k.VerifierKey(signer.KeyName(benchFleet, k.Address()))
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, &benchDevice{key: k, topics: feed.TopicsFor(benchFleet, k.Address()), origin: signer.Origin(benchFleet, k.Address(), 0)})
		op.Devices = append(op.Devices, watch.Device{Address: k.Address(), Fleet: benchFleet, ChainID: benchChainID, NoteKey: vkey})
	}
	return ds, watch.Trust{Operators: []watch.Operator{op}}
}

func benchEvent(device event.Address, seq uint64) event.Event {
	return event.Event{Device: device, Seq: seq, Time: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(seq)*10_000,
		Source: event.SourceGNSS, Kind: event.KindDelivery,
		Payload: fmt.Appendf(nil, `{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A1%08X","proof":"scan","zone":"bay-marche-aux-herbes"}`, seq)}
}

// next signs the device's next event and returns its message.
func (d *benchDevice) next(b *testing.B) []byte {
	s, err := d.key.SignEvent(benchDomain, benchEvent(d.key.Address(), d.seq))
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := s.Leaf()
	if err != nil {
		b.Fatal(err)
	}
	d.front.Append(merkle.LeafHash(leaf))
	m := feed.Message{Origin: d.origin, Seq: d.seq, Leaf: leaf}
	d.seq++
	return m.Marshal()
}

func (d *benchDevice) checkpoint(b *testing.B) []byte {
	ss, err := d.key.NoteSigners(signer.KeyName(benchFleet, d.key.Address()), benchDomain)
	if err != nil {
		b.Fatal(err)
	}
	note, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: d.origin, Size: d.front.Size(), Root: d.front.Root()}, ss...)
	if err != nil {
		b.Fatal(err)
	}
	return note
}

// benchArchive opens a bbolt archive in dir, or in /dev/shm for "tmpfs".
func benchArchive(b *testing.B, where string) *watch.Bolt {
	dir := b.TempDir()
	if where == "tmpfs" {
		d, err := os.MkdirTemp("/dev/shm", "watch-bench-")
		if err != nil {
			b.Skipf("no /dev/shm: %v", err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	a, err := watch.OpenBolt(filepath.Join(dir, "archive.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

// BenchmarkHandle_VsRecover hands b.N new events of 64 devices to
// Handle (each parsed, its signature recovered, archived) and, in the same
// run, recovers the public key of b.N event signatures with
// crypto.Ecrecover, the primitive under every event's check. It reports
// both rates and their ratio (target: 0.7). The archive is a bbolt file on
// disk, or in /dev/shm (tmpfs), where fsync costs nothing: the watcher's
// own work. Build with CGO_ENABLED=0 and =1 to compare go-ethereum's pure
// Go and libsecp256k1 recovery; -cpu 1 for one core.
func BenchmarkHandle_VsRecover(b *testing.B) {
	for _, where := range []string{"tmpfs", "disk"} {
		b.Run("archive="+where, func(b *testing.B) {
			ctx := context.Background()
			ds, trust := newBenchDevices(b, 64)
			w, err := watch.New(trust, benchArchive(b, where))
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range ds { // each origin's first event records its epoch
				if _, err := w.Handle(ctx, d.topics.Events, d.next(b)); err != nil {
					b.Fatal(err)
				}
			}
			msgs, topics := make([][]byte, b.N), make([]string, b.N)
			for i := range b.N {
				d := ds[i%len(ds)]
				msgs[i], topics[i] = d.next(b), d.topics.Events
			}
			digests, sigs := make([][32]byte, 256), make([][]byte, 256)
			for i := range digests {
				d := ds[i%len(ds)]
				e := benchEvent(d.key.Address(), uint64(1_000_000+i))
				s, err := d.key.SignEvent(benchDomain, e)
				if err != nil {
					b.Fatal(err)
				}
				digests[i], sigs[i] = signer.EventDigest(benchDomain, &e), append([]byte(nil), s.Sig[:]...)
				sigs[i][64] -= 27
			}
			b.ResetTimer()
			t0 := time.Now()
			for i := range b.N {
				v, err := w.Handle(ctx, topics[i], msgs[i])
				if err != nil {
					b.Fatal(err)
				}
				if v.State != watch.StateVerified || v.Duplicate {
					b.Fatalf("event %d: %+v", v.Seq, v)
				}
			}
			handle := time.Since(t0)
			t0 = time.Now()
			for i := range b.N {
				if _, err := crypto.Ecrecover(digests[i%256][:], sigs[i%256]); err != nil {
					b.Fatal(err)
				}
			}
			recover := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/handle.Seconds(), "verified/s")
			b.ReportMetric(float64(b.N)/recover.Seconds(), "recovers/s")
			b.ReportMetric(recover.Seconds()/handle.Seconds(), "ratio")
		})
	}
}

// BenchmarkHeapPerDevice measures the Go heap a watcher and its bbolt
// archive hold per device once each device has one event and one
// checkpoint verified, after a garbage collection, for b.N devices (use
// -benchtime 5000x). It reports MiB per 1,000 devices.
func BenchmarkHeapPerDevice(b *testing.B) {
	ctx := context.Background()
	ds, trust := newBenchDevices(b, b.N)
	evs, notes := make([][]byte, b.N), make([][]byte, b.N)
	for i, d := range ds {
		evs[i] = d.next(b)
		notes[i] = d.checkpoint(b)
	}
	a := benchArchive(b, "tmpfs")
	before := liveHeap()
	b.ResetTimer()
	w, err := watch.New(trust, a)
	if err != nil {
		b.Fatal(err)
	}
	for i, d := range ds {
		for _, m := range []struct {
			topic string
			p     []byte
		}{{d.topics.Events, evs[i]}, {d.topics.Checkpoints, notes[i]}} {
			v, err := w.Handle(ctx, m.topic, m.p)
			if err != nil {
				b.Fatal(err)
			}
			if v.State != watch.StateVerified {
				b.Fatalf("%s: %+v", m.topic, v)
			}
		}
	}
	b.StopTimer()
	after := liveHeap()
	runtime.KeepAlive(w)
	runtime.KeepAlive(ds)
	runtime.KeepAlive(evs)
	runtime.KeepAlive(notes)
	if after < before {
		b.Fatalf("the heap shrank from %d to %d bytes while the watcher took on %d devices", before, after, b.N)
	}
	b.ReportMetric(float64(after-before)/float64(b.N)*1000/(1<<20), "MiB/1000-devices")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkHandle_Lanes hands b.N new events of 64 devices to one watcher
// from 1, 4 and 16 goroutines (lanes, as the subscriber deals messages:
// each device's on one lane, in order), each on a new archive, and reports
// the rates and their ratios to one lane's, measured in the same run. On
// disk, concurrent lanes share the archive's commits (and their fsyncs).
func BenchmarkHandle_Lanes(b *testing.B) {
	for _, where := range []string{"disk", "tmpfs"} {
		b.Run("archive="+where, func(b *testing.B) {
			rates := map[int]float64{}
			for _, lanes := range []int{1, 4, 16} {
				rates[lanes] = handleLanes(b, where, lanes)
			}
			b.ReportMetric(rates[1], "events/s-1lane")
			b.ReportMetric(rates[4], "events/s-4lanes")
			b.ReportMetric(rates[16], "events/s-16lanes")
			b.ReportMetric(rates[4]/rates[1], "ratio-4:1")
			b.ReportMetric(rates[16]/rates[1], "ratio-16:1")
		})
	}
}

// handleLanes returns the events per second a watcher on a new archive
// verified and archived from lanes goroutines.
func handleLanes(b *testing.B, where string, lanes int) float64 {
	b.StopTimer()
	ctx := context.Background()
	ds, trust := newBenchDevices(b, 64)
	w, err := watch.New(trust, benchArchive(b, where))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range ds { // each origin's first event records its epoch
		if _, err := w.Handle(ctx, d.topics.Events, d.next(b)); err != nil {
			b.Fatal(err)
		}
	}
	type msg struct {
		topic   string
		payload []byte
	}
	work := make([][]msg, lanes)
	for i := range b.N {
		d := i % len(ds)
		work[d%lanes] = append(work[d%lanes], msg{ds[d].topics.Events, ds[d].next(b)})
	}
	errs := make(chan error, lanes)
	b.StartTimer()
	t0 := time.Now()
	for _, ms := range work {
		go func() {
			for _, m := range ms {
				v, err := w.Handle(ctx, m.topic, m.payload)
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
	return float64(b.N) / time.Since(t0).Seconds()
}
