package hx711

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/hx711/hx711test"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// rig is a simulated HX711 whose pins and clock, as the driver sees them,
// log every operation in order:
//
//	U, D  PD_SCK rising and falling edge
//	r, R  DOUT read low, high
//	C     a call of the driver's Clock
//
// The chip itself runs on the same clock unlogged.
type rig struct {
	clk    *sensortest.Clock
	chip   *hx711test.Chip
	events []byte
	sck    gpio.Level
}

func newRig() *rig {
	clk := sensortest.NewClock(t0)
	return &rig{clk: clk, chip: &hx711test.Chip{Clock: clk}}
}

func (r *rig) Now() time.Time {
	r.events = append(r.events, 'C')
	return r.clk.Now()
}

func (r *rig) Sleep(ctx context.Context, d time.Duration) error {
	r.events = append(r.events, 'C')
	return r.clk.Sleep(ctx, d)
}

type spyDOUT struct {
	gpio.PinIn
	r *rig
}

func (p spyDOUT) Read() gpio.Level {
	l := p.PinIn.Read()
	p.r.events = append(p.r.events, "rR"[b2i(bool(l))])
	return l
}

type spySCK struct {
	gpio.PinOut
	r *rig
}

func (p spySCK) Out(l gpio.Level) error {
	if l != p.r.sck {
		p.r.sck = l
		p.r.events = append(p.r.events, "DU"[b2i(bool(l))])
	}
	return p.PinOut.Out(l)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r *rig) dout() gpio.PinIn    { return spyDOUT{r.chip.DOUT(), r} }
func (r *rig) sckPin() gpio.PinOut { return spySCK{r.chip.SCK(), r} }

