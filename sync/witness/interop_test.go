package witness

// Interoperability with stock implementations of c2sp.org/signed-note and
// c2sp.org/tlog-cosignature: golang.org/x/mod/sumdb/note for the device's
// signature line and github.com/transparency-dev/formats/note for the
// cosignature. They are imported by tests only.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	tdnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// stockVerifiers returns the stock verifiers of the demo device's Ed25519
// key and of the test witness key.
func stockVerifiers(t *testing.T) (device, wit note.Verifier) {
	t.Helper()
	device, err := note.NewVerifier(deviceVKey(t))
	if err != nil {
		t.Fatalf("x/mod note.NewVerifier(device key): %v", err)
	}
	wit, err = tdnote.NewVerifierForCosignatureV1(testKey(t).VerifierKey())
	if err != nil {
		t.Fatalf("formats note.NewVerifierForCosignatureV1(%s): %v", testKey(t).VerifierKey(), err)
	}
	return device, wit
}

// TestInterop_StockOpensVector opens the cosigned vector with the stock
// verifiers: both the device's Ed25519 line and the cosignature verify,
// and the stock reading of the cosignature's time is the vector's.
func TestInterop_StockOpensVector(t *testing.T) {
	device, wit := stockVerifiers(t)
	k := testKey(t)
	if wit.Name() != k.Name() || wit.KeyHash() != k.KeyID() {
		t.Fatalf("stock verifier is %s+%08x, ours %s+%08x", wit.Name(), wit.KeyHash(), k.Name(), k.KeyID())
	}
	cosigned := readFile(t, "testdata/cosigned.note")
	n, err := note.Open(cosigned, note.VerifierList(device, wit))
	if err != nil {
		t.Fatalf("x/mod note.Open(cosigned vector): %v", err)
	}
	if n.Text != string(noteText(deviceNote(t))) {
		t.Fatalf("stock note text %q, want the device's", n.Text)
	}
	if len(n.Sigs) != 2 || n.Sigs[0].Name != device.Name() || n.Sigs[1].Name != k.Name() {
		t.Fatalf("stock verified signatures %+v, want the device's then the witness's", n.Sigs)
	}
	if len(n.UnverifiedSigs) != 1 {
		t.Fatalf("stock unverified signatures %+v, want one (the device's secp256k1 line)", n.UnverifiedSigs)
	}
	ts, err := tdnote.CoSigV1Timestamp(n.Sigs[1])
	if err != nil || !ts.Equal(testTime) {
		t.Fatalf("stock cosignature time = %v, %v; want %v", ts, err, testTime)
	}

	// The device's line alone, with x/mod only: the witness line is
	// ignored as unknown.
	if _, err := note.Open(cosigned, note.VerifierList(device)); err != nil {
		t.Fatalf("x/mod note.Open with the device key only: %v", err)
	}
}

// TestInterop_StockRejectsAltered: what our verifier refuses, the stock one
// refuses too.
func TestInterop_StockRejectsAltered(t *testing.T) {
	device, wit := stockVerifiers(t)
	k := testKey(t)
	for _, c := range alterations(t, k) {
		t.Run(c.name, func(t *testing.T) {
			if _, err := VerifyCosignature(c.note, k.VerifierKey()); err == nil {
				t.Fatal("VerifyCosignature accepted the altered note")
			}
			_, err := note.Open(c.note, note.VerifierList(device, wit))
			var ie *note.InvalidSignatureError
			if !errors.As(err, &ie) {
				t.Fatalf("stock note.Open: %v, want an invalid signature", err)
			}
		})
	}
}

// alteration is a cosigned note with one part changed.
type alteration struct {
	name string
	note []byte
}

// alterations returns the test vector altered so that its cosignature no
// longer verifies, keeping the device's signature valid.
func alterations(t *testing.T, k *Key) []alteration {
	t.Helper()
	cosigned := readFile(t, "testdata/cosigned.note")
	lines := strings.SplitAfter(string(cosigned), "\n")
	last := lines[len(lines)-2]
	prefix := strings.Join(lines[:len(lines)-2], "")
	b64 := strings.TrimSuffix(last[strings.LastIndexByte(last, ' ')+1:], "\n")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(raw []byte)) []byte {
		r := bytes.Clone(raw)
		f(r)
		return []byte(prefix + "\u2014 " + k.Name() + " " + base64.StdEncoding.EncodeToString(r) + "\n")
	}
	// A cosignature of a different body: the device's own line stays
	// valid only for the original body, so cosign another checkpoint and
	// graft its signature onto the vector.
	other, err := k.Cosign(logCheckpoint(t, 7), testTime)
	if err != nil {
		t.Fatal(err)
	}
	otherLine := string(other[bytes.LastIndex(other[:len(other)-1], []byte("\n"))+1:])
	return []alteration{
		{"time +1s", with(func(r []byte) { r[11]++ })},
		{"time -1s", with(func(r []byte) { r[11]-- })},
		{"signature bit", with(func(r []byte) { r[40] ^= 0x01 })},
		{"signature of another checkpoint", []byte(prefix + otherLine)},
	}
}

// TestInterop_StockSignerOurVerifier: a cosignature made by the stock
// signer from our private key text verifies with our verifier.
func TestInterop_StockSignerOurVerifier(t *testing.T) {
	k := testKey(t)
	s, err := tdnote.NewSignerForCosignatureV1(k.PrivateKey())
	if err != nil {
		t.Fatalf("formats note.NewSignerForCosignatureV1(our private key): %v", err)
	}
	if s.Name() != k.Name() || s.KeyHash() != k.KeyID() {
		t.Fatalf("stock signer is %s+%08x, ours %s+%08x", s.Name(), s.KeyHash(), k.Name(), k.KeyID())
	}
	dev := deviceNote(t)
	before := time.Now().Truncate(time.Second)
	signed, err := note.Sign(&note.Note{Text: string(noteText(dev))}, s)
	if err != nil {
		t.Fatalf("x/mod note.Sign with the stock cosigner: %v", err)
	}
	after := time.Now()
	line := signed[bytes.LastIndex(signed[:len(signed)-1], []byte("\n"))+1:]
	got, err := VerifyCosignature(append(bytes.Clone(dev), line...), k.VerifierKey())
	if err != nil {
		t.Fatalf("VerifyCosignature(stock cosignature): %v", err)
	}
	if got.Before(before) || got.After(after) {
		t.Fatalf("stock cosignature time %v, want between %v and %v", got, before, after)
	}
}
