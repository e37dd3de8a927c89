package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/waybill-eu/waybill/agent/merkle"
)

// TopLevel is the lowest Merkle level whose nodes every segment carries a
// copy of (2^16 leaves per node).
const TopLevel = 16

var (
	bMeta        = []byte("meta")
	bLeaves      = []byte("leaves")
	bTree        = []byte("tree")
	bTop         = []byte("top")
	bCheckpoints = []byte("checkpoints")

	kFirst  = []byte("first")
	kSize   = []byte("size")
	kOrigin = []byte("origin")
	// kPruned marks a segment whose leaves retention removed; its value is
	// the Unix time of the pruning, in seconds.
	kPruned = []byte("pruned")
)

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func topKey(level uint8, index uint64) []byte {
	var b [9]byte
	b[0] = level
	binary.BigEndian.PutUint64(b[1:], index)
	return b[:]
}

type nodeKey struct {
	level uint8
	index uint64
}

// segMeta is what a segment's meta bucket says about it.
type segMeta struct {
	origin string
	first  uint64
	size   uint64 // log size after this segment's last commit
	pruned bool   // the leaves were removed (see Prune); hashes remain
}

func readSegMeta(tx *bolt.Tx) (segMeta, error) {
	var m segMeta
	b := tx.Bucket(bMeta)
	if b == nil || tx.Bucket(bLeaves) == nil || tx.Bucket(bTree) == nil || tx.Bucket(bTop) == nil || tx.Bucket(bCheckpoints) == nil {
		return m, errors.New("segment lacks its buckets")
	}
	f, s, o := b.Get(kFirst), b.Get(kSize), b.Get(kOrigin)
	if len(f) != 8 || len(s) != 8 || len(o) == 0 {
		return m, errors.New("segment meta is incomplete")
	}
	m.first, m.size, m.origin = binary.BigEndian.Uint64(f), binary.BigEndian.Uint64(s), string(o)
	m.pruned = b.Get(kPruned) != nil
	if m.size < m.first {
		return m, fmt.Errorf("segment meta says size %d below its first event %d", m.size, m.first)
	}
	return m, nil
}

func initSegment(tx *bolt.Tx, origin string, first uint64, top map[nodeKey]merkle.Hash) error {
	for _, name := range [][]byte{bMeta, bLeaves, bTree, bTop, bCheckpoints} {
		b, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		b.FillPercent = 1.0 // keys only ever grow at the end
	}
	m := tx.Bucket(bMeta)
	if err := m.Put(kFirst, u64(first)); err != nil {
		return err
	}
	if err := m.Put(kSize, u64(first)); err != nil {
		return err
	}
	if err := m.Put(kOrigin, []byte(origin)); err != nil {
		return err
	}
	t := tx.Bucket(bTop)
	for k, h := range top {
		if err := t.Put(topKey(k.level, k.index), h[:]); err != nil {
			return err
		}
	}
	return nil
}

// isDamage reports whether an error from bolt.Open means the file itself is
// bad, as opposed to the environment (permissions, lock, missing file).
func isDamage(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrInvalidMapping) ||
		errors.Is(err, errSegmentCheck) || errors.Is(err, ErrDamaged)
}

// errSegmentCheck is wrapped by the checks Open runs on a segment's content.
var errSegmentCheck = errors.New("segment fails its checks")