// open runs New on the rig's pins.
func (r *rig) open(t *testing.T, opts Options) *Dev {
	t.Helper()
	opts.Clock = r
	d, err := New(context.Background(), r.dout(), r.sckPin(), &opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// checkTransfers checks that every transfer had want pulses and that no
// clock call interrupted one. A stretch may also end with PD_SCK raised
// before a clock call: a power-down (Halt, or the reset of New and Sense).
func checkTransfers(t *testing.T, r *rig, want int) {
	t.Helper()
	runs := strings.Split(string(r.events), "C")
	for i, run := range runs {
		u := strings.Count(run, "U")
		if strings.HasSuffix(run, "U") && i < len(runs)-1 {
			u-- // PD_SCK raised, then the clock: a deliberate power-down
		}
		switch {
		case u == 0 || u == want:
		default:
			t.Errorf("stretch %d between clock calls has %d PD_SCK pulses, want 0 or %d: %q", i, u, want, run)
		}
	}
	if s := r.chip.Stats(); s.Errors != 0 {
		t.Errorf("the chip saw %d serial errors", s.Errors)
	}
}

// weight runs d.Sense and returns its one sensor.Weight.
func weight(t *testing.T, d *Dev) sensor.Weight {
	t.Helper()
	vs, err := d.Sense(context.Background())
	if err != nil {
		t.Fatalf("Sense: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("Sense returned %d values, want 1", len(vs))
	}
	w, ok := vs[0].(sensor.Weight)
	if !ok {
		t.Fatalf("Sense returned a %T, want sensor.Weight", vs[0])
	}
	return w
}

func wantError(t *testing.T, err error, cause error, step string) *sensor.Error {
	t.Helper()
	var e *sensor.Error
	if !errors.As(err, &e) || !errors.Is(err, cause) {
		t.Fatalf("error = %v, want a *sensor.Error wrapping %v", err, cause)
	}
	if e.Device != "hx711" || e.Bus != "DOUT=DOUT PD_SCK=PD_SCK" {
		t.Errorf("Device, Bus = %q, %q", e.Device, e.Bus)
	}
	if step != "" && e.Step != step {
		t.Errorf("Step = %q, want %q", e.Step, step)
	}
	return e
}

// TestDev_RoundTrip sets a load on the simulated chip and reads it back.
func TestDev_RoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		rate    int
		setup   func(c *hx711test.Chip)
		opts    Options
		pulses  int
		channel byte
		gain    int
		wantRaw int32   // exact when there is no noise; 0: not checked
		wantG   float64 // grams
		tolG    float64
	}{
		{
			name:  "A/128",
			setup: func(c *hx711test.Chip) { c.Tare, c.Scale, c.Load = 8421, 21.37, 1234.5 },
			opts:  Options{Channel: 'A', Gain: 128, Tare: 8421, Scale: 21.37},
			// 8421 + 1234.5 × 21.37 = 34802.265
			pulses: 25, channel: 'A', gain: 128, wantRaw: 34802, wantG: 1234.5, tolG: 1 / 21.37,
		},
		{
			name:   "defaults are A/128",
			setup:  func(c *hx711test.Chip) { c.Tare, c.Scale, c.Load = 8421, 21.37, 250 },
			opts:   Options{Tare: 8421, Scale: 21.37},
			pulses: 25, channel: 'A', gain: 128, wantRaw: 13764, wantG: 250, tolG: 1 / 21.37,
		},
		{
			name: "A/64, one sample",
			// The chip's counts halve at gain 64: tare 4210, 10.685 counts/g.
			setup:  func(c *hx711test.Chip) { c.Tare, c.Scale, c.Load = 8420, 21.37, 5000 },
			opts:   Options{Channel: 'A', Gain: 64, Tare: 4210, Scale: 10.685, Samples: 1},
			pulses: 27, channel: 'A', gain: 64, wantRaw: 57635, wantG: 5000, tolG: 1 / 10.685,
		},
		{
			name:   "B/32, negative",
			setup:  func(c *hx711test.Chip) { c.RawB = -20000; c.RawA = 777 },
			opts:   Options{Channel: 'B', Tare: 0, Scale: 1},
			pulses: 26, channel: 'B', gain: 32, wantRaw: -20000, wantG: -20000, tolG: 0,
		},
		{
			name:   "negative load below tare",
			setup:  func(c *hx711test.Chip) { c.Tare, c.Scale, c.Load = -300000, 50, -2000 },
			opts:   Options{Tare: -300000, Scale: 50},
			pulses: 25, channel: 'A', gain: 128, wantRaw: -400000, wantG: -2000, tolG: 0,
		},
		{
			name:   "80 samples/s",
			rate:   80,
			setup:  func(c *hx711test.Chip) { c.Tare, c.Scale, c.Load = 8421, 21.37, 1234.5 },
			opts:   Options{Tare: 8421, Scale: 21.37},
			pulses: 25, channel: 'A', gain: 128, wantRaw: 34802, wantG: 1234.5, tolG: 1 / 21.37,
		},
		{
			name: "noise and a spike",
			setup: func(c *hx711test.Chip) {
				c.Tare, c.Scale, c.Load = 8421, 21.37, 1234.5
				c.Noise, c.Seed = 40, 7
				c.SpikeEvery, c.SpikeSize = 5, 400000
			},
			opts:   Options{Tare: 8421, Scale: 21.37},
			pulses: 25, channel: 'A', gain: 128, wantG: 1234.5, tolG: 41 / 21.37,
		},
		{
			name:   "negative scale",
			setup:  func(c *hx711test.Chip) { c.Tare, c.Scale, c.Load = 1000, -20, 300 },
			opts:   Options{Tare: 1000, Scale: -20},
			pulses: 25, channel: 'A', gain: 128, wantRaw: -5000, wantG: 300, tolG: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.chip.Rate = tt.rate
			tt.setup(r.chip)
			d := r.open(t, tt.opts)
			for i := range 3 {
				w := weight(t, d)
				if tt.wantRaw != 0 && w.Raw != tt.wantRaw {
					t.Errorf("Sense %d: Raw = %d, want %d", i, w.Raw, tt.wantRaw)
				}
				if g := float64(w.Mass) / float64(physic.Gram); math.Abs(g-tt.wantG) > tt.tolG+1e-9 {
					t.Errorf("Sense %d: Mass = %v (%v g), want %v g ± %v", i, w.Mass, g, tt.wantG, tt.tolG)
				}
			}
			if ch, g := r.chip.Selected(); ch != tt.channel || g != tt.gain {
				t.Errorf("chip selected %c/%d, want %c/%d", ch, g, tt.channel, tt.gain)
			}
			checkTransfers(t, r, tt.pulses)
		})
	}
}

