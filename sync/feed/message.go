package feed

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Version is the feed format version: the "v" member of every event
// message and the "v1" in every topic.
const Version = 1

// TopicRoot is the first two levels of every feed topic.
const TopicRoot = "waybill/v1"

// MaxMessage is the largest event message ParseMessage reads, in bytes. The
// largest valid message (a leaf of event.MaxLeaf bytes, base64 encoded, and
// the longest origin) is about 12.5 KiB.
const MaxMessage = 16 << 10

// The payloads of the status topic.
const (
	StatusOnline  = "online"  // published (retained) once connected
	StatusOffline = "offline" // the last will, and published before a clean disconnect
)

// The last level of each feed topic.
const (
	ChannelEvents      = "events"
	ChannelCheckpoints = "checkpoints"
	ChannelStatus      = "status"
	ChannelAnchors     = "anchors"
	ChannelDomain      = "domain"
)

// ErrMalformed is wrapped by every error that refuses a feed message or
// topic as text: too large, not strict canonical JSON, a missing or unknown
// member, a value of the wrong type or out of range, non-canonical base64,
// or a leaf that is not a valid event leaf.
var ErrMalformed = errors.New("malformed feed message")

// ErrInvalid is wrapped by every error that refuses a well-formed message
// because it is not what the consumer expects or its signature does not
// verify (then signer.ErrSignature is wrapped too).
var ErrInvalid = errors.New("feed message does not verify")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Topics are the four topics of one device.
type Topics struct {
	Events      string `json:"events"`      // waybill/v1/{fleet}/{device}/events: one message per event, in sequence order
	Checkpoints string `json:"checkpoints"` // …/checkpoints: retained, the latest signed checkpoint note
	Status      string `json:"status"`      // …/status: retained, "online" or "offline" (the last will)
	Anchors     string `json:"anchors"`     // …/anchors: retained, the newest confirmed anchor's evidence
	Domain      string `json:"domain"`      // …/domain: retained, the device's signing domain (DomainMessage)
}

// TopicsFor returns the topics of device in fleet. The fleet is not checked
// here; signer.ValidFleet names cannot contain the MQTT separators / + #.
func TopicsFor(fleet string, device event.Address) Topics {
	base := TopicRoot + "/" + fleet + "/" + device.String() + "/"
	return Topics{
		Events:      base + ChannelEvents,
		Checkpoints: base + ChannelCheckpoints,
		Status:      base + ChannelStatus,
		Anchors:     base + ChannelAnchors,
		Domain:      base + ChannelDomain,
	}
}

// ParseTopic splits a feed topic into its fleet, device and channel (one
// of the Channel constants). It refuses any other topic, including a device
// address that is not 0x and 40 lowercase hex digits.
func ParseTopic(topic string) (fleet string, device event.Address, channel string, err error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0]+"/"+parts[1] != TopicRoot {
		return "", device, "", malformed("topic %q is not %s/{fleet}/{device}/{channel}", topic, TopicRoot)
	}
	fleet, channel = parts[2], parts[4]
	if !signer.ValidFleet(fleet) {
		return "", device, "", malformed("topic %q: fleet %q is not a valid fleet identifier", topic, fleet)
	}
	if device, err = event.ParseAddress(parts[3]); err != nil {
		return "", device, "", malformed("topic %q: device %v", topic, err)
	}
	switch channel {
	case ChannelEvents, ChannelCheckpoints, ChannelStatus, ChannelAnchors, ChannelDomain:
	default:
		return "", device, "", malformed("topic %q: unknown channel %q (want events, checkpoints, status, anchors or domain)", topic, channel)
	}
	return fleet, device, channel, nil
}

// Message is one message of the events topic: one signed event of the log,
// as the exact leaf bytes the device's Merkle tree hashes, with the origin
// of the log (which names fleet, device and epoch) and the sequence number
// a consumer deduplicates by.
//
// Its only byte form is the RFC 8785 canonical JSON object
//
//	{"leaf":"<base64 of the leaf bytes>","origin":"waybill/<fleet>/<device>/<epoch>","seq":<seq>,"v":1}
//
// (see firmware-docs/FEED.md).
type Message struct {
	Origin string
	Seq    uint64
	// Leaf is the exact leaf bytes (firmware-docs/PROTOCOL.md §6):
	// merkle.LeafHash(Leaf) is the event's leaf hash.
	Leaf []byte
	// Event is Leaf parsed; ParseMessage sets it. Marshal does not read it.
	Event *event.Signed
}

var messageMembers = []string{"leaf", "origin", "seq", "v"}

// Marshal returns the message's canonical JSON. It does not check the
// message; ParseMessage(m.Marshal()) does.
func (m *Message) Marshal() []byte {
	return appendMessage(nil, m.Origin, m.Seq, m.Leaf)
}

