package city

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/sync/watch"
)

// The size of the city the benchmarks simulate. The README's figures are
// measured with
//
//	go test -run '^$' -bench BenchmarkCity -benchtime 1x -timeout 2h ./testbench/city \
//	    -city.devices 5000 -city.archive postgres
var (
	cityDevices  = flag.Int("city.devices", 200, "devices of the simulated city")
	cityArchive  = flag.String("city.archive", "bolt", "the watcher's archive: bolt (a file on disk), bolt-tmpfs (a file in /dev/shm: the disk's fsyncs taken out) or postgres")
	citySustain  = flag.Duration("city.sustain", time.Minute, "how long the devices publish one event each 10 s")
	cityBacklog  = flag.Int("city.backlog", 360, "events each device appends during the outage (360: an hour at one each 10 s)")
	cityInterval = 10 * time.Second
)

// benchRig is newRig with the archive the flags name. The devices'
// cursor files are kept in /dev/shm: they stand for files on the devices,
// whose fsyncs are not the watcher's machine's to pay.
func benchRig(b *testing.B) *rig {
	shm := func() string {
		dir, err := os.MkdirTemp("/dev/shm", "city-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	switch *cityArchive {
	case "bolt", "postgres":
		return newRigOn(b, *cityDevices, shm(), func() watch.Archive {
			if *cityArchive == "postgres" {
				return postgresArchive(b)
			}
			return boltArchive(b, b.TempDir())
		})
	case "bolt-tmpfs":
		return newRigOn(b, *cityDevices, shm(), func() watch.Archive { return boltArchive(b, shm()) })
	}
	b.Fatalf("-city.archive %q: want bolt, bolt-tmpfs or postgres", *cityArchive)
	return nil
}

// warmUp waits until every device's publisher is connected, then makes
// every device publish one event and waits until the watcher verified
// them all, so that neither the connections' storm nor the watcher's first
// sight of each device (its epoch recorded) is part of what is measured.
func (r *rig) warmUp(b *testing.B) {
	deadline := time.Now().Add(waitLimit)
	for _, p := range r.city.pubs {
		for !p.Status().Connected {
			if time.Now().After(deadline) {
				b.Fatalf("a publisher is not connected after %s: %+v", waitLimit, p.Status())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range r.city.Devices {
		if err := r.city.Append(i, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	r.waitVerified()
}

// BenchmarkCity_Sustained: every device of the city publishes one event
// each 10 s, spread evenly, for -city.sustain, through Mosquitto into one
// watcher. It reports the rate offered and the rate verified over that
// time, the events still waiting when it ended, and the lag from an
// event's signing to its verdict (median, 99th percentile, largest, and
// the median over the last tenth of the events: a lag that grows says
// the watcher does not keep up).
func BenchmarkCity_Sustained(b *testing.B) {
	r := benchRig(b)
	r.warmUp(b)
	n := int(*citySustain / cityInterval)
	ctx := context.Background()
	_, from := r.obs.Lags(0)
	size0 := r.city.Size()
	t0 := time.Now()
	if err := r.city.Drive(ctx, cityInterval, n); err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	behind := r.city.Size() - r.obs.Counts().Events
	r.waitVerified()
	all := time.Since(t0)
	lags, _ := r.obs.Lags(from)
	r.stop()
	if err := r.obs.Check(); err != nil {
		b.Fatal(err)
	}
	size := float64(r.city.Size() - size0)
	b.ReportMetric(size/el.Seconds(), "offered/s")
	b.ReportMetric(size/all.Seconds(), "verified/s")
	b.ReportMetric(float64(behind), "behind-at-end")
	b.ReportMetric(Quantile(lags, 0.5).Seconds(), "lag-p50-s")
	b.ReportMetric(Quantile(lags, 0.99).Seconds(), "lag-p99-s")
	b.ReportMetric(Quantile(lags, 1).Seconds(), "lag-max-s")
	b.ReportMetric(Quantile(lags[len(lags)*9/10:], 0.5).Seconds(), "lag-last-tenth-p50-s")
	b.Logf("%d devices, archive %s: %.0f events in %s of publishing, all verified after %s", *cityDevices, *cityArchive, size, el.Round(time.Millisecond), all.Round(time.Millisecond))
}

// BenchmarkCity_Backlog: the broker is down while every device appends
// -city.backlog events (signed as fast as the machine can: the outage's
// time is scaled down) and a checkpoint; then the broker is back, and
// every device drains its backlog at once into the one watcher. It
// reports the rate at which the watcher verified the backlog from the
// broker's restart, the time until the devices had published it all and
// until it was all verified, and the largest lag from signing to verdict.
func BenchmarkCity_Backlog(b *testing.B) {
	r := benchRig(b)
	r.warmUp(b)
	ctx := context.Background()
	_, from := r.obs.Lags(0)
	size0 := r.city.Size()
	r.broker.Stop()
	tSign := time.Now()
	if err := r.city.Backlog(ctx, *cityBacklog, 2); err != nil {
		b.Fatal(err)
	}
	signing := time.Since(tSign)
	r.broker.Restart()
	t0 := time.Now()
	published := make(chan time.Duration, 1)
	go func() {
		for r.city.Published() < r.city.Size() {
			time.Sleep(100 * time.Millisecond)
		}
		published <- time.Since(t0)
	}()
	r.waitVerified()
	drain := time.Since(t0)
	pub := <-published
	lags, _ := r.obs.Lags(from)
	r.stop()
	if err := r.obs.Check(); err != nil {
		b.Fatal(err)
	}
	size := float64(r.city.Size() - size0)
	b.ReportMetric(size/drain.Seconds(), "drained/s")
	b.ReportMetric(drain.Seconds(), "drain-s")
	b.ReportMetric(pub.Seconds(), "published-s")
	b.ReportMetric(Quantile(lags, 1).Seconds(), "lag-max-s")
	b.Logf("%d devices × %d events, archive %s: signed in %s; after the broker's restart all published in %s, all verified in %s (%.0f/s)",
		*cityDevices, *cityBacklog, *cityArchive, signing.Round(time.Millisecond), pub.Round(time.Millisecond), drain.Round(time.Millisecond), size/drain.Seconds())
}
