package anchor

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/waybill-eu/waybill/agent/merkle"
)

// Hash is a ledger hash (of a transaction or a block), written as 0x and 64
// lowercase hex digits.
type Hash [32]byte

// String returns h as 0x and 64 lowercase hex digits.
func (h Hash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash parses 0x and 64 lowercase hex digits, the only form String
// writes.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := parseHex(s)
	if err != nil {
		return Hash{}, err
	}
	if len(b) != len(h) {
		return Hash{}, fmt.Errorf("hash %s has %d bytes, want 32", short(s), len(b))
	}
	copy(h[:], b)
	return h, nil
}

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; h is unchanged on error.
func (h *Hash) UnmarshalText(b []byte) error {
	g, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = g
	return nil
}

// parseHex parses 0x and an even number of lowercase hex digits.
func parseHex(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("hex %s does not start with 0x", short(s))
	}
	if strings.ContainsAny(rest, "ABCDEF") {
		return nil, fmt.Errorf("hex %s is not lowercase", short(s))
	}
	b, err := hex.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("hex %s: %v", short(s), err)
	}
	return b, nil
}

// hexBytes is a byte string written as 0x and lowercase hex.
type hexBytes []byte

func (b hexBytes) MarshalText() ([]byte, error) { return []byte("0x" + hex.EncodeToString(b)), nil }

func (b *hexBytes) UnmarshalText(t []byte) error {
	v, err := parseHex(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// b64Hash is a Merkle hash written in standard base64, as in checkpoints.
type b64Hash merkle.Hash

func (h b64Hash) MarshalText() ([]byte, error) {
	return []byte(base64.StdEncoding.EncodeToString(h[:])), nil
}

func (h *b64Hash) UnmarshalText(t []byte) error {
	b, err := base64.StdEncoding.Strict().DecodeString(string(t))
	if err != nil || len(b) != len(h) || base64.StdEncoding.EncodeToString(b) != string(t) {
		return fmt.Errorf("hash %s is not canonical base64 of 32 bytes", short(string(t)))
	}
	copy(h[:], b)
	return nil
}

func b64Hashes(hs []merkle.Hash) []b64Hash {
	out := make([]b64Hash, len(hs))
	for i, h := range hs {
		out[i] = b64Hash(h)
	}
	return out
}

func merkleHashes(hs []b64Hash) []merkle.Hash {
	if len(hs) == 0 {
		return nil
	}
	out := make([]merkle.Hash, len(hs))
	for i, h := range hs {
		out[i] = merkle.Hash(h)
	}
	return out
}

// decimal is a non-negative integer written as a decimal string (JSON
// numbers lose precision past 2^53 in many readers; wei amounts exceed it).
type decimal big.Int

func (d *decimal) MarshalText() ([]byte, error) { return []byte((*big.Int)(d).String()), nil }

func (d *decimal) UnmarshalText(t []byte) error {
	var v big.Int
	if _, ok := v.SetString(string(t), 10); !ok || v.Sign() < 0 || v.String() != string(t) {
		return fmt.Errorf("amount %s is not a canonical non-negative decimal", short(string(t)))
	}
	(*big.Int)(d).Set(&v)
	return nil
}

func dec(x *big.Int) *decimal { return (*decimal)(bigOr0(x)) }

// short quotes s for an error message, cut to 80 bytes.
func short(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}
