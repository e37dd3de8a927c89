package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

const testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func testKey(t testing.TB) *devkey.Key {
	k, err := devkey.FromHex(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testIdentity(k *devkey.Key) *Identity {
	return &Identity{Device: k.Address(), Fleet: "test-fleet", ChainID: 1337}
}

func openTest(t testing.TB, dir string, o *Options) *Log {
	t.Helper()
	k := testKey(t)
	if o == nil {
		o = &Options{}
	}
	if o.Keys == nil {
		o.Keys = k
	}
	if o.Create == nil {
		o.Create = testIdentity(k)
	}
	l, err := Open(context.Background(), dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func testEvent(i int) event.Event {
	return event.Event{
		Time:    time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*1000,
		Source:  event.SourceGNSS,
		Kind:    "delivery",
		Payload: []byte(fmt.Sprintf(`{"lat":52.52,"lon":13.405,"parcel":"P%06d"}`, i)),
	}
}

func TestLog_AppendConcurrentProveReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	const producers, each = 8, 50
	var wg sync.WaitGroup
	seen := make(chan uint64, producers*each)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s, err := l.Append(context.Background(), testEvent(p*each+i))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				seen <- s.Seq
			}
		}(p)
	}
	wg.Wait()
	close(seen)
	got := map[uint64]bool{}
	for s := range seen {
		if got[s] {
			t.Fatalf("sequence number %d handed out twice", s)
		}
		got[s] = true
	}
	n := uint64(producers * each)
	if l.Size() != n || len(got) != int(n) {
		t.Fatalf("Size = %d, distinct seqs %d; want %d", l.Size(), len(got), n)
	}
	note, cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if cp.Size != n {
		t.Fatalf("checkpoint size %d, want %d", cp.Size, n)
	}
	for _, seq := range []uint64{0, 1, 77, n - 1} {
		leaf, proof, err := l.ProveInclusion(seq, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := merkle.CheckInclusion(proof, seq, n, merkle.LeafHash(leaf), cp.Root); err != nil {
			t.Fatalf("inclusion of %d: %v", seq, err)
		}
		s, err := event.Parse(leaf)
		if err != nil || s.Seq != seq {
			t.Fatalf("Parse(leaf %d) = %v, %v", seq, s, err)
		}
		if err := signer.VerifyEvent(l.Identity().Domain(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, nil)
	defer l.Close()
	if size, root := l.Root(); size != n || root != cp.Root {
		t.Fatalf("after reopen: size %d root %s; want %d %s", size, root, n, merkle.Hash(cp.Root))
	}
	latest, _, err := l.Latest()
	if err != nil || string(latest) != string(note) {
		t.Fatalf("Latest after reopen = %q, %v", latest, err)
	}
	at, err := l.CheckpointAt(n)
	if err != nil || string(at) != string(note) {
		t.Fatalf("CheckpointAt(%d) = %q, %v", n, at, err)
	}
	k := testKey(t)
	ed, _ := checkpoint.NewEd25519Verifier(l.Identity().KeyName(), k.Ed25519Public())
	if _, _, err := checkpoint.OpenCheckpoint(note, ed); err != nil {
		t.Fatalf("Ed25519 verifier rejects the checkpoint: %v", err)
	}
}

func TestLog_SegmentsRoll(t *testing.T) {
	dir := t.TempDir()
	o := &Options{SegmentBytes: 64 << 10}
	l := openTest(t, dir, o)
	const n = 3000
	var roots []merkle.Hash
	for i := 0; i < n; i++ {
		if _, err := l.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
		_, r := l.Root()
		roots = append(roots, r)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "epoch-0", "seg-*.db"))
	if len(segs) < 3 {
		t.Fatalf("%d segment files after %d events, want several", len(segs), n)
	}
	l.Close()
	l = openTest(t, dir, &Options{SegmentBytes: 64 << 10})
	defer l.Close()
	for _, m := range []uint64{1, 2, 100, 1023, 1024, 1500, n - 1, n} {
		got, err := l.TreeHash(m)
		if err != nil || got != roots[m-1] {
			t.Fatalf("TreeHash(%d) = %s, %v; want %s", m, got, err, roots[m-1])
		}
		for _, seq := range []uint64{0, m / 2, m - 1} {
			leaf, proof, err := l.ProveInclusion(seq, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := merkle.CheckInclusion(proof, seq, m, merkle.LeafHash(leaf), roots[m-1]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", seq, m, err)
			}
		}
	}
	o1, n1, proof, err := l.ProveConsistency(10, n)
	if err != nil || merkle.CheckConsistency(proof, 10, n, o1, n1) != nil {
		t.Fatalf("consistency: %v", err)
	}
	if _, _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_SecondWriterNamesHolder(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	defer l.Close()
	// Refused, not queued behind the lock: an Open that waits for it has
	// not returned at the deadline.
	keys, res := testKey(t), make(chan error, 1)
	go func() {
		l2, err := Open(context.Background(), dir, &Options{Keys: keys})
		if err == nil {
			l2.Close()
		}
		res <- err
	}()
	var err error
	select {
	case err = <-res:
	case <-time.After(time.Minute):
		t.Fatal("second Open has not returned after a minute: it waits for the lock instead of refusing")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("error %q does not name the holder's pid", err)
	}
}

// TestCheckpoint_SignsOverDamagedLeaf changes the bytes of event 7, under
// the signed size, behind the log's back. Its stored hash still agrees with
// the tree, so Checkpoint signs the next checkpoint, consistent with the
// previous one; event 7 is reported damaged and never served; the other
// events read as they were written; its genuine bytes are still proven.
func TestCheckpoint_SignsOverDamagedLeaf(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	defer l.Close()
	var leaves [][]byte
	add := func(from, to int) {
		for i := from; i < to; i++ {
			s, err := l.Append(context.Background(), testEvent(i))
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := s.Leaf()
			leaves = append(leaves, leaf)
		}
	}
	add(0, 20)
	_, c1, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	add(20, 25)
	damageInActive(t, l, bLeaves, 7, func(v []byte) { v[len(v)/2] ^= 1 })
	_, c2, err := l.Checkpoint(context.Background())
	if err != nil || c2.Size != 25 {
		t.Fatalf("Checkpoint over a damaged leaf = size %d, %v; want size 25 signed", c2.Size, err)
	}
	if err := l.Alarm(); err != nil {
		t.Fatalf("Alarm() = %v", err)
	}
	o, n, proof, err := l.ProveConsistency(c1.Size, c2.Size)
	if err != nil || o != c1.Root || n != c2.Root {
		t.Fatalf("ProveConsistency(20, 25) = %s, %s, %v", o, n, err)
	}
	if err := merkle.CheckConsistency(proof, c1.Size, c2.Size, c1.Root, c2.Root); err != nil {
		t.Fatalf("the checkpoint signed over the damaged leaf is not consistent with the previous one: %v", err)
	}
	if cnt, ds := l.Damaged(); cnt != 1 || len(ds) != 1 || !ds[0].HasSeq || ds[0].Seq != 7 {
		t.Fatalf("Damaged() = %d, %v; want event 7", cnt, ds)
	}
	_, err = l.Leaf(7)
	var d *DamageError
	if !errors.As(err, &d) || d.Seq != 7 || !strings.Contains(err.Error(), "seg-000000.db") || !strings.Contains(err.Error(), "--leaf") {
		t.Fatalf("Leaf(7) = %v; want event 7 of seg-000000.db damaged, naming log prove --leaf", err)
	}
	for seq := range uint64(25) {
		if seq == 7 {
			continue
		}
		if leaf, err := l.Leaf(seq); err != nil || !bytes.Equal(leaf, leaves[seq]) {
			t.Fatalf("Leaf(%d) = %.40q, %v", seq, leaf, err)
		}
	}
	h, ip, err := l.InclusionProof(7, 25)
	if err != nil || h != merkle.LeafHash(leaves[7]) {
		t.Fatalf("InclusionProof(7) = %s, %v; want the genuine event's hash", h, err)
	}
	if err := merkle.CheckInclusion(ip, 7, 25, merkle.LeafHash(leaves[7]), c2.Root); err != nil {
		t.Fatalf("the genuine event 7 is not proven in the new checkpoint: %v", err)
	}
	if cnt, _ := l.Damaged(); cnt != 1 {
		t.Fatalf("Damaged() = %d after more reads of event 7; want it counted once", cnt)
	}
}

// TestCheckpoint_AlarmOnDamagedStoredHash changes a stored hash under the
// signed size, the event's bytes intact: that is history contradicting
// what was signed, and Checkpoint raises the alarm and keeps it raised.
func TestCheckpoint_AlarmOnDamagedStoredHash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		seq   uint64
		level int // the stored hash of that level of event seq is changed
	}{
		{"LeafHash", 7, 0},
		{"Node", 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openTest(t, t.TempDir(), nil)
			defer l.Close()
			appendN(t, l, 0, 20)
			if _, _, err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 20, 5)
			damageInActive(t, l, bTree, tc.seq, func(v []byte) { v[32*tc.level+3] ^= 1 })
			_, _, err := l.Checkpoint(context.Background())
			if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), fmt.Sprintf("event %d", tc.seq)) && !strings.Contains(err.Error(), "stored node") {
				t.Fatalf("Checkpoint over a changed stored hash = %v; want ErrInconsistent naming the event or node", err)
			}
			t.Logf("Checkpoint: %v", err)
			if _, _, err := l.Checkpoint(context.Background()); !errors.Is(err, ErrInconsistent) {
				t.Fatalf("second Checkpoint = %v; want the alarm to stay raised", err)
			}
		})
	}
}

