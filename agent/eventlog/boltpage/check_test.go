package boltpage_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog/boltpage"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
)

// segment returns the bytes of the first segment file of a log of n events
// with checkpoints, as the log writes it.
func segment(t testing.TB, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	l := eventlogtest.Open(t, dir, nil)
	for lo := 0; lo < n; lo += 20 {
		eventlogtest.AppendBatch(t, l, lo, min(lo+20, n))
		if _, _, err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "epoch-0", "seg-000000.db"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzCheck runs the page check on fuzzed bytes in both modes: it must
// return, without panicking, whatever the bytes.
func FuzzCheck(f *testing.F) {
	seg := segment(f, 40)
	f.Add(seg)
	f.Add(seg[:len(seg)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		light := boltpage.Check(bytes.NewReader(b), int64(len(b)), false)
		full := boltpage.Check(bytes.NewReader(b), int64(len(b)), true)
		if light != nil && full == nil {
			t.Errorf("the full check passes what the light one refuses: %v", light)
		}
	})
}

// TestCheck_Damage: an intact segment passes both checks; a zeroed meta
// page, a page whose header names another page and a cut file do not, and
// a damaged page is named.
func TestCheck_Damage(t *testing.T) {
	seg := segment(t, 40)
	for _, full := range []bool{false, true} {
		if err := boltpage.Check(bytes.NewReader(seg), int64(len(seg)), full); err != nil {
			t.Fatalf("Check(intact, full %v) = %v", full, err)
		}
	}
	zeroMeta := bytes.Clone(seg)
	clear(zeroMeta[:2*4096])
	if err := boltpage.Check(bytes.NewReader(zeroMeta), int64(len(zeroMeta)), false); err == nil {
		t.Errorf("Check passes a file without meta pages")
	}
	// Every page from 2 on renamed in its header: the walk from the root
	// meets a page that is not what its parent says it is.
	renamed := bytes.Clone(seg)
	for off := 2 * 4096; off+8 <= len(renamed); off += 4096 {
		renamed[off] ^= 0x80
	}
	var p *boltpage.Problem
	err := boltpage.Check(bytes.NewReader(renamed), int64(len(renamed)), false)
	if !errors.As(err, &p) || p.Msg == "" {
		t.Errorf("Check(pages renamed) = %v; want a *Problem naming the page", err)
	}
	cut := seg[:len(seg)/2]
	if err := boltpage.Check(bytes.NewReader(cut), int64(len(cut)), true); err == nil {
		t.Errorf("the full check passes a file cut in half")
	}
}
