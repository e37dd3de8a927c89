package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/jcs"
)

// MaxInput is the longest input line ParseInput reads, in bytes: the
// largest JSON text agent/jcs canonicalizes.
const MaxInput = jcs.MaxSize

// inputMembers are the members of an input line, in the order the spec
// lists them.
var inputMembers = []string{"kind", "payload", "time", "time_source"}

// ParseInput decodes one line of `waybill log append` input
// (firmware-docs/PROTOCOL.md §2.1) into an unsigned event with a canonical
// payload. The line is one JSON object with the members kind, payload and,
// together or not at all, time and time_source; now supplies the time of an
// event whose line has none.
//
// ParseInput is strict where encoding/json is lenient. It refuses, naming
// the member or byte offset:
//
//   - anything but one JSON object on the line;
//   - anything agent/jcs refuses: invalid UTF-8, lone surrogates, Unicode
//     noncharacters, duplicate member names (compared after unescaping),
//     numbers that overflow a double;
//   - member names that differ from the specified ones, including in case
//     ("Kind" is not "kind");
//   - a number whose value would change in canonical form: canonical JSON
//     writes the shortest decimal that reads back as the same IEEE-754
//     double, and only a number whose decimal value is exactly that one is
//     accepted (5.0 and 5e0 are 5; 123456789012345678901234567890 would be
//     signed as 1.2345678901234568e+29 and 1e-400 as 0, so both are refused);
//   - lines longer than MaxInput and payloads nested deeper than
//     MaxPayloadDepth;
//   - every event that Event.Validate refuses.
//
// Every error wraps ErrInvalid.
func ParseInput(line []byte, now func() (ms int64, src TimeSource)) (Event, error) {
	var ev Event
	if len(line) > MaxInput {
		return ev, invalid("line is %d bytes, more than the limit of %d", len(line), MaxInput)
	}
	if t := bytes.TrimLeft(line, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return ev, invalid("not a JSON object with kind, payload and optional time and time_source")
	}
	depth, end := nesting(line)
	if depth > jcs.MaxDepth {
		return ev, invalid("line nests %d levels deep; a payload may nest at most %d", depth, MaxPayloadDepth)
	}
	if rest := bytes.TrimLeft(line[end:], " \t\r\n"); len(rest) > 0 {
		if rest[0] == '{' || rest[0] == '[' {
			return ev, invalid("more than one JSON value on the line (one event per line)")
		}
		return ev, invalid("unexpected %s after the object at offset %d", short(strconv.Quote(string(rest))), len(line)-len(rest))
	}
	canon, err := jcs.Canonicalize(line)
	if err != nil {
		return ev, invalid("not strict JSON (I-JSON, RFC 7493): %v", err)
	}
	if err := checkInput(line); err != nil {
		return ev, err
	}

	var m map[string]json.RawMessage
	if err := json.Unmarshal(canon, &m); err != nil {
		return ev, invalid("line: %v", err) // canon is a valid object: not reached
	}
	kind, err := inputString(m, "kind")
	if err != nil {
		return ev, err
	}
	if kind == "" {
		return ev, invalid(`missing "kind"`)
	}
	p := m["payload"]
	if len(p) == 0 || string(p) == "null" {
		return ev, invalid(`missing "payload" (a JSON object)`)
	}
	if p[0] != '{' {
		return ev, invalid(`"payload" is not a JSON object`)
	}
	ev.Kind, ev.Payload = Kind(kind), []byte(p) // canonical, as part of canon
	src, err := inputString(m, "time_source")
	if err != nil {
		return ev, err
	}
	t, hasTime := m["time"]
	switch {
	case hasTime && src == "":
		return ev, invalid(`"time" given without "time_source" (one of gnss, ntp, rtc, unsynced)`)
	case !hasTime && src != "":
		return ev, invalid(`"time_source" given without "time"`)
	case hasTime:
		ms, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil || ms < 0 || ms > MaxSeq {
			return ev, invalid(`"time" is %s, not an integer number of milliseconds 0 … %d`, short(string(t)), int64(MaxSeq))
		}
		ev.Time, ev.Source = ms, TimeSource(src)
	default:
		ev.Time, ev.Source = now()
	}
	if err := ev.Validate(); err != nil {
		return ev, err
	}
	return ev, nil
}

// inputString returns the string member name of the canonical input
// object m, or "" if there is none.
func inputString(m map[string]json.RawMessage, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", nil
	}
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", invalid("%q is %s, not a string", name, short(string(v)))
	}
	return s, nil
}

