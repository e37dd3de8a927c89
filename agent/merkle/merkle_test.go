package merkle

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

var seedFlag = flag.Uint64("merkle.seed", 0, "seed for the randomized tests (0: from the clock)")

// testSeed returns the seed for a randomized test and logs it.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -merkle.seed=%d)", s, s)
	return s
}

// memStore is a slice-backed NodeReader holding exactly the nodes given by
// Frontier.Append: levels[L][k] is node (L, k). Absent nodes are errors.
type memStore struct {
	levels [][]Hash
}

// add stores the hashes Frontier.Append returned for leaf i.
func (s *memStore) add(i uint64, done []Hash) {
	if len(done) != StoredCount(i) {
		panic(fmt.Sprintf("Append for leaf %d returned %d hashes, want %d", i, len(done), StoredCount(i)))
	}
	for level, h := range done {
		if level == len(s.levels) {
			s.levels = append(s.levels, nil)
		}
		if uint64(len(s.levels[level])) != i>>level {
			panic(fmt.Sprintf("leaf %d: node (%d, %d) out of order", i, level, i>>level))
		}
		s.levels[level] = append(s.levels[level], h)
	}
}

func (s *memStore) Node(level uint8, index uint64) (Hash, error) {
	if int(level) >= len(s.levels) || index >= uint64(len(s.levels[level])) {
		return Hash{}, fmt.Errorf("node (%d, %d) not stored", level, index)
	}
	return s.levels[level][index], nil
}

// counter counts the reads made through it.
type counter struct {
	r     NodeReader
	reads int
}

func (c *counter) Node(level uint8, index uint64) (Hash, error) {
	c.reads++
	return c.r.Node(level, index)
}

// funcReader is a NodeReader computing nodes from a formula.
type funcReader func(level uint8, index uint64) (Hash, error)

func (f funcReader) Node(level uint8, index uint64) (Hash, error) { return f(level, index) }

// testTree is a tree built twice from the same records: with Frontier.Append
// into a memStore, and with tlog.StoredHashes into a tlog hash slice.
type testTree struct {
	n     uint64
	store *memStore
	roots []Hash      // roots[k]: Frontier.Root after k leaves
	nodes [][]Hash    // nodes[k]: Frontier.Nodes after k leaves (if kept)
	th    []tlog.Hash // tlog stored hashes
}

// leafData returns the record data of leaf i: its 8-byte big-endian index.
func leafData(i uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, i)
}

func (tt *testTree) leaf(i uint64) Hash { return tt.store.levels[0][i] }

func (tt *testTree) tlogReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(tt.th)) {
				return nil, fmt.Errorf("tlog index %d not stored", x)
			}
			out[i] = tt.th[x]
		}
		return out, nil
	})
}

// buildTree builds a testTree of n leaves; withTlog also builds the tlog
// store, keepNodes keeps every frontier.
func buildTree(n uint64, withTlog, keepNodes bool) *testTree {
	tt := &testTree{n: n, store: new(memStore)}
	var f Frontier
	tt.roots = append(tt.roots, f.Root())
	if keepNodes {
		tt.nodes = append(tt.nodes, f.Nodes())
	}
	for i := range n {
		data := leafData(i)
		tt.store.add(i, f.Append(LeafHash(data)))
		tt.roots = append(tt.roots, f.Root())
		if keepNodes {
			tt.nodes = append(tt.nodes, f.Nodes())
		}
		if withTlog {
			hs, err := tlog.StoredHashes(int64(i), data, tt.tlogReader())
			if err != nil {
				panic(err)
			}
			tt.th = append(tt.th, hs...)
		}
	}
	return tt
}

var (
	smallOnce sync.Once
	smallTree *testTree // 10,000 leaves, with tlog and every frontier
	bigOnce   sync.Once
	bigTree   *testTree // 1,000,000 leaves, ours only
)

const smallN, bigN = 10_000, 1_000_000

func small() *testTree {
	smallOnce.Do(func() { smallTree = buildTree(smallN, true, true) })
	return smallTree
}

func big() *testTree {
	bigOnce.Do(func() { bigTree = buildTree(bigN, false, false) })
	return bigTree
}

// tlogMaxSize is the largest tree size the tlog oracle handles: its
// maxpow2 never returns for arguments above 2^62.
const tlogMaxSize = 1 << 62

func toTlog(p []Hash) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i, h := range p {
		out[i] = tlog.Hash(h)
	}
	return out
}

func fromTlog(p []tlog.Hash) []Hash {
	out := make([]Hash, len(p))
	for i, h := range p {
		out[i] = Hash(h)
	}
	return out
}

func equalHashes(a, b []Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustHex(s string) Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("bad hex " + s)
	}
	return Hash(b)
}

// mutations returns broken variants of proof: each hash with one bit
// flipped (every bit if allBits), each hash dropped, and a hash added at
// the start, middle and end.
func mutations(proof []Hash, r *rand.Rand, allBits bool) map[string][]Hash {
	out := make(map[string][]Hash)
	for i := range proof {
		flips := []int{r.IntN(256)}
		if allBits {
			flips = flips[:0]
			for b := range 256 {
				flips = append(flips, b)
			}
		}
		for _, b := range flips {
			p := append([]Hash(nil), proof...)
			p[i][b/8] ^= 1 << (b % 8)
			out[fmt.Sprintf("flip hash %d bit %d", i, b)] = p
		}
		out[fmt.Sprintf("drop %d", i)] = append(append([]Hash(nil), proof[:i]...), proof[i+1:]...)
	}
	var extra Hash
	extra[0] = byte(r.Uint32())
	for _, at := range []int{0, len(proof) / 2, len(proof)} {
		p := append(append(append([]Hash(nil), proof[:at]...), extra), proof[at:]...)
		out[fmt.Sprintf("add at %d", at)] = p
	}
	if len(proof) > 0 {
		// Adding a copy of a genuine hash is a subtler extension.
		p := append(append([]Hash(nil), proof...), proof[len(proof)-1])
		out["duplicate last"] = p
	}
	return out
}

func flipBit(h Hash, b int) Hash {
	h[b/8] ^= 1 << (b % 8)
	return h
}

