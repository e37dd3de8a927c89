package mfrc522

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/mfrc522/mfrc522test"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/spi"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// recorder is an spi.Conn that records each transaction.
type recorder struct {
	conntest.Record
}

func (r *recorder) TxPackets([]spi.Packet) error { return errors.New("not supported") }

// TestDev_Golden records a session against the simulated reader (New; a
// 7-byte UID tag read; an empty field; Halt) and compares the SPI traffic
// with testdata/session.golden, one transaction per line, so that any change
// of what the driver puts on the wire shows up in review.
func TestDev_Golden(t *testing.T) {
	chip := mfrc522test.New()
	rec := &recorder{conntest.Record{Conn: chip}}
	clk := sensortest.NewClock(time.Unix(0, 0))
	d, err := New(context.Background(), rec, &Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	uid := []byte{0x04, 0x6B, 0x2A, 0x9A, 0x71, 0x5C, 0x80}
	if err := chip.Place(uid); err != nil {
		t.Fatal(err)
	}
	if vals, err := d.Sense(context.Background()); err != nil || len(vals) != 1 {
		t.Fatalf("Sense() = %v, %v", vals, err)
	}
	chip.Remove(uid)
	if vals, err := d.Sense(context.Background()); err != nil || len(vals) != 0 {
		t.Fatalf("Sense() = %v, %v", vals, err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, op := range rec.Ops {
		fmt.Fprintf(&b, "W:% x R:% x\n", op.W, op.R)
	}
	got := b.String()
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
		t.Errorf("SPI traffic differs from %s:\n%s", path, got)
	}
}
