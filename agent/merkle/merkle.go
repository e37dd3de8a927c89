// Package merkle implements the Merkle tree hashing of RFC 9162 §2.1
// (unchanged from RFC 6962 §2.1): the Merkle Tree Hash (MTH, §2.1.1),
// inclusion proofs (§2.1.3) and consistency proofs (§2.1.4), over SHA-256.
//
// Trees are append-only and addressed by complete nodes. The node at
// (level L, index k) is the root of the perfect subtree over leaves
// [k<<L, (k+1)<<L); level-0 nodes are leaf hashes. Only complete nodes are
// ever stored: appending leaf i completes nodes (L, i>>L) for
// L = 0 .. trailingOnes(i) (see [StoredCount] and [Frontier.Append]). Every
// other hash the RFC needs (the root, or the hash of a tree's incomplete
// right edge) is folded from at most 64 complete nodes, so [TreeHash],
// [ProveInclusion] and [ProveConsistency] read O(log n) nodes.
//
// Tree sizes are limited to 2^63 leaves; larger sizes are rejected as bad
// arguments. A proof that fails to check yields an error for which
// errors.Is(err, [ErrProof]) is true.
package merkle

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
)

// maxSize is the largest tree size accepted by this package.
const maxSize = 1 << 63

// maxProof is the largest number of hashes a checker accepts in a proof.
// For trees of at most 2^63 leaves an inclusion proof has at most 63 hashes
// and a consistency proof at most 64.
const maxProof = 64

// A Hash is a SHA-256 hash: a leaf hash, a node hash or a tree root.
type Hash [sha256.Size]byte

// String returns h in standard base64 encoding.
func (h Hash) String() string {
	return base64.StdEncoding.EncodeToString(h[:])
}

// LeafHash returns the RFC 9162 §2.1.1 hash of a leaf holding data:
// SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	// Typical leaves fit a stack buffer, which spares the allocations of a
	// hash.Hash on the append path.
	if len(data) < 2048 {
		var buf [2048]byte
		buf[0] = 0x00
		n := copy(buf[1:], data)
		return sha256.Sum256(buf[:1+n])
	}
	d := sha256.New()
	d.Write([]byte{0x00})
	d.Write(data)
	var h Hash
	d.Sum(h[:0])
	return h
}

// NodeHash returns the RFC 9162 §2.1.1 hash of an interior node with the
// given children: SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 0x01
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot returns the RFC 9162 §2.1.1 hash of the empty tree,
// MTH({}) = SHA-256 of the empty string.
func EmptyRoot() Hash {
	return sha256.Sum256(nil)
}

// ErrProof is the error, possibly wrapped, returned by [CheckInclusion] and
// [CheckConsistency] for a proof that does not verify.
var ErrProof = errors.New("merkle: proof does not verify")

// proofError is a failed proof check: it names the checker and the reason
// and unwraps to ErrProof.
type proofError struct {
	fn     string // checking function
	sizes  string // the sizes checked, for the message
	reason string
}

func (e *proofError) Error() string {
	return "merkle: " + e.fn + ": proof does not verify (" + e.sizes + "): " + e.reason
}

func (e *proofError) Unwrap() error { return ErrProof }

// A NodeReader gives access to stored complete nodes.
type NodeReader interface {
	// Node returns the stored hash of complete node (level, index), the
	// root of the perfect subtree over leaves [index<<level, (index+1)<<level).
	// It returns an error if the node is absent.
	Node(level uint8, index uint64) (Hash, error)
}

// readNode reads node (level, index) from r on behalf of function fn.
func readNode(fn string, r NodeReader, level int, index uint64) (Hash, error) {
	h, err := r.Node(uint8(level), index)
	if err != nil {
		return Hash{}, fmt.Errorf("merkle: %s: reading node (%d, %d): %w", fn, level, index, err)
	}
	return h, nil
}

// StoredCount returns how many node hashes are stored for leaf i:
// 1 + the number of trailing one bits of i, since leaf i completes
// nodes (L, i>>L) for L = 0 .. trailingOnes(i).
func StoredCount(i uint64) int {
	return 1 + bits.TrailingZeros64(^i)
}

// checkSize returns an error naming fn if n is larger than this package allows.
func checkSize(fn, name string, n uint64) error {
	if n > maxSize {
		return fmt.Errorf("merkle: %s: %s %d > 2^63", fn, name, n)
	}
	return nil
}

// fold returns the hash of a tree whose perfect subtrees, largest
// (leftmost) first, have hashes parts: RFC 9162 §2.1.1 applied to the
// right edge, which combines the parts from the right.
func fold(parts []Hash) Hash {
	if len(parts) == 0 {
		return EmptyRoot()
	}
	h := parts[len(parts)-1]
	for i := len(parts) - 2; i >= 0; i-- {
		h = NodeHash(parts[i], h)
	}
	return h
}

