package nmea

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Defaults of [ReceiverOptions].
const (
	DefaultSilence      = 5 * time.Second
	DefaultGarbageTime  = 5 * time.Second
	DefaultGarbageBytes = 4096
)

// DefaultBaud is the serial rate a receiver is read at unless configured
// otherwise, in bit/s: the factory rate of most GNSS modules (u-blox,
// MediaTek, Quectel). NMEA 0183 itself specifies 4800.
const DefaultBaud = 9600

// Bauds returns the serial rates, in bit/s, GNSS receivers send NMEA 0183
// at: 4800 (the standard's own) up to 115200, ascending.
func Bauds() []int { return []int{4800, 9600, 19200, 38400, 57600, 115200} }

// ReceiverOptions configures a [Receiver]. A nil *ReceiverOptions, and any
// zero or negative field, means the default.
type ReceiverOptions struct {
	// Port names the serial port in errors and String, e.g. "/dev/serial0".
	Port string
	// Clock times the silence and garbage limits; nil means
	// sensor.SystemClock.
	Clock sensor.Clock
	// Silence is how long the port may stay completely quiet before Sense
	// reports that no receiver is connected (DefaultSilence). A receiver
	// sends a burst at least once a second.
	Silence time.Duration
	// GarbageTime and GarbageBytes bound how long, and how many bytes
	// other than line endings, the port may deliver without one sentence
	// with a valid checksum before Sense reports a wrong baud rate
	// (DefaultGarbageTime, DefaultGarbageBytes).
	GarbageTime  time.Duration
	GarbageBytes int
}

// ReceiverStats counts what a [Receiver] has read.
type ReceiverStats struct {
	ScanStats
	Bytes       int64 // bytes read from the stream
	ParseErrors int64 // sentences with a valid checksum that Parse rejected
	Epochs      int64 // fixes returned
}

// Receiver is a GNSS receiver on a serial stream, as a [sensor.Sensor]:
// each Sense decodes what the stream delivered since the previous call and
// returns one [sensor.Fix] per completed epoch. An epoch completes when a
// sentence of the next one arrives, so a fix is returned about one epoch
// late, and at the end of a stream (io.EOF) the last epoch is flushed;
// after that Sense returns nothing, then ErrNoDevice once Silence has
// passed.
//
// Sentences cut by a read boundary are joined. Noise, bad checksums and
// sentences that fail to decode are counted in [Receiver.Stats], not
// returned as errors. Two conditions are: bytes but no valid sentence for
// GarbageTime or GarbageBytes (a wrong baud rate, or TX/RX of another
// device), reported as sensor.ErrBus; and no byte at all for Silence
// (nothing connected, or TX and RX swapped), reported as
// sensor.ErrNoDevice. Both are reported on each Sense while they last.
// A Sense that has fixes to return returns them with a nil error; an error
// it met is then returned by the next Sense, so no fix is ever dropped.
type Receiver struct {
	src          sensor.Stream
	port         string
	clock        sensor.Clock
	silence      time.Duration
	garbageTime  time.Duration
	garbageBytes int64

	// Used by Sense only, one call at a time (the sensor.Sensor contract).
	sc         *Scanner
	asm        Assembler
	buf        []byte
	started    bool      // Sense was called before
	ended      bool      // the stream returned io.EOF and the last epoch was flushed
	lastByte   time.Time // when the stream last delivered a byte, or the first Sense
	noise      int64     // bytes other than line endings since the last valid sentence
	noiseSince time.Time // when noise became non-zero
	pending    error     // a read error held back while fixes were returned
	cur        ReceiverStats

	mu    sync.Mutex
	stats ReceiverStats // cur as of the end of the last Sense
}

// NewReceiver returns a Receiver reading src, which it does not own.
func NewReceiver(src sensor.Stream, opts *ReceiverOptions) *Receiver {
	var o ReceiverOptions
	if opts != nil {
		o = *opts
	}
	r := &Receiver{
		src:          src,
		port:         o.Port,
		clock:        sensor.ClockOr(o.Clock),
		silence:      o.Silence,
		garbageTime:  o.GarbageTime,
		garbageBytes: int64(o.GarbageBytes),
		sc:           newPushScanner(),
		buf:          make([]byte, 4096),
	}
	if r.silence <= 0 {
		r.silence = DefaultSilence
	}
	if r.garbageTime <= 0 {
		r.garbageTime = DefaultGarbageTime
	}
	if r.garbageBytes <= 0 {
		r.garbageBytes = DefaultGarbageBytes
	}
	return r
}

// String implements sensor.Sensor.
func (r *Receiver) String() string {
	if r.port == "" {
		return "nmea"
	}
	return "nmea on " + r.port
}

