package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Checkpoint is the checkpoint a bundle's proof leads to: the device's
// signed note and, repeated for readers, the origin, tree size and root
// hash its text holds.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   merkle.Hash
	Note   string // the complete signed note: text, blank line, signature lines
}

// Bundle is the self-contained inclusion proof of one event that `waybill
// log prove` prints. Its JSON form (see [Bundle.Marshal]) is
//
//	{"checkpoint":{"note":…,"origin":…,"root":…,"size":…},
//	 "domain":{"chain_id":…,"fleet":…},
//	 "event":{…},"inclusion":[…],"index":…,"leaf":…,"signature":…}
//
// without the line breaks: RFC 8785 canonical JSON, members sorted.
type Bundle struct {
	// Event is the RFC 8785 canonical JSON of the event object without its
	// signature: the members device, epoch, kind, payload, seq, time,
	// time_source and v. JSON "event".
	Event json.RawMessage
	// Signature is the device's EIP-712 signature of the event. JSON
	// "signature": 0x and 130 lowercase hex digits.
	Signature event.Signature
	// Leaf is the exact leaf bytes: the canonical JSON of the event object
	// with its "sig" member. JSON "leaf": standard base64.
	Leaf []byte
	// Domain is the EIP-712 domain the event and checkpoint were signed in.
	// JSON "domain": {"chain_id": integer, "fleet": string}.
	Domain signer.Domain
	// Checkpoint is the signed checkpoint the inclusion proof leads to.
	// JSON "checkpoint": {"note", "origin", "root" (base64), "size"}.
	Checkpoint Checkpoint
	// Index is the event's leaf index, equal to its seq. JSON "index".
	Index uint64
	// Inclusion is the RFC 9162 inclusion proof of leaf Index in the tree of
	// Checkpoint.Size leaves, from the leaf's sibling up. JSON "inclusion":
	// an array of base64 hashes.
	Inclusion []merkle.Hash
}

// Options are the verifier's own expectations, beyond the bundle's internal
// consistency.
type Options struct {
	// Device, if set, is the only device whose events are accepted.
	Device *event.Address
	// Fleet, if not empty, must equal the bundle's domain fleet.
	Fleet string
	// ChainID, if not zero, must equal the bundle's domain chain ID.
	ChainID uint64
	// Verifiers are note verifiers (for example the device's Ed25519 note
	// key, from the vkey that `waybill keygen` prints, parsed with
	// checkpoint.ParseVerifierKey) whose signatures must all be on the
	// checkpoint note, in addition to the device's secp256k1 signature.
	Verifiers []checkpoint.Verifier
}

// Bundle member names, in the order they are written (RFC 8785 order).
var (
	bundleMembers     = []string{"checkpoint", "domain", "event", "inclusion", "index", "leaf", "signature"}
	checkpointMembers = []string{"note", "origin", "root", "size"}
	domainMembers     = []string{"chain_id", "fleet"}
	eventMembers      = []string{"device", "epoch", "kind", "payload", "seq", "time", "time_source", "v"}
)

// KeyName is signer.KeyName, kept here for verifiers that import only this package.
func KeyName(fleet string, device event.Address) string { return signer.KeyName(fleet, device) }

// Origin is signer.Origin, kept here for verifiers that import only this package.
func Origin(fleet string, device event.Address, epoch uint32) string {
	return signer.Origin(fleet, device, epoch)
}

