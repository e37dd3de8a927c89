package registry_test

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

var (
	randomSeed   = flag.Uint64("random.seed", 0, "seed of TestVerifyEvent_Random (0: from the clock)")
	randomTrials = flag.Int("random.n", 1000, "trials of TestVerifyEvent_Random")
)

// TestVerifyEvent_Random tampers with a real event and its proof in random
// ways, one to three changes at a time, and checks that verifyEvent returns
// false and never reverts. It prints its seed; -random.seed replays a run.
func TestVerifyEvent_Random(t *testing.T) {
	seed := *randomSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -random.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>32))

	ch := newChain(t)
	d := newDeviceLog(t, testKey(t))
	d.grow(700, "")
	ch.mustAnchor(d.checkpoint())
	const size = 700
	real, realProof := d.prove(422, size)
	if ok, err := ch.verifyEvent(testFleet, real, size, realProof); err != nil || !ok {
		t.Fatalf("verifyEvent of the real event = %v, %v", ok, err)
	}

	flip := func(b []byte) {
		if len(b) > 0 {
			b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		}
	}
	cut := func(n int) int { return rng.IntN(n + 1) } // a length below or equal to n
	delta := func() uint64 { return 1 + uint64(rng.IntN(1<<20)) }
	mutations := []func(ev *registry.WaybillRegistrySignedEvent, size *uint64, proof *[][32]byte){
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) { flip(ev.Payload) },
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) { flip(ev.Sig) },
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) { flip(ev.Device[:]) },
		func(_ *registry.WaybillRegistrySignedEvent, _ *uint64, p *[][32]byte) {
			if len(*p) > 0 {
				flip((*p)[rng.IntN(len(*p))][:])
			}
		},
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) { ev.Seq ^= delta() },
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) { ev.Time ^= delta() },
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) { ev.Epoch ^= uint32(delta()) },
		func(_ *registry.WaybillRegistrySignedEvent, s *uint64, _ *[][32]byte) { *s ^= delta() },
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) {
			ev.Payload = append(ev.Payload, byte(rng.IntN(256)))
		},
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) {
			ev.Sig = ev.Sig[:cut(len(ev.Sig))]
		},
		func(_ *registry.WaybillRegistrySignedEvent, _ *uint64, p *[][32]byte) { *p = (*p)[:cut(len(*p))] },
		func(_ *registry.WaybillRegistrySignedEvent, _ *uint64, p *[][32]byte) {
			var h [32]byte
			for i := range h {
				h[i] = byte(rng.IntN(256))
			}
			*p = append(*p, h)
		},
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) {
			ev.Kind = []string{"position", "door_opened", "door_closed", "delivery", "manual", "x_", "Delivery", ""}[rng.IntN(8)] + ev.Kind[:cut(len(ev.Kind))]
		},
		func(ev *registry.WaybillRegistrySignedEvent, _ *uint64, _ *[][32]byte) {
			ev.TimeSource = []string{"ntp", "rtc", "unsynced", "", "gnss "}[rng.IntN(5)]
		},
	}
	for trial := range *randomTrials {
		ev := real
		ev.Payload, ev.Sig = bytes.Clone(real.Payload), bytes.Clone(real.Sig)
		proof := append([][32]byte(nil), realProof...)
		sz := uint64(size)
		for range 1 + rng.IntN(3) {
			mutations[rng.IntN(len(mutations))](&ev, &sz, &proof)
		}
		ok, err := ch.verifyEvent(testFleet, ev, sz, proof)
		if err != nil {
			t.Fatalf("trial %d: verifyEvent reverted or failed: %v", trial, err)
		}
		unchanged := ev.Device == real.Device && ev.Epoch == real.Epoch && ev.Seq == real.Seq && ev.Time == real.Time &&
			ev.TimeSource == real.TimeSource && ev.Kind == real.Kind && bytes.Equal(ev.Payload, real.Payload) &&
			bytes.Equal(ev.Sig, real.Sig) && sz == size && len(proof) == len(realProof) &&
			func() bool {
				for i := range proof {
					if proof[i] != realProof[i] {
						return false
					}
				}
				return true
			}()
		if ok != unchanged {
			t.Fatalf("trial %d: verifyEvent = %v for %+v size %d proof %x (unchanged %v)", trial, ok, ev, sz, proof, unchanged)
		}
	}
}
