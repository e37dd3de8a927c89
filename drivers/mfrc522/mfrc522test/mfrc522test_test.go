package mfrc522test_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/mfrc522"
	"github.com/waybill-eu/waybill/drivers/mfrc522/mfrc522test"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

func newReader(t *testing.T) (*mfrc522test.Chip, *mfrc522.Dev, *sensortest.Clock) {
	t.Helper()
	chip := mfrc522test.New()
	clk := sensortest.NewClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	d, err := mfrc522.New(context.Background(), chip, &mfrc522.Options{Clock: clk, BusName: "SPI0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !chip.Field() {
		t.Fatal("New left the antenna off")
	}
	return chip, d, clk
}

// sense returns the UID read, or nil.
func sense(t *testing.T, d *mfrc522.Dev) []byte {
	t.Helper()
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	switch len(vals) {
	case 0:
		return nil
	case 1:
		return vals[0].(sensor.Tag).UID
	}
	t.Fatalf("Sense() = %v", vals)
	return nil
}

func TestChip_RoundTrip(t *testing.T) {
	chip, d, clk := newReader(t)
	if uid := sense(t, d); uid != nil {
		t.Fatalf("empty field: Sense() = %X", uid)
	}
	for _, uid := range [][]byte{
		{0xDE, 0xAD, 0xBE, 0xEF},
		{0x04, 0x6B, 0x2A, 0x9A, 0x71, 0x5C, 0x80},
		{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99},
	} {
		if err := chip.Place(uid); err != nil {
			t.Fatal(err)
		}
		if got := sense(t, d); !bytes.Equal(got, uid) {
			t.Errorf("Sense() = %X, want %X", got, uid)
		}
		// Halted by HLTA, the tag stays quiet while it stays on the reader.
		for range 3 {
			clk.Advance(time.Minute)
			if got := sense(t, d); got != nil {
				t.Errorf("tag left on the reader: Sense() = %X", got)
			}
		}
		chip.Remove(uid)
	}
}

func TestChip_Dedupe(t *testing.T) {
	chip, d, clk := newReader(t)
	uid := []byte{0x12, 0x34, 0x56, 0x78}
	present := func() []byte {
		if err := chip.Place(uid); err != nil {
			t.Fatal(err)
		}
		defer chip.Remove(uid)
		return sense(t, d)
	}
	if got := present(); !bytes.Equal(got, uid) {
		t.Fatalf("first scan: %X", got)
	}
	clk.Advance(10 * time.Second)
	if got := present(); got != nil {
		t.Errorf("again after 10 s: %X, want no new scan", got)
	}
	clk.Advance(25 * time.Second) // 35 s after the first, 25 s after the last
	if got := present(); got != nil {
		t.Errorf("again 25 s after the last sighting: %X, want no new scan", got)
	}
	clk.Advance(31 * time.Second)
	if got := present(); !bytes.Equal(got, uid) {
		t.Errorf("again after 31 s: %X, want a new scan", got)
	}
}

func TestChip_Collision(t *testing.T) {
	chip, d, _ := newReader(t)
	for _, uid := range [][]byte{{0x10, 0x20, 0x30, 0x40}, {0x10, 0x21, 0x30, 0x40}} {
		if err := chip.Place(uid); err != nil {
			t.Fatal(err)
		}
	}
	_, err := d.Sense(context.Background())
	// 20h and 21h first differ in bit 1 of the second byte: bit 9.
	if !errors.Is(err, mfrc522.ErrCollision) || !errors.Is(err, sensor.ErrBus) {
		t.Fatalf("two tags: Sense() = %v, want ErrCollision", err)
	}
	if want := "collision at bit 9"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not say %q", err, want)
	}
	chip.Remove([]byte{0x10, 0x21, 0x30, 0x40})
	// The remaining tag went back to IDLE at the next REQA (ISO/IEC 14443-3:
	// a READY tag takes REQA as an unexpected frame); it answers the one after.
	var got []byte
	for range 2 {
		if got = sense(t, d); got != nil {
			break
		}
	}
	if !bytes.Equal(got, []byte{0x10, 0x20, 0x30, 0x40}) {
		t.Errorf("after removing one tag: %X", got)
	}
}

