package ebsi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// MaxHashes is the most hashes one timestampHashes transaction may carry:
// EBSI's Timestamp contract reverts with "hashAlgorithmIds>3" (and the
// like) beyond it, and its API documents "up to 3 hashes in a single
// transaction" (https://hub.ebsi.eu/apis/pilot/timestamp/v4/post-jsonrpc).
const MaxHashes = 3

// ErrTooManyHashes is wrapped by Hashes.Check when a call would carry more
// than MaxHashes hashes.
var ErrTooManyHashes = errors.New("ebsi: more than 3 hashes in one timestampHashes call")

// timestampABI is the part of EBSI's Timestamp contract this package uses:
// timestampHashes and its event, as in EBSI's TimestampLib
// (ebsi-core-services, contracts/timestamp: "timestamps one or more hashes.
// Up to three hashes can be timestamped at a time").
const timestampABI = `[
 {"type":"function","name":"timestampHashes","stateMutability":"nonpayable",
  "inputs":[{"name":"hashAlgorithmIds","type":"uint256[]"},{"name":"hashValues","type":"bytes[]"},{"name":"timestampData","type":"bytes[]"}],
  "outputs":[{"name":"timestampIds","type":"bytes32[]"}]},
 {"type":"event","name":"TimestampedHashes","anonymous":false,
  "inputs":[{"name":"timestampIds","type":"bytes32[]","indexed":false},{"name":"hashAlgorithmIds","type":"uint256[]","indexed":false},
            {"name":"hashValues","type":"bytes[]","indexed":false},{"name":"timestampData","type":"bytes[]","indexed":false}]}
]`

// TimestampABI is EBSI's Timestamp contract's timestampHashes function and
// TimestampedHashes event, parsed.
var TimestampABI = func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(timestampABI))
	if err != nil {
		panic("ebsi: timestamp ABI: " + err.Error())
	}
	return a
}()

// Hashes are the arguments of one timestampHashes call: one algorithm id
// per hash value, and optionally timestamp data for the first values.
type Hashes struct {
	// AlgorithmIDs are the ids of the hash algorithms in EBSI's Timestamp
	// contract (GET /timestamp/v4/hash-algorithms), one per value.
	AlgorithmIDs []*big.Int
	// Values are the hash values.
	Values [][]byte
	// Data are the timestamp data, at most one per value; EBSI's API
	// accepts only hex-encoded JSON here.
	Data [][]byte
}

// Check refuses what EBSI's contract would revert: more than MaxHashes
// values, algorithms or data (ErrTooManyHashes), a count of algorithms
// differing from the count of values, an empty value, a negative or absent
// algorithm id.
func (h Hashes) Check() error {
	switch {
	case len(h.Values) > MaxHashes || len(h.AlgorithmIDs) > MaxHashes || len(h.Data) > MaxHashes:
		return fmt.Errorf("%w: %d values, %d algorithms, %d data", ErrTooManyHashes, len(h.Values), len(h.AlgorithmIDs), len(h.Data))
	case len(h.Values) == 0:
		return errors.New("ebsi: timestampHashes with no hash")
	case len(h.Values) != len(h.AlgorithmIDs):
		return fmt.Errorf("ebsi: %d hash values but %d algorithm ids", len(h.Values), len(h.AlgorithmIDs))
	}
	for i, v := range h.Values {
		if len(v) == 0 {
			return fmt.Errorf("ebsi: hash value %d is empty", i)
		}
		if id := h.AlgorithmIDs[i]; id == nil || id.Sign() < 0 || id.BitLen() > 256 {
			return fmt.Errorf("ebsi: hash algorithm id %d is %v", i, id)
		}
	}
	return nil
}

// Calldata returns the ABI-encoded call timestampHashes(AlgorithmIDs,
// Values, Data).
func (h Hashes) Calldata() ([]byte, error) {
	if err := h.Check(); err != nil {
		return nil, err
	}
	data := h.Data
	if data == nil {
		data = [][]byte{}
	}
	b, err := TimestampABI.Pack("timestampHashes", h.AlgorithmIDs, h.Values, data)
	if err != nil {
		return nil, fmt.Errorf("ebsi: encode timestampHashes: %w", err)
	}
	return b, nil
}

