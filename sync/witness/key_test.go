package witness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

// keyText builds a key text from its parts; typ and material go into the
// base64 field.
func keyText(private bool, name, id string, typ byte, material []byte) string {
	s := fmt.Sprintf("%s+%s+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{typ}, material...)))
	if private {
		return "PRIVATE+KEY+" + s
	}
	return s
}

func TestKey_RoundTrip(t *testing.T) {
	k, err := GenerateKey("witness.city.example/waybill", nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKey(k.PrivateKey())
	if err != nil {
		t.Fatalf("ParsePrivateKey(PrivateKey()): %v", err)
	}
	if k2.PrivateKey() != k.PrivateKey() || k2.VerifierKey() != k.VerifierKey() {
		t.Fatal("a parsed private key does not format back to its text")
	}
	v, err := ParseVerifierKey(k.VerifierKey())
	if err != nil {
		t.Fatalf("ParseVerifierKey(VerifierKey()): %v", err)
	}
	if v.String() != k.VerifierKey() || v.Name() != k.Name() || v.KeyID() != k.KeyID() || !bytes.Equal(v.Public(), k.Public()) {
		t.Fatalf("parsed verifier %v differs from the key's %v", v, k.VerifierKey())
	}
	if want := KeyID(k.Name(), k.Public()); k.KeyID() != want {
		t.Fatalf("KeyID = %08x, want %08x", k.KeyID(), want)
	}
	// The witness key ID is not the note key ID of the same key.
	if note := checkpoint.KeyID(k.Name(), append([]byte{0x01}, k.Public()...)); note == k.KeyID() {
		t.Fatal("cosignature key ID equals the type 0x01 note key ID")
	}
}

func TestParsePrivateKey_Bad(t *testing.T) {
	seed := testSeed()
	good := testKey(t)
	id := fmt.Sprintf("%08x", good.KeyID())
	secret := base64.StdEncoding.EncodeToString(append([]byte{SigType}, seed...))
	for _, c := range []struct {
		name, skey, want string
	}{
		{"empty", "", `does not start with "PRIVATE+KEY+"`},
		{"verifier key", good.VerifierKey(), "looks like a verifier key"},
		{"lower-case prefix", strings.Replace(good.PrivateKey(), "PRIVATE+KEY", "private+key", 1), `does not start with "PRIVATE+KEY+"`},
		{"no key ID", "PRIVATE+KEY+" + testName, `no "+" after the key name`},
		{"no key", "PRIVATE+KEY+" + testName + "+" + id, `no "+" after the key ID`},
		{"space in name", keyText(true, "witness example", id, SigType, seed), `invalid key name "witness example"`},
		{"empty name", keyText(true, "", id, SigType, seed), `invalid key name ""`},
		{"upper-case key ID", keyText(true, testName, strings.ToUpper(id), SigType, seed), "is not 8 lowercase hex digits"},
		{"short key ID", keyText(true, testName, id[:7], SigType, seed), "is not 8 lowercase hex digits"},
		{"wrong key ID", keyText(true, testName, "00000000", SigType, seed), "key ID 00000000 does not match the key (want " + id + ")"},
		{"note key type 0x01", keyText(true, testName, id, 0x01, seed), "signature type 0x01 is a note signing key"},
		{"type 0x06", keyText(true, testName, id, 0x06, seed), "signature type 0x06, want 0x04"},
		{"short seed", keyText(true, testName, id, SigType, seed[:31]), "seed is 31 bytes, want 32"},
		{"long seed", keyText(true, testName, id, SigType, append(bytes.Clone(seed), 0)), "seed is 33 bytes, want 32"},
		{"extra padding", good.PrivateKey() + "=", "key is not canonical base64"},
		{"base64 with newline", good.PrivateKey()[:70] + "\n" + good.PrivateKey()[70:], "key is not canonical base64"},
		{"not base64", "PRIVATE+KEY+" + testName + "+" + id + "+!!!!", "key is not canonical base64"},
		{"empty key", "PRIVATE+KEY+" + testName + "+" + id + "+", "key is empty"},
		{"trailing newline", good.PrivateKey() + "\n", "key is not canonical base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePrivateKey(c.skey)
			if err == nil {
				t.Fatalf("ParsePrivateKey accepted it: %s", k.VerifierKey())
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error %q does not wrap ErrInvalidKey", err)
			}
			wantErr(t, err, c.want)
			if strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error %q quotes the private key", err)
			}
		})
	}
}

func TestParseVerifierKey_Bad(t *testing.T) {
	k := testKey(t)
	pub := k.Public()
	id := fmt.Sprintf("%08x", k.KeyID())
	for _, c := range []struct {
		name, vkey, want string
	}{
		{"empty", "", `no "+" after the key name`},
		{"private key", k.PrivateKey(), "this is a private key"},
		{"no key", testName + "+" + id, `no "+" after the key ID`},
		{"plus in name is a field", "a+b+" + id + "+x", "key ID \"b\" is not 8 lowercase hex digits"},
		{"control in name", keyText(false, "w\x7fx", id, SigType, pub), `invalid key name "w\x7fx"`},
		{"wrong key ID", keyText(false, testName, "deadbeef", SigType, pub), "key ID deadbeef does not match the key"},
		{"device key", deviceVKey(t), "signature type 0x01 is a note signing key"},
		{"short key", keyText(false, testName, id, SigType, pub[:31]), "public key is 31 bytes, want 32"},
		{"long name is shortened", strings.Repeat("a b", 1000) + "+" + id + "+x", "invalid key name " + strconv.Quote(strings.Repeat("a b", 1000)[:64]) + "…"},
		{"bad base64", testName + "+" + id + "+AAA", `key "AAA" is not canonical base64`},
		{"non-canonical base64", testName + "+" + id + "+BB==", `key "BB==" is not canonical base64`},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := ParseVerifierKey(c.vkey)
			if err == nil {
				t.Fatalf("ParseVerifierKey accepted it: %s", v)
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error %q does not wrap ErrInvalidKey", err)
			}
			wantErr(t, err, c.want)
		})
	}
}

