package verify

import (
	"encoding/json"
	"errors"
	"fmt"
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

// decode checks the size limit and decodes data strictly (see
// [jcs.DecodeStrict]) as an object with exactly the members names: I-JSON
// (valid UTF-8, no duplicate member names, no lone surrogates), every
// string and number spelled as RFC 8785 writes it, white space and member
// order free.
func decode(what string, data []byte, names ...string) (*jcs.Object, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d", what, len(data), MaxSize)
	}
	return jcs.DecodeStrict(what, data, names...)
}

// CheckSpelling is jcs.CheckSpelling, kept here for verifiers that import
// only this package: it checks that every string and number in data is
// spelled as RFC 8785 writes it, leaving only white space between tokens
// and member order free.
func CheckSpelling(data []byte) error { return jcs.CheckSpelling(data) }

// parseHash decodes the canonical base64 of a 32-byte hash.
func parseHash(what, s string) (merkle.Hash, error) {
	var h merkle.Hash
	b, err := jcs.DecodeBase64(what, s)
	if err != nil {
		return h, err
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("%s is %d bytes, want %d", what, len(b), len(h))
	}
	return merkle.Hash(b), nil
}

// hashMember decodes member name of o, a string holding a hash.
func hashMember(o *jcs.Object, name string) (merkle.Hash, error) {
	s, err := o.String(name)
	if err != nil {
		return merkle.Hash{}, err
	}
	return parseHash(o.Member(name), s)
}

// hashesMember decodes member name of o, an array of at most maxProof
// hashes.
func hashesMember(o *jcs.Object, name string) ([]merkle.Hash, error) {
	what, v := o.Member(name), o.Raw(name)
	if len(v) == 0 || v[0] != '[' {
		return nil, fmt.Errorf("%s is not a JSON array", what)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	if len(raw) > maxProof {
		return nil, fmt.Errorf("%s has %d hashes, more than %d", what, len(raw), maxProof)
	}
	out := make([]merkle.Hash, len(raw))
	for i, r := range raw {
		ew := fmt.Sprintf("%s[%d]", what, i)
		s, err := jcs.StringValue(ew, r)
		if err != nil {
			return nil, err
		}
		if out[i], err = parseHash(ew, s); err != nil {
			return nil, err
		}
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
