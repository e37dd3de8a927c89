// Package event defines Waybill's event: its fields, its kinds and payload
// schemas, and its one canonical byte form, which is also the leaf hashed into
// the log's Merkle tree.
//
// The byte form is the RFC 8785 (JCS) canonical JSON of the signed event
// object; see firmware-docs/PROTOCOL.md §2 and §6. An event has exactly one byte form:
// Parse refuses anything that is not already canonical.
package event

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/agent/jcs"
)

// Version is the value of the "v" field of every event this package writes.
const Version = 1

// MaxSeq is the largest sequence number or time an event may carry: JSON
// numbers are IEEE-754 doubles under RFC 8785, exact only up to 2^53−1.
const MaxSeq = 1<<53 - 1

// MaxPayload is the largest canonical payload, in bytes.
const MaxPayload = 8 << 10

// MaxString is the longest value of a string field of a registered kind's
// schema, in bytes of UTF-8 once unescaped.
const MaxString = 1024

// MaxLeaf is the largest leaf (canonical signed event), in bytes.
const MaxLeaf = MaxPayload + 1024

// MaxPayloadDepth is the deepest a payload may nest arrays and objects: the
// payload object is level 1, an object or array inside it level 2. A proof
// bundle (firmware-docs/PROTOCOL.md §8) holds the payload two levels down,
// so this keeps every document that carries an event within jcs.MaxDepth,
// the nesting every reader of canonical JSON accepts.
const MaxPayloadDepth = jcs.MaxDepth - 2

// TimeFloor is the protocol's sane-time floor: an event whose time source is
// not "unsynced" never carries a time before it (2025-01-01T00:00:00Z).
// Devices use the later of this and their build date.
var TimeFloor = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TimeSource names the clock an event's time came from.
type TimeSource string

// The time sources, best first.
const (
	SourceGNSS     TimeSource = "gnss"     // GNSS receiver UTC
	SourceNTP      TimeSource = "ntp"      // kernel clock disciplined by NTP
	SourceRTC      TimeSource = "rtc"      // battery-backed real-time clock
	SourceUnsynced TimeSource = "unsynced" // none of the above; may be 1970
)

// Rank orders sources: a higher rank is a better clock. Unknown sources rank −1.
func (s TimeSource) Rank() int {
	switch s {
	case SourceGNSS:
		return 3
	case SourceNTP:
		return 2
	case SourceRTC:
		return 1
	case SourceUnsynced:
		return 0
	}
	return -1
}

// Valid reports whether s is one of the four sources.
func (s TimeSource) Valid() bool { return s.Rank() >= 0 }

// Address is a 20-byte device address (the Ethereum address of its
// secp256k1 key). Its text form is 0x and 40 lowercase hex digits.
type Address [20]byte

// String returns the canonical text form.
func (a Address) String() string { return "0x" + hex.EncodeToString(a[:]) }

// ParseAddress parses the canonical text form: 0x and 40 lowercase hex digits.
func ParseAddress(s string) (Address, error) {
	var a Address
	if err := parseHex(s, a[:]); err != nil {
		return a, fmt.Errorf("address: %w", err)
	}
	return a, nil
}

// Signature is a 65-byte secp256k1 signature r || s || v, with v 27 or 28 as
// ecrecover expects and s in the lower half of the curve order.
type Signature [65]byte

// String returns 0x and 130 lowercase hex digits.
func (s Signature) String() string { return "0x" + hex.EncodeToString(s[:]) }

// ParseSignature parses the canonical text form of a signature.
func ParseSignature(s string) (Signature, error) {
	var sig Signature
	if err := parseHex(s, sig[:]); err != nil {
		return sig, fmt.Errorf("signature: %w", err)
	}
	return sig, nil
}

func parseHex(s string, dst []byte) error {
	if !strings.HasPrefix(s, "0x") {
		return fmt.Errorf("%q does not start with 0x", s)
	}
	h := s[2:]
	if len(h) != 2*len(dst) {
		return fmt.Errorf("%q has %d hex digits, want %d", s, len(h), 2*len(dst))
	}
	if strings.ToLower(h) != h {
		return fmt.Errorf("%q is not lowercase hex", s)
	}
	if _, err := hex.Decode(dst, []byte(h)); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	return nil
}

// Event is an unsigned event. Seq is its 0-based leaf index in the log of
// its epoch; Time is Unix milliseconds from Source.
type Event struct {
	Device  Address
	Epoch   uint32
	Seq     uint64
	Time    int64
	Source  TimeSource
	Kind    Kind
	Payload []byte // canonical JSON object (RFC 8785)
}

// Signed is an event with the device's signature over its EIP-712 digest.
type Signed struct {
	Event
	Sig Signature
}

