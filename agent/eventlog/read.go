package eventlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/merkle"
)

// maxSealedOpen is how many sealed segments stay mapped between reads,
// besides the active one.
const maxSealedOpen = 2

// reader reads leaves and stored nodes across segments within one snapshot
// of the log. It implements merkle.NodeReader. Call release when done.
type reader struct {
	l     *Log
	size  uint64 // committed size at the snapshot
	epoch uint32
	segs  []SegmentInfo
	txs   map[int]*bolt.Tx
	held  []int // sealed segments whose refs this reader holds
}

// readerAt returns a reader over the first size events. The caller holds
// l.mu or is Open.
func (l *Log) readerAt(size uint64) *reader {
	return &reader{l: l, size: size, epoch: l.epoch, segs: l.man.Segments, txs: map[int]*bolt.Tx{}}
}

// newReader snapshots the log under l.mu.
func (l *Log) newReader() (*reader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	return l.readerAt(l.frontier.Size()), nil
}

// segFor returns the index of the segment holding leaf seq.
func (r *reader) segFor(seq uint64) int {
	i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].First > seq })
	return i - 1
}

func (r *reader) tx(i int) (*bolt.Tx, error) {
	if tx, ok := r.txs[i]; ok {
		return tx, nil
	}
	// Keep at most maxSealedOpen segments open per reader. A scan of a long
	// log (Range, Checkpoint's checks) would otherwise map every segment it
	// passes at once, which a 32-bit process cannot do beyond 2 GiB: the
	// limit segments exist to avoid. Leaves and hashes are copied out of
	// the transactions, so dropping one is safe; it is reopened if needed.
	for len(r.held) >= maxSealedOpen {
		r.drop()
	}
	db, err := r.l.acquire(i)
	if err != nil {
		return nil, err
	}
	r.held = append(r.held, i)
	tx, err := db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("eventlog: read %s: %w", r.segs[i].File, err)
	}
	r.txs[i] = tx
	return tx, nil
}

// acquire returns the open DB of segment i, opening a sealed one read-only
// if needed, and counts a reference to it. The file is the one the current
// manifest names: Prune may have replaced the segment since the reader's
// snapshot (same events and hashes, no leaves).
func (l *Log) acquire(i int) (*bolt.DB, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if s, ok := l.sealed[i]; ok {
		s.refs++
		s.used = time.Now()
		return s.db, nil
	}
	db, err := l.boltOpen(filepath.Join(l.dir, l.man.Segments[i].File), true)
	if err != nil {
		return nil, err
	}
	l.sealed[i] = &sealedSeg{db: db, refs: 1, used: time.Now()}
	return db, nil
}

// drop ends the reader's use of the segment it acquired first.
func (r *reader) drop() {
	i := r.held[0]
	r.held = r.held[1:]
	if tx, ok := r.txs[i]; ok {
		tx.Rollback()
		delete(r.txs, i)
	}
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sealed[i]; ok {
		s.refs--
	}
	l.evictLocked(-1)
}

func (r *reader) release() {
	for _, tx := range r.txs {
		tx.Rollback()
	}
	r.txs = nil
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, i := range r.held {
		if s, ok := l.sealed[i]; ok {
			s.refs--
		}
	}
	r.held = nil
	l.evictLocked(-1)
}

// evictLocked closes the least recently used idle sealed segments beyond
// maxSealedOpen, never the active one nor segment keep. The caller holds l.mu.
func (l *Log) evictLocked(keep int) {
	for len(l.sealed) > maxSealedOpen+1 {
		victim, oldest := -1, time.Time{}
		for i, s := range l.sealed {
			if i != l.activeNo && i != keep && s.refs == 0 && (victim < 0 || s.used.Before(oldest)) {
				victim, oldest = i, s.used
			}
		}
		if victim < 0 {
			break
		}
		l.sealed[victim].db.Close()
		delete(l.sealed, victim)
	}
}

// view runs fn on the read transaction of segment i, for event seq (when
// hasSeq). Every
// read of a segment goes through it: a panic or fault inside bbolt (a
// damaged page) becomes a *DamageError naming the file and the event,
// recorded by the log. The transaction stays with the reader, which rolls
// it back in release.
func (r *reader) view(i int, seq uint64, hasSeq bool, fn func(tx *bolt.Tx) error) error {
	err := guard(r.segs[i].File, seq, hasSeq, func() error {
		tx, err := r.tx(i)
		if err != nil {
			return err
		}
		return fn(tx)
	})
	return r.l.noteDamage(err)
}

