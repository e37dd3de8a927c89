package checkpoint

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSignatures is the most signature lines Open accepts and Sign writes.
// c2sp.org/signed-note requires verifiers to accept at least 16.
const maxSignatures = 100

// sigPrefix starts every signature line: em dash (U+2014) and a space.
const sigPrefix = "\u2014 "

// Signer signs note text with one key.
type Signer interface {
	// Name is the key name; it must satisfy [ValidName].
	Name() string
	// KeyID is the 32-bit key ID written before the signature.
	KeyID() uint32
	// Sign returns the signature of msg, the complete note text.
	Sign(msg []byte) ([]byte, error)
}

// Verifier checks signatures made by one key.
type Verifier interface {
	// Name is the key name.
	Name() string
	// KeyID is the 32-bit key ID.
	KeyID() uint32
	// Verify reports whether sig is a valid signature of msg, the complete
	// note text.
	Verify(msg, sig []byte) bool
}

// Signature is one signature line of a note.
type Signature struct {
	// Name is the key name.
	Name string
	// KeyID is the key ID, the first four bytes of the encoded signature.
	KeyID uint32
	// Sig is the signature proper, without the four key ID bytes.
	Sig []byte
}

// Note is an opened signed note.
type Note struct {
	// Text is the note text, ending in a newline.
	Text string
	// Sigs are the signatures made by known keys, all verified, in the
	// order they appear.
	Sigs []Signature
	// Unverified are the signatures by keys that were not known, in the
	// order they appear. They were not checked.
	Unverified []Signature
}

// ErrMalformed is wrapped by every error reporting a note that does not
// follow the signed-note format (or this package's stricter canonical form).
var ErrMalformed = errors.New("malformed note")

type malformedError struct{ msg string }

func (e *malformedError) Error() string { return "note: " + e.msg }
func (e *malformedError) Unwrap() error { return ErrMalformed }

func malformed(format string, args ...any) error {
	return &malformedError{fmt.Sprintf(format, args...)}
}

// UnverifiedNoteError is returned by [Open] for a well-formed note that has
// no signature from a known key. Note holds the parsed note; all its
// signatures are in Note.Unverified. Its text must not be trusted.
type UnverifiedNoteError struct{ Note *Note }

func (e *UnverifiedNoteError) Error() string {
	return fmt.Sprintf("note: no signature by a known key (%d signatures by unknown keys)", len(e.Note.Unverified))
}

// InvalidSignatureError is returned by [Open] when the signature of a known
// key does not verify. The whole note is rejected.
type InvalidSignatureError struct {
	Name  string
	KeyID uint32
}

func (e *InvalidSignatureError) Error() string {
	return fmt.Sprintf("note: invalid signature by known key %s+%08x", e.Name, e.KeyID)
}

// ValidName reports whether name may be used as a key name: non-empty,
// valid UTF-8, with no "+", no white space (unicode.IsSpace: U+0009–U+000D,
// U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F,
// U+205F, U+3000) and no control character (Unicode category Cc:
// U+0000–U+001F, U+007F, U+0080–U+009F).
func ValidName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		!strings.ContainsRune(name, '+') &&
		strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}

