package merkle

import (
	"fmt"
	"math/bits"
)

// A Frontier is the compact range of a tree of size n: the hashes of the
// perfect subtrees that make up the tree (RFC 9162 §2.1.1 splits the tree
// into them along its right edge), one per set bit of n, largest
// (leftmost) first. It is enough to append leaves and compute the root.
//
// The zero Frontier is the empty tree.
type Frontier struct {
	size  uint64
	nodes []Hash // nodes[i] is the i-th perfect subtree, largest first
}

// Size returns the number of leaves in the tree.
func (f *Frontier) Size() uint64 {
	return f.size
}

// Append adds leaf hash lh as leaf number f.Size() and returns the node
// hashes that leaf completes, level 0 (lh itself) first: element L is node
// (L, oldSize>>L), and len == [StoredCount](oldSize). These are the hashes
// a store keeps for that leaf.
//
// Append panics if the tree already holds 2^63 leaves, the largest size
// this package handles.
func (f *Frontier) Append(lh Hash) []Hash {
	if f.size >= maxSize {
		panic("merkle: Frontier.Append: tree already holds 2^63 leaves")
	}
	done := make([]Hash, 1, StoredCount(f.size))
	done[0] = lh
	h := lh
	// Each trailing one bit of the old size is a perfect subtree of the
	// same level as h, just to its left: merge them.
	for s := f.size; s&1 == 1; s >>= 1 {
		last := len(f.nodes) - 1
		if last < 0 {
			panic("merkle: bad math")
		}
		h = NodeHash(f.nodes[last], h)
		f.nodes = f.nodes[:last]
		done = append(done, h)
	}
	f.nodes = append(f.nodes, h)
	f.size++
	return done
}

// Root returns the RFC 9162 §2.1.1 Merkle Tree Hash of the tree:
// [EmptyRoot] for size 0.
func (f *Frontier) Root() Hash {
	return fold(f.nodes)
}

// Clone returns an independent copy of f.
func (f *Frontier) Clone() *Frontier {
	return &Frontier{size: f.size, nodes: f.Nodes()}
}

// Nodes returns a copy of the frontier hashes, largest subtree first:
// popcount(f.Size()) hashes, the i-th being node (L, k) where L is the i-th
// highest set bit of the size and k<<L is the number of leaves before it.
func (f *Frontier) Nodes() []Hash {
	return append([]Hash(nil), f.nodes...)
}

// NewFrontier returns the frontier of a tree of size n with the given
// frontier hashes, largest subtree first, as returned by [Frontier.Nodes].
// It returns an error unless len(nodes) == popcount(n) and n <= 2^63.
// The nodes are copied.
func NewFrontier(n uint64, nodes []Hash) (*Frontier, error) {
	if err := checkSize("NewFrontier", "size", n); err != nil {
		return nil, err
	}
	if want := bits.OnesCount64(n); len(nodes) != want {
		return nil, fmt.Errorf("merkle: NewFrontier: %d nodes for size %d, want %d", len(nodes), n, want)
	}
	return &Frontier{size: n, nodes: append([]Hash(nil), nodes...)}, nil
}

// LoadFrontier rebuilds the frontier of a tree of size n from the complete
// nodes in r, reading popcount(n) nodes.
func LoadFrontier(n uint64, r NodeReader) (*Frontier, error) {
	if err := checkSize("LoadFrontier", "size", n); err != nil {
		return nil, err
	}
	nodes, err := readParts("LoadFrontier", make([]Hash, 0, bits.OnesCount64(n)), 0, n, r)
	if err != nil {
		return nil, err
	}
	return &Frontier{size: n, nodes: nodes}, nil
}
