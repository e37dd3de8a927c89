package fleet

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"os"
	"testing"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/drivers/replay"
)

var update = flag.Bool("update", false, "rewrite the shipped recordings in testbench/recordings")

// The shipped recordings.
const (
	BrusselsFile    = "../recordings/brussels-van.jsonl.gz"
	BadReadingsFile = "../recordings/bad-readings.jsonl.gz"
)

// TestBrusselsVan_Recording regenerates the shipped recording from the
// simulation and checks it is byte for byte what is committed: the
// simulation, the drivers and the sampler are deterministic, and the
// recording is up to date with them (go test -update rewrites it).
func TestBrusselsVan_Recording(t *testing.T) {
	checkRecording(t, BrusselsFile, RecordBrussels)
}

func TestBadReadings_Recording(t *testing.T) {
	checkRecording(t, BadReadingsFile, RecordBadReadings)
}

func checkRecording(t *testing.T, file string, record func(context.Context, *config.Config, io.Writer) error) {
	cfg, err := config.Load("../../configs/van.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := record(context.Background(), cfg, &buf); err != nil {
		t.Fatal(err)
	}
	if *update {
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(buf.Bytes())
		w.Close()
		if err := os.WriteFile(file, z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d bytes (%d uncompressed)", file, z.Len(), buf.Len())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("%v (run go test ./testbench/fleet -update)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		a, b := buf.Bytes(), want
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		lo := max(0, i-200)
		t.Fatalf("regenerated recording differs from %s at byte %d:\ngot  %q\nwant %q\n(run go test ./testbench/fleet -update if the change is intended)",
			file, i, a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
	}
	if _, err := replay.Load(bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