// checkInclusionCase compares ProveInclusion(m, n) with tlog and checks
// that CheckInclusion accepts tlog's proof and rejects every mutation.
func checkInclusionCase(t *testing.T, tt *testTree, m, n uint64, r *rand.Rand, allBits bool) {
	t.Helper()
	got, err := ProveInclusion(m, n, tt.store)
	if err != nil {
		t.Fatalf("ProveInclusion(%d, %d): %v", m, n, err)
	}
	tp, err := tlog.ProveRecord(int64(n), int64(m), tt.tlogReader())
	if err != nil {
		t.Fatalf("tlog.ProveRecord(%d, %d): %v", n, m, err)
	}
	want := fromTlog(tp)
	if !equalHashes(got, want) {
		t.Fatalf("ProveInclusion(%d, %d) = %v, tlog.ProveRecord = %v", m, n, got, want)
	}
	leaf, root := tt.leaf(m), tt.roots[n]
	if err := CheckInclusion(want, m, n, leaf, root); err != nil {
		t.Fatalf("CheckInclusion(tlog proof, %d, %d): %v", m, n, err)
	}
	reject := func(what string, p []Hash, m, n uint64, leaf, root Hash) {
		t.Helper()
		err := CheckInclusion(p, m, n, leaf, root)
		if !errors.Is(err, ErrProof) {
			t.Fatalf("CheckInclusion(%s, %d, %d) = %v, want ErrProof", what, m, n, err)
		}
	}
	for what, p := range mutations(want, r, allBits) {
		reject(what, p, m, n, leaf, root)
	}
	reject("flipped leaf", want, m, n, flipBit(leaf, r.IntN(256)), root)
	reject("flipped root", want, m, n, leaf, flipBit(root, r.IntN(256)))
	if m+1 < n {
		reject("index+1", want, m+1, n, leaf, root)
	}
	if m > 0 {
		reject("index-1", want, m-1, n, leaf, root)
	}
}

// checkConsistencyCase compares ProveConsistency(m, n) with tlog and checks
// that CheckConsistency accepts tlog's proof and rejects every mutation.
func checkConsistencyCase(t *testing.T, tt *testTree, m, n uint64, r *rand.Rand, allBits bool) {
	t.Helper()
	got, err := ProveConsistency(m, n, tt.store)
	if err != nil {
		t.Fatalf("ProveConsistency(%d, %d): %v", m, n, err)
	}
	tp, err := tlog.ProveTree(int64(n), int64(m), tt.tlogReader())
	if err != nil {
		t.Fatalf("tlog.ProveTree(%d, %d): %v", n, m, err)
	}
	want := fromTlog(tp)
	if !equalHashes(got, want) {
		t.Fatalf("ProveConsistency(%d, %d) = %v, tlog.ProveTree = %v", m, n, got, want)
	}
	oldRoot, newRoot := tt.roots[m], tt.roots[n]
	if err := CheckConsistency(want, m, n, oldRoot, newRoot); err != nil {
		t.Fatalf("CheckConsistency(tlog proof, %d, %d): %v", m, n, err)
	}
	reject := func(what string, p []Hash, m, n uint64, oldRoot, newRoot Hash) {
		t.Helper()
		err := CheckConsistency(p, m, n, oldRoot, newRoot)
		if !errors.Is(err, ErrProof) {
			t.Fatalf("CheckConsistency(%s, %d, %d) = %v, want ErrProof", what, m, n, err)
		}
	}
	for what, p := range mutations(want, r, allBits) {
		reject(what, p, m, n, oldRoot, newRoot)
	}
	reject("flipped old root", want, m, n, flipBit(oldRoot, r.IntN(256)), newRoot)
	reject("flipped new root", want, m, n, oldRoot, flipBit(newRoot, r.IntN(256)))
	if m < n {
		reject("swapped roots", want, m, n, newRoot, oldRoot)
		reject("old size+1", want, m+1, n, tt.roots[m+1], newRoot)
		reject("new size+1", want, m, n+1, oldRoot, tt.roots[n+1])
	}
}

