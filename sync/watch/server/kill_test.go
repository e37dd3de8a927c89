package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// TestRun_KilledMidStream runs the real waybill-watch binary, kills it
// (SIGKILL) while it verifies a device's feed, lets the device publish
// more while it is down, and starts it again on the same archive and
// session: every event ends in the archive exactly once.
func TestRun_KilledMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds waybill-watch")
	}
	bin := filepath.Join(t.TempDir(), "waybill-watch")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/waybill-eu/waybill/sync/watch/cmd/waybill-watch").CombinedOutput(); err != nil {
		t.Fatalf("go build waybill-watch: %v\n%s", err, out)
	}
	b := mosquitto.Start(t, nil)
	van := key(t, eventlogtest.KeyHex)
	c := writeConfig(t, b.URL(), van)
	// A fixed port, so that the restarted process serves where the first did.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data, err := os.ReadFile(c.File)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.File, []byte(strings.Replace(string(data), "127.0.0.1:0", addr, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &running{base: "http://" + addr}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", c.File)
		logs := new(bytes.Buffer)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("waybill-watch (pid %d) logged:\n%s", cmd.Process.Pid, logs)
			}
		})
		return cmd
	}
	up := func() bool {
		resp, err := http.Get(srv.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	checkpointed := func(want float64) func() bool {
		return func() bool {
			v, _ := srv.metric(t, `waybill_watch_events{state="checkpointed"}`)
			return v == want
		}
	}

	var lastMetrics string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the first watcher's last /metrics:\n%s", lastMetrics)
		}
	})
	cmd := start()
	waitFor(t, "the watcher up", up)
	a := newAgent(t, van, 0)
	a.publish(t, b.URL())
	a.append(t, 0, 150)
	waitFor(t, "a first event verified", func() bool {
		v, _ := srv.metric(t, `waybill_watch_verdicts_total{channel="events",reason="",state="verified"}`)
		if v == 0 {
			_, lastMetrics = srv.get(t, "/metrics")
		}
		return v > 0
	})
	v, _ := srv.metric(t, `waybill_watch_verdicts_total{channel="events",reason="",state="verified"}`)
	t.Logf("killed with %v of the first 150 events verified", v)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	a.append(t, 150, 300) // published while the watcher is down

	cmd = start()
	waitFor(t, "the watcher up again", up)
	waitFor(t, "all 300 events checkpointed after the restart", checkpointed(300))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("waybill-watch run after SIGTERM: %v", err)
	}

	// Each event once: the archive counts an event when it first stores
	// it, and holds every sequence number.
	arc, err := watch.OpenBolt(c.Archive.Bolt)
	if err != nil {
		t.Fatal(err)
	}
	defer arc.Close()
	ctx := context.Background()
	p, err := arc.Progress(ctx, van.Address(), 0)
	if err != nil || p.Events != 300 || p.Checkpointed != 300 {
		t.Errorf("progress %+v (%v), want 300 events, checkpointed 300", p, err)
	}
	next := uint64(0)
	err = arc.Leaves(ctx, van.Address(), 0, 0, func(seq uint64, leaf []byte) bool {
		if seq != next {
			t.Errorf("the archive holds event %d after %d", seq, next-1)
		}
		want, _ := a.log.Leaf(seq)
		if string(leaf) != string(want) {
			t.Errorf("archived event %d is not the one the device logged", seq)
		}
		next = seq + 1
		return true
	})
	if err != nil || next != 300 {
		t.Errorf("the archive holds events up to %d (%v), want 300", next, err)
	}
}
