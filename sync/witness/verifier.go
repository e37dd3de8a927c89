package witness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sigSize is the size of an Ed25519 cosignature after its key ID: an 8-byte
// timestamp and a 64-byte Ed25519 signature.
const sigSize = 8 + ed25519.SignatureSize

// Verifier checks the cosignatures of one witness key. It satisfies
// agent/checkpoint's Verifier interface, so a cosigned note can also be
// opened with checkpoint.Open.
type Verifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

// NewVerifier returns the verifier of the witness key pub named name.
func NewVerifier(name string, pub ed25519.PublicKey) (*Verifier, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness: Ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	pub = bytes.Clone(pub)
	return &Verifier{name: name, id: KeyID(name, pub), pub: pub}, nil
}

// ParseVerifierKey parses the verifier key text written by
// [Key.VerifierKey], "<name>+<key ID>+<base64(0x04 || public key)>". It is
// strict: a valid key name, a key ID of 8 lowercase hex digits equal to the
// one computed from the name and key, and canonical base64 of the type byte
// 0x04 and a 32-byte public key. Errors wrap [ErrInvalidKey].
func ParseVerifierKey(vkey string) (*Verifier, error) {
	const what = "verifier key"
	if strings.HasPrefix(vkey, "PRIVATE+KEY+") {
		return nil, keyErr(what, "this is a private key, not a verifier key; do not pass it around")
	}
	name, hexID, b64, err := splitKey(what, vkey)
	if err != nil {
		return nil, err
	}
	pub, err := parseKeyFields(what, name, hexID, b64, ed25519.PublicKeySize, "public key", true)
	if err != nil {
		return nil, err
	}
	v, err := NewVerifier(name, pub)
	if err != nil {
		return nil, keyErr(what, "%v", err)
	}
	if id, _ := strconv.ParseUint(hexID, 16, 32); uint32(id) != v.id {
		return nil, keyErr(what, "key ID %s does not match the key (want %08x)", hexID, v.id)
	}
	return v, nil
}

// Name returns the key name.
func (v *Verifier) Name() string { return v.name }

// KeyID returns the key ID, see [KeyID].
func (v *Verifier) KeyID() uint32 { return v.id }

// Public returns the Ed25519 public key.
func (v *Verifier) Public() ed25519.PublicKey { return bytes.Clone(v.pub) }

// String returns the verifier key text.
func (v *Verifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.id,
		base64.StdEncoding.EncodeToString(append([]byte{SigType}, v.pub...)))
}

// Verify reports whether sig, the signature bytes of a signature line after
// the key ID (timestamp and Ed25519 signature), is a valid cosignature of
// the note text text. It does not check that text is a checkpoint.
func (v *Verifier) Verify(text, sig []byte) bool {
	_, ok := v.verify(text, sig)
	return ok
}

// verify checks a cosignature and returns its time.
func (v *Verifier) verify(text, sig []byte) (time.Time, bool) {
	if len(sig) != sigSize {
		return time.Time{}, false
	}
	ts := binary.BigEndian.Uint64(sig)
	if ts > math.MaxInt64 {
		return time.Time{}, false
	}
	if !ed25519.Verify(v.pub, Message(text, ts), sig[8:]) {
		return time.Time{}, false
	}
	return time.Unix(int64(ts), 0).UTC(), true
}

// Message returns the message an Ed25519 cosignature/v1 signs for the note
// text text at timestamp ts (seconds since the Unix epoch): the line
// "cosignature/v1", the line "time <ts>" and text.
func Message(text []byte, ts uint64) []byte {
	m := make([]byte, 0, len("cosignature/v1\ntime \n")+20+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, ts, 10)
	m = append(m, '\n')
	return append(m, text...)
}