func TestHash_String(t *testing.T) {
	tests := []struct {
		h    Hash
		want string
	}{
		{Hash{}, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{EmptyRoot(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	}
	for _, tc := range tests {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("%x.String() = %q, want %q", tc.h[:], got, tc.want)
		}
		if got := tc.h.String(); got != tlog.Hash(tc.h).String() {
			t.Errorf("String() = %q, tlog says %q", got, tlog.Hash(tc.h).String())
		}
	}
}

func TestLeafHash_MatchesTlog(t *testing.T) {
	for _, data := range [][]byte{nil, {}, {0}, []byte("hello"), bytes.Repeat([]byte{0xab}, 1000)} {
		if got, want := LeafHash(data), Hash(tlog.RecordHash(data)); got != want {
			t.Errorf("LeafHash(%q) = %v, tlog.RecordHash = %v", data, got, want)
		}
	}
	// RFC 9162 §2.1.1: the leaf hash of the empty string is SHA-256(0x00).
	if got, want := LeafHash(nil), mustHex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"); got != want {
		t.Errorf("LeafHash(\"\") = %x, want %x", got[:], want[:])
	}
}

func TestNodeHash_MatchesTlog(t *testing.T) {
	a, b := LeafHash([]byte("a")), LeafHash([]byte("b"))
	if got, want := NodeHash(a, b), Hash(tlog.NodeHash(tlog.Hash(a), tlog.Hash(b))); got != want {
		t.Errorf("NodeHash = %v, tlog.NodeHash = %v", got, want)
	}
	if NodeHash(a, b) == NodeHash(b, a) {
		t.Errorf("NodeHash is symmetric")
	}
}

func TestEmptyRoot_Value(t *testing.T) {
	want := mustHex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if got := EmptyRoot(); got != want {
		t.Errorf("EmptyRoot() = %x, want %x", got[:], want[:])
	}
	th, err := tlog.TreeHash(0, nil)
	if err != nil || Hash(th) != want {
		t.Errorf("tlog.TreeHash(0) = %v, %v", th, err)
	}
	c := &counter{r: new(memStore)}
	if got, err := TreeHash(0, c); err != nil || got != want || c.reads != 0 {
		t.Errorf("TreeHash(0) = %v, %v with %d reads", got, err, c.reads)
	}
	var f Frontier
	if got := f.Root(); got != want {
		t.Errorf("Frontier{}.Root() = %v", got)
	}
}

func TestStoredCount_Table(t *testing.T) {
	tests := []struct {
		i    uint64
		want int
	}{
		{0, 1}, {1, 2}, {2, 1}, {3, 3}, {4, 1}, {5, 2}, {7, 4}, {15, 5},
		{1<<63 - 1, 64}, {math.MaxUint64, 65},
	}
	for _, tc := range tests {
		if got := StoredCount(tc.i); got != tc.want {
			t.Errorf("StoredCount(%d) = %d, want %d", tc.i, got, tc.want)
		}
	}
	for i := int64(0); i < 5000; i++ {
		if got, want := StoredCount(uint64(i)), tlog.StoredHashCount(i+1)-tlog.StoredHashCount(i); int64(got) != want {
			t.Fatalf("StoredCount(%d) = %d, tlog says %d", i, got, want)
		}
	}
}

// The test leaves used by the Certificate Transparency implementations.
var ctLeaves = []string{
	"",
	"\x00",
	"\x10",
	"\x20\x21",
	"\x30\x31",
	"\x40\x41\x42\x43",
	"\x50\x51\x52\x53\x54\x55\x56\x57",
	"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
}

// ctRoots are the well-known roots of the first k+1 ctLeaves. Each is
// asserted against tlog's computation as well as ours.
var ctRoots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

// ctPath0 is the well-known audit path of leaf 0 in the 8-leaf tree.
var ctPath0 = []string{
	"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
}

func TestTreeHash_CTVectors(t *testing.T) {
	store := new(memStore)
	var f Frontier
	var th []tlog.Hash
	tr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = th[x]
		}
		return out, nil
	})
	for i, leaf := range ctLeaves {
		store.add(uint64(i), f.Append(LeafHash([]byte(leaf))))
		hs, err := tlog.StoredHashes(int64(i), []byte(leaf), tr)
		if err != nil {
			t.Fatal(err)
		}
		th = append(th, hs...)

		n := uint64(i + 1)
		want := mustHex(ctRoots[i])
		got, err := TreeHash(n, store)
		if err != nil {
			t.Fatalf("TreeHash(%d): %v", n, err)
		}
		tlogRoot, err := tlog.TreeHash(int64(n), tr)
		if err != nil {
			t.Fatalf("tlog.TreeHash(%d): %v", n, err)
		}
		if got != want || f.Root() != want || Hash(tlogRoot) != want {
			t.Errorf("size %d: TreeHash = %x, Frontier.Root = %x, tlog = %x, want %s", n, got[:], f.Root().String(), tlogRoot[:], ctRoots[i])
		}
	}
	var want []Hash
	for _, s := range ctPath0 {
		want = append(want, mustHex(s))
	}
	got, err := ProveInclusion(0, 8, store)
	if err != nil || !equalHashes(got, want) {
		t.Errorf("ProveInclusion(0, 8) = %v, %v; want %v", got, err, want)
	}
	tp, err := tlog.ProveRecord(8, 0, tr)
	if err != nil || !equalHashes(fromTlog(tp), want) {
		t.Errorf("tlog.ProveRecord(8, 0) = %v, %v; want %v", tp, err, want)
	}
	// PROOF(1, D[8]) is the same path: leaf 0 is the old tree.
	got, err = ProveConsistency(1, 8, store)
	if err != nil || !equalHashes(got, want) {
		t.Errorf("ProveConsistency(1, 8) = %v, %v; want %v", got, err, want)
	}
	if err := CheckInclusion(want, 0, 8, LeafHash(nil), mustHex(ctRoots[7])); err != nil {
		t.Errorf("CheckInclusion(ctPath0): %v", err)
	}
}

func TestTreeHash_MatchesTlogAndFrontier(t *testing.T) {
	tt := small()
	for n := uint64(0); n <= tt.n; n++ {
		c := &counter{r: tt.store}
		got, err := TreeHash(n, c)
		if err != nil {
			t.Fatalf("TreeHash(%d): %v", n, err)
		}
		want, err := tlog.TreeHash(int64(n), tt.tlogReader())
		if err != nil {
			t.Fatalf("tlog.TreeHash(%d): %v", n, err)
		}
		if got != Hash(want) || got != tt.roots[n] {
			t.Fatalf("TreeHash(%d) = %v, tlog = %v, Frontier.Root = %v", n, got, want, tt.roots[n])
		}
		if c.reads > bits.OnesCount64(n) {
			t.Fatalf("TreeHash(%d) made %d reads, want <= %d", n, c.reads, bits.OnesCount64(n))
		}
	}
}

func TestProveInclusion_ExhaustiveAgainstTlog(t *testing.T) {
	t.Parallel()
	tt := small()
	maxN := uint64(300)
	if testing.Short() {
		maxN = 100
	}
	r := rand.New(rand.NewPCG(testSeed(t), 1))
	cases := 0
	for n := uint64(1); n <= maxN; n++ {
		for m := range n {
			checkInclusionCase(t, tt, m, n, r, n <= 32)
			cases++
		}
	}
	t.Logf("%d (m, n) pairs", cases)
}

func TestProveConsistency_ExhaustiveAgainstTlog(t *testing.T) {
	t.Parallel()
	tt := small()
	maxN := uint64(300)
	if testing.Short() {
		maxN = 100
	}
	r := rand.New(rand.NewPCG(testSeed(t), 2))
	cases := 0
	for n := uint64(1); n <= maxN; n++ {
		for m := uint64(1); m <= n; m++ {
			checkConsistencyCase(t, tt, m, n, r, n <= 24)
			cases++
		}
	}
	t.Logf("%d (m, n) pairs", cases)
}

