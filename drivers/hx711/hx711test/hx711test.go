// Package hx711test simulates an Avia Semiconductor HX711 load-cell ADC on a
// pair of GPIO pins, following its datasheet: the serial interface of Fig. 2
// and Table 3, the output coding of "Output Data Rate and Format" (Table 2),
// and the power-down of Fig. 3.
//
// [Chip.DOUT] is the chip's data output as a gpio.PinIn and [Chip.SCK] its
// PD_SCK input as a gpio.PinOut; hand them to hx711.New as the real pins.
// The chip converts continuously on its Clock: conversions complete every
// 1/Rate seconds counted from the last reset, so after a read DOUT stays
// high until the next boundary. With a simulated clock that only moves when
// the driver sleeps, the driver's own polling advances the chip; with
// sensor.SystemClock the chip runs in real time. Time on the Clock also
// decides a power-down: PD_SCK high for more than 60 µs.
//
// Simplifications: a conversion's value is fixed when its read starts, from
// the physical state and the input and gain then selected; the selection
// made by a read's 25 to 27 pulses applies to every conversion read after
// it (so the read that changes the gain returns a conversion made with the
// old one, as on the chip); settling after reset is instant.
package hx711test

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// PowerDownTime is how long PD_SCK must stay high for the chip to power
// down (Fig. 3: "longer than 60µs").
const PowerDownTime = 60 * time.Microsecond

// Output codes at the limits of the 24-bit range ("Output Data Rate and
// Format", Table 2); the chip
// saturates there beyond full scale.
const (
	CodeMax = 0x7FFFFF
	CodeMin = -0x800000
)

// Chip is one simulated HX711 with a load cell on channel A and a voltage on
// channel B. The zero Chip runs at 10 samples/s on the system clock and
// reports RawA and RawB, both 0.
//
// Set Clock and Rate before the first pin operation. The physical state and
// fault fields may be changed at any time, holding the embedded Mutex if a
// driver may be using the pins from another goroutine.
type Chip struct {
	// Clock paces conversions and times PD_SCK; nil means
	// sensor.SystemClock.
	Clock sensor.Clock
	// Rate is the output data rate in samples per second: 10 (RATE pin low)
	// or 80 (RATE high); 0 means 10.
	Rate int

	sync.Mutex

	// Load is the mass on the channel A load cell, in grams.
	Load float64
	// Tare is the channel A count at zero load, at gain 128.
	Tare int32
	// Scale is the channel A counts per gram at gain 128. At gain 64 the
	// chip reports half of Tare + Load·Scale. When Scale is 0, channel A
	// reports RawA at any gain instead.
	Scale float64
	// RawA is channel A's count when Scale is 0.
	RawA int32
	// RawB is channel B's count (gain 32).
	RawB int32

	// Disconnected unplugs the module: DOUT floats (it reads as its pull
	// resistor sets it, high without one) and PD_SCK pulses are lost.
	Disconnected bool
	// Stalled stops the converter: DOUT stays driven high.
	Stalled bool
	// Noise adds to each conversion a uniform error in [-Noise, +Noise]
	// counts, drawn from a generator seeded with Seed.
	Noise int32
	Seed  uint64
	// Every SpikeEvery-th conversion (counted from the first) is off by
	// SpikeSize counts; 0 means none.
	SpikeEvery int
	SpikeSize  int32

	// The chip's state.
	started     bool
	t0          time.Time // last reset: conversions complete at t0 + k/Rate
	readyAt     time.Time // the next conversion completes
	sck         gpio.Level
	sckHighAt   time.Time
	stray       bool // the last rising edge of PD_SCK was outside a read
	reading     bool
	pulses      int   // PD_SCK pulses of the current read
	data        int32 // the conversion being read
	channel     byte  // input and gain of the conversions read next
	gain        int
	pull        gpio.Pull
	conversions int
	rng         *rand.Rand
	stats       Stats
}

