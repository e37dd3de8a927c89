package verify

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// forkFixtures returns two logs of the same device and origin with other
// events: what a device that forks its log signs.
func forkFixtures(t *testing.T) (honest, fork *fixture) {
	t.Helper()
	dom := signer.Domain{ChainID: 1337, Fleet: "test-fleet"}
	var a, b []event.Event
	for i := range 6 {
		a = append(a, genericEvent(i))
		b = append(b, genericEvent(i+100))
	}
	return newFixture(t, testKeyHex, dom, a), newFixture(t, testKeyHex, dom, b)
}

func noteRoot(t *testing.T, note []byte) merkle.Hash {
	t.Helper()
	c, err := openUnverified(note)
	if err != nil {
		t.Fatal(err)
	}
	return c.Root
}

func frontierOf(t *testing.T, leaves [][]byte) []merkle.Hash {
	t.Helper()
	var f merkle.Frontier
	for _, l := range leaves {
		f.Append(merkle.LeafHash(l))
	}
	return f.Nodes()
}

// forkCases are fork evidence of each kind and way, and evidence that
// proves no fork.
func forkCases(t *testing.T) (proving, not map[string]*Fork) {
	h, k := forkFixtures(t)
	origin := h.log.Origin()
	vkey, err := h.key.VerifierKey(KeyName(h.dom.Fleet, h.key.Address()))
	if err != nil {
		t.Fatal(err)
	}
	base := Fork{Origin: origin, ChainID: 1337}
	with := func(fn func(f *Fork)) *Fork {
		f := base
		fn(&f)
		return &f
	}
	_, _, p25, err := h.log.ProveConsistency(2, 5)
	if err != nil {
		t.Fatal(err)
	}
	proving = map[string]*Fork{
		"events": with(func(f *Fork) { f.Kind, f.A, f.B = ForkEvents, h.leaves[3], k.leaves[3] }),
		"events-note-key": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.NoteKey = ForkEvents, h.leaves[0], k.leaves[0], vkey
		}),
		"same-size": with(func(f *Fork) { f.Kind, f.A, f.B, f.NoteKey = ForkCheckpoints, h.notes[4], k.notes[4], vkey }),
		"not-a-prefix": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.PrefixRoot, f.Proof = ForkCheckpoints, k.notes[2], h.notes[5], noteRoot(t, h.notes[2]), p25
		}),
		"does-not-extend": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.Frontier, f.Leaves = ForkCheckpoints, h.notes[2], k.notes[5], frontierOf(t, h.leaves[:2]), h.leaves[2:5]
		}),
		"empty-log": with(func(f *Fork) { f.Kind, f.B, f.Leaves = ForkCheckpoints, k.notes[3], h.leaves[:3] }),
	}
	tampered := bytes.Clone(k.notes[4])
	tampered[len(tampered)-5] ^= 1
	other := newFixture(t, otherKeyHex, h.dom, []event.Event{genericEvent(3), genericEvent(4), genericEvent(5), genericEvent(6)})
	not = map[string]*Fork{
		"same-event":     with(func(f *Fork) { f.Kind, f.A, f.B = ForkEvents, h.leaves[3], h.leaves[3] }),
		"other-seqs":     with(func(f *Fork) { f.Kind, f.A, f.B = ForkEvents, h.leaves[3], k.leaves[4] }),
		"other-device":   with(func(f *Fork) { f.Kind, f.A, f.B = ForkEvents, h.leaves[3], other.leaves[3] }),
		"wrong-chain":    with(func(f *Fork) { f.Kind, f.A, f.B, f.ChainID = ForkEvents, h.leaves[3], k.leaves[3], 1 }),
		"same-root":      with(func(f *Fork) { f.Kind, f.A, f.B = ForkCheckpoints, h.notes[4], h.notes[4] }),
		"tampered-note":  with(func(f *Fork) { f.Kind, f.A, f.B = ForkCheckpoints, h.notes[4], tampered }),
		"a-larger":       with(func(f *Fork) { f.Kind, f.A, f.B = ForkCheckpoints, k.notes[5], h.notes[4] }),
		"sizes-no-proof": with(func(f *Fork) { f.Kind, f.A, f.B = ForkCheckpoints, h.notes[2], k.notes[5] }),
		"is-a-prefix": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.PrefixRoot, f.Proof = ForkCheckpoints, h.notes[2], h.notes[5], noteRoot(t, h.notes[2]), p25
		}),
		"proof-of-another-root": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.PrefixRoot, f.Proof = ForkCheckpoints, k.notes[2], k.notes[5], noteRoot(t, h.notes[2]), p25
		}),
		"extends": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.Frontier, f.Leaves = ForkCheckpoints, h.notes[2], h.notes[5], frontierOf(t, h.leaves[:2]), h.leaves[2:5]
		}),
		"leaves-of-another-device": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.Frontier, f.Leaves = ForkCheckpoints, h.notes[2], k.notes[5], frontierOf(t, h.leaves[:2]), other.leaves[:3]
		}),
		"too-few-leaves": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.Frontier, f.Leaves = ForkCheckpoints, h.notes[2], k.notes[5], frontierOf(t, h.leaves[:2]), h.leaves[2:4]
		}),
		"frontier-not-a": with(func(f *Fork) {
			f.Kind, f.A, f.B, f.Frontier, f.Leaves = ForkCheckpoints, h.notes[2], k.notes[5], frontierOf(t, k.leaves[:2]), h.leaves[2:5]
		}),
	}
	return proving, not
}