// Sign returns the signed note made of text, a blank line, and one signature
// line per signer, in the order given. The text must be non-empty, end in a
// newline, be valid UTF-8, and contain no control characters other than
// newline; it may contain blank lines. Signers must have valid, distinct
// (name, key ID) pairs. The result is always accepted back by [Open] with
// the same text.
func Sign(text string, signers ...Signer) ([]byte, error) {
	if err := checkText(text); err != nil {
		return nil, err
	}
	if len(signers) == 0 {
		return nil, errors.New("note: no signers")
	}
	if len(signers) > maxSignatures {
		return nil, fmt.Errorf("note: %d signers, at most %d allowed", len(signers), maxSignatures)
	}
	out := make([]byte, 0, len(text)+1+len(signers)*128)
	out = append(out, text...)
	out = append(out, '\n')
	seen := make(map[keyRef]bool, len(signers))
	for i, s := range signers {
		if s == nil {
			return nil, fmt.Errorf("note: signer %d is nil", i)
		}
		ref := keyRef{s.Name(), s.KeyID()}
		if !ValidName(ref.name) {
			return nil, fmt.Errorf("note: signer %d has invalid key name %s", i, quote(ref.name))
		}
		if seen[ref] {
			return nil, fmt.Errorf("note: signer %d repeats key %s", i, ref)
		}
		seen[ref] = true
		sig, err := s.Sign([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("note: signing with key %s: %w", ref, err)
		}
		if len(sig) == 0 {
			return nil, fmt.Errorf("note: key %s returned an empty signature", ref)
		}
		out = appendSigLine(out, Signature{Name: ref.name, KeyID: ref.id, Sig: sig})
	}
	if len(out) > MaxNoteSize {
		return nil, fmt.Errorf("note: signed note would be %d bytes, more than %d", len(out), MaxNoteSize)
	}
	return out, nil
}

// Open parses a signed note and verifies it against the known keys.
//
// A note that does not follow the format gives an error wrapping
// [ErrMalformed], which names the line at fault. Signatures whose (name, key
// ID) pair matches no verifier are ignored and returned in Note.Unverified,
// even when the name or the ID alone matches a known key. Every signature
// from a known pair is verified; if one fails, Open returns an
// [*InvalidSignatureError]. If no signature from a known key verified, Open
// returns an [*UnverifiedNoteError].
//
// Open rejects, as malformed, a note in which the same (name, key ID) pair
// appears on more than one signature line, whether the signatures differ or
// not. The spec does not say which of two signatures by one key counts, and
// implementations differ (golang.org/x/mod/sumdb/note checks only the first
// and silently drops the others), so a note carrying a good and a bad
// signature for one key could verify in one place and fail in another.
// Ed25519 never produces two different signatures of one text, so such a
// note was tampered with or assembled wrongly. Identical repeats are
// rejected too: they carry nothing, and refusing them keeps one encoding per
// note.
//
// Verifiers must have distinct (name, key ID) pairs.
func Open(msg []byte, verifiers ...Verifier) (*Note, error) {
	known := make(map[keyRef]Verifier, len(verifiers))
	for i, v := range verifiers {
		if v == nil {
			return nil, fmt.Errorf("note: verifier %d is nil", i)
		}
		ref := keyRef{v.Name(), v.KeyID()}
		if known[ref] != nil {
			return nil, fmt.Errorf("note: verifier %d repeats key %s", i, ref)
		}
		known[ref] = v
	}

	text, sigs, err := parseNote(msg)
	if err != nil {
		return nil, err
	}
	n := &Note{Text: text}
	for _, s := range sigs {
		v := known[keyRef{s.Name, s.KeyID}]
		if v == nil {
			n.Unverified = append(n.Unverified, s)
			continue
		}
		if !v.Verify([]byte(text), s.Sig) {
			return nil, &InvalidSignatureError{Name: s.Name, KeyID: s.KeyID}
		}
		n.Sigs = append(n.Sigs, s)
	}
	if len(n.Sigs) == 0 {
		return nil, &UnverifiedNoteError{Note: n}
	}
	return n, nil
}

// SignCheckpoint validates c and signs its text.
func SignCheckpoint(c Checkpoint, signers ...Signer) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return Sign(c.Format(), signers...)
}

// OpenCheckpoint opens a signed note with [Open] and parses its text with
// [ParseCheckpoint]. On error the checkpoint is zero and the note nil; an
// [*UnverifiedNoteError] still carries the unverified note.
func OpenCheckpoint(msg []byte, verifiers ...Verifier) (Checkpoint, *Note, error) {
	n, err := Open(msg, verifiers...)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	return c, n, nil
}

// keyRef identifies a key as the spec does: by name and key ID together.
type keyRef struct {
	name string
	id   uint32
}

func (r keyRef) String() string { return fmt.Sprintf("%s+%08x", r.name, r.id) }

// checkText checks note text for Sign.
func checkText(text string) error {
	if text == "" {
		return malformed("text is empty")
	}
	if len(text) > MaxNoteSize {
		return malformed("text is %d bytes, more than %d", len(text), MaxNoteSize)
	}
	if text[len(text)-1] != '\n' {
		return malformed("text does not end in newline")
	}
	if line, p := scanNote([]byte(text)); p != "" {
		return malformed("line %d: %s", line, p)
	}
	return nil
}