// splitLeaf returns the canonical JSON of a leaf without its "sig" member,
// and that member's raw value (nil if there is none).
func splitLeaf(leaf []byte) (ev []byte, sig json.RawMessage, err error) {
	if len(leaf) == 0 || leaf[0] != '{' {
		return nil, nil, errors.New("not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(leaf, &m); err != nil {
		return nil, nil, err
	}
	sig = m["sig"]
	delete(m, "sig")
	ev, err = jcs.Marshal(m)
	return ev, sig, err
}

// NewBundle builds the bundle for the event whose leaf bytes are leaf, in
// the tree of the checkpoint note, with the inclusion proof proof (as
// eventlog.Log.ProveInclusion returns it). It verifies the result with
// [Bundle.Verify] and returns an error if it does not verify.
func NewBundle(leaf []byte, domain signer.Domain, note []byte, proof []merkle.Hash) (*Bundle, error) {
	s, err := event.Parse(leaf)
	if err != nil {
		return nil, invalid("leaf: %v", err)
	}
	ev, _, err := splitLeaf(leaf)
	if err != nil {
		return nil, invalid("leaf: %v", err)
	}
	name := KeyName(domain.Fleet, s.Device)
	c, _, err := checkpoint.OpenCheckpoint(note, signer.NoteVerifier(name, s.Device, domain))
	if err != nil {
		return nil, invalid("checkpoint note: %v", err)
	}
	b := &Bundle{
		Event:     ev,
		Signature: s.Sig,
		Leaf:      bytes.Clone(leaf),
		Domain:    domain,
		Checkpoint: Checkpoint{
			Origin: c.Origin, Size: c.Size, Root: c.Root, Note: string(note),
		},
		Index:     s.Seq,
		Inclusion: append([]merkle.Hash{}, proof...),
	}
	if err := b.Verify(Options{}); err != nil {
		return nil, err
	}
	return b, nil
}

type checkpointJSON struct {
	Note   string `json:"note"`
	Origin string `json:"origin"`
	Root   string `json:"root"`
	Size   uint64 `json:"size"`
}

type domainJSON struct {
	ChainID uint64 `json:"chain_id"`
	Fleet   string `json:"fleet"`
}

type bundleJSON struct {
	Checkpoint checkpointJSON  `json:"checkpoint"`
	Domain     domainJSON      `json:"domain"`
	Event      json.RawMessage `json:"event"`
	Inclusion  []string        `json:"inclusion"`
	Index      uint64          `json:"index"`
	Leaf       string          `json:"leaf"`
	Signature  string          `json:"signature"`
}

// Marshal returns the bundle's JSON: RFC 8785 canonical (compact, members
// sorted by name: checkpoint, domain, event, inclusion, index, leaf,
// signature; inside checkpoint: note, origin, root, size; inside domain:
// chain_id, fleet), with no trailing newline. It refuses integers above
// 2^53−1 and an event that is not a JSON object, but does not otherwise
// verify the bundle.
func (b *Bundle) Marshal() ([]byte, error) {
	for _, n := range []struct {
		what string
		v    uint64
	}{{"domain chain_id", b.Domain.ChainID}, {"checkpoint size", b.Checkpoint.Size}, {"index", b.Index}} {
		if n.v > MaxSafeInteger {
			return nil, fmt.Errorf("verify: %s %d is above 2^53-1 and cannot be written exactly in JSON", n.what, n.v)
		}
	}
	if len(b.Event) == 0 || !json.Valid(b.Event) || bytes.TrimSpace(b.Event)[0] != '{' {
		return nil, errors.New("verify: bundle event is not a JSON object")
	}
	w := bundleJSON{
		Checkpoint: checkpointJSON{Note: b.Checkpoint.Note, Origin: b.Checkpoint.Origin,
			Root: b.Checkpoint.Root.String(), Size: b.Checkpoint.Size},
		Domain:    domainJSON{ChainID: b.Domain.ChainID, Fleet: b.Domain.Fleet},
		Event:     b.Event,
		Inclusion: hashStrings(b.Inclusion),
		Index:     b.Index,
		Leaf:      base64.StdEncoding.EncodeToString(b.Leaf),
		Signature: b.Signature.String(),
	}
	out, err := jcs.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("verify: marshal bundle: %w", err)
	}
	return out, nil
}

