package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A small JSON tree that remembers where each value starts, so that a
// GeoJSON problem can be reported at its line and column. The syntax is
// encoding/json's (RFC 8259); this file only records positions.

type jkind int

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// jnode is one JSON value.
type jnode struct {
	kind  jkind
	off   int     // byte offset of the value's first byte
	str   string  // a string's value
	num   float64 // a number's value
	keys  []string
	koff  []int    // byte offset of each key
	elems []*jnode // an array's elements, or an object's values (parallel to keys)
}

// member returns an object's member, or nil.
func (n *jnode) member(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.elems[i]
		}
	}
	return nil
}

// jsonError is a syntax error at a byte offset.
type jsonError struct {
	off int
	msg string
}

func (e *jsonError) Error() string { return e.msg }

// maxJSONDepth bounds nesting: a GeoJSON FeatureCollection of
// MultiPolygons is 8 deep.
const maxJSONDepth = 32

// parseJSON parses data as exactly one JSON value. A member name used
// twice in one object (which RFC 8259 §4 leaves undefined) does not stop
// the parse: it is returned in dups, and the first value is kept.
func parseJSON(data []byte) (n *jnode, dups []*jsonError, err error) {
	// encoding/json's validator gives the exact offset of a syntax error
	// (the Decoder's tokenizer does not).
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// Offset counts the bytes read, the bad one included; at
			// the end of the input there is no bad byte.
			off := max(int(se.Offset)-1, 0)
			if int(se.Offset) >= len(data) && strings.HasPrefix(se.Error(), "unexpected end") {
				off = len(data)
			}
			return nil, nil, &jsonError{off, se.Error()}
		}
		return nil, nil, &jsonError{0, err.Error()}
	}
	d := &jdecoder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	n, err = d.value(0)
	if err != nil {
		return nil, nil, err
	}
	return n, d.dups, nil
}

type jdecoder struct {
	data []byte
	dec  *json.Decoder
	dups []*jsonError
}

// next returns the offset of the next token: the decoder's offset past
// the separators that may precede it.
func (d *jdecoder) next() int {
	off := int(d.dec.InputOffset())
	for off < len(d.data) {
		switch d.data[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (d *jdecoder) token() (json.Token, int, error) {
	off := d.next()
	t, err := d.dec.Token()
	if err != nil {
		return nil, off, &jsonError{off, err.Error()}
	}
	return t, off, nil
}

func (d *jdecoder) value(depth int) (*jnode, error) {
	t, off, err := d.token()
	if err != nil {
		return nil, err
	}
	return d.build(t, off, depth)
}

func (d *jdecoder) build(t json.Token, off, depth int) (*jnode, error) {
	n := &jnode{off: off}
	switch t := t.(type) {
	case nil:
		n.kind = jNull
	case bool:
		n.kind = jBool
	case string:
		n.kind, n.str = jString, t
	case json.Number:
		v, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, &jsonError{off, fmt.Sprintf("the number %s is out of range", t)}
		}
		n.kind, n.num = jNumber, v
	case json.Delim:
		if depth >= maxJSONDepth {
			return nil, &jsonError{off, fmt.Sprintf("nested more than %d deep", maxJSONDepth)}
		}
		switch t {
		case '[':
			n.kind = jArray
			for d.dec.More() {
				e, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, e)
			}
		case '{':
			n.kind = jObject
			seen := map[string]bool{}
			for d.dec.More() {
				k, koff, err := d.token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				if seen[key] {
					d.dups = append(d.dups, &jsonError{koff, fmt.Sprintf("member %q appears twice", key)})
					continue
				}
				seen[key] = true
				n.keys, n.koff, n.elems = append(n.keys, key), append(n.koff, koff), append(n.elems, v)
			}
		default:
			return nil, &jsonError{off, fmt.Sprintf("unexpected %q", t)}
		}
		if _, _, err := d.token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return n, nil
}

// position converts byte offsets of a file to 1-based lines and columns
// (in characters).
type position struct {
	data  []byte
	lines []int // offset of each line's first byte
}

func newPosition(data []byte) *position {
	p := &position{data: data, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	return p
}

func (p *position) at(off int) (line, col int) {
	off = min(max(off, 0), len(p.data))
	i := sort.SearchInts(p.lines, off+1) - 1
	return i + 1, utf8.RuneCount(p.data[p.lines[i]:off]) + 1
}
