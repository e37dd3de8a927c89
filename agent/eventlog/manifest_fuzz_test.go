package eventlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	fuzzBaseOnce   sync.Once
	fuzzBase       string
	fuzzBaseLeaves [][]byte
	fuzzBaseErr    error
)

// fuzzManifestBase builds, once per process, a closed log of a few
// segments with checkpoints, whose manifest the fuzz target replaces.
func fuzzManifestBase(t testing.TB) (string, [][]byte) {
	fuzzBaseOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fuzz-manifest-")
		if err != nil {
			fuzzBaseErr = err
			return
		}
		fuzzBase = dir
		l, err := Open(context.Background(), dir, &Options{Keys: testKey(t), Create: testIdentity(testKey(t)), SegmentBytes: 64 << 10})
		if err != nil {
			fuzzBaseErr = err
			return
		}
		defer l.Close()
		// Batches of 100, each followed by a checkpoint: few fsyncs, so
		// that each fuzzing process starts quickly.
		for i := 0; i < 400; i += 100 {
			var ps []*Pending
			for j := i; j < i+100; j++ {
				p, err := l.Enqueue(context.Background(), testEvent(j))
				if err != nil {
					fuzzBaseErr = err
					return
				}
				ps = append(ps, p)
			}
			for _, p := range ps {
				s, err := p.Wait()
				if err != nil {
					fuzzBaseErr = err
					return
				}
				leaf, _ := s.Leaf()
				fuzzBaseLeaves = append(fuzzBaseLeaves, leaf)
			}
			if _, _, err := l.Checkpoint(context.Background()); err != nil {
				fuzzBaseErr = err
				return
			}
		}
	})
	if fuzzBaseErr != nil {
		t.Fatal(fuzzBaseErr)
	}
	return fuzzBase, fuzzBaseLeaves
}

// FuzzOpenManifest opens a log directory whose manifest.json is fuzzed
// bytes, read-only and then for writing, and reads it. Nothing may panic
// or hang; a writable open either fails with an error or leaves every
// event of the intact segments in the live log (epoch 0) or, moved aside
// byte for byte, under damaged/.
func FuzzOpenManifest(f *testing.F) {
	base, _ := fuzzManifestBase(f)
	f.Cleanup(func() { os.RemoveAll(base) })
	good, err := os.ReadFile(filepath.Join(base, ManifestFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("{}"))
	f.Add([]byte("null"))
	f.Add(good[:len(good)/2])
	f.Add(bytes.Replace(good, []byte(`"epoch": 0,`), []byte(`"epoch": 5,`), 1))
	f.Add(bytes.Replace(good, []byte("seg-000001"), []byte("seg-000009"), 1))
	f.Add(bytes.Replace(good, []byte(`"chain_id": 1337`), []byte(`"chain_id": 1`), 1))
	f.Add(bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1))
	f.Add(append(bytes.Clone(good), good...))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		base, leaves := fuzzManifestBase(t)
		dir := copyDir(t, base)
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		before := rcHashes(t, dir)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if l, err := Open(context.Background(), dir, nil); err == nil {
				if n := l.Size(); n > 0 {
					l.Leaf(n - 1)
				}
				l.Close()
			}
			l, err := Open(context.Background(), dir, &Options{Keys: testKey(t), Create: testIdentity(testKey(t))})
			if err != nil {
				return
			}
			defer l.Close()
			if l.Epoch() == 0 {
				if l.Size() != uint64(len(leaves)) {
					t.Errorf("epoch 0 holds %d events, want %d", l.Size(), len(leaves))
				}
				for _, i := range []uint64{0, uint64(len(leaves)) - 1} {
					if b, err := l.Leaf(i); err != nil || !bytes.Equal(b, leaves[i]) {
						t.Errorf("event %d: %v", i, err)
					}
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("Open or a read did not return within a minute")
		}
		rcKept(t, dir, before, ManifestFile)
	})
}
