package ledger

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Cursor is where a Reader continues: Next is the first block whose
// anchors it has not read as final, and Hash the hash of block Next−1 as it
// was read (zero for a cursor no Poll returned, such as the zero Cursor).
// The caller persists it after handling the anchors Poll returned with it.
type Cursor struct {
	Next uint64
	Hash common.Hash
}

// String returns the cursor as MarshalText writes it.
func (c Cursor) String() string {
	if c.Hash == (common.Hash{}) {
		return strconv.FormatUint(c.Next, 10)
	}
	return strconv.FormatUint(c.Next, 10) + ":0x" + hex.EncodeToString(c.Hash[:])
}

// MarshalText writes the next block in decimal and, when known, a colon and
// the hash of the block before it as 0x and 64 lowercase hex digits:
// "1234" or "1234:0x…".
func (c Cursor) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads the form MarshalText writes, and only it; c is
// unchanged on error.
func (c *Cursor) UnmarshalText(b []byte) error {
	s := string(b)
	num, h, hasHash := strings.Cut(s, ":")
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != num {
		return fmt.Errorf("ledger: cursor %q: the block must be a decimal number without sign or leading zeros", short(s))
	}
	var d Cursor
	d.Next = n
	if hasHash {
		raw, ok := strings.CutPrefix(h, "0x")
		v, err := hex.DecodeString(raw)
		if !ok || err != nil || len(v) != len(d.Hash) || strings.ToLower(raw) != raw {
			return fmt.Errorf("ledger: cursor %q: the hash must be 0x and 64 lowercase hex digits", short(s))
		}
		if n == 0 {
			return fmt.Errorf("ledger: cursor %q: block 0 has no block before it", short(s))
		}
		copy(d.Hash[:], v)
		if d.Hash == (common.Hash{}) {
			return fmt.Errorf("ledger: cursor %q: the hash is zero", short(s))
		}
	}
	*c = d
	return nil
}

// short cuts s for an error message.
func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
