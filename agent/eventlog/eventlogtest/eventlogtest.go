// Package eventlogtest writes real event logs for the tests of the packages
// that read a log's files (agent/eventlog/logcheck, agent/eventlog/salvage):
// a fixed device key, its identity and numbered test events.
package eventlogtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

// KeyHex is the test device's secp256k1 key.
const KeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// Key returns the test device's key.
func Key(t testing.TB) *devkey.Key {
	t.Helper()
	k, err := devkey.FromHex(KeyHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Identity returns the identity of a test log of the device of key k.
func Identity(k *devkey.Key) *eventlog.Identity {
	return &eventlog.Identity{Device: k.Address(), Fleet: "test-fleet", ChainID: 1337}
}

// Open opens or creates the log in dir with the test key; o may be nil.
func Open(t testing.TB, dir string, o *eventlog.Options) *eventlog.Log {
	t.Helper()
	k := Key(t)
	if o == nil {
		o = &eventlog.Options{}
	}
	if o.Keys == nil {
		o.Keys = k
	}
	if o.Create == nil {
		o.Create = Identity(k)
	}
	l, err := eventlog.Open(context.Background(), dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// Event returns test event i: a delivery whose payload names parcel
// P<i, six digits>.
func Event(i int) event.Event {
	return event.Event{
		Time:    time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*1000,
		Source:  event.SourceGNSS,
		Kind:    "delivery",
		Payload: []byte(fmt.Sprintf(`{"lat":52.52,"lon":13.405,"parcel":"P%06d"}`, i)),
	}
}

// AppendBatch enqueues Event(lo) … Event(hi-1) on l, so that they share
// commits, waits for them and returns their leaves.
func AppendBatch(t testing.TB, l *eventlog.Log, lo, hi int) [][]byte {
	t.Helper()
	var ps []*eventlog.Pending
	for i := lo; i < hi; i++ {
		p, err := l.Enqueue(context.Background(), Event(i))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	leaves := make([][]byte, 0, hi-lo)
	for _, p := range ps {
		s, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := s.Leaf()
		leaves = append(leaves, leaf)
	}
	return leaves
}

// WriteManifest replaces the manifest of the log in dir by m, as a damaged
// or hand-edited manifest would be.
func WriteManifest(t testing.TB, dir string, m *eventlog.Manifest) {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, eventlog.ManifestFile), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Build writes a closed log of n events in dir, one commit each, sealing
// segments at segBytes and signing a checkpoint after each size in cps, and
// returns the leaves.
func Build(t testing.TB, dir string, n int, segBytes int64, cps ...int) [][]byte {
	t.Helper()
	l := Open(t, dir, &eventlog.Options{SegmentBytes: segBytes})
	var leaves [][]byte
	for i := 0; i < n; i++ {
		if _, err := l.Append(context.Background(), Event(i)); err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			if c == i+1 {
				if _, _, err := l.Checkpoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i := 0; i < n; i++ {
		leaf, err := l.Leaf(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return leaves
}