func TestProveInclusion_RandomAgainstTlog(t *testing.T) {
	tt := small()
	r := rand.New(rand.NewPCG(testSeed(t), 3))
	for range 30 {
		n := 301 + r.Uint64N(tt.n-301)
		for range 50 {
			checkInclusionCase(t, tt, r.Uint64N(n), n, r, false)
		}
		checkInclusionCase(t, tt, 0, n, r, false)
		checkInclusionCase(t, tt, n-1, n, r, false)
	}
	checkInclusionCase(t, tt, tt.n-2, tt.n-1, r, false)
}

func TestProveConsistency_RandomAgainstTlog(t *testing.T) {
	tt := small()
	r := rand.New(rand.NewPCG(testSeed(t), 4))
	for range 30 {
		n := 301 + r.Uint64N(tt.n-301)
		for range 50 {
			checkConsistencyCase(t, tt, 1+r.Uint64N(n), n, r, false)
		}
		checkConsistencyCase(t, tt, 1, n, r, false)
		checkConsistencyCase(t, tt, n-1, n, r, false)
		checkConsistencyCase(t, tt, n, n, r, false)
	}
}

// synthNode returns a made-up hash for every node, so that trees of any
// size can be "stored". Its hashes are not consistent with each other, so
// proofs from it can be compared but not checked.
func synthNode(level uint8, index uint64) Hash {
	var b [9]byte
	b[0] = level
	binary.BigEndian.PutUint64(b[1:], index)
	return LeafHash(b[:])
}

// uniformReader returns the nodes of a tree whose leaves all hold the same
// data: node (L, k) depends only on L. It is consistent for every size.
type uniformReader [64]Hash

func newUniform() *uniformReader {
	var u uniformReader
	u[0] = LeafHash([]byte("same"))
	for l := 1; l < len(u); l++ {
		u[l] = NodeHash(u[l-1], u[l-1])
	}
	return &u
}

func (u *uniformReader) Node(level uint8, index uint64) (Hash, error) {
	if level >= 64 || index > math.MaxUint64>>level {
		return Hash{}, fmt.Errorf("no node (%d, %d)", level, index)
	}
	return u[level], nil
}

func TestProveInclusion_HugeSizesAgainstTlog(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 5))
	tr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			l, k := tlog.SplitStoredHashIndex(x)
			out[i] = tlog.Hash(synthNode(uint8(l), uint64(k)))
		}
		return out, nil
	})
	sizes := []uint64{1 << 60, 1<<60 - 1, 1<<59 + 1, 0x0aaa_aaaa_aaaa_aaab}
	for range 20 {
		sizes = append(sizes, 2+r.Uint64N(1<<60-1))
	}
	for _, n := range sizes {
		for _, m := range []uint64{0, n - 1, n / 2, r.Uint64N(n)} {
			got, err := ProveInclusion(m, n, funcReader(func(l uint8, k uint64) (Hash, error) { return synthNode(l, k), nil }))
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", m, n, err)
			}
			want, err := tlog.ProveRecord(int64(n), int64(m), tr)
			if err != nil || !equalHashes(got, fromTlog(want)) {
				t.Fatalf("ProveInclusion(%d, %d) = %v, tlog = %v, %v", m, n, got, want, err)
			}
		}
		for _, m := range []uint64{1, n - 1, n / 2, 1 + r.Uint64N(n)} {
			got, err := ProveConsistency(m, n, funcReader(func(l uint8, k uint64) (Hash, error) { return synthNode(l, k), nil }))
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", m, n, err)
			}
			want, err := tlog.ProveTree(int64(n), int64(m), tr)
			if err != nil || !equalHashes(got, fromTlog(want)) {
				t.Fatalf("ProveConsistency(%d, %d) = %v, tlog = %v, %v", m, n, got, want, err)
			}
		}
	}
}

func TestCheckInclusion_HugeSizes(t *testing.T) {
	u := newUniform()
	tests := []struct{ m, n uint64 }{
		{0, 1 << 63}, {1<<63 - 1, 1 << 63}, {1<<62 + 5, 1 << 63},
		{0, 1<<63 - 1}, {1<<63 - 2, 1<<63 - 1}, {12345, 1<<63 - 1},
		{1<<62 - 1, 1<<62 + 1}, {1 << 62, 1<<62 + 1},
	}
	for _, tc := range tests {
		p, err := ProveInclusion(tc.m, tc.n, u)
		if err != nil {
			t.Fatalf("ProveInclusion(%d, %d): %v", tc.m, tc.n, err)
		}
		root, err := TreeHash(tc.n, u)
		if err != nil {
			t.Fatalf("TreeHash(%d): %v", tc.n, err)
		}
		if err := CheckInclusion(p, tc.m, tc.n, u[0], root); err != nil {
			t.Errorf("CheckInclusion(%d, %d): %v", tc.m, tc.n, err)
		}
		if len(p) > 0 {
			p[0][0] ^= 1
			if err := CheckInclusion(p, tc.m, tc.n, u[0], root); !errors.Is(err, ErrProof) {
				t.Errorf("CheckInclusion(flipped, %d, %d) = %v", tc.m, tc.n, err)
			}
		}
	}
}

func TestCheckConsistency_HugeSizes(t *testing.T) {
	u := newUniform()
	tests := []struct{ m, n uint64 }{
		{1, 1 << 63}, {1<<63 - 1, 1 << 63}, {1 << 62, 1 << 63}, {3, 1 << 63},
		{1<<62 + 1, 1<<63 - 1}, {1 << 63, 1 << 63}, {7, 1<<63 - 1},
	}
	for _, tc := range tests {
		p, err := ProveConsistency(tc.m, tc.n, u)
		if err != nil {
			t.Fatalf("ProveConsistency(%d, %d): %v", tc.m, tc.n, err)
		}
		if len(p) > maxProof {
			t.Fatalf("ProveConsistency(%d, %d) has %d hashes", tc.m, tc.n, len(p))
		}
		oldRoot, err1 := TreeHash(tc.m, u)
		newRoot, err2 := TreeHash(tc.n, u)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if err := CheckConsistency(p, tc.m, tc.n, oldRoot, newRoot); err != nil {
			t.Errorf("CheckConsistency(%d, %d): %v", tc.m, tc.n, err)
		}
	}
}

