package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
)

// SigType is the signature type byte of Ed25519 cosignature/v1 keys
// (c2sp.org/tlog-cosignature). It goes into the key ID and leads the key
// material of the key texts.
const SigType = 0x04

// noteSigType is the signed-note type byte of plain Ed25519 note keys, the
// kind a device signs its checkpoints with.
const noteSigType = 0x01

// MaxKeyFileSize is the largest key file [LoadKey] reads, in bytes.
const MaxKeyFileSize = 4096

// ErrInvalidKey is wrapped by every error reporting a key text that is not
// a witness private key or verifier key.
var ErrInvalidKey = errors.New("invalid witness key")

// ErrKeyFilePermissions is wrapped by the error [LoadKey] returns for a key
// file that group or others may access.
var ErrKeyFilePermissions = errors.New("key file is open to group or others")

func keyErr(what, format string, args ...any) error {
	return fmt.Errorf("witness: %s: %w: %s", what, ErrInvalidKey, fmt.Sprintf(format, args...))
}

// KeyID returns the key ID of the Ed25519 cosignature/v1 key pub under the
// key name name: SHA-256(name || 0x0A || 0x04 || pub)[:4], big-endian.
func KeyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', SigType})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Key is a witness's Ed25519 cosigning key and its name.
type Key struct {
	name string
	id   uint32
	priv ed25519.PrivateKey
}

// GenerateKey returns a new witness key named name, with randomness from
// rand (crypto/rand.Reader when rand is nil). The name must satisfy
// [checkpoint.ValidName]; c2sp.org/tlog-cosignature recommends a schema-less
// URL naming the witness, such as "witness.city.example/waybill".
func GenerateKey(name string, rand io.Reader) (*Key, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("witness: generate key: %w", err)
	}
	return NewKey(name, priv.Seed())
}

// NewKey returns the witness key named name with the 32-byte Ed25519 seed
// seed.
func NewKey(name string, seed []byte) (*Key, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("witness: Ed25519 seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Key{name: name, id: KeyID(name, priv.Public().(ed25519.PublicKey)), priv: priv}, nil
}

// Name returns the key name, the name on the witness's signature lines.
func (k *Key) Name() string { return k.name }

// KeyID returns the key ID, see [KeyID].
func (k *Key) KeyID() uint32 { return k.id }

// Public returns the Ed25519 public key.
func (k *Key) Public() ed25519.PublicKey {
	return bytes.Clone(k.priv.Public().(ed25519.PublicKey))
}

// Verifier returns the verifier of k's cosignatures.
func (k *Key) Verifier() *Verifier {
	return &Verifier{name: k.name, id: k.id, pub: k.Public()}
}

// VerifierKey returns the verifier key text,
// "<name>+<key ID>+<base64(0x04 || public key)>".
func (k *Key) VerifierKey() string { return k.Verifier().String() }

// PrivateKey returns the private key text,
// "PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>". It is secret.
func (k *Key) PrivateKey() string {
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", k.name, k.id,
		base64.StdEncoding.EncodeToString(append([]byte{SigType}, k.priv.Seed()...)))
}

// ParsePrivateKey parses the private key text written by [Key.PrivateKey].
// It is strict: the prefix "PRIVATE+KEY+", a valid key name, a key ID of 8
// lowercase hex digits equal to the one computed from the name and key, and
// canonical base64 of the type byte 0x04 and a 32-byte seed. Errors wrap [ErrInvalidKey] and never quote the
// key material.
func ParsePrivateKey(skey string) (*Key, error) {
	const what = "private key"
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		if strings.Count(skey, "+") >= 2 && !strings.HasPrefix(strings.ToUpper(skey), "PRIVATE+") {
			return nil, keyErr(what, "this looks like a verifier key (<name>+<key ID>+<key>), not a private key (PRIVATE+KEY+<name>+<key ID>+<key>)")
		}
		return nil, keyErr(what, "does not start with \"PRIVATE+KEY+\"")
	}
	name, hexID, b64, err := splitKey(what, rest)
	if err != nil {
		return nil, err
	}
	seed, err := parseKeyFields(what, name, hexID, b64, ed25519.SeedSize, "seed", false)
	if err != nil {
		return nil, err
	}
	k, err := NewKey(name, seed)
	if err != nil {
		return nil, keyErr(what, "%v", err)
	}
	if id, _ := strconv.ParseUint(hexID, 16, 32); uint32(id) != k.id {
		return nil, keyErr(what, "key ID %s does not match the key (want %08x)", hexID, k.id)
	}
	return k, nil
}

