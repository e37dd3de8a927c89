package bme280

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

// newFakeClock returns a simulated clock whose Sleep returns at once,
// advancing Now and recording the duration.
func newFakeClock() *sensortest.Clock {
	return sensortest.NewClock(time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC))
}

const addr = 0x76

// Transactions of New on a healthy chip: chip id (section 5.4.1), soft reset
// (5.4.2), status with im_update clear (5.4.4), trimming parameters (4.2.2).
func newOps(id byte, c calibration) []i2ctest.IO {
	tp, h := encodeCal(c)
	ops := []i2ctest.IO{
		{Addr: addr, W: []byte{0xD0}, R: []byte{id}},
		{Addr: addr, W: []byte{0xE0, 0xB6}},
		{Addr: addr, W: []byte{0xF3}, R: []byte{0x00}},
		{Addr: addr, W: []byte{0x88}, R: tp},
	}
	if id == 0x60 {
		ops = append(ops, i2ctest.IO{Addr: addr, W: []byte{0xE1}, R: h})
	}
	return ops
}

// Transactions of one Sense with default options on a BME280: ctrl_hum
// ×1, config filter off, ctrl_meas ×1 ×1 forced (0b001_001_01), status
// idle, burst read of 0xF7..0xFE.
func senseOps(data []byte) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0xF2, 0x01, 0xF5, 0x00, 0xF4, 0x25}},
		{Addr: addr, W: []byte{0xF3}, R: []byte{0x00}},
		{Addr: addr, W: []byte{0xF7}, R: data},
	}
}

func concat(ops ...[]i2ctest.IO) []i2ctest.IO {
	var all []i2ctest.IO
	for _, o := range ops {
		all = append(all, o...)
	}
	return all
}

// wantErr checks that err is a *sensor.Error from device at step wrapping
// every one of causes.
func wantErr(t *testing.T, err error, device, step string, causes ...error) *sensor.Error {
	t.Helper()
	var se *sensor.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T); want a *sensor.Error", err, err)
	}
	if se.Device != device || se.Step != step {
		t.Errorf("error %q: device, step = %q, %q; want %q, %q", err, se.Device, se.Step, device, step)
	}
	for _, c := range causes {
		if !errors.Is(err, c) {
			t.Errorf("error %q does not wrap %q", err, c)
		}
	}
	return se
}

