package lis3dh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// newOps is the transaction sequence of New for the given CTRL_REG1 and
// CTRL_REG4 values: WHO_AM_I (0Fh) reads 33h, CTRL_REG1..5 are written from
// 20h with the auto-increment bit (A0h), the FIFO is reset (2Eh = 00h) and
// put in Stream mode (2Eh = 80h).
func newOps(addr uint16, ctrl1, ctrl4 byte) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0x0F}, R: []byte{0x33}},
		{Addr: addr, W: []byte{0xA0, ctrl1, 0x00, 0x00, ctrl4, 0x40}},
		{Addr: addr, W: []byte{0x2E, 0x00}},
		{Addr: addr, W: []byte{0x2E, 0x80}},
	}
}

// fifoOps reads FIFO_SRC_REG (2Fh) and then every sample in one burst from
// OUT_X_L with the auto-increment bit (A8h): in FIFO mode the address rolls
// back from 2Dh to 28h (§5.1.5).
func fifoOps(addr uint16, src byte, samples ...[]byte) []i2ctest.IO {
	ops := []i2ctest.IO{{Addr: addr, W: []byte{0x2F}, R: []byte{src}}}
	var burst []byte
	for _, s := range samples {
		burst = append(burst, s...)
	}
	if len(samples) > 0 {
		ops = append(ops, i2ctest.IO{Addr: addr, W: []byte{0xA8}, R: burst})
	}
	return ops
}

// failing is an i2c.Bus that replays Ops and fails transaction number At
// (0-based) with the errno of a missing ACK.
type failing struct {
	i2ctest.Playback
	At int
	n  int
}

func (f *failing) Tx(addr uint16, w, r []byte) error {
	defer func() { f.n++ }()
	if f.n == f.At {
		return syscall.EREMOTEIO
	}
	return f.Playback.Tx(addr, w, r)
}

func (f *failing) SetSpeed(physic.Frequency) error { return nil }

// newClock returns a simulated clock: Sleep advances it at once.
func newClock() *sensortest.Clock {
	return sensortest.NewClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
}

func checkClosed(t *testing.T, p *i2ctest.Playback) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDev_New(t *testing.T) {
	for _, tc := range []struct {
		name         string
		addr         uint16
		opts         *Options
		ctrl1, ctrl4 byte
	}{
		// Defaults: ODR 0101 (100 Hz) | XYZ; BDU | FS 01 (±4 g) | HR.
		{"defaults", 0x18, nil, 0x57, 0x98},
		// ODR 0001 (1 Hz); normal mode: LPen = 0, HR = 0; FS 00.
		{"1Hz 2g normal", 0x19, &Options{RateHz: 1, RangeG: 2, Mode: Normal}, 0x17, 0x80},
		// ODR 0111 (400 Hz) | LPen; FS 11 (±16 g).
		{"400Hz 16g low-power", 0x18, &Options{RateHz: 400, RangeG: 16, Mode: LowPower}, 0x7F, 0xB0},
		// ODR 0100 (50 Hz); FS 10 (±8 g) | HR.
		{"50Hz 8g", 0x18, &Options{RateHz: 50, RangeG: 8}, 0x47, 0xA8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &i2ctest.Playback{Ops: newOps(tc.addr, tc.ctrl1, tc.ctrl4)}
			d, err := New(context.Background(), p, tc.addr, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkClosed(t, p)
			if got, want := d.String(), "lis3dh on playback 0x"; !strings.HasPrefix(got, want) {
				t.Errorf("String() = %q, want prefix %q", got, want)
			}
		})
	}
}

func TestDev_NewBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr uint16
		opts Options
	}{
		{"address", 0x1A, Options{}},
		{"range", 0x18, Options{RangeG: 3}},
		{"rate", 0x18, Options{RateHz: 1344}},
		{"mode", 0x18, Options{Mode: Mode(7)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &i2ctest.Playback{} // no transaction may happen
			_, err := New(context.Background(), p, tc.addr, &tc.opts)
			if !errors.Is(err, sensor.ErrConfig) {
				t.Fatalf("New() = %v, want ErrConfig", err)
			}
			if sensor.Retryable(err) {
				t.Errorf("Retryable(%v) = true", err)
			}
			checkClosed(t, p)
		})
	}
	if _, err := New(context.Background(), nil, 0x18, nil); !errors.Is(err, sensor.ErrConfig) {
		t.Errorf("New(nil bus) = %v, want ErrConfig", err)
	}
}

