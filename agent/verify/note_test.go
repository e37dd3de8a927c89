package verify

import (
	"errors"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
)

func TestVerifyNote(t *testing.T) {
	f := genericFixture(t, 3)
	note := string(f.notes[3])
	dev := f.key.Address()
	other := event.Address{1}
	vk := f.vkey(t)
	chain := f.dom.ChainID
	tests := []struct {
		name string
		note string
		o    Options
		want string // "" when accepted
		kind error
	}{
		{"secp256k1 line", note, Options{ChainID: chain}, "", nil},
		{"Ed25519 line only", note, Options{Verifiers: []checkpoint.Verifier{vk}}, "", nil},
		{"both, pinned", note, Options{ChainID: chain, Fleet: f.dom.Fleet, Device: &dev, Verifiers: []checkpoint.Verifier{vk}}, "", nil},
		{"nothing to check with", note, Options{}, "nothing to check it with", ErrInvalid},
		{"another chain", note, Options{ChainID: 1}, "invalid signature", ErrInvalid},
		{"another fleet pinned", note, Options{ChainID: chain, Fleet: "other"}, `of fleet "test-fleet", not "other"`, ErrInvalid},
		{"another device pinned", note, Options{ChainID: chain, Device: &other}, "is of device", ErrInvalid},
		{"size changed", strings.Replace(note, "\n3\n", "\n4\n", 1), Options{ChainID: chain}, "invalid signature", ErrInvalid},
		{"secp256k1 line removed", note[:strings.LastIndex(note[:len(note)-1], "\n")+1], Options{ChainID: chain}, "no signature by a known key", ErrInvalid},
		{"not a note", "hello\n", Options{ChainID: chain}, "checkpoint note", ErrMalformed},
		{"origin not Waybill's", strings.Replace(note, "waybill/test-fleet/", "other/test-fleet/", 1), Options{ChainID: chain}, ": not waybill/<fleet>/<device>/<epoch>", ErrMalformed},
		{"DEL in the text", strings.Replace(note, "\n3\n", "\n3\x7f\n", 1), Options{ChainID: chain}, "control character 0x7f", ErrMalformed},
	}
	for _, tt := range tests {
		n, err := VerifyNote([]byte(tt.note), tt.o)
		if tt.want == "" {
			if err != nil || n.Checkpoint.Size != 3 || n.Device != dev || n.Fleet != f.dom.Fleet || n.Epoch != 0 {
				t.Errorf("%s: %+v, %v", tt.name, n, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.kind) {
			t.Errorf("%s: got %v, want %v mentioning %q", tt.name, err, tt.kind, tt.want)
		}
	}
}

func TestConsistency_VerifyBetween(t *testing.T) {
	f := genericFixture(t, 8)
	o := Options{ChainID: f.dom.ChainID}
	c := f.consistency(t, 2, 5)
	if err := c.VerifyBetween(f.notes[2], f.notes[5], o); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	for _, n := range []uint64{6, 7, 8} {
		m := *c
		m.NewSize = n
		if err := m.Verify(); err != nil {
			t.Fatalf("the 2->5 proof relabelled 2->%d does not check alone (%v): the premise of pairing by size is gone", n, err)
		}
		for _, pair := range [][2]uint64{{2, n}, {2, 5}} {
			err := m.VerifyBetween(f.notes[pair[0]], f.notes[pair[1]], o)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "the proof ends at size") {
				t.Errorf("2->5 proof as 2->%d with checkpoints %v: %v", n, pair, err)
			}
		}
	}
	if err := c.VerifyBetween(f.notes[5], f.notes[2], o); err == nil {
		t.Error("checkpoints swapped: accepted")
	}
	if err := c.VerifyBetween(f.notes[2], []byte("junk\n"), o); err == nil || !strings.HasPrefix(err.Error(), "new checkpoint: ") {
		t.Errorf("junk new checkpoint: %v", err)
	}
}