// TestDev_Weight checks (raw − Tare) / Scale against hand-worked values.
func TestDev_Weight(t *testing.T) {
	for _, tt := range []struct {
		raw, tare int32
		scale     float64
		want      physic.Mass
	}{
		{34802, 8421, 21.37, 1234487599438 * physic.NanoGram}, // 26381 / 21.37 g
		{8421, 8421, 21.37, 0},
		// The extremes, with a scale of 2^-6 counts per gram (exact in binary).
		{-8388607, 8388607, 0.015625, -1073741696 * physic.Gram},
		{8388606, -8388607, -0.015625, -1073741632 * physic.Gram},
		{100, 0, 3, 33333333333 * physic.NanoGram},
	} {
		r := newRig()
		r.chip.RawA = tt.raw
		d := r.open(t, Options{Tare: tt.tare, Scale: tt.scale, Samples: 1})
		w := weight(t, d)
		if w.Raw != tt.raw || w.Mass != tt.want {
			t.Errorf("raw %d, tare %d, scale %v: got %d, %v; want %d, %v", tt.raw, tt.tare, tt.scale, w.Raw, w.Mass, tt.raw, tt.want)
		}
	}
}

// TestDev_BitOrder checks the exact pin sequence of one transfer: after DOUT
// goes low, 24 pulses each followed by a read of the bit, MSB first (Fig. 2),
// then the 25th pulse and a check that DOUT is back high, then the pulses
// that select the next conversion (Table 3).
func TestDev_BitOrder(t *testing.T) {
	for _, tt := range []struct {
		code   uint32
		opts   Options
		extras int
	}{
		{0x800001, Options{Scale: 1, Samples: 1}, 0},
		{0x000001, Options{Scale: 1, Samples: 1}, 0},
		{0x7FFFFE, Options{Scale: 1, Samples: 1}, 0},
		{0xA5C33C, Options{Channel: 'A', Gain: 64, Scale: 1, Samples: 1}, 2},
		{0xFFFF38, Options{Channel: 'B', Scale: 1, Samples: 1}, 1},
	} {
		r := newRig()
		r.chip.RawA, r.chip.RawB = decode(tt.code), decode(tt.code)
		d := r.open(t, tt.opts)
		r.events = nil
		if w := weight(t, d); w.Raw != decode(tt.code) {
			t.Errorf("%06Xh: Raw = %d, want %d", tt.code, w.Raw, decode(tt.code))
		}
		var want strings.Builder
		for bit := 23; bit >= 0; bit-- {
			want.WriteString("UD")
			want.WriteByte("rR"[tt.code>>bit&1])
		}
		want.WriteString("UDR")
		want.WriteString(strings.Repeat("UD", tt.extras))
		runs := strings.Split(string(r.events), "C")
		if got := runs[len(runs)-1]; got != want.String() {
			t.Errorf("%06Xh: transfer\n got %q\nwant %q", tt.code, got, want.String())
		}
	}
}