// ParseBundle parses a bundle strictly. The input must be at most [MaxSize]
// bytes of I-JSON (valid UTF-8, no duplicate member names, checked by
// RFC 8785 canonicalization); white space and member order are free, but
// every member must be present, none may be null and no unknown member is
// allowed, at any level (member names are matched exactly). Integers must be
// at most 2^53−1, base64 must be canonical standard base64 (padded, zero
// padding bits), the signature 0x and 130 lowercase hex digits, every hash
// 32 bytes, and the inclusion proof at most 64 hashes. ParseBundle verifies
// nothing; call [Bundle.Verify].
func ParseBundle(data []byte) (*Bundle, error) {
	b, err := parseBundle(data)
	if err != nil {
		return nil, malformed("%v", err)
	}
	return b, nil
}

func parseBundle(data []byte) (*Bundle, error) {
	o, err := decode("bundle", data, bundleMembers...)
	if err != nil {
		return nil, err
	}
	b := new(Bundle)

	cm, err := o.Object("checkpoint", checkpointMembers...)
	if err != nil {
		return nil, err
	}
	if b.Checkpoint.Note, err = cm.String("note"); err != nil {
		return nil, err
	}
	if b.Checkpoint.Origin, err = cm.String("origin"); err != nil {
		return nil, err
	}
	if b.Checkpoint.Root, err = hashMember(cm, "root"); err != nil {
		return nil, err
	}
	if b.Checkpoint.Size, err = cm.Uint("size", MaxSafeInteger); err != nil {
		return nil, err
	}

	dm, err := o.Object("domain", domainMembers...)
	if err != nil {
		return nil, err
	}
	if b.Domain.ChainID, err = dm.Uint("chain_id", MaxSafeInteger); err != nil {
		return nil, err
	}
	if b.Domain.Fleet, err = dm.String("fleet"); err != nil {
		return nil, err
	}

	// The event's member values are checked against the leaf by Verify;
	// here only its shape.
	if _, err := o.Object("event", eventMembers...); err != nil {
		return nil, err
	}
	b.Event = bytes.Clone(o.Raw("event")) // canonical, as decode returns it
	if b.Inclusion, err = hashesMember(o, "inclusion"); err != nil {
		return nil, err
	}
	if b.Index, err = o.Uint("index", MaxSafeInteger); err != nil {
		return nil, err
	}
	if b.Leaf, err = o.Base64("leaf"); err != nil {
		return nil, err
	}
	sig, err := o.String("signature")
	if err != nil {
		return nil, err
	}
	if b.Signature, err = event.ParseSignature(sig); err != nil {
		return nil, fmt.Errorf("%s: %v", o.Member("signature"), err)
	}
	return b, nil
}