func TestProveInclusion_ReadCount1M(t *testing.T) {
	tt := big()
	r := rand.New(rand.NewPCG(testSeed(t), 6))
	n := uint64(bigN)
	root := tt.roots[n]
	ms := []uint64{0, 1, n / 2, 1<<19 - 1, 1 << 19, n - 2, n - 1}
	for range 300 {
		ms = append(ms, r.Uint64N(n))
	}
	most := 0
	for _, m := range ms {
		c := &counter{r: tt.store}
		p, err := ProveInclusion(m, n, c)
		if err != nil {
			t.Fatalf("ProveInclusion(%d, %d): %v", m, n, err)
		}
		if c.reads > 2*64 || c.reads > len(p)+bits.OnesCount64(n) {
			t.Fatalf("ProveInclusion(%d, %d) made %d reads for %d hashes", m, n, c.reads, len(p))
		}
		most = max(most, c.reads)
		if err := CheckInclusion(p, m, n, tt.leaf(m), root); err != nil {
			t.Fatalf("CheckInclusion(%d, %d): %v", m, n, err)
		}
	}
	t.Logf("at most %d reads per inclusion proof at n=%d", most, n)
}

func TestProveConsistency_ReadCount1M(t *testing.T) {
	tt := big()
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	type pair struct{ m, n uint64 }
	pairs := []pair{{1, bigN}, {bigN - 1, bigN}, {bigN, bigN}, {1 << 19, bigN}, {1<<19 + 1, bigN}, {bigN / 2, bigN}}
	for range 300 {
		n := bigN - r.Uint64N(1000)
		pairs = append(pairs, pair{1 + r.Uint64N(n), n})
	}
	most := 0
	for _, pr := range pairs {
		c := &counter{r: tt.store}
		p, err := ProveConsistency(pr.m, pr.n, c)
		if err != nil {
			t.Fatalf("ProveConsistency(%d, %d): %v", pr.m, pr.n, err)
		}
		if c.reads > 2*64 || c.reads > len(p)+bits.OnesCount64(pr.n) {
			t.Fatalf("ProveConsistency(%d, %d) made %d reads for %d hashes", pr.m, pr.n, c.reads, len(p))
		}
		most = max(most, c.reads)
		if err := CheckConsistency(p, pr.m, pr.n, tt.roots[pr.m], tt.roots[pr.n]); err != nil {
			t.Fatalf("CheckConsistency(%d, %d): %v", pr.m, pr.n, err)
		}
	}
	t.Logf("at most %d reads per consistency proof at n≈%d", most, bigN)
}

func TestLoadFrontier_MatchesAppend(t *testing.T) {
	tt := small()
	r := rand.New(rand.NewPCG(testSeed(t), 8))
	sizes := []uint64{}
	for n := uint64(0); n <= 2100; n++ {
		sizes = append(sizes, n)
	}
	for range 200 {
		sizes = append(sizes, r.Uint64N(tt.n+1))
	}
	for _, n := range sizes {
		c := &counter{r: tt.store}
		f, err := LoadFrontier(n, c)
		if err != nil {
			t.Fatalf("LoadFrontier(%d): %v", n, err)
		}
		if c.reads != bits.OnesCount64(n) {
			t.Fatalf("LoadFrontier(%d) made %d reads, want %d", n, c.reads, bits.OnesCount64(n))
		}
		if f.Size() != n || !equalHashes(f.Nodes(), tt.nodes[n]) || f.Root() != tt.roots[n] {
			t.Fatalf("LoadFrontier(%d) = size %d nodes %v, want %v", n, f.Size(), f.Nodes(), tt.nodes[n])
		}
		g, err := NewFrontier(n, f.Nodes())
		if err != nil || g.Size() != n || g.Root() != tt.roots[n] {
			t.Fatalf("NewFrontier(%d, Nodes()) = %v, %v", n, g, err)
		}
	}
}

func TestLoadFrontier_ContinueAppending(t *testing.T) {
	tt := small()
	for _, n := range []uint64{0, 1, 2, 3, 7, 8, 100, 255, 256, 1023, 4097} {
		f, err := LoadFrontier(n, tt.store)
		if err != nil {
			t.Fatalf("LoadFrontier(%d): %v", n, err)
		}
		for i := n; i < n+300 && i < tt.n; i++ {
			done := f.Append(tt.leaf(i))
			for level, h := range done {
				if h != tt.store.levels[level][i>>level] {
					t.Fatalf("from %d: Append(leaf %d)[%d] = %v, stored %v", n, i, level, h, tt.store.levels[level][i>>level])
				}
			}
			if f.Root() != tt.roots[i+1] {
				t.Fatalf("from %d: root after leaf %d differs", n, i)
			}
		}
	}
}

func TestFrontier_CloneIndependent(t *testing.T) {
	tt := small()
	f, err := LoadFrontier(5, tt.store)
	if err != nil {
		t.Fatal(err)
	}
	g := f.Clone()
	f.Append(tt.leaf(5))
	f.Append(tt.leaf(6))
	if g.Size() != 5 || g.Root() != tt.roots[5] || !equalHashes(g.Nodes(), tt.nodes[5]) {
		t.Errorf("clone changed when the original was appended to")
	}
	g.Append(Hash{1})
	if f.Size() != 7 || f.Root() != tt.roots[7] {
		t.Errorf("original changed when the clone was appended to")
	}
	nodes := f.Nodes()
	nodes[0][0] ^= 1
	if f.Root() != tt.roots[7] {
		t.Errorf("Nodes() aliases the frontier")
	}
}

func TestFrontier_Append(t *testing.T) {
	tests := []struct {
		name string
		size uint64
		want int // hashes returned
	}{
		{"empty", 0, 1},
		{"one", 1, 2},
		{"seven", 7, 4},
		{"2^63-1", 1<<63 - 1, 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := make([]Hash, bits.OnesCount64(tc.size))
			f, err := NewFrontier(tc.size, nodes)
			if err != nil {
				t.Fatal(err)
			}
			done := f.Append(LeafHash(nil))
			if len(done) != tc.want || f.Size() != tc.size+1 || len(f.Nodes()) != bits.OnesCount64(tc.size+1) {
				t.Errorf("Append on size %d: %d hashes, size %d, %d nodes", tc.size, len(done), f.Size(), len(f.Nodes()))
			}
		})
	}
}

