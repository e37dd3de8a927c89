package checkpoint

import (
	"errors"
	"reflect"
	"testing"

	sumnote "golang.org/x/mod/sumdb/note"
)

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte(demoCheckpoint().Format()))
	f.Add([]byte(cpText(origin, "0", demoRootB64, "ext")))
	f.Add(demoSigned(f))
	for _, tc := range badCheckpoints {
		if len(tc.text) < 1<<16 {
			f.Add([]byte(tc.text))
		}
	}
	signer, verifier := demoSigner(f), demoVerifier(f)
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			if !reflect.DeepEqual(c, Checkpoint{}) {
				t.Fatalf("non-zero checkpoint %+v returned with error %v", c, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed checkpoint %+v does not validate: %v", c, err)
		}
		if got := c.Format(); got != string(text) {
			t.Fatalf("Format() = %q, input was %q", got, text)
		}
		if len(text) > MaxNoteSize-1024 {
			return // the signed note could exceed MaxNoteSize
		}
		signed, err := SignCheckpoint(c, signer)
		if err != nil {
			t.Fatalf("SignCheckpoint(%+v): %v", c, err)
		}
		c2, n, err := OpenCheckpoint(signed, verifier)
		if err != nil {
			t.Fatalf("OpenCheckpoint(SignCheckpoint(%+v)): %v", c, err)
		}
		if !reflect.DeepEqual(c, c2) || n.Text != string(text) {
			t.Fatalf("round trip gave %+v / %q, want %+v / %q", c2, n.Text, c, text)
		}
	})
}

// FuzzOpen checks that Open never panics, that whatever it accepts is
// exactly its text plus the signature lines it returns, that parsing does not
// depend on the verifiers, and that golang.org/x/mod/sumdb/note (which is
// more lenient) agrees with every note Open accepts.
func FuzzOpen(f *testing.F) {
	signed := demoSigned(f)
	f.Add(signed)
	f.Add(append(signed, unknownLine(0)...))
	f.Add([]byte(kaNote))
	f.Add(must(Sign("a\n\nb\n", demoSigner(f))))
	for _, tc := range badNotes(f) {
		if len(tc.msg) < 1<<16 {
			f.Add([]byte(tc.msg))
		}
	}
	v := demoVerifier(f)
	xv := xmodVerifier(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		// Without verifiers, a well-formed note is always unverified.
		n, err := Open(msg)
		if err == nil {
			t.Fatalf("Open with no verifiers accepted %q", msg)
		}
		var ue *UnverifiedNoteError
		wellFormed := errors.As(err, &ue)
		if !wellFormed && !isMalformed(err) {
			t.Fatalf("Open with no verifiers: unexpected error %v", err)
		}
		if n != nil {
			t.Fatalf("Open returned a note with error %v", err)
		}
		if wellFormed {
			if len(ue.Note.Sigs) != 0 {
				t.Fatalf("unverified note has verified signatures")
			}
			if got := reassemble(ue.Note); got != string(msg) {
				t.Fatalf("reassembled %q, input %q", got, msg)
			}
		}

		// With the golden verifier: same parse outcome.
		n, err = Open(msg, v)
		if isMalformed(err) == wellFormed {
			t.Fatalf("malformed with verifier = %v, without = %v (%v)", isMalformed(err), !wellFormed, err)
		}
		var ie *InvalidSignatureError
		switch {
		case err == nil:
			if err := sameLines(n, msg); err != nil {
				t.Fatal(err)
			}
			if len(n.Sigs) != 1 || n.Sigs[0].Name != demoName {
				t.Fatalf("verified signatures %+v", n.Sigs)
			}
		case errors.As(err, &ie), errors.As(err, &ue), isMalformed(err):
		default:
			t.Fatalf("unexpected error %v", err)
		}

		// Differential check against x/mod for notes we parsed.
		if !wellFormed {
			return
		}
		xn, xerr := sumnote.Open(msg, sumnote.VerifierList(xv))
		var xue *sumnote.UnverifiedNoteError
		var xie *sumnote.InvalidSignatureError
		switch {
		case err == nil:
			if xerr != nil || xn.Text != n.Text || len(xn.Sigs) != 1 || len(xn.UnverifiedSigs) != len(n.Unverified) {
				t.Fatalf("we accepted %q; x/mod: %+v, %v", msg, xn, xerr)
			}
		case errors.As(err, &ue):
			if !errors.As(xerr, &xue) || xue.Note.Text != ue.Note.Text {
				t.Fatalf("we found no known signature in %q; x/mod: %v", msg, xerr)
			}
		case errors.As(err, &ie):
			if !errors.As(xerr, &xie) || xie.Name != ie.Name || xie.Hash != ie.KeyID {
				t.Fatalf("we found an invalid signature in %q; x/mod: %v", msg, xerr)
			}
		}
	})
}
