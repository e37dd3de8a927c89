package salvage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
)

// TestSalvage_NamesLostTail: events after the last one recovered are named
// as missing when a verified checkpoint says they were signed; without
// that, the last events a damage destroyed would go unmentioned.
func TestSalvage_NamesLostTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := eventlogtest.Open(t, dir, nil)
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
			l = eventlogtest.Open(t, dir, nil)
		}
		if _, err := l.Append(ctx, eventlogtest.Event(i)); err != nil {
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
	rep, err := Recover(ctx, filepath.Join(dir, "epoch-0"), "", Options{})
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if rep.Recovered != 40 || len(rep.Gaps) != 1 || rep.Gaps[0] != (Range{40, 49}) {
		t.Fatalf("recovered %d, gaps %v; want 40 and [40-49]\n%s", rep.Recovered, rep.Gaps, rep.Summary())
	}
}

// TestSalvage_PrunedNotMissing: events whose payloads retention removed
// are reported as pruned, not as missing.
func TestSalvage_PrunedNotMissing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := eventlogtest.Open(t, dir, &eventlog.Options{SegmentBytes: 256 << 10})
	for i := 0; i < 3000; i += 50 {
		eventlogtest.AppendBatch(t, l, i, i+50)
		if (i+50)%100 == 0 {
			if _, _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	segs, _ := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test needs three", len(segs))
	}
	below := segs[0].End
	if _, err := l.Prune(ctx, below+1); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep, err := Recover(ctx, filepath.Join(dir, "epoch-0"), filepath.Join(t.TempDir(), "out"), Options{})
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if len(rep.Pruned) != 1 || rep.Pruned[0] != (Range{0, below - 1}) || len(rep.Gaps) != 0 {
		t.Fatalf("pruned %v, gaps %v; want [0-%d] and none\n%s", rep.Pruned, rep.Gaps, below-1, rep.Summary())
	}
}

func TestWithoutRanges(t *testing.T) {
	r := func(a, b uint64) Range { return Range{a, b} }
	for _, tt := range []struct {
		rs, cut, want []Range
	}{
		{[]Range{r(0, 9)}, nil, []Range{r(0, 9)}},
		{[]Range{r(0, 9)}, []Range{r(0, 9)}, nil},
		{[]Range{r(0, 9)}, []Range{r(0, 3)}, []Range{r(4, 9)}},
		{[]Range{r(0, 9)}, []Range{r(5, 20)}, []Range{r(0, 4)}},
		{[]Range{r(0, 9)}, []Range{r(2, 3), r(6, 7)}, []Range{r(0, 1), r(4, 5), r(8, 9)}},
		{[]Range{r(0, 2), r(10, 12)}, []Range{r(3, 9)}, []Range{r(0, 2), r(10, 12)}},
		{[]Range{r(5, 5)}, []Range{r(0, 4), r(6, 9)}, []Range{r(5, 5)}},
	} {
		got := withoutRanges(tt.rs, tt.cut)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("withoutRanges(%v, %v) = %v, want %v", tt.rs, tt.cut, got, tt.want)
		}
	}
}
