package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// failing is a real bbolt archive whose event writes fail while fail is
// set, as a full disk or a lost database would make them.
type failing struct {
	*watch.Bolt
	fail atomic.Bool
}

var errArchiveDown = errors.New("the archive's disk is full")

func (f *failing) PutEvent(ctx context.Context, k watch.Key, leaf []byte) ([]byte, error) {
	if f.fail.Load() {
		return nil, errArchiveDown
	}
	return f.Bolt.PutEvent(ctx, k, leaf)
}

// TestServer_ArchiveFails: while the archive fails, nothing is concluded,
// /healthz is 503 naming the archive and the messages stay the broker's;
// once it works again the broker delivers them again and every event is
// verified: none that the device published is lost.
func TestServer_ArchiveFails(t *testing.T) {
	b := mosquitto.Start(t, nil)
	van := key(t, eventlogtest.KeyHex)
	c := writeConfig(t, b.URL(), van)
	bolt, err := watch.OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	arc := &failing{Bolt: bolt}
	arc.fail.Store(true)
	s, err := New(context.Background(), Options{Config: c, Archive: arc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := &running{Server: s, base: "http://" + s.Addr().String()}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	}()

	a := newAgent(t, van, 20)
	a.publish(t, b.URL())
	waitFor(t, "/healthz 503 naming the archive", func() bool {
		code, body := srv.get(t, "/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "archive: the last write failed") && strings.Contains(body, errArchiveDown.Error())
	})
	if v, _ := srv.metric(t, "waybill_watch_archive_errors_total"); v < 1 {
		t.Errorf("archive_errors_total = %v, want at least 1", v)
	}
	if v, _ := srv.metric(t, `waybill_watch_events{state="verified"}`); v != 0 {
		t.Errorf("%v events verified while the archive fails", v)
	}
	arc.fail.Store(false)
	waitFor(t, "the 20 events checkpointed once the archive works", func() bool {
		v, _ := srv.metric(t, `waybill_watch_events{state="checkpointed"}`)
		return v == 20
	})
	waitFor(t, "/healthz 200", func() bool {
		code, _ := srv.get(t, "/healthz")
		return code == http.StatusOK
	})
	n := 0
	if err := bolt.Leaves(context.Background(), van.Address(), 0, 0, func(uint64, []byte) bool { n++; return true }); err != nil || n != 20 {
		t.Errorf("the archive holds %d events (%v), want 20", n, err)
	}
}
