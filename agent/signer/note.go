package signer

import (
	"fmt"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
)

// NoteType is the signed-note signature type of a device's secp256k1
// checkpoint signature: 0xff ("no assigned byte", c2sp.org/signed-note)
// followed by this identifier.
const NoteType = "\xffwaybill-eip712-secp256k1"

// NoteKeyID returns the signed-note key ID of a device's secp256k1
// checkpoint key: SHA-256(name ‖ 0x0A ‖ 0xff ‖ "waybill-eip712-secp256k1" ‖
// 20-byte address)[:4].
func NoteKeyID(name string, device event.Address) uint32 {
	return checkpoint.KeyID(name, append([]byte(NoteType), device[:]...))
}

// noteSigner signs a checkpoint note's EIP-712 digest rather than its text,
// so that a contract can check it with ecrecover from (origin, size, root).
type noteSigner struct {
	name string
	id   uint32
	d    Domain
	k    *Key
}

// NoteSigner returns a checkpoint.Signer that adds the device's secp256k1
// signature line to a checkpoint note. The signature is the 65-byte r ‖ s ‖ v
// over CheckpointDigest(d, origin, size, root) of the note's checkpoint.
func (k *Key) NoteSigner(name string, d Domain) (checkpoint.Signer, error) {
	if !checkpoint.ValidName(name) {
		return nil, fmt.Errorf("signer: invalid note key name %q", name)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &noteSigner{name: name, id: NoteKeyID(name, k.addr), d: d, k: k}, nil
}

func (s *noteSigner) Name() string  { return s.name }
func (s *noteSigner) KeyID() uint32 { return s.id }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) {
	c, err := checkpoint.ParseCheckpoint(msg)
	if err != nil {
		return nil, fmt.Errorf("signer: the secp256k1 note key signs checkpoints only: %w", err)
	}
	if len(c.Extensions) > 0 {
		// The EIP-712 digest covers origin, size and root only.
		return nil, fmt.Errorf("signer: the secp256k1 note key does not sign checkpoints with extension lines")
	}
	sig, err := s.k.SignDigest(CheckpointDigest(s.d, c.Origin, c.Size, c.Root))
	if err != nil {
		return nil, err
	}
	return sig[:], nil
}

// noteVerifier checks a device's secp256k1 checkpoint signature line.
type noteVerifier struct {
	name   string
	id     uint32
	d      Domain
	device event.Address
}

// NoteVerifier returns a checkpoint.Verifier for device's secp256k1
// signature line on checkpoints named name in domain d.
func NoteVerifier(name string, device event.Address, d Domain) checkpoint.Verifier {
	return &noteVerifier{name: name, id: NoteKeyID(name, device), d: d, device: device}
}

func (v *noteVerifier) Name() string  { return v.name }
func (v *noteVerifier) KeyID() uint32 { return v.id }
func (v *noteVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 65 {
		return false
	}
	c, err := checkpoint.ParseCheckpoint(msg)
	if err != nil || len(c.Extensions) > 0 {
		return false
	}
	return VerifyCheckpoint(v.d, v.device, c.Origin, c.Size, c.Root, event.Signature(sig)) == nil
}
