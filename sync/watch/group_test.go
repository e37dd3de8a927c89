package watch

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A group of writes committed together: each write's result is its own.
// One failing write rolls the group's transaction back; the others are
// then made alone, and stored once though their functions ran twice.
func TestBolt_GroupCommit(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	errBad := errors.New("bad write")
	runs := make([]int, 4)
	var group []*write
	for i := range runs {
		group = append(group, &write{done: make(chan error, 1), fn: func(tx *bolt.Tx) error {
			runs[i]++
			if i == 2 {
				return errBad
			}
			rb := tx.Bucket(bucketRejected)
			n, err := rb.NextSequence()
			if err != nil {
				return err
			}
			return rb.Put(seqKey(n), fmt.Appendf(nil, "write %d", i))
		}})
	}
	b.commit(group)
	for i, w := range group {
		if err := <-w.done; (i == 2) != errors.Is(err, errBad) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if want := []int{2, 2, 2, 1}; fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Errorf("the writes ran %v times, want %v (the group until the failing write, then each alone)", runs, want)
	}
	var got []string
	err = b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRejected).ForEach(func(_, v []byte) error { got = append(got, string(v)); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[write 0 write 1 write 3]" {
		t.Errorf("stored %q, want writes 0, 1 and 3 once each", got)
	}
}

// Concurrent writers: every write is committed once and answered once,
// whoever commits its group.
func TestBolt_GroupCommitConcurrent(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const writers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- b.update(func(tx *bolt.Tx) error {
					return tx.Bucket(bucketEpochs).Put(fmt.Appendf(nil, "%02d/%02d", w, i), []byte{})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	err = b.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketEpochs).Stats().KeyN; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Fatalf("stored %d writes, want %d", n, writers*each)
	}
}
