// Package jcs implements the JSON Canonicalization Scheme (JCS) of
// RFC 8785, strictly.
//
// Waybill devices sign events whose payload is a JSON object; the bytes that
// are signed are the RFC 8785 canonical form of that object. Third parties
// verify signatures with their own JCS implementations, so this package is
// deliberately exact and rejects anything whose canonical form could be
// ambiguous.
//
// # Input (RFC 8785 §3.1, RFC 7493 I-JSON, RFC 8259 JSON)
//
// The input must be exactly one JSON value (RFC 8259 §2), optionally
// surrounded by insignificant whitespace (space, tab, LF, CR; RFC 8259 §2).
// The parser is a small hand-written recursive-descent parser; it rejects,
// with a *SyntaxError carrying a byte offset:
//
//   - anything that is not RFC 8259 grammar, including trailing data, a byte
//     order mark, unescaped control characters in strings (§7), and numbers
//     outside the §6 grammar (leading zeros, "+1", ".5", "1.", hex, NaN,
//     Infinity);
//   - invalid UTF-8 (RFC 8259 §8.1, RFC 7493 §2.1);
//   - escapes encoding lone or unpaired UTF-16 surrogates such as "\ud800"
//     (RFC 7493 §2.1, RFC 8785 §3.2.2.2);
//   - Unicode noncharacters (U+FDD0..U+FDEF and the last two code points of
//     every plane, U+FFFE, U+FFFF, U+1FFFE, …, U+10FFFF) in strings and
//     member names, written literally or escaped (RFC 7493 §2.1);
//   - duplicate object member names, compared after unescaping
//     (RFC 7493 §2.3, RFC 8785 §3.1);
//   - numbers whose magnitude overflows an IEEE-754 double, e.g. 1e400
//     (RFC 7493 §2.2, RFC 8785 §3.2.2.3); values that underflow round to 0;
//   - nesting deeper than MaxDepth and inputs larger than MaxSize (local
//     limits, as permitted by RFC 8259 §9).
//
// # Output (RFC 8785 §3.2)
//
//   - No whitespace between tokens (§3.2.1).
//   - Literals are emitted as true, false and null (§3.2.2.1).
//   - Strings (§3.2.2.2): '"' and '\' are escaped as \" and \\; the control
//     characters U+0000..U+001F are escaped as \b, \t, \n, \f, \r where such
//     a short form exists and as \u00xx (lowercase hex) otherwise; every
//     other code point, including U+007F, U+2028, U+2029, '/', '<', '>' and
//     '&', is emitted literally as UTF-8 (§3.2.4).
//   - Numbers (§3.2.2.3) are the ECMAScript Number.prototype.toString form
//     (ECMA-262 Number::toString) of the IEEE-754 double nearest to the input:
//     -0 becomes 0, the shortest round-tripping digits are used, and the
//     exponent form is used only for decimal exponents outside (-6, 21].
//   - Object members are sorted by name, comparing the names as arrays of
//     UTF-16 code units, not as UTF-8 bytes (§3.2.3). Array order is kept.
package jcs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	// MaxDepth is the maximum nesting depth of arrays and objects. A
	// top-level array or object is at depth 1; a value nested deeper than
	// MaxDepth is an error.
	MaxDepth = 64

	// MaxSize is the maximum input size in bytes; larger inputs are an
	// error.
	MaxSize = 1 << 20
)

// SyntaxError describes why an input was rejected and where.
type SyntaxError struct {
	Offset int64  // byte offset into the input where the problem was found
	Msg    string // description of the problem
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jcs: %s at offset %d", e.Msg, e.Offset)
}

// Canonicalize parses data as one JSON value (I-JSON, RFC 7493) and returns
// its RFC 8785 canonical form.
func Canonicalize(data []byte) ([]byte, error) {
	if len(data) > MaxSize {
		return nil, &SyntaxError{
			Offset: MaxSize,
			Msg:    fmt.Sprintf("input too large (%d bytes, limit %d)", len(data), MaxSize),
		}
	}
	// Unescaped names and strings are never longer than their input, and
	// the reordered members of an object are rarely longer than the input,
	// so one scratch allocation usually serves both stacks.
	n := len(data)
	scratch := make([]byte, 0, 2*n)
	p := parser{
		data:    data,
		out:     make([]byte, 0, n),
		members: make([]member, 0, 16),
		tmp:     scratch[0:0:n],
		names:   scratch[n : n : 2*n],
	}
	p.skipWS()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos < len(p.data) {
		return nil, p.errf(p.pos, "unexpected %s after top-level value", describe(p.data[p.pos]))
	}
	return p.out, nil
}

