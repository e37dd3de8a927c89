package watchbench

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/waybill-eu/waybill/sync/watch"
)

// TestRun runs the whole measurement at its smallest and checks what it
// returns is complete and consistent; it asserts no speed.
func TestRun(t *testing.T) {
	var rounds []Round
	res, err := Run(context.Background(), Options{Round: MinRound, Devices: MinDevices, Dir: t.TempDir(), MemDir: t.TempDir(),
		OnRound: func(r Round) { rounds = append(rounds, r) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if len(rounds) != Rounds {
		t.Fatalf("%d rounds reported, want %d", len(rounds), Rounds)
	}
	for _, r := range rounds {
		if r.RecoversPerSec <= 0 || r.VerifiedPerSec <= 0 {
			t.Errorf("round %d: %+v: a rate is not positive", r.N, r)
		}
	}
	if res.RecoversPerSec <= 0 || res.VerifiedPerSec <= 0 || res.DurablePerSec <= 0 || res.Ratio <= 0 || res.HeapMiBPer1000Devices <= 0 {
		t.Errorf("result %+v: a figure is not positive", res)
	}
	if res.Devices != MinDevices || res.Cgo != cgo {
		t.Errorf("result %+v: devices or cgo not what was run", res)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"recovers_per_sec", "verified_per_sec", "ratio", "durable_per_sec", "heap_mib_per_1000_devices", "devices", "cgo"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s has no member %q", b, k)
		}
	}
}

// TestOptions checks that Run refuses what it cannot measure.
func TestOptions(t *testing.T) {
	for _, o := range []Options{{Round: MinRound / 2, Devices: MinDevices}, {Round: MinRound, Devices: MinDevices - 1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
}

// TestHarness_EveryEventOnce checks that the events the rate rounds hand
// to the watcher are each verified once and archived as signed: after a
// round the archive holds, for every device, exactly the events it signed.
func TestHarness_EveryEventOnce(t *testing.T) {
	ctx := context.Background()
	h, err := newHarness(ctx, t.TempDir()+"/archive.db", 20)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if _, err := h.rate(ctx, MinRound); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.srcs {
		var n uint64
		err := h.arc.Leaves(ctx, s.key.Address(), 0, 0, func(seq uint64, _ []byte) bool {
			if seq != n {
				t.Errorf("device %s: archive holds event %d where %d was expected", s.key.Address(), seq, n)
			}
			n++
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != s.seq {
			t.Errorf("device %s: archive holds %d events, the device signed %d", s.key.Address(), n, s.seq)
		}
		p, err := h.w.Progress(ctx, s.key.Address(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Events != s.seq {
			t.Errorf("device %s: progress %+v, want %d events", s.key.Address(), p, s.seq)
		}
	}
	// A redelivery is a duplicate, not a second verification.
	v, err := h.w.Handle(ctx, h.tops[0], h.msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !v.Duplicate || v.State != watch.StateVerified {
		t.Errorf("redelivered event: %+v, want a verified duplicate", v)
	}
}