// Params returns the Timestamp API's JSON-RPC parameters of the
// timestampHashes method for the signer from.
func (h Hashes) Params(from common.Address) (TimestampHashesParams, error) {
	if err := h.Check(); err != nil {
		return TimestampHashesParams{}, err
	}
	p := TimestampHashesParams{From: from.Hex(), HashAlgorithmIDs: make([]json.Number, len(h.AlgorithmIDs)),
		HashValues: make([]string, len(h.Values))}
	for i, id := range h.AlgorithmIDs {
		p.HashAlgorithmIDs[i] = json.Number(id.String())
	}
	for i, v := range h.Values {
		p.HashValues[i] = "0x" + hex.EncodeToString(v)
	}
	for _, d := range h.Data {
		p.TimestampData = append(p.TimestampData, "0x"+hex.EncodeToString(d))
	}
	return p, nil
}

// TimestampHashesParams are the parameters of the Timestamp API's
// timestampHashes JSON-RPC method (https://hub.ebsi.eu/apis/pilot/timestamp/v4/post-jsonrpc):
// the signer's address, up to 3 algorithm ids and hash values (0x-prefixed
// hex), and optional timestamp data (0x-prefixed hex of a JSON text).
type TimestampHashesParams struct {
	From             string        `json:"from"`
	HashAlgorithmIDs []json.Number `json:"hashAlgorithmIds"`
	HashValues       []string      `json:"hashValues"`
	TimestampData    []string      `json:"timestampData,omitempty"`
}

// Hashes decodes the parameters; it refuses malformed numbers and hex and
// what Hashes.Check refuses.
func (p TimestampHashesParams) Hashes() (Hashes, error) {
	var h Hashes
	for i, n := range p.HashAlgorithmIDs {
		id, ok := new(big.Int).SetString(string(n), 10)
		if !ok {
			return Hashes{}, fmt.Errorf("ebsi: hashAlgorithmIds[%d] %q is not a decimal integer", i, short(string(n)))
		}
		h.AlgorithmIDs = append(h.AlgorithmIDs, id)
	}
	for i, s := range p.HashValues {
		b, err := decodeHex(s)
		if err != nil {
			return Hashes{}, fmt.Errorf("ebsi: hashValues[%d]: %w", i, err)
		}
		h.Values = append(h.Values, b)
	}
	for i, s := range p.TimestampData {
		b, err := decodeHex(s)
		if err != nil {
			return Hashes{}, fmt.Errorf("ebsi: timestampData[%d]: %w", i, err)
		}
		h.Data = append(h.Data, b)
	}
	return h, h.Check()
}

// CheckpointHashes returns the one hash an anchor timestamps: the SHA-256
// of the signed checkpoint note (NoteHash) under algorithm alg (EBSI's id of
// sha2-256), with the note itself as its timestamp data (TimestampData).
func CheckpointHashes(note []byte, alg *big.Int) (Hashes, error) {
	if len(note) == 0 {
		return Hashes{}, errors.New("ebsi: request has no checkpoint note")
	}
	data, err := TimestampData(note)
	if err != nil {
		return Hashes{}, err
	}
	h := NoteHash(note)
	return Hashes{AlgorithmIDs: []*big.Int{alg}, Values: [][]byte{h[:]}, Data: [][]byte{data}}, nil
}

// NoteHash is the hash value an anchor timestamps: SHA-256 of the signed
// checkpoint note's bytes, verbatim (PROTOCOL.md §7). Anyone holding the
// note can compute it, and from it the timestamp id to look up.
func NoteHash(note []byte) [32]byte { return sha256.Sum256(note) }

// TimestampID is the id under which EBSI's Timestamp contract stores a
// hash value: SHA-256 of the value's bytes (TimestampLib: tsId =
// sha256(hashValues[i])).
func TimestampID(hashValue []byte) [32]byte { return sha256.Sum256(hashValue) }

// Multihash code and length of sha2-256 (https://github.com/multiformats/multicodec).
const (
	multihashSHA256 = 0x12
	multihashLen    = 32
)

// FormatTimestampID writes a timestamp id as EBSI's Timestamp API names it
// (GET /timestamp/v4/timestamps/{timestampId}): the multibase base64url
// (prefix "u", no padding) of the sha2-256 multihash of the id, that is
// "u" + base64url(0x12 0x20 ‖ id). See
// https://hub.ebsi.eu/apis/pilot/timestamp/v4/get-timestamp.
func FormatTimestampID(id [32]byte) string {
	return "u" + base64.RawURLEncoding.EncodeToString(append([]byte{multihashSHA256, multihashLen}, id[:]...))
}

