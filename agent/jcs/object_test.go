package jcs

import (
	"bytes"
	"strings"
	"testing"
)

func TestDecodeObject(t *testing.T) {
	names := []string{"b", "n", "s"}
	tests := []struct {
		name   string
		in     string
		strict bool   // DecodeStrict, else DecodeCanonical
		want   string // "" when accepted
	}{
		{"canonical", `{"b":"AAE=","n":1,"s":"x"}`, false, ""},
		{"canonical, strict", `{"b":"AAE=","n":1,"s":"x"}`, true, ""},
		{"white space", ` {"b":"AAE=", "n":1,"s":"x"}`, false, `o is not in RFC 8785 canonical form (first difference at byte 0)`},
		{"white space, strict", ` {"b":"AAE=", "n":1,"s":"x"}`, true, ""},
		{"member order", `{"n":1,"b":"AAE=","s":"x"}`, false, `o is not in RFC 8785 canonical form (first difference at byte 2)`},
		{"member order, strict", `{"n":1,"b":"AAE=","s":"x"}`, true, ""},
		{"number spelling, strict", `{"b":"AAE=","n":1.0,"s":"x"}`, true, `o: number 1.0 at byte 16 is not spelled as RFC 8785 writes it (1); only white space and member order are free`},
		{"escaped name, strict", `{"b":"AAE=","\u006e":1,"s":"x"}`, true, `o: string "\u006e" at byte 12 is not spelled as RFC 8785 writes it ("n"); only white space and member order are free`},
		{"duplicate", `{"b":"AAE=","n":1,"n":1,"s":"x"}`, false, `o is not strict JSON: jcs: duplicate key "n"`},
		{"duplicate, strict", `{"b":"AAE=","n":1,"n":1,"s":"x"}`, true, `o is not strict JSON: jcs: duplicate key "n"`},
		{"trailing data", `{"b":"AAE=","n":1,"s":"x"}x`, true, `o is not strict JSON`},
		{"array", `[1]`, false, `o is not a JSON object`},
		{"string", `"x"`, true, `o is not a JSON object`},
		{"missing", `{"b":"AAE=","s":"x"}`, false, `o has no "n" member`},
		{"null", `{"b":"AAE=","n":null,"s":"x"}`, false, `o member "n" is null`},
		{"unknown", `{"a":1,"b":"AAE=","n":1,"s":"x","z":2}`, false, `o has unknown member "a"`},
		{"case variant", `{"N":1,"b":"AAE=","s":"x"}`, true, `o has no "n" member`},
		{"case variant beside", `{"N":1,"b":"AAE=","n":1,"s":"x"}`, false, `o has unknown member "N"`},
	}
	for _, tt := range tests {
		decode := DecodeCanonical
		if tt.strict {
			decode = DecodeStrict
		}
		_, err := decode("o", []byte(tt.in), names...)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestObjectMembers(t *testing.T) {
	tests := []struct {
		name string
		in   string // the value of member "m"
		get  func(o *Object) (any, error)
		want any
		err  string // "" when accepted
	}{
		{"uint", `7`, uintOf(9), uint64(7), ""},
		{"uint max", `9`, uintOf(9), uint64(9), ""},
		{"uint zero", `0`, uintOf(9), uint64(0), ""},
		{"uint above max", `10`, uintOf(9), nil, `o member "m" is 10, out of range (at most 9)`},
		{"uint overflow", `18446744073709552000`, uintOf(1<<64 - 1), nil, `o member "m" is 18446744073709552000, out of range (at most 18446744073709551615)`},
		{"uint negative", `-1`, uintOf(9), nil, `o member "m" is -1, not a non-negative integer`},
		{"uint fraction", `1.5`, uintOf(9), nil, `o member "m" is 1.5, not a non-negative integer`},
		{"uint exponent", `1e+21`, uintOf(1<<64 - 1), nil, `o member "m" is 1e+21, not a non-negative integer`},
		{"uint string", `"1"`, uintOf(9), nil, `o member "m" is "1", not a non-negative integer`},
		{"string", `"a\nb"`, stringOf, "a\nb", ""},
		{"string number", `1`, stringOf, nil, `o member "m" is 1, not a string`},
		{"string object", `{}`, stringOf, nil, `o member "m" is {}, not a string`},
		{"string long", `[` + strings.Repeat(`1,`, 50) + `1]`, stringOf, nil, `o member "m" is [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,..., not a string`},
		{"base64", `"AAE="`, base64Of, []byte{0, 1}, ""},
		{"base64 empty", `""`, base64Of, []byte{}, ""},
		{"base64 padding bits", `"AAF="`, base64Of, nil, `o member "m" is not canonical standard base64 (RFC 4648 §4, padded)`},
		{"base64 unpadded", `"AAE"`, base64Of, nil, `o member "m" is not canonical standard base64 (RFC 4648 §4, padded)`},
		{"base64 url", `"-_8="`, base64Of, nil, `o member "m" is not canonical standard base64 (RFC 4648 §4, padded)`},
		{"base64 not string", `true`, base64Of, nil, `o member "m" is true, not a string`},
		{"object", `{"x":1}`, objectOf, "o m", ""},
		{"object unknown", `{"x":1,"y":2}`, objectOf, nil, `o m has unknown member "y"`},
		{"object missing", `{}`, objectOf, nil, `o m has no "x" member`},
		{"object array", `[]`, objectOf, nil, `o m is not a JSON object`},
	}
	for _, tt := range tests {
		o, err := DecodeStrict("o", []byte(`{"m":`+tt.in+`}`), "m")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := tt.get(o)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: got %v, %v; want error %q", tt.name, got, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		default:
			if b, ok := tt.want.([]byte); ok {
				if !bytes.Equal(got.([]byte), b) {
					t.Errorf("%s: got %x, want %x", tt.name, got, b)
				}
			} else if got != tt.want {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	}
}

func uintOf(max uint64) func(*Object) (any, error) {
	return func(o *Object) (any, error) {
		n, err := o.Uint("m", max)
		if err != nil {
			return nil, err
		}
		return n, nil
	}
}

func stringOf(o *Object) (any, error) {
	s, err := o.String("m")
	if err != nil {
		return nil, err
	}
	return s, nil
}

func base64Of(o *Object) (any, error) {
	b, err := o.Base64("m")
	if err != nil {
		return nil, err
	}
	return b, nil
}

func objectOf(o *Object) (any, error) {
	m, err := o.Object("m", "x")
	if err != nil {
		return nil, err
	}
	return m.Name(), nil
}

// FuzzDecodeStrict: whatever DecodeStrict accepts, DecodeCanonical accepts
// in its canonical form, with the same members; the two never panic.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x"}`, ` {"b":"x","a":1}`, `{"a":null,"b":"x"}`, `{"a":1.0,"b":"x"}`, `[]`, `{"a":1,"a":2,"b":3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeStrict("o", data, "a", "b")
		c, cerr := Canonicalize(data)
		if err != nil {
			if cerr == nil {
				DecodeCanonical("o", c, "a", "b") // must not panic
			}
			return
		}
		oc, err := DecodeCanonical("o", c, "a", "b")
		if err != nil {
			t.Fatalf("DecodeStrict accepts %q, DecodeCanonical refuses its canonical form: %v", data, err)
		}
		for _, n := range []string{"a", "b"} {
			if !bytes.Equal(o.Raw(n), oc.Raw(n)) {
				t.Fatalf("member %q: %s and %s", n, o.Raw(n), oc.Raw(n))
			}
		}
	})
}