// TestFork_Verify: evidence of every kind proves a fork, through its JSON
// form; evidence of artefacts that one history explains, or not signed by
// the device, does not.
func TestFork_Verify(t *testing.T) {
	proving, not := forkCases(t)
	for name, f := range proving {
		t.Run("Proves/"+name, func(t *testing.T) {
			b, err := f.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			g, err := ParseFork(b)
			if err != nil {
				t.Fatalf("ParseFork(Marshal): %v\n%s", err, b)
			}
			if again, _ := g.Marshal(); !bytes.Equal(again, b) {
				t.Fatalf("Marshal(ParseFork(x)) != x:\n%s\n%s", again, b)
			}
			what, err := g.Verify(Options{})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			t.Log(what)
		})
	}
	for name, f := range not {
		t.Run("DoesNotProve/"+name, func(t *testing.T) {
			b, err := f.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			g, err := ParseFork(b)
			if err != nil {
				t.Fatalf("ParseFork(Marshal): %v", err)
			}
			what, err := g.Verify(Options{})
			if err == nil {
				t.Fatalf("Verify proved a fork: %s", what)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify: %v wraps neither ErrInvalid nor ErrMalformed", err)
			}
			t.Log(err)
		})
	}
	h := proving["events"]
	other := event.Address{1}
	for _, o := range []Options{{Device: &other}, {Fleet: "other"}, {ChainID: 1}} {
		if _, err := h.Verify(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Verify(%+v) of evidence of another device, fleet or chain = %v", o, err)
		}
	}
	if vk, err := checkpoint.ParseVerifierKey(proving["events-note-key"].NoteKey); err != nil {
		t.Fatal(err)
	} else if _, err := proving["same-size"].Verify(Options{Verifiers: []checkpoint.Verifier{vk}}); err != nil {
		t.Errorf("Verify with the device's note key pinned: %v", err)
	}
}

// TestParseFork_Malformed: anything but the written form is refused,
// naming the member at fault.
func TestParseFork_Malformed(t *testing.T) {
	proving, _ := forkCases(t)
	good, err := proving["events"].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"Version", `"v":1`, `"v":2`, `"v"`},
		{"Kind", `"fork":"events"`, `"fork":"spoon"`, `"fork"`},
		{"MissingMember", `"note_key":"",`, ``, "note_key"},
		{"ExtraMember", `"v":1`, `"v":1,"x":1`, `"x"`},
		{"NotBase64", `"a":"`, `"a":"!`, `"a"`},
		{"LeavesNotArray", `"leaves":[]`, `"leaves":{}`, `"leaves"`},
		{"EventsWithLeaves", `"leaves":[]`, `"leaves":["AA=="]`, "leaves"},
		{"BadHash", `"proof":[]`, `"proof":["AA=="]`, `"proof"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(good), tc.from) {
				t.Fatalf("evidence has no %s", tc.from)
			}
			_, err := ParseFork(bytes.Replace(good, []byte(tc.from), []byte(tc.to), 1))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseFork = %v, want malformed naming %s", err, tc.want)
			}
		})
	}
}

// TestFork_Vectors: firmware-docs/testdata/fork holds evidence of each
// kind, written by this test (-update) and proving a fork.
func TestFork_Vectors(t *testing.T) {
	proving, _ := forkCases(t)
	dir := filepath.Join(testdataDir, "fork")
	for _, name := range []string{"events", "not-a-prefix", "does-not-extend"} {
		b, err := proving[name].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		path := filepath.Join(dir, name+".json")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("%s differs from the evidence the code writes (run with -update)", path)
		}
		f, err := ParseFork(bytes.TrimSuffix(got, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Verify(Options{}); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
}

// FuzzParseFork: ParseFork never panics; what it accepts it writes back
// byte for byte in the canonical form, and Verify never panics on it.
func FuzzParseFork(f *testing.F) {
	for _, name := range []string{"events", "not-a-prefix", "does-not-extend"} {
		b, err := os.ReadFile(filepath.Join(testdataDir, "fork", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSuffix(b, []byte("\n")))
	}
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseFork(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseFork error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b, err := g.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed fork: %v", err)
		}
		h, err := ParseFork(b)
		if err != nil {
			t.Fatalf("ParseFork(Marshal(ParseFork(x))): %v", err)
		}
		if again, _ := h.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("the canonical form is not stable:\n%s\n%s", b, again)
		}
		g.Verify(Options{})
	})
}