// IsCanonical reports whether data is already exactly its canonical form
// (Canonicalize(data) == data, no error).
func IsCanonical(data []byte) bool {
	out, err := Canonicalize(data)
	return err == nil && bytes.Equal(out, data)
}

// Marshal canonicalizes a Go value: it encodes v with encoding/json's
// json.Marshal and then passes the result through Canonicalize.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Canonicalize(b)
}

// parser is a recursive-descent JSON parser that writes the canonical form
// of each value to out as it goes.
type parser struct {
	data    []byte
	pos     int
	out     []byte
	members []member // stack of members of the objects being parsed
	names   []byte   // stack of unescaped member names (and, briefly, strings)
	tmp     []byte   // scratch buffer for reordering object members
}

// member records one object member while its object is being parsed: the
// span of names holding its unescaped name, the offset of the name in the
// input, and the span of out holding the member's canonical `"name":value`
// bytes.
type member struct {
	nameStart, nameEnd int
	off                int
	start, end         int
}

func (p *parser) errf(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
}

// describe names a byte for an error message.
func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("character %q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) eof() *SyntaxError {
	return p.errf(len(p.data), "unexpected end of input")
}

// skipWS skips insignificant whitespace as defined by RFC 8259 §2.
func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses one JSON value starting at p.pos (whitespace already
// skipped). depth is the number of enclosing arrays and objects.
func (p *parser) value(depth int) error {
	if p.pos >= len(p.data) {
		return p.eof()
	}
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object(depth + 1)
	case '[':
		return p.array(depth + 1)
	case '"':
		// Decode onto the top of the names stack, then pop it again.
		base := len(p.names)
		s, err := p.parseString(p.names)
		if err != nil {
			return err
		}
		p.out = appendQuoted(p.out, s[base:])
		p.names = s[:base]
		return nil
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		if c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') ||
			c == 'N' || c == 'I' {
			return p.number()
		}
		return p.errf(p.pos, "unexpected %s at start of value", describe(c))
	}
}

// literal parses true, false or null (RFC 8259 §3; RFC 8785 §3.2.2.1).
func (p *parser) literal(lit string) error {
	start := p.pos
	if !bytes.HasPrefix(p.data[p.pos:], []byte(lit)) {
		return p.errf(start, "invalid literal (expected %s)", lit)
	}
	p.pos += len(lit)
	if p.pos < len(p.data) && isIdentByte(p.data[p.pos]) {
		return p.errf(p.pos, "unexpected %s after literal %s", describe(p.data[p.pos]), lit)
	}
	p.out = append(p.out, lit...)
	return nil
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// array parses an array (RFC 8259 §5). Element order is preserved.
func (p *parser) array(depth int) error {
	if depth > MaxDepth {
		return p.errf(p.pos, "nesting depth exceeds MaxDepth (%d)", MaxDepth)
	}
	p.pos++ // '['
	p.out = append(p.out, '[')
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.out = append(p.out, ']')
		return nil
	}
	for {
		p.skipWS()
		if err := p.value(depth); err != nil {
			return err
		}
		p.skipWS()
		if p.pos >= len(p.data) {
			return p.eof()
		}
		switch c := p.data[p.pos]; c {
		case ',':
			p.pos++
			p.out = append(p.out, ',')
		case ']':
			p.pos++
			p.out = append(p.out, ']')
			return nil
		default:
			return p.errf(p.pos, "expected ',' or ']' after array element, found %s", describe(c))
		}
	}
}

