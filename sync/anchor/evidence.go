package anchor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// EvidenceVersion is the version of the evidence format Format writes, its
// member "v". Version 2 added chain_id, payload, to and endpoint; version 1
// (without them) is still read, and written for anchors recorded before the
// store kept them.
const EvidenceVersion = 2

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
	// Version is the format's version: 2, or 1 for evidence without the
	// members below.
	Version int
	// ChainID is the EIP-155 chain ID of Ledger ("eip155:<ChainID>").
	// Payload is what the transaction carries (PayloadNote,
	// PayloadRegistry, PayloadEBSI), To its destination (0x and 40
	// lowercase hex digits: the account of the plain note payload, the
	// registry contract, the EBSI Timestamp contract) and Endpoint the API
	// it was built through (the EBSI Timestamp API URL; "" otherwise).
	ChainID  uint64
	Payload  string
	To       string
	Endpoint string
}

type evidenceJSON struct {
	BlockHash   *Hash           `json:"block_hash"`
	BlockNumber *uint64         `json:"block_number"`
	ChainID     *uint64         `json:"chain_id,omitempty"`
	Consistency []b64Hash       `json:"consistency,omitempty"`
	Endpoint    *string         `json:"endpoint,omitempty"`
	Ledger      *string         `json:"ledger"`
	Note        *string         `json:"note"`
	Origin      *string         `json:"origin"`
	Payload     *string         `json:"payload,omitempty"`
	PrevRoot    *b64Hash        `json:"prev_root,omitempty"`
	PrevSize    *uint64         `json:"prev_size"`
	RawTx       *hexBytes       `json:"raw_tx"`
	Receipt     json.RawMessage `json:"receipt"`
	Root        *b64Hash        `json:"root"`
	Size        *uint64         `json:"size"`
	To          *string         `json:"to,omitempty"`
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
	e := &Evidence{
		Origin: an.Origin, Size: an.Size, Root: an.Root, Note: append([]byte(nil), an.Note...),
		PrevSize: an.PrevSize, PrevRoot: an.PrevRoot, Consistency: append([]merkle.Hash(nil), an.Consistency...),
		Ledger: at.Ledger, TxHash: at.Hash, RawTx: append([]byte(nil), at.Raw...),
		BlockNumber: an.BlockNumber, BlockHash: an.BlockHash, Receipt: receipt, Version: 1,
	}
	if at.Payload != "" {
		id, err := ledgerChainID(at.Ledger)
		if err != nil {
			return nil, fmt.Errorf("anchor %d: %w", an.ID, err)
		}
		e.Version, e.ChainID, e.Payload, e.To, e.Endpoint = EvidenceVersion, id, at.Payload, at.To, at.Endpoint
	}
	return e, nil
}

// ledgerChainID returns the chain ID of a CAIP-2 "eip155:<chain id>" ledger.
func ledgerChainID(ledger string) (uint64, error) {
	s, ok := strings.CutPrefix(ledger, "eip155:")
	id, err := strconv.ParseUint(s, 10, 64)
	if !ok || err != nil || id == 0 || id > maxSafeInt || strconv.FormatUint(id, 10) != s {
		return 0, fmt.Errorf("ledger %q is not eip155:<chain id> with a chain id from 1 to 2^53-1", ledger)
	}
	return id, nil
}

// validAddress reports whether s is 0x and 40 lowercase hex digits.
func validAddress(s string) bool {
	h, ok := strings.CutPrefix(s, "0x")
	return ok && len(h) == 40 && strings.Trim(h, "0123456789abcdef") == ""
}

