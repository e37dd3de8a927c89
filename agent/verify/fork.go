package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// The kinds of fork evidence (firmware-docs/WATCH.md §8).
const (
	// ForkEvents: two different events signed by one device under one
	// (epoch, seq).
	ForkEvents = "events"
	// ForkCheckpoints: two checkpoints signed by one device for one
	// origin that no single log explains.
	ForkCheckpoints = "checkpoints"
)

// ForkVersion is the version of the fork evidence format.
const ForkVersion = 1

// Fork is fork evidence (firmware-docs/WATCH.md §8): two artefacts signed by
// one device that no single history of its log explains, with what is
// needed to show it offline.
type Fork struct {
	// Kind is ForkEvents or ForkCheckpoints.
	Kind string
	// Origin is the log both artefacts are of: waybill/<fleet>/<device>/<epoch>.
	Origin string
	// ChainID is the chain ID of the device's signing domain.
	ChainID uint64
	// NoteKey is the verifier key of the device's Ed25519 note key, or
	// empty; when given, both checkpoint notes must carry a line by it.
	NoteKey string
	// A and B are the two artefacts. ForkEvents: two leaves. ForkCheckpoints:
	// two signed checkpoint notes, A's size at most B's; A may be empty
	// for the empty log (size 0).
	A, B []byte
	// PrefixRoot and Proof (ForkCheckpoints, A smaller than B): a
	// consistency proof from A's size to B's, built from the device's
	// signed events, that leads from PrefixRoot to B's root. PrefixRoot is
	// then the root of B's log at A's size, and A's root is not it.
	PrefixRoot merkle.Hash
	Proof      []merkle.Hash
	// Frontier and Leaves (ForkCheckpoints, A smaller than B): the
	// frontier of A's tree (merkle.Frontier.Nodes) and the device's
	// signed events from A's size up to B's. Together they give the root
	// of the log at B's size, and B's root is not it.
	Frontier []merkle.Hash
	Leaves   [][]byte
}

// forkMembers are the members of the JSON form, in RFC 8785 order.
var forkMembers = []string{"a", "b", "chain_id", "fork", "frontier", "leaves", "note_key", "origin", "prefix_root", "proof", "v"}

type forkJSON struct {
	A          string   `json:"a"`
	B          string   `json:"b"`
	ChainID    uint64   `json:"chain_id"`
	Fork       string   `json:"fork"`
	Frontier   []string `json:"frontier"`
	Leaves     []string `json:"leaves"`
	NoteKey    string   `json:"note_key"`
	Origin     string   `json:"origin"`
	PrefixRoot string   `json:"prefix_root"`
	Proof      []string `json:"proof"`
	V          int      `json:"v"`
}

// usesProof reports whether f carries the prefix-root proof.
func (f *Fork) usesProof() bool { return f.PrefixRoot != (merkle.Hash{}) || len(f.Proof) > 0 }

// Marshal returns the canonical JSON form of f (RFC 8785).
func (f *Fork) Marshal() ([]byte, error) {
	j := forkJSON{ChainID: f.ChainID, Fork: f.Kind, Frontier: hashStrings(f.Frontier), Leaves: []string{},
		NoteKey: f.NoteKey, Origin: f.Origin, Proof: hashStrings(f.Proof), V: ForkVersion}
	switch f.Kind {
	case ForkEvents:
		j.A, j.B = base64.StdEncoding.EncodeToString(f.A), base64.StdEncoding.EncodeToString(f.B)
	default:
		j.A, j.B = string(f.A), string(f.B)
	}
	if f.usesProof() {
		j.PrefixRoot = f.PrefixRoot.String()
	}
	for _, l := range f.Leaves {
		j.Leaves = append(j.Leaves, base64.StdEncoding.EncodeToString(l))
	}
	return jcs.Marshal(j)
}

// ParseFork decodes fork evidence. It refuses anything but the form
// Marshal writes (members, types, canonical base64; white space and member
// order free) and a document larger than MaxSize. Every error wraps
// ErrMalformed and names the member at fault. It checks no signature: see
// Verify.
func ParseFork(data []byte) (*Fork, error) {
	f, err := parseFork(data)
	if err != nil {
		return nil, malformed("fork evidence: %v", err)
	}
	return f, nil
}