func TestFrontier_AppendPanicsWhenFull(t *testing.T) {
	f, err := NewFrontier(1<<63, []Hash{{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if e := recover(); e == nil || !strings.Contains(fmt.Sprint(e), "2^63") {
			t.Errorf("Append on a full tree: recover() = %v", e)
		}
	}()
	f.Append(Hash{})
}

func TestNewFrontier_Errors(t *testing.T) {
	tests := []struct {
		name  string
		n     uint64
		nodes int
		msg   string
	}{
		{"too few", 3, 1, "merkle: NewFrontier: 1 nodes for size 3, want 2"},
		{"too many", 4, 2, "merkle: NewFrontier: 2 nodes for size 4, want 1"},
		{"empty with node", 0, 1, "merkle: NewFrontier: 1 nodes for size 0, want 0"},
		{"too big", 1<<63 + 1, 2, "merkle: NewFrontier: size 9223372036854775809 > 2^63"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFrontier(tc.n, make([]Hash, tc.nodes))
			if err == nil || err.Error() != tc.msg {
				t.Errorf("NewFrontier(%d, %d nodes) = %v, want %q", tc.n, tc.nodes, err, tc.msg)
			}
		})
	}
}

func TestLoadFrontier_Errors(t *testing.T) {
	tt := small()
	if _, err := LoadFrontier(tt.n+1, tt.store); err == nil || !strings.Contains(err.Error(), "merkle: LoadFrontier: reading node (0, 10000)") {
		t.Errorf("LoadFrontier past the end = %v", err)
	}
	if _, err := LoadFrontier(math.MaxUint64, tt.store); err == nil || !strings.Contains(err.Error(), "merkle: LoadFrontier: size 18446744073709551615 > 2^63") {
		t.Errorf("LoadFrontier(MaxUint64) = %v", err)
	}
}

func TestProve_ArgErrors(t *testing.T) {
	tt := small()
	tests := []struct {
		name string
		call func() error
		msg  string
	}{
		{"inclusion m >= n", func() error { _, err := ProveInclusion(7, 5, tt.store); return err }, "merkle: ProveInclusion: index 7 >= size 5"},
		{"inclusion m == n", func() error { _, err := ProveInclusion(5, 5, tt.store); return err }, "merkle: ProveInclusion: index 5 >= size 5"},
		{"inclusion n == 0", func() error { _, err := ProveInclusion(0, 0, tt.store); return err }, "merkle: ProveInclusion: index 0 >= size 0"},
		{"inclusion n > 2^63", func() error { _, err := ProveInclusion(0, math.MaxUint64, tt.store); return err }, "merkle: ProveInclusion: size 18446744073709551615 > 2^63"},
		{"inclusion missing node", func() error { _, err := ProveInclusion(3, tt.n+7, tt.store); return err }, "merkle: ProveInclusion: reading node (2, 2500): node (2, 2500) not stored"},
		{"consistency m == 0", func() error { _, err := ProveConsistency(0, 5, tt.store); return err }, "merkle: ProveConsistency: old size 0 (RFC 9162 has no proof from the empty tree)"},
		{"consistency m > n", func() error { _, err := ProveConsistency(6, 5, tt.store); return err }, "merkle: ProveConsistency: old size 6 > new size 5"},
		{"consistency n > 2^63", func() error { _, err := ProveConsistency(1, 1<<63+1, tt.store); return err }, "merkle: ProveConsistency: new size 9223372036854775809 > 2^63"},
		{"consistency missing node", func() error { _, err := ProveConsistency(3, 4, new(memStore)); return err }, "merkle: ProveConsistency: reading node (1, 0): node (1, 0) not stored"},
		{"tree hash n > 2^63", func() error { _, err := TreeHash(1<<63+1, tt.store); return err }, "merkle: TreeHash: size 9223372036854775809 > 2^63"},
		{"tree hash missing node", func() error { _, err := TreeHash(3, new(memStore)); return err }, "merkle: TreeHash: reading node (1, 0): node (1, 0) not stored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || err.Error() != tc.msg {
				t.Errorf("error = %v, want %q", err, tc.msg)
			}
			if errors.Is(err, ErrProof) {
				t.Errorf("argument error %v wraps ErrProof", err)
			}
		})
	}
}

func TestProveConsistency_Equal(t *testing.T) {
	tt := small()
	for _, n := range []uint64{1, 2, 3, 1000} {
		c := &counter{r: tt.store}
		p, err := ProveConsistency(n, n, c)
		if err != nil || len(p) != 0 || c.reads != 0 {
			t.Errorf("ProveConsistency(%d, %d) = %v, %v with %d reads", n, n, p, err, c.reads)
		}
	}
}

func TestCheckInclusion_Errors(t *testing.T) {
	tt := small()
	valid, err := ProveInclusion(3, 10, tt.store)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proof   []Hash
		m, n    uint64
		isProof bool
		msg     string
	}{
		{"m >= n", valid, 10, 10, false, "merkle: CheckInclusion: index 10 >= size 10"},
		{"n == 0", nil, 0, 0, false, "merkle: CheckInclusion: index 0 >= size 0"},
		{"n > 2^63", valid, 3, math.MaxUint64, false, "merkle: CheckInclusion: size 18446744073709551615 > 2^63"},
		{"oversized", make([]Hash, 65), 3, 10, true, "merkle: CheckInclusion: proof does not verify (index 3, size 10): 65 hashes, more than 64"},
		{"too long", append(valid, Hash{}), 3, 10, true, "merkle: CheckInclusion: proof does not verify (index 3, size 10): proof too long"},
		{"too short", valid[:3], 3, 10, true, "merkle: CheckInclusion: proof does not verify (index 3, size 10): proof too short"},
		{"wrong index", valid, 2, 10, true, "merkle: CheckInclusion: proof does not verify (index 2, size 10): computed root differs"},
		{"wrong size", valid, 3, 5, true, "merkle: CheckInclusion: proof does not verify (index 3, size 5): proof too long"},
		{"single leaf with proof", valid[:1], 0, 1, true, "merkle: CheckInclusion: proof does not verify (index 0, size 1): proof too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckInclusion(tc.proof, tc.m, tc.n, tt.leaf(3), tt.roots[10])
			if err == nil || err.Error() != tc.msg || errors.Is(err, ErrProof) != tc.isProof {
				t.Errorf("CheckInclusion = %v (ErrProof %v), want %q (ErrProof %v)", err, errors.Is(err, ErrProof), tc.msg, tc.isProof)
			}
		})
	}
	if err := CheckInclusion(nil, 0, 1, tt.leaf(0), tt.roots[1]); err != nil {
		t.Errorf("CheckInclusion(single leaf) = %v", err)
	}
}

