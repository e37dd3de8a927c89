package event

import (
	"math/big"
	"strings"
	"testing"
)

// TestSameNumber checks sameNumber against exact rational arithmetic.
func TestSameNumber(t *testing.T) {
	nums := []string{
		"0", "-0", "0.0", "0e5", "-0.000e-9", "1", "1.0", "10e-1", "0.1e1", "100", "1e2", "1E+2",
		"1000e-1", "-1", "-1.0", "0.1", "0.10", "1e-1", "0.01", "0.3", "0.30000000000000001",
		"9007199254740992", "9007199254740993", "1.2345678901234568e+29",
		"123456789012345678901234567890", "123456789012345678901234567890.000",
		"1e21", "1e+21", "1000000000000000000000", "5e-324", "1e-400", "00.5e1",
	}
	for _, a := range nums {
		for _, b := range nums {
			ra, ok1 := new(big.Rat).SetString(a)
			rb, ok2 := new(big.Rat).SetString(b)
			if !ok1 || !ok2 {
				t.Fatalf("big.Rat cannot read %s or %s", a, b)
			}
			if got, want := sameNumber(a, b), ra.Cmp(rb) == 0; got != want {
				t.Errorf("sameNumber(%s, %s) = %v, want %v", a, b, got, want)
			}
		}
	}
	// Exponents too large to compute with are never equal to a double's
	// canonical form, unless the number is zero.
	huge := "1e" + strings.Repeat("9", 30)
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{huge, "1", false},
		{"1e-" + strings.Repeat("9", 30), "0", false},
		{"0e" + strings.Repeat("9", 30), "0", true},
		{"0." + strings.Repeat("0", 1000) + "1e1001", "1", true},
	} {
		if got := sameNumber(c.a, c.b); got != c.want {
			t.Errorf("sameNumber(%.40s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestNesting(t *testing.T) {
	for _, c := range []struct {
		in         string
		depth, end int
	}{
		{`{}`, 1, 2},
		{`{"a":[1,{"b":[]}]} x`, 4, 18},
		{`{"a":"[[[{{{\"]]]"}`, 1, 19},
		{`[[[`, 3, 3},
		{`"x"`, 0, 3},
		{` {"a":{}} {"b":{"c":{}}}`, 2, 9},
	} {
		d, end := nesting([]byte(c.in))
		if d != c.depth || end != c.end {
			t.Errorf("nesting(%s) = %d, %d, want %d, %d", c.in, d, end, c.depth, c.end)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"é😀\ufffd\ufdcf", "é😀\ufffd\ufdcf"},
		{"a\uffffb", "a\ufffdb"},
		{"\ufdd0\U0010fffe", "\ufffd\ufffd"},
		{"bad \xff\xfe byte", "bad \ufffd byte"},
		{"cut \xe2\x82", "cut \ufffd"},
		// Each lone invalid byte grows to three: the cut comes after the
		// replacement, at a rune boundary.
		{strings.Repeat("\xffa", 1000), strings.Repeat("\ufffda", 256)},
		{strings.Repeat("é", 600), strings.Repeat("é", 512)},
		{strings.Repeat("a", 1023) + "é", strings.Repeat("a", 1023)},
	} {
		got := Text(c.in)
		if len(got) > MaxString {
			t.Errorf("Text(%.20q…) is %d bytes, over MaxString", c.in, len(got))
		}
		if got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
		ev := Event{Time: 1, Source: SourceUnsynced, Kind: "manual", Payload: []byte(`{"note":"` + got + `"}`)}
		if err := ev.Validate(); err != nil {
			t.Errorf("Text(%q) = %q is not payload text: %v", c.in, got, err)
		}
	}
}