// scanNote checks that b is valid UTF-8 with no control characters except
// newline: none of U+0000–U+0009, U+000B–U+001F, U+007F (DEL) and
// U+0080–U+009F (C1), the Unicode category Cc. It returns the 1-based line
// of the first problem and its description, or 0 and "".
func scanNote(b []byte) (int, string) {
	line := 1
	start := 0 // index of the first byte of the current line
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				line++
				start = i + 1
			case c < 0x20 || c == 0x7f:
				return line, fmt.Sprintf("control character 0x%02x at byte %d", c, i-start)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return line, fmt.Sprintf("invalid UTF-8 at byte %d", i-start)
		}
		if r <= 0x9f { // C1 controls, U+0080–U+009F
			return line, fmt.Sprintf("control character U+%04X at byte %d", r, i-start)
		}
		i += n
	}
	return 0, ""
}

// parseNote splits msg into text and signatures and checks the syntax. It
// verifies nothing.
func parseNote(msg []byte) (string, []Signature, error) {
	if len(msg) > MaxNoteSize {
		return "", nil, malformed("note is %d bytes, more than %d", len(msg), MaxNoteSize)
	}
	if line, p := scanNote(msg); p != "" {
		return "", nil, malformed("line %d: %s", line, p)
	}
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		return "", nil, malformed("note does not end in newline")
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return "", nil, malformed("no blank line before the signatures")
	}
	text, block := msg[:split+1], msg[split+2:]
	if len(block) == 0 {
		return "", nil, malformed("no signature lines after the last blank line")
	}
	// Line numbers count from the first line of the note; the blank line is
	// line textLines+1.
	lineNo := bytes.Count(text, []byte("\n")) + 1
	sigs := make([]Signature, 0, min(bytes.Count(block, []byte("\n")), maxSignatures))
	seen := make(map[keyRef]bool)
	for len(block) > 0 {
		lineNo++
		// block ends in '\n' (msg does), so this always finds one.
		i := bytes.IndexByte(block, '\n')
		line := string(block[:i])
		block = block[i+1:]
		if len(sigs) == maxSignatures {
			return "", nil, malformed("line %d: more than %d signatures", lineNo, maxSignatures)
		}
		s, p := parseSigLine(line)
		if p != "" {
			return "", nil, malformed("line %d: %s", lineNo, p)
		}
		ref := keyRef{s.Name, s.KeyID}
		if seen[ref] {
			return "", nil, malformed("line %d: second signature by key %s", lineNo, ref)
		}
		seen[ref] = true
		sigs = append(sigs, s)
	}
	return string(text), sigs, nil
}

// parseSigLine parses one signature line without its newline.
func parseSigLine(line string) (Signature, string) {
	rest, ok := strings.CutPrefix(line, sigPrefix)
	if !ok {
		return Signature{}, fmt.Sprintf("signature line %s does not start with an em dash and a space", quote(line))
	}
	name, b64, ok := strings.Cut(rest, " ")
	if !ok {
		return Signature{}, "signature line has no space between key name and signature"
	}
	if !ValidName(name) {
		return Signature{}, fmt.Sprintf("invalid key name %s", quote(name))
	}
	if b64 == "" {
		return Signature{}, "empty signature"
	}
	raw, p := decodeBase64(b64)
	if p != "" {
		return Signature{}, "signature " + p
	}
	if len(raw) < 5 {
		return Signature{}, fmt.Sprintf("signature is %d bytes, want a 4-byte key ID and at least 1 byte", len(raw))
	}
	return Signature{Name: name, KeyID: binary.BigEndian.Uint32(raw), Sig: raw[4:]}, ""
}

// appendSigLine appends the signature line for s, with its newline.
func appendSigLine(b []byte, s Signature) []byte {
	raw := make([]byte, 4+len(s.Sig))
	binary.BigEndian.PutUint32(raw, s.KeyID)
	copy(raw[4:], s.Sig)
	b = append(b, sigPrefix...)
	b = append(b, s.Name...)
	b = append(b, ' ')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '\n')
}
