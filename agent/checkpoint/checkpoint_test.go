package checkpoint

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// demoRootB64 is the golden root in base64: 44 characters ending in one "=".
var demoRootB64 = base64.StdEncoding.EncodeToString(func() []byte { r := demoCheckpoint().Root; return r[:] }())

// cpText builds a checkpoint text from lines, adding the newlines.
func cpText(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

const origin = "waybill/demo/0x0000000000000000000000000000000000000001/0"

// badCheckpoints are texts ParseCheckpoint must reject, with a fragment of
// the expected error. FuzzParseCheckpoint uses them as seeds.
var badCheckpoints = []struct {
	name, text, err string
}{
	{"Empty", "", "text is empty"},
	{"MissingFinalNewline", strings.TrimSuffix(cpText(origin, "5", demoRootB64), "\n"), "does not end in newline"},
	{"TwoLines", cpText(origin, "5"), "want at least 3"},
	{"OnlyNewline", "\n", "want at least 3"},
	{"EmptyOrigin", cpText("", "5", demoRootB64), "line 1: line is empty"},
	{"OriginLeadingSpace", cpText(" "+origin, "5", demoRootB64), "line 1: origin \" waybill"},
	{"OriginTrailingSpace", cpText(origin+" ", "5", demoRootB64), "leading or trailing white space"},
	{"OriginTrailingNBSP", cpText(origin+"\u00a0", "5", demoRootB64), "leading or trailing white space"},
	{"OriginCR", cpText(origin+"\r", "5", demoRootB64), "line 1: control character 0x0d"},
	{"CRLFLineEndings", strings.ReplaceAll(cpText(origin, "5", demoRootB64), "\n", "\r\n"), "line 1: control character 0x0d"},
	{"OriginTab", cpText("a\tb", "5", demoRootB64), "line 1: control character 0x09"},
	{"OriginNUL", cpText("a\x00b", "5", demoRootB64), "line 1: control character 0x00"},
	{"OriginInvalidUTF8", cpText("a\xffb", "5", demoRootB64), "line 1: invalid UTF-8"},
	{"SizeEmpty", cpText(origin, "", demoRootB64), "line 2: line is empty"},
	{"SizeLeadingZero", cpText(origin, "01", demoRootB64), `line 2: tree size "01" is not canonical`},
	{"SizeZeroZero", cpText(origin, "00", demoRootB64), `tree size "00" is not canonical`},
	{"SizePlus", cpText(origin, "+5", demoRootB64), `line 2: tree size "+5" is not a decimal number`},
	{"SizeNegative", cpText(origin, "-1", demoRootB64), `tree size "-1" is not a decimal number`},
	{"SizeSpace", cpText(origin, " 5", demoRootB64), `tree size " 5" is not a decimal number`},
	{"SizeHex", cpText(origin, "0x5", demoRootB64), "is not a decimal number"},
	{"SizeUnicodeDigit", cpText(origin, "５", demoRootB64), "is not a decimal number"},
	{"SizeOverflow", cpText(origin, "18446744073709551616", demoRootB64), `tree size "18446744073709551616" overflows uint64`},
	{"SizeHugeOverflow", cpText(origin, strings.Repeat("9", 100), demoRootB64), "overflows uint64"},
	{"SizeCR", cpText(origin, "5\r", demoRootB64), "line 2: control character 0x0d"},
	{"RootEmpty", cpText(origin, "5", ""), "line 3: line is empty"},
	{"RootNoPadding", cpText(origin, "5", strings.TrimSuffix(demoRootB64, "=")), "line 3: root hash \"" + strings.TrimSuffix(demoRootB64, "=") + "\" is not valid base64"},
	{"RootShort", cpText(origin, "5", base64.StdEncoding.EncodeToString(make([]byte, 31))), "line 3: root hash is 31 bytes, want 32"},
	{"RootLong", cpText(origin, "5", base64.StdEncoding.EncodeToString(make([]byte, 33))), "root hash is 33 bytes, want 32"},
	{"RootSHA512", cpText(origin, "5", base64.StdEncoding.EncodeToString(make([]byte, 64))), "root hash is 64 bytes"},
	{"RootPaddingBits", cpText(origin, "5", flipPaddingBit(demoRootB64)), "non-zero padding bits"},
	{"RootURLAlphabet", cpText(origin, "5", "_-"+demoRootB64[2:]), "is not valid base64"},
	{"RootHex", cpText(origin, "5", strings.Repeat("ab", 32)), "root hash is 48 bytes, want 32"},
	{"RootInnerSpace", cpText(origin, "5", demoRootB64[:20]+" "+demoRootB64[21:]), "is not valid base64"},
	{"RootCR", cpText(origin, "5", demoRootB64+"\r"), "line 3: control character 0x0d"},
	{"RootExtraPadding", cpText(origin, "5", demoRootB64+"="), "is not valid base64"},
	{"EmptyExtension", cpText(origin, "5", demoRootB64, ""), "line 4: line is empty"},
	{"EmptyExtensionAfterOne", cpText(origin, "5", demoRootB64, "ext", ""), "line 5: line is empty"},
	{"ExtensionControl", cpText(origin, "5", demoRootB64, "a\x7f\x01"), "line 4: control character 0x7f"},
	{"ExtensionInvalidUTF8", cpText(origin, "5", demoRootB64, "\xc0\x80"), "line 4: invalid UTF-8"},
	{"FirstBadLineReported", cpText(origin, "01", demoRootB64, ""), "line 2: tree size"},
	{"TooLarge", cpText(origin, "5", demoRootB64, strings.Repeat("x", MaxNoteSize)), "more than 1048576"},
}

func TestParseCheckpoint_Bad(t *testing.T) {
	for _, tc := range badCheckpoints {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheckpoint([]byte(tc.text))
			wantErr(t, err, tc.err)
			if !reflect.DeepEqual(c, Checkpoint{}) {
				t.Fatalf("ParseCheckpoint returned %+v with its error, want the zero Checkpoint", c)
			}
			if !strings.HasPrefix(err.Error(), "checkpoint: ") {
				t.Fatalf("error %q lacks the \"checkpoint: \" prefix", err)
			}
		})
	}
}

