package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// sigTypeEd25519 is the c2sp.org/signed-note signature type byte for Ed25519.
const sigTypeEd25519 = 0x01

// KeyID returns the key ID recommended by c2sp.org/signed-note: the first
// four bytes, big-endian, of SHA-256(name || 0x0A || typeAndKey), where
// typeAndKey is the signature type byte(s) followed by the public key.
func KeyID(name string, typeAndKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(typeAndKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func ed25519KeyID(name string, pub ed25519.PublicKey) uint32 {
	return KeyID(name, append([]byte{sigTypeEd25519}, pub...))
}

type ed25519Signer struct {
	name string
	id   uint32
	priv ed25519.PrivateKey
}

func (s *ed25519Signer) Name() string  { return s.name }
func (s *ed25519Signer) KeyID() uint32 { return s.id }
func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}

// NewEd25519Signer returns a Signer that makes Ed25519 (type 0x01)
// signatures with priv under the key name name. It checks that name is valid
// and that priv is a well-formed private key whose public half matches its
// seed.
func NewEd25519Signer(name string, priv ed25519.PrivateKey) (Signer, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("checkpoint: invalid key name %s", quote(name))
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("checkpoint: Ed25519 private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	own := ed25519.NewKeyFromSeed(priv.Seed())
	if !bytes.Equal(own[ed25519.SeedSize:], priv[ed25519.SeedSize:]) {
		return nil, fmt.Errorf("checkpoint: Ed25519 private key's public half does not match its seed")
	}
	pub := own.Public().(ed25519.PublicKey)
	return &ed25519Signer{name: name, id: ed25519KeyID(name, pub), priv: own}, nil
}

type ed25519Verifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func (v *ed25519Verifier) Name() string  { return v.name }
func (v *ed25519Verifier) KeyID() uint32 { return v.id }
func (v *ed25519Verifier) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(v.pub, msg, sig)
}

// NewEd25519Verifier returns a Verifier for Ed25519 (type 0x01) signatures
// by pub under the key name name.
func NewEd25519Verifier(name string, pub ed25519.PublicKey) (Verifier, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("checkpoint: invalid key name %s", quote(name))
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("checkpoint: Ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	pub = bytes.Clone(pub)
	return &ed25519Verifier{name: name, id: ed25519KeyID(name, pub), pub: pub}, nil
}

// VerifierKey returns the text form of an Ed25519 verifier key,
// "<name>+<key ID as 8 lowercase hex digits>+<base64(0x01 || pub)>", as
// used by golang.org/x/mod/sumdb/note.
func VerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	v, err := NewEd25519Verifier(name, pub)
	if err != nil {
		return "", err
	}
	typeAndKey := append([]byte{sigTypeEd25519}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, v.KeyID(), base64.StdEncoding.EncodeToString(typeAndKey)), nil
}

// ParseVerifierKey parses the text form written by [VerifierKey]. It is
// strict: the name must be valid, the key ID exactly 8 lowercase hex digits
// equal to the ID computed from the name and key, the key canonical base64
// of the type byte 0x01 and a 32-byte Ed25519 public key.
func ParseVerifierKey(vkey string) (Verifier, error) {
	name, rest, ok := strings.Cut(vkey, "+")
	if !ok {
		return nil, fmt.Errorf("checkpoint: verifier key: no \"+\" after the key name")
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("checkpoint: verifier key: invalid key name %s", quote(name))
	}
	hexID, b64, ok := strings.Cut(rest, "+")
	if !ok {
		return nil, fmt.Errorf("checkpoint: verifier key: no \"+\" after the key ID")
	}
	if len(hexID) != 8 || strings.Trim(hexID, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("checkpoint: verifier key: key ID %s is not 8 lowercase hex digits", quote(hexID))
	}
	id, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil { // unreachable after the check above
		return nil, fmt.Errorf("checkpoint: verifier key: key ID %s: %v", quote(hexID), err)
	}
	typeAndKey, p := decodeBase64(b64)
	if p != "" {
		return nil, fmt.Errorf("checkpoint: verifier key: key %s", p)
	}
	if len(typeAndKey) == 0 || typeAndKey[0] != sigTypeEd25519 {
		return nil, fmt.Errorf("checkpoint: verifier key: signature type is not Ed25519 (0x01)")
	}
	if len(typeAndKey) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("checkpoint: verifier key: Ed25519 public key is %d bytes, want %d", len(typeAndKey)-1, ed25519.PublicKeySize)
	}
	if want := KeyID(name, typeAndKey); uint32(id) != want {
		return nil, fmt.Errorf("checkpoint: verifier key: key ID %s does not match the key (want %08x)", hexID, want)
	}
	return NewEd25519Verifier(name, ed25519.PublicKey(typeAndKey[1:]))
}