// Stats counts what the chip saw.
type Stats struct {
	Reads      int // reads that reached the 25th pulse
	Errors     int // serial errors: pulses outside a read, or more than 27 in one (Table 3)
	PowerDowns int // power-downs ended by PD_SCK going low (Fig. 3)
}

// Stats returns the counters.
func (c *Chip) Stats() Stats {
	c.Lock()
	defer c.Unlock()
	return c.stats
}

// Selected returns the input and gain the next conversion is read with.
func (c *Chip) Selected() (channel byte, gain int) {
	now := c.now()
	c.Lock()
	defer c.Unlock()
	c.syncLocked(now)
	return c.channel, c.gain
}

// PoweredDown reports whether PD_SCK has been high for more than
// PowerDownTime.
func (c *Chip) PoweredDown() bool {
	now := c.now()
	c.Lock()
	defer c.Unlock()
	c.syncLocked(now)
	return c.poweredDownLocked(now)
}

// DOUT returns the chip's data output pin.
func (c *Chip) DOUT() gpio.PinIn { return dout{c} }

// SCK returns the chip's PD_SCK input pin.
func (c *Chip) SCK() gpio.PinOut { return sck{c} }

func (c *Chip) now() time.Time { return sensor.ClockOr(c.Clock).Now() }

func (c *Chip) period() time.Duration {
	if c.Rate <= 0 {
		return time.Second / 10
	}
	return time.Second / time.Duration(c.Rate)
}

// syncLocked brings the chip's state to now: it powers the chip on at its
// first use and ends a finished read once the next conversion completes.
func (c *Chip) syncLocked(now time.Time) {
	if !c.started {
		c.started = true
		c.resetLocked(now)
	}
	if c.reading && c.pulses >= 25 && !now.Before(c.readyAt) {
		c.reading = false
	}
}

// resetLocked is the power-on reset ("Reset and Power-Down"): channel A,
// gain 128, no read in progress, the first conversion one period later.
func (c *Chip) resetLocked(now time.Time) {
	c.t0 = now
	c.readyAt = now.Add(c.period())
	c.reading, c.pulses, c.stray = false, 0, false
	c.channel, c.gain = 'A', 128
}

// nextBoundaryLocked returns the first conversion boundary after now.
func (c *Chip) nextBoundaryLocked(now time.Time) time.Time {
	p := c.period()
	k := now.Sub(c.t0)/p + 1
	return c.t0.Add(k * p)
}

func (c *Chip) poweredDownLocked(now time.Time) bool {
	return c.sck == gpio.High && now.Sub(c.sckHighAt) > PowerDownTime
}

// readLocked is DOUT's level.
func (c *Chip) readLocked(now time.Time) gpio.Level {
	switch {
	case c.Disconnected:
		return c.pull != gpio.PullDown
	case c.poweredDownLocked(now):
		return gpio.High
	case c.reading:
		if c.pulses <= 24 {
			// Pulse k shifts out bit 24-k, MSB first (Fig. 2).
			return (uint32(c.data)>>(24-c.pulses))&1 == 1
		}
		return gpio.High // "The 25th pulse ... will pull DOUT pin back to high."
	case c.Stalled || now.Before(c.readyAt):
		return gpio.High
	default:
		return gpio.Low
	}
}

// outLocked drives PD_SCK.
func (c *Chip) outLocked(now time.Time, l gpio.Level) {
	if l == c.sck {
		return
	}
	c.sck = l
	if l == gpio.High {
		c.sckHighAt = now
		if !c.Disconnected {
			c.riseLocked(now)
		}
		return
	}
	if c.Disconnected {
		return
	}
	if now.Sub(c.sckHighAt) > PowerDownTime {
		// Fig. 3: back low after a power-down, the chip resets.
		c.stats.PowerDowns++
		c.resetLocked(now)
		return
	}
	if c.stray {
		c.stray = false
		c.stats.Errors++
	}
}