// Node implements merkle.NodeReader.
func (r *reader) Node(level uint8, index uint64) (merkle.Hash, error) {
	if level >= TopLevel {
		r.l.mu.Lock()
		h, ok := r.l.top[nodeKey{level, index}]
		r.l.mu.Unlock()
		if !ok {
			return h, fmt.Errorf("eventlog: node (%d, %d) is not stored", level, index)
		}
		return h, nil
	}
	last := (index+1)<<level - 1
	if last >= r.size {
		return merkle.Hash{}, fmt.Errorf("eventlog: node (%d, %d) lies beyond size %d", level, index, r.size)
	}
	var h merkle.Hash
	i := r.segFor(last)
	err := r.view(i, last, true, func(tx *bolt.Tx) error {
		hs := tx.Bucket(bTree).Get(u64(last))
		if len(hs) != 32*merkle.StoredCount(last) {
			return &DamageError{File: r.segs[i].File, Seq: last, HasSeq: true, Err: errors.New("its stored hashes are missing or malformed")}
		}
		h = merkle.Hash(hs[32*int(level) : 32*int(level)+32])
		return nil
	})
	return h, err
}

// leaf returns a copy of the leaf bytes of event seq, checked against the
// event's stored leaf hash: what the log hands out is what it stored.
// Bytes that do not match are damage of the event (errLeafBytes) unless
// they are the genuine signed event seq, whose hash is then what the log
// should hold: the stored hashes are damaged, which is damage of the tree.
func (r *reader) leaf(seq uint64) ([]byte, error) {
	if seq >= r.size {
		return nil, fmt.Errorf("eventlog: event %d does not exist (log size %d)", seq, r.size)
	}
	var leaf []byte
	i := r.segFor(seq)
	err := r.view(i, seq, true, func(tx *bolt.Tx) error {
		damaged := func(format string, args ...any) error {
			return &DamageError{File: r.segs[i].File, Seq: seq, HasSeq: true, Err: fmt.Errorf(format, args...)}
		}
		v := tx.Bucket(bLeaves).Get(u64(seq))
		if v == nil && tx.Bucket(bMeta).Get(kPruned) != nil {
			return &PrunedError{Seq: seq, Retained: r.l.Retained()}
		}
		if v == nil {
			return damaged("the event is missing from the leaves bucket")
		}
		hs := tx.Bucket(bTree).Get(u64(seq))
		if len(hs) != 32*merkle.StoredCount(seq) {
			return damaged("its stored hashes are missing or malformed")
		}
		if merkle.LeafHash(v) != merkle.Hash(hs[:32]) {
			if r.l.genuine(r.epoch, seq, v) {
				return damaged("its stored leaf hash is not the hash of its bytes, which are the signed event: the stored hashes are damaged")
			}
			return &DamageError{File: r.segs[i].File, Seq: seq, HasSeq: true, Err: errLeafBytes}
		}
		leaf = append([]byte(nil), v...)
		return nil
	})
	return leaf, err
}

// genuine reports whether leaf is event seq of this log's epoch, signed by
// its device.
func (l *Log) genuine(epoch uint32, seq uint64, leaf []byte) bool {
	return l.id.VerifyLeaf(epoch, seq, leaf) == nil
}

// storedHashes returns a copy of the hashes stored for leaf seq.
func (r *reader) storedHashes(seq uint64) ([]merkle.Hash, error) {
	var out []merkle.Hash
	i := r.segFor(seq)
	err := r.view(i, seq, true, func(tx *bolt.Tx) error {
		hs := tx.Bucket(bTree).Get(u64(seq))
		if len(hs) != 32*merkle.StoredCount(seq) {
			return &DamageError{File: r.segs[i].File, Seq: seq, HasSeq: true, Err: errors.New("its stored hashes are missing or malformed")}
		}
		out = make([]merkle.Hash, len(hs)/32)
		for k := range out {
			out[k] = merkle.Hash(hs[32*k:])
		}
		return nil
	})
	return out, err
}

// Leaf returns the leaf bytes (the canonical signed event) of event seq.
func (l *Log) Leaf(seq uint64) ([]byte, error) {
	r, err := l.newReader()
	if err != nil {
		return nil, err
	}
	defer r.release()
	return r.leaf(seq)
}

// Range calls fn for up to limit events from seq from, in order, stopping
// at the first error fn returns. limit 0 means to the end.
func (l *Log) Range(from, limit uint64, fn func(seq uint64, leaf []byte) error) error {
	r, err := l.newReader()
	if err != nil {
		return err
	}
	defer r.release()
	end := r.size
	if limit > 0 && from+limit < end {
		end = from + limit
	}
	for seq := from; seq < end; seq++ {
		leaf, err := r.leaf(seq)
		if err != nil {
			return err
		}
		if err := fn(seq, leaf); err != nil {
			return err
		}
	}
	return nil
}