// ParseTimestampID parses the form FormatTimestampID writes, and only it:
// prefix "u", unpadded base64url of 34 bytes, a sha2-256 multihash.
func ParseTimestampID(s string) ([32]byte, error) {
	var id [32]byte
	rest, ok := strings.CutPrefix(s, "u")
	if !ok {
		return id, fmt.Errorf("ebsi: timestamp id %q is not multibase base64url (prefix u)", short(s))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return id, fmt.Errorf("ebsi: timestamp id %q: %w", short(s), err)
	}
	if len(b) != 2+multihashLen || b[0] != multihashSHA256 || b[1] != multihashLen {
		return id, fmt.Errorf("ebsi: timestamp id %q is not a sha2-256 multihash", short(s))
	}
	copy(id[:], b[2:])
	if FormatTimestampID(id) != s {
		return [32]byte{}, fmt.Errorf("ebsi: timestamp id %q is not in canonical form", short(s))
	}
	return id, nil
}

// FormatSHA256Hash writes a SHA-256 hash value as the Timestamp API's
// "hash" member shows it: multibase base64 (prefix "m", no padding) of its
// sha2-256 multihash.
func FormatSHA256Hash(h [32]byte) string {
	return "m" + base64.RawStdEncoding.EncodeToString(append([]byte{multihashSHA256, multihashLen}, h[:]...))
}

// DataType is the "type" member of an anchor's timestamp data.
const DataType = "waybill.checkpoint.v1"

// MaxDataSize caps the timestamp data ParseTimestampData reads.
const MaxDataSize = 64 << 10

// TimestampData returns an anchor's timestamp data: the RFC 8785
// canonical JSON object {"note": <the signed checkpoint note>, "type":
// "waybill.checkpoint.v1"}. EBSI's API accepts only hex-encoded JSON as
// timestamp data, so the note travels as a JSON string; its SHA-256
// (NoteHash) is the timestamped hash value.
func TimestampData(note []byte) ([]byte, error) {
	if !utf8.Valid(note) {
		return nil, errors.New("ebsi: checkpoint note is not UTF-8")
	}
	b, err := jcs.Marshal(map[string]string{"note": string(note), "type": DataType})
	if err != nil {
		return nil, fmt.Errorf("ebsi: timestamp data: %w", err)
	}
	return b, nil
}

// ParseTimestampData returns the signed note of an anchor's timestamp
// data. It refuses data over MaxDataSize, anything but the canonical JSON
// TimestampData writes (other members, another type, non-canonical form),
// and an empty note.
func ParseTimestampData(b []byte) ([]byte, error) {
	if len(b) > MaxDataSize {
		return nil, fmt.Errorf("ebsi: timestamp data of %d bytes exceeds %d", len(b), MaxDataSize)
	}
	if !jcs.IsCanonical(b) {
		return nil, errors.New("ebsi: timestamp data is not canonical JSON (RFC 8785)")
	}
	var v struct {
		Note *string `json:"note"`
		Type *string `json:"type"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("ebsi: timestamp data: %w", err)
	}
	switch {
	case v.Type == nil || *v.Type != DataType:
		return nil, fmt.Errorf("ebsi: timestamp data type is not %q", DataType)
	case v.Note == nil || *v.Note == "":
		return nil, errors.New("ebsi: timestamp data has no note")
	}
	// encoding/json matches member names case-insensitively: only the
	// exact bytes TimestampData writes are accepted.
	note := []byte(*v.Note)
	if again, err := TimestampData(note); err != nil || !bytes.Equal(again, b) {
		return nil, errors.New("ebsi: timestamp data is not in the form TimestampData writes")
	}
	return note, nil
}

// Payload is the calldata of an anchor through EBSI's Timestamp contract
// at Contract: timestampHashes([HashAlgorithmID], [NoteHash(note)],
// [TimestampData(note)]). It implements evmtx.Payload, so that
// evmtx.VerifyEvidence checks an EBSI anchor's evidence offline.
type Payload struct {
	Contract        common.Address
	HashAlgorithmID *big.Int
}

// PayloadName implements evmtx.Named: anchor.PayloadEBSI.
func (Payload) PayloadName() string { return anchor.PayloadEBSI }

// Calldata implements evmtx.Payload.
func (p Payload) Calldata(_ context.Context, req anchor.Request) (common.Address, []byte, error) {
	h, err := CheckpointHashes(req.Note, p.HashAlgorithmID)
	if err != nil {
		return common.Address{}, nil, err
	}
	data, err := h.Calldata()
	if err != nil {
		return common.Address{}, nil, err
	}
	return p.Contract, data, nil
}

// decodeHex decodes 0x and an even number of hex digits.
func decodeHex(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("%q does not start with 0x", short(s))
	}
	b, err := hex.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex: %w", short(s), err)
	}
	return b, nil
}

// short cuts s for error messages.
func short(s string) string {
	if len(s) > 72 {
		return s[:72] + "…"
	}
	return s
}