func TestDev_SenseBME280(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	// The datasheet example's raw words: adc_P 415148, adc_T 519888; and
	// adc_H 0x6A00.
	data := []byte{0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x6A, 0x00}
	bus := &i2ctest.Playback{Ops: concat(newOps(0x60, exampleCal), senseOps(data),
		[]i2ctest.IO{{Addr: addr, W: []byte{0xF4, 0x24}}})}
	d, err := New(ctx, bus, addr, &Options{Clock: clk, Bus: "I2C1 0x76"})
	if err != nil {
		t.Fatal(err)
	}
	slept := clk.Sleeps()
	if got, want := slept, []time.Duration{2 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("New slept %v; want %v (start-up time)", got, want)
	}
	if got, want := d.String(), "bme280 on I2C1 0x76"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	vals, err := d.Sense(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := clk.Sleeps()[len(slept):], []time.Duration{9300 * time.Microsecond}; !slices.Equal(got, want) {
		t.Errorf("Sense slept %v; want %v (appendix 9.1, all ×1)", got, want)
	}
	want := sensor.Env{
		Temperature: physic.ZeroCelsius + 25080*physic.MilliCelsius,
		Pressure:    25767233 * physic.Pascal / 256,
		Humidity:    3780762 * physic.TenthMicroRH,
		HasHumidity: true,
	}
	if len(vals) != 1 || vals[0] != want {
		t.Errorf("Sense() = %v; want [%v]", vals, want)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDev_SenseBMP280(t *testing.T) {
	for _, id := range []byte{0x56, 0x57, 0x58} {
		ctx := context.Background()
		clk := newFakeClock()
		bus := &i2ctest.Playback{Ops: concat(newOps(id, exampleCal), []i2ctest.IO{
			// No ctrl_hum; the burst read stops at 0xFC.
			{Addr: addr, W: []byte{0xF5, 0x00, 0xF4, 0x25}},
			{Addr: addr, W: []byte{0xF3}, R: []byte{0x00}},
			{Addr: addr, W: []byte{0xF7}, R: []byte{0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00}},
		})}
		d, err := New(ctx, bus, addr, &Options{Clock: clk, Name: "cabin"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.String(), "cabin: bmp280 on playback 0x76"; got != want {
			t.Errorf("String() = %q; want %q", got, want)
		}
		vals, err := d.Sense(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := sensor.Env{
			Temperature: physic.ZeroCelsius + 25080*physic.MilliCelsius,
			Pressure:    25767233 * physic.Pascal / 256,
		}
		if len(vals) != 1 || vals[0] != want {
			t.Errorf("chip id 0x%02x: Sense() = %v; want [%v]", id, vals, want)
		}
		if got, want := clk.Sleeps(), []time.Duration{2 * time.Millisecond, 6425 * time.Microsecond}; !slices.Equal(got, want) {
			t.Errorf("slept %v; want %v", got, want)
		}
		if err := bus.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDev_Options(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	data := []byte{0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x6A, 0x00}
	bus := &i2ctest.Playback{Ops: concat(newOps(0x60, exampleCal), []i2ctest.IO{
		// ctrl_hum osrs_h 011 (×4); config filter 011 (8); ctrl_meas
		// osrs_t 010 (×2), osrs_p 101 (×16), mode 01.
		{Addr: addr, W: []byte{0xF2, 0x03, 0xF5, 0x0C, 0xF4, 0x55}},
		{Addr: addr, W: []byte{0xF3}, R: []byte{0x00}},
		{Addr: addr, W: []byte{0xF7}, R: data},
		{Addr: addr, W: []byte{0xF4, 0x54}},
	})}
	d, err := New(ctx, bus, addr, &Options{Clock: clk, Temperature: 2, Pressure: 16, Humidity: 4, Filter: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sense(ctx); err != nil {
		t.Fatal(err)
	}
	// 1.25 + 2.3·2 + 2.3·16 + 0.575 + 2.3·4 + 0.575 = 53 ms.
	if got, want := clk.Sleeps(), []time.Duration{2 * time.Millisecond, 53 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("slept %v; want %v", got, want)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMeasurementTime(t *testing.T) {
	tests := []struct {
		t, p, h  Oversampling
		humidity bool
		want     time.Duration
	}{
		{0, 0, 0, true, 9300 * time.Microsecond},
		{1, 1, 1, true, 9300 * time.Microsecond},
		{16, 16, 16, true, 112800 * time.Microsecond},
		// The BMP280 datasheet's own table (section 3.8.1), rounded there
		// to 0.1 ms: 6.4, 8.7, 13.3, 22.5 and 43.2 ms.
		{1, 1, 0, false, 6425 * time.Microsecond},
		{1, 2, 0, false, 8725 * time.Microsecond},
		{1, 4, 0, false, 13325 * time.Microsecond},
		{1, 8, 0, false, 22525 * time.Microsecond},
		{2, 16, 0, false, 43225 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := MeasurementTime(tt.t, tt.p, tt.h, tt.humidity); got != tt.want {
			t.Errorf("MeasurementTime(%d, %d, %d, %v) = %v; want %v", tt.t, tt.p, tt.h, tt.humidity, got, tt.want)
		}
	}
}

func TestNew_BadOptions(t *testing.T) {
	tests := []struct {
		name string
		addr uint16
		opts *Options
	}{
		{"address 0x75", 0x75, nil},
		{"address 0x78", 0x78, nil},
		{"address 0", 0, nil},
		{"temperature oversampling 3", addr, &Options{Temperature: 3}},
		{"pressure oversampling 32", addr, &Options{Pressure: 32}},
		{"humidity oversampling 5", addr, &Options{Humidity: 5}},
		{"filter 1", addr, &Options{Filter: 1}},
		{"filter 32", addr, &Options{Filter: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := &i2ctest.Playback{DontPanic: true} // no transaction allowed
			_, err := New(context.Background(), bus, tt.addr, tt.opts)
			se := wantErr(t, err, "bme280", "configure", sensor.ErrConfig)
			if se.Retryable() {
				t.Errorf("error %q is retryable", err)
			}
			if bus.Count != 0 {
				t.Errorf("%d transactions on the bus; want none", bus.Count)
			}
		})
	}
	_, err := New(context.Background(), nil, addr, nil)
	wantErr(t, err, "bme280", "configure", sensor.ErrConfig)
}

func TestNew_WrongChip(t *testing.T) {
	for _, id := range []byte{0x00, 0x55, 0x59, 0x61, 0xFF} {
		bus := &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: addr, W: []byte{0xD0}, R: []byte{id}}}, DontPanic: true}
		_, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
		se := wantErr(t, err, "bme280", "read chip id", sensor.ErrWrongChip)
		if se.Retryable() {
			t.Errorf("error %q is retryable", err)
		}
		if want := fmt.Sprintf("chip id 0x%02x", id); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the chip id %s", err, want)
		}
	}
}

// A chip at 0x77 does not answer at 0x76: the bus reports an error.
func TestNew_NACK(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x60}}}, DontPanic: true}
	_, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock(), Bus: "I2C1 0x76"})
	se := wantErr(t, err, "bme280", "read chip id", sensor.ErrNoDevice, sensor.ErrBus)
	if !se.Retryable() {
		t.Errorf("error %q is not retryable", err)
	}
	if se.Bus != "I2C1 0x76" {
		t.Errorf("error names bus %q; want %q", se.Bus, "I2C1 0x76")
	}
}

func TestNew_BusErrors(t *testing.T) {
	full := newOps(0x60, exampleCal)
	tests := []struct {
		name string
		ops  int // transactions that succeed
		step string
	}{
		{"reset", 1, "reset"},
		{"status", 2, "reset"},
		{"calibration", 3, "read calibration"},
		{"humidity calibration", 4, "read calibration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := &i2ctest.Playback{Ops: full[:tt.ops], DontPanic: true}
			_, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
			wantErr(t, err, "bme280", tt.step, sensor.ErrBus)
			if errors.Is(err, sensor.ErrNoDevice) {
				t.Errorf("error %q wraps ErrNoDevice; only the chip id read does", err)
			}
		})
	}
}

// im_update set after reset is polled until it clears (section 5.4.4); if
// it never does, New times out.
func TestNew_NVMCopy(t *testing.T) {
	busy := i2ctest.IO{Addr: addr, W: []byte{0xF3}, R: []byte{0x01}}
	ops := newOps(0x60, exampleCal)
	slow := concat(ops[:2], []i2ctest.IO{busy, busy}, ops[2:])
	clk := newFakeClock()
	bus := &i2ctest.Playback{Ops: slow}
	if _, err := New(context.Background(), bus, addr, &Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.Sleeps(), []time.Duration{2 * time.Millisecond, time.Millisecond, time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("slept %v; want %v", got, want)
	}

	stuck := slices.Clone(ops[:2])
	for range maxPolls {
		stuck = append(stuck, busy)
	}
	bus = &i2ctest.Playback{Ops: stuck, DontPanic: true}
	_, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
	wantErr(t, err, "bme280", "reset", sensor.ErrTimeout)
	if err := bus.Close(); err != nil {
		t.Errorf("New did not read status %d times: %v", maxPolls, err)
	}
}

func TestDev_Timeout(t *testing.T) {
	ops := concat(newOps(0x60, exampleCal), senseOps(nil)[:1])
	for range maxPolls {
		ops = append(ops, i2ctest.IO{Addr: addr, W: []byte{0xF3}, R: []byte{0x08}}) // measuring
	}
	clk := newFakeClock()
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	d, err := New(context.Background(), bus, addr, &Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Sense(context.Background())
	se := wantErr(t, err, "bme280", "wait for measurement", sensor.ErrTimeout)
	if !se.Retryable() {
		t.Errorf("error %q is not retryable", err)
	}
	if err := bus.Close(); err != nil {
		t.Errorf("Sense did not read status %d times: %v", maxPolls, err)
	}
	var total time.Duration
	for _, d := range clk.Sleeps() {
		total += d
	}
	if want := 2*time.Millisecond + 9300*time.Microsecond + (maxPolls-1)*time.Millisecond; total != want {
		t.Errorf("waited %v in all; want %v", total, want)
	}
}

// Sense polls while measuring is set and reads the data once it clears.
func TestDev_SensePolls(t *testing.T) {
	data := []byte{0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x6A, 0x00}
	s := senseOps(data)
	busy := i2ctest.IO{Addr: addr, W: []byte{0xF3}, R: []byte{0x08}}
	bus := &i2ctest.Playback{Ops: concat(newOps(0x60, exampleCal), s[:1], []i2ctest.IO{busy, busy}, s[1:])}
	d, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sense(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDev_SenseBusErrors(t *testing.T) {
	full := concat(newOps(0x60, exampleCal), senseOps(make([]byte, 8)))
	n := len(newOps(0x60, exampleCal))
	tests := []struct {
		ops  int // Sense transactions that succeed
		step string
	}{
		{0, "start measurement"},
		{1, "wait for measurement"},
		{2, "read data"},
	}
	for _, tt := range tests {
		bus := &i2ctest.Playback{Ops: full[:n+tt.ops], DontPanic: true}
		d, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Sense(context.Background())
		wantErr(t, err, "bme280", tt.step, sensor.ErrBus)
	}
	bus := &i2ctest.Playback{Ops: full[:n], DontPanic: true}
	d, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.Halt(), "bme280", "sleep", sensor.ErrBus)
}

// The reset values of the data registers, which a skipped measurement also
// leaves (section 5.3, 5.4.3, 5.4.5), are not measurements.
func TestDev_SenseNotReading(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		id   byte
	}{
		{"temperature 0x80000", encodeData(415148, 0x80000, 0x6A00), 0x60},
		{"pressure 0x80000", encodeData(0x80000, 519888, 0x6A00), 0x60},
		{"humidity 0x8000", encodeData(415148, 519888, 0x8000), 0x60},
		{"after reset", []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0}, 0x60},
		{"bmp280 temperature 0x80000", encodeData(415148, 0x80000, 0)[:6], 0x58},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := senseOps(tt.data)
			device := "bme280"
			if tt.id == 0x58 {
				device = "bmp280"
				s[0].W = []byte{0xF5, 0x00, 0xF4, 0x25}
			}
			bus := &i2ctest.Playback{Ops: concat(newOps(tt.id, exampleCal), s)}
			d, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			vals, err := d.Sense(context.Background())
			if vals != nil {
				t.Errorf("Sense() = %v; want no values", vals)
			}
			se := wantErr(t, err, device, "read data", sensor.ErrNotReading)
			if !se.Retryable() {
				t.Errorf("error %q is not retryable", err)
			}
		})
	}
}

// A chip whose trimming parameters read as zeros makes the pressure formula
// divide by zero; the datasheet's code returns 0, the driver ErrNotReading.
func TestDev_SenseZeroTrimming(t *testing.T) {
	bus := &i2ctest.Playback{Ops: concat(newOps(0x60, calibration{}), senseOps(encodeData(415148, 519888, 0x6A00)))}
	d, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Sense(context.Background())
	wantErr(t, err, "bme280", "read data", sensor.ErrNotReading)
}

func TestDev_SenseCanceled(t *testing.T) {
	bus := &i2ctest.Playback{Ops: newOps(0x60, exampleCal)}
	d, err := New(context.Background(), bus, addr, &Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = d.Sense(ctx)
	wantErr(t, err, "bme280", "start measurement", context.Canceled)

	// Canceled while waiting: the measurement was started.
	clk := newFakeClock()
	ctx, clk.OnSleep = context.WithCancel(context.Background()) // cancel on the first Sleep
	d.clock = clk
	bus.Ops = append(bus.Ops, senseOps(nil)[:1]...)
	_, err = d.Sense(ctx)
	wantErr(t, err, "bme280", "wait for measurement", context.Canceled)
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}