func TestChip_CorruptBCC(t *testing.T) {
	chip, d, _ := newReader(t)
	if err := chip.Place([]byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	chip.CorruptBCC(true)
	if _, err := d.Sense(context.Background()); !errors.Is(err, sensor.ErrCRC) {
		t.Errorf("Sense() = %v, want ErrCRC", err)
	}
}

func TestChip_FailNext(t *testing.T) {
	chip, d, _ := newReader(t)
	chip.FailNext(1)
	if _, err := d.Sense(context.Background()); !errors.Is(err, sensor.ErrBus) || !sensor.Retryable(err) {
		t.Errorf("Sense() = %v, want a retryable ErrBus", err)
	}
	if err := chip.Place([]byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if got := sense(t, d); !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Errorf("Sense() after the failure = %X", got)
	}
}

func TestChip_Versions(t *testing.T) {
	for _, tc := range []struct {
		v     byte
		want  error
		clone bool
	}{
		{0x91, nil, false}, {0x92, nil, false}, {0x88, nil, true}, {0x12, nil, true},
		{0x00, sensor.ErrNoDevice, false}, {0xFF, sensor.ErrNoDevice, false}, {0x37, sensor.ErrWrongChip, false},
	} {
		chip := mfrc522test.New()
		chip.SetVersion(tc.v)
		d, err := mfrc522.New(context.Background(), chip, &mfrc522.Options{Clock: sensortest.NewClock(time.Time{})})
		if !errors.Is(err, tc.want) || (err == nil && d.Clone() != tc.clone) {
			t.Errorf("VersionReg %#02x: New() = %v", tc.v, err)
		}
	}
}

func TestChip_HaltWake(t *testing.T) {
	chip, d, _ := newReader(t)
	uid := []byte{0xCA, 0xFE, 0xF0, 0x0D}
	if err := chip.Place(uid); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if chip.Field() || !chip.PoweredDown() {
		t.Fatalf("after Halt: field %v, powered down %v", chip.Field(), chip.PoweredDown())
	}
	if got := sense(t, d); !bytes.Equal(got, uid) {
		t.Errorf("Sense() after Halt = %X, want %X", got, uid)
	}
	if !chip.Field() || chip.PoweredDown() {
		t.Errorf("after Sense: field %v, powered down %v", chip.Field(), chip.PoweredDown())
	}
}

func TestChip_Place(t *testing.T) {
	chip := mfrc522test.New()
	for _, uid := range [][]byte{{1, 2, 3}, {0x88, 1, 2, 3}, make([]byte, 8)} {
		if err := chip.Place(uid); err == nil {
			t.Errorf("Place(%X) accepted", uid)
		}
	}
	if err := chip.Place([]byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := chip.Place([]byte{1, 2, 3, 4}); err == nil {
		t.Error("Place accepted the same UID twice")
	}
	if !chip.Remove([]byte{1, 2, 3, 4}) || chip.Remove([]byte{1, 2, 3, 4}) {
		t.Error("Remove does not report presence")
	}
}

// TestChip_CalcCRC runs the CRC coprocessor (datasheet §10.3.1.4) over the
// HLTA bytes and reads CRCResultReg (21h MSB, 22h LSB): CDh 57h.
func TestChip_CalcCRC(t *testing.T) {
	chip := mfrc522test.New()
	for _, w := range [][]byte{
		{0x11 << 1, 0x3D},       // ModeReg: CRCPreset 6363h
		{0x0A << 1, 0x80},       // flush the FIFO
		{0x09 << 1, 0x50, 0x00}, // HLTA
		{0x01 << 1, 0x03},       // CalcCRC
	} {
		if err := chip.Tx(w, make([]byte, len(w))); err != nil {
			t.Fatal(err)
		}
	}
	r := make([]byte, 4)
	if err := chip.Tx([]byte{0x80 | 0x05<<1, 0x80 | 0x21<<1, 0x80 | 0x22<<1, 0}, r); err != nil {
		t.Fatal(err)
	}
	if r[1]&0x04 == 0 || r[2] != 0xCD || r[3] != 0x57 {
		t.Errorf("DivIrqReg %02X, CRCResultReg %02X%02X; want CRCIRq and CD57", r[1], r[2], r[3])
	}
}

func TestChip_SPIFraming(t *testing.T) {
	chip := mfrc522test.New()
	if err := chip.Tx([]byte{0x80 | 0x37<<1 | 1, 0}, make([]byte, 2)); err == nil {
		t.Error("address byte with bit 0 set accepted")
	}
	if err := chip.Tx([]byte{0x80 | 0x37<<1, 0}, make([]byte, 1)); err == nil {
		t.Error("read buffer shorter than the write buffer accepted")
	}
	r := make([]byte, 2)
	if err := chip.Tx([]byte{0x80 | 0x37<<1, 0}, r); err != nil || r[1] != 0x92 {
		t.Errorf("VersionReg read: % X, %v", r, err)
	}
}