func TestNewKey_Bad(t *testing.T) {
	if _, err := NewKey("bad name", testSeed()); err == nil {
		t.Error("NewKey accepted a name with a space")
	}
	if _, err := NewKey(testName, testSeed()[:16]); err == nil {
		t.Error("NewKey accepted a 16-byte seed")
	}
	if _, err := GenerateKey("a+b", nil); err == nil {
		t.Error("GenerateKey accepted a name with a +")
	}
	if _, err := NewVerifier(testName, make(ed25519.PublicKey, 31)); err == nil {
		t.Error("NewVerifier accepted a 31-byte key")
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "witness.key")
	k := testKey(t)
	if err := k.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if got := string(readFile(t, path)); got != k.PrivateKey()+"\n" {
		t.Errorf("key file holds %q, want the private key text and a newline", got)
	}
	if got := string(readFile(t, path)); got != string(readFile(t, "testdata/witness.skey")) {
		t.Errorf("key file differs from testdata/witness.skey")
	}
	l, err := LoadKey(path)
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	if l.PrivateKey() != k.PrivateKey() {
		t.Fatal("LoadKey returned another key")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after Save, want 1 (temporary file left behind)", len(ents))
	}
}

// TestSave_Faults: Save never replaces a key file and leaves nothing
// behind when it fails.
func TestSave_Faults(t *testing.T) {
	k := testKey(t)
	other, err := GenerateKey(testName, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("existing file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "witness.key")
		if err := k.Save(path); err != nil {
			t.Fatal(err)
		}
		wantErr(t, other.Save(path), "already exists; a key file is never replaced")
		l, err := LoadKey(path)
		if err != nil || l.PrivateKey() != k.PrivateKey() {
			t.Fatalf("after a refused Save the file holds %v, %v; want the first key", l, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("directory holds %d entries, want 1", len(ents))
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "no", "witness.key")
		if err := k.Save(path); err == nil {
			t.Fatal("Save into a missing directory succeeded")
		}
	})
	t.Run("leftover from a crash", func(t *testing.T) {
		// A Save killed before its link leaves only a temporary file:
		// no key file, and the next Save succeeds.
		dir := t.TempDir()
		path := filepath.Join(dir, "witness.key")
		if err := os.WriteFile(filepath.Join(dir, ".witness.key.tmp-1"), []byte("PRIVATE+KEY+half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKey(path); err == nil {
			t.Fatal("LoadKey found a key before any Save completed")
		}
		if err := k.Save(path); err != nil {
			t.Fatalf("Save after a crashed Save: %v", err)
		}
		if l, err := LoadKey(path); err != nil || l.PrivateKey() != k.PrivateKey() {
			t.Fatalf("LoadKey = %v, %v", l, err)
		}
	})
}

func TestLoadKey_Bad(t *testing.T) {
	k := testKey(t)
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seedB64 := base64.StdEncoding.EncodeToString(append([]byte{SigType}, testSeed()...))
	for _, c := range []struct {
		name, path, want string
		is               error
	}{
		{"missing", filepath.Join(dir, "none"), "does not exist", nil},
		{"directory", dir, "is not a regular file", nil},
		{"group readable", write("g", k.PrivateKey()+"\n", 0o640), "mode 0640; fix with: chmod 600", ErrKeyFilePermissions},
		{"world readable", write("w", k.PrivateKey()+"\n", 0o604), "mode 0604", ErrKeyFilePermissions},
		{"empty", write("e", "", 0o600), "the file is empty", ErrInvalidKey},
		{"newline only", write("n", "\n", 0o600), "the file is empty", ErrInvalidKey},
		{"two newlines", write("nn", k.PrivateKey()+"\n\n", 0o600), "not canonical base64", ErrInvalidKey},
		{"CRLF", write("crlf", k.PrivateKey()+"\r\n", 0o600), "not canonical base64", ErrInvalidKey},
		{"verifier key", write("v", k.VerifierKey()+"\n", 0o600), "looks like a verifier key", ErrInvalidKey},
		{"too large", write("big", strings.Repeat("A", MaxKeyFileSize+1), 0o600), "larger than 4096 bytes", ErrInvalidKey},
		{"device note key", write("d", keyText(true, testName, fmt.Sprintf("%08x", k.KeyID()), 0x01, testSeed())+"\n", 0o600), "type 0x01", ErrInvalidKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := LoadKey(c.path)
			if err == nil {
				t.Fatalf("LoadKey accepted it: %s", got.VerifierKey())
			}
			wantErr(t, err, c.path)
			wantErr(t, err, c.want)
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %v", err, c.is)
			}
			if strings.Contains(err.Error(), seedB64[:12]) {
				t.Errorf("error %q quotes the private key", err)
			}
		})
	}
}
