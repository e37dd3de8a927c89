package jcs

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckSpelling checks that every string (member names included) and every
// number in the JSON text data is spelled exactly as RFC 8785 writes it:
// strings escape only '"', '\' and U+0000–U+001F, with the short escapes
// \b \t \n \f \r where they exist and \u00xx (lowercase hex) otherwise;
// numbers are in their ECMAScript shortest round-trip form (5, not 5.0, 5e0
// or 0.5e1). What it leaves free is the white space between tokens and the
// order of object members: a document passes if and only if removing that
// white space and sorting its members gives its RFC 8785 canonical form.
// data must be JSON that Canonicalize accepts; CheckSpelling reports
// the first token spelled otherwise, with its byte offset.
func CheckSpelling(data []byte) error {
	for i := 0; i < len(data); {
		start := i
		switch c := data[i]; {
		case c == '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			i++ // the closing quote
		case c == '-' || (c >= '0' && c <= '9'):
			for i < len(data) && strings.IndexByte("+-.0123456789eE", data[i]) >= 0 {
				i++
			}
		default: // white space, structure, true, false, null
			i++
			continue
		}
		if i > len(data) {
			return fmt.Errorf("unterminated string at byte %d", start)
		}
		tok := data[start:i]
		c, err := Canonicalize(tok)
		if err != nil {
			return fmt.Errorf("token at byte %d: %v", start, err)
		}
		if string(c) != string(tok) {
			kind := "number"
			if tok[0] == '"' {
				kind = "string"
			}
			return fmt.Errorf("%s %s at byte %d is not spelled as RFC 8785 writes it (%s); only white space and member order are free",
				kind, shorten(tok), start, shorten(c))
		}
	}
	return nil
}

// shorten returns b as text for an error message, cut at 80 bytes.
func shorten(b []byte) string {
	if len(b) <= 80 {
		return string(b)
	}
	cut := 77
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "..."
}
