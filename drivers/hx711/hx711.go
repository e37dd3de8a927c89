package hx711

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

const (
	// DefaultSamples is the number of conversions per Sense when
	// Options.Samples is 0.
	DefaultSamples = 5
	// MaxSamples is the most conversions per Sense New accepts (3.2 s at
	// 10 samples/s).
	MaxSamples = 32
	// MinScale is the smallest |Options.Scale| New accepts, in counts per
	// gram: 100 g per count, coarser than any load cell on this ADC, and
	// small enough that no mass overflows physic.Mass.
	MinScale = 0.01

	// readyTimeout bounds the wait for DOUT low: five conversion periods at
	// 10 samples/s ("Output Data Rate and Format").
	readyTimeout = 500 * time.Millisecond
	pollInterval = time.Millisecond
	maxPolls     = int(readyTimeout/pollInterval) + 10
	// probeTime is how long DOUT is left on the pull-down before it is read
	// to tell a floating line from a driven one.
	probeTime = time.Millisecond
	// powerDownTime is how long PD_SCK is held high to power the chip down
	// and reset it: more than the datasheet's 60 µs (Fig. 3).
	powerDownTime = 100 * time.Microsecond
	// settleTime is the output settling time after power-up, reset, input or
	// gain change at RATE=0 (10 samples/s); 50 ms at RATE=1.
	settleTime = 400 * time.Millisecond
	// maxSettleReads bounds the conversions discarded while settling:
	// 400 ms at 80 samples/s is 32.
	maxSettleReads = 40

	// MaxCode and MinCode are the output codes the chip saturates at
	// beyond full scale: 24-bit two's complement, 7FFFFFh and 800000h
	// ("Output Data Rate and Format", Table 2).
	MaxCode = 0x7FFFFF
	MinCode = -0x800000
)

// The inputs ("Analog Inputs"): channel A, for a load cell, and channel B.
const (
	ChannelA byte = 'A'
	ChannelB byte = 'B'
)

// gains lists each channel's gains, the default first, with the number of
// PD_SCK pulses per read that selects each for the next conversion
// ("Serial Interface", Table 3).
var gains = map[byte][]struct{ gain, pulses int }{
	ChannelA: {{128, 25}, {64, 27}},
	ChannelB: {{32, 26}},
}

// Gains returns the gains of channel ch, the default first: 128 and 64 on
// ChannelA, a fixed 32 on ChannelB ("Analog Inputs", Table 3). It returns
// nil for another channel.
func Gains(ch byte) []int {
	var gs []int
	for _, g := range gains[ch] {
		gs = append(gs, g.gain)
	}
	return gs
}

// Options configures an HX711. Scale has no default, so New needs options.
type Options struct {
	// Clock is what the driver polls DOUT and holds PD_SCK on; nil means
	// sensor.SystemClock.
	Clock sensor.Clock
	// Channel is the input, ChannelA (a load cell) or ChannelB; 0 means
	// ChannelA.
	Channel byte
	// Gain is one of Gains(Channel): 128 or 64 on channel A and 32 on
	// channel B (Table 3); 0 means the first, 128 on A and 32 on B.
	Gain int
	// Tare is the raw count at zero load, at this channel and gain; it must
	// be a 24-bit value.
	Tare int32
	// Scale is the raw counts per gram at this channel and gain; negative
	// for a cell wired the other way round. It must be finite and at least
	// MinScale in magnitude: 0 is an error, not a default.
	Scale float64
	// Samples is the number of conversions per Sense, 1 to MaxSamples; 0
	// means DefaultSamples.
	Samples int
	// Name, if set, is shown by String to tell scales apart, e.g.
	// "floor-scale".
	Name string
}

// Dev is an HX711 with a load cell. It implements sensor.Sensor.
type Dev struct {
	// Constant after New.
	dout    gpio.PinIn
	sck     gpio.PinOut
	clock   sensor.Clock
	pulses  int // PD_SCK pulses per read: 25, 26 or 27 (Table 3)
	tare    int32
	scale   float64
	samples int
	name    string
	bus     string

	// mu serialises Sense and Halt, and guards the following.
	mu          sync.Mutex
	awake       bool      // PD_SCK low and the chip set to pulses; false after Halt or a failure
	settleUntil time.Time // conversions seen before this are discarded
}

