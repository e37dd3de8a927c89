package verify

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/signer"
)

func TestTlogProof_RoundTrip(t *testing.T) {
	f := genericFixture(t, 6)
	for _, c := range []struct{ index, size uint64 }{{0, 1}, {3, 6}, {5, 6}} {
		b := f.bundle(t, c.index, c.size)
		text := b.TlogProof()
		if !strings.HasPrefix(text, TlogProofHeader+"\nextra ") || !strings.Contains(text, "\n\n"+b.Checkpoint.Note) || !strings.HasSuffix(text, b.Checkpoint.Note) {
			t.Fatalf("unexpected form:\n%s", text)
		}
		p, err := ParseTlogProof([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.Marshal()); got != text {
			t.Fatalf("Marshal:\n%s\nwant\n%s", got, text)
		}
		b2, err := p.Bundle(f.dom)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("bundle from tlog-proof differs:\n%+v\n%+v", b, b2)
		}
		if err := b2.Verify(Options{Verifiers: []checkpoint.Verifier{f.vkey(t)}}); err != nil {
			t.Fatal(err)
		}
		bad, _ := p.Bundle(signer.Domain{ChainID: 1, Fleet: f.dom.Fleet})
		if bad.Verify(Options{}) == nil {
			t.Fatal("tlog-proof verified under another chain ID")
		}
		// Byte tamper: every change fails parsing or verification.
		data := []byte(text)
		for i := range data {
			for _, v := range tamperVariants(data[i]) {
				mut := bytes.Clone(data)
				mut[i] = v
				p, err := ParseTlogProof(mut)
				if err != nil {
					continue
				}
				tb, err := p.Bundle(f.dom)
				if err == nil {
					err = tb.Verify(Options{Verifiers: []checkpoint.Verifier{f.vkey(t)}})
				}
				if err == nil {
					t.Fatalf("byte %d (%q -> %q) changed and the proof still verifies:\n%s", i, data[i], v, mut)
				}
			}
		}
	}
}

func TestParseTlogProof_Strict(t *testing.T) {
	f := genericFixture(t, 3)
	text := f.bundle(t, 1, 3).TlogProof()
	for name, in := range map[string]string{
		"bad header":      strings.Replace(text, "@v1", "@v2", 1),
		"leading zero":    strings.Replace(text, "index 1\n", "index 01\n", 1),
		"no index":        strings.Replace(text, "index 1\n", "", 1),
		"empty extra":     strings.Replace(text, text[strings.Index(text, "extra "):strings.Index(text, "\nindex")], "extra ", 1),
		"no blank line":   strings.Replace(text, "\n\n", "\n", 1),
		"bad hash":        strings.Replace(text, "index 1\n", "index 1\nAAAA\n", 1),
		"no note":         text[:strings.Index(text, "\n\n")+2],
		"CRLF":            strings.ReplaceAll(text, "\n", "\r\n"),
		"no trailing \\n": strings.TrimSuffix(text, "\n"),
	} {
		if _, err := ParseTlogProof([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Without extra data the form is valid but carries no leaf.
	noExtra := strings.Replace(text, text[strings.Index(text, "extra "):strings.Index(text, "index")], "", 1)
	p, err := ParseTlogProof([]byte(noExtra))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Marshal()) != noExtra {
		t.Fatal("round trip without extra")
	}
	if _, err := p.Bundle(f.dom); err == nil {
		t.Fatal("bundle without a leaf")
	}
}