func TestCheckConsistency_Errors(t *testing.T) {
	tt := small()
	valid, err := ProveConsistency(3, 10, tt.store)
	if err != nil {
		t.Fatal(err)
	}
	r3, r10 := tt.roots[3], tt.roots[10]
	tests := []struct {
		name             string
		proof            []Hash
		m, n             uint64
		oldRoot, newRoot Hash
		isProof          bool
		msg              string
	}{
		{"m == 0", nil, 0, 10, EmptyRoot(), r10, false, "merkle: CheckConsistency: old size 0 (RFC 9162 has no proof from the empty tree)"},
		{"m == n == 0", nil, 0, 0, EmptyRoot(), EmptyRoot(), false, "merkle: CheckConsistency: old size 0 (RFC 9162 has no proof from the empty tree)"},
		{"m > n", valid, 11, 10, r3, r10, false, "merkle: CheckConsistency: old size 11 > new size 10"},
		{"n > 2^63", valid, 3, 1<<63 + 1, r3, r10, false, "merkle: CheckConsistency: new size 9223372036854775809 > 2^63"},
		{"oversized", make([]Hash, 65), 3, 10, r3, r10, true, "merkle: CheckConsistency: proof does not verify (old size 3, new size 10): 65 hashes, more than 64"},
		{"empty", nil, 3, 10, r3, r10, true, "merkle: CheckConsistency: proof does not verify (old size 3, new size 10): proof empty"},
		{"too long", append(valid, Hash{}), 3, 10, r3, r10, true, "merkle: CheckConsistency: proof does not verify (old size 3, new size 10): proof too long"},
		{"too short", valid[:len(valid)-1], 3, 10, r3, r10, true, "merkle: CheckConsistency: proof does not verify (old size 3, new size 10): proof too short"},
		{"bad old root", valid, 3, 10, r10, r10, true, "merkle: CheckConsistency: proof does not verify (old size 3, new size 10): computed old root differs"},
		{"bad new root", valid, 3, 10, r3, r3, true, "merkle: CheckConsistency: proof does not verify (old size 3, new size 10): computed new root differs"},
		{"equal sizes, proof", valid[:1], 10, 10, r10, r10, true, "merkle: CheckConsistency: proof does not verify (old size 10, new size 10): proof not empty for equal sizes"},
		{"equal sizes, roots differ", nil, 10, 10, r3, r10, true, "merkle: CheckConsistency: proof does not verify (old size 10, new size 10): roots differ for equal sizes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckConsistency(tc.proof, tc.m, tc.n, tc.oldRoot, tc.newRoot)
			if err == nil || err.Error() != tc.msg || errors.Is(err, ErrProof) != tc.isProof {
				t.Errorf("CheckConsistency = %v (ErrProof %v), want %q (ErrProof %v)", err, errors.Is(err, ErrProof), tc.msg, tc.isProof)
			}
		})
	}
	if err := CheckConsistency(nil, 10, 10, r10, r10); err != nil {
		t.Errorf("CheckConsistency(equal) = %v", err)
	}
}

// TestCheck_NoPanicExtremes runs the checkers over extreme sizes and proof
// lengths; they must return errors, never panic, and never accept.
func TestCheck_NoPanicExtremes(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 9))
	sizes := []uint64{0, 1, 2, 3, 1<<62 - 1, 1 << 62, 1<<63 - 1, 1 << 63, 1<<63 + 1, math.MaxUint64 - 1, math.MaxUint64}
	for _, m := range sizes {
		for _, n := range sizes {
			for _, l := range []int{0, 1, 2, 31, 62, 63, 64, 65, 200} {
				p := make([]Hash, l)
				for i := range p {
					p[i][r.IntN(32)] = byte(r.Uint32())
				}
				if err := CheckInclusion(p, m, n, Hash{1}, Hash{2}); err == nil {
					t.Errorf("CheckInclusion(random %d, %d, %d) accepted", l, m, n)
				}
				if err := CheckConsistency(p, m, n, Hash{1}, Hash{2}); err == nil {
					t.Errorf("CheckConsistency(random %d, %d, %d) accepted", l, m, n)
				}
			}
		}
	}
}

// hashesFromBytes cuts b into hashes, zero-padding the last.
func hashesFromBytes(b []byte) []Hash {
	var p []Hash
	for len(b) > 0 {
		var h Hash
		b = b[copy(h[:], b):]
		p = append(p, h)
	}
	return p
}

func hashBytes(p []Hash) []byte {
	var b []byte
	for _, h := range p {
		b = append(b, h[:]...)
	}
	return b
}

