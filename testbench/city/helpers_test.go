package city

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/pgarchive"
	"github.com/waybill-eu/waybill/sync/watch/subscribe"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
	"github.com/waybill-eu/waybill/testbench/postgres"
)

// waitLimit bounds every wait for a condition: far beyond what a loaded
// machine needs, so that only a stuck city fails.
const waitLimit = 10 * time.Minute

// rig is a city publishing through a real Mosquitto into one watcher.
type rig struct {
	t      testing.TB
	broker *mosquitto.Broker
	city   *City
	arc    watch.Archive
	w      *watch.Watcher
	obs    *Observer
	sub    *subscribe.Subscriber

	cancelCity, cancelSub context.CancelFunc
	cityDone, subDone     chan error
}

// newRig starts a broker, makes a city of n devices and a watcher of them
// on a bbolt archive, or on PostgreSQL when postgresArchive is set, and
// starts the publishers and the subscriber.
func newRig(t testing.TB, n int, postgres bool) *rig {
	t.Helper()
	return newRigOn(t, n, t.TempDir(), func() watch.Archive {
		if postgres {
			return postgresArchive(t)
		}
		return boltArchive(t, t.TempDir())
	})
}

// postgresArchive starts a PostgreSQL server and opens an archive in a new
// database of it.
func postgresArchive(t testing.TB) watch.Archive {
	s := postgres.Start(t)
	a, err := pgarchive.Open(context.Background(), s.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// boltArchive opens a bbolt archive in dir.
func boltArchive(t testing.TB, dir string) watch.Archive {
	a, err := watch.OpenBolt(filepath.Join(dir, "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// newRigOn is newRig with the devices' cursors in dir and the archive
// archive returns.
func newRigOn(t testing.TB, n int, dir string, archive func() watch.Archive) *rig {
	t.Helper()
	r := &rig{t: t, broker: mosquitto.Start(t, &mosquitto.Config{Extra: []string{"max_inflight_messages 0"}})}
	c, err := New(Config{Devices: n, Broker: r.broker.URL(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r.city = c
	r.arc = archive()
	trust, err := c.Trust()
	if err != nil {
		t.Fatal(err)
	}
	if r.w, err = watch.New(trust, r.arc); err != nil {
		t.Fatal(err)
	}
	r.obs = NewObserver(c, r.w)
	r.sub, err = subscribe.New(subscribe.Config{Brokers: []subscribe.Broker{{
		URL: r.broker.URL(), ClientID: "city-watcher", Filters: []string{subscribe.FleetFilter(Fleet)},
		BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
	}}}, r.obs.Handle, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.cityDone, r.subDone = make(chan error, 1), make(chan error, 1)
	var ctx context.Context
	ctx, r.cancelCity = context.WithCancel(context.Background())
	go func() { r.cityDone <- c.Run(ctx) }()
	ctx, r.cancelSub = context.WithCancel(context.Background())
	go func() { r.subDone <- r.sub.Run(ctx) }()
	t.Cleanup(r.stop)
	// The broker keeps messages for the watcher's session only from its
	// subscription on: the devices publish once the watcher subscribed.
	deadline := time.Now().Add(waitLimit)
	for st := r.sub.Status(); !st[0].Subscribed; st = r.sub.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not subscribe within %v: %+v", waitLimit, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// stop stops the publishers and the subscriber and fails the test on an
// error of theirs.
func (r *rig) stop() {
	if r.cancelCity == nil {
		return
	}
	r.cancelCity()
	r.cancelSub()
	r.cancelCity = nil
	for _, ch := range []chan error{r.cityDone, r.subDone} {
		if err := <-ch; err != nil && !errors.Is(err, context.Canceled) {
			r.t.Error(err)
		}
	}
}

// waitVerified waits until every event the devices signed was verified.
func (r *rig) waitVerified() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := r.obs.Wait(ctx, r.city.Size()); err != nil {
		r.t.Fatalf("%v (published %d; subscriber %+v)", err, r.city.Published(), r.sub.Status())
	}
}

// waitCheckpointed waits until the watcher verified, for every device, a
// checkpoint of all its events.
func (r *rig) waitCheckpointed() {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for _, d := range r.city.Devices {
		for {
			p, err := r.w.Progress(context.Background(), d.Address(), 0)
			if err != nil {
				r.t.Fatal(err)
			}
			if p.Checkpointed == d.Size() {
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("device %s: checkpointed %d of %d events", d.Address(), p.Checkpointed, d.Size())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// checkArchive checks that the archive holds exactly the leaves every
// device signed.
func (r *rig) checkArchive() error {
	for _, d := range r.city.Devices {
		var n uint64
		var bad error
		err := r.arc.Leaves(context.Background(), d.Address(), 0, 0, func(seq uint64, leaf []byte) bool {
			if seq != n || string(leaf) != string(d.Leaf(seq)) {
				bad = fmt.Errorf("device %s: archive holds event %d (want %d) with other bytes than signed", d.Address(), seq, n)
				return false
			}
			n++
			return true
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
		if n != d.Size() {
			return fmt.Errorf("device %s: archive holds %d events, the device signed %d", d.Address(), n, d.Size())
		}
	}
	return nil
}
