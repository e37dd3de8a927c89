package hx711test_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/hx711"
	"github.com/waybill-eu/waybill/drivers/hx711/hx711test"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// host drives the chip's pins by hand, as the datasheet describes.
type host struct {
	t    *testing.T
	clk  *sensortest.Clock
	chip *hx711test.Chip
	dout gpio.PinIn
	sck  gpio.PinOut
}

func newHost(t *testing.T) *host {
	clk := sensortest.NewClock(t0)
	c := &hx711test.Chip{Clock: clk}
	return &host{t: t, clk: clk, chip: c, dout: c.DOUT(), sck: c.SCK()}
}

func (h *host) pulse() {
	h.t.Helper()
	if err := h.sck.Out(gpio.High); err != nil {
		h.t.Fatal(err)
	}
	if err := h.sck.Out(gpio.Low); err != nil {
		h.t.Fatal(err)
	}
}

// waitReady advances the clock 1 ms at a time until DOUT is low.
func (h *host) waitReady() time.Duration {
	h.t.Helper()
	start := h.clk.Now()
	for h.dout.Read() == gpio.High {
		if h.clk.Now().Sub(start) > time.Second {
			h.t.Fatal("DOUT stayed high for 1 s")
		}
		h.clk.Advance(time.Millisecond)
	}
	return h.clk.Now().Sub(start)
}

// read clocks out one conversion with n pulses and returns its 24 bits,
// MSB first (Fig. 2), and DOUT after the 25th pulse.
func (h *host) read(n int) (code uint32, after gpio.Level) {
	h.t.Helper()
	for range 24 {
		h.pulse()
		code <<= 1
		if h.dout.Read() == gpio.High {
			code |= 1
		}
	}
	h.pulse()
	after = h.dout.Read()
	for range n - 25 {
		h.pulse()
	}
	return code, after
}

func TestChip_SerialInterface(t *testing.T) {
	h := newHost(t)
	h.chip.RawA, h.chip.RawB = -2, 0x123456
	if got := h.waitReady(); got != 100*time.Millisecond {
		t.Errorf("first conversion after %v, want 100ms at 10 samples/s", got)
	}
	if ch, g := h.chip.Selected(); ch != 'A' || g != 128 {
		t.Errorf("after power-on the chip selects %c/%d, want A/128", ch, g)
	}
	code, after := h.read(26) // selects B/32 for the next conversion (Table 3)
	if code != 0xFFFFFE || after != gpio.High {
		t.Errorf("read = %06Xh, DOUT after the 25th pulse %s; want FFFFFEh, High", code, after)
	}
	if ch, g := h.chip.Selected(); ch != 'B' || g != 32 {
		t.Errorf("after 26 pulses the chip selects %c/%d, want B/32", ch, g)
	}
	if h.dout.Read() != gpio.High {
		t.Error("DOUT low right after a read: no conversion can be ready yet")
	}
	h.waitReady()
	if code, _ := h.read(27); code != 0x123456 {
		t.Errorf("read after selecting B = %06Xh, want 123456h", code)
	}
	if ch, g := h.chip.Selected(); ch != 'A' || g != 64 {
		t.Errorf("after 27 pulses the chip selects %c/%d, want A/64", ch, g)
	}
	h.waitReady()
	h.read(25)
	if ch, g := h.chip.Selected(); ch != 'A' || g != 128 {
		t.Errorf("after 25 pulses the chip selects %c/%d, want A/128", ch, g)
	}
	if s := h.chip.Stats(); s.Reads != 3 || s.Errors != 0 || s.PowerDowns != 0 {
		t.Errorf("Stats = %+v, want 3 reads and nothing else", s)
	}
}