// New powers the chip up through a reset (PD_SCK high for 100 µs, then low),
// waits for its first conversion and reads it with the pulse count of
// opts.Channel and opts.Gain, discarding it. It fails with
// sensor.ErrNoDevice when nothing drives DOUT and sensor.ErrTimeout when no
// conversion comes. New does not own the pins; it never closes them.
func New(ctx context.Context, dout gpio.PinIn, sck gpio.PinOut, opts *Options) (*Dev, error) {
	if dout == nil || sck == nil {
		return nil, sensor.Errorf("hx711", "", "check options", "%w: DOUT or PD_SCK pin missing", sensor.ErrConfig)
	}
	d := &Dev{dout: dout, sck: sck, bus: "DOUT=" + dout.Name() + " PD_SCK=" + sck.Name()}
	if opts == nil {
		return nil, d.errorf("check options", "%w: no options (Scale is required)", sensor.ErrConfig)
	}
	if err := d.configure(opts); err != nil {
		return nil, d.errorf("check options", "%w: %w", sensor.ErrConfig, err)
	}
	// DOUT is a digital output the chip drives (datasheet pin
	// description); the pull-up makes an unplugged line read "not ready"
	// rather than random bits.
	if err := dout.In(gpio.PullUp, gpio.NoEdge); err != nil {
		return nil, d.errorf("configure DOUT", "%w: %w", sensor.ErrBus, err)
	}
	if err := d.powerUp(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dev) configure(o *Options) error {
	d.clock = sensor.ClockOr(o.Clock)
	d.name = o.Name
	ch, gain := o.Channel, o.Gain
	if ch == 0 {
		ch = ChannelA
	}
	for i, g := range gains[ch] {
		if g.gain == gain || gain == 0 && i == 0 {
			d.pulses = g.pulses
		}
	}
	if d.pulses == 0 {
		return fmt.Errorf("channel %q with gain %d (want A with 128 or 64, or B with 32)", ch, gain)
	}
	if o.Tare < MinCode || o.Tare > MaxCode {
		return fmt.Errorf("tare %d is not a 24-bit count", o.Tare)
	}
	d.tare = o.Tare
	if math.IsNaN(o.Scale) || math.IsInf(o.Scale, 0) || math.Abs(o.Scale) < MinScale {
		return fmt.Errorf("scale %v counts per gram (want a finite value of magnitude %v or more)", o.Scale, MinScale)
	}
	d.scale = o.Scale
	switch {
	case o.Samples == 0:
		d.samples = DefaultSamples
	case o.Samples < 1 || o.Samples > MaxSamples:
		return fmt.Errorf("samples %d outside 1..%d", o.Samples, MaxSamples)
	default:
		d.samples = o.Samples
	}
	return nil
}

// String names the driver and its pins, e.g.
// "hx711 floor-scale on DOUT=GPIO5 PD_SCK=GPIO6".
func (d *Dev) String() string {
	if d.name == "" {
		return "hx711 on " + d.bus
	}
	return "hx711 " + d.name + " on " + d.bus
}

// Sense reads Options.Samples conversions, rejects outliers and returns one
// sensor.Weight. After Halt or a failure it first resets the chip as New
// does.
func (d *Dev) Sense(ctx context.Context) ([]sensor.Value, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, d.errorf("wait for DOUT low", "%w", err)
	}
	if !d.awake {
		if err := d.powerUp(ctx); err != nil {
			return nil, err
		}
	}
	raws := make([]int32, 0, d.samples)
	for discarded := 0; len(raws) < d.samples; {
		code, at, err := d.read(ctx)
		if err != nil {
			d.awake = false
			return nil, err
		}
		if at.Before(d.settleUntil) && discarded < maxSettleReads {
			discarded++ // not settled yet
			continue
		}
		if code == MaxCode || code == MinCode {
			return nil, d.errorf("read conversion", "%w: output saturated at %06Xh: the input is beyond full scale (datasheet: Output Data Rate and Format)",
				sensor.ErrNotReading, uint32(code)&0xFFFFFF)
		}
		raws = append(raws, code)
	}
	raw, err := combine(raws)
	if err != nil {
		return nil, d.errorf("reject outliers", "%w: %w", sensor.ErrNotReading, err)
	}
	// |raw - tare| < 2^24 and |scale| >= MinScale, so the mass is below
	// 1.7e18 ng, inside physic.Mass.
	grams := float64(int64(raw)-int64(d.tare)) / d.scale
	w := sensor.Weight{Mass: physic.Mass(math.Round(grams * float64(physic.Gram))), Raw: raw}
	return []sensor.Value{w}, nil
}

// Halt powers the chip down: PD_SCK high, which the chip obeys after 60 µs
// (Fig. 3). The next Sense wakes it with a reset.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.awake = false
	if err := d.sck.Out(gpio.High); err != nil {
		return d.errorf("power down", "%w: PD_SCK: %w", sensor.ErrBus, err)
	}
	return nil
}

// powerUp resets the chip through a power-down (Fig. 3: PD_SCK high for more
// than 60 µs, then low; the chip restarts on channel A, gain 128), waits for
// its first conversion and reads it with d.pulses, discarding it: it was
// made with the reset setting (Table 3 selects the next conversion).
func (d *Dev) powerUp(ctx context.Context) error {
	d.awake = false
	if err := d.sck.Out(gpio.High); err != nil {
		return d.errorf("power up", "%w: PD_SCK: %w", sensor.ErrBus, err)
	}
	if err := d.clock.Sleep(ctx, powerDownTime); err != nil {
		return d.errorf("power up", "%w", err)
	}
	if err := d.sck.Out(gpio.Low); err != nil {
		return d.errorf("power up", "%w: PD_SCK: %w", sensor.ErrBus, err)
	}
	d.settleUntil = d.clock.Now().Add(settleTime)
	if _, _, err := d.read(ctx); err != nil {
		return err
	}
	d.awake = true
	return nil
}