func TestDev_WrongChip(t *testing.T) {
	// 32h is the WHO_AM_I of the LIS331DLH and similar parts; 00h and FFh
	// are what a floating or shorted SDA reads.
	for _, id := range []byte{0x32, 0x00, 0xFF} {
		p := &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x18, W: []byte{0x0F}, R: []byte{id}}}}
		_, err := New(context.Background(), p, 0x18, &Options{BusName: "I2C1"})
		if !errors.Is(err, sensor.ErrWrongChip) {
			t.Fatalf("WHO_AM_I %#02x: New() = %v, want ErrWrongChip", id, err)
		}
		var se *sensor.Error
		if !errors.As(err, &se) || se.Device != "lis3dh" || se.Bus != "I2C1 0x18" || se.Step != "read WHO_AM_I" {
			t.Errorf("error %#v does not name device, bus and step", err)
		}
		if want := fmt.Sprintf("0x%02x", id); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the value %s", err, want)
		}
		checkClosed(t, p)
	}
}

func TestDev_BusError(t *testing.T) {
	ops := append(newOps(0x18, 0x57, 0x98), fifoOps(0x18, 0x01, []byte{0, 0, 0, 0, 0, 0})...)
	for _, tc := range []struct {
		at    int
		cause error
		step  string
	}{
		{0, sensor.ErrNoDevice, "read WHO_AM_I"},
		{1, sensor.ErrBus, "configure CTRL_REG1..5"},
		{3, sensor.ErrBus, "start FIFO stream"},
		{4, sensor.ErrBus, "read FIFO_SRC_REG"},
		{5, sensor.ErrBus, "read FIFO samples"},
	} {
		bus := &failing{Playback: i2ctest.Playback{Ops: ops, DontPanic: true}, At: tc.at}
		d, err := New(context.Background(), bus, 0x18, &Options{BusName: "I2C1"})
		if err == nil {
			_, err = d.Sense(context.Background())
		}
		var se *sensor.Error
		if !errors.Is(err, tc.cause) || !errors.Is(err, syscall.EREMOTEIO) || !errors.As(err, &se) || se.Step != tc.step {
			t.Errorf("failure at #%d: got %v, want %v at step %q", tc.at, err, tc.cause, tc.step)
			continue
		}
		if !se.Retryable() {
			t.Errorf("failure at #%d: not retryable", tc.at)
		}
	}
}

