package door

import (
	"context"
	"fmt"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/gpio"
)

const (
	// DefaultDebounce is the debounce of DefaultOptions: longer than a
	// reed contact's bounce, short against a door's movement.
	DefaultDebounce = 50 * time.Millisecond
	// MaxDebounce is the longest Debounce New accepts.
	MaxDebounce = 10 * time.Second
	// DefaultOpenLevel is the OpenLevel of DefaultOptions: the level of a
	// reed switch to ground with the internal pull-up while the door is
	// open (the switch open, the pull-up holding the line high).
	DefaultOpenLevel = gpio.High

	// edgeWait is the timeout of each WaitForEdge call that drains queued
	// edges (see the package documentation for why it is not 0).
	edgeWait = time.Millisecond
	// maxSpurious is how many edges without a level change one Sense
	// tolerates before it reports edge detection as broken. A bouncing
	// contact queues at most a few dozen edges between two reads.
	maxSpurious = 64
	// maxEdges bounds the drain loop of one Sense; edges left over are
	// drained by the next Sense.
	maxEdges = 4 * maxSpurious
)

// Options configures a door contact. New uses DefaultOptions when given nil.
// The zero Options is valid but means OpenLevel gpio.Low and no debounce, so
// start from DefaultOptions and change what differs.
type Options struct {
	// Clock is the time Sense stamps and debounces with; nil means
	// sensor.SystemClock.
	Clock sensor.Clock
	// OpenLevel is the level of the line while the door is open: gpio.High
	// for a reed switch to ground with the internal pull-up (New selects
	// gpio.PullUp), gpio.Low for a switch to 3.3 V (New selects
	// gpio.PullDown).
	OpenLevel gpio.Level
	// Debounce is how long the level must hold after the last edge before a
	// new state is accepted: 0 (every level Sense reads is accepted at once)
	// up to MaxDebounce.
	Debounce time.Duration
	// Name, if set, is shown by String to tell contacts apart, e.g.
	// "rear-door".
	Name string
}

// DefaultOptions is a reed switch to ground with the internal pull-up and a
// 50 ms debounce.
var DefaultOptions = Options{OpenLevel: DefaultOpenLevel, Debounce: DefaultDebounce}

// Dev is a door contact on one GPIO input. It implements sensor.Sensor.
type Dev struct {
	// Constant after New.
	pin       gpio.PinIn
	clock     sensor.Clock
	openLevel gpio.Level
	debounce  time.Duration
	name      string

	// Used only by Sense, which the sensor.Sensor contract calls from one
	// goroutine at a time.
	stable   gpio.Level // the accepted (debounced) level
	last     gpio.Level // the level read at the end of the previous Sense
	initial  bool       // the level New read is not reported yet
	pending  bool       // the line has moved away from stable and not settled
	since    time.Time  // New's read while initial; the first edge of the pending state
	lastEdge time.Time  // the last Sense that saw an edge or a change of level
}

// New configures pin as an input with both edges and the pull that matches
// opts.OpenLevel, and reads the current level, which the first Sense
// reports. New does not own pin; it never closes it.
func New(ctx context.Context, pin gpio.PinIn, opts *Options) (*Dev, error) {
	if opts == nil {
		opts = &DefaultOptions
	}
	if pin == nil {
		return nil, sensor.Errorf("door", "", "check options", "%w: no pin", sensor.ErrConfig)
	}
	d := &Dev{
		pin:       pin,
		clock:     sensor.ClockOr(opts.Clock),
		openLevel: opts.OpenLevel,
		debounce:  opts.Debounce,
		name:      opts.Name,
	}
	if opts.Debounce < 0 || opts.Debounce > MaxDebounce {
		return nil, d.errorf("check options", "%w: debounce %v is outside 0..%v", sensor.ErrConfig, opts.Debounce, MaxDebounce)
	}
	if err := ctx.Err(); err != nil {
		return nil, d.errorf("configure pin", "%w", err)
	}
	pull := gpio.PullUp
	if opts.OpenLevel == gpio.Low {
		pull = gpio.PullDown
	}
	if err := pin.In(pull, gpio.BothEdges); err != nil {
		return nil, d.errorf("configure pin", "%w: In(%s, %s): %w", sensor.ErrBus, pull, gpio.BothEdges, err)
	}
	l := pin.Read()
	d.stable, d.last, d.initial = l, l, true
	d.since = d.clock.Now()
	d.lastEdge = d.since
	return d, nil
}

// String names the driver and the pin, e.g. "door rear-door on GPIO17".
func (d *Dev) String() string {
	if d.name == "" {
		return "door on " + d.pin.Name()
	}
	return "door " + d.name + " on " + d.pin.Name()
}

// Sense drains the edges queued since the previous call, reads the level and
// returns a sensor.Door for each debounced change (and, on the first call,
// the state New read). It returns no values when nothing settled.
func (d *Dev) Sense(ctx context.Context) ([]sensor.Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, d.errorf("wait for edge", "%w", err)
	}
	level, edges, err := d.drain()
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()

	var out []sensor.Value
	if d.initial {
		out = append(out, sensor.Door{Open: d.stable == d.openLevel, At: d.since})
		d.initial = false
	}
	if edges > 0 || level != d.last {
		// A level change without an edge counts as one: an edge may have
		// been left in the queue by the bound of the drain.
		d.lastEdge = now
		if !d.pending && level != d.stable {
			d.pending, d.since = true, now
		}
	}
	d.last = level
	if now.Sub(d.lastEdge) >= d.debounce {
		// The level has held for Debounce since the last edge.
		if level != d.stable {
			d.stable = level
			out = append(out, sensor.Door{Open: level == d.openLevel, At: d.since})
		}
		d.pending = false
	}
	return out, nil
}

// drain consumes the queued edges without blocking and returns the level
// after them and how many there were. It fails when edges keep arriving
// without the level changing (see the package documentation).
func (d *Dev) drain() (gpio.Level, int, error) {
	level := d.last
	edges, spurious := 0, 0
	for edges < maxEdges && d.pin.WaitForEdge(edgeWait) {
		edges++
		l := d.pin.Read()
		if l == level {
			if spurious++; spurious > maxSpurious {
				return level, edges, d.errorf("wait for edge",
					"%w: %d edges in one read without a change of level: edge detection is not working "+
						"(sysfs GPIO on kernel 6.6 or later, e.g. Raspberry Pi OS Bookworm; open the pin through the GPIO character device by its line name)",
					sensor.ErrBus, spurious)
			}
		}
		level = l
	}
	return d.pin.Read(), edges, nil
}

// Halt implements sensor.Sensor. A contact has no activity to stop.
func (d *Dev) Halt() error { return nil }

func (d *Dev) errorf(step, format string, args ...any) *sensor.Error {
	return &sensor.Error{Device: "door", Bus: d.pin.Name(), Step: step, Err: fmt.Errorf(format, args...)}
}

var _ sensor.Sensor = (*Dev)(nil)
