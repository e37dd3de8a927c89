package bme280test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

func read(t *testing.T, c *Chip, reg byte, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if err := c.Tx(c.Addr, []byte{reg}, b); err != nil {
		t.Fatalf("read 0x%02x: %v", reg, err)
	}
	return b
}

func write(t *testing.T, c *Chip, w ...byte) {
	t.Helper()
	if err := c.Tx(c.Addr, w, nil); err != nil {
		t.Fatalf("write % x: %v", w, err)
	}
}

func adcs(b []byte) (p, t, h uint32) {
	return uint32(b[0])<<12 | uint32(b[1])<<4 | uint32(b[2])>>4,
		uint32(b[3])<<12 | uint32(b[4])<<4 | uint32(b[5])>>4,
		uint32(b[6])<<8 | uint32(b[7])
}

func TestChip_Registers(t *testing.T) {
	c := New(0x76)
	if got := read(t, c, 0xD0, 1)[0]; got != 0x60 {
		t.Errorf("chip id = 0x%02x; want 0x60", got)
	}
	// Table 16, little-endian words: dig_T1 = 27504 = 0x6B70 first.
	tp := read(t, c, 0x88, 26)
	if !bytes.Equal(tp[:4], []byte{0x70, 0x6B, 0x43, 0x67}) || tp[25] != 75 {
		t.Errorf("0x88.. = % x; want 70 6b 43 67 ... and dig_H1 = 75 at 0xA1", tp)
	}
	// dig_H2 = 364, dig_H3 = 0, dig_H4 = 317 = 0x13D, dig_H5 = 50 = 0x032,
	// dig_H6 = 30: 0xE4 = 0x13, 0xE5 = 0x2D (H5[3:0] H4[3:0]), 0xE6 = 0x03.
	if got, want := read(t, c, 0xE1, 7), []byte{0x6C, 0x01, 0x00, 0x13, 0x2D, 0x03, 0x1E}; !bytes.Equal(got, want) {
		t.Errorf("0xE1.. = % x; want % x", got, want)
	}
	// Reset values (section 5.3).
	if got, want := read(t, c, 0xF2, 4), []byte{0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("0xF2..0xF5 = % x; want % x", got, want)
	}
	if got, want := read(t, c, 0xF7, 8), []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0}; !bytes.Equal(got, want) {
		t.Errorf("0xF7..0xFE = % x; want % x", got, want)
	}
	// Read-only registers ignore writes; 0xE0 only takes 0xB6.
	write(t, c, 0xD0, 0x11, 0xF3, 0xFF, 0xE0, 0x00)
	if got := read(t, c, 0xD0, 2); got[0] != 0x60 {
		t.Errorf("chip id = 0x%02x after a write; want 0x60", got[0])
	}

	c.BMP280 = true
	if got := read(t, c, 0xD0, 1)[0]; got != 0x58 {
		t.Errorf("BMP280 chip id = 0x%02x; want 0x58", got)
	}
	if got := read(t, c, 0xE1, 7); !bytes.Equal(got, make([]byte, 7)) {
		t.Errorf("BMP280 0xE1.. = % x; want zeros", got)
	}
}

func TestChip_NACK(t *testing.T) {
	c := New(0x77)
	err := c.Tx(0x76, []byte{0xD0}, make([]byte, 1))
	if !errors.Is(err, syscall.EREMOTEIO) {
		t.Errorf("Tx to 0x76 = %v; want a remote I/O error", err)
	}
}

func TestChip_FailNext(t *testing.T) {
	c := New(0x76)
	c.FailNext = 2
	for i := range 2 {
		if err := c.Tx(0x76, []byte{0xD0}, make([]byte, 1)); !errors.Is(err, syscall.EREMOTEIO) {
			t.Errorf("Tx %d = %v; want a remote I/O error", i, err)
		}
	}
	if got := read(t, c, 0xD0, 1)[0]; got != 0x60 {
		t.Errorf("chip id = 0x%02x after the faults; want 0x60", got)
	}
}

// ctrl_hum takes effect only when ctrl_meas is written (section 5.4.3).
func TestChip_CtrlHum(t *testing.T) {
	c := New(0x76)
	write(t, c, 0xF4, 0x25) // forced, humidity still skipped
	if _, _, h := adcs(read(t, c, 0xF7, 8)); h != 0x8000 {
		t.Errorf("adc_H = 0x%x without ctrl_hum; want 0x8000", h)
	}
	write(t, c, 0xF2, 0x01)
	if _, _, h := adcs(read(t, c, 0xF7, 8)); h != 0x8000 {
		t.Errorf("adc_H = 0x%x after ctrl_hum alone; want 0x8000", h)
	}
	write(t, c, 0xF4, 0x25)
	if _, _, h := adcs(read(t, c, 0xF7, 8)); h == 0x8000 {
		t.Error("adc_H = 0x8000 after ctrl_hum and ctrl_meas; want a measurement")
	}
	if got := read(t, c, 0xF4, 1)[0]; got != 0x24 {
		t.Errorf("ctrl_meas = 0x%02x after a forced measurement; want 0x24 (sleep)", got)
	}
}