// TreeHash returns the Merkle root of the first size events.
func (l *Log) TreeHash(size uint64) (merkle.Hash, error) {
	r, err := l.newReader()
	if err != nil {
		return merkle.Hash{}, err
	}
	defer r.release()
	if size > r.size {
		return merkle.Hash{}, fmt.Errorf("eventlog: size %d exceeds the log's %d events", size, r.size)
	}
	return merkle.TreeHash(size, r)
}

// ProveInclusion returns the leaf of event seq and its RFC 9162 inclusion
// proof in the tree of the first size events.
func (l *Log) ProveInclusion(seq, size uint64) (leaf []byte, proof []merkle.Hash, err error) {
	r, err := l.newReader()
	if err != nil {
		return nil, nil, err
	}
	defer r.release()
	if size > r.size {
		return nil, nil, fmt.Errorf("eventlog: size %d exceeds the log's %d events", size, r.size)
	}
	if seq >= size {
		return nil, nil, fmt.Errorf("eventlog: event %d is not in a tree of size %d", seq, size)
	}
	if leaf, err = r.leaf(seq); err != nil {
		return nil, nil, err
	}
	if proof, err = merkle.ProveInclusion(seq, size, r); err != nil {
		return nil, nil, err
	}
	if err := r.checkProof(seq, size, merkle.LeafHash(leaf), proof); err != nil {
		return nil, nil, err
	}
	return leaf, proof, nil
}

// checkProof checks an inclusion proof made from stored nodes against the
// root the log holds in memory, when size is the snapshot's size: a
// damaged stored node is then reported, not handed out.
func (r *reader) checkProof(seq, size uint64, lh merkle.Hash, proof []merkle.Hash) error {
	if size != r.size {
		return nil
	}
	r.l.mu.Lock()
	n, root := r.l.frontier.Size(), r.l.frontier.Root()
	r.l.mu.Unlock()
	if n != size {
		return nil
	}
	if err := merkle.CheckInclusion(proof, seq, size, lh, root); err != nil {
		return r.l.noteDamage(&DamageError{File: r.segs[r.segFor(seq)].File, Seq: seq, HasSeq: true,
			Err: fmt.Errorf("the stored nodes of its proof do not give the log's root: %v", err)})
	}
	return nil
}

// InclusionProof returns the stored leaf hash of event seq and its RFC 9162
// inclusion proof in the tree of the first size events. Unlike
// ProveInclusion it needs no leaf, so it works for pruned events: whoever
// holds the event checks that its leaf hashes to the returned hash.
func (l *Log) InclusionProof(seq, size uint64) (merkle.Hash, []merkle.Hash, error) {
	r, err := l.newReader()
	if err != nil {
		return merkle.Hash{}, nil, err
	}
	defer r.release()
	if size > r.size {
		return merkle.Hash{}, nil, fmt.Errorf("eventlog: size %d exceeds the log's %d events", size, r.size)
	}
	if seq >= size {
		return merkle.Hash{}, nil, fmt.Errorf("eventlog: event %d is not in a tree of size %d", seq, size)
	}
	h, err := r.Node(0, seq)
	if err != nil {
		return merkle.Hash{}, nil, err
	}
	proof, err := merkle.ProveInclusion(seq, size, r)
	if err != nil {
		return merkle.Hash{}, nil, err
	}
	if err := r.checkProof(seq, size, h, proof); err != nil {
		return merkle.Hash{}, nil, err
	}
	return h, proof, nil
}

// ProveConsistency returns the RFC 9162 consistency proof between sizes
// oldSize and newSize and both roots.
func (l *Log) ProveConsistency(oldSize, newSize uint64) (oldRoot, newRoot merkle.Hash, proof []merkle.Hash, err error) {
	r, err := l.newReader()
	if err != nil {
		return
	}
	defer r.release()
	if newSize > r.size {
		err = fmt.Errorf("eventlog: size %d exceeds the log's %d events", newSize, r.size)
		return
	}
	if oldSize == 0 || oldSize > newSize {
		err = fmt.Errorf("eventlog: consistency needs 0 < old size <= new size, got %d and %d", oldSize, newSize)
		return
	}
	if oldRoot, err = merkle.TreeHash(oldSize, r); err != nil {
		return
	}
	if newRoot, err = merkle.TreeHash(newSize, r); err != nil {
		return
	}
	proof, err = merkle.ProveConsistency(oldSize, newSize, r)
	return
}
