package eventlog

import (
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

func TestCheckpoint_RefusesCorruptedSignedLeaf(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	for i := 0; i < 20; i++ {
		if _, err := l.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 25; i++ {
		l.Append(context.Background(), testEvent(i))
	}
	// Corrupt leaf 7 under the signed size, behind the log's back.
	l.mu.Lock()
	db := l.active
	l.mu.Unlock()
	err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bLeaves)
		v := append([]byte(nil), b.Get(u64(7))...)
		v[len(v)/2] ^= 1
		return b.Put(u64(7), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Checkpoint(context.Background())
	if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "event 7") {
		t.Fatalf("Checkpoint over a corrupted signed leaf = %v; want ErrInconsistent naming event 7", err)
	}
	if _, _, err := l.Checkpoint(context.Background()); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("second Checkpoint = %v; want the alarm to stay raised", err)
	}
	l.Close()
}
