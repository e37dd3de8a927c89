package anchor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// EvidenceVersion is the version of the evidence format, its member "v".
const EvidenceVersion = 1

// MaxEvidenceSize is the largest evidence document ParseEvidence reads.
const MaxEvidenceSize = 1 << 20

// maxSafeInt is the largest integer an I-JSON number holds exactly.
const maxSafeInt = 1<<53 - 1

// Evidence is what proves, with no remote service left, that a checkpoint
// was anchored: the checkpoint and its signed note, the signed transaction
// that carried it, and the block and receipt that included it. Its JSON
// form is specified in firmware-docs/ANCHORING.md.
type Evidence struct {
	// Origin, Size and Root are the anchored checkpoint's; Note is the
	// signed checkpoint note.
	Origin string
	Size   uint64
	Root   merkle.Hash
	Note   []byte
	// PrevSize and PrevRoot are the previously anchored checkpoint of the
	// same origin (PrevSize 0 if none) and Consistency the RFC 9162 §2.1.4
	// proof from it to this one.
	PrevSize    uint64
	PrevRoot    merkle.Hash
	Consistency []merkle.Hash
	// Ledger is the CAIP-2 chain id, TxHash the transaction's hash and RawTx
	// the signed transaction as the ledger received it.
	Ledger string
	TxHash Hash
	RawTx  []byte
	// BlockNumber and BlockHash name the including block, final by the
	// chain's rule when the evidence was taken; Receipt is the ledger's
	// JSON receipt, canonicalized (RFC 8785).
	BlockNumber uint64
	BlockHash   Hash
	Receipt     json.RawMessage
}

type evidenceJSON struct {
	BlockHash   *Hash           `json:"block_hash"`
	BlockNumber *uint64         `json:"block_number"`
	Consistency []b64Hash       `json:"consistency,omitempty"`
	Ledger      *string         `json:"ledger"`
	Note        *string         `json:"note"`
	Origin      *string         `json:"origin"`
	PrevRoot    *b64Hash        `json:"prev_root,omitempty"`
	PrevSize    *uint64         `json:"prev_size"`
	RawTx       *hexBytes       `json:"raw_tx"`
	Receipt     json.RawMessage `json:"receipt"`
	Root        *b64Hash        `json:"root"`
	Size        *uint64         `json:"size"`
	TxHash      *Hash           `json:"tx_hash"`
	V           *int            `json:"v"`
}

// Evidence returns the evidence of a confirmed anchor.
func (an *Anchor) Evidence() (*Evidence, error) {
	if an.State != StateConfirmed {
		return nil, fmt.Errorf("anchor %d is %s, not confirmed", an.ID, an.State)
	}
	at := an.Attempts[an.Included]
	receipt, err := jcs.Canonicalize(an.Receipt)
	if err != nil {
		return nil, fmt.Errorf("anchor %d: receipt: %w", an.ID, err)
	}
	return &Evidence{
		Origin: an.Origin, Size: an.Size, Root: an.Root, Note: append([]byte(nil), an.Note...),
		PrevSize: an.PrevSize, PrevRoot: an.PrevRoot, Consistency: append([]merkle.Hash(nil), an.Consistency...),
		Ledger: at.Ledger, TxHash: at.Hash, RawTx: append([]byte(nil), at.Raw...),
		BlockNumber: an.BlockNumber, BlockHash: an.BlockHash, Receipt: receipt,
	}, nil
}

// Format returns the canonical JSON (RFC 8785) of e, without a trailing
// newline.
func (e *Evidence) Format() ([]byte, error) {
	v := EvidenceVersion
	ledger, note, origin := e.Ledger, string(e.Note), e.Origin
	root, raw := b64Hash(e.Root), hexBytes(e.RawTx)
	j := evidenceJSON{
		BlockHash: &e.BlockHash, BlockNumber: &e.BlockNumber, Ledger: &ledger, Note: &note,
		Origin: &origin, PrevSize: &e.PrevSize, RawTx: &raw, Receipt: e.Receipt, Root: &root,
		Size: &e.Size, TxHash: &e.TxHash, V: &v,
	}
	if e.PrevSize > 0 {
		pr := b64Hash(e.PrevRoot)
		j.PrevRoot = &pr
		j.Consistency = b64Hashes(e.Consistency)
		if j.Consistency == nil {
			j.Consistency = []b64Hash{}
		}
	}
	return jcs.Marshal(j)
}

