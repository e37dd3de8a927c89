package verify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// MaxSize is the largest bundle or consistency document ParseBundle and
// ParseConsistency read, in bytes (1 MiB).
const MaxSize = jcs.MaxSize

// MaxSafeInteger is the largest integer a JSON number in these documents may
// hold: 2^53−1, the largest integer an IEEE-754 double (and so RFC 8785)
// represents exactly together with all smaller ones.
const MaxSafeInteger = 1<<53 - 1

// maxProof is the most hashes an inclusion or consistency proof may have.
const maxProof = 64

// ErrMalformed is wrapped by every error that rejects a document's syntax:
// invalid or non-strict JSON, a missing or unknown member, a value of the
// wrong type, non-canonical base64 or hex.
var ErrMalformed = errors.New("malformed")

// ErrInvalid is wrapped by every error that rejects a well-formed document
// because it does not verify.
var ErrInvalid = errors.New("does not verify")

// Error is one line of text naming the first thing found wrong, wrapping
// [ErrMalformed] or [ErrInvalid].
type Error struct {
	kind error // ErrMalformed or ErrInvalid
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns ErrMalformed or ErrInvalid.
func (e *Error) Unwrap() error { return e.kind }

func newError(kind error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	// One line, whatever the wrapped messages contained.
	msg = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(msg)
	return &Error{kind: kind, msg: msg}
}

func malformed(format string, args ...any) error { return newError(ErrMalformed, format, args...) }
func invalid(format string, args ...any) error   { return newError(ErrInvalid, format, args...) }

// canonicalJSON checks the size limit and the JSON grammar (I-JSON: valid
// UTF-8, no duplicate member names, no lone surrogates), checks that every
// string and number is spelled as RFC 8785 writes it (see [CheckSpelling]),
// and returns the RFC 8785 canonical form of data.
func canonicalJSON(what string, data []byte) ([]byte, error) {
	if len(data) > MaxSize {
		return nil, malformed("%s: %d bytes, more than the limit of %d", what, len(data), MaxSize)
	}
	c, err := jcs.Canonicalize(data)
	if err != nil {
		return nil, malformed("%s: not strict JSON: %v", what, err)
	}
	if err := CheckSpelling(data); err != nil {
		return nil, malformed("%s: %v", what, err)
	}
	return c, nil
}

// CheckSpelling is jcs.CheckSpelling, kept here for verifiers that import
// only this package: it checks that every string and number in data is
// spelled as RFC 8785 writes it, leaving only white space between tokens
// and member order free.
func CheckSpelling(data []byte) error { return jcs.CheckSpelling(data) }

// object decodes a JSON object whose member names must be exactly names (no
// member missing, none unknown, none null). Names are compared exactly, not
// case-insensitively as encoding/json's struct decoding would.
func object(what string, data json.RawMessage, names ...string) (map[string]json.RawMessage, error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, malformed("%s is not a JSON object", what)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, malformed("%s: %v", what, err)
	}
	for _, n := range names {
		v, ok := m[n]
		if !ok {
			return nil, malformed("%s has no %q member", what, n)
		}
		if string(v) == "null" {
			return nil, malformed("%s member %q is null", what, n)
		}
	}
	if len(m) != len(names) {
		var extra []string
		for k := range m {
			if !slices.Contains(names, k) {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		return nil, malformed("%s has unknown member %q", what, extra[0])
	}
	return m, nil
}

// uintValue decodes a JSON integer in [0, max]. The input is canonical JSON,
// so an integer is plain decimal digits.
func uintValue(what string, v json.RawMessage, max uint64) (uint64, error) {
	s := string(v)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, malformed("%s is %s, not a non-negative integer", what, short(s))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, malformed("%s %s is out of range (at most %d)", what, short(s), max)
	}
	return n, nil
}

// stringValue decodes a JSON string.
func stringValue(what string, v json.RawMessage) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", malformed("%s is not a JSON string", what)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", malformed("%s: %v", what, err)
	}
	return s, nil
}

// decodeBase64 decodes canonical standard base64 (RFC 4648 §4): padded,
// padding bits zero, and re-encoding gives s back exactly.
func decodeBase64(what, s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, malformed("%s %s is not canonical standard base64", what, short(strconv.Quote(s)))
	}
	return b, nil
}

// bytesValue decodes a JSON string holding canonical base64.
func bytesValue(what string, v json.RawMessage) ([]byte, error) {
	s, err := stringValue(what, v)
	if err != nil {
		return nil, err
	}
	return decodeBase64(what, s)
}

// parseHash decodes the canonical base64 of a 32-byte hash.
func parseHash(what, s string) (merkle.Hash, error) {
	var h merkle.Hash
	b, err := decodeBase64(what, s)
	if err != nil {
		return h, err
	}
	if len(b) != len(h) {
		return h, malformed("%s is %d bytes, want %d", what, len(b), len(h))
	}
	return merkle.Hash(b), nil
}

// hashValue decodes a JSON string holding a hash.
func hashValue(what string, v json.RawMessage) (merkle.Hash, error) {
	s, err := stringValue(what, v)
	if err != nil {
		return merkle.Hash{}, err
	}
	return parseHash(what, s)
}

// hashesValue decodes a JSON array of hashes, at most maxProof of them.
func hashesValue(what string, v json.RawMessage) ([]merkle.Hash, error) {
	if len(v) == 0 || v[0] != '[' {
		return nil, malformed("%s is not a JSON array", what)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, malformed("%s: %v", what, err)
	}
	if len(raw) > maxProof {
		return nil, malformed("%s has %d hashes, more than %d", what, len(raw), maxProof)
	}
	out := make([]merkle.Hash, len(raw))
	for i, r := range raw {
		h, err := hashValue(fmt.Sprintf("%s[%d]", what, i), r)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// hashStrings returns the base64 forms of hs, never nil.
func hashStrings(hs []merkle.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// short shortens s for an error message.
func short(s string) string {
	if len(s) > 80 {
		cut := 77
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "..."
	}
	return s
}
