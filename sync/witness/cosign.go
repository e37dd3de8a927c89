package witness

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

// maxSignatures is the most signature lines agent/checkpoint reads in one
// note.
const maxSignatures = 100

// sigPrefix starts every signature line: em dash (U+2014) and a space.
const sigPrefix = "\u2014 "

// ErrNotCheckpoint is wrapped by the errors for a signed note whose text is
// not a Waybill checkpoint.
var ErrNotCheckpoint = errors.New("note is not a checkpoint")

// ErrAlreadyCosigned is returned by [Key.Cosign] for a note that already
// carries a signature line by the witness's key.
var ErrAlreadyCosigned = errors.New("note already carries a cosignature by this key")

// ErrNoCosignature is wrapped by the error [VerifyCosignature] returns for a
// note with no signature line by the witness's key.
var ErrNoCosignature = errors.New("no cosignature by the witness key")

// ErrInvalidSignature is wrapped by the errors for a signature line by a
// known key that does not verify.
var ErrInvalidSignature = errors.New("signature does not verify")

func checkName(name string) error {
	if !checkpoint.ValidName(name) {
		return fmt.Errorf("witness: invalid key name %s", quote(name))
	}
	return nil
}

// readNote parses a signed note without verifying it and checks that its
// text is a checkpoint without extension lines. Malformed notes give an
// error wrapping checkpoint.ErrMalformed, texts that are no checkpoint one
// wrapping [ErrNotCheckpoint].
func readNote(note []byte) (*checkpoint.Note, checkpoint.Checkpoint, error) {
	// Opened with no verifier, a well-formed note is an
	// UnverifiedNoteError carrying every signature line, unchecked.
	_, err := checkpoint.Open(note)
	var ue *checkpoint.UnverifiedNoteError
	if !errors.As(err, &ue) {
		if err == nil {
			err = errors.New("note: opened without a verifier")
		}
		return nil, checkpoint.Checkpoint{}, fmt.Errorf("witness: %w", err)
	}
	n := ue.Note
	c, err := checkpoint.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, checkpoint.Checkpoint{}, fmt.Errorf("witness: %w: %w", ErrNotCheckpoint, err)
	}
	if len(c.Extensions) > 0 {
		return nil, checkpoint.Checkpoint{}, fmt.Errorf("witness: %w: checkpoint has %d extension lines; Waybill checkpoints have none (firmware-docs/PROTOCOL.md §7)",
			ErrNotCheckpoint, len(c.Extensions))
	}
	return n, c, nil
}

// Cosign returns checkpointNote with k's cosignature line, made at time now
// (truncated to the second), appended after its signature lines; every
// other byte of the note is kept as it is.
//
// Cosign refuses a note that is not a well-formed signed note whose text is
// a checkpoint without extension lines, a note that already carries a line
// by k ([ErrAlreadyCosigned]), a note with no room for one more line (100
// lines, [checkpoint.MaxNoteSize] bytes) and a time before the Unix epoch.
//
// Cosign verifies no signature and checks no consistency. The caller must
// have verified the device's signatures and that the checkpoint is
// consistent with everything it has seen of the checkpoint's origin: that
// is what the cosignature states (see the package documentation).
func (k *Key) Cosign(checkpointNote []byte, now time.Time) ([]byte, error) {
	n, _, err := readNote(checkpointNote)
	if err != nil {
		return nil, err
	}
	sigs := n.Unverified // all of them: readNote verifies none
	for _, s := range sigs {
		if s.Name == k.name && s.KeyID == k.id {
			return nil, fmt.Errorf("witness: %w (%s+%08x)", ErrAlreadyCosigned, k.name, k.id)
		}
	}
	if len(sigs) >= maxSignatures {
		return nil, fmt.Errorf("witness: note already has %d signature lines, the most a note may carry", len(sigs))
	}
	t := now.Unix()
	if t < 0 {
		return nil, fmt.Errorf("witness: cosignature time %v is before the Unix epoch", now.UTC())
	}
	ts := uint64(t)
	raw := make([]byte, 0, 4+sigSize)
	raw = binary.BigEndian.AppendUint32(raw, k.id)
	raw = binary.BigEndian.AppendUint64(raw, ts)
	raw = append(raw, ed25519.Sign(k.priv, Message([]byte(n.Text), ts))...)

	out := make([]byte, 0, len(checkpointNote)+len(sigPrefix)+len(k.name)+1+base64.StdEncoding.EncodedLen(len(raw))+1)
	out = append(out, checkpointNote...)
	out = append(out, sigPrefix...)
	out = append(out, k.name...)
	out = append(out, ' ')
	out = base64.StdEncoding.AppendEncode(out, raw)
	out = append(out, '\n')
	if len(out) > checkpoint.MaxNoteSize {
		return nil, fmt.Errorf("witness: cosigned note would be %d bytes, more than %d", len(out), checkpoint.MaxNoteSize)
	}
	return out, nil
}

// VerifyCosignature verifies the cosignature of the witness whose verifier
// key is vkey on a signed checkpoint note and returns its time (UTC). The
// note must be well-formed and its text a checkpoint without extension
// lines. A note without a line by the key gives an error wrapping
// [ErrNoCosignature]; a line that does not verify, one wrapping
// [ErrInvalidSignature]. Other signature lines, the device's included, are
// not checked.
func VerifyCosignature(note []byte, vkey string) (time.Time, error) {
	v, err := ParseVerifierKey(vkey)
	if err != nil {
		return time.Time{}, err
	}
	return v.VerifyNote(note)
}

// VerifyNote is [VerifyCosignature] with a parsed verifier key.
func (v *Verifier) VerifyNote(note []byte) (time.Time, error) {
	n, _, err := readNote(note)
	if err != nil {
		return time.Time{}, err
	}
	for _, s := range n.Unverified {
		if s.Name != v.name || s.KeyID != v.id {
			continue
		}
		t, ok := v.verify([]byte(n.Text), s.Sig)
		if !ok {
			return time.Time{}, fmt.Errorf("witness: cosignature by %s+%08x: %w", v.name, v.id, ErrInvalidSignature)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("witness: %w %s+%08x", ErrNoCosignature, v.name, v.id)
}