// damageInActive changes the value of key seq in bucket of the open log's
// active segment, behind the log's back.
func damageInActive(t *testing.T, l *Log, bucket []byte, seq uint64, change func([]byte)) {
	t.Helper()
	l.mu.Lock()
	db := l.active
	l.mu.Unlock()
	err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		v := bytes.Clone(b.Get(u64(seq)))
		change(v)
		return b.Put(u64(seq), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDamaged_CountsEachEventOnce damages the bytes of more events than
// Damaged lists. Each is counted once however often it is read; the list
// stays bounded; checkpoints go on; a reopened log reports them all.
func TestDamaged_CountsEachEventOnce(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	appendN(t, l, 0, 100)
	const damaged = maxDamageKept + 6
	for seq := range uint64(damaged) {
		damageInActive(t, l, bLeaves, seq, func(v []byte) { v[len(v)/2] ^= 1 })
	}
	for range 2 {
		for seq := range uint64(100) {
			if _, err := l.Leaf(seq); (err != nil) != (seq < damaged) || err != nil && !errors.Is(err, ErrDamaged) {
				t.Fatalf("Leaf(%d) = %v", seq, err)
			}
		}
	}
	if n, ds := l.Damaged(); n != damaged || len(ds) != maxDamageKept {
		t.Fatalf("Damaged() = %d, %d listed; want %d, %d listed", n, len(ds), damaged, maxDamageKept)
	}
	if _, c, err := l.Checkpoint(context.Background()); err != nil || c.Size != 100 {
		t.Fatalf("Checkpoint = size %d, %v", c.Size, err)
	}
	if n, _ := l.Damaged(); n != damaged {
		t.Fatalf("Damaged() = %d after Checkpoint met them again; want %d", n, damaged)
	}
	l.Close()
	l = openTest(t, dir, nil)
	defer l.Close()
	if n, ds := l.Damaged(); n != damaged || len(ds) != maxDamageKept || l.Damage() != "" {
		t.Fatalf("after reopen: Damaged() = %d, %d listed, Damage() %q; want %d, %d listed, nothing moved aside", n, len(ds), l.Damage(), damaged, maxDamageKept)
	}
}
