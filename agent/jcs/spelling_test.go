package jcs

import (
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
