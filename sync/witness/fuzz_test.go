package witness

import (
	"bytes"
	"strings"
	"testing"

	tdnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// FuzzCheck feeds arbitrary notes to the parser behind Check, Cosign and
// VerifyCosignature. None may panic; they must agree on which notes they
// can read; a note that meets the policy must open with the stock
// verifiers too; and a cosigned note must verify.
func FuzzCheck(f *testing.F) {
	w1, w2 := testKey(f), otherKey(f, "w2.example/x")
	dev := deviceNote(f)
	for _, seed := range [][]byte{
		dev,
		readFile(f, "testdata/cosigned.note"),
		mustCosign(f, w2, mustCosign(f, w1, dev, testTime), testTime),
		mustCosign(f, w1, logCheckpoint(f, 0), testTime),
		append(bytes.Clone(dev), lastLine(dev)...),
		bytes.Replace(readFile(f, "testdata/cosigned.note"), []byte("fFrfcQAAAABp"), []byte("fFrfcQAAAABq"), 1),
		[]byte("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 w AAAAAAA=\n"),
		[]byte("\n\n"),
	} {
		f.Add(seed)
	}
	p, err := NewPolicy(deviceVKey(f), []string{w1.VerifierKey(), w2.VerifierKey()}, 1)
	if err != nil {
		f.Fatal(err)
	}
	devStock, err := note.NewVerifier(deviceVKey(f))
	if err != nil {
		f.Fatal(err)
	}
	var stock []note.Verifier
	for _, k := range []*Key{w1, w2} {
		v, err := tdnote.NewVerifierForCosignatureV1(k.VerifierKey())
		if err != nil {
			f.Fatal(err)
		}
		stock = append(stock, v)
	}
	stockList := note.VerifierList(append([]note.Verifier{devStock}, stock...)...)

	f.Fuzz(func(t *testing.T, msg []byte) {
		v, checkErr := p.Check(msg)
		_, verifyErr := w1.Verifier().VerifyNote(msg)
		cosigned, cosignErr := w1.Cosign(msg, testTime)
		if checkErr != nil {
			if verifyErr == nil || cosignErr == nil {
				t.Fatalf("Check refused the note (%v) but VerifyNote (%v) or Cosign (%v) read it", checkErr, verifyErr, cosignErr)
			}
			return
		}
		for _, l := range v.Lines {
			if l.Role == Other && l.Valid {
				t.Fatalf("a line by an unknown key is marked valid: %+v", l)
			}
		}
		if v.Err() == nil {
			n, err := note.Open(msg, stockList)
			if err != nil {
				t.Fatalf("Check accepted the note, stock note.Open refused it: %v", err)
			}
			if n.Text != string(noteText(msg)) {
				t.Fatalf("stock text %q, ours %q", n.Text, noteText(msg))
			}
		}
		if cosignErr != nil {
			return
		}
		if !bytes.HasPrefix(cosigned, msg) {
			t.Fatal("Cosign changed the note")
		}
		if got, err := w1.Verifier().VerifyNote(cosigned); err != nil || !got.Equal(testTime) {
			t.Fatalf("VerifyNote(Cosign(note)) = %v, %v", got, err)
		}
		if _, err := w1.Cosign(cosigned, testTime); err == nil {
			t.Fatal("Cosign cosigned a note twice with one key")
		}
	})
}

// FuzzParseKey: a key text is accepted only in its one canonical form.
func FuzzParseKey(f *testing.F) {
	k := testKey(f)
	for _, s := range []string{k.PrivateKey(), k.VerifierKey(), deviceVKey(f), "PRIVATE+KEY+a+00000000+BA==", "a+b+c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParsePrivateKey(s); err == nil {
			if k.PrivateKey() != s {
				t.Fatalf("ParsePrivateKey(%q) formats back to %q", s, k.PrivateKey())
			}
		} else if strings.HasPrefix(s, "PRIVATE+KEY+") && len(s) > 60 && strings.Contains(err.Error(), s[len(s)-40:]) {
			t.Fatalf("error %q quotes the private key", err)
		}
		if v, err := ParseVerifierKey(s); err == nil && v.String() != s {
			t.Fatalf("ParseVerifierKey(%q) formats back to %q", s, v.String())
		}
	})
}