func TestParseCheckpoint_Good(t *testing.T) {
	max := Checkpoint{Origin: "o", Size: 1<<64 - 1}
	for i := range max.Root {
		max.Root[i] = 0xff
	}
	tests := []struct {
		name string
		text string
		want Checkpoint
	}{
		{"Golden", demoCheckpoint().Format(), demoCheckpoint()},
		{"ZeroSize", cpText("example.com/log", "0", base64.StdEncoding.EncodeToString(make([]byte, 32))),
			Checkpoint{Origin: "example.com/log"}},
		{"MaxSize", cpText("o", "18446744073709551615", "//////////////////////////////////////////8="), max},
		{"Extensions", cpText(origin, "5", demoRootB64, "ext one", "— ✓ two"),
			Checkpoint{Origin: origin, Size: 5, Root: demoCheckpoint().Root, Extensions: []string{"ext one", "— ✓ two"}}},
		{"OriginWithInnerSpaceAndPlus", cpText("my log+1", "5", demoRootB64),
			Checkpoint{Origin: "my log+1", Size: 5, Root: demoCheckpoint().Root}},
		{"C2SPExample", cpText("example.com/behind-the-sofa", "20852163", "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="), Checkpoint{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheckpoint([]byte(tc.text))
			if err != nil {
				t.Fatalf("ParseCheckpoint: %v", err)
			}
			if tc.want.Origin != "" && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseCheckpoint = %+v, want %+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate of parsed checkpoint: %v", err)
			}
			if f := got.Format(); f != tc.text {
				t.Fatalf("Format = %q, want the input %q", f, tc.text)
			}
		})
	}
}

