package anchor

import (
	"fmt"
	"strconv"
	"strings"
)

// Finality is a chain's rule for when an included anchor is final. The
// zero value is the QBFT rule.
type Finality struct {
	kind finalityKind
	k    uint64
}

type finalityKind uint8

const (
	finalityQBFT finalityKind = iota
	finalityTag
	finalityConfirmations
)

// maxConfirmations bounds K in "confirmations:K"; a day of 2-second blocks.
const maxConfirmations = 43200

var (
	// QBFT is the rule of Hyperledger Besu's QBFT (EBSI) and other chains with
	// immediate finality: the block holding the transaction is final as soon
	// as it exists. Such chains have no "safe" or "finalized" tag.
	QBFT = Finality{kind: finalityQBFT}
	// FinalizedTag is the rule of proof-of-stake chains: final once the block
	// the node reports under the JSON-RPC "finalized" tag reaches it.
	FinalizedTag = Finality{kind: finalityTag}
)

// Confirmations returns the rule "final when the head is k−1 blocks past the
// including block" (the including block counts as the first confirmation),
// for chains with probabilistic finality. Confirmations(1) is QBFT's rule.
func Confirmations(k uint64) Finality {
	if k == 0 || k > maxConfirmations {
		panic("anchor: confirmations out of range")
	}
	return Finality{kind: finalityConfirmations, k: k}
}

// ParseFinality parses a finality rule as configured: "qbft", "finalized" or
// "confirmations:K" with K from 1 to 43200 in canonical decimal.
func ParseFinality(s string) (Finality, error) {
	switch s {
	case "qbft":
		return QBFT, nil
	case "finalized":
		return FinalizedTag, nil
	}
	num, ok := strings.CutPrefix(s, "confirmations:")
	if !ok {
		return Finality{}, fmt.Errorf("anchor: finality %q: want qbft, finalized or confirmations:K", s)
	}
	k, err := strconv.ParseUint(num, 10, 64)
	if err != nil || strconv.FormatUint(k, 10) != num {
		return Finality{}, fmt.Errorf("anchor: finality %q: K must be a decimal number without sign or leading zeros", s)
	}
	if k == 0 || k > maxConfirmations {
		return Finality{}, fmt.Errorf("anchor: finality %q: K must be from 1 to %d", s, maxConfirmations)
	}
	return Confirmations(k), nil
}

// String returns the rule in the form ParseFinality reads.
func (f Finality) String() string {
	switch f.kind {
	case finalityTag:
		return "finalized"
	case finalityConfirmations:
		return "confirmations:" + strconv.FormatUint(f.k, 10)
	}
	return "qbft"
}

// MarshalText implements encoding.TextMarshaler.
func (f Finality) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; f is unchanged on error.
func (f *Finality) UnmarshalText(b []byte) error {
	g, err := ParseFinality(string(b))
	if err != nil {
		return err
	}
	*f = g
	return nil
}

// Final reports whether a block at height n is final given the head's
// height and, for FinalizedTag, the height of the block the node reports as
// finalized (0 when it reports none yet). A reader of anchors (the feed
// watcher's) applies the same rule as the anchoring loop.
func (f Finality) Final(n, head, finalized uint64) bool { return f.final(n, head, finalized) }

// final reports whether a block at height n is final given the head's height
// and, for the finalized-tag rule, the finalized block's height.
func (f Finality) final(n, head, finalized uint64) bool {
	switch f.kind {
	case finalityTag:
		return finalized >= n
	case finalityConfirmations:
		return head >= n && head-n+1 >= f.k
	}
	return head >= n
}
