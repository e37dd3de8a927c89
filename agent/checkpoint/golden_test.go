package checkpoint

import (
	"bytes"
	"errors"
	"testing"
)

func TestGolden_SignedCheckpoint(t *testing.T) {
	signed := demoSigned(t)
	goldenFile(t, "checkpoint.golden", signed)

	c, n, err := OpenCheckpoint(signed, demoVerifier(t))
	if err != nil {
		t.Fatalf("OpenCheckpoint(golden): %v", err)
	}
	if c.Origin != demoCheckpoint().Origin || c.Size != 5 || c.Root != demoCheckpoint().Root || c.Extensions != nil {
		t.Fatalf("OpenCheckpoint(golden) = %+v, want %+v", c, demoCheckpoint())
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != demoName || len(n.Unverified) != 0 {
		t.Fatalf("note signatures = %+v / unverified %+v, want one by %s", n.Sigs, n.Unverified, demoName)
	}
}

func TestGolden_VerifierKey(t *testing.T) {
	vkey, err := VerifierKey(demoName, demoPub())
	if err != nil {
		t.Fatalf("VerifierKey: %v", err)
	}
	goldenFile(t, "vkey.golden", []byte(vkey+"\n"))

	v, err := ParseVerifierKey(vkey)
	if err != nil {
		t.Fatalf("ParseVerifierKey(%q): %v", vkey, err)
	}
	if _, err := Open(demoSigned(t), v); err != nil {
		t.Fatalf("Open(golden) with parsed verifier key: %v", err)
	}
}

// TestOpen_TamperEveryByte flips the low bit of each byte of the golden note
// in turn; every variant must be rejected.
func TestOpen_TamperEveryByte(t *testing.T) {
	signed := demoSigned(t)
	v := demoVerifier(t)
	kinds := map[string]int{}
	for i := range signed {
		msg := bytes.Clone(signed)
		msg[i] ^= 0x01
		n, err := Open(msg, v)
		if err == nil {
			t.Fatalf("byte %d (%q -> %q): Open succeeded with text %q", i, signed[i], msg[i], n.Text)
		}
		var ue *UnverifiedNoteError
		var ie *InvalidSignatureError
		switch {
		case isMalformed(err):
			kinds["malformed"]++
		case errors.As(err, &ue):
			kinds["unverified"]++
		case errors.As(err, &ie):
			kinds["invalid signature"]++
		default:
			t.Fatalf("byte %d: unexpected error %v", i, err)
		}
	}
	t.Logf("%d positions: %v", len(signed), kinds)
	for _, k := range []string{"malformed", "unverified", "invalid signature"} {
		if kinds[k] == 0 {
			t.Errorf("no flip produced a %s error; the test no longer covers that path", k)
		}
	}
}