// Format returns the canonical JSON (RFC 8785) of e, without a trailing
// newline.
func (e *Evidence) Format() ([]byte, error) {
	v := e.Version
	if v == 0 {
		v = EvidenceVersion
	}
	ledger, note, origin := e.Ledger, string(e.Note), e.Origin
	root, raw := b64Hash(e.Root), hexBytes(e.RawTx)
	j := evidenceJSON{
		BlockHash: &e.BlockHash, BlockNumber: &e.BlockNumber, Ledger: &ledger, Note: &note,
		Origin: &origin, PrevSize: &e.PrevSize, RawTx: &raw, Receipt: e.Receipt, Root: &root,
		Size: &e.Size, TxHash: &e.TxHash, V: &v,
	}
	if v >= 2 {
		id, payload, to := e.ChainID, e.Payload, e.To
		j.ChainID, j.Payload, j.To = &id, &payload, &to
		if e.Endpoint != "" {
			ep := e.Endpoint
			j.Endpoint = &ep
		}
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

// ParseEvidence parses an evidence document of version 1 or 2. It accepts
// any member order and white space between tokens, and refuses a document
// over MaxEvidenceSize, one that is not I-JSON, a string or number not
// spelled as RFC 8785 writes it (jcs.CheckSpelling), one with a missing,
// null or unknown member, a value in a form Format would not write, or
// another version. It does not check the evidence itself: see Check.
func ParseEvidence(b []byte) (*Evidence, error) {
	if len(b) > MaxEvidenceSize {
		return nil, fmt.Errorf("evidence: %d bytes, more than %d", len(b), MaxEvidenceSize)
	}
	canon, err := jcs.Canonicalize(b)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if err := jcs.CheckSpelling(b); err != nil {
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
		{"chain_id", &j.ChainID, true}, {"consistency", &j.Consistency, true}, {"endpoint", &j.Endpoint, true},
		{"ledger", &j.Ledger, false}, {"note", &j.Note, false},
		{"origin", &j.Origin, false}, {"payload", &j.Payload, true}, {"prev_root", &j.PrevRoot, true}, {"prev_size", &j.PrevSize, false},
		{"raw_tx", &j.RawTx, false}, {"receipt", &j.Receipt, false}, {"root", &j.Root, false},
		{"size", &j.Size, false}, {"to", &j.To, true}, {"tx_hash", &j.TxHash, false}, {"v", &j.V, false},
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
	switch *j.V {
	case 1:
		for _, m := range []struct {
			name    string
			present bool
		}{{"chain_id", j.ChainID != nil}, {"endpoint", j.Endpoint != nil}, {"payload", j.Payload != nil}, {"to", j.To != nil}} {
			if m.present {
				return nil, fmt.Errorf("evidence: member %q is not part of version 1", m.name)
			}
		}
	case 2:
		for _, m := range []struct {
			name    string
			present bool
		}{{"chain_id", j.ChainID != nil}, {"payload", j.Payload != nil}, {"to", j.To != nil}} {
			if !m.present {
				return nil, fmt.Errorf("evidence: member %q is missing or null", m.name)
			}
		}
	default:
		return nil, fmt.Errorf("evidence: version %d, want 1 or 2", *j.V)
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
		BlockNumber: *j.BlockNumber, BlockHash: *j.BlockHash, Receipt: j.Receipt, Version: *j.V,
	}
	if *j.V >= 2 {
		e.ChainID, e.Payload, e.To = *j.ChainID, *j.Payload, *j.To
		if j.Endpoint != nil {
			e.Endpoint = *j.Endpoint
		}
		if err := e.checkDestination(); err != nil {
			return nil, err
		}
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

// checkDestination checks the version 2 members: the chain ID is the
// ledger's, the payload is a known one, to is an address, and the endpoint
// is present exactly for EBSI.
func (e *Evidence) checkDestination() error {
	id, err := ledgerChainID(e.Ledger)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if e.ChainID != id {
		return fmt.Errorf("evidence: chain_id %d, but ledger is %q", e.ChainID, e.Ledger)
	}
	switch e.Payload {
	case PayloadNote, PayloadRegistry, PayloadEBSI:
	default:
		return fmt.Errorf("evidence: payload %q is not %q, %q or %q", e.Payload, PayloadNote, PayloadRegistry, PayloadEBSI)
	}
	if !validAddress(e.To) {
		return fmt.Errorf("evidence: to %q is not 0x and 40 lowercase hex digits", e.To)
	}
	if (e.Payload == PayloadEBSI) != (e.Endpoint != "") {
		return fmt.Errorf("evidence: endpoint must be present exactly when payload is %q", PayloadEBSI)
	}
	if e.Endpoint != "" {
		if u, err := url.Parse(e.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("evidence: endpoint %q is not an http(s) URL", e.Endpoint)
		}
	}
	return nil
}

// Check verifies what the evidence proves without the ledger: the note is a
// well-formed signed note whose text is exactly the checkpoint of Origin,
// Size and Root (PROTOCOL.md §7, no extension lines); the consistency proof
// leads from (PrevSize, PrevRoot) to it; the receipt is a JSON object; the
// ledger is named and, in version 2, agrees with the chain ID, payload and
// destination members. It does not verify the note's signatures (open the
// note with the device's verifier, PROTOCOL.md §7) nor the transaction,
// which is ledger-specific (sync/anchor/evmtx.VerifyEvidence for EVM
// chains).
//
// PrevSize and PrevRoot are not signed by anything in the evidence: the
// proof shows only that some tree of PrevSize leaves with root PrevRoot is
// a prefix of the anchored one. A verifier that relies on the previous
// checkpoint must pair them, by size and by root, with a checkpoint it has
// verified itself (the previous anchor's evidence, or a signed note).
func (e *Evidence) Check() error {
	if e.Version >= 2 {
		if err := e.checkDestination(); err != nil {
			return err
		}
	}
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

// Extends checks that the evidence's previous checkpoint is prev, a
// checkpoint whose signature the caller has verified (the previous anchor's
// evidence note, or a note from the feed): same origin, PrevSize equal to
// its size and PrevRoot to its root, and the consistency proof from there
// to this checkpoint checks. Both size and root are compared: PrevSize and
// PrevRoot are signed by nothing in the evidence, and an RFC 9162
// consistency proof does not bind sizes (PROTOCOL.md §9).
func (e *Evidence) Extends(prev checkpoint.Checkpoint) error {
	if e.PrevSize == 0 {
		return fmt.Errorf("evidence: anchors the first checkpoint of %q; it extends no earlier anchor", e.Origin)
	}
	if prev.Origin != e.Origin || prev.Size != e.PrevSize || merkle.Hash(prev.Root) != e.PrevRoot {
		return fmt.Errorf("evidence: prev_size %d prev_root %s of %q are not the checkpoint of %q size %d root %s",
			e.PrevSize, e.PrevRoot, e.Origin, prev.Origin, prev.Size, merkle.Hash(prev.Root))
	}
	if err := merkle.CheckConsistency(e.Consistency, e.PrevSize, e.Size, e.PrevRoot, e.Root); err != nil {
		return fmt.Errorf("evidence: consistency from size %d to %d: %w", e.PrevSize, e.Size, err)
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