// read waits for a conversion and clocks it out with d.pulses pulses. It
// returns the sign-extended code and the time DOUT was seen low.
func (d *Dev) read(ctx context.Context) (int32, time.Time, error) {
	at, err := d.waitReady(ctx)
	if err != nil {
		return 0, at, err
	}
	code, err := d.shift()
	return code, at, err
}

// waitReady polls DOUT until it is low ("Serial Interface": DOUT low means a
// conversion is ready), at most readyTimeout.
func (d *Dev) waitReady(ctx context.Context) (time.Time, error) {
	start := d.clock.Now()
	for i := 0; ; i++ {
		if d.dout.Read() == gpio.Low {
			return d.clock.Now(), nil
		}
		now := d.clock.Now()
		if i >= maxPolls || now.Sub(start) >= readyTimeout {
			return now, d.notReady(ctx)
		}
		if err := d.clock.Sleep(ctx, pollInterval); err != nil {
			return now, d.errorf("wait for DOUT low", "%w", err)
		}
	}
}

// notReady explains a DOUT that stayed high: it moves DOUT's pull from up to
// down for probeTime. A line that follows the pull is floating (nothing is
// connected or the chip has no power); one that stays high is driven by a
// chip that finishes no conversion.
func (d *Dev) notReady(ctx context.Context) error {
	if err := d.dout.In(gpio.PullDown, gpio.NoEdge); err != nil {
		return d.errorf("probe DOUT", "%w: %w", sensor.ErrBus, err)
	}
	sleepErr := d.clock.Sleep(ctx, probeTime)
	l := d.dout.Read()
	if err := d.dout.In(gpio.PullUp, gpio.NoEdge); err != nil {
		return d.errorf("probe DOUT", "%w: %w", sensor.ErrBus, err)
	}
	if sleepErr != nil {
		return d.errorf("probe DOUT", "%w", sleepErr)
	}
	if l == gpio.Low {
		return d.errorf("wait for DOUT low", "%w: DOUT high for %v and follows the pull resistor: nothing drives it (HX711 not connected or not powered)",
			sensor.ErrNoDevice, readyTimeout)
	}
	return d.errorf("wait for DOUT low", "%w: DOUT driven high for %v: the HX711 finishes no conversion (it makes 10 or 80 a second)",
		sensor.ErrTimeout, readyTimeout)
}

// shift clocks out one conversion (Fig. 2): 24 pulses, one bit each, MSB
// first, then the pulses that select the next conversion's input and gain
// (Table 3). It samples DOUT after each falling edge, where the bit shifted
// out by the rising edge (T2 <= 0.1 µs) is held until the next rising edge.
//
// No Clock call and no sleep happen here: PD_SCK high for more than 60 µs
// would power the chip down mid-transfer (Fig. 3).
func (d *Dev) shift() (int32, error) {
	var v uint32
	for range 24 {
		if err := d.pulse(); err != nil {
			return 0, err
		}
		v <<= 1
		if d.dout.Read() == gpio.High {
			v |= 1
		}
	}
	if err := d.pulse(); err != nil {
		return 0, err
	}
	// "The 25th pulse at PD_SCK input will pull DOUT pin back to high."
	if d.dout.Read() == gpio.Low {
		return 0, d.errorf("clock out conversion", "%w: DOUT still low after the 25th PD_SCK pulse: the line is stuck low", sensor.ErrBus)
	}
	for range d.pulses - 25 {
		if err := d.pulse(); err != nil {
			return 0, err
		}
	}
	return decode(v), nil
}

// pulse drives one positive PD_SCK pulse. On a failed write it still tries
// to leave PD_SCK low, so that the chip does not power down.
func (d *Dev) pulse() error {
	err := d.sck.Out(gpio.High)
	if err2 := d.sck.Out(gpio.Low); err == nil {
		err = err2
	}
	if err != nil {
		return d.errorf("clock out conversion", "%w: PD_SCK: %w", sensor.ErrBus, err)
	}
	return nil
}

// decode sign-extends a 24-bit two's complement code ("Output Data Rate
// and Format", Table 2).
func decode(v uint32) int32 {
	return int32(v<<8) >> 8
}

func (d *Dev) errorf(step, format string, args ...any) *sensor.Error {
	return &sensor.Error{Device: "hx711", Bus: d.bus, Step: step, Err: fmt.Errorf(format, args...)}
}

var _ sensor.Sensor = (*Dev)(nil)
