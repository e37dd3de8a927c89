package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// Published known-answer vectors from the golang.org/x/mod/sumdb/note
// documentation: a verifier key and a note it signed.
const (
	kaVKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
	kaNote = "If you think cryptography is the answer to your problem,\n" +
		"then you don't know what your problem is.\n" +
		"\n" +
		"\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

func TestParseVerifierKey_KnownAnswer(t *testing.T) {
	v, err := ParseVerifierKey(kaVKey)
	if err != nil {
		t.Fatalf("ParseVerifierKey: %v", err)
	}
	if v.Name() != "PeterNeumann" || v.KeyID() != 0xc74f20a3 {
		t.Fatalf("parsed %s+%08x", v.Name(), v.KeyID())
	}
	n, err := Open([]byte(kaNote), v)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !strings.HasPrefix(n.Text, "If you think") || len(n.Sigs) != 1 || n.Sigs[0].KeyID != 0xc74f20a3 {
		t.Fatalf("Open = %+v", n)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.SplitN(kaVKey, "+", 3)[2])
	if got := KeyID("PeterNeumann", raw); got != 0xc74f20a3 {
		t.Fatalf("KeyID = %08x, want c74f20a3", got)
	}
}

func TestVerifierKey_RoundTrip(t *testing.T) {
	for i := range 20 {
		name := fmt.Sprintf("waybill/test/%d", i)
		priv, pub := newKey(name)
		vkey, err := VerifierKey(name, pub)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseVerifierKey(vkey)
		if err != nil {
			t.Fatalf("ParseVerifierKey(%q): %v", vkey, err)
		}
		s, err := NewEd25519Signer(name, priv)
		if err != nil {
			t.Fatal(err)
		}
		if v.Name() != name || v.KeyID() != s.KeyID() || s.Name() != name {
			t.Fatalf("verifier %s+%08x, signer %s+%08x", v.Name(), v.KeyID(), s.Name(), s.KeyID())
		}
		if !strings.HasPrefix(vkey, fmt.Sprintf("%s+%08x+", name, s.KeyID())) {
			t.Fatalf("vkey %q does not start with name+hex id", vkey)
		}
		if _, err := Open(must(Sign("hello\n", s)), v); err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
}

func TestParseVerifierKey_Bad(t *testing.T) {
	good, _ := VerifierKey(demoName, demoPub())
	name, rest, _ := strings.Cut(good, "+")
	hexID, b64, _ := strings.Cut(rest, "+")
	raw, _ := base64.StdEncoding.DecodeString(b64)
	enc := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	// withKey builds a vkey for typeAndKey with the ID it really has, so only
	// the content is wrong.
	withKey := func(typeAndKey []byte) string {
		return fmt.Sprintf("%s+%08x+%s", name, KeyID(name, typeAndKey), enc(typeAndKey))
	}
	flipped := fmt.Sprintf("%08x", demoVerifier(t).KeyID()^1)

	tests := []struct{ name, vkey, err string }{
		{"Empty", "", "no \"+\" after the key name"},
		{"NameOnly", name, "no \"+\" after the key name"},
		{"NoKey", name + "+" + hexID, "no \"+\" after the key ID"},
		{"EmptyName", "+" + hexID + "+" + b64, "invalid key name \"\""},
		{"NameWithSpace", "a b+" + hexID + "+" + b64, "invalid key name \"a b\""},
		{"UppercaseHex", name + "+" + strings.ToUpper(hexID) + "+" + b64, "is not 8 lowercase hex digits"},
		{"ShortHex", name + "+" + hexID[1:] + "+" + b64, "is not 8 lowercase hex digits"},
		{"LongHex", name + "+0" + hexID + "+" + b64, "is not 8 lowercase hex digits"},
		{"HexPrefix", name + "+0x" + hexID[2:] + "+" + b64, "is not 8 lowercase hex digits"},
		{"BadHash", name + "+" + flipped + "+" + b64, "key ID " + flipped + " does not match the key (want " + hexID + ")"},
		{"OtherName", "other.example+" + hexID + "+" + b64, "does not match the key"},
		{"BadBase64", name + "+" + hexID + "+" + b64[:len(b64)-1] + "!", "is not valid base64"},
		{"Base64Newline", name + "+" + hexID + "+" + b64[:10] + "\n" + b64[10:], "is not canonical base64"},
		{"TrailingGarbage", good + "+extra", "is not valid base64"},
		{"EmptyKey", name + "+" + hexID + "+", "signature type is not Ed25519"},
		{"TypeECDSA", withKey(append([]byte{0x02}, raw[1:]...)), "signature type is not Ed25519 (0x01)"},
		{"Type0xff", withKey(append([]byte{0xff}, raw[1:]...)), "signature type is not Ed25519"},
		{"ShortKey", withKey(raw[:32]), "Ed25519 public key is 31 bytes, want 32"},
		{"LongKey", withKey(append(bytes.Clone(raw), 0)), "Ed25519 public key is 33 bytes, want 32"},
		{"ShortKeyPaddingBits", name + "+" + fmt.Sprintf("%08x", KeyID(name, raw[:32])) + "+" + flipPaddingBit(enc(raw[:32])), "non-zero padding bits"},
		{"PrivateKeyText", "PRIVATE+KEY+" + good, "key ID \"KEY\" is not 8 lowercase hex digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVerifierKey(tc.vkey)
			wantErr(t, err, tc.err)
			if v != nil {
				t.Fatalf("ParseVerifierKey returned a verifier with its error")
			}
			if !strings.HasPrefix(err.Error(), "checkpoint: verifier key: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
		})
	}
}

func TestNewEd25519Signer_Bad(t *testing.T) {
	priv := demoPriv()
	mismatched := bytes.Clone(priv)
	mismatched[40] ^= 1
	tests := []struct {
		name, key string
		priv      ed25519.PrivateKey
		err       string
	}{
		{"InvalidName", "a+b", priv, "invalid key name \"a+b\""},
		{"EmptyName", "", priv, "invalid key name"},
		{"SeedOnly", demoName, ed25519.PrivateKey(demoSeed()), "private key is 32 bytes, want 64"},
		{"Nil", demoName, nil, "private key is 0 bytes"},
		{"PublicHalfMismatch", demoName, mismatched, "public half does not match its seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewEd25519Signer(tc.key, tc.priv)
			wantErr(t, err, tc.err)
			if s != nil {
				t.Fatalf("signer returned with error")
			}
		})
	}
}

func TestNewEd25519Verifier_Bad(t *testing.T) {
	tests := []struct {
		name, key string
		pub       ed25519.PublicKey
		err       string
	}{
		{"InvalidName", "a b", demoPub(), "invalid key name \"a b\""},
		{"ShortKey", demoName, demoPub()[:31], "public key is 31 bytes, want 32"},
		{"PrivateKey", demoName, ed25519.PublicKey(demoPriv()), "public key is 64 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewEd25519Verifier(tc.key, tc.pub)
			wantErr(t, err, tc.err)
			if v != nil {
				t.Fatalf("verifier returned with error")
			}
			_, err = VerifierKey(tc.key, tc.pub)
			wantErr(t, err, tc.err)
		})
	}
}