func TestCheckpointFormat_Golden(t *testing.T) {
	want := origin + "\n5\n" + demoRootB64 + "\n"
	if got := demoCheckpoint().Format(); got != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
	c := demoCheckpoint()
	c.Extensions = []string{} // empty, not nil: same text
	if got := c.Format(); got != want {
		t.Fatalf("Format with empty extensions = %q, want %q", got, want)
	}
}

func TestCheckpointValidate_Bad(t *testing.T) {
	ok := demoCheckpoint()
	with := func(f func(*Checkpoint)) Checkpoint { c := ok; f(&c); return c }
	tests := []struct {
		name string
		c    Checkpoint
		err  string
	}{
		{"EmptyOrigin", with(func(c *Checkpoint) { c.Origin = "" }), "origin is empty"},
		{"OriginNewline", with(func(c *Checkpoint) { c.Origin = "a\nb" }), "origin: control character 0x0a"},
		{"OriginCR", with(func(c *Checkpoint) { c.Origin = "a\r" }), "control character 0x0d"},
		{"OriginInvalidUTF8", with(func(c *Checkpoint) { c.Origin = "\xff" }), "invalid UTF-8"},
		{"OriginLeadingSpace", with(func(c *Checkpoint) { c.Origin = " a" }), "leading or trailing white space"},
		{"OriginTrailingIdeographicSpace", with(func(c *Checkpoint) { c.Origin = "a\u3000" }), "leading or trailing white space"},
		{"EmptyExtension", with(func(c *Checkpoint) { c.Extensions = []string{"a", ""} }), "extension 2: line is empty"},
		{"ExtensionNewline", with(func(c *Checkpoint) { c.Extensions = []string{"a\nb"} }), "extension 1: control character 0x0a"},
		{"TooLarge", with(func(c *Checkpoint) { c.Extensions = []string{strings.Repeat("x", MaxNoteSize)} }), "more than 1048576"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.c.Validate(), tc.err)
			_, err := SignCheckpoint(tc.c, demoSigner(t))
			wantErr(t, err, tc.err)
		})
	}
}

func TestCheckpointValidate_Good(t *testing.T) {
	for _, c := range []Checkpoint{
		demoCheckpoint(),
		{Origin: "x"},
		{Origin: "a b", Size: 1, Extensions: []string{" padded ", "é"}},
	} {
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate(%+v): %v", c, err)
		}
		got, err := ParseCheckpoint([]byte(c.Format()))
		if err != nil {
			t.Fatalf("ParseCheckpoint(Format(%+v)): %v", c, err)
		}
		if c.Extensions != nil && !reflect.DeepEqual(got, c) || c.Extensions == nil && got.Extensions != nil {
			t.Fatalf("round trip gave %+v, want %+v", got, c)
		}
	}
}

func TestSignCheckpoint_RoundTrip(t *testing.T) {
	c := demoCheckpoint()
	c.Extensions = []string{"extension kept"}
	signed, err := SignCheckpoint(c, demoSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := OpenCheckpoint(signed, demoVerifier(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) || n.Text != c.Format() {
		t.Fatalf("OpenCheckpoint = %+v, %q; want %+v", got, n.Text, c)
	}
}

func TestOpenCheckpoint_SignedNonCheckpoint(t *testing.T) {
	signed, err := Sign("not a checkpoint\n", demoSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	c, n, err := OpenCheckpoint(signed, demoVerifier(t))
	wantErr(t, err, "checkpoint: text has 1 lines")
	if n != nil || !reflect.DeepEqual(c, Checkpoint{}) {
		t.Fatalf("OpenCheckpoint returned %+v, %+v with its error", c, n)
	}
}

func TestOpenCheckpoint_Unverified(t *testing.T) {
	_, n, err := OpenCheckpoint(demoSigned(t))
	var ue *UnverifiedNoteError
	if !errors.As(err, &ue) || n != nil {
		t.Fatalf("OpenCheckpoint with no verifiers: %v, want *UnverifiedNoteError", err)
	}
	if ue.Note.Text != demoCheckpoint().Format() {
		t.Fatalf("unverified note text %q", ue.Note.Text)
	}
}