// readParts reads the hashes of the perfect subtrees that make up the
// leaves [lo, lo+size), largest first, one per set bit of size, and appends
// them to dst. lo must be a multiple of the largest power of two in size,
// as it is for every range the RFC 9162 split produces.
func readParts(fn string, dst []Hash, lo, size uint64, r NodeReader) ([]Hash, error) {
	for level := bits.Len64(size) - 1; level >= 0; level-- {
		w := uint64(1) << level
		if size&w == 0 {
			continue
		}
		if lo&(w-1) != 0 {
			panic("merkle: bad math")
		}
		h, err := readNode(fn, r, level, lo>>level)
		if err != nil {
			return nil, err
		}
		dst = append(dst, h)
		lo += w
	}
	return dst, nil
}

// subtreeHash returns MTH(D[lo:hi]) (RFC 9162 §2.1.1) for a non-empty range
// produced by the RFC split: lo is a multiple of the smallest power of two
// >= hi-lo. It reads popcount(hi-lo) nodes: one for a perfect subtree, the
// complete parts of an incomplete right edge otherwise.
func subtreeHash(fn string, lo, hi uint64, r NodeReader) (Hash, error) {
	if lo >= hi {
		panic("merkle: bad math")
	}
	var buf [64]Hash
	parts, err := readParts(fn, buf[:0], lo, hi-lo, r)
	if err != nil {
		return Hash{}, err
	}
	return fold(parts), nil
}

// split returns k, the largest power of two smaller than n (RFC 9162 §2.1.1),
// and its log. It requires n >= 2.
func split(n uint64) (k uint64, level int) {
	if n < 2 {
		panic("merkle: bad math")
	}
	level = bits.Len64(n-1) - 1
	return 1 << level, level
}

// TreeHash returns the RFC 9162 §2.1.1 Merkle Tree Hash of the first n
// leaves, reading at most popcount(n) nodes from r. TreeHash(0, r) is
// [EmptyRoot] and reads nothing.
func TreeHash(n uint64, r NodeReader) (Hash, error) {
	if err := checkSize("TreeHash", "size", n); err != nil {
		return Hash{}, err
	}
	if n == 0 {
		return EmptyRoot(), nil
	}
	return subtreeHash("TreeHash", 0, n, r)
}

