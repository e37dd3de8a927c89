package jcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// appendixB is the number serialization table of RFC 8785 Appendix B
// (IEEE-754 bit pattern → canonical text). The two non-finite entries of
// the appendix (NaN, Infinity) cannot occur in JSON text and are covered by
// the bad-input table instead.
var appendixB = []struct {
	bits uint64
	want string
}{
	{0x0000000000000000, "0"},
	{0x8000000000000000, "0"},
	{0x0000000000000001, "5e-324"},
	{0x8000000000000001, "-5e-324"},
	{0x7fefffffffffffff, "1.7976931348623157e+308"},
	{0xffefffffffffffff, "-1.7976931348623157e+308"},
	{0x4340000000000000, "9007199254740992"},
	{0xc340000000000000, "-9007199254740992"},
	{0x4430000000000000, "295147905179352830000"},
	{0x44b52d02c7e14af5, "9.999999999999997e+22"},
	{0x44b52d02c7e14af6, "1e+23"},
	{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
	{0x444b1ae4d6e2ef4e, "999999999999999700000"},
	{0x444b1ae4d6e2ef4f, "999999999999999900000"},
	{0x444b1ae4d6e2ef50, "1e+21"},
	{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
	{0x3eb0c6f7a0b5ed8d, "0.000001"},
	{0x41b3de4355555553, "333333333.3333332"},
	{0x41b3de4355555554, "333333333.33333325"},
	{0x41b3de4355555555, "333333333.3333333"},
	{0x41b3de4355555556, "333333333.3333334"},
	{0x41b3de4355555557, "333333333.33333343"},
	{0xbecbf647612f3696, "-0.0000033333333333333333"},
	{0x43143ff3c1cb0959, "1424953923781206.2"},
}

func TestCanonicalize_Numbers(t *testing.T) {
	for _, tc := range appendixB {
		f := math.Float64frombits(tc.bits)
		t.Run(strconv.FormatUint(tc.bits, 16), func(t *testing.T) {
			if got := string(appendES(nil, f)); got != tc.want {
				t.Errorf("appendES(%x) = %q, want %q", tc.bits, got, tc.want)
			}
			// The same value written in several JSON spellings.
			for _, in := range []string{
				strconv.FormatFloat(f, 'g', -1, 64),
				strconv.FormatFloat(f, 'e', 20, 64),
				strconv.FormatFloat(f, 'E', -1, 64),
				tc.want,
			} {
				got, err := Canonicalize([]byte(in))
				if err != nil {
					t.Errorf("Canonicalize(%s): %v", in, err)
					continue
				}
				if string(got) != tc.want {
					t.Errorf("Canonicalize(%s) = %s, want %s", in, got, tc.want)
				}
			}
		})
	}
}

// TestCanonicalize_NumberText covers the ECMAScript Number::toString
// branches (k ≤ n ≤ 21; 0 < n ≤ 21; -6 < n ≤ 0; exponent form) and the
// boundaries between them, plus the RFC 8259 §6 input spellings.
func TestCanonicalize_NumberText(t *testing.T) {
	tests := []struct{ in, want string }{
		// Integers and trailing zeros (k ≤ n ≤ 21).
		{"0", "0"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"0e10", "0"},
		{"-0E-10", "0"},
		{"7", "7"},
		{"-7", "-7"},
		{"100", "100"},
		{"1e2", "100"},
		{"1E+2", "100"},
		{"100000000000000", "100000000000000"},   // 15 digits, fast path
		{"999999999999999", "999999999999999"},   // 15 digits, fast path
		{"1000000000000000", "1000000000000000"}, // 16 digits, slow path
		{"9007199254740993", "9007199254740992"}, // rounds to even
		{"123456789012345678", "123456789012345680"},
		{"1e20", "100000000000000000000"},
		{"100000000000000000000", "100000000000000000000"},
		{"1e21", "1e+21"},
		{"999999999999999999999", "1e+21"},
		{"1.5e21", "1.5e+21"},
		{"1.2e20", "120000000000000000000"},
		// Decimal point inside the digits (0 < n ≤ 21).
		{"1.5", "1.5"},
		{"-1.5", "-1.5"},
		{"4.50", "4.5"},
		{"12.34e+1", "123.4"},
		{"123456789012345.6", "123456789012345.6"},
		{"0.1", "0.1"},
		{"0.30000000000000004", "0.30000000000000004"},
		{"1.0", "1"},
		// Leading "0." (-6 < n ≤ 0).
		{"0.5", "0.5"},
		{"2e-3", "0.002"},
		{"1e-6", "0.000001"},
		{"1.5e-6", "0.0000015"},
		{"-1e-6", "-0.000001"},
		// Exponent form.
		{"1e-7", "1e-7"},
		{"1.5e-7", "1.5e-7"},
		{"-1.5e-7", "-1.5e-7"},
		{"1E30", "1e+30"},
		{"0.000000000000000000000000001", "1e-27"},
		{"123e-20", "1.23e-18"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"4.9e-324", "5e-324"},
		// Underflow rounds to zero and is accepted; the overflow is an error
		// (see the bad-input table).
		{"1e-400", "0"},
		{"-1e-400", "0"},
		{"2e-324", "0"},
		{"3e-324", "5e-324"},
		{"1" + strings.Repeat("0", 400) + "e-400", "1"},
		{"0." + strings.Repeat("0", 400) + "1e400", "0.1"},
		// The §3.2.2 example's first value.
		{"333333333.33333329", "333333333.3333333"},
	}
	for _, tc := range tests {
		got, err := Canonicalize([]byte(tc.in))
		if err != nil {
			t.Errorf("Canonicalize(%.40s): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("Canonicalize(%.40s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// esReference is a deliberately different formulation of ECMA-262
// Number::toString used to cross-check appendES: it derives n, k and s via
// strconv's 'g' formatting and builds the result with strings.
func esReference(f float64) string {
	if f == 0 {
		return "0"
	}
	if f < 0 {
		return "-" + esReference(-f)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	s := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(s), x+1
	switch {
	case k <= n && n <= 21:
		return s + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return s[:n] + "." + s[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + s
	}
	r := s[:1]
	if k > 1 {
		r += "." + s[1:]
	}
	if n-1 >= 0 {
		return r + "e+" + strconv.Itoa(n-1)
	}
	return r + "e-" + strconv.Itoa(1-n)
}

func TestCanonicalize_NumbersRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		var f float64
		switch i % 3 {
		case 0:
			f = math.Float64frombits(r.Uint64())
		case 1:
			f = r.NormFloat64() * math.Pow(10, float64(r.IntN(50)-25))
		default:
			f = float64(r.Int64N(1<<62)) * float64(1-2*(i%2))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		want := esReference(f)
		if got := string(appendES(nil, f)); got != want {
			t.Fatalf("appendES(%x) = %s, want %s", math.Float64bits(f), got, want)
		}
		in := strconv.FormatFloat(f, 'g', -1, 64)
		got, err := Canonicalize([]byte(in))
		if err != nil || string(got) != want {
			t.Fatalf("Canonicalize(%s) = %s, %v; want %s", in, got, err, want)
		}
		// The canonical text must parse back to the same double.
		back, err := strconv.ParseFloat(want, 64)
		if err != nil || back != f && !(f == 0 && back == 0) {
			t.Fatalf("%s does not round-trip to %x", want, math.Float64bits(f))
		}
	}
}

// TestCanonicalize_RFCExample is the example of RFC 8785 §3.2.2.
func TestCanonicalize_RFCExample(t *testing.T) {
	in := `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	got, err := Canonicalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestCanonicalize_Sorting is the property sorting example of
// RFC 8785 §3.2.3, plus cases where UTF-16 and UTF-8/code point order
// differ.
func TestCanonicalize_Sorting(t *testing.T) {
	tests := []struct {
		name, in string
		order    []string // expected member names in output order
	}{
		{
			name: "rfc8785-3.2.3",
			in: `{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh",` +
				`"1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control",` +
				`"\u00f6":"Latin Small Letter O With Diaeresis"}`,
			order: []string{"\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"},
		},
		{
			// U+FFFD sorts after U+10000 in UTF-16 (D800 DC00 < FFFD) but
			// before it in UTF-8 and code point order.
			name:  "surrogates-vs-bmp-high",
			in:    `{"\ufffd":1,"\ud800\udc00":2,"\ue000":3,"\ud7ff":4}`,
			order: []string{"\ud7ff", "\U00010000", "\ue000", "\ufffd"},
		},
		{
			name:  "prefixes",
			in:    `{"ab":1,"a":2,"":3,"abc":4,"b":5,"B":6,"aB":7}`,
			order: []string{"", "B", "a", "aB", "ab", "abc", "b"},
		},
		{
			name:  "same-high-surrogate",
			in:    `{"\ud83d\ude01":1,"\ud83d\ude00":2,"\ud83c\udfff":3}`,
			order: []string{"\U0001F3FF", "\U0001F600", "\U0001F601"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if keys := topLevelKeys(t, got); !slices.Equal(keys, tc.order) {
				t.Errorf("order = %q, want %q (output %s)", keys, tc.order, got)
			}
		})
	}
}

// topLevelKeys returns the member names of a JSON object in document order.
func topLevelKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func compareUTF16Reference(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func TestCompareUTF16(t *testing.T) {
	interesting := []rune{0, 1, 'A', 'a', 0x7f, 0x80, 0xff, 0x100, 0x7ff, 0x800,
		0xd7ff, 0xe000, 0xfb33, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff}
	var strs []string
	for _, a := range interesting {
		strs = append(strs, string(a))
		for _, b := range interesting[:6] {
			strs = append(strs, string(a)+string(b), string(b)+string(a))
		}
	}
	strs = append(strs, "")
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		strs = append(strs, randomString(r, 4))
	}
	for _, a := range strs {
		for _, b := range strs[:200] {
			if got, want := sign(compareUTF16([]byte(a), []byte(b))), compareUTF16Reference(a, b); got != want {
				t.Fatalf("compareUTF16(%q, %q) = %d, want %d", a, b, got, want)
			}
			if got, want := sign(compareUTF16([]byte(b), []byte(a))), compareUTF16Reference(b, a); got != want {
				t.Fatalf("compareUTF16(%q, %q) = %d, want %d", b, a, got, want)
			}
		}
	}
}

func TestCanonicalize_Strings(t *testing.T) {
	tests := []struct{ in, want string }{
		{`""`, `""`},
		{`"abc"`, `"abc"`},
		{`"\""`, `"\""`},
		{`"\\"`, `"\\"`},
		{`"\/"`, `"/"`},
		{`"/"`, `"/"`},
		{`"\b\f\n\r\t"`, `"\b\f\n\r\t"`},
		{`"\u0008\u000C\u000a\u000D\u0009"`, `"\b\f\n\r\t"`},
		{`"\u0000"`, `"\u0000"`},
		{`"\u001F\u001f\u000B\u000e"`, `"\u001f\u001f\u000b\u000e"`},
		{`"\u0020"`, `" "`},
		{`"\u007f"`, "\"\x7f\""},
		{"\"\x7f\"", "\"\x7f\""},
		{`"\u0080"`, "\"\u0080\""},
		{`"\u003c\u003e\u0026"`, `"<>&"`},
		{`"\u2028\u2029"`, "\"\u2028\u2029\""},
		{`"\u00E9"`, `"é"`},
		{`"é"`, `"é"`},
		{`"\uFFFD"`, "\"\ufffd\""},
		{`"\uFDCF\uFDF0\uFFFC"`, "\"\ufdcf\ufdf0\ufffc\""},
		{`"\ud83f\udffd"`, "\"\U0001FFFD\""},
		{`"\uFEFF"`, "\"\ufeff\""},
		{`"\ud83d\ude00"`, `"😀"`},
		{`"\uD83D\uDE00"`, `"😀"`},
		{`"😀"`, `"😀"`},
		{`"\udbff\udffd"`, "\"\U0010FFFD\""},
		{`"\u0041\u0042"`, `"AB"`},
		{`"a\u0000b"`, `"a\u0000b"`},
	}
	for _, tc := range tests {
		got, err := Canonicalize([]byte(tc.in))
		if err != nil {
			t.Errorf("Canonicalize(%s): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("Canonicalize(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// Every control character, in both escaped and literal-free forms.
	short := map[rune]string{'\b': `\b`, '\t': `\t`, '\n': `\n`, '\f': `\f`, '\r': `\r`}
	for c := rune(0); c < 0x20; c++ {
		want, ok := short[c]
		if !ok {
			want = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xf])
		}
		in := `"\u00` + strings.ToUpper(string(hexDigits[c>>4])+string(hexDigits[c&0xf])) + `"`
		got, err := Canonicalize([]byte(in))
		if err != nil || string(got) != `"`+want+`"` {
			t.Errorf("Canonicalize(%s) = %s, %v; want %q", in, got, err, `"`+want+`"`)
		}
	}
}

func TestCanonicalize_Structure(t *testing.T) {
	tests := []struct{ in, want string }{
		{"null", "null"},
		{"true", "true"},
		{"false", "false"},
		{" \t\r\n1 \t\r\n", "1"},
		{"{}", "{}"},
		{"{ }", "{}"},
		{"[]", "[]"},
		{"[ ]", "[]"},
		{`[1,[2,[3]],{"a":[{}]}]`, `[1,[2,[3]],{"a":[{}]}]`},
		{`{ "b" : 1 , "a" : [ true , false , null ] }`, `{"a":[true,false,null],"b":1}`},
		{`{"a":{"c":1,"b":2},"A":{"z":{"y":{"x":0}}}}`, `{"A":{"z":{"y":{"x":0}}},"a":{"b":2,"c":1}}`},
		{`[{"b":1,"a":2},{"b":1,"a":2}]`, `[{"a":2,"b":1},{"a":2,"b":1}]`},
		// Same name in different objects is not a duplicate.
		{`{"a":{"a":{"a":1}},"b":{"a":2}}`, `{"a":{"a":{"a":1}},"b":{"a":2}}`},
		// Member names are escaped like other strings.
		{`{"\n":1,"\"":2,"\\":3,"\u0001":4}`, `{"\u0001":4,"\n":1,"\"":2,"\\":3}`},
	}
	for _, tc := range tests {
		got, err := Canonicalize([]byte(tc.in))
		if err != nil {
			t.Errorf("Canonicalize(%q): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("Canonicalize(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestCanonicalize_Golden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden files")
	}
	for _, inPath := range dirs {
		dir := filepath.Dir(inPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "output.json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Canonicalize(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if !IsCanonical(want) {
				t.Errorf("output.json is not canonical")
			}
			checkAgainstEncodingJSON(t, in, got)
		})
	}
}

type badCase struct {
	name   string
	in     string
	msg    string // fragment of SyntaxError.Msg
	offset int64
}

var badInputs = []badCase{
	// Structure (RFC 8259 §2, §4, §5).
	{"empty", "", "unexpected end of input", 0},
	{"only-ws", " \n\t", "unexpected end of input", 3},
	{"trailing-value", "1 2", "unexpected character '2' after top-level value", 2},
	{"trailing-object", `{"a":1} x`, "after top-level value", 8},
	{"trailing-nul", "{}\x00", "unexpected byte 0x00 after top-level value", 2},
	{"bom", "\xef\xbb\xbf{}", "unexpected byte 0xef at start of value", 0},
	{"vertical-tab-ws", "\v1", "unexpected byte 0x0b", 0},
	{"form-feed-ws", "[1,\f2]", "unexpected byte 0x0c", 3},
	{"nbsp-ws", "[1,\u00a02]", "unexpected byte 0xc2", 3},
	{"single-quotes", "'a'", `unexpected character '\''`, 0},
	{"unclosed-array", "[1,2", "unexpected end of input", 4},
	{"unclosed-object", `{"a":1`, "unexpected end of input", 6},
	{"array-trailing-comma", "[1,]", "unexpected character ']' at start of value", 3},
	{"array-leading-comma", "[,1]", "unexpected character ','", 1},
	{"array-missing-comma", "[1 2]", "expected ',' or ']' after array element", 3},
	{"object-trailing-comma", `{"a":1,}`, "expected string for object member name", 7},
	{"object-unquoted-name", `{a:1}`, "expected string for object member name", 1},
	{"object-number-name", `{1:1}`, "expected string for object member name", 1},
	{"object-missing-colon", `{"a" 1}`, "expected ':' after object member name", 5},
	{"object-missing-value", `{"a":}`, "unexpected character '}' at start of value", 5},
	{"object-missing-comma", `{"a":1 "b":2}`, "expected ',' or '}' after object member", 7},
	{"close-mismatch", `[1}`, "expected ',' or ']'", 2},
	// Literals (RFC 8259 §3).
	{"literal-truncated", "tru", "invalid literal (expected true)", 0},
	{"literal-case", "True", "unexpected character 'T' at start of value", 0},
	{"literal-null-typo", "[nul]", "invalid literal (expected null)", 1},
	{"literal-suffix", "truex", "unexpected character 'x' after literal true", 4},
	{"literal-undefined", "undefined", "unexpected character 'u'", 0},
	// Numbers (RFC 8259 §6; RFC 8785 §3.2.2.3).
	{"number-leading-zero", "01", "invalid number: leading zero", 1},
	{"number-neg-leading-zero", "-012", "invalid number: leading zero", 2},
	{"number-plus", "+1", "leading '+'", 0},
	{"number-leading-dot", ".5", "missing integer part", 0},
	{"number-trailing-dot", "1.", "expected digit after decimal point", 2},
	{"number-dot-exp", "[1.e5]", "expected digit after decimal point", 3},
	{"number-minus-only", "-", "expected digit after '-'", 1},
	{"number-minus-space", "- 1", "expected digit after '-'", 1},
	{"number-exp-empty", "1e", "expected digit in exponent", 2},
	{"number-exp-sign-only", "1e+", "expected digit in exponent", 3},
	{"number-hex", "0x10", "invalid character 'x' in number", 1},
	{"number-double-dot", "1.5.3", "invalid character '.' in number", 3},
	{"number-double-exp", "1e5e3", "invalid character 'e' in number", 3},
	{"number-nan", "NaN", "NaN and Infinity are not allowed", 0},
	{"number-inf", "[Infinity]", "NaN and Infinity are not allowed", 1},
	{"number-neg-inf", "-Infinity", "NaN and Infinity are not allowed", 1},
	{"number-overflow", "1e400", "number out of range", 0},
	{"number-neg-overflow", `{"x":-1e400}`, "number out of range", 5},
	{"number-overflow-digits", "[0," + strings.Repeat("9", 310) + "]", "number out of range", 3},
	{"number-max-plus", "1.7976931348623159e308", "number out of range", 0},
	// Strings (RFC 8259 §7, §8.1; RFC 7493 §2.1).
	{"string-unterminated", `"abc`, "unexpected end of input", 4},
	{"string-control", "\"a\x01\"", "unescaped control character U+0001 in string", 2},
	{"string-newline", "\"a\nb\"", "unescaped control character U+000A", 2},
	{"string-tab", "\"\t\"", "unescaped control character U+0009", 1},
	{"string-bad-escape", `"\x"`, `invalid escape sequence \x`, 1},
	{"string-escape-quote", `"\'"`, `invalid escape sequence \'`, 1},
	{"string-escape-eof", `"\`, "unexpected end of input", 2},
	{"string-bad-hex", `"\u12g4"`, `invalid \u escape`, 1},
	{"string-short-hex", `"\u00"`, `invalid \u escape`, 1},
	{"string-upper-U", `"\U0041"`, `invalid escape sequence \U`, 1},
	{"utf8-invalid-byte", "\"\xff\"", "invalid UTF-8 in string", 1},
	{"utf8-continuation", "\"a\x80\"", "invalid UTF-8 in string", 2},
	{"utf8-overlong", "\"\xc0\xaf\"", "invalid UTF-8 in string", 1},
	{"utf8-truncated", "\"\xe2\x82\"", "invalid UTF-8 in string", 1},
	{"utf8-surrogate", "\"\xed\xa0\x80\"", "invalid UTF-8 in string", 1},
	{"utf8-too-large", "\"\xf4\x90\x80\x80\"", "invalid UTF-8 in string", 1},
	{"utf8-in-name", "{\"k\xfe\":1}", "invalid UTF-8 in string", 3},
	{"surrogate-high-alone", `"\ud800"`, `lone surrogate \ud800`, 1},
	{"surrogate-low-alone", `"\udc00"`, `lone surrogate \udc00`, 1},
	{"surrogate-high-then-char", `"\uD800x"`, `lone surrogate \ud800`, 1},
	{"surrogate-high-then-bmp", `"ab\ud800\u0041"`, `lone surrogate \ud800`, 3},
	{"surrogate-high-high", `"\ud83d\ud83d"`, `lone surrogate \ud83d`, 1},
	{"surrogate-reversed", `"\ude00\ud83d"`, `lone surrogate \ude00`, 1},
	{"surrogate-in-name", `{"\udfff":1}`, `lone surrogate \udfff`, 2},
	{"surrogate-high-eof", `"\ud800`, `lone surrogate \ud800`, 1},
	// Noncharacters (RFC 7493 §2.1), literal and escaped, in values and names.
	{"nonchar-ffff", "\"a\uffff\"", "noncharacter U+FFFF in string", 2},
	{"nonchar-fffe-escaped", `"a\uFFFE"`, "noncharacter U+FFFE in string", 2},
	{"nonchar-fdd0", "\"\ufdd0\"", "noncharacter U+FDD0 in string", 1},
	{"nonchar-fdef-escaped", `["\ufdef"]`, "noncharacter U+FDEF in string", 2},
	{"nonchar-plane1", "\"\U0001FFFE\"", "noncharacter U+1FFFE in string", 1},
	{"nonchar-plane16-escaped", `"\udbff\udfff"`, "noncharacter U+10FFFF in string", 1},
	{"nonchar-in-name", "{\"\uffff\":1}", "noncharacter U+FFFF in string", 2},
	{"nonchar-in-name-escaped", `{"x":{"\ufdd5":1}}`, "noncharacter U+FDD5 in string", 7},
	// Duplicate names (RFC 7493 §2.3).
	{"dup-simple", `{"a":1,"a":2}`, `duplicate key "a"`, 7},
	{"dup-escaped", `{"a":1,"\u0061":2}`, `duplicate key "a"`, 7},
	{"dup-escaped-nonascii", `{"\u00e9":1,"é":2}`, `duplicate key "é"`, 12},
	{"dup-surrogate-pair", `{"😀":1,"\ud83d\ude00":2}`, `duplicate key "😀"`, 10},
	{"dup-nested", `{"x":{"b":1,"b":2}}`, `duplicate key "b"`, 12},
	{"dup-first-reported", `{"b":1,"a":1,"b":2,"a":2}`, `duplicate key "b"`, 13},
	{"dup-triple", `{"a":1,"a":2,"a":3}`, `duplicate key "a"`, 7},
	{"dup-empty", `{"":1,"":2}`, `duplicate key ""`, 6},
	// Limits.
	{"depth-array", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		"nesting depth exceeds MaxDepth (64)", MaxDepth},
	{"depth-object", strings.Repeat(`{"a":`, MaxDepth) + "{}" + strings.Repeat("}", MaxDepth),
		"nesting depth exceeds MaxDepth (64)", 5 * MaxDepth},
	{"depth-mixed", strings.Repeat(`[{"a":`, MaxDepth/2) + "[1]" + strings.Repeat("}]", MaxDepth/2),
		"nesting depth exceeds MaxDepth", 6 * MaxDepth / 2},
	{"size", `"` + strings.Repeat("a", MaxSize-1) + `"`, "input too large", MaxSize},
}

func TestCanonicalize_Errors(t *testing.T) {
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Canonicalize([]byte(tc.in))
			if err == nil {
				t.Fatalf("Canonicalize(%.60q) = %s, want error", tc.in, out)
			}
			if out != nil {
				t.Errorf("non-nil output on error")
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not *SyntaxError", err, err)
			}
			if !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", se.Msg, tc.msg)
			}
			if se.Offset != tc.offset {
				t.Errorf("Offset = %d, want %d (%s)", se.Offset, tc.offset, se.Msg)
			}
			want := "jcs: " + se.Msg + " at offset " + strconv.FormatInt(se.Offset, 10)
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if IsCanonical([]byte(tc.in)) {
				t.Errorf("IsCanonical = true for invalid input")
			}
		})
	}
}

func TestCanonicalize_Limits(t *testing.T) {
	// Exactly MaxDepth levels of nesting is accepted.
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if got, err := Canonicalize([]byte(deep)); err != nil || string(got) != deep {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	deepObj := strings.Repeat(`{"a":`, MaxDepth-1) + "{}" + strings.Repeat("}", MaxDepth-1)
	if got, err := Canonicalize([]byte(deepObj)); err != nil || string(got) != deepObj {
		t.Errorf("object depth %d: %v", MaxDepth, err)
	}
	// Exactly MaxSize bytes is accepted, including trailing whitespace.
	big := `"` + strings.Repeat("a", MaxSize-2) + `"`
	if got, err := Canonicalize([]byte(big)); err != nil || string(got) != big {
		t.Errorf("size %d: %v", len(big), err)
	}
	bigWS := "1" + strings.Repeat(" ", MaxSize-1)
	if got, err := Canonicalize([]byte(bigWS)); err != nil || string(got) != "1" {
		t.Errorf("size %d with whitespace: %v", len(bigWS), err)
	}
	if _, err := Canonicalize([]byte(bigWS + " ")); err == nil {
		t.Errorf("size %d accepted", len(bigWS)+1)
	}
}

// TestIsNoncharacter checks IsNoncharacter against the definition of
// Unicode §23.7: exactly 66 code points, U+FDD0..U+FDEF and the last two of
// each plane.
func TestIsNoncharacter(t *testing.T) {
	var got []rune
	for r := rune(0); r <= utf8.MaxRune+1; r++ {
		if IsNoncharacter(r) {
			got = append(got, r)
		}
	}
	var want []rune
	for r := rune(0xFDD0); r <= 0xFDEF; r++ {
		want = append(want, r)
	}
	for plane := rune(0); plane <= 16; plane++ {
		want = append(want, plane<<16|0xFFFE, plane<<16|0xFFFF)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("IsNoncharacter holds for %d code points %U, want the %d of Unicode §23.7", len(got), got, len(want))
	}
}

func TestIsCanonical(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":2}`, true},
		{`{"b":2,"a":1}`, false},
		{`{"a":1, "b":2}`, false},
		{`{"a":1,"b":2}` + "\n", false},
		{`1.0`, false},
		{`1`, true},
		{`-0`, false},
		{`1e+21`, true},
		{`1E+21`, false},
		{`1e21`, false},
		{`"\u00e9"`, false},
		{`"é"`, true},
		{`"\/"`, false},
		{`"\u001f"`, true},
		{`"\u001F"`, false},
		{`{"a":1,"a":1}`, false},
		{``, false},
		{`[null,true,false]`, true},
	}
	for _, tc := range tests {
		if got := IsCanonical([]byte(tc.in)); got != tc.want {
			t.Errorf("IsCanonical(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMarshal(t *testing.T) {
	type event struct {
		Type    string         `json:"type"`
		Seq     int64          `json:"seq"`
		Weight  float64        `json:"weight"`
		Note    string         `json:"note"`
		Attrs   map[string]any `json:"attrs"`
		Skipped string         `json:"-"`
	}
	v := event{
		Type:   "scan",
		Seq:    42,
		Weight: 1e21,
		Note:   "<a & b>\u2028",
		Attrs:  map[string]any{"z": []int{3, 1}, "\u20ac": true, "\U0001F600": nil, "\ufb33": 0.1},
	}
	got, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"attrs":{"z":[3,1],"€":true,"😀":null,"` + "\ufb33" + `":0.1},"note":"<a & b>` + "\u2028" +
		`","seq":42,"type":"scan","weight":1e+21}`
	if string(got) != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if _, err := Marshal(math.NaN()); err == nil {
		t.Errorf("Marshal(NaN) succeeded")
	}
	if _, err := Marshal(make(chan int)); err == nil {
		t.Errorf("Marshal(chan) succeeded")
	}
}

// validInputs is a corpus of inputs that must be accepted.
func validInputs(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		`{"a":[1,2,{"b":null}],"c":"d"}`, `[]`, `{}`, `0`, `-0.0`, `"x"`,
		`{"b":{"d":1,"c":2},"a":[{"z":1,"y":2}]}`, benchInput,
	} {
		out = append(out, []byte(s))
	}
	for _, tc := range appendixB {
		out = append(out, []byte(strconv.FormatFloat(math.Float64frombits(tc.bits), 'g', -1, 64)))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 500; i++ {
		out = append(out, randomJSON(r, 0))
	}
	return out
}

// checkAgainstEncodingJSON checks that out decodes with encoding/json to
// the same value as in.
func checkAgainstEncodingJSON(t testing.TB, in, out []byte) {
	t.Helper()
	var vin, vout any
	if err := json.Unmarshal(in, &vin); err != nil {
		t.Fatalf("encoding/json rejects accepted input %q: %v", in, err)
	}
	if err := json.Unmarshal(out, &vout); err != nil {
		t.Fatalf("encoding/json rejects output %q: %v", out, err)
	}
	if !reflect.DeepEqual(vin, vout) {
		t.Fatalf("value changed:\nin  %q\nout %q", in, out)
	}
}

func TestCanonicalize_Idempotent(t *testing.T) {
	for _, in := range validInputs(t) {
		c1, err := Canonicalize(in)
		if err != nil {
			t.Fatalf("Canonicalize(%q): %v", in, err)
		}
		c2, err := Canonicalize(c1)
		if err != nil {
			t.Fatalf("Canonicalize(Canonicalize(%q)): %v", in, err)
		}
		if !bytes.Equal(c1, c2) {
			t.Fatalf("not idempotent:\n%q\n%q", c1, c2)
		}
		if !IsCanonical(c1) {
			t.Fatalf("IsCanonical(%q) = false", c1)
		}
		checkAgainstEncodingJSON(t, in, c1)
		// Re-encoding the decoded value with Marshal gives the same bytes
		// (encoding/json sorts map keys by UTF-8, Canonicalize re-sorts).
		var v any
		if err := json.Unmarshal(in, &v); err != nil {
			t.Fatal(err)
		}
		m, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m, c1) {
			t.Fatalf("Marshal(decoded) = %q, Canonicalize = %q", m, c1)
		}
	}
}

// randomString returns a random valid string mixing ASCII, controls,
// specials, BMP and supplementary code points.
func randomString(r *rand.Rand, maxLen int) string {
	var b strings.Builder
	for n := r.IntN(maxLen + 1); n > 0; n-- {
		var c rune
		switch r.IntN(6) {
		case 0:
			c = rune(r.IntN(0x20))
		case 1:
			c = []rune{'"', '\\', '/', 0x7f, '<', '&', 0x2028}[r.IntN(7)]
		case 2, 3:
			c = rune('a' + r.IntN(4))
		case 4:
			c = rune(0x80 + r.IntN(0xffff-0x80))
		default:
			c = rune(0x10000 + r.IntN(0x10ffff-0x10000))
		}
		if !utf8.ValidRune(c) || IsNoncharacter(c) {
			c = 0xfffd
		}
		b.WriteRune(c)
	}
	return b.String()
}

// randomJSON returns a random valid JSON text with random whitespace and
// random (but valid) escaping, without duplicate names.
func randomJSON(r *rand.Rand, depth int) []byte {
	ws := func() string { return []string{"", "", " ", "\n\t", "\r\n  "}[r.IntN(5)] }
	quote := func(s string) string {
		var b strings.Builder
		b.WriteByte('"')
		for _, c := range s {
			switch {
			case c == '"' || c == '\\':
				b.WriteString(`\` + string(c))
			case c < 0x20 || r.IntN(4) == 0:
				for _, u := range utf16.Encode([]rune{c}) {
					b.WriteString(`\u`)
					h := strconv.FormatUint(uint64(u)|0x10000, 16)[1:]
					if r.IntN(2) == 0 {
						h = strings.ToUpper(h)
					}
					b.WriteString(h)
				}
			default:
				b.WriteRune(c)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	k := r.IntN(10)
	if depth > 4 {
		k = 6 + r.IntN(4)
	}
	switch k {
	case 0, 1:
		var parts []string
		for n := r.IntN(5); n > 0; n-- {
			parts = append(parts, ws()+string(randomJSON(r, depth+1))+ws())
		}
		return []byte("[" + ws() + strings.Join(parts, ",") + "]")
	case 2, 3:
		seen := map[string]bool{}
		var parts []string
		for n := r.IntN(6); n > 0; n-- {
			name := randomString(r, 3)
			if seen[name] {
				continue
			}
			seen[name] = true
			parts = append(parts, ws()+quote(name)+ws()+":"+ws()+string(randomJSON(r, depth+1))+ws())
		}
		return []byte("{" + ws() + strings.Join(parts, ",") + "}")
	case 4, 5:
		return []byte(quote(randomString(r, 8)))
	case 6:
		return []byte([]string{"true", "false", "null"}[r.IntN(3)])
	default:
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = float64(r.IntN(1000))
		}
		switch r.IntN(3) {
		case 0:
			return []byte(strconv.FormatFloat(f, 'g', -1, 64))
		case 1:
			return []byte(strconv.Itoa(r.IntN(2000000) - 1000000))
		default:
			return []byte(strconv.FormatFloat(r.NormFloat64()*1000, 'E', 25, 64))
		}
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, in := range validInputs(f) {
		if len(in) < 4096 {
			f.Add(in)
		}
	}
	for _, tc := range badInputs {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not *SyntaxError: %v", err, err)
			}
			if se.Offset < 0 || se.Offset > int64(max(len(in), MaxSize)) {
				t.Fatalf("offset %d out of range for %d-byte input", se.Offset, len(in))
			}
			return
		}
		if !IsCanonical(out) {
			t.Fatalf("output not canonical: %q", out)
		}
		again, err := Canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-canonicalization changed output: %q -> %q, %v", out, again, err)
		}
		if !utf8.Valid(out) {
			t.Fatalf("output is not valid UTF-8: %q", out)
		}
		if i := bytes.IndexFunc(out, IsNoncharacter); i >= 0 {
			t.Fatalf("output holds a noncharacter at %d: %q", i, out)
		}
		// Accepted input is a strict subset of what encoding/json accepts,
		// and the value is preserved.
		if !json.Valid(in) {
			t.Fatalf("accepted input that encoding/json rejects: %q", in)
		}
		checkAgainstEncodingJSON(t, in, out)
	})
}

// benchInput is an event-like object of about 300 bytes.
const benchInput = `{"v":1,"type":"waybill.scan","device":{"id":"dev-0042","fw":"2.3.1","battery":0.87},` +
	`"seq":1024,"ts":1717171717000,"location":{"lon":13.404954,"lat":52.520008,"acc":4.5},` +
	`"payload":{"parcel":"P-000123","weight_kg":1.25,"tags":["fragile","express"],` +
	`"note":"Übergabe an Nachbar","signed":true,"ref":null}}`

func BenchmarkCanonicalize(b *testing.B) {
	in := []byte(benchInput)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(in); err != nil {
			b.Fatal(err)
		}
	}
}