func TestChip_ConversionPeriod(t *testing.T) {
	for _, rate := range []int{10, 80} {
		h := newHost(t)
		h.chip.Rate = rate
		h.waitReady()
		h.read(25)
		// Conversions complete on a fixed grid from power-on; the host
		// polls every millisecond.
		period := time.Second / time.Duration(rate)
		h.waitReady()
		if got := h.clk.Now().Sub(t0); got < 2*period || got >= 2*period+time.Millisecond {
			t.Errorf("%d samples/s: second conversion seen at %v, want within 1 ms after %v", rate, got, 2*period)
		}
	}
}

func TestChip_GainAndLoad(t *testing.T) {
	h := newHost(t)
	h.chip.Tare, h.chip.Scale, h.chip.Load = 8420, 21.37, 1000 // 29790 counts at gain 128
	h.waitReady()
	if code, _ := h.read(27); code != 29790 {
		t.Errorf("A/128 = %d, want 29790", code)
	}
	h.waitReady()
	if code, _ := h.read(27); code != 14895 {
		t.Errorf("A/64 = %d, want 14895", code)
	}
}

func TestChip_Saturation(t *testing.T) {
	for _, tt := range []struct {
		load float64
		want uint32
	}{{1e9, 0x7FFFFF}, {-1e9, 0x800000}, {math.NaN(), 0}} {
		h := newHost(t)
		h.chip.Scale, h.chip.Load = 100, tt.load
		h.waitReady()
		if code, _ := h.read(25); code != tt.want {
			t.Errorf("load %v g: %06Xh, want %06Xh", tt.load, code, tt.want)
		}
	}
}

func TestChip_PowerDown(t *testing.T) {
	h := newHost(t)
	h.waitReady()
	h.read(26) // B/32
	if err := h.sck.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(hx711test.PowerDownTime)
	if h.chip.PoweredDown() {
		t.Error("powered down after exactly 60 µs; the datasheet says longer than")
	}
	h.clk.Advance(time.Microsecond)
	if !h.chip.PoweredDown() || h.dout.Read() != gpio.High {
		t.Error("not powered down, or DOUT not high, after 61 µs")
	}
	if err := h.sck.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if ch, g := h.chip.Selected(); ch != 'A' || g != 128 {
		t.Errorf("after reset the chip selects %c/%d, want A/128", ch, g)
	}
	if got := h.waitReady(); got != 100*time.Millisecond {
		t.Errorf("first conversion after reset came after %v, want 100ms", got)
	}
	if s := h.chip.Stats(); s.PowerDowns != 1 || s.Errors != 0 {
		t.Errorf("Stats = %+v, want one power-down", s)
	}
}

func TestChip_SerialErrors(t *testing.T) {
	h := newHost(t)
	h.pulse() // not ready: a stray pulse
	h.waitReady()
	h.read(28) // one pulse too many (Table 3)
	if s := h.chip.Stats(); s.Errors != 2 {
		t.Errorf("Errors = %d, want 2", s.Errors)
	}
}