// Halt implements sensor.Sensor. NMEA receivers need no command to stop:
// it does nothing.
func (r *Receiver) Halt() error { return nil }

// Stats returns the counters as of the end of the last Sense. It is safe
// to call from any goroutine.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Sense implements sensor.Sensor: it reads the stream until it has nothing
// more now (sensor.ErrNoData) or has ended (io.EOF), and returns the fixes
// of the epochs that completed.
func (r *Receiver) Sense(ctx context.Context) ([]sensor.Value, error) {
	now := r.clock.Now()
	if !r.started {
		r.started = true
		r.lastByte = now
	}
	defer r.publish()
	if err := r.pending; err != nil {
		r.pending = nil
		return nil, err
	}
	var out []sensor.Value
	for !r.ended {
		if err := ctx.Err(); err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, r.fail("read", err)
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			r.cur.Bytes += int64(n)
			r.lastByte = now
			out = r.feed(r.buf[:n], now, out)
		}
		if err == nil && n > 0 {
			continue
		}
		if errors.Is(err, io.EOF) {
			r.ended = true
			if r.sc.end() {
				out = r.sentence(r.sc.tok, out)
			}
			if f, ok := r.asm.Flush(); ok {
				out = r.emit(&f, out)
			}
			break
		}
		if err != nil && !errors.Is(err, sensor.ErrNoData) {
			if !errors.Is(err, sensor.ErrBus) {
				err = fmt.Errorf("%w: %w", sensor.ErrBus, err)
			}
			e := r.fail("read", err)
			if len(out) == 0 {
				return nil, e
			}
			r.pending = e // fixes first; the error on the next Sense
			break
		}
		break // ErrNoData, or a stream that returned nothing and no error
	}
	if len(out) > 0 {
		return out, nil
	}
	if quiet := now.Sub(r.lastByte); quiet > r.silence {
		return nil, r.fail("read sentences", fmt.Errorf("%w: no data from the receiver for %v: check wiring/TX→RX", sensor.ErrNoDevice, quiet))
	}
	if r.noise > r.garbageBytes || r.noise > 0 && r.lastByte.Sub(r.noiseSince) > r.garbageTime {
		return nil, r.fail("read sentences", fmt.Errorf("%w: %d bytes in %v without a valid NMEA sentence: check the baud rate",
			sensor.ErrBus, r.noise, r.lastByte.Sub(r.noiseSince)))
	}
	return nil, nil
}

// feed scans p, appending the fixes of completed epochs to out.
func (r *Receiver) feed(p []byte, now time.Time, out []sensor.Value) []sensor.Value {
	for len(p) > 0 {
		n, ok := r.sc.scan(p)
		if ok {
			r.noise = 0
			out = r.sentence(r.sc.tok, out)
		} else if k := noise(p[:n]); k > 0 {
			if r.noise == 0 {
				r.noiseSince = now
			}
			r.noise += k
		}
		p = p[n:]
	}
	r.cur.ScanStats = r.sc.ScanStats
	return out
}

// sentence decodes one sentence with a valid checksum.
func (r *Receiver) sentence(line string, out []sensor.Value) []sensor.Value {
	s, err := Parse(line)
	if err != nil {
		r.cur.ParseErrors++
		return out
	}
	if f, ok := r.asm.Add(s); ok {
		out = r.emit(&f, out)
	}
	return out
}

func (r *Receiver) emit(f *Fix, out []sensor.Value) []sensor.Value {
	r.cur.Epochs++
	return append(out, SensorFix(f))
}

func (r *Receiver) publish() {
	r.cur.ScanStats = r.sc.ScanStats
	r.mu.Lock()
	r.stats = r.cur
	r.mu.Unlock()
}

func (r *Receiver) fail(step string, err error) *sensor.Error {
	return &sensor.Error{Device: "nmea", Bus: r.port, Step: step, Err: err}
}

// SensorFix converts an assembled fix to the driver contract's value.
// Lat and Lon are zero when f has no position; Mode is "none", "2d", "3d"
// from GSA, or "" without one.
func SensorFix(f *Fix) sensor.Fix {
	v := sensor.Fix{
		Time:      f.Time,
		Valid:     f.Valid,
		AltM:      f.Altitude,
		CourseDeg: f.Course,
		Sats:      f.SatsUsed,
		HDOP:      f.HDOP,
		Mode:      fixMode(f.FixMode),
	}
	if f.Lat != nil && f.Lon != nil {
		v.Lat, v.Lon = *f.Lat, *f.Lon
	}
	if ms, ok := f.SpeedMS(); ok {
		v.SpeedMPS = &ms
	}
	return v
}

var _ sensor.Sensor = (*Receiver)(nil)
