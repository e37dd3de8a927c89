package jcs

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckSpelling(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when accepted
	}{
		{`{"a":1,"b":[true,false,null,"x"]}`, ""},
		{" {\n\t\"b\" : 2 ,\"a\":-0.5}\n", ""},
		{`{"a":"\u00e9"}`, `string "\u00e9" at byte 5`},
		{`{"a":"é\n\u001f\"\\"}`, ""},
		{`{"a":"\u000A"}`, `string "\u000A"`},
		{`{"a":"\/"}`, `string "\/"`},
		{`{"\u0061":1}`, `string "\u0061" at byte 1`},
		{`{"a":1.0}`, "number 1.0 at byte 5"},
		{`{"a":1e0}`, "number 1e0"},
		{`{"a":1E+2}`, "number 1E+2"},
		{`{"a":-0}`, "number -0"},
		{`{"a":1e21}`, "number 1e21"},
		{`{"a":1e+21}`, ""},
		{`{"a":0.000001}`, ""},
		{`{"a":1e-7}`, ""},
	}
	for _, tt := range tests {
		if _, err := Canonicalize([]byte(tt.in)); err != nil {
			t.Fatalf("%s: not JSON: %v", tt.in, err)
		}
		err := CheckSpelling([]byte(tt.in))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckSpelling(%s) = %v, want nil", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckSpelling(%s) = %v, want an error mentioning %q", tt.in, err, tt.want)
		}
	}
}

// FuzzCheckSpelling: on any JSON Canonicalize accepts, CheckSpelling does
// not panic, accepts the canonical form, and accepts the input exactly
// when its scalars are the canonical form's (white space and member order
// aside), checked here by comparing sorted token lists.
func FuzzCheckSpelling(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"b":[1.5,"x\n"],"a":null}`, ` [ 1e0 , "\u0041" ] `, `"\/"`, `-0`, `{"a":{"b":{"c":1E+2}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Canonicalize(data)
		if err != nil {
			return
		}
		if err := CheckSpelling(c); err != nil {
			t.Fatalf("canonical form %s refused: %v", c, err)
		}
		if CheckSpelling(data) == nil {
			// Same scalar tokens as the canonical form, in some order.
			a, b := scalarTokens(data), scalarTokens(c)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Fatalf("%q accepted, but its tokens %q are not the canonical form's %q", data, a, b)
			}
		}
	})
}

// scalarTokens lists the strings and numbers of JSON text, as spelled.
func scalarTokens(data []byte) []string {
	var out []string
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
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			for i < len(data) && strings.IndexByte("+-.0123456789eE", data[i]) >= 0 {
				i++
			}
		default:
			i++
			continue
		}
		out = append(out, string(data[start:min(i, len(data))]))
	}
	return out
}
