package jcs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// An Object is a JSON object decoded strictly for a format with a fixed
// set of members: every member present, none null, none unknown, names
// matched exactly (not case-insensitively, as encoding/json's struct
// decoding would). Its methods decode member values and name the object
// and the member in their errors, e.g.
//
//	message member "seq" is -1, not a non-negative integer
//
// Formats that other parties read (the proof bundle, the feed messages)
// decode their members with it, so that one set of rules and one wording
// of errors serves them all.
type Object struct {
	name    string // how errors call the object: "message", "bundle checkpoint"
	members map[string]json.RawMessage
}

// DecodeCanonical decodes data, which must be exactly its own RFC 8785
// canonical form (byte for byte what [Canonicalize] returns for it), as an
// object with exactly the members names. name is how errors call the
// object. It does not limit the size of data: the caller does, before.
func DecodeCanonical(name string, data []byte, names ...string) (*Object, error) {
	c, err := Canonicalize(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not strict JSON: %v", name, err)
	}
	if !bytes.Equal(c, data) {
		return nil, fmt.Errorf("%s is not in RFC 8785 canonical form (first difference at byte %d)", name, firstDiff(c, data))
	}
	return decodeObject(name, c, names)
}

// DecodeStrict decodes data as an object with exactly the members names.
// White space between tokens and the order of members are free, but every
// string and number must be spelled as RFC 8785 writes it ([CheckSpelling]),
// so that the canonical form, which [Object.Raw] returns parts of, is data
// with only white space removed and members sorted. name is how errors
// call the object. It does not limit the size of data: the caller does,
// before.
func DecodeStrict(name string, data []byte, names ...string) (*Object, error) {
	c, err := Canonicalize(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not strict JSON: %v", name, err)
	}
	if err := CheckSpelling(data); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return decodeObject(name, c, names)
}

// decodeObject decodes the canonical JSON c as an object with exactly the
// members names.
func decodeObject(name string, c []byte, names []string) (*Object, error) {
	if len(c) == 0 || c[0] != '{' {
		return nil, fmt.Errorf("%s is not a JSON object", name)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	for _, n := range names {
		v, ok := m[n]
		if !ok {
			return nil, fmt.Errorf("%s has no %q member", name, n)
		}
		if string(v) == "null" {
			return nil, fmt.Errorf("%s member %q is null", name, n)
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
		return nil, fmt.Errorf("%s has unknown member %q", name, extra[0])
	}
	return &Object{name: name, members: m}, nil
}

// Name returns how errors call the object.
func (o *Object) Name() string { return o.name }

// Member returns how errors call the member name of o: the object's name,
// "member" and the quoted member name.
func (o *Object) Member(name string) string { return fmt.Sprintf("%s member %q", o.name, name) }

// Raw returns the canonical JSON of member name, nil if o has no such
// member (which DecodeCanonical and DecodeStrict rule out for the names
// they were given).
func (o *Object) Raw(name string) json.RawMessage { return o.members[name] }

// Object decodes member name as an object with exactly the members names.
// Errors call it by o's name and name: "bundle checkpoint".
func (o *Object) Object(name string, names ...string) (*Object, error) {
	return decodeObject(o.name+" "+name, o.members[name], names)
}

// String decodes member name as a JSON string.
func (o *Object) String(name string) (string, error) {
	return StringValue(o.Member(name), o.members[name])
}

// Uint decodes member name as an integer from 0 to max.
func (o *Object) Uint(name string, max uint64) (uint64, error) {
	return UintValue(o.Member(name), o.members[name], max)
}

// Base64 decodes member name as a JSON string holding canonical standard
// base64 (see [DecodeBase64]).
func (o *Object) Base64(name string) ([]byte, error) {
	return Base64Value(o.Member(name), o.members[name])
}

// StringValue decodes the canonical JSON v as a string. what names the
// value in errors.
func StringValue(what string, v json.RawMessage) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("%s is %s, not a string", what, shorten(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: %v", what, err)
	}
	return s, nil
}

// UintValue decodes the canonical JSON v as an integer from 0 to max. In
// canonical JSON an integer is plain decimal digits: no sign, fraction or
// exponent. what names the value in errors.
func UintValue(what string, v json.RawMessage, max uint64) (uint64, error) {
	s := string(v)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%s is %s, not a non-negative integer", what, shorten(v))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("%s is %s, out of range (at most %d)", what, shorten(v), max)
	}
	return n, nil
}

// Base64Value decodes the canonical JSON v as a string holding canonical
// standard base64 (see [DecodeBase64]). what names the value in errors.
func Base64Value(what string, v json.RawMessage) ([]byte, error) {
	s, err := StringValue(what, v)
	if err != nil {
		return nil, err
	}
	return DecodeBase64(what, s)
}

// DecodeBase64 decodes canonical standard base64 (RFC 4648 §4): padded,
// the padding bits zero, so that encoding the result gives s back exactly.
// what names the value in errors.
func DecodeBase64(what, s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("%s is not canonical standard base64 (RFC 4648 §4, padded)", what)
	}
	return b, nil
}

// firstDiff returns the offset of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