func TestDev_Saturation(t *testing.T) {
	r := newRig()
	d := r.open(t, Options{Scale: 1})
	for _, raw := range []int32{hx711test.CodeMax, hx711test.CodeMin} {
		r.chip.RawA = raw
		_, err := d.Sense(context.Background())
		e := wantError(t, err, sensor.ErrNotReading, "read conversion")
		if !e.Retryable() {
			t.Errorf("saturation at %d is not retryable", raw)
		}
	}
	// Beyond full scale in grams: the chip clamps, the driver refuses.
	r.chip.Tare, r.chip.Scale, r.chip.Load = 0, 100, 1e6
	_, err := d.Sense(context.Background())
	wantError(t, err, sensor.ErrNotReading, "read conversion")

	// Back in range, without a reset.
	r.chip.Scale, r.chip.RawA = 0, 1234
	downs := r.chip.Stats().PowerDowns
	if w := weight(t, d); w.Raw != 1234 {
		t.Errorf("Raw = %d, want 1234", w.Raw)
	}
	if got := r.chip.Stats().PowerDowns; got != downs {
		t.Errorf("a saturated reading reset the chip: %d power-downs, want %d", got, downs)
	}
	checkTransfers(t, r, 25)
}

func TestDev_Outliers(t *testing.T) {
	t.Run("spike dropped", func(t *testing.T) {
		r := newRig()
		r.chip.RawA, r.chip.SpikeEvery, r.chip.SpikeSize = -1000, 5, 1000
		d := r.open(t, Options{Scale: 1})
		for range 4 {
			if w := weight(t, d); w.Raw != -1000 {
				t.Errorf("Raw = %d, want -1000", w.Raw)
			}
		}
	})
	t.Run("no single measurement", func(t *testing.T) {
		r := newRig()
		r.chip.RawA, r.chip.Noise, r.chip.Seed = 0, 2000000, 1
		d := r.open(t, Options{Scale: 1})
		_, err := d.Sense(context.Background())
		wantError(t, err, sensor.ErrNotReading, "reject outliers")
		if !errors.Is(err, errUnstable) {
			t.Errorf("error %v does not wrap errUnstable", err)
		}
	})
}

// TestDev_Settling checks which conversions a Sense reads at 10 samples/s:
// New resets the chip at 0.1 ms and reads (and drops) the conversion at
// 100 ms; the first Sense drops those at 200 and 300 ms, which come within
// the 400 ms settling time, and keeps five from 400 ms on.
func TestDev_Settling(t *testing.T) {
	r := newRig()
	d := r.open(t, Options{Scale: 1})
	if got := r.chip.Stats().Reads; got != 1 {
		t.Errorf("New read %d conversions, want 1", got)
	}
	weight(t, d)
	if got := r.chip.Stats().Reads; got != 8 {
		t.Errorf("after the first Sense the chip counted %d reads, want 8", got)
	}
	weight(t, d)
	if got := r.chip.Stats().Reads; got != 13 {
		t.Errorf("after the second Sense the chip counted %d reads, want 13", got)
	}
	if got, want := r.clk.Now().Sub(t0), 1300*time.Millisecond+100*time.Microsecond; got != want {
		t.Errorf("two Senses took %v of clock, want %v", got, want)
	}
}

func TestDev_Disconnected(t *testing.T) {
	t.Run("at New", func(t *testing.T) {
		r := newRig()
		r.chip.Disconnected = true
		_, err := New(context.Background(), r.dout(), r.sckPin(), &Options{Clock: r, Scale: 1})
		wantError(t, err, sensor.ErrNoDevice, "wait for DOUT low")
		if p := r.chip.DOUT().Pull(); p != gpio.PullUp {
			t.Errorf("DOUT pull after the probe = %s, want PullUp", p)
		}
	})
	t.Run("after New", func(t *testing.T) {
		r := newRig()
		r.chip.RawA = 42
		d := r.open(t, Options{Scale: 1})
		r.chip.Disconnected = true
		_, err := d.Sense(context.Background())
		e := wantError(t, err, sensor.ErrNoDevice, "wait for DOUT low")
		if !e.Retryable() {
			t.Error("ErrNoDevice is not retryable")
		}
		// Plugged back in: the next Sense resets the chip and reads.
		r.chip.Disconnected = false
		downs := r.chip.Stats().PowerDowns
		if w := weight(t, d); w.Raw != 42 {
			t.Errorf("Raw = %d, want 42", w.Raw)
		}
		if got := r.chip.Stats().PowerDowns; got != downs+1 {
			t.Errorf("%d power-downs, want %d: no reset after the failure", got, downs+1)
		}
	})
}