// TestDev_SenseConversion decodes one sample per full scale and mode. The
// expected values follow from Table 4 (So, mg/digit) and the left-justified
// format of §8.16 to §8.18 (bits per mode: §3.2.1, Table 10); the first row
// is the register example of ST's application note AN3308 (28h = E0h,
// 29h = 15h is 350 mg at ±2 g, high-resolution).
func TestDev_SenseConversion(t *testing.T) {
	for _, tc := range []struct {
		rangeG  int
		mode    Mode
		ctrl1   byte
		ctrl4   byte
		sample  []byte
		x, y, z sensor.MilliG
	}{
		// 15E0h >> 4 = 350 digits × 1 mg; 4000h >> 4 = 1024; 0000h.
		{2, HighResolution, 0x57, 0x88, []byte{0xE0, 0x15, 0x00, 0x40, 0x00, 0x00}, 350, 1024, 0},
		// 7FF0h = +2047 × 1 mg (positive full scale); 8000h = -2048; low nibble ignored.
		{2, HighResolution, 0x57, 0x88, []byte{0xF0, 0x7F, 0x00, 0x80, 0xEF, 0x15}, 2047, -2048, 350},
		// ±4 g HR, 2 mg/digit: 1F40h >> 4 = 500 → 1000 mg; E0C0h >> 4 = -500 → -1000.
		{4, HighResolution, 0x57, 0x98, []byte{0x40, 0x1F, 0xC0, 0xE0, 0x10, 0x00}, 1000, -1000, 2},
		// ±8 g normal, 16 mg/digit: E0C0h >> 6 = -125 → -2000 mg; 0FC0h >> 6 = 63 → 1008.
		{8, Normal, 0x57, 0xA0, []byte{0xC0, 0xE0, 0xC0, 0x0F, 0x40, 0x00}, -2000, 1008, 16},
		// ±16 g low-power, 192 mg/digit: 0A00h >> 8 = 10 → 1920 mg; 7F00h = 127 → 24384.
		{16, LowPower, 0x5F, 0xB0, []byte{0x00, 0x0A, 0x00, 0x7F, 0x00, 0x80}, 1920, 24384, -24576},
		// ±16 g HR, 12 mg/digit: 0530h >> 4 = 83 → 996 mg.
		{16, HighResolution, 0x57, 0xB8, []byte{0x30, 0x05, 0x00, 0x00, 0xF0, 0xFF}, 996, 0, -12},
	} {
		ops := append(newOps(0x18, tc.ctrl1, tc.ctrl4), fifoOps(0x18, 0x01, tc.sample)...)
		p := &i2ctest.Playback{Ops: ops}
		d, err := New(context.Background(), p, 0x18, &Options{RangeG: tc.rangeG, Mode: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		vals, err := d.Sense(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := sensor.Motion{X: tc.x, Y: tc.y, Z: tc.z, Samples: 1}
		if len(vals) != 1 || vals[0] != want {
			t.Errorf("±%d g %v: Sense(% x) = %+v, want %+v", tc.rangeG, tc.mode, tc.sample, vals, want)
		}
		checkClosed(t, p)
	}
}

func TestDev_SensePeak(t *testing.T) {
	// ±4 g HR (2 mg/digit). Digits (x, y, z) per sample:
	// (100, -50, 500), (-300, 20, 490), (250, 60, -510).
	s := func(x, y, z int16) []byte {
		var b []byte
		for _, v := range []int16{x, y, z} {
			u := uint16(v << 4)
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	ops := append(newOps(0x18, 0x57, 0x98),
		fifoOps(0x18, 0x03, s(100, -50, 500), s(-300, 20, 490), s(250, 60, -510))...)
	p := &i2ctest.Playback{Ops: ops}
	d, err := New(context.Background(), p, 0x18, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sensor.Motion{X: -600, Y: 120, Z: -1020, Samples: 3}
	if len(vals) != 1 || vals[0] != want {
		t.Errorf("Sense() = %+v, want %+v", vals, want)
	}
	checkClosed(t, p)
}

func TestDev_SenseOverrun(t *testing.T) {
	// FIFO_SRC_REG = 5Fh: OVRN_FIFO, FSS = 31: the FIFO holds 32 samples.
	samples := make([][]byte, FIFODepth)
	for i := range samples {
		samples[i] = []byte{0, 0, 0, 0, 0x00, 0x20} // z = 2000h >> 4 = 512 digits = 1024 mg
	}
	samples[7] = []byte{0, 0, 0, 0, 0x00, 0x30} // 768 digits = 1536 mg
	ops := append(newOps(0x18, 0x57, 0x98), fifoOps(0x18, 0x5F, samples...)...)
	ops = append(ops, fifoOps(0x18, 0x20)...) // then EMPTY
	p := &i2ctest.Playback{Ops: ops}
	d, err := New(context.Background(), p, 0x18, &Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (sensor.Motion{Z: 1536, Samples: 32}); len(vals) != 1 || vals[0] != want {
		t.Errorf("Sense() = %+v, want %+v", vals, want)
	}
	if got := d.Overruns(); got != 1 {
		t.Errorf("Overruns() = %d, want 1", got)
	}
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("Sense() on an empty FIFO = %v, %v", vals, err)
	}
	checkClosed(t, p)
}

func TestDev_SenseEmpty(t *testing.T) {
	// 20h: EMPTY; 00h: FSS = 0 without EMPTY (the FIFO was just reset).
	for _, src := range []byte{0x20, 0x00} {
		ops := append(newOps(0x18, 0x57, 0x98), fifoOps(0x18, src)...)
		p := &i2ctest.Playback{Ops: ops}
		d, err := New(context.Background(), p, 0x18, &Options{Clock: newClock()})
		if err != nil {
			t.Fatal(err)
		}
		vals, err := d.Sense(context.Background())
		if vals != nil || err != nil {
			t.Errorf("FIFO_SRC_REG %#02x: Sense() = %v, %v; want nothing", src, vals, err)
		}
		checkClosed(t, p)
	}
}

func TestDev_HaltResume(t *testing.T) {
	ops := newOps(0x18, 0x57, 0x98)
	ops = append(ops, i2ctest.IO{Addr: 0x18, W: []byte{0x20, 0x07}}) // ODR = 0000: power-down
	ops = append(ops, newOps(0x18, 0x57, 0x98)[1:]...)               // Sense reconfigures
	ops = append(ops, fifoOps(0x18, 0x20)...)
	p := &i2ctest.Playback{Ops: ops}
	d, err := New(context.Background(), p, 0x18, &Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Fatalf("Sense() after Halt = %v, %v", vals, err)
	}
	checkClosed(t, p)
}

func TestDev_SenseCanceled(t *testing.T) {
	p := &i2ctest.Playback{Ops: newOps(0x18, 0x57, 0x98)}
	d, err := New(context.Background(), p, 0x18, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var se *sensor.Error
	if _, err := d.Sense(ctx); !errors.Is(err, context.Canceled) || !errors.As(err, &se) {
		t.Errorf("Sense(canceled) = %v", err)
	}
	checkClosed(t, p)
}

// TestDev_SenseChipReset: the FIFO has been empty for 1 s (100 sample
// periods at 100 Hz), so Sense reads CTRL_REG1..5 back (A0h, 5 bytes). A chip
// that went through a power-on reset reads 07h 00h 00h 00h 00h (§8.8: the
// reset value of CTRL_REG1 is power-down with the axes enabled); the driver
// configures it again and reports the event. A chip that kept its
// configuration gives no value and no error.
func TestDev_SenseChipReset(t *testing.T) {
	ops := newOps(0x18, 0x57, 0x98)
	ops = append(ops, fifoOps(0x18, 0x20)...)
	ops = append(ops, i2ctest.IO{Addr: 0x18, W: []byte{0xA0}, R: []byte{0x57, 0x00, 0x00, 0x98, 0x40}})
	ops = append(ops, fifoOps(0x18, 0x20)...)
	ops = append(ops, i2ctest.IO{Addr: 0x18, W: []byte{0xA0}, R: []byte{0x07, 0x00, 0x00, 0x00, 0x00}})
	ops = append(ops, newOps(0x18, 0x57, 0x98)[1:]...)
	ops = append(ops, fifoOps(0x18, 0x20)...) // just configured: no check
	p := &i2ctest.Playback{Ops: ops}
	clk := newClock()
	d, err := New(context.Background(), p, 0x18, &Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("configured chip, empty FIFO: Sense() = %v, %v", vals, err)
	}
	clk.Advance(time.Second)
	_, err = d.Sense(context.Background())
	var se *sensor.Error
	if !errors.Is(err, sensor.ErrBus) || !errors.As(err, &se) || se.Step != "check configuration" || !strings.Contains(err.Error(), "reset") {
		t.Errorf("reset chip: Sense() = %v, want ErrBus at check configuration", err)
	}
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("after reconfiguring: Sense() = %v, %v", vals, err)
	}
	checkClosed(t, p)
}

func TestFifoCount(t *testing.T) {
	for _, tc := range []struct {
		src  byte
		want int
	}{
		{0x20, 0}, {0x00, 0}, {0x01, 1}, {0x1F, 31}, {0x5F, 32}, {0x40, 32},
		{0x9F, 31}, // WTM set, not full
		{0x3F, 0},  // EMPTY wins over a stale FSS
	} {
		if got := fifoCount(tc.src); got != tc.want {
			t.Errorf("fifoCount(%#02x) = %d, want %d", tc.src, got, tc.want)
		}
	}
}