func TestEd25519Verifier_RejectsBadSignatures(t *testing.T) {
	v := demoVerifier(t)
	msg := []byte("m\n")
	sig := ed25519.Sign(demoPriv(), msg)
	if !v.Verify(msg, sig) {
		t.Fatal("good signature rejected")
	}
	for name, bad := range map[string][]byte{
		"Empty":     nil,
		"Short":     sig[:63],
		"Long":      append(bytes.Clone(sig), 0),
		"BitFlip":   append([]byte{sig[0] ^ 1}, sig[1:]...),
		"OtherText": ed25519.Sign(demoPriv(), []byte("n\n")),
	} {
		if v.Verify(msg, bad) {
			t.Errorf("%s: bad signature accepted", name)
		}
	}
}

func TestNewEd25519Verifier_CopiesKey(t *testing.T) {
	pub := bytes.Clone(demoPub())
	v, err := NewEd25519Verifier(demoName, pub)
	if err != nil {
		t.Fatal(err)
	}
	pub[0] ^= 1
	if _, err := Open(demoSigned(t), v); err != nil {
		t.Fatalf("verifier changed when the caller's key slice changed: %v", err)
	}
}

func TestKeyID_Definition(t *testing.T) {
	// KeyID of the golden key, computed independently of the vkey.
	want := demoVerifier(t).KeyID()
	if got := KeyID(demoName, append([]byte{0x01}, demoPub()...)); got != want {
		t.Fatalf("KeyID = %08x, want %08x", got, want)
	}
	if KeyID(demoName, append([]byte{0xff}, demoPub()...)) == want {
		t.Fatalf("type byte does not change the key ID")
	}
	if KeyID(demoName+"x", append([]byte{0x01}, demoPub()...)) == want {
		t.Fatalf("name does not change the key ID")
	}
}