func TestDev_Timeout(t *testing.T) {
	t.Run("at New", func(t *testing.T) {
		r := newRig()
		r.chip.Stalled = true
		_, err := New(context.Background(), r.dout(), r.sckPin(), &Options{Clock: r, Scale: 1})
		wantError(t, err, sensor.ErrTimeout, "wait for DOUT low")
		if got := r.clk.Now().Sub(t0); got < readyTimeout || got > readyTimeout+10*time.Millisecond {
			t.Errorf("gave up after %v, want about %v", got, readyTimeout)
		}
	})
	t.Run("after New", func(t *testing.T) {
		r := newRig()
		d := r.open(t, Options{Scale: 1})
		r.chip.Stalled = true
		_, err := d.Sense(context.Background())
		wantError(t, err, sensor.ErrTimeout, "wait for DOUT low")
		r.chip.Stalled = false
		weight(t, d)
	})
}

func TestDev_Halt(t *testing.T) {
	r := newRig()
	r.chip.RawA = 99
	d := r.open(t, Options{Scale: 1})
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Second)
	if !r.chip.PoweredDown() {
		t.Fatal("the chip is not powered down after Halt")
	}
	downs := r.chip.Stats().PowerDowns
	if w := weight(t, d); w.Raw != 99 {
		t.Errorf("Raw after Halt = %d, want 99", w.Raw)
	}
	if got := r.chip.Stats().PowerDowns; got != downs+1 {
		t.Errorf("%d power-downs, want %d", got, downs+1)
	}

	// Sense right after Halt, with no time between: the driver itself holds
	// PD_SCK high long enough.
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if w := weight(t, d); w.Raw != 99 {
		t.Errorf("Raw after Halt = %d, want 99", w.Raw)
	}
	if got := r.chip.Stats().PowerDowns; got != downs+2 {
		t.Errorf("%d power-downs, want %d", got, downs+2)
	}
	checkTransfers(t, r, 25)
}

