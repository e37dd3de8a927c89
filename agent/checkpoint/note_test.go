package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// goldenParts splits the golden signed note into its text and its single
// signature line (newline included).
func goldenParts(t testing.TB) (text, line string) {
	t.Helper()
	signed := string(demoSigned(t))
	text = demoCheckpoint().Format()
	if !strings.HasPrefix(signed, text+"\n") {
		t.Fatalf("golden note does not start with its text and a blank line")
	}
	return text, signed[len(text)+1:]
}

// lineB64 returns the base64 field of a signature line.
func lineB64(line string) string {
	f := strings.Fields(strings.TrimSuffix(line, "\n"))
	return f[len(f)-1]
}

// badNotes builds the messages Open must reject as malformed, with a
// fragment of the expected error. FuzzOpen uses them as seeds.
func badNotes(t testing.TB) []struct{ name, msg, err string } {
	text, line := goldenParts(t)
	good := text + "\n" + line
	b64 := lineB64(line)
	raw, _ := base64.StdEncoding.DecodeString(b64)
	otherSig := bytes.Clone(raw)
	otherSig[10] ^= 0xff // same key ID, different signature bytes

	var many strings.Builder
	many.WriteString(good)
	for i := range 100 {
		many.WriteString(unknownLine(i))
	}

	return []struct{ name, msg, err string }{
		{"Empty", "", "note does not end in newline"},
		{"MissingFinalNewline", strings.TrimSuffix(good, "\n"), "note does not end in newline"},
		{"NoBlankLine", text + line, "no blank line before the signatures"},
		{"NoSignatureLines", text + "\n", "no signature lines after the last blank line"},
		{"OnlyBlankLines", "\n\n\n", "no signature lines"},
		{"TextOnlyNoSeparator", text, "no blank line"},
		{"TrailingBlankLine", good + "\n", "no signature lines after the last blank line"},
		{"CRInText", strings.Replace(good, "\n", "\r\n", 1), "line 1: control character 0x0d at byte 57"},
		{"CRLFSignatureLine", strings.TrimSuffix(good, "\n") + "\r\n", "line 5: control character 0x0d"},
		{"TabInText", "a\tb\n\n" + line, "line 1: control character 0x09"},
		{"NULInSignature", good[:len(good)-5] + "\x00" + good[len(good)-4:], "line 5: control character 0x00"},
		{"InvalidUTF8", "a\xffb\n\n" + line, "line 1: invalid UTF-8"},
		{"InvalidUTF8InDash", text + "\n\xe2\x80 " + line[4:], "line 5: invalid UTF-8"},
		{"HyphenDash", text + "\n- " + line[4:], "line 5: signature line \"- waybill"},
		{"DoubleHyphenDash", text + "\n-- " + line[4:], "does not start with an em dash and a space"},
		{"EnDash", text + "\n\u2013 " + line[4:], "does not start with an em dash and a space"},
		{"DashNoSpace", text + "\n\u2014" + line[4:], "does not start with an em dash and a space"},
		{"DashTwoSpaces", text + "\n\u2014  " + line[4:], "line 5: invalid key name \"\""},
		{"NoSpaceBeforeSignature", text + "\n\u2014 " + demoName + "\n", "no space between key name and signature"},
		{"TwoSpacesBeforeSignature", text + "\n\u2014 " + demoName + "  " + b64 + "\n", "signature \" " + b64[:20]},
		{"TrailingSpace", text + "\n\u2014 " + demoName + " " + b64 + " \n", "is not valid base64"},
		{"EmptySignature", text + "\n\u2014 " + demoName + " \n", "line 5: empty signature"},
		{"NameWithPlus", text + "\n\u2014 a+b " + b64 + "\n", "invalid key name \"a+b\""},
		{"NameWithNBSP", text + "\n\u2014 a\u00a0b " + b64 + "\n", "invalid key name"},
		{"SignatureBadBase64", text + "\n\u2014 " + demoName + " !!!!\n", "signature \"!!!!\" is not valid base64"},
		{"SignaturePaddingBits", text + "\n\u2014 " + demoName + " " + flipPaddingBit(b64) + "\n", "line 5: signature \"" + flipPaddingBit(b64)[:20]},
		{"SignaturePaddingBitsMessage", text + "\n\u2014 " + demoName + " " + flipPaddingBit(b64) + "\n", "non-zero padding bits"},
		{"SignatureNoPadding", text + "\n\u2014 " + demoName + " " + strings.TrimSuffix(b64, "=") + "\n", "is not valid base64"},
		{"SignatureURLAlphabet", text + "\n\u2014 " + demoName + " " + strings.NewReplacer("+", "-", "/", "_").Replace(b64) + "\n", "is not valid base64"},
		{"SignatureOnlyKeyID", text + "\n\u2014 " + demoName + " " + base64.StdEncoding.EncodeToString(raw[:4]) + "\n", "signature is 4 bytes, want a 4-byte key ID and at least 1 byte"},
		{"SignatureTwoBytes", text + "\n\u2014 " + demoName + " AAA=\n", "signature is 2 bytes"},
		{"TooManySignatures", many.String(), "line 105: more than 100 signatures"},
		{"DuplicateKeyIdentical", good + line, "line 6: second signature by key " + demoName + "+"},
		{"DuplicateKeyDifferentSignature", good + "\u2014 " + demoName + " " + base64.StdEncoding.EncodeToString(otherSig) + "\n", "second signature by key"},
		{"DuplicateUnknownKey", good + unknownLine(1) + unknownLine(1), "line 7: second signature by key witness.example/"},
		{"TooLarge", strings.Repeat("x", MaxNoteSize) + "\n\n" + line, "more than 1048576"},
	}
}