// riseLocked handles a rising edge of PD_SCK.
func (c *Chip) riseLocked(now time.Time) {
	switch {
	case c.reading:
		c.pulses++
		switch c.pulses {
		case 25: // Table 3
			c.channel, c.gain = 'A', 128
			c.stats.Reads++
			c.readyAt = c.nextBoundaryLocked(now)
		case 26:
			c.channel, c.gain = 'B', 32
		case 27:
			c.channel, c.gain = 'A', 64
		default:
			if c.pulses > 27 {
				c.stats.Errors++
			}
		}
	case c.Stalled || now.Before(c.readyAt):
		// Not ready: a stray pulse, unless PD_SCK stays high long enough
		// to be a power-down; the falling edge tells.
		c.stray = true
	default:
		c.reading, c.pulses = true, 1
		c.data = c.convertLocked()
	}
}

// convertLocked is one conversion of the selected input.
func (c *Chip) convertLocked() int32 {
	c.conversions++
	var v float64
	switch {
	case c.channel == 'B':
		v = float64(c.RawB)
	case c.Scale == 0:
		v = float64(c.RawA)
	default:
		v = (float64(c.Tare) + c.Load*c.Scale) * float64(c.gain) / 128
	}
	if c.Noise > 0 {
		if c.rng == nil {
			c.rng = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9E3779B97F4A7C15))
		}
		v += float64(c.rng.Int64N(2*int64(c.Noise)+1) - int64(c.Noise))
	}
	if c.SpikeEvery > 0 && c.conversions%c.SpikeEvery == 0 {
		v += float64(c.SpikeSize)
	}
	// Beyond full scale the output saturates ("Output Data Rate and
	// Format").
	switch {
	case math.IsNaN(v):
		return 0
	case v >= CodeMax:
		return CodeMax
	case v <= CodeMin:
		return CodeMin
	}
	return int32(math.Round(v))
}

type dout struct{ c *Chip }

func (p dout) String() string         { return "HX711 DOUT" }
func (p dout) Halt() error            { return nil }
func (p dout) Name() string           { return "DOUT" }
func (p dout) Number() int            { return -1 }
func (p dout) Function() string       { return string(gpio.IN) }
func (p dout) Func() pin.Func         { return gpio.IN }
func (p dout) DefaultPull() gpio.Pull { return gpio.Float }

// In implements gpio.PinIn. DOUT has no edge detection in this simulation.
func (p dout) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("hx711test: DOUT has no edge detection")
	}
	p.c.Lock()
	defer p.c.Unlock()
	if pull != gpio.PullNoChange {
		p.c.pull = pull
	}
	return nil
}

// Read implements gpio.PinIn.
func (p dout) Read() gpio.Level {
	now := p.c.now()
	p.c.Lock()
	defer p.c.Unlock()
	p.c.syncLocked(now)
	return p.c.readLocked(now)
}

// WaitForEdge implements gpio.PinIn; it always reports a timeout.
func (p dout) WaitForEdge(time.Duration) bool { return false }

// Pull implements gpio.PinIn.
func (p dout) Pull() gpio.Pull {
	p.c.Lock()
	defer p.c.Unlock()
	return p.c.pull
}

type sck struct{ c *Chip }

func (p sck) String() string   { return "HX711 PD_SCK" }
func (p sck) Halt() error      { return nil }
func (p sck) Name() string     { return "PD_SCK" }
func (p sck) Number() int      { return -1 }
func (p sck) Function() string { return string(gpio.OUT) }
func (p sck) Func() pin.Func   { return gpio.OUT }

// Out implements gpio.PinOut.
func (p sck) Out(l gpio.Level) error {
	now := p.c.now()
	p.c.Lock()
	defer p.c.Unlock()
	p.c.syncLocked(now)
	p.c.outLocked(now, l)
	return nil
}

// PWM implements gpio.PinOut; PD_SCK takes no PWM.
func (p sck) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("hx711test: PD_SCK takes no PWM")
}

var (
	_ gpio.PinIn  = dout{}
	_ gpio.PinOut = sck{}
)
