package eventlog

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSalvage_NamesLostTail: events after the last one recovered are named
// as missing when a verified checkpoint says they were signed; without
// that, the last events a damage destroyed would go unmentioned.
func TestSalvage_NamesLostTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	seg := filepath.Join(dir, "epoch-0", "seg-000000.db")
	var before []byte
	for i := 0; i < 50; i++ {
		if i == 40 {
			// The segment as it was before the last ten events: what a
			// card that lost their pages would hold.
			l.Close()
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			before = b
			l = openTest(t, dir, nil)
		}
		if _, err := l.Append(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.WriteFile(seg, before, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Salvage(ctx, filepath.Join(dir, "epoch-0"), "", SalvageOptions{})
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if rep.Recovered != 40 || len(rep.Gaps) != 1 || rep.Gaps[0] != (SeqRange{40, 49}) {
		t.Fatalf("recovered %d, gaps %v; want 40 and [40-49]\n%s", rep.Recovered, rep.Gaps, rep.Summary())
	}
}