// object parses an object (RFC 8259 §4), rejects duplicate names
// (RFC 7493 §2.3) and emits the members sorted by the UTF-16 code units of
// their names (RFC 8785 §3.2.3).
//
// Each member is first written to p.out in input order as `"name":value`;
// once the object is complete the spans are sorted and rewritten in place.
func (p *parser) object(depth int) error {
	if depth > MaxDepth {
		return p.errf(p.pos, "nesting depth exceeds MaxDepth (%d)", MaxDepth)
	}
	p.pos++ // '{'
	p.out = append(p.out, '{')
	bodyStart := len(p.out)
	base, namesBase := len(p.members), len(p.names)

	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.out = append(p.out, '}')
		return nil
	}
	for {
		p.skipWS()
		if p.pos >= len(p.data) {
			return p.eof()
		}
		if c := p.data[p.pos]; c != '"' {
			return p.errf(p.pos, "expected string for object member name, found %s", describe(c))
		}
		nameOff := p.pos
		nameStart := len(p.names)
		names, err := p.parseString(p.names)
		if err != nil {
			return err
		}
		p.names = names
		nameEnd := len(p.names)
		p.skipWS()
		if p.pos >= len(p.data) {
			return p.eof()
		}
		if c := p.data[p.pos]; c != ':' {
			return p.errf(p.pos, "expected ':' after object member name, found %s", describe(c))
		}
		p.pos++
		p.skipWS()

		start := len(p.out)
		p.out = appendQuoted(p.out, p.names[nameStart:nameEnd])
		p.out = append(p.out, ':')
		if err := p.value(depth); err != nil {
			return err
		}
		p.members = append(p.members, member{nameStart: nameStart, nameEnd: nameEnd, off: nameOff, start: start, end: len(p.out)})

		p.skipWS()
		if p.pos >= len(p.data) {
			return p.eof()
		}
		c := p.data[p.pos]
		if c == ',' {
			p.pos++
			continue
		}
		if c != '}' {
			return p.errf(p.pos, "expected ',' or '}' after object member, found %s", describe(c))
		}
		p.pos++
		break
	}

	ms := p.members[base:]
	name := func(m member) []byte { return p.names[m.nameStart:m.nameEnd] }
	slices.SortStableFunc(ms, func(a, b member) int { return compareUTF16(name(a), name(b)) })

	// Duplicate names are adjacent after sorting (a stable sort keeps them in
	// input order). Report the earliest repeated occurrence in the input.
	dup := -1
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(name(ms[i]), name(ms[i-1])) && (dup < 0 || ms[i].off < ms[dup].off) {
			dup = i
		}
	}
	if dup >= 0 {
		return p.errf(ms[dup].off, "duplicate key %q", name(ms[dup]))
	}

	// Rewrite the body in sorted order, separated by commas.
	p.tmp = p.tmp[:0]
	for i, m := range ms {
		if i > 0 {
			p.tmp = append(p.tmp, ',')
		}
		p.tmp = append(p.tmp, p.out[m.start:m.end]...)
	}
	p.out = append(p.out[:bodyStart], p.tmp...)
	p.out = append(p.out, '}')
	p.members, p.names = p.members[:base], p.names[:namesBase]
	return nil
}

