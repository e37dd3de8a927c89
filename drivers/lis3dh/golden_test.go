package lis3dh

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/lis3dh/lis3dhtest"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// formatOps prints one transaction per line: address, bytes written, bytes
// read, in hex.
func formatOps(ops []i2ctest.IO) string {
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, "%#02x W:% x R:% x\n", op.Addr, op.W, op.R)
	}
	return b.String()
}

// TestDev_Golden records a session against the simulated chip (New at
// ±8 g, 50 Hz; three samples; an empty FIFO; Halt) and compares the bus
// traffic with testdata/session.golden, so that any change of what the
// driver puts on the wire shows up in review.
func TestDev_Golden(t *testing.T) {
	chip := lis3dhtest.New(0x18)
	rec := &i2ctest.Record{Bus: chip}
	d, err := New(context.Background(), rec, 0x18, &Options{RangeG: 8, RateHz: 50, Clock: sensortest.NewClock(time.Time{})})
	if err != nil {
		t.Fatal(err)
	}
	chip.Push(lis3dhtest.Accel{X: 1000, Y: -1000, Z: 8}, lis3dhtest.Accel{X: -4000, Y: 2, Z: 7999}, lis3dhtest.Accel{})
	if _, err := d.Sense(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sense(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	got := formatOps(rec.Ops)
	path := filepath.Join("testdata", "session.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("bus traffic differs from %s:\n%s", path, got)
	}
}