// Verify checks the bundle and returns nil, or an error (wrapping
// [ErrInvalid]) whose one-line message names the first check that failed.
// The checks, in order:
//
//  1. the domain is valid and matches the pins o.Fleet and o.ChainID;
//  2. the leaf is a canonical event (event.Parse);
//  3. the leaf is exactly the canonical leaf of Event plus Signature (its
//     "sig" member), and Index is the event's seq;
//  4. the event is from o.Device, if pinned;
//  5. the EIP-712 signature recovers to the event's device in Domain;
//  6. the checkpoint origin is waybill/<fleet>/<device>/<epoch> for the
//     domain fleet and the event's device and epoch;
//  7. the checkpoint note carries a valid signature by the device's
//     secp256k1 note key and one by each of o.Verifiers, its text is a
//     checkpoint with no extension lines, and its origin, size and root are
//     the bundle's;
//  8. Index is less than the checkpoint size;
//  9. the inclusion proof leads from the leaf's hash to the checkpoint root.
func (b *Bundle) Verify(o Options) error {
	// 1. Domain and pins.
	if err := b.Domain.Validate(); err != nil {
		return invalid("domain: %v", err)
	}
	if o.Fleet != "" && b.Domain.Fleet != o.Fleet {
		return invalid("domain fleet is %q, not %q", b.Domain.Fleet, o.Fleet)
	}
	if o.ChainID != 0 && b.Domain.ChainID != o.ChainID {
		return invalid("domain chain_id is %d, not %d", b.Domain.ChainID, o.ChainID)
	}

	// 2. The leaf.
	s, err := event.Parse(b.Leaf)
	if err != nil {
		return invalid("leaf: %v", err)
	}

	// 3. The leaf is the event plus the signature, and nothing else.
	rebuilt := &event.Signed{Event: s.Event, Sig: b.Signature}
	want, err := rebuilt.Leaf()
	if err != nil {
		return invalid("leaf: %v", err)
	}
	ev, _, err := splitLeaf(b.Leaf)
	if err != nil {
		return invalid("leaf: %v", err)
	}
	if !bytes.Equal(want, b.Leaf) || !bytes.Equal(ev, b.Event) {
		return invalid("leaf does not match the event and signature")
	}
	if b.Index != s.Seq {
		return invalid("index %d is not the event's seq %d", b.Index, s.Seq)
	}

	// 4. Device pin.
	if o.Device != nil && s.Device != *o.Device {
		return invalid("event is from device %s, not %s", s.Device, *o.Device)
	}

	// 5. The event signature.
	got, err := signer.Recover(signer.EventDigest(b.Domain, &s.Event), s.Sig)
	if err != nil {
		return invalid("event signature: %v", err)
	}
	if got != s.Device {
		return invalid("event signature: signed by %s, not by device %s (in fleet %q on chain %d)",
			got, s.Device, b.Domain.Fleet, b.Domain.ChainID)
	}

	// 6. The origin.
	name := KeyName(b.Domain.Fleet, s.Device)
	if origin := Origin(b.Domain.Fleet, s.Device, s.Epoch); b.Checkpoint.Origin != origin {
		return invalid("origin %q does not belong to device %s in fleet %q, epoch %d (want %q)",
			b.Checkpoint.Origin, s.Device, b.Domain.Fleet, s.Epoch, origin)
	}

	// 7. The checkpoint note.
	verifiers := append([]checkpoint.Verifier{signer.NoteVerifier(name, s.Device, b.Domain)}, o.Verifiers...)
	c, n, err := checkpoint.OpenCheckpoint([]byte(b.Checkpoint.Note), verifiers...)
	if err != nil {
		return invalid("checkpoint note: %v", err)
	}
	for _, v := range verifiers {
		if !signedBy(n, v) {
			return invalid("checkpoint note: no signature by key %s+%08x", v.Name(), v.KeyID())
		}
	}
	if len(c.Extensions) > 0 {
		return invalid("checkpoint note: has %d extension lines; Waybill checkpoints have none", len(c.Extensions))
	}
	if c.Origin != b.Checkpoint.Origin || c.Size != b.Checkpoint.Size || merkle.Hash(c.Root) != b.Checkpoint.Root {
		return invalid("checkpoint note says origin %q, size %d, root %s; the bundle says %q, %d, %s",
			c.Origin, c.Size, merkle.Hash(c.Root), b.Checkpoint.Origin, b.Checkpoint.Size, b.Checkpoint.Root)
	}

	// 8, 9. The inclusion proof.
	if b.Index >= b.Checkpoint.Size {
		return invalid("index %d is not in a tree of size %d", b.Index, b.Checkpoint.Size)
	}
	if err := merkle.CheckInclusion(b.Inclusion, b.Index, b.Checkpoint.Size, merkle.LeafHash(b.Leaf), b.Checkpoint.Root); err != nil {
		return invalid("inclusion proof does not lead to the checkpoint root (%v)", err)
	}
	return nil
}

// signedBy reports whether n carries a verified signature by v's key.
func signedBy(n *checkpoint.Note, v checkpoint.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.KeyID == v.KeyID() {
			return true
		}
	}
	return false
}
