package eventlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestLatest_DamagedCheckpointFile: the checkpoint file is a copy of a note
// the segments also hold. Deleted, emptied, truncated or replaced by
// garbage, it is replaced by the stored copy: readers carry on, a writer
// restores the file and keeps the damaged bytes under damaged/, and the
// next checkpoint extends the same history.
func TestLatest_DamagedCheckpointFile(t *testing.T) {
	damages := []struct {
		name   string
		damage func(path string, note []byte) error
	}{
		{"deleted", func(p string, _ []byte) error { return os.Remove(p) }},
		{"empty", func(p string, _ []byte) error { return os.WriteFile(p, nil, 0o644) }},
		{"truncated", func(p string, n []byte) error { return os.WriteFile(p, n[:len(n)/2], 0o644) }},
		{"garbage", func(p string, n []byte) error { return os.WriteFile(p, bytes.Repeat([]byte{0xa5}, len(n)), 0o644) }},
		{"flipped", func(p string, n []byte) error {
			// A bit of the root line: a flip in a signature line the
			// verifier does not know (the Ed25519 line, whose public key
			// only the device holds) leaves a note that still verifies.
			b := bytes.Clone(n)
			b[bytes.IndexByte(b, '\n')+5] ^= 0x01
			return os.WriteFile(p, b, 0o644)
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			l := openTest(t, dir, nil)
			for i := 0; i < 30; i++ {
				if _, err := l.Append(ctx, testEvent(i)); err != nil {
					t.Fatal(err)
				}
			}
			note, cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			path := l.checkpointPath()
			l.Close()
			if err := d.damage(path, note); err != nil {
				t.Fatal(err)
			}
			damagedBytes, _ := os.ReadFile(path)

			// A reader gets the stored note and writes nothing.
			r, err := Open(ctx, dir, nil)
			if err != nil {
				t.Fatalf("read-only Open after the checkpoint file was %s: %v", d.name, err)
			}
			got, _, err := r.Latest()
			if err != nil || !bytes.Equal(got, note) {
				t.Fatalf("Latest = %q, %v; want the stored note", got, err)
			}
			if _, err := r.Leaf(29); err != nil {
				t.Fatalf("Leaf(29): %v", err)
			}
			r.Close()
			if b, _ := os.ReadFile(path); !bytes.Equal(b, damagedBytes) {
				t.Fatalf("a read-only open changed the checkpoint file")
			}

			// A writer restores the file and keeps what it replaced.
			w := openTest(t, dir, nil)
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, note) {
				t.Fatalf("checkpoint file after a writable open = %q, %v; want the stored note", b, err)
			}
			kept, _ := filepath.Glob(filepath.Join(dir, "damaged", "checkpoint-epoch-0-*"))
			if d.name == "deleted" {
				if len(kept) != 0 {
					t.Fatalf("kept %v for a deleted file", kept)
				}
			} else if len(kept) != 1 {
				t.Fatalf("damaged checkpoint files kept: %v; want 1", kept)
			} else if b, _ := os.ReadFile(kept[0]); !bytes.Equal(b, damagedBytes) {
				t.Fatalf("kept bytes differ from the damaged file")
			}
			if w.Epoch() != 0 {
				t.Fatalf("epoch %d: a damaged checkpoint copy must not start a new epoch", w.Epoch())
			}
			if _, err := w.Append(ctx, testEvent(30)); err != nil {
				t.Fatal(err)
			}
			_, cp2, err := w.Checkpoint(ctx)
			if err != nil {
				t.Fatalf("Checkpoint after the restore: %v", err)
			}
			oldRoot, _, _, err := w.ProveConsistency(cp.Size, cp2.Size)
			if err != nil || oldRoot != cp.Root {
				t.Fatalf("ProveConsistency(%d, %d): root %x, %v; want %x", cp.Size, cp2.Size, oldRoot, err, cp.Root)
			}
			w.Close()
		})
	}
}
