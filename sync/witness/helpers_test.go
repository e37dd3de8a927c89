package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

var update = flag.Bool("update", false, "rewrite testdata/ from the current code")

// testName is the key name of the test witness key.
const testName = "witness.example/waybill-test"

// testSeed is the test witness key's Ed25519 seed:
// SHA-256("waybill witness test key").
func testSeed() []byte {
	s := sha256.Sum256([]byte("waybill witness test key"))
	return s[:]
}

// testTime is the time of the vector's cosignature, 2026-01-01T00:00:00Z.
var testTime = time.Unix(1767225600, 0).UTC()

// deviceNotePath is PROTOCOL.md §7's checkpoint vector, signed by the demo
// device's Ed25519 and secp256k1 keys.
const deviceNotePath = "../../firmware-docs/testdata/checkpoint.note"

// deviceVKeyPath is the demo device's Ed25519 verifier key.
const deviceVKeyPath = "../../firmware-docs/testdata/ed25519.vkey"

func testKey(t testing.TB) *Key {
	t.Helper()
	k, err := NewKey(testName, testSeed())
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	return k
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deviceNote(t testing.TB) []byte { return readFile(t, deviceNotePath) }

func deviceVKey(t testing.TB) string {
	return strings.TrimSuffix(string(readFile(t, deviceVKeyPath)), "\n")
}

// logName is the key name of the throwaway log key tests sign their own
// checkpoints with.
const logName = "waybill/test/0x00000000000000000000000000000000000000aa"

func logPriv() ed25519.PrivateKey {
	s := sha256.Sum256([]byte("waybill witness tests: log key"))
	return ed25519.NewKeyFromSeed(s[:])
}

// signText signs text with the throwaway log key.
func signText(t testing.TB, text string) []byte {
	t.Helper()
	s, err := checkpoint.NewEd25519Signer(logName, logPriv())
	if err != nil {
		t.Fatal(err)
	}
	n, err := checkpoint.Sign(text, s)
	if err != nil {
		t.Fatalf("checkpoint.Sign(%d-byte text): %v", len(text), err)
	}
	return n
}

// logCheckpoint returns a checkpoint of the throwaway log, signed.
func logCheckpoint(t testing.TB, size uint64) []byte {
	t.Helper()
	c := checkpoint.Checkpoint{Origin: logName + "/0", Size: size, Root: sha256.Sum256([]byte{byte(size)})}
	return signText(t, c.Format())
}

// golden compares got with testdata/name, rewriting the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update to create it): %v", path, err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs from the current output (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// wantErr fails t unless err is non-nil and its text contains fragment.
func wantErr(t *testing.T, err error, fragment string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragment)
	}
	if !strings.Contains(err.Error(), fragment) {
		t.Fatalf("error %q does not contain %q", err, fragment)
	}
}

// noteText returns the text of a signed note: everything up to its last
// blank line.
func noteText(note []byte) []byte {
	return note[:bytes.LastIndex(note, []byte("\n\n"))+1]
}

// ed25519Sign signs msg with k's private key, for tests that build
// cosignature lines by hand.
func ed25519Sign(k *Key, msg []byte) []byte { return ed25519.Sign(k.priv, msg) }