// appendMessage writes the canonical form directly: member names in sorted
// order, base64 needs no escaping, an origin is [a-z0-9._/-x] only, and seq
// is an integer below 2^53. TestMessage_Canonical holds it to jcs.
func appendMessage(b []byte, origin string, seq uint64, leaf []byte) []byte {
	b = slices.Grow(b, 48+len(origin)+base64.StdEncoding.EncodedLen(len(leaf)))
	b = append(b, `{"leaf":"`...)
	b = base64.StdEncoding.AppendEncode(b, leaf)
	b = append(b, `","origin":"`...)
	b = append(b, origin...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"v":1}`...)
	return b
}

// LeafHash returns the RFC 9162 leaf hash of the message's event,
// SHA-256(0x00 ‖ leaf).
func (m *Message) LeafHash() merkle.Hash { return merkle.LeafHash(m.Leaf) }

// ParseMessage parses an events-topic payload. It accepts only the exact
// bytes Marshal writes: at most MaxMessage bytes of RFC 8785 canonical JSON
// with exactly the members leaf, origin, seq and v; v is 1; leaf is
// canonical standard base64 of a valid event leaf (event.Parse); origin is
// waybill/<fleet>/<device>/<epoch> naming the leaf's device and epoch; seq
// equals the leaf's seq. Every error wraps ErrMalformed and names the
// member at fault. It does not check the signature: see Verify.
func ParseMessage(data []byte) (*Message, error) {
	if len(data) > MaxMessage {
		return nil, malformed("message is %d bytes, more than the limit of %d", len(data), MaxMessage)
	}
	o, err := jcs.DecodeCanonical("message", data, messageMembers...)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if v := string(o.Raw("v")); v != strconv.Itoa(Version) {
		return nil, malformed("message member \"v\" is %s, want %d (unsupported feed version)", short(v), Version)
	}
	m := &Message{}
	if m.Seq, err = o.Uint("seq", event.MaxSeq); err != nil {
		return nil, malformed("%v", err)
	}
	if m.Origin, err = o.String("origin"); err != nil {
		return nil, malformed("%v", err)
	}
	_, device, epoch, err := parseOrigin(m.Origin)
	if err != nil {
		return nil, err
	}
	b64, err := o.String("leaf")
	if err != nil {
		return nil, malformed("%v", err)
	}
	if len(b64) > base64.StdEncoding.EncodedLen(event.MaxLeaf) {
		return nil, malformed("message member \"leaf\" is %d base64 characters, more than a leaf of %d bytes", len(b64), event.MaxLeaf)
	}
	if m.Leaf, err = jcs.DecodeBase64(o.Member("leaf"), b64); err != nil {
		return nil, malformed("%v", err)
	}
	if m.Event, err = event.Parse(m.Leaf); err != nil {
		return nil, malformed("message member \"leaf\": %v", err)
	}
	if m.Event.Seq != m.Seq {
		return nil, malformed("message member \"seq\" is %d but the leaf's seq is %d", m.Seq, m.Event.Seq)
	}
	if m.Event.Device != device || m.Event.Epoch != epoch {
		return nil, malformed("message member \"origin\" %q names device %s epoch %d, but the leaf is device %s epoch %d",
			m.Origin, device, epoch, m.Event.Device, m.Event.Epoch)
	}
	return m, nil
}

// Verify checks that m is an event of device in domain d: the domain is
// valid, m's origin is device's log in d's fleet, the leaf's device is
// device, and the leaf's EIP-712 signature (PROTOCOL.md §4) recovers to it.
// m must come from ParseMessage. Errors wrap ErrInvalid, and
// signer.ErrSignature when the signature is at fault.
func Verify(m *Message, d signer.Domain, device event.Address) error {
	if m == nil || m.Event == nil {
		return invalid("no parsed message (use ParseMessage)")
	}
	if err := d.Validate(); err != nil {
		return invalid("domain: %v", err)
	}
	if m.Event.Device != device {
		return invalid("event %d is from device %s, not %s", m.Seq, m.Event.Device, device)
	}
	if want := signer.Origin(d.Fleet, device, m.Event.Epoch); m.Origin != want {
		return invalid("event %d has origin %q, want %q", m.Seq, m.Origin, want)
	}
	if err := signer.VerifyEvent(d, m.Event); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// VerifyCheckpoint checks a checkpoints-topic payload: a signed checkpoint
// note (PROTOCOL.md §7) carrying device's valid secp256k1 signature line in
// domain d, whose origin is device's log in d's fleet. It returns the
// checkpoint and the epoch its origin names. Errors wrap ErrInvalid.
func VerifyCheckpoint(note []byte, d signer.Domain, device event.Address) (checkpoint.Checkpoint, uint32, error) {
	if err := d.Validate(); err != nil {
		return checkpoint.Checkpoint{}, 0, invalid("domain: %v", err)
	}
	name := signer.KeyName(d.Fleet, device)
	c, _, err := checkpoint.OpenCheckpoint(note, signer.NoteVerifier(name, device, d))
	if err != nil {
		return checkpoint.Checkpoint{}, 0, fmt.Errorf("%w: checkpoint: %w", ErrInvalid, err)
	}
	fleet, dev, epoch, err := parseOrigin(c.Origin)
	if err != nil || fleet != d.Fleet || dev != device {
		return checkpoint.Checkpoint{}, 0, invalid("checkpoint origin %q is not a log of device %s in fleet %q", c.Origin, device, d.Fleet)
	}
	return c, epoch, nil
}

// DomainMessage is the payload of the domain topic: the EIP-712 domain the
// device signs its events and checkpoints in (PROTOCOL.md §4.1), so that a
// consumer of the feed learns the chain ID, which no topic names. Its only
// byte form is the RFC 8785 canonical JSON object
//
//	{"chain_id":<chain id>,"device":"<device address>","fleet":"<fleet>","v":1}
//
// It is not signed on its own: it is bound by the signatures it lets a
// consumer check. A wrong chain ID cannot make any signature verify for the
// device (the chain ID is part of every digest the device signs), so a
// consumer relies on it only once a checkpoint or event of the device has
// verified in it (VerifyDomain).
type DomainMessage struct {
	ChainID uint64
	Device  event.Address
	Fleet   string
}

var domainMembers = []string{"chain_id", "device", "fleet", "v"}

// Domain returns the signing domain the message names.
func (m *DomainMessage) Domain() signer.Domain {
	return signer.Domain{ChainID: m.ChainID, Fleet: m.Fleet}
}

// Marshal returns the message's canonical JSON.
func (m *DomainMessage) Marshal() []byte {
	b := []byte(`{"chain_id":`)
	b = strconv.AppendUint(b, m.ChainID, 10)
	b = append(b, `,"device":"`...)
	b = append(b, m.Device.String()...)
	b = append(b, `","fleet":"`...)
	b = append(b, m.Fleet...) // a valid fleet needs no escaping
	b = append(b, `","v":1}`...)
	return b
}

// ParseDomain parses a domain-topic payload. Like ParseMessage it accepts
// only the exact bytes Marshal writes: RFC 8785 canonical JSON with exactly
// the members chain_id (an integer from 1 to 2^53−1), device (0x and 40
// lowercase hex digits), fleet (a valid fleet identifier) and v (1), at
// most 1024 bytes. Errors wrap ErrMalformed. It checks no signature: see
// VerifyDomain.
func ParseDomain(data []byte) (*DomainMessage, error) {
	if len(data) > 1024 {
		return nil, malformed("domain message is %d bytes, more than the limit of 1024", len(data))
	}
	o, err := jcs.DecodeCanonical("domain message", data, domainMembers...)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if v := string(o.Raw("v")); v != strconv.Itoa(Version) {
		return nil, malformed("domain message member \"v\" is %s, want %d (unsupported feed version)", short(v), Version)
	}
	m := &DomainMessage{}
	if m.ChainID, err = o.Uint("chain_id", event.MaxSeq); err != nil {
		return nil, malformed("%v", err)
	}
	if m.ChainID == 0 {
		return nil, malformed("domain message member \"chain_id\" is 0")
	}
	dev, err := o.String("device")
	if err != nil {
		return nil, malformed("%v", err)
	}
	if m.Device, err = event.ParseAddress(dev); err != nil {
		return nil, malformed("domain message member \"device\": %v", err)
	}
	if m.Fleet, err = o.String("fleet"); err != nil {
		return nil, malformed("%v", err)
	}
	if !signer.ValidFleet(m.Fleet) {
		return nil, malformed("domain message member \"fleet\" %q is not a valid fleet identifier", short(m.Fleet))
	}
	return m, nil
}

// VerifyDomain checks a domain message against the topic it came from and
// a checkpoints-topic note of the same device: the message's fleet and
// device are the topic's, and the note verifies (VerifyCheckpoint) in the
// domain the message names. Only then does the chain ID bind anything.
// Errors wrap ErrInvalid.
func VerifyDomain(m *DomainMessage, fleet string, device event.Address, note []byte) error {
	if m.Fleet != fleet || m.Device != device {
		return invalid("domain message names fleet %q device %s, the topic fleet %q device %s", m.Fleet, m.Device, fleet, device)
	}
	if _, _, err := VerifyCheckpoint(note, m.Domain(), device); err != nil {
		return fmt.Errorf("%w (the chain ID %d of the domain message is not the one the device signs with, or the note is not genuine)", err, m.ChainID)
	}
	return nil
}

// parseOrigin splits "waybill/<fleet>/<device>/<epoch>" (signer.ParseOrigin)
// and refuses any other spelling.
func parseOrigin(s string) (fleet string, device event.Address, epoch uint32, err error) {
	if fleet, device, epoch, err = signer.ParseOrigin(s); err != nil {
		return "", device, 0, malformed("message member \"origin\" %s: %v", short(strconv.Quote(s)), err)
	}
	return fleet, device, epoch, nil
}

// short truncates s for an error message, at a character boundary.
func short(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 77
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