func TestOpen_Malformed(t *testing.T) {
	for _, tc := range badNotes(t) {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Open([]byte(tc.msg), demoVerifier(t))
			wantErr(t, err, tc.err)
			if !isMalformed(err) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if n != nil {
				t.Fatalf("Open returned a note with its error")
			}
			if !strings.HasPrefix(err.Error(), "note: ") {
				t.Fatalf("error %q lacks the \"note: \" prefix", err)
			}
		})
	}
}

func TestOpen_InvalidSignature(t *testing.T) {
	text, line := goldenParts(t)
	other, _ := newKey("other")
	otherSigner, _ := NewEd25519Signer("other.example/key", other)
	otherSigned, _ := Sign(text, otherSigner)
	otherLine := string(otherSigned[len(text)+1:])
	otherV, _ := NewEd25519Verifier("other.example/key", other.Public().(ed25519.PublicKey))

	tests := []struct {
		name      string
		msg       string
		verifiers []Verifier
		wantName  string
	}{
		{"TextChanged", strings.Replace(text, "\n5\n", "\n6\n", 1) + "\n" + line, []Verifier{demoVerifier(t)}, demoName},
		{"TextExtended", text + "extension\n\n" + line, []Verifier{demoVerifier(t)}, demoName},
		{"SignatureFromOtherNote", "other text\n\n" + line, []Verifier{demoVerifier(t)}, demoName},
		// A good signature by one known key does not excuse a bad one by
		// another known key.
		{"SecondKnownKeyFails", "other text\n\n" + string(must(Sign("other text\n", otherSigner))[len("other text\n")+1:]) + line,
			[]Verifier{demoVerifier(t), otherV}, demoName},
		{"FirstKnownKeyFails", text + "\n" + strings.Replace(otherLine, lineB64(otherLine), lineB64(
			string(must(Sign("x\n", otherSigner))[3:])), 1) + line, []Verifier{demoVerifier(t), otherV}, "other.example/key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Open([]byte(tc.msg), tc.verifiers...)
			var ie *InvalidSignatureError
			if !errors.As(err, &ie) {
				t.Fatalf("Open: %v, want *InvalidSignatureError", err)
			}
			if n != nil || ie.Name != tc.wantName {
				t.Fatalf("InvalidSignatureError names %s, want %s", ie.Name, tc.wantName)
			}
			var want uint32
			for _, v := range tc.verifiers {
				if v.Name() == tc.wantName {
					want = v.KeyID()
				}
			}
			if ie.KeyID != want {
				t.Fatalf("InvalidSignatureError key ID %08x, want %08x", ie.KeyID, want)
			}
			wantErr(t, err, fmt.Sprintf("invalid signature by known key %s+%08x", tc.wantName, want))
			if isMalformed(err) {
				t.Fatalf("InvalidSignatureError wraps ErrMalformed")
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestOpen_Unverified(t *testing.T) {
	text, line := goldenParts(t)
	_, otherPub := newKey("other")
	sameNameOtherKey, _ := NewEd25519Verifier(demoName, otherPub)
	otherNameSameKey, _ := NewEd25519Verifier("other.example/key", demoPub())
	tests := []struct {
		name      string
		msg       string
		verifiers []Verifier
		unknown   int
	}{
		{"NoVerifiers", text + "\n" + line, nil, 1},
		{"SameNameOtherKey", text + "\n" + line, []Verifier{sameNameOtherKey}, 1},
		{"OtherNameSameKey", text + "\n" + line, []Verifier{otherNameSameKey}, 1},
		{"OnlyUnknownKeys", text + "\n" + unknownLine(1) + unknownLine(2), []Verifier{demoVerifier(t)}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Open([]byte(tc.msg), tc.verifiers...)
			var ue *UnverifiedNoteError
			if !errors.As(err, &ue) {
				t.Fatalf("Open: %v, want *UnverifiedNoteError", err)
			}
			if n != nil || isMalformed(err) {
				t.Fatalf("Open returned note %v / malformed error %v", n, err)
			}
			if ue.Note.Text != text || len(ue.Note.Sigs) != 0 || len(ue.Note.Unverified) != tc.unknown {
				t.Fatalf("unverified note = %+v", ue.Note)
			}
			wantErr(t, err, "no signature by a known key")
		})
	}
}

func TestOpen_Good(t *testing.T) {
	text, line := goldenParts(t)
	// A signature line with the demo name but another key ID, and one with
	// the demo key ID but another name: both unknown keys, so ignored even
	// though their signatures are garbage.
	demoID := demoVerifier(t).KeyID()
	sameName := sigLine(demoName, demoID^1, make([]byte, 64))
	sameID := sigLine("impostor.example/key", demoID, make([]byte, 64))

	var sixteen, hundred strings.Builder
	sixteen.WriteString(text + "\n" + line)
	hundred.WriteString(text + "\n")
	for i := range 99 {
		if i < 15 {
			sixteen.WriteString(unknownLine(i))
		}
		hundred.WriteString(unknownLine(i))
	}
	hundred.WriteString(line)

	second, _ := newKey("second")
	secondSigner, _ := NewEd25519Signer("second.example/witness", second)
	secondV, _ := NewEd25519Verifier("second.example/witness", second.Public().(ed25519.PublicKey))
	both := must(Sign(text, demoSigner(t), secondSigner))

	tests := []struct {
		name       string
		msg        string
		verifiers  []Verifier
		sigs       []string // names of verified signatures, in order
		unverified int
	}{
		{"Golden", text + "\n" + line, []Verifier{demoVerifier(t)}, []string{demoName}, 0},
		{"SameNameOtherID", text + "\n" + sameName + line, []Verifier{demoVerifier(t)}, []string{demoName}, 1},
		{"SameIDOtherName", text + "\n" + line + sameID, []Verifier{demoVerifier(t)}, []string{demoName}, 1},
		{"SixteenSignatures", sixteen.String(), []Verifier{demoVerifier(t)}, []string{demoName}, 15},
		{"HundredSignatures", hundred.String(), []Verifier{demoVerifier(t)}, []string{demoName}, 99},
		{"TwoKnownKeys", string(both), []Verifier{secondV, demoVerifier(t)}, []string{demoName, "second.example/witness"}, 0},
		{"TwoKeysOneKnown", string(both), []Verifier{secondV}, []string{"second.example/witness"}, 1},
		{"ExtraUnusedVerifier", text + "\n" + line, []Verifier{secondV, demoVerifier(t)}, []string{demoName}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Open([]byte(tc.msg), tc.verifiers...)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			var names []string
			for _, s := range n.Sigs {
				names = append(names, s.Name)
			}
			if n.Text != text || !reflect.DeepEqual(names, tc.sigs) || len(n.Unverified) != tc.unverified {
				t.Fatalf("Open = text %q, sigs %v, %d unverified; want %v, %d", n.Text, names, len(n.Unverified), tc.sigs, tc.unverified)
			}
			if err := sameLines(n, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// sameLines checks that msg is n's text, a blank line, and exactly the
// signature lines of n.Sigs and n.Unverified, in some order.
func sameLines(n *Note, msg []byte) error {
	prefix := n.Text + "\n"
	if !strings.HasPrefix(string(msg), prefix) {
		return fmt.Errorf("note text %q plus a blank line is not a prefix of the input", n.Text)
	}
	in := strings.SplitAfter(string(msg[len(prefix):]), "\n")
	in = in[:len(in)-1] // the empty string after the final newline
	var out []string
	for _, list := range [][]Signature{n.Sigs, n.Unverified} {
		for _, s := range list {
			out = append(out, string(appendSigLine(nil, s)))
		}
	}
	slices.Sort(in)
	slices.Sort(out)
	if !slices.Equal(in, out) {
		return fmt.Errorf("signature lines\n%q\ndo not reassemble the input's\n%q", out, in)
	}
	return nil
}

// reassemble rebuilds a signed note from n, verified signatures first.
func reassemble(n *Note) string {
	var b []byte
	b = append(b, n.Text...)
	b = append(b, '\n')
	for _, s := range n.Sigs {
		b = appendSigLine(b, s)
	}
	for _, s := range n.Unverified {
		b = appendSigLine(b, s)
	}
	return string(b)
}

func TestOpen_BadVerifiers(t *testing.T) {
	tests := []struct {
		name      string
		verifiers []Verifier
		err       string
	}{
		{"Nil", []Verifier{nil}, "verifier 0 is nil"},
		{"Repeated", []Verifier{demoVerifier(t), demoVerifier(t)}, "verifier 1 repeats key " + demoName + "+"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(demoSigned(t), tc.verifiers...)
			wantErr(t, err, tc.err)
		})
	}
}

// fakeSigner is a Signer with arbitrary behaviour.
type fakeSigner struct {
	name string
	id   uint32
	sig  []byte
	err  error
}

func (s fakeSigner) Name() string                { return s.name }
func (s fakeSigner) KeyID() uint32               { return s.id }
func (s fakeSigner) Sign([]byte) ([]byte, error) { return s.sig, s.err }

func TestSign_Bad(t *testing.T) {
	d := demoSigner(t)
	many := make([]Signer, 101)
	for i := range many {
		many[i] = fakeSigner{name: fmt.Sprintf("k%d", i), id: uint32(i), sig: []byte{1}}
	}
	tests := []struct {
		name    string
		text    string
		signers []Signer
		err     string
	}{
		{"EmptyText", "", []Signer{d}, "text is empty"},
		{"NoFinalNewline", "abc", []Signer{d}, "text does not end in newline"},
		{"CR", "a\r\n", []Signer{d}, "line 1: control character 0x0d"},
		{"NULOnLine2", "a\nb\x00\n", []Signer{d}, "line 2: control character 0x00"},
		{"InvalidUTF8", "\xff\n", []Signer{d}, "line 1: invalid UTF-8"},
		{"TooLarge", strings.Repeat("x", MaxNoteSize) + "\n", []Signer{d}, "more than 1048576"},
		{"SignedTooLarge", strings.Repeat("x", MaxNoteSize-10) + "\n", []Signer{d}, "signed note would be"},
		{"NoSigners", "a\n", nil, "no signers"},
		{"NilSigner", "a\n", []Signer{d, nil}, "signer 1 is nil"},
		{"RepeatedSigner", "a\n", []Signer{d, d}, "signer 1 repeats key " + demoName},
		{"InvalidName", "a\n", []Signer{fakeSigner{name: "a b", sig: []byte{1}}}, "signer 0 has invalid key name \"a b\""},
		{"EmptyName", "a\n", []Signer{fakeSigner{sig: []byte{1}}}, "invalid key name \"\""},
		{"SignerError", "a\n", []Signer{fakeSigner{name: "hsm", id: 7, err: errors.New("device unplugged")}}, "note: signing with key hsm+00000007: device unplugged"},
		{"EmptySignature", "a\n", []Signer{fakeSigner{name: "k", id: 1}}, "returned an empty signature"},
		{"TooManySigners", "a\n", many, "101 signers, at most 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Sign(tc.text, tc.signers...)
			wantErr(t, err, tc.err)
			if b != nil {
				t.Fatalf("Sign returned bytes with its error")
			}
		})
	}
}

func TestSign_RoundTrip(t *testing.T) {
	texts := []string{"\n", "a\n", "a\n\n", "\n\nb\n", "a\n\n\nb\n\n", "— not a signature\n", "x\n\n— y AAAAAAA=\n", "ünïcødé ✓\n"}
	for i, text := range texts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			signed, err := Sign(text, demoSigner(t), fakeSigner{name: "other.example/k", id: 9, sig: []byte("sig")})
			if err != nil {
				t.Fatalf("Sign(%q): %v", text, err)
			}
			n, err := Open(signed, demoVerifier(t))
			if err != nil {
				t.Fatalf("Open(Sign(%q)): %v\n%q", text, err, signed)
			}
			if n.Text != text || len(n.Sigs) != 1 || len(n.Unverified) != 1 || string(n.Unverified[0].Sig) != "sig" {
				t.Fatalf("Open(Sign(%q)) = %+v", text, n)
			}
			if reassemble(n) != string(signed) {
				t.Fatalf("reassembled %q, want %q", reassemble(n), signed)
			}
		})
	}
}

func TestValidName_Table(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{demoName, true},
		{"example.com/log42", true},
		{"ünïcødé", true},
		{"a—b", true},
		{"", false},
		{"a b", false},
		{"a+b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\u00a0b", false},
		{"a\u2028b", false},
		{"a\u3000b", false},
		{"a\x00b", false},
		{"a\x7fb", false},   // DEL: Waybill refuses every control character (category Cc)
		{"a\u0080b", false}, // C1 control
		{"a\u009fb", false}, // C1 control
		{"a\u0085b", false}, // NEL: C1 control and white space
		{"a\u00a1b", true},
		{"\xff", false},
	}
	for _, tc := range tests {
		if got := ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestErrorTypes_Messages(t *testing.T) {
	e := &InvalidSignatureError{Name: "n", KeyID: 0xab}
	if e.Error() != "note: invalid signature by known key n+000000ab" {
		t.Fatalf("InvalidSignatureError = %q", e.Error())
	}
	u := &UnverifiedNoteError{Note: &Note{Unverified: make([]Signature, 2)}}
	if u.Error() != "note: no signature by a known key (2 signatures by unknown keys)" {
		t.Fatalf("UnverifiedNoteError = %q", u.Error())
	}
	if ErrMalformed.Error() != "malformed note" {
		t.Fatalf("ErrMalformed = %q", ErrMalformed)
	}
}