// osrs 000 skips a measurement, leaving 0x80000 (sections 5.4.5).
func TestChip_Skipped(t *testing.T) {
	c := New(0x76)
	write(t, c, 0xF2, 0x01, 0xF4, 0x01) // temperature and pressure skipped
	p, tt, h := adcs(read(t, c, 0xF7, 8))
	if p != 0x80000 || tt != 0x80000 || h == 0x8000 {
		t.Errorf("adc_P, adc_T, adc_H = 0x%x, 0x%x, 0x%x; want 0x80000, 0x80000, a measurement", p, tt, h)
	}
}

// With the filter off the result has 16 + (osrs - 1) bits (sections 3.4.2
// and 3.4.3).
func TestChip_Resolution(t *testing.T) {
	c := New(0x76)
	c.Pressure = 100123456789 // nPa: not on a 16-bit step
	for _, tt := range []struct {
		ctrl, config byte
		zeros        uint32 // low bits that must be zero
	}{
		{0x25, 0x00, 0xF}, // ×1: 16 bits
		{0x29, 0x00, 0x7}, // ×2: 17 bits
		{0x2D, 0x00, 0x3}, // ×4: 18 bits
		{0x35, 0x00, 0x0}, // ×16: 20 bits
		{0x25, 0x04, 0x0}, // filter on: 20 bits
	} {
		write(t, c, 0xF5, tt.config, 0xF4, tt.ctrl)
		if p, _, _ := adcs(read(t, c, 0xF7, 8)); p&tt.zeros != 0 {
			t.Errorf("ctrl_meas 0x%02x, config 0x%02x: adc_P = 0x%05x; want bits 0x%x clear", tt.ctrl, tt.config, p, tt.zeros)
		}
	}
}

func TestChip_Timing(t *testing.T) {
	clk := sensortest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := New(0x76)
	c.Clock = clk
	write(t, c, 0xE0, 0xB6)
	if s := read(t, c, 0xF3, 1)[0]; s != 0x01 {
		t.Errorf("status after reset = 0x%02x; want 0x01 (im_update)", s)
	}
	clk.Advance(2 * time.Millisecond)
	if s := read(t, c, 0xF3, 1)[0]; s != 0x00 {
		t.Errorf("status 2 ms after reset = 0x%02x; want 0x00", s)
	}
	write(t, c, 0xF2, 0x01, 0xF4, 0x25)
	if s := read(t, c, 0xF3, 1)[0]; s != 0x08 {
		t.Errorf("status during a measurement = 0x%02x; want 0x08 (measuring)", s)
	}
	if got := read(t, c, 0xF7, 8); got[0] != 0x80 || got[3] != 0x80 {
		t.Errorf("data during the first measurement = % x; want the reset values", got)
	}
	// Typical time, appendix 9.1: 1 + 2 + 2.5 + 2.5 = 8 ms.
	clk.Advance(8*time.Millisecond - time.Microsecond)
	if s := read(t, c, 0xF3, 1)[0]; s != 0x08 {
		t.Errorf("status before 8 ms = 0x%02x; want 0x08", s)
	}
	clk.Advance(time.Microsecond)
	if s := read(t, c, 0xF3, 1)[0]; s != 0x00 {
		t.Errorf("status after 8 ms = 0x%02x; want 0x00", s)
	}
	if got := read(t, c, 0xF7, 8); got[0] == 0x80 || got[3] == 0x80 {
		t.Errorf("data after the measurement = % x; want a measurement", got)
	}
}

func TestChip_Stuck(t *testing.T) {
	c := New(0x76)
	c.Stuck = true
	write(t, c, 0xF4, 0x25)
	if s := read(t, c, 0xF3, 1)[0]; s != 0x08 {
		t.Errorf("status = 0x%02x; want 0x08 (measuring)", s)
	}
}

// In normal mode every read of the data registers sees the current state.
func TestChip_NormalMode(t *testing.T) {
	c := New(0x76)
	write(t, c, 0xF4, 0x27)
	_, t1, _ := adcs(read(t, c, 0xF7, 8))
	c.Temperature += 5 * physic.Kelvin
	_, t2, _ := adcs(read(t, c, 0xF7, 8))
	if t2 <= t1 {
		t.Errorf("adc_T = 0x%x then 0x%x at 5 K warmer; want it to rise", t1, t2)
	}
}