func TestDev_Cancelled(t *testing.T) {
	r := newRig()
	d := r.open(t, Options{Scale: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Sense(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sense = %v, want context.Canceled", err)
	}
	if _, err := New(ctx, r.dout(), r.sckPin(), &Options{Clock: r, Scale: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("New = %v, want context.Canceled", err)
	}
}

func TestNew_Options(t *testing.T) {
	tests := []struct {
		name string
		opts *Options
	}{
		{"nil", nil},
		{"no scale", &Options{}},
		{"NaN scale", &Options{Scale: math.NaN()}},
		{"infinite scale", &Options{Scale: math.Inf(-1)}},
		{"scale too small", &Options{Scale: MinScale / 2}},
		{"channel C", &Options{Channel: 'C', Scale: 1}},
		{"lower-case channel", &Options{Channel: 'a', Scale: 1}},
		{"A/32", &Options{Channel: 'A', Gain: 32, Scale: 1}},
		{"B/128", &Options{Channel: 'B', Gain: 128, Scale: 1}},
		{"B/64", &Options{Channel: 'B', Gain: 64, Scale: 1}},
		{"gain 100", &Options{Gain: 100, Scale: 1}},
		{"negative samples", &Options{Scale: 1, Samples: -1}},
		{"too many samples", &Options{Scale: 1, Samples: MaxSamples + 1}},
		{"tare above 24 bits", &Options{Scale: 1, Tare: 0x800000}},
		{"tare below 24 bits", &Options{Scale: 1, Tare: -0x800001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			_, err := New(context.Background(), r.dout(), r.sckPin(), tt.opts)
			e := wantError(t, err, sensor.ErrConfig, "check options")
			if e.Retryable() {
				t.Error("a configuration error is retryable")
			}
			if len(r.events) != 0 {
				t.Errorf("New touched the pins with bad options: %q", r.events)
			}
		})
	}
	t.Run("no pins", func(t *testing.T) {
		r := newRig()
		if _, err := New(context.Background(), nil, r.sckPin(), &Options{Scale: 1}); !errors.Is(err, sensor.ErrConfig) {
			t.Errorf("no DOUT: %v", err)
		}
		if _, err := New(context.Background(), r.dout(), nil, &Options{Scale: 1}); !errors.Is(err, sensor.ErrConfig) {
			t.Errorf("no PD_SCK: %v", err)
		}
	})
	t.Run("limits accepted", func(t *testing.T) {
		for _, o := range []Options{
			{Scale: MinScale, Tare: 0x7FFFFF, Samples: MaxSamples},
			{Scale: -MinScale, Tare: -0x800000, Samples: 1},
		} {
			newRig().open(t, o)
		}
	})
}

func TestDev_String(t *testing.T) {
	d := newRig().open(t, Options{Scale: 1, Name: "floor-scale"})
	if got, want := d.String(), "hx711 floor-scale on DOUT=DOUT PD_SCK=PD_SCK"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	d.name = ""
	if got, want := d.String(), "hx711 on DOUT=DOUT PD_SCK=PD_SCK"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// failSCK is a PD_SCK line whose writes start failing after ok of them.
type failSCK struct {
	gpio.PinOut
	ok *int
}

func (p failSCK) Out(l gpio.Level) error {
	if *p.ok <= 0 {
		return errors.New("write /dev/gpiochip0: input/output error")
	}
	*p.ok--
	return p.PinOut.Out(l)
}

func TestDev_BusErrors(t *testing.T) {
	t.Run("PD_SCK fails at New", func(t *testing.T) {
		r := newRig()
		ok := 0
		_, err := New(context.Background(), r.dout(), failSCK{r.sckPin(), &ok}, &Options{Clock: r, Scale: 1})
		wantError(t, err, sensor.ErrBus, "power up")
	})
	t.Run("PD_SCK fails mid-transfer", func(t *testing.T) {
		r := newRig()
		ok := 1 << 30
		d, err := New(context.Background(), r.dout(), failSCK{r.sckPin(), &ok}, &Options{Clock: r, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		ok = 9
		_, err = d.Sense(context.Background())
		wantError(t, err, sensor.ErrBus, "clock out conversion")
		ok = 1 << 30
		weight(t, d)
	})
	t.Run("PD_SCK fails at Halt", func(t *testing.T) {
		r := newRig()
		ok := 1 << 30
		d, err := New(context.Background(), r.dout(), failSCK{r.sckPin(), &ok}, &Options{Clock: r, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		ok = 0
		wantError(t, d.Halt(), sensor.ErrBus, "power down")
	})
	t.Run("DOUT refuses its pull", func(t *testing.T) {
		r := newRig()
		// gpiotest.Pin refuses edge detection without EdgesChan; a pin that
		// refuses In at all is made the same way.
		pin := refuseIn{&gpiotest.Pin{N: "DOUT"}}
		_, err := New(context.Background(), pin, r.sckPin(), &Options{Clock: r, Scale: 1})
		wantError(t, err, sensor.ErrBus, "configure DOUT")
	})
	t.Run("DOUT stuck low", func(t *testing.T) {
		r := newRig()
		pin := stuckLow{&gpiotest.Pin{N: "DOUT"}}
		_, err := New(context.Background(), pin, r.sckPin(), &Options{Clock: r, Scale: 1})
		wantError(t, err, sensor.ErrBus, "clock out conversion")
	})
}

type refuseIn struct{ *gpiotest.Pin }

func (refuseIn) In(gpio.Pull, gpio.Edge) error { return errors.New("pull not supported") }

// stuckLow is a DOUT shorted to ground.
type stuckLow struct{ *gpiotest.Pin }

func (stuckLow) Read() gpio.Level { return gpio.Low }