// checkInput walks the input line, which agent/jcs has accepted, and
// refuses member names at the top level other than the specified ones and
// any number whose value its canonical form would change.
func checkInput(line []byte) error {
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for i, f := range stack {
			switch {
			case !f.obj:
				fmt.Fprintf(&b, "[%d]", f.idx)
			case identRE.MatchString(f.key):
				if i > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			default:
				fmt.Fprintf(&b, "[%s]", strconv.Quote(f.key))
			}
		}
		return b.String()
	}
	// next records that a value ended in the innermost container.
	next := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].obj {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].idx++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return invalid("line: %v", err) // jcs accepted it: not reached
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{obj: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
				next()
			}
		case string:
			if top := &stack[len(stack)-1]; top.obj && top.wantKey {
				top.key, top.wantKey = t, false
				if len(stack) == 1 {
					if err := inputMember(t); err != nil {
						return err
					}
				}
				continue
			}
			next()
		case json.Number:
			c, err := jcs.Canonicalize([]byte(t))
			if err != nil {
				return invalid("%s: number %s: %v", path(), short(string(t)), err) // jcs accepted it: not reached
			}
			if !sameNumber(string(t), string(c)) {
				return invalid("%s: number %s cannot be signed exactly: its canonical form, the nearest IEEE-754 double, is %s (give the value as a string to keep every digit)",
					path(), short(string(t)), c)
			}
			next()
		default:
			next()
		}
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// inputMember refuses a top-level member name of an input line that is not
// one of inputMembers, exactly.
func inputMember(name string) error {
	for _, m := range inputMembers {
		if name == m {
			return nil
		}
	}
	for _, m := range inputMembers {
		if strings.EqualFold(name, m) {
			return invalid("unknown field %q: member names are case-sensitive (did you mean %q?)", name, m)
		}
	}
	return invalid("unknown field %q: an input line has the members kind, payload and, together, time and time_source", short(name))
}

// sameNumber reports whether the JSON numbers a and b (RFC 8259 §6
// grammar) have the same decimal value. -0 is 0.
func sameNumber(a, b string) bool {
	an, ad, ae, aok := decimal(a)
	bn, bd, be, bok := decimal(b)
	return aok && bok && an == bn && ad == bd && ae == be
}

// decimal returns the value of the JSON number s as sign, significant
// digits without leading or trailing zeros, and the power of ten of the
// last digit: value = ±digits × 10^exp. Zero is (false, "", 0). ok is false
// for exponents too large to compute with, which a nonzero number of at
// most MaxInput bytes can only have if it is far outside a double's range.
func decimal(s string) (neg bool, digits string, exp int64, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits = strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return false, "", 0, true
	}
	if hasExp {
		e = strings.TrimPrefix(e, "+")
		sign := int64(1)
		if strings.HasPrefix(e, "-") {
			sign, e = -1, e[1:]
		}
		e = strings.TrimLeft(e, "0")
		if len(e) > 15 {
			return neg, digits, 0, false
		}
		if e != "" {
			n, err := strconv.ParseInt(e, 10, 64)
			if err != nil {
				return neg, digits, 0, false
			}
			exp = sign * n
		}
	}
	exp -= int64(len(frac))
	t := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(t))
	return neg, t, exp, true
}

// nesting returns the deepest nesting of arrays and objects in the JSON
// text b (a top-level array or object is level 1), and the offset just past
// the first top-level array or object (len(b) if there is none or it does
// not end). Strings are skipped; b need not be valid JSON.
func nesting(b []byte) (depth, end int) {
	d := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = scanString(b, i) - 1
		case '{', '[':
			d++
			depth = max(depth, d)
		case '}', ']':
			d--
			if d <= 0 {
				return depth, i + 1
			}
		}
	}
	return depth, len(b)
}

// Text returns s as a string a payload may hold: every invalid UTF-8
// byte and every Unicode noncharacter (which I-JSON, and so a payload,
// refuses) replaced by U+FFFD, and the result cut, at a rune boundary, to
// at most MaxString bytes. It is for text the device did not choose, such
// as an error message, that must be recorded rather than refused: the
// replacements can make a string longer than it was, so the cut comes
// last.
func Text(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, jcs.IsNoncharacter) >= 0 {
		var b strings.Builder
		for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
			if jcs.IsNoncharacter(r) {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	if len(s) <= MaxString {
		return s
	}
	cut := MaxString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// short shortens s for an error message.
func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 61
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