// reverse reverses p in place and returns it.
func reverse(p []Hash) []Hash {
	for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// ProveInclusion returns the RFC 9162 §2.1.3.1 inclusion proof (audit path)
// PATH(m, D[n]) for leaf m in the tree of size n, in RFC order: from the
// leaf's sibling up to the child of the root. It requires m < n. It reads
// at most 2*64 nodes: one per proof hash, plus the complete parts of at
// most one incomplete right edge.
func ProveInclusion(m, n uint64, r NodeReader) ([]Hash, error) {
	const fn = "ProveInclusion"
	if err := checkSize(fn, "size", n); err != nil {
		return nil, err
	}
	if m >= n {
		return nil, fmt.Errorf("merkle: %s: index %d >= size %d", fn, m, n)
	}
	// Walk down from the root toward leaf m, collecting the hash of the
	// subtree not taken at each split (root side first), then reverse.
	proof := make([]Hash, 0, bits.Len64(n-1))
	lo, hi := uint64(0), n
	for hi-lo > 1 {
		k, level := split(hi - lo)
		var h Hash
		var err error
		if m < lo+k {
			// PATH(m, D[lo:lo+k]) : MTH(D[lo+k:hi])
			h, err = subtreeHash(fn, lo+k, hi, r)
			hi = lo + k
		} else {
			// PATH(m-k, D[lo+k:hi]) : MTH(D[lo:lo+k]), a complete node.
			h, err = readNode(fn, r, level, lo>>level)
			lo += k
		}
		if err != nil {
			return nil, err
		}
		proof = append(proof, h)
	}
	return reverse(proof), nil
}

// CheckInclusion reports whether proof shows that leaf hash leaf is leaf
// number m of the tree of size n with root hash root, using the iterative
// algorithm of RFC 9162 §2.1.3.2. It returns nil if so, and an error
// wrapping [ErrProof] if not, including for a proof of more than 64 hashes.
// For m >= n or n > 2^63 it returns an argument error that does not wrap
// ErrProof.
func CheckInclusion(proof []Hash, m, n uint64, leaf, root Hash) error {
	const fn = "CheckInclusion"
	if err := checkSize(fn, "size", n); err != nil {
		return err
	}
	if m >= n {
		return fmt.Errorf("merkle: %s: index %d >= size %d", fn, m, n)
	}
	fail := func(reason string) error {
		return &proofError{fn, fmt.Sprintf("index %d, size %d", m, n), reason}
	}
	if len(proof) > maxProof {
		return fail(fmt.Sprintf("%d hashes, more than %d", len(proof), maxProof))
	}
	fnode, snode := m, n-1
	h := leaf
	for _, p := range proof {
		if snode == 0 {
			return fail("proof too long")
		}
		if fnode&1 == 1 || fnode == snode {
			h = NodeHash(p, h)
			for fnode&1 == 0 && fnode != 0 {
				fnode >>= 1
				snode >>= 1
			}
		} else {
			h = NodeHash(h, p)
		}
		fnode >>= 1
		snode >>= 1
	}
	if snode != 0 {
		return fail("proof too short")
	}
	if h != root {
		return fail("computed root differs")
	}
	return nil
}

// ProveConsistency returns the RFC 9162 §2.1.4.1 consistency proof
// PROOF(m, D[n]) between the tree of size m and the tree of size n, in RFC
// order. It requires 0 < m <= n; the proof is empty when m == n. It reads
// at most 2*64 nodes.
func ProveConsistency(m, n uint64, r NodeReader) ([]Hash, error) {
	const fn = "ProveConsistency"
	if err := checkSize(fn, "new size", n); err != nil {
		return nil, err
	}
	if m == 0 {
		return nil, fmt.Errorf("merkle: %s: old size 0 (RFC 9162 has no proof from the empty tree)", fn)
	}
	if m > n {
		return nil, fmt.Errorf("merkle: %s: old size %d > new size %d", fn, m, n)
	}
	// SUBPROOF(m, D[lo:hi], b), walking down from the root with m fixed in
	// absolute leaf numbers, collecting hashes root side first.
	proof := make([]Hash, 0, bits.Len64(n)+1)
	lo, hi, b := uint64(0), n, true
	for m != hi {
		k, level := split(hi - lo)
		var h Hash
		var err error
		if m <= lo+k {
			// SUBPROOF(m, D[lo:lo+k], b) : MTH(D[lo+k:hi])
			h, err = subtreeHash(fn, lo+k, hi, r)
			hi = lo + k
		} else {
			// SUBPROOF(m-k, D[lo+k:hi], false) : MTH(D[lo:lo+k])
			h, err = readNode(fn, r, level, lo>>level)
			lo += k
			b = false
		}
		if err != nil {
			return nil, err
		}
		proof = append(proof, h)
	}
	if !b {
		// SUBPROOF(m, D[m], false) = {MTH(D[lo:hi])}: hi == m was reached by
		// a left turn, so [lo, hi) is a perfect subtree.
		h, err := subtreeHash(fn, lo, hi, r)
		if err != nil {
			return nil, err
		}
		proof = append(proof, h)
	}
	return reverse(proof), nil
}

// CheckConsistency reports whether proof shows that the tree of size m with
// root hash oldRoot is a prefix of the tree of size n with root hash
// newRoot, using the algorithm of RFC 9162 §2.1.4.2. It returns nil if so,
// and an error wrapping [ErrProof] if not, including for a proof of more
// than 64 hashes.
//
// For m == n the proof must be empty and the roots equal. RFC 9162 defines
// no consistency proof from the empty tree (every tree extends it), so
// m == 0 is an argument error, as are m > n and n > 2^63; argument errors
// do not wrap ErrProof.
func CheckConsistency(proof []Hash, m, n uint64, oldRoot, newRoot Hash) error {
	const fn = "CheckConsistency"
	if err := checkSize(fn, "new size", n); err != nil {
		return err
	}
	if m == 0 {
		return fmt.Errorf("merkle: %s: old size 0 (RFC 9162 has no proof from the empty tree)", fn)
	}
	if m > n {
		return fmt.Errorf("merkle: %s: old size %d > new size %d", fn, m, n)
	}
	fail := func(reason string) error {
		return &proofError{fn, fmt.Sprintf("old size %d, new size %d", m, n), reason}
	}
	if len(proof) > maxProof {
		return fail(fmt.Sprintf("%d hashes, more than %d", len(proof), maxProof))
	}
	if m == n {
		if len(proof) != 0 {
			return fail("proof not empty for equal sizes")
		}
		if oldRoot != newRoot {
			return fail("roots differ for equal sizes")
		}
		return nil
	}
	// Step 1: an empty proof fails.
	if len(proof) == 0 {
		return fail("proof empty")
	}
	// Step 2: if m is a power of two, the proof starts implicitly with oldRoot.
	var first Hash
	rest := proof
	if m&(m-1) == 0 {
		first = oldRoot
	} else {
		first, rest = proof[0], proof[1:]
	}
	// Steps 3-4.
	fnode, snode := m-1, n-1
	for fnode&1 == 1 {
		fnode >>= 1
		snode >>= 1
	}
	// Steps 5-6.
	fr, sr := first, first
	for _, c := range rest {
		if snode == 0 {
			return fail("proof too long")
		}
		if fnode&1 == 1 || fnode == snode {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fnode&1 == 0 && fnode != 0 {
				fnode >>= 1
				snode >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fnode >>= 1
		snode >>= 1
	}
	// Step 7.
	if snode != 0 {
		return fail("proof too short")
	}
	if fr != oldRoot {
		return fail("computed old root differs")
	}
	if sr != newRoot {
		return fail("computed new root differs")
	}
	return nil
}
