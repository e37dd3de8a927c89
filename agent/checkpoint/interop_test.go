package checkpoint

// Interoperability with golang.org/x/mod/sumdb/note, used here as an
// independent oracle for the signed-note format. It is imported by tests only.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	sumnote "golang.org/x/mod/sumdb/note"
)

// demoPrivateKeyText is the x/mod private signer key text for the golden key:
// PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>.
func demoPrivateKeyText(t testing.TB) string {
	t.Helper()
	id := demoSigner(t).KeyID()
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", demoName, id,
		base64.StdEncoding.EncodeToString(append([]byte{0x01}, demoSeed()...)))
}

func xmodVerifier(t testing.TB) sumnote.Verifier {
	t.Helper()
	vkey, err := VerifierKey(demoName, demoPub())
	if err != nil {
		t.Fatalf("VerifierKey: %v", err)
	}
	v, err := sumnote.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("x/mod note.NewVerifier(%q): %v", vkey, err)
	}
	return v
}

func TestInterop_VerifierKeyMatchesXMod(t *testing.T) {
	ours, err := VerifierKey(demoName, demoPub())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := sumnote.NewEd25519VerifierKey(demoName, demoPub())
	if err != nil {
		t.Fatal(err)
	}
	if ours != theirs {
		t.Fatalf("VerifierKey = %q, x/mod NewEd25519VerifierKey = %q", ours, theirs)
	}
	if got, want := xmodVerifier(t).KeyHash(), demoVerifier(t).KeyID(); got != want {
		t.Fatalf("x/mod key hash %08x, our key ID %08x", got, want)
	}
}

func TestInterop_XModOpensOurNote(t *testing.T) {
	texts := []string{
		demoCheckpoint().Format(),
		"one line\n",
		"\n",
		"text with\n\nblank lines\n\n\n",
		"unicode ✓ — ok\n",
	}
	for i, text := range texts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			signed, err := Sign(text, demoSigner(t))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			n, err := sumnote.Open(signed, sumnote.VerifierList(xmodVerifier(t)))
			if err != nil {
				t.Fatalf("x/mod note.Open(our note): %v\n%s", err, signed)
			}
			if n.Text != text || len(n.Sigs) != 1 {
				t.Fatalf("x/mod note.Open text %q with %d sigs, want %q with 1", n.Text, len(n.Sigs), text)
			}
			ours, err := Open(signed, demoVerifier(t))
			if err != nil || ours.Text != text {
				t.Fatalf("Open(our note) = %v, %v", ours, err)
			}
		})
	}
}

func TestInterop_XModSignatureIdenticalToOurs(t *testing.T) {
	xs, err := sumnote.NewSigner(demoPrivateKeyText(t))
	if err != nil {
		t.Fatalf("x/mod note.NewSigner: %v", err)
	}
	for i, text := range []string{demoCheckpoint().Format(), "a\n\nb\n"} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			theirs, err := sumnote.Sign(&sumnote.Note{Text: text}, xs)
			if err != nil {
				t.Fatalf("x/mod note.Sign: %v", err)
			}
			ours, err := Sign(text, demoSigner(t))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if string(ours) != string(theirs) {
				t.Fatalf("our signed note differs from x/mod's\nours:\n%s\ntheirs:\n%s", ours, theirs)
			}
			n, err := Open(theirs, demoVerifier(t))
			if err != nil || n.Text != text {
				t.Fatalf("Open(x/mod note) = %+v, %v", n, err)
			}
		})
	}
}

// xmodSigner and xmodVerifierAdapter plug our keys into x/mod, checking the
// interfaces line up both ways.
type xmodSigner struct{ Signer }

func (s xmodSigner) KeyHash() uint32 { return s.KeyID() }

type ourVerifier struct{ sumnote.Verifier }

func (v ourVerifier) KeyID() uint32 { return v.KeyHash() }

func TestInterop_KeysAcrossImplementations(t *testing.T) {
	text := demoCheckpoint().Format()
	theirs, err := sumnote.Sign(&sumnote.Note{Text: text}, xmodSigner{demoSigner(t)})
	if err != nil {
		t.Fatalf("x/mod note.Sign with our signer: %v", err)
	}
	if string(theirs) != string(demoSigned(t)) {
		t.Fatalf("x/mod with our signer gave\n%s\nwant\n%s", theirs, demoSigned(t))
	}
	if _, err := Open(theirs, ourVerifier{xmodVerifier(t)}); err != nil {
		t.Fatalf("Open with x/mod's verifier: %v", err)
	}
}

// TestInterop_UnknownKeyIgnored appends a signature by an unknown type-0xff
// key with a 65-byte signature. Both implementations must ignore it.
func TestInterop_UnknownKeyIgnored(t *testing.T) {
	extra := unknownLine(3)
	for _, placement := range []string{"after", "before"} {
		t.Run(placement, func(t *testing.T) {
			signed := demoSigned(t)
			text := demoCheckpoint().Format()
			var msg []byte
			if placement == "after" {
				msg = append(signed, extra...)
			} else {
				msg = []byte(text + "\n" + extra + string(signed[len(text)+1:]))
			}

			n, err := Open(msg, demoVerifier(t))
			if err != nil {
				t.Fatalf("Open: %v\n%s", err, msg)
			}
			if n.Text != text || len(n.Sigs) != 1 || len(n.Unverified) != 1 {
				t.Fatalf("Open = %+v, want the text, one verified and one unverified signature", n)
			}
			if u := n.Unverified[0]; len(u.Sig) != 65 || sigLine(u.Name, u.KeyID, u.Sig) != extra {
				t.Fatalf("unverified signature %+v does not match the line %q", u, extra)
			}

			xn, err := sumnote.Open(msg, sumnote.VerifierList(xmodVerifier(t)))
			if err != nil {
				t.Fatalf("x/mod note.Open: %v", err)
			}
			if xn.Text != text || len(xn.Sigs) != 1 || len(xn.UnverifiedSigs) != 1 {
				t.Fatalf("x/mod note.Open = %+v", xn)
			}
		})
	}
}

// TestInterop_BothRejectUnverified checks that a note signed only by a key
// unknown to the verifier is refused by both implementations in the same way.
func TestInterop_BothRejectUnverified(t *testing.T) {
	_, otherPub := newKey("other")
	otherV, err := NewEd25519Verifier(demoName, otherPub) // same name, other key
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(demoSigned(t), otherV)
	var ue *UnverifiedNoteError
	if !errors.As(err, &ue) {
		t.Fatalf("Open with another key of the same name: %v, want *UnverifiedNoteError", err)
	}
	otherKey, _ := VerifierKey(demoName, otherPub)
	xv, err := sumnote.NewVerifier(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sumnote.Open(demoSigned(t), sumnote.VerifierList(xv))
	var xue *sumnote.UnverifiedNoteError
	if !errors.As(err, &xue) {
		t.Fatalf("x/mod note.Open: %v, want *UnverifiedNoteError", err)
	}
}
