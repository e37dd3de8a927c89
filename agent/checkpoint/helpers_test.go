package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current code")

// demoName is the key name of the golden device key.
const demoName = "waybill/demo/0x0000000000000000000000000000000000000001"

// demoSeed is the fixed Ed25519 seed of the golden key: bytes 0x01..0x20.
func demoSeed() []byte {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	return seed
}

func demoPriv() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(demoSeed()) }

func demoPub() ed25519.PublicKey { return demoPriv().Public().(ed25519.PublicKey) }

func demoSigner(t testing.TB) Signer {
	t.Helper()
	s, err := NewEd25519Signer(demoName, demoPriv())
	if err != nil {
		t.Fatalf("NewEd25519Signer: %v", err)
	}
	return s
}

func demoVerifier(t testing.TB) Verifier {
	t.Helper()
	v, err := NewEd25519Verifier(demoName, demoPub())
	if err != nil {
		t.Fatalf("NewEd25519Verifier: %v", err)
	}
	return v
}

// demoCheckpoint is the golden checkpoint: origin demoName+"/0", size 5 and
// a fixed root.
func demoCheckpoint() Checkpoint {
	return Checkpoint{
		Origin: demoName + "/0",
		Size:   5,
		Root:   sha256.Sum256([]byte("waybill golden root")),
	}
}

// demoSigned is the golden signed checkpoint, made by the code under test.
func demoSigned(t testing.TB) []byte {
	t.Helper()
	b, err := SignCheckpoint(demoCheckpoint(), demoSigner(t))
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	return b
}

// newKey returns a deterministic Ed25519 key pair made from label.
func newKey(label string) (ed25519.PrivateKey, ed25519.PublicKey) {
	seed := sha256.Sum256([]byte(label))
	priv := ed25519.NewKeyFromSeed(seed[:])
	return priv, priv.Public().(ed25519.PublicKey)
}

// sigLine builds a signature line, newline included, from its parts.
func sigLine(name string, id uint32, sig []byte) string {
	raw := binary.BigEndian.AppendUint32(nil, id)
	raw = append(raw, sig...)
	return "\u2014 " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// unknownLine is a signature line from an unknown type-0xff key: key ID
// computed over 0xff, a long type identifier and a public key, and a 65-byte
// signature. i varies the key name.
func unknownLine(i int) string {
	name := "witness.example/" + strings.Repeat("w", i%7) + string(rune('a'+i%26)) + "/" + strconv.Itoa(i)
	typeAndKey := append([]byte{0xff}, []byte("waybill.test/experimental-sig-v1")...)
	typeAndKey = append(typeAndKey, make([]byte, 48)...)
	sig := make([]byte, 65)
	for j := range sig {
		sig[j] = byte(i*7 + j)
	}
	return sigLine(name, KeyID(name, typeAndKey), sig)
}

// flipPaddingBit returns s (canonical base64 ending in exactly one "=") with
// the lowest bit of the last data character flipped. That bit is a padding
// bit, so a lenient decoder returns the same bytes.
func flipPaddingBit(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if !strings.HasSuffix(s, "=") || strings.HasSuffix(s, "==") {
		panic("flipPaddingBit: want exactly one padding character")
	}
	i := len(s) - 2
	v := strings.IndexByte(alphabet, s[i])
	return s[:i] + string(alphabet[v^1]) + s[i+1:]
}

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("writing %s: %v", path, err)
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

// wantErr fails t unless err is non-nil and contains fragment.
func wantErr(t *testing.T, err error, fragment string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragment)
	}
	if !strings.Contains(err.Error(), fragment) {
		t.Fatalf("error %q does not contain %q", err, fragment)
	}
}

func isMalformed(err error) bool { return errors.Is(err, ErrMalformed) }