// splitKey splits "<name>+<key ID>+<key>" at its first two "+": a key name
// has none, base64 may.
func splitKey(what, s string) (name, hexID, b64 string, err error) {
	name, rest, ok := strings.Cut(s, "+")
	if !ok {
		return "", "", "", keyErr(what, "no \"+\" after the key name")
	}
	hexID, b64, ok = strings.Cut(rest, "+")
	if !ok {
		return "", "", "", keyErr(what, "no \"+\" after the key ID")
	}
	return name, hexID, b64, nil
}

// parseKeyFields checks the name, key ID and key fields of a key text and
// returns the key material after the type byte, which must be size bytes
// long. The key field is quoted in errors only if quoteKey is set (public
// material).
func parseKeyFields(what, name, hexID, b64 string, size int, material string, quoteKey bool) ([]byte, error) {
	if !checkpoint.ValidName(name) {
		return nil, keyErr(what, "invalid key name %s", quote(name))
	}
	if len(hexID) != 8 || strings.Trim(hexID, "0123456789abcdef") != "" {
		return nil, keyErr(what, "key ID %s is not 8 lowercase hex digits", quote(hexID))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
		if quoteKey {
			return nil, keyErr(what, "key %s is not canonical base64", quote(b64))
		}
		return nil, keyErr(what, "key is not canonical base64")
	}
	switch {
	case len(raw) == 0:
		return nil, keyErr(what, "key is empty")
	case raw[0] == noteSigType:
		return nil, keyErr(what, "signature type 0x01 is a note signing key (a device's), want 0x04 (an Ed25519 cosignature/v1 key)")
	case raw[0] != SigType:
		return nil, keyErr(what, "signature type 0x%02x, want 0x04 (an Ed25519 cosignature/v1 key)", raw[0])
	case len(raw)-1 != size:
		return nil, keyErr(what, "Ed25519 %s is %d bytes, want %d", material, len(raw)-1, size)
	}
	return raw[1:], nil
}

// LoadKey reads the private key text written by [Key.Save] from the file
// at path: the text of [Key.PrivateKey], optionally followed by one newline.
// It refuses anything but a regular file, a file that group or others may
// access ([ErrKeyFilePermissions]), a file over [MaxKeyFileSize] bytes, and
// text [ParsePrivateKey] refuses; each error names the file.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("witness: key file %s does not exist", path)
		}
		return nil, fmt.Errorf("witness: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("witness: key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("witness: key file %s is not a regular file (mode %v)", path, st.Mode())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("witness: key file %s: %w: mode %04o; fix with: chmod 600 %s", path, ErrKeyFilePermissions, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("witness: key file %s: %w", path, err)
	}
	if len(b) > MaxKeyFileSize {
		return nil, fmt.Errorf("witness: key file %s: %w: larger than %d bytes", path, ErrInvalidKey, MaxKeyFileSize)
	}
	text := strings.TrimSuffix(string(b), "\n")
	if text == "" {
		return nil, fmt.Errorf("witness: key file %s: %w: the file is empty", path, ErrInvalidKey)
	}
	k, err := ParsePrivateKey(text)
	if err != nil {
		return nil, fmt.Errorf("witness: key file %s: %w", path, err)
	}
	return k, nil
}

// Save writes k's private key text and a newline to a new file at path,
// mode 0600. It never replaces an existing file: a witness key lost is a
// witness identity lost. The file appears whole or not at all (a temporary
// file in the same directory, synced, then linked to path), and the
// directory is synced before Save returns.
func (k *Key) Save(path string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	if _, err := f.WriteString(k.PrivateKey() + "\n"); err != nil {
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("witness: save key: %s already exists; a key file is never replaced", path)
		}
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	os.Remove(tmp)
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("witness: save key to %s: %w", path, err)
	}
	return nil
}

// quote quotes s for an error message, shortened if it is long.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