func parseFork(data []byte) (*Fork, error) {
	o, err := decode("fork evidence", data, forkMembers...)
	if err != nil {
		return nil, err
	}
	v, err := o.Uint("v", MaxSafeInteger)
	if err != nil {
		return nil, err
	}
	if v != ForkVersion {
		return nil, fmt.Errorf("%s is %d, want %d (unsupported version)", o.Member("v"), v, ForkVersion)
	}
	f := &Fork{}
	if f.Kind, err = o.String("fork"); err != nil {
		return nil, err
	}
	if f.Kind != ForkEvents && f.Kind != ForkCheckpoints {
		return nil, fmt.Errorf("%s is %s, want %q or %q", o.Member("fork"), short(strconv.Quote(f.Kind)), ForkEvents, ForkCheckpoints)
	}
	if f.Origin, err = o.String("origin"); err != nil {
		return nil, err
	}
	if f.ChainID, err = o.Uint("chain_id", MaxSafeInteger); err != nil {
		return nil, err
	}
	if f.NoteKey, err = o.String("note_key"); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		name string
		into *[]byte
	}{{"a", &f.A}, {"b", &f.B}} {
		if f.Kind == ForkEvents {
			if *m.into, err = o.Base64(m.name); err != nil {
				return nil, err
			}
			continue
		}
		s, err := o.String(m.name)
		if err != nil {
			return nil, err
		}
		*m.into = []byte(s)
	}
	pr, err := o.String("prefix_root")
	if err != nil {
		return nil, err
	}
	if pr != "" {
		if f.PrefixRoot, err = parseHash(o.Member("prefix_root"), pr); err != nil {
			return nil, err
		}
	}
	if f.Proof, err = hashesMember(o, "proof"); err != nil {
		return nil, err
	}
	if f.Frontier, err = hashesMember(o, "frontier"); err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if r := o.Raw("leaves"); len(r) == 0 || r[0] != '[' || json.Unmarshal(r, &raw) != nil {
		return nil, fmt.Errorf("%s is not a JSON array", o.Member("leaves"))
	}
	for i, r := range raw {
		l, err := jcs.Base64Value(fmt.Sprintf("%s[%d]", o.Member("leaves"), i), r)
		if err != nil {
			return nil, err
		}
		f.Leaves = append(f.Leaves, l)
	}
	if f.Kind == ForkEvents && (pr != "" || len(f.Proof)+len(f.Frontier)+len(f.Leaves) > 0) {
		return nil, fmt.Errorf("evidence of two events has a prefix_root, proof, frontier or leaves")
	}
	return f, nil
}

// Verify checks that f proves a fork: both artefacts verify as signed by
// the device of f.Origin (in the domain of its fleet and f.ChainID, and by
// f.NoteKey and o.Verifiers for notes), o's pins hold, and the artefacts
// conflict:
//
//   - ForkEvents: A and B are leaves of f.Origin with the same seq and
//     different bytes;
//   - ForkCheckpoints: A's size is at most B's, and A and B are of the
//     same size with different roots; or the consistency proof leads from
//     PrefixRoot, which is not A's root, to B's root; or A's frontier (whose
//     root is A's root) extended by Leaves, the device's signed events of
//     seq A's size up to B's, gives a root that is not B's.
//
// It returns one sentence saying what the evidence proves. Errors wrap
// ErrInvalid, or ErrMalformed for an artefact that does not parse.
func (f *Fork) Verify(o Options) (string, error) {
	fleet, device, epoch, err := ParseOrigin(f.Origin)
	if err != nil {
		return "", err
	}
	if o.Device != nil && device != *o.Device {
		return "", invalid("fork evidence is of device %s, not %s", device, *o.Device)
	}
	if o.Fleet != "" && fleet != o.Fleet {
		return "", invalid("fork evidence is of fleet %q, not %q", fleet, o.Fleet)
	}
	if o.ChainID != 0 && f.ChainID != o.ChainID {
		return "", invalid("fork evidence is of chain %d, not %d", f.ChainID, o.ChainID)
	}
	d := signer.Domain{ChainID: f.ChainID, Fleet: fleet}
	if err := d.Validate(); err != nil {
		return "", invalid("fork evidence domain: %v", err)
	}
	if f.Kind == ForkEvents {
		return f.verifyEvents(d, device, epoch)
	}
	no := Options{Device: &device, Fleet: fleet, ChainID: f.ChainID, Verifiers: o.Verifiers}
	if f.NoteKey != "" {
		v, err := checkpoint.ParseVerifierKey(f.NoteKey)
		if err != nil {
			return "", malformed("fork evidence note_key: %v", err)
		}
		if !slices.ContainsFunc(no.Verifiers, func(p checkpoint.Verifier) bool { return p.Name() == v.Name() && p.KeyID() == v.KeyID() }) {
			no.Verifiers = append(no.Verifiers, v)
		}
	}
	return f.verifyCheckpoints(no, d, device, epoch)
}

// signedLeaf parses leaf and checks it is event seq of device's epoch,
// signed by the device in d.
func signedLeaf(what string, leaf []byte, d signer.Domain, device event.Address, epoch uint32) (*event.Signed, error) {
	s, err := event.Parse(leaf)
	if err != nil {
		return nil, malformed("%s: %v", what, err)
	}
	if s.Device != device || s.Epoch != epoch {
		return nil, invalid("%s is an event of device %s epoch %d, not of the evidence's origin", what, s.Device, s.Epoch)
	}
	if err := signer.VerifyEvent(d, s); err != nil {
		return nil, invalid("%s: %v", what, err)
	}
	return s, nil
}

