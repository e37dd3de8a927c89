package verify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// testKeyHex is the fixed secp256k1 scalar of every test and test vector
// (a well-known example key; never use it for anything real).
const testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// otherKeyHex is a second device.
const otherKeyHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func mustKey(t testing.TB, h string) *devkey.Key {
	t.Helper()
	k, err := devkey.FromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is a real event log with a checkpoint signed after every append.
type fixture struct {
	key    *devkey.Key
	dom    signer.Domain
	log    *eventlog.Log
	leaves [][]byte
	notes  map[uint64][]byte // signed checkpoint note by tree size
}

// genericEvent returns a valid event of a rotating kind.
func genericEvent(i int) event.Event {
	t0 := time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC).UnixMilli()
	payloads := []struct {
		kind    event.Kind
		payload string
	}{
		{"delivery", `{"lat":52.52,"lon":13.405,"parcel":"P%06d","proof":"scan"}`},
		{"position", `{"lat":52.5,"lon":13.4,"sats":%d}`},
		{"zone_entered", `{"zone":"depot-%d"}`},
		{"door_opened", `{"door":"rear-%d","moving":false}`},
		{"temperature_excursion", `{"celsius":%d.5,"probe":"p1","state":"start"}`},
		{"manual", `{"note":"note %d"}`},
	}
	p := payloads[i%len(payloads)]
	return event.Event{
		Time:    t0 + int64(i)*1500,
		Source:  event.SourceGNSS,
		Kind:    p.kind,
		Payload: fmt.Appendf(nil, p.payload, i%10),
	}
}

// newFixture opens a log in a temporary directory with key keyHex in dom
// and appends evs, signing a checkpoint after each.
func newFixture(t testing.TB, keyHex string, dom signer.Domain, evs []event.Event) *fixture {
	t.Helper()
	k := mustKey(t, keyHex)
	ctx := context.Background()
	l, err := eventlog.Open(ctx, t.TempDir(), &eventlog.Options{
		Create: &eventlog.Identity{Device: k.Address(), Fleet: dom.Fleet, ChainID: dom.ChainID},
		Keys:   k,
		Now:    func() time.Time { return time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{key: k, dom: dom, log: l, notes: map[uint64][]byte{}}
	for i, ev := range evs {
		s, err := l.Append(ctx, ev)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if s.Seq != uint64(i) {
			t.Fatalf("append %d got seq %d", i, s.Seq)
		}
		leaf, err := s.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		f.leaves = append(f.leaves, leaf)
		note, c, err := l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != uint64(i+1) {
			t.Fatalf("checkpoint size %d after %d appends", c.Size, i+1)
		}
		f.notes[c.Size] = note
	}
	return f
}

func genericFixture(t testing.TB, n int) *fixture {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = genericEvent(i)
	}
	return newFixture(t, testKeyHex, signer.Domain{ChainID: 1337, Fleet: "test-fleet"}, evs)
}

// proof returns the leaf of index and its inclusion proof at size.
func (f *fixture) proof(t testing.TB, index, size uint64) ([]byte, []merkle.Hash) {
	t.Helper()
	leaf, p, err := f.log.ProveInclusion(index, size)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, p
}

// bundle builds the bundle of index at size with NewBundle.
func (f *fixture) bundle(t testing.TB, index, size uint64) *Bundle {
	t.Helper()
	leaf, p := f.proof(t, index, size)
	b, err := NewBundle(leaf, f.dom, f.notes[size], p)
	if err != nil {
		t.Fatalf("NewBundle(%d, %d): %v", index, size, err)
	}
	return b
}

// vkey returns the Ed25519 note verifier of the fixture's key.
func (f *fixture) vkey(t testing.TB) checkpoint.Verifier {
	t.Helper()
	s, err := f.key.VerifierKey(KeyName(f.dom.Fleet, f.key.Address()))
	if err != nil {
		t.Fatal(err)
	}
	v, err := checkpoint.ParseVerifierKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustMarshal(t testing.TB, b *Bundle) []byte {
	t.Helper()
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