// ErrInvalid is wrapped by every error that rejects an event's content.
var ErrInvalid = errors.New("invalid event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks every field of e: its kind is known, its payload is a
// canonical JSON object of at most MaxPayload bytes, nested at most
// MaxPayloadDepth levels, that satisfies the kind's schema, its numbers fit
// and its time is not before TimeFloor unless its source is unsynced.
func (e *Event) Validate() error {
	if e.Seq > MaxSeq {
		return invalid("seq %d exceeds %d", e.Seq, uint64(MaxSeq))
	}
	if e.Time < 0 || e.Time > MaxSeq {
		return invalid("time %d is out of range", e.Time)
	}
	if !e.Source.Valid() {
		return invalid("unknown time source %q (want gnss, ntp, rtc or unsynced)", e.Source)
	}
	if e.Source != SourceUnsynced && e.Time < TimeFloor.UnixMilli() {
		return invalid("time %s from %s is before the floor %s; such a time must be marked unsynced",
			time.UnixMilli(e.Time).UTC().Format(time.RFC3339), e.Source, TimeFloor.Format(time.RFC3339))
	}
	if len(e.Payload) > MaxPayload {
		return invalid("payload is %d bytes, limit %d", len(e.Payload), MaxPayload)
	}
	c, err := jcs.Canonicalize(e.Payload)
	if err != nil {
		return invalid("payload: %v", err)
	}
	if !bytes.Equal(c, e.Payload) {
		return invalid("payload is not canonical JSON (RFC 8785)")
	}
	if d, _ := nesting(e.Payload); d > MaxPayloadDepth {
		return invalid("payload nests %d levels deep, more than the limit of %d", d, MaxPayloadDepth)
	}
	return e.Kind.check(e.Payload)
}

// Fields of the canonical object, in the order RFC 8785 sorts them.
type wire struct {
	Device     string          `json:"device"`
	Epoch      uint32          `json:"epoch"`
	Kind       string          `json:"kind"`
	Payload    json.RawMessage `json:"payload"`
	Seq        uint64          `json:"seq"`
	Sig        string          `json:"sig"`
	Time       int64           `json:"time"`
	TimeSource string          `json:"time_source"`
	V          int             `json:"v"`
}

// Leaf returns the canonical byte form of the signed event: the RFC 8785
// canonical JSON object with the members device, epoch, kind, payload, seq,
// sig, time, time_source and v, in that (sorted) order. These are the leaf
// bytes of the Merkle tree.
func (s *Signed) Leaf() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s.appendLeaf(make([]byte, 0, 256+len(s.Payload))), nil
}

// LeafOfValid returns the leaf bytes of an event that has already passed
// Validate (as every event signer.SignEvent returns has), without checking
// it again. On any other event its result is undefined.
func (s *Signed) LeafOfValid() []byte {
	return s.appendLeaf(make([]byte, 0, 256+len(s.Payload)))
}

// appendLeaf writes the canonical form directly: every member value is
// already canonical (kind and time_source are plain ASCII names, numbers are
// integers below 2^53 printed in decimal, the payload was checked canonical
// by Validate), so no re-encoding is needed. TestLeaf_Canonical holds it to
// jcs.Canonicalize.
func (s *Signed) appendLeaf(b []byte) []byte {
	b = append(b, `{"device":"0x`...)
	b = hex.AppendEncode(b, s.Device[:])
	b = append(b, `","epoch":`...)
	b = strconv.AppendUint(b, uint64(s.Epoch), 10)
	b = append(b, `,"kind":"`...)
	b = append(b, s.Kind...)
	b = append(b, `","payload":`...)
	b = append(b, s.Payload...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = append(b, `,"sig":"0x`...)
	b = hex.AppendEncode(b, s.Sig[:])
	b = append(b, `","time":`...)
	b = strconv.AppendInt(b, s.Time, 10)
	b = append(b, `,"time_source":"`...)
	b = append(b, s.Source...)
	b = append(b, `","v":`...)
	b = strconv.AppendInt(b, Version, 10)
	return append(b, '}')
}

// Parse decodes leaf bytes into a signed event. It accepts only the exact
// canonical form Leaf writes: any other spelling of the same event is an
// error. It does not check the signature (see agent/signer).
func Parse(leaf []byte) (*Signed, error) {
	if len(leaf) > MaxLeaf {
		return nil, invalid("leaf is %d bytes, limit %d", len(leaf), MaxLeaf)
	}
	if !jcs.IsCanonical(leaf) {
		if _, err := jcs.Canonicalize(leaf); err != nil {
			return nil, invalid("leaf is not valid JSON: %v", err)
		}
		return nil, invalid("leaf is not in canonical form (RFC 8785)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(leaf, &raw); err != nil {
		return nil, invalid("leaf is not a JSON object: %v", err)
	}
	for _, k := range []string{"device", "epoch", "kind", "payload", "seq", "sig", "time", "time_source", "v"} {
		if _, ok := raw[k]; !ok {
			return nil, invalid("leaf has no %q member", k)
		}
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(leaf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, invalid("leaf: %v", err)
	}
	if w.V != Version {
		return nil, invalid("unsupported event version %d (want %d)", w.V, Version)
	}
	s := &Signed{Event: Event{Epoch: w.Epoch, Seq: w.Seq, Time: w.Time,
		Source: TimeSource(w.TimeSource), Kind: Kind(w.Kind), Payload: []byte(w.Payload)}}
	var err error
	if s.Device, err = ParseAddress(w.Device); err != nil {
		return nil, invalid("device %v", err)
	}
	if s.Sig, err = ParseSignature(w.Sig); err != nil {
		return nil, invalid("sig %v", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	// The decoder matches member names case-insensitively; only the exact
	// bytes Leaf would write are this event's leaf.
	if !bytes.Equal(s.appendLeaf(make([]byte, 0, len(leaf))), leaf) {
		return nil, invalid("leaf is not in canonical form (member names or order)")
	}
	return s, nil
}

// Kind names what happened. The registered kinds are the Kind constants,
// each with a payload schema (see Lookup) and a payload type (see New);
// kinds beginning with "x_" are extensions whose payload is any JSON
// object.
type Kind string

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// Known reports whether k is a registered kind or a well-formed extension.
func (k Kind) Known() bool {
	if _, ok := registry[k]; ok {
		return true
	}
	return strings.HasPrefix(string(k), "x_") && kindRE.MatchString(string(k))
}
