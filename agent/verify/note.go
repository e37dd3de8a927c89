package verify

import (
	"fmt"
	"strconv"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Note is a Waybill checkpoint note that [VerifyNote] accepted: the
// checkpoint its text holds, the fleet, device and epoch its origin names,
// and the keys whose signature lines verified.
type Note struct {
	Checkpoint checkpoint.Checkpoint
	Fleet      string
	Device     event.Address
	Epoch      uint32
	// Secp256k1 is set when the device's secp256k1 EIP-712 line was
	// checked (the chain ID was known) and verified.
	Secp256k1 bool
	// Keys are the verified keys, as "name+keyid".
	Keys []string
}

// ParseOrigin is signer.ParseOrigin, kept here for verifiers that import
// only this package: it splits a Waybill origin,
// waybill/<fleet>/<device>/<epoch>, and refuses any other spelling: the
// fleet must be valid (PROTOCOL.md §4.1), the device 0x and 40 lowercase
// hex digits, the epoch decimal from 0 to 2^32−1 without leading zeros.
// Errors wrap ErrMalformed.
func ParseOrigin(origin string) (fleet string, device event.Address, epoch uint32, err error) {
	if fleet, device, epoch, err = signer.ParseOrigin(origin); err != nil {
		return "", device, 0, malformed("origin %s: %v", short(strconv.Quote(origin)), err)
	}
	return fleet, device, epoch, nil
}

// VerifyNote checks a signed checkpoint note of a Waybill device
// (PROTOCOL.md §7) on its own, as the feed's checkpoints topic, `waybill
// log checkpoint` and the tlog-proof form carry it. The note must be well
// formed, its text a checkpoint with no extension lines whose origin is
// waybill/<fleet>/<device>/<epoch>; the fleet and device must match o.Fleet
// and o.Device if those are set. Then:
//
//   - if o.ChainID is not 0, the device's secp256k1 EIP-712 line (selected
//     by its key name and key ID, wherever it is among the signature lines)
//     must verify in the domain (fleet from the origin, o.ChainID);
//   - every key of o.Verifiers (for example the device's Ed25519 verifier
//     key) must have a line that verifies.
//
// With neither a chain ID nor a verifier key nothing could be checked, and
// VerifyNote refuses. Lines by other keys are ignored.
func VerifyNote(note []byte, o Options) (*Note, error) {
	if len(note) > MaxSize {
		return nil, malformed("checkpoint note: %d bytes, more than the limit of %d", len(note), MaxSize)
	}
	c, err := openUnverified(note)
	if err != nil {
		return nil, malformed("checkpoint note: %v", err)
	}
	if len(c.Extensions) > 0 {
		return nil, invalid("checkpoint note: has %d extension lines; Waybill checkpoints have none", len(c.Extensions))
	}
	fleet, device, epoch, err := ParseOrigin(c.Origin)
	if err != nil {
		return nil, err
	}
	if o.Fleet != "" && fleet != o.Fleet {
		return nil, invalid("checkpoint note: origin %q is of fleet %q, not %q", c.Origin, fleet, o.Fleet)
	}
	if o.Device != nil && device != *o.Device {
		return nil, invalid("checkpoint note: origin %q is of device %s, not %s", c.Origin, device, *o.Device)
	}
	if o.ChainID == 0 && len(o.Verifiers) == 0 {
		return nil, invalid("checkpoint note: nothing to check it with: give the chain ID (for the device's secp256k1 line) or a verifier key")
	}
	var verifiers []checkpoint.Verifier
	if o.ChainID != 0 {
		d := signer.Domain{ChainID: o.ChainID, Fleet: fleet}
		if err := d.Validate(); err != nil {
			return nil, invalid("domain: %v", err)
		}
		verifiers = append(verifiers, signer.NoteVerifier(signer.KeyName(fleet, device), device, d))
	}
	verifiers = append(verifiers, o.Verifiers...)
	_, n, err := checkpoint.OpenCheckpoint(note, verifiers...)
	if err != nil {
		return nil, invalid("checkpoint note: %v", err)
	}
	out := &Note{Checkpoint: c, Fleet: fleet, Device: device, Epoch: epoch, Secp256k1: o.ChainID != 0}
	for _, v := range verifiers {
		if !signedBy(n, v) {
			return nil, invalid("checkpoint note: no signature by key %s+%08x (a verifier key made for another fleet names another key)", v.Name(), v.KeyID())
		}
		out.Keys = append(out.Keys, fmt.Sprintf("%s+%08x", v.Name(), v.KeyID()))
	}
	return out, nil
}

// VerifyBetween checks c against the two signed checkpoints it claims to
// connect, given as notes: each note must verify ([VerifyNote] with o), both
// must be of the same origin, and the proof's old_size and old_root must be
// exactly the old checkpoint's size and root, its new_size and new_root the
// new checkpoint's, before the proof itself is checked. Both sizes matter:
// an RFC 9162 consistency proof does not bind them (the proof from 2 to 5
// leaves also checks between the same roots as a proof from 2 to 6, 7 or
// 8), so a proof paired with checkpoints by root alone proves nothing.
func (c *Consistency) VerifyBetween(oldNote, newNote []byte, o Options) error {
	on, err := VerifyNote(oldNote, o)
	if err != nil {
		return prefix("old checkpoint", err)
	}
	nn, err := VerifyNote(newNote, o)
	if err != nil {
		return prefix("new checkpoint", err)
	}
	if on.Checkpoint.Origin != nn.Checkpoint.Origin {
		return invalid("the checkpoints are of two logs, %q and %q", on.Checkpoint.Origin, nn.Checkpoint.Origin)
	}
	return c.Between(on.Checkpoint, nn.Checkpoint)
}

// Between checks that c connects the checkpoints old and new, whose
// signatures the caller has verified: old_size and old_root are old's size
// and root, new_size and new_root new's, and the proof checks. Sizes are
// compared as well as roots (see [Consistency.VerifyBetween]).
func (c *Consistency) Between(old, new checkpoint.Checkpoint) error {
	if c.OldSize != old.Size || c.OldRoot != merkle.Hash(old.Root) {
		return invalid("the proof starts at size %d root %s, the old checkpoint is size %d root %s",
			c.OldSize, c.OldRoot, old.Size, merkle.Hash(old.Root))
	}
	if c.NewSize != new.Size || c.NewRoot != merkle.Hash(new.Root) {
		return invalid("the proof ends at size %d root %s, the new checkpoint is size %d root %s",
			c.NewSize, c.NewRoot, new.Size, merkle.Hash(new.Root))
	}
	return c.Verify()
}

// prefix returns err with what prepended to its message, keeping its kind.
func prefix(what string, err error) error {
	if e, ok := err.(*Error); ok {
		return &Error{kind: e.kind, msg: what + ": " + e.msg}
	}
	return invalid("%s: %v", what, err)
}