// ParseEvidence parses an evidence document. It accepts any member order
// and white space, and refuses a document over MaxEvidenceSize, one that is
// not I-JSON, one with a missing, null or unknown member, a value in a form
// Format would not write, or a version other than EvidenceVersion. It does
// not check the evidence itself: see Check.
func ParseEvidence(b []byte) (*Evidence, error) {
	if len(b) > MaxEvidenceSize {
		return nil, fmt.Errorf("evidence: %d bytes, more than %d", len(b), MaxEvidenceSize)
	}
	canon, err := jcs.Canonicalize(b)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(canon, &m); err != nil {
		return nil, fmt.Errorf("evidence: not a JSON object: %w", err)
	}
	var j evidenceJSON
	fields := []struct {
		name     string
		v        any
		optional bool
	}{
		{"block_hash", &j.BlockHash, false}, {"block_number", &j.BlockNumber, false},
		{"consistency", &j.Consistency, true}, {"ledger", &j.Ledger, false}, {"note", &j.Note, false},
		{"origin", &j.Origin, false}, {"prev_root", &j.PrevRoot, true}, {"prev_size", &j.PrevSize, false},
		{"raw_tx", &j.RawTx, false}, {"receipt", &j.Receipt, false}, {"root", &j.Root, false},
		{"size", &j.Size, false}, {"tx_hash", &j.TxHash, false}, {"v", &j.V, false},
	}
	for _, f := range fields {
		raw, ok := m[f.name]
		delete(m, f.name)
		if !ok && f.optional {
			continue
		}
		if !ok || string(raw) == "null" {
			return nil, fmt.Errorf("evidence: member %q is missing or null", f.name)
		}
		if err := strictUnmarshal(raw, f.v); err != nil {
			return nil, fmt.Errorf("evidence: member %q: %w", f.name, err)
		}
	}
	if len(m) > 0 {
		names := slices.Sorted(maps.Keys(m))
		return nil, fmt.Errorf("evidence: unknown member %q", names[0])
	}
	if *j.V != EvidenceVersion {
		return nil, fmt.Errorf("evidence: version %d, want %d", *j.V, EvidenceVersion)
	}
	if j.Receipt[0] != '{' {
		return nil, fmt.Errorf("evidence: member \"receipt\" is not an object")
	}
	if (*j.PrevSize > 0) != (j.PrevRoot != nil) || (*j.PrevSize > 0) != (j.Consistency != nil) {
		return nil, fmt.Errorf("evidence: members \"prev_root\" and \"consistency\" must be present exactly when prev_size is not 0")
	}
	for _, n := range []struct {
		name string
		v    uint64
	}{{"block_number", *j.BlockNumber}, {"prev_size", *j.PrevSize}, {"size", *j.Size}} {
		if n.v > maxSafeInt {
			return nil, fmt.Errorf("evidence: member %q is %d, more than 2^53-1", n.name, n.v)
		}
	}
	e := &Evidence{
		Origin: *j.Origin, Size: *j.Size, Root: merkle.Hash(*j.Root), Note: []byte(*j.Note),
		PrevSize: *j.PrevSize, Consistency: merkleHashes(j.Consistency),
		Ledger: *j.Ledger, TxHash: *j.TxHash, RawTx: *j.RawTx,
		BlockNumber: *j.BlockNumber, BlockHash: *j.BlockHash, Receipt: j.Receipt,
	}
	if j.PrevRoot != nil {
		e.PrevRoot = merkle.Hash(*j.PrevRoot)
	}
	again, err := e.Format()
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if !bytes.Equal(again, canon) {
		return nil, fmt.Errorf("evidence: not in the form Format writes")
	}
	return e, nil
}

// Check verifies what the evidence proves without the ledger: the note is a
// well-formed signed note whose text is exactly the checkpoint of Origin,
// Size and Root (PROTOCOL.md §7, no extension lines); the consistency proof
// leads from the previous anchored checkpoint to it; the receipt is a JSON
// object; the ledger is named. It does not verify the note's signatures
// (open the note with the device's verifier, PROTOCOL.md §7) nor the
// transaction, which is ledger-specific (sync/anchor/evmtx.VerifyEvidence
// for EVM chains).
func (e *Evidence) Check() error {
	c, err := noteCheckpoint(e.Note)
	if err != nil {
		return fmt.Errorf("evidence: note: %w", err)
	}
	if c.Origin != e.Origin || c.Size != e.Size || c.Root != e.Root {
		return fmt.Errorf("evidence: note is the checkpoint of %q size %d root %s, not of %q size %d root %s",
			c.Origin, c.Size, merkle.Hash(c.Root), e.Origin, e.Size, e.Root)
	}
	if len(c.Extensions) > 0 {
		return fmt.Errorf("evidence: note has extension lines")
	}
	if e.PrevSize > 0 {
		if err := merkle.CheckConsistency(e.Consistency, e.PrevSize, e.Size, e.PrevRoot, e.Root); err != nil {
			return fmt.Errorf("evidence: consistency from size %d to %d: %w", e.PrevSize, e.Size, err)
		}
	}
	if e.Ledger == "" {
		return errors.New("evidence: no ledger named")
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal(e.Receipt, &r); err != nil {
		return fmt.Errorf("evidence: receipt: %w", err)
	}
	return nil
}

// noteCheckpoint parses a signed checkpoint note without verifying its
// signatures.
func noteCheckpoint(note []byte) (checkpoint.Checkpoint, error) {
	_, err := checkpoint.Open(note)
	var u *checkpoint.UnverifiedNoteError
	if !errors.As(err, &u) {
		if err == nil {
			err = errors.New("note opened with no verifier") // cannot happen: no verifier was given
		}
		return checkpoint.Checkpoint{}, err
	}
	return checkpoint.ParseCheckpoint([]byte(u.Note.Text))
}

// strictUnmarshal decodes one JSON value into v, refusing unknown members
// and trailing data.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