func FuzzCheckInclusion(f *testing.F) {
	tt := small()
	for _, c := range []struct{ m, n uint64 }{{0, 1}, {0, 2}, {1, 2}, {2, 3}, {4, 7}, {5, 8}, {100, 257}, {999, 1000}, {4321, 9999}} {
		p, err := ProveInclusion(c.m, c.n, tt.store)
		if err != nil {
			f.Fatal(err)
		}
		leaf, root := tt.leaf(c.m), tt.roots[c.n]
		f.Add(c.m, c.n, hashBytes(p), leaf[:], root[:])
		f.Add(c.m, c.n, hashBytes(p), []byte{}, []byte{})
	}
	f.Add(uint64(0), uint64(0), []byte{}, []byte{}, []byte{})
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64), make([]byte, 64*32), []byte{1}, []byte{2})
	f.Add(uint64(1<<63-1), uint64(1<<63), make([]byte, 63*32), []byte{1}, []byte{2})
	f.Fuzz(func(t *testing.T, m, n uint64, proofBytes, leafBytes, rootBytes []byte) {
		proof := hashesFromBytes(proofBytes)
		var leaf, root Hash
		copy(leaf[:], leafBytes)
		copy(root[:], rootBytes)
		// Empty leaf or root bytes stand for the real values.
		if len(leafBytes) == 0 && m < n && n <= tt.n {
			leaf = tt.leaf(m)
		}
		if len(rootBytes) == 0 && n <= tt.n {
			root = tt.roots[n]
		}
		err := CheckInclusion(proof, m, n, leaf, root)
		if !(m < n && n <= maxSize) {
			if err == nil || errors.Is(err, ErrProof) {
				t.Fatalf("CheckInclusion(%d, %d) with bad arguments = %v", m, n, err)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrProof) {
			t.Fatalf("CheckInclusion(%d, %d) = %v, not ErrProof", m, n, err)
		}
		// Agree with tlog's recursive recomputation (tlog's maxpow2 loops
		// forever on trees of more than 2^62 leaves, so stop there).
		if n <= tlogMaxSize {
			terr := tlog.CheckRecord(toTlog(proof), int64(n), tlog.Hash(root), int64(m), tlog.Hash(leaf))
			if (err == nil) != (terr == nil) {
				t.Fatalf("CheckInclusion(%d hashes, %d, %d) = %v, tlog.CheckRecord = %v", len(proof), m, n, err, terr)
			}
		}
		// For the real leaf and root, only the real proof verifies.
		if err == nil && n <= tt.n && leaf == tt.leaf(m) && root == tt.roots[n] {
			want, perr := ProveInclusion(m, n, tt.store)
			if perr != nil || !equalHashes(proof, want) {
				t.Fatalf("CheckInclusion accepted %v for (%d, %d), real proof %v", proof, m, n, want)
			}
		}
	})
}

func FuzzCheckConsistency(f *testing.F) {
	tt := small()
	for _, c := range []struct{ m, n uint64 }{{1, 1}, {1, 2}, {2, 3}, {3, 7}, {4, 8}, {6, 8}, {100, 257}, {256, 1000}, {4321, 9999}} {
		p, err := ProveConsistency(c.m, c.n, tt.store)
		if err != nil {
			f.Fatal(err)
		}
		oldRoot, newRoot := tt.roots[c.m], tt.roots[c.n]
		f.Add(c.m, c.n, hashBytes(p), oldRoot[:], newRoot[:])
		f.Add(c.m, c.n, hashBytes(p), []byte{}, []byte{})
	}
	f.Add(uint64(0), uint64(0), []byte{}, []byte{}, []byte{})
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64), make([]byte, 64*32), []byte{1}, []byte{2})
	f.Add(uint64(1<<62+1), uint64(1<<63), make([]byte, 64*32), []byte{1}, []byte{2})
	// Found by fuzzing: sizes above tlogMaxSize hang tlog.CheckTree.
	f.Add(uint64(4611686018427387899), uint64(9223372036854775795), make([]byte, 62*32), []byte{0x99}, []byte{})
	f.Fuzz(func(t *testing.T, m, n uint64, proofBytes, oldBytes, newBytes []byte) {
		proof := hashesFromBytes(proofBytes)
		var oldRoot, newRoot Hash
		copy(oldRoot[:], oldBytes)
		copy(newRoot[:], newBytes)
		if len(oldBytes) == 0 && m <= tt.n {
			oldRoot = tt.roots[m]
		}
		if len(newBytes) == 0 && n <= tt.n {
			newRoot = tt.roots[n]
		}
		err := CheckConsistency(proof, m, n, oldRoot, newRoot)
		if !(0 < m && m <= n && n <= maxSize) {
			if err == nil || errors.Is(err, ErrProof) {
				t.Fatalf("CheckConsistency(%d, %d) with bad arguments = %v", m, n, err)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrProof) {
			t.Fatalf("CheckConsistency(%d, %d) = %v, not ErrProof", m, n, err)
		}
		if n <= tlogMaxSize {
			terr := tlog.CheckTree(toTlog(proof), int64(n), tlog.Hash(newRoot), int64(m), tlog.Hash(oldRoot))
			if (err == nil) != (terr == nil) {
				t.Fatalf("CheckConsistency(%d hashes, %d, %d) = %v, tlog.CheckTree = %v", len(proof), m, n, err, terr)
			}
		}
		if err == nil && n <= tt.n && oldRoot == tt.roots[m] && newRoot == tt.roots[n] {
			want, perr := ProveConsistency(m, n, tt.store)
			if perr != nil || !equalHashes(proof, want) {
				t.Fatalf("CheckConsistency accepted %v for (%d, %d), real proof %v", proof, m, n, want)
			}
		}
	})
}

func BenchmarkProveInclusion1M(b *testing.B) {
	tt := big()
	r := rand.New(rand.NewPCG(1, 2))
	c := &counter{r: tt.store}
	ops := 0
	for b.Loop() {
		if _, err := ProveInclusion(r.Uint64N(bigN), bigN, c); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(c.reads)/float64(ops), "reads/op")
}

func BenchmarkProveConsistency1M(b *testing.B) {
	tt := big()
	r := rand.New(rand.NewPCG(1, 3))
	for b.Loop() {
		if _, err := ProveConsistency(1+r.Uint64N(bigN), bigN, tt.store); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckInclusion1M(b *testing.B) {
	tt := big()
	const m = 123456
	p, err := ProveInclusion(m, bigN, tt.store)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := CheckInclusion(p, m, bigN, tt.leaf(m), tt.roots[bigN]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFrontierAppend(b *testing.B) {
	var f Frontier
	lh := LeafHash([]byte("leaf"))
	for b.Loop() {
		f.Append(lh)
	}
}
