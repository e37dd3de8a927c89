package checkpoint

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNoteSize is the largest signed note, and the largest checkpoint text,
// this package reads or writes, in bytes.
const MaxNoteSize = 1 << 20

// Checkpoint is the parsed c2sp.org/tlog-checkpoint note text.
type Checkpoint struct {
	// Origin is the unique identity of the log that issued the checkpoint.
	Origin string
	// Size is the number of leaves in the tree.
	Size uint64
	// Root is the RFC 6962 Merkle tree hash of the first Size leaves.
	Root [32]byte
	// Extensions are the lines after the root hash, without their newlines;
	// nil when there are none. They are opaque and must be non-empty.
	Extensions []string
}

// Format returns the canonical checkpoint text, ending in a newline. It does
// not check c: call [Checkpoint.Validate] first, as [SignCheckpoint] does.
func (c Checkpoint) Format() string {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Root[:]))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// Validate reports whether c formats to a checkpoint text that
// [ParseCheckpoint] accepts back unchanged: the origin is non-empty, valid
// UTF-8, free of control characters and of leading or trailing white space;
// every extension line is non-empty, valid UTF-8 and free of control
// characters; and the text fits in [MaxNoteSize].
func (c Checkpoint) Validate() error {
	if p := originProblem(c.Origin); p != "" {
		return fmt.Errorf("checkpoint: %s", p)
	}
	size := len(c.Origin) + 1 + len(strconv.FormatUint(c.Size, 10)) + 1 + base64.StdEncoding.EncodedLen(len(c.Root)) + 1
	for i, e := range c.Extensions {
		if p := lineProblem(e); p != "" {
			return fmt.Errorf("checkpoint: extension %d: %s", i+1, p)
		}
		size += len(e) + 1
	}
	if size > MaxNoteSize {
		return fmt.Errorf("checkpoint: text would be %d bytes, more than %d", size, MaxNoteSize)
	}
	return nil
}

// ParseCheckpoint parses a checkpoint note text (the text of a signed note,
// not the signed note itself). It is strict: it accepts text only if it is
// exactly the [Checkpoint.Format] of the result, so the tree size must be
// canonical decimal and the root hash canonical base64 of 32 bytes. Errors
// name the offending line, for example
//
//	checkpoint: line 2: tree size "01" is not canonical (leading zero)
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	if len(text) > MaxNoteSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: text is %d bytes, more than %d", len(text), MaxNoteSize)
	}
	if len(text) == 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint: text is empty")
	}
	if text[len(text)-1] != '\n' {
		return Checkpoint{}, fmt.Errorf("checkpoint: text does not end in newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint: text has %d lines, want at least 3 (origin, tree size, root hash)", len(lines))
	}
	// Check line by line, so the error names the first bad line.
	var c Checkpoint
	for i, l := range lines {
		p := lineProblem(l)
		if p == "" {
			switch i {
			case 0:
				p = originProblem(l)
				c.Origin = l
			case 1:
				c.Size, p = parseSize(l)
			case 2:
				p = parseRoot(l, &c.Root)
			}
		}
		if p != "" {
			return Checkpoint{}, fmt.Errorf("checkpoint: line %d: %s", i+1, p)
		}
	}
	if len(lines) > 3 {
		c.Extensions = lines[3:]
	}
	return c, nil
}

// lineProblem describes why s cannot be a checkpoint line, or returns "".
func lineProblem(s string) string {
	if s == "" {
		return "line is empty"
	}
	return textProblem(s)
}

// originProblem describes why s cannot be an origin, or returns "".
func originProblem(s string) string {
	if s == "" {
		return "origin is empty"
	}
	if p := textProblem(s); p != "" {
		return "origin: " + p
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return fmt.Sprintf("origin %s has leading or trailing white space", quote(s))
	}
	return ""
}

// textProblem describes the first character in s that a signed note may not
// contain at all, other than newline: invalid UTF-8 or a control character
// (Unicode category Cc: U+0000–U+001F, U+007F, U+0080–U+009F). It returns
// "" if there is none. Newlines are reported as control characters too;
// callers that allow them split first.
func textProblem(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Sprintf("control character 0x%02x at byte %d", c, i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Sprintf("invalid UTF-8 at byte %d", i)
		}
		if r <= 0x9f {
			return fmt.Sprintf("control character U+%04X at byte %d", r, i)
		}
		i += n
	}
	return ""
}

// parseRoot decodes the root hash line into root.
func parseRoot(s string, root *[32]byte) string {
	b, p := decodeBase64(s)
	if p != "" {
		return "root hash " + p
	}
	if len(b) != len(root) {
		return fmt.Sprintf("root hash is %d bytes, want %d", len(b), len(root))
	}
	copy(root[:], b)
	return ""
}

// parseSize parses a canonical decimal tree size.
func parseSize(s string) (uint64, string) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Sprintf("tree size %s is not a decimal number", quote(s))
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Sprintf("tree size %s is not canonical (leading zero)", quote(s))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("tree size %s overflows uint64", quote(s))
	}
	return n, ""
}

// decodeBase64 decodes canonical standard base64: strict RFC 4648 with
// padding, zero padding bits, and re-encoding to exactly s. The problem
// string, if any, reads as a predicate ("is not valid base64 ...").
func decodeBase64(s string) ([]byte, string) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		if _, err2 := base64.StdEncoding.DecodeString(s); err2 == nil {
			return nil, fmt.Sprintf("%s is not canonical base64 (non-zero padding bits)", quote(s))
		}
		return nil, fmt.Sprintf("%s is not valid base64", quote(s))
	}
	// The decoder skips CR and LF even in strict mode; re-encoding catches
	// that and any other non-canonical form.
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Sprintf("%s is not canonical base64", quote(s))
	}
	return b, ""
}

// quote quotes s for an error message, shortening it if it is long.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
