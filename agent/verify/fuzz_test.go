package verify

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// The fuzz targets minimize every new input by default for up to a minute,
// which at about 0.5 ms an execution leaves little time to fuzz; run them as
//
//	go test ./agent/verify -run '^$' -fuzz '^FuzzParseBundle$' -fuzztime 10s -fuzzminimizetime 200x

func FuzzParseBundle(f *testing.F) {
	fx := genericFixture(f, 5)
	for _, c := range []struct{ index, size uint64 }{{0, 1}, {2, 5}, {4, 5}} {
		f.Add(mustMarshal(f, fx.bundle(f, c.index, c.size)))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"checkpoint":{"note":"","origin":"","root":"","size":0},"domain":{"chain_id":0,"fleet":""},"event":{},"inclusion":[],"index":0,"leaf":"","signature":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		_ = b.Verify(Options{}) // must not panic
		_ = b.TlogProof()
		out, err := b.Marshal()
		if err != nil {
			t.Fatalf("accepted bundle does not marshal: %v", err)
		}
		b2, err := ParseBundle(out)
		if err != nil {
			t.Fatalf("re-marshalled bundle does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("round trip changed the bundle:\n%+v\n%+v", b, b2)
		}
		out2, _ := b2.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatal("Marshal is not stable")
		}
	})
}

func FuzzParseConsistency(f *testing.F) {
	fx := genericFixture(f, 7)
	for _, c := range []struct{ m, n uint64 }{{1, 1}, {3, 7}, {4, 7}} {
		data, err := fx.consistency(f, c.m, c.n).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"consistency":[],"new_root":"","new_size":1,"old_root":"","old_size":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConsistency(data)
		if err != nil {
			return
		}
		_ = c.Verify()
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("accepted proof does not marshal: %v", err)
		}
		c2, err := ParseConsistency(out)
		if err != nil {
			t.Fatalf("re-marshalled proof does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the proof:\n%+v\n%+v", c, c2)
		}
	})
}

func FuzzParseTlogProof(f *testing.F) {
	fx := genericFixture(f, 4)
	f.Add([]byte(fx.bundle(f, 1, 4).TlogProof()))
	f.Add([]byte(fx.bundle(f, 0, 1).TlogProof()))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseTlogProof(data)
		if err != nil {
			return
		}
		if out := p.Marshal(); !bytes.Equal(out, data) {
			t.Fatalf("accepted tlog-proof does not re-marshal to its input:\n%q\n%q", data, out)
		}
		if b, err := p.Bundle(fx.dom); err == nil {
			_ = b.Verify(Options{})
		}
	})
}

func FuzzVerifyNote(f *testing.F) {
	fx := genericFixture(f, 3)
	for _, n := range fx.notes {
		f.Add(n)
	}
	f.Add([]byte("waybill/a/0x0000000000000000000000000000000000000000/0\n1\nAAAA\n\n— x AAAAAAA=\n"))
	o := Options{ChainID: fx.dom.ChainID}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := VerifyNote(data, o)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrInvalid", err)
			}
			return
		}
		// Only the device signs: an accepted note's text is one it signed.
		genuine, ok := fx.notes[n.Checkpoint.Size]
		text := func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("\n\n"))+1] }
		if !ok || !bytes.Equal(text(data), text(genuine)) {
			t.Fatalf("accepted a note the device did not sign: %q", data)
		}
	})
}