// compareUTF16 compares two valid UTF-8 strings as sequences of UTF-16 code
// units (RFC 8785 §3.2.3). It returns a negative number, zero or a
// positive number, and is equivalent to comparing
// utf16.Encode([]rune(a)) with utf16.Encode([]rune(b)) lexicographically,
// without allocating.
func compareUTF16(a, b []byte) int {
	for len(a) > 0 && len(b) > 0 {
		if a[0] < utf8.RuneSelf && b[0] < utf8.RuneSelf {
			if a[0] != b[0] {
				return int(a[0]) - int(b[0])
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb {
			return compareRuneUTF16(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case len(a) == len(b):
		return 0
	case len(a) == 0:
		return -1
	default:
		return 1
	}
}

// compareRuneUTF16 orders two distinct Unicode scalar values by their UTF-16
// encodings. Code points below U+10000 are one code unit equal to the code
// point; the others start with a high surrogate in D800..DBFF, which sorts
// above U+0000..U+D7FF but below U+E000..U+FFFF. Two supplementary code
// points compare like their code point values.
func compareRuneUTF16(a, b rune) int {
	ka, kb := utf16Key(a), utf16Key(b)
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return 0
}

// utf16Key maps a Unicode scalar value to an integer whose order matches
// the order of its UTF-16 encoding.
func utf16Key(r rune) rune {
	switch {
	case r < 0xD800:
		return r
	case r < 0x10000: // U+E000..U+FFFF: above every surrogate pair
		return r + 0x110000
	default: // supplementary: between U+D7FF and U+E000
		return r
	}
}

// parseString parses a JSON string (RFC 8259 §7) starting at the opening
// quote, appends its unescaped UTF-8 content to buf and returns the result.
// It rejects unescaped control characters, invalid escapes, lone
// surrogates and invalid UTF-8.
func (p *parser) parseString(buf []byte) ([]byte, error) {
	p.pos++ // opening '"'
	for {
		// Fast path: copy a run of plain ASCII.
		i := p.pos
		for i < len(p.data) {
			c := p.data[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			i++
		}
		buf = append(buf, p.data[p.pos:i]...)
		p.pos = i
		if p.pos >= len(p.data) {
			return nil, p.eof()
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return buf, nil
		case c == '\\':
			var err error
			if buf, err = p.escape(buf); err != nil {
				return nil, err
			}
		case c < 0x20:
			return nil, p.errf(p.pos, "unescaped control character U+%04X in string", c)
		default: // c >= 0x80
			r, n := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return nil, p.errf(p.pos, "invalid UTF-8 in string")
			}
			if IsNoncharacter(r) {
				return nil, p.errf(p.pos, "noncharacter U+%04X in string", r)
			}
			buf = append(buf, p.data[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
}

// escape decodes one escape sequence starting at the backslash
// (RFC 8259 §7) and appends its UTF-8 encoding to buf.
func (p *parser) escape(buf []byte) ([]byte, error) {
	start := p.pos
	if p.pos+1 >= len(p.data) {
		return nil, p.eof()
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(buf, c), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
	default:
		return nil, p.errf(start, "invalid escape sequence \\%s in string", escDescribe(c))
	}
	r, err := p.hex4(start)
	if err != nil {
		return nil, err
	}
	switch {
	case utf16.IsSurrogate(r) && r < 0xDC00: // high surrogate: needs a low one
		if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
			save := p.pos
			p.pos += 2
			r2, err := p.hex4(save)
			if err != nil {
				return nil, err
			}
			if r2 >= 0xDC00 && r2 <= 0xDFFF {
				r = utf16.DecodeRune(r, r2)
				break
			}
		}
		return nil, p.errf(start, "lone surrogate \\u%04x", r)
	case utf16.IsSurrogate(r): // low surrogate without a preceding high one
		return nil, p.errf(start, "lone surrogate \\u%04x", r)
	}
	if IsNoncharacter(r) {
		return nil, p.errf(start, "noncharacter U+%04X in string", r)
	}
	return utf8.AppendRune(buf, r), nil
}

// IsNoncharacter reports whether r is one of the 66 Unicode noncharacters
// (Unicode §23.7): U+FDD0..U+FDEF, and U+nFFFE and U+nFFFF in each of the
// 17 planes. I-JSON (RFC 7493 §2.1) excludes them from strings.
func IsNoncharacter(r rune) bool {
	return r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE && r <= utf8.MaxRune
}

func escDescribe(c byte) string {
	if c > 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("<0x%02x>", c)
}

// hex4 reads the four hex digits of a \u escape at p.pos. start is the
// offset of the escape's backslash, for error messages.
func (p *parser) hex4(start int) (rune, error) {
	var r rune
	for i := 0; i < 4; i++ {
		if p.pos+i >= len(p.data) {
			return 0, p.eof()
		}
		c := p.data[p.pos+i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, p.errf(start, "invalid \\u escape: %s is not a hex digit", describe(c))
		}
		r = r<<4 | rune(d)
	}
	p.pos += 4
	return r, nil
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s, which must be valid UTF-8, as a canonical JSON
// string (RFC 8785 §3.2.2.2): only '"', '\' and U+0000..U+001F are
// escaped; every other code point is copied literally.
func appendQuoted[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[last:i]...)
		last = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}

// number parses a number (RFC 8259 §6 grammar:
// [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ("e"/"E") ["+"/"-"] 1*DIGIT ])
// and appends its RFC 8785 §3.2.2.3 serialization.
func (p *parser) number() error {
	d := p.data
	start := p.pos
	i := start
	isDigit := func(i int) bool { return i < len(d) && d[i] >= '0' && d[i] <= '9' }

	switch d[i] {
	case '+':
		return p.errf(i, "invalid number: leading '+' is not allowed")
	case '.':
		return p.errf(i, "invalid number: missing integer part before '.'")
	case 'N', 'I':
		return p.notNumber(i)
	case '-':
		i++
		if i < len(d) && (d[i] == 'I' || d[i] == 'N') {
			return p.notNumber(i)
		}
		if !isDigit(i) {
			return p.errf(i, "invalid number: expected digit after '-'")
		}
	}

	// Integer part.
	intStart := i
	if d[i] == '0' {
		i++
		if isDigit(i) {
			return p.errf(i, "invalid number: leading zero")
		}
	} else {
		for isDigit(i) {
			i++
		}
	}
	intDigits := i - intStart
	simple := true

	// Fraction.
	if i < len(d) && d[i] == '.' {
		simple = false
		i++
		if !isDigit(i) {
			return p.errf(i, "invalid number: expected digit after decimal point")
		}
		for isDigit(i) {
			i++
		}
	}

	// Exponent.
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		simple = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !isDigit(i) {
			return p.errf(i, "invalid number: expected digit in exponent")
		}
		for isDigit(i) {
			i++
		}
	}

	if i < len(d) && (isIdentByte(d[i]) || d[i] == '.' || d[i] == '+' || d[i] == '-') {
		return p.errf(i, "invalid %s in number", describe(d[i]))
	}
	p.pos = i

	// Fast path: an integer of at most 15 digits is exactly representable
	// as a double and ECMAScript prints it as plain digits (-0 as "0").
	if simple && intDigits <= 15 {
		var v int64
		for _, c := range d[intStart:i] {
			v = v*10 + int64(c-'0')
		}
		if d[start] == '-' {
			v = -v
		}
		p.out = strconv.AppendInt(p.out, v, 10)
		return nil
	}

	f, err := strconv.ParseFloat(string(d[start:i]), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		// The grammar was checked above, so the only possible error is
		// ErrRange. Overflow cannot be serialized (RFC 8785 §3.2.2.3);
		// underflow returns 0 without error and is accepted.
		return p.errf(start, "number out of range")
	}
	p.out = appendES(p.out, f)
	return nil
}

// notNumber reports NaN, Infinity and other non-numbers starting at i.
func (p *parser) notNumber(i int) error {
	rest := p.data[i:]
	if bytes.HasPrefix(rest, []byte("NaN")) || bytes.HasPrefix(rest, []byte("Infinity")) {
		return p.errf(i, "invalid number: NaN and Infinity are not allowed")
	}
	return p.errf(i, "unexpected %s at start of value", describe(p.data[i]))
}

// appendES appends the ECMAScript Number::toString (ECMA-262, radix 10)
// form of the finite double f, as required by RFC 8785 §3.2.2.3.
//
// ECMA-262 defines it via integers n, k and s such that k ≥ 1,
// 10^(k-1) ≤ s < 10^k, s × 10^(n-k) = f and k is as small as possible;
// s is the shortest digit string that round-trips, which is what
// strconv.FormatFloat(f, 'e', -1, 64) produces (choosing the closest such
// string when several exist). Then:
//
//	k ≤ n ≤ 21   → the k digits followed by n-k zeros
//	0 < n ≤ 21   → the first n digits, '.', the remaining k-n digits
//	-6 < n ≤ 0   → "0.", -n zeros, the k digits
//	otherwise    → d[0], then "." and d[1:] if k > 1, then "e", the sign
//	               of n-1 ('+' or '-') and abs(n-1)
func appendES(dst []byte, f float64) []byte {
	if f == 0 { // +0 and -0
		return append(dst, '0')
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d[.ddd]e±XX
	epos := bytes.IndexByte(e, 'e')
	var digits [20]byte
	k := copy(digits[:], e[:1])
	if epos > 1 { // e[1] == '.'
		k += copy(digits[k:], e[2:epos])
	}
	exp := 0
	for _, c := range e[epos+2:] { // e[epos+1] is the sign
		exp = exp*10 + int(c-'0')
	}
	if e[epos+1] == '-' {
		exp = -exp
	}
	n := exp + 1
	ds := digits[:k]

	switch {
	case k <= n && n <= 21:
		dst = append(dst, ds...)
		for j := 0; j < n-k; j++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, ds[:n]...)
		dst = append(dst, '.')
		dst = append(dst, ds[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for j := 0; j < -n; j++ {
			dst = append(dst, '0')
		}
		dst = append(dst, ds...)
	default:
		dst = append(dst, ds[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, ds[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
			dst = strconv.AppendInt(dst, int64(n-1), 10)
		} else {
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(1-n), 10)
		}
	}
	return dst
}
