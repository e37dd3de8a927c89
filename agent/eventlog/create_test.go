package eventlog

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A start killed while it created the log leaves some of the log's first
// files and no manifest. Nothing was acknowledged then, so the next start
// finishes the creation: it is not damage, and the log is epoch 0.
func TestOpen_FinishesAnInterruptedCreation(t *testing.T) {
	seg := filepath.Join(EpochDir(0), "seg-000000.db")
	tests := []struct {
		name  string
		leave func(t *testing.T, dir string)
	}{
		{"the epoch directory only", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, EpochDir(0)))
		}},
		{"an empty segment file", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, EpochDir(0)))
			if err := os.WriteFile(filepath.Join(dir, seg), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a segment bbolt initialised", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, EpochDir(0)))
			db, err := bolt.Open(filepath.Join(dir, seg), 0o644, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
		{"a segment with its identity and a manifest being written", func(t *testing.T, dir string) {
			l := openTest(t, dir, nil)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, ManifestFile), filepath.Join(dir, "."+ManifestFile+".tmp-123")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a segment with its identity, before the manifest", func(t *testing.T, dir string) {
			l := openTest(t, dir, nil)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, ManifestFile)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.leave(t, dir)
			l := openTest(t, dir, nil)
			defer l.Close()
			if d := l.Damage(); d != "" || l.Epoch() != 0 {
				t.Fatalf("epoch %d, damage %q; want epoch 0 and no damage", l.Epoch(), d)
			}
			if _, err := l.Append(context.Background(), testEvent(0)); err != nil {
				t.Fatalf("Append: %v", err)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if n := e.Name(); n != ManifestFile && n != EpochDir(0) && n != "LOCK" {
					t.Errorf("%s left in the log directory", n)
				}
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