func (f *Fork) verifyEvents(d signer.Domain, device event.Address, epoch uint32) (string, error) {
	a, err := signedLeaf("fork evidence a", f.A, d, device, epoch)
	if err != nil {
		return "", err
	}
	b, err := signedLeaf("fork evidence b", f.B, d, device, epoch)
	if err != nil {
		return "", err
	}
	if a.Seq != b.Seq {
		return "", invalid("fork evidence: the events are seq %d and %d, not one sequence number", a.Seq, b.Seq)
	}
	if bytes.Equal(f.A, f.B) {
		return "", invalid("fork evidence: the two events are the same bytes")
	}
	return fmt.Sprintf("device %s signed two different events under seq %d of %s (leaf hashes %s and %s)",
		device, a.Seq, f.Origin, merkle.LeafHash(f.A), merkle.LeafHash(f.B)), nil
}

func (f *Fork) verifyCheckpoints(o Options, d signer.Domain, device event.Address, epoch uint32) (string, error) {
	var a checkpoint.Checkpoint // the empty log when A is empty
	a.Root = merkle.EmptyRoot()
	if len(f.A) > 0 {
		n, err := VerifyNote(f.A, o)
		if err != nil {
			return "", prefix("fork evidence a", err)
		}
		a = n.Checkpoint
	}
	nb, err := VerifyNote(f.B, o)
	if err != nil {
		return "", prefix("fork evidence b", err)
	}
	b := nb.Checkpoint
	aRoot, bRoot := merkle.Hash(a.Root), merkle.Hash(b.Root)
	if len(f.A) > 0 && a.Origin != b.Origin || b.Origin != f.Origin {
		return "", invalid("fork evidence: the checkpoints are of %q and %q, not both of %q", a.Origin, b.Origin, f.Origin)
	}
	if a.Size > b.Size {
		return "", invalid("fork evidence: a is of size %d, larger than b's %d", a.Size, b.Size)
	}
	what := fmt.Sprintf("device %s signed checkpoints of %s of sizes %d and %d", device, f.Origin, a.Size, b.Size)
	switch {
	case a.Size == b.Size:
		if aRoot == bRoot {
			return "", invalid("fork evidence: both checkpoints of size %d have root %s", a.Size, aRoot)
		}
		return fmt.Sprintf("%s with different roots %s and %s", what, aRoot, bRoot), nil
	case f.usesProof():
		if len(f.Frontier)+len(f.Leaves) > 0 {
			return "", invalid("fork evidence has both a consistency proof and leaves")
		}
		if err := merkle.CheckConsistency(f.Proof, a.Size, b.Size, f.PrefixRoot, bRoot); err != nil {
			return "", invalid("fork evidence: the proof does not lead from prefix_root %s at size %d to b's root %s: %v", f.PrefixRoot, a.Size, bRoot, err)
		}
		if f.PrefixRoot == aRoot {
			return "", invalid("fork evidence: a's root is the root of b's log at size %d: consistent", a.Size)
		}
		return fmt.Sprintf("%s: b's log has root %s at size %d, a says %s", what, f.PrefixRoot, a.Size, aRoot), nil
	}
	fr, err := merkle.NewFrontier(a.Size, f.Frontier)
	if err != nil {
		return "", invalid("fork evidence frontier: %v", err)
	}
	if fr.Root() != aRoot {
		return "", invalid("fork evidence: the frontier's root %s is not a's root %s", fr.Root(), aRoot)
	}
	if uint64(len(f.Leaves)) != b.Size-a.Size {
		return "", invalid("fork evidence has %d leaves, want the %d events from seq %d to %d", len(f.Leaves), b.Size-a.Size, a.Size, b.Size)
	}
	for i, l := range f.Leaves {
		s, err := signedLeaf(fmt.Sprintf("fork evidence leaves[%d]", i), l, d, device, epoch)
		if err != nil {
			return "", err
		}
		if s.Seq != a.Size+uint64(i) {
			return "", invalid("fork evidence leaves[%d] is event %d, want %d", i, s.Seq, a.Size+uint64(i))
		}
		fr.Append(merkle.LeafHash(l))
	}
	if fr.Root() == bRoot {
		return "", invalid("fork evidence: a extended by the signed events gives b's root %s: consistent", bRoot)
	}
	return fmt.Sprintf("%s: a extended by the %d events the device signed gives root %s, b says %s", what, len(f.Leaves), fr.Root(), bRoot), nil
}