func TestChip_Faults(t *testing.T) {
	t.Run("disconnected", func(t *testing.T) {
		h := newHost(t)
		h.chip.Disconnected = true
		for _, tt := range []struct {
			pull gpio.Pull
			want gpio.Level
		}{{gpio.PullUp, gpio.High}, {gpio.PullDown, gpio.Low}, {gpio.Float, gpio.High}} {
			if err := h.dout.In(tt.pull, gpio.NoEdge); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(time.Second)
			if got := h.dout.Read(); got != tt.want {
				t.Errorf("pull %s: DOUT = %s, want %s", tt.pull, got, tt.want)
			}
		}
	})
	t.Run("stalled", func(t *testing.T) {
		h := newHost(t)
		h.chip.Stalled = true
		h.clk.Advance(time.Second)
		if h.dout.Read() != gpio.High {
			t.Error("DOUT low on a stalled chip")
		}
	})
	t.Run("spikes", func(t *testing.T) {
		h := newHost(t)
		h.chip.RawA, h.chip.SpikeEvery, h.chip.SpikeSize = 10, 3, -1000
		var got []int32
		for range 6 {
			h.waitReady()
			code, _ := h.read(25)
			got = append(got, int32(code<<8)>>8)
		}
		want := []int32{10, 10, -990, 10, 10, -990}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("conversions = %v, want %v", got, want)
			}
		}
	})
	t.Run("noise", func(t *testing.T) {
		h := newHost(t)
		h.chip.RawA, h.chip.Noise, h.chip.Seed = 0, 5, 3
		seen := map[int32]bool{}
		for range 200 {
			h.waitReady()
			code, _ := h.read(25)
			v := int32(code<<8) >> 8
			if v < -5 || v > 5 {
				t.Fatalf("conversion %d outside ±5", v)
			}
			seen[v] = true
		}
		if len(seen) != 11 {
			t.Errorf("noise took %d distinct values, want all 11 of -5..5", len(seen))
		}
	})
	t.Run("pins", func(t *testing.T) {
		h := newHost(t)
		if err := h.dout.In(gpio.PullUp, gpio.FallingEdge); err == nil {
			t.Error("DOUT accepted edge detection")
		}
		if err := h.sck.PWM(gpio.DutyHalf, physic.KiloHertz); err == nil {
			t.Error("PD_SCK accepted PWM")
		}
		if h.dout.WaitForEdge(time.Millisecond) {
			t.Error("WaitForEdge reported an edge")
		}
	})
}

// TestChip_RoundTrip reads loads back through the driver.
func TestChip_RoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name    string
		channel byte
		gain    int
		tare    int32
		scale   float64
	}{
		{"A/128", 'A', 128, 8421, 21.37},
		{"A/64", 'A', 64, 4210, 10.685},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := sensortest.NewClock(t0)
			chip := &hx711test.Chip{Clock: clk, Rate: 80, Tare: 8420, Scale: 21.37, Noise: 30, Seed: 11, SpikeEvery: 9, SpikeSize: 250000}
			d, err := hx711.New(context.Background(), chip.DOUT(), chip.SCK(),
				&hx711.Options{Clock: clk, Channel: tt.channel, Gain: tt.gain, Tare: tt.tare, Scale: tt.scale, Name: "floor-scale"})
			if err != nil {
				t.Fatal(err)
			}
			for _, load := range []float64{0, 1, 250, 1234.5, 20000, -40} {
				chip.Lock()
				chip.Load = load
				chip.Unlock()
				vs, err := d.Sense(context.Background())
				if err != nil {
					t.Fatalf("load %v g: %v", load, err)
				}
				w := vs[0].(sensor.Weight)
				got := float64(w.Mass) / float64(physic.Gram)
				// Within the noise (±30 counts at gain 128) plus one count.
				if tol := 31 / 21.37; math.Abs(got-load) > tol {
					t.Errorf("load %v g read back as %v (raw %d), want within %.2f g", load, w.Mass, w.Raw, tol)
				}
			}
			if s := chip.Stats(); s.Errors != 0 {
				t.Errorf("the chip saw %d serial errors", s.Errors)
			}
			if err := d.Halt(); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Millisecond)
			if !chip.PoweredDown() {
				t.Error("Halt did not power the chip down")
			}
		})
	}
}

// TestChip_SystemClock runs the chip and the driver in real time.
func TestChip_SystemClock(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a second of real time")
	}
	chip := &hx711test.Chip{Rate: 80, RawA: 123456}
	d, err := hx711.New(context.Background(), chip.DOUT(), chip.SCK(), &hx711.Options{Scale: 1, Samples: 3})
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler may hold a pulse high past 60 µs and reset the chip,
	// as on a real device; a second try is then expected to succeed.
	for try := 1; ; try++ {
		vs, err := d.Sense(context.Background())
		if err == nil {
			if w := vs[0].(sensor.Weight); w.Raw != 123456 {
				t.Errorf("Raw = %d, want 123456", w.Raw)
			}
			break
		}
		if try == 3 {
			t.Fatal(err)
		}
		t.Logf("try %d: %v", try, err)
	}
}
