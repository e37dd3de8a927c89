package lis3dhtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/lis3dh"
	"github.com/waybill-eu/waybill/drivers/lis3dh/lis3dhtest"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

// newClock returns a simulated clock: Sleep advances it at once.
func newClock() *sensortest.Clock {
	return sensortest.NewClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
}

func abs(v sensor.MilliG) sensor.MilliG {
	if v < 0 {
		return -v
	}
	return v
}

func TestChip_RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rangeG int
		mode   lis3dh.Mode
		res    sensor.MilliG // one digit (Table 4)
	}{
		{2, lis3dh.HighResolution, 1},
		{4, lis3dh.HighResolution, 2},
		{8, lis3dh.Normal, 16},
		{16, lis3dh.LowPower, 192},
	} {
		chip := lis3dhtest.New(0x19)
		d, err := lis3dh.New(context.Background(), chip, 0x19, &lis3dh.Options{RangeG: tc.rangeG, Mode: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		in := []lis3dhtest.Accel{
			{X: 12, Y: -980, Z: 40},
			{X: -1500, Y: 300, Z: 1001},
			{X: 700, Y: -20, Z: -1750},
		}
		chip.Push(in...)
		vals, err := d.Sense(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 1 {
			t.Fatalf("Sense() = %v", vals)
		}
		m := vals[0].(sensor.Motion)
		want := sensor.Motion{X: -1500, Y: -980, Z: -1750, Samples: 3}
		if m.Samples != want.Samples || abs(m.X-want.X) > tc.res/2 || abs(m.Y-want.Y) > tc.res/2 || abs(m.Z-want.Z) > tc.res/2 {
			t.Errorf("±%d g %v: Sense() = %+v, want %+v within %d mg", tc.rangeG, tc.mode, m, want, tc.res/2)
		}
		if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
			t.Errorf("second Sense() = %v, %v; want nothing", vals, err)
		}
	}
}

func TestChip_Saturates(t *testing.T) {
	chip := lis3dhtest.New(0x18)
	d, err := lis3dh.New(context.Background(), chip, 0x18, &lis3dh.Options{RangeG: 2})
	if err != nil {
		t.Fatal(err)
	}
	chip.Push(lis3dhtest.Accel{X: 5000, Y: -5000})
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// ±2 g high-resolution: 12 bits at 1 mg/digit clip at +2047 and -2048.
	if want := (sensor.Motion{X: 2047, Y: -2048, Samples: 1}); vals[0] != want {
		t.Errorf("Sense() = %+v, want %+v", vals[0], want)
	}
}

func TestChip_ConstantAndOverrun(t *testing.T) {
	clk := newClock()
	chip := lis3dhtest.New(0x18)
	chip.Clock = clk
	d, err := lis3dh.New(context.Background(), chip, 0x18, &lis3dh.Options{RateHz: 100, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	chip.SetConstant(&lis3dhtest.Accel{Z: 1000})
	clk.Advance(199 * time.Millisecond) // samples at 0, 10, ..., 190 ms
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (sensor.Motion{Z: 1000, Samples: 20}); len(vals) != 1 || vals[0] != want {
		t.Errorf("after 200 ms: Sense() = %+v, want %+v", vals, want)
	}
	if d.Overruns() != 0 {
		t.Errorf("Overruns() = %d", d.Overruns())
	}
	clk.Advance(2 * time.Second)
	vals, err = d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (sensor.Motion{Z: 1000, Samples: 32}); len(vals) != 1 || vals[0] != want {
		t.Errorf("after 2 s: Sense() = %+v, want %+v", vals, want)
	}
	if d.Overruns() != 1 {
		t.Errorf("Overruns() = %d, want 1", d.Overruns())
	}
}

func TestChip_PowerCycle(t *testing.T) {
	clk := newClock()
	chip := lis3dhtest.New(0x18)
	chip.Clock = clk
	d, err := lis3dh.New(context.Background(), chip, 0x18, &lis3dh.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	chip.SetConstant(&lis3dhtest.Accel{X: -1000})
	clk.Advance(200 * time.Millisecond)
	if vals, err := d.Sense(context.Background()); err != nil || len(vals) != 1 {
		t.Fatalf("Sense() = %v, %v", vals, err)
	}
	chip.PowerCycle()
	clk.Advance(200 * time.Millisecond)
	if _, err := d.Sense(context.Background()); !errors.Is(err, sensor.ErrBus) {
		t.Fatalf("Sense() after a power cycle = %v, want ErrBus (chip reset)", err)
	}
	clk.Advance(200 * time.Millisecond)
	vals, err := d.Sense(context.Background())
	if err != nil || len(vals) != 1 || vals[0].(sensor.Motion).X != -1000 {
		t.Errorf("Sense() after reconfiguration = %v, %v", vals, err)
	}
}

func TestChip_Halt(t *testing.T) {
	chip := lis3dhtest.New(0x18)
	d, err := lis3dh.New(context.Background(), chip, 0x18, &lis3dh.Options{RateHz: 25})
	if err != nil {
		t.Fatal(err)
	}
	if chip.RateHz() != 25 {
		t.Fatalf("RateHz() = %d, want 25", chip.RateHz())
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if chip.RateHz() != 0 {
		t.Errorf("RateHz() after Halt = %d, want 0 (power-down)", chip.RateHz())
	}
	chip.Push(lis3dhtest.Accel{X: 100}) // a powered-down chip measures nothing
	if chip.Pending() != 0 {
		t.Errorf("Pending() = %d in power-down", chip.Pending())
	}
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("Sense() after Halt = %v, %v", vals, err)
	}
	if chip.RateHz() != 25 {
		t.Errorf("RateHz() after Sense = %d, want 25", chip.RateHz())
	}
}

func TestChip_FailNext(t *testing.T) {
	chip := lis3dhtest.New(0x18)
	chip.FailNext(1)
	if _, err := lis3dh.New(context.Background(), chip, 0x18, nil); !errors.Is(err, sensor.ErrNoDevice) || !sensor.IsRemoteIO(err) {
		t.Fatalf("New() = %v, want ErrNoDevice with a remote I/O error", err)
	}
	// Through the daemon's retrying wrapper a single failure is absorbed.
	r := &sensor.RetryI2C{Bus: chip}
	d, err := lis3dh.New(context.Background(), r, 0x18, nil)
	if err != nil {
		t.Fatal(err)
	}
	chip.Push(lis3dhtest.Accel{Y: 500})
	chip.FailNext(1)
	vals, err := d.Sense(context.Background())
	if err != nil || len(vals) != 1 || r.Retries() != 1 {
		t.Errorf("Sense() = %v, %v with %d retries", vals, err, r.Retries())
	}
	chip.FailNext(5)
	if _, err := d.Sense(context.Background()); !errors.Is(err, sensor.ErrBus) || !sensor.Retryable(err) {
		t.Errorf("Sense() = %v, want a retryable ErrBus", err)
	}
}

func TestChip_WrongAddress(t *testing.T) {
	chip := lis3dhtest.New(0x19)
	if _, err := lis3dh.New(context.Background(), chip, 0x18, nil); !errors.Is(err, sensor.ErrNoDevice) {
		t.Errorf("New() at 0x18 with the chip at 0x19 = %v, want ErrNoDevice", err)
	}
}

func TestChip_Registers(t *testing.T) {
	chip := lis3dhtest.New(0x18)
	if _, err := lis3dh.New(context.Background(), chip, 0x18, &lis3dh.Options{RangeG: 8, RateHz: 10, Mode: lis3dh.LowPower}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ reg, want byte }{
		{0x20, 0x2F}, // ODR 0010 (10 Hz), LPen, Z/Y/X
		{0x23, 0xA0}, // BDU, FS 10 (±8 g)
		{0x24, 0x40}, // FIFO_EN
		{0x2E, 0x80}, // Stream mode
	} {
		if got := chip.Register(tc.reg); got != tc.want {
			t.Errorf("register %#02x = %#02x, want %#02x", tc.reg, got, tc.want)
		}
	}
}
