package replay

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Recorder writes every operation on the buses it wraps to a recording.
// It is safe for concurrent use; operations are written in the order their
// calls returned.
type Recorder struct {
	clock sensor.Clock
	start time.Time

	mu  sync.Mutex
	w   *bufio.Writer
	err error // first write error
}

// NewRecorder writes the header h (its Version is set here) to w and
// returns a recorder whose operations are stamped with clock's time since
// h.Start.
func NewRecorder(w io.Writer, h Header, clock sensor.Clock) (*Recorder, error) {
	h.Version = Version
	h.Start = h.Start.UTC()
	if h.End != nil {
		e := h.End.UTC()
		h.End = &e
	}
	r := &Recorder{clock: sensor.ClockOr(clock), start: h.Start, w: bufio.NewWriter(w)}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	r.w.Write(hb)
	if err := r.w.WriteByte('\n'); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Recorder) add(op Op, err error) {
	op.T = r.clock.Now().Sub(r.start).Milliseconds()
	if err != nil {
		op.Err = err.Error()
		var nd onewire.NoDevicesError
		var sh onewire.ShortedBusError
		switch {
		case errors.As(err, &nd) && nd.NoDevices():
			op.ErrKind = "no_devices"
		case errors.As(err, &sh) && sh.IsShorted():
			op.ErrKind = "shorted"
		}
	}
	b, merr := json.Marshal(op)
	r.mu.Lock()
	defer r.mu.Unlock()
	if merr != nil {
		r.err = merr
		return
	}
	r.w.Write(b)
	if werr := r.w.WriteByte('\n'); werr != nil && r.err == nil {
		r.err = werr
	}
}

// Flush writes buffered operations and returns the first error met.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.w.Flush(); err != nil && r.err == nil {
		r.err = err
	}
	return r.err
}

func clone(b []byte) Bytes {
	if len(b) == 0 {
		return nil
	}
	return append(Bytes(nil), b...)
}

// I2C returns bus, recorded under name.
func (r *Recorder) I2C(name string, bus i2c.Bus) i2c.Bus { return &recI2C{r, name, bus} }

type recI2C struct {
	r    *Recorder
	name string
	bus  i2c.Bus
}

func (b *recI2C) String() string { return b.name }
func (b *recI2C) Tx(addr uint16, w, rd []byte) error {
	err := b.bus.Tx(addr, w, rd)
	a := addr
	b.r.add(Op{Bus: b.name, Op: OpTx, Addr: &a, W: clone(w), R: clone(rd)}, err)
	return err
}
func (b *recI2C) SetSpeed(f physic.Frequency) error {
	err := b.bus.SetSpeed(f)
	b.r.add(Op{Bus: b.name, Op: OpSpeed, Arg: fmt.Sprint(int64(f / physic.Hertz))}, err)
	return err
}

// SPI returns c, recorded under name. TxPackets is recorded as one tx per
// packet.
func (r *Recorder) SPI(name string, c spi.Conn) spi.Conn { return &recSPI{r, name, c} }

type recSPI struct {
	r    *Recorder
	name string
	c    spi.Conn
}

func (c *recSPI) String() string      { return c.name }
func (c *recSPI) Duplex() conn.Duplex { return c.c.Duplex() }
func (c *recSPI) Tx(w, rd []byte) error {
	err := c.c.Tx(w, rd)
	c.r.add(Op{Bus: c.name, Op: OpTx, W: clone(w), R: clone(rd)}, err)
	return err
}
func (c *recSPI) TxPackets(p []spi.Packet) error {
	err := c.c.TxPackets(p)
	for _, pk := range p {
		c.r.add(Op{Bus: c.name, Op: OpTx, W: clone(pk.W), R: clone(pk.R)}, err)
	}
	return err
}

// OneWire returns bus, recorded under name.
func (r *Recorder) OneWire(name string, bus onewire.Bus) onewire.Bus { return &recOW{r, name, bus} }

type recOW struct {
	r    *Recorder
	name string
	bus  onewire.Bus
}

func (b *recOW) String() string { return b.name }
func (b *recOW) Tx(w, rd []byte, pull onewire.Pullup) error {
	err := b.bus.Tx(w, rd, pull)
	b.r.add(Op{Bus: b.name, Op: OpTx, W: clone(w), R: clone(rd), Pull: bool(pull)}, err)
	return err
}
func (b *recOW) Search(alarmOnly bool) ([]onewire.Address, error) {
	addrs, err := b.bus.Search(alarmOnly)
	op := Op{Bus: b.name, Op: OpSearch}
	if alarmOnly {
		op.Arg = "alarm"
	}
	for _, a := range addrs {
		op.Devices = append(op.Devices, romHex(a))
	}
	b.r.add(op, err)
	return addrs, err
}

// romHex prints a 1-Wire address as its 8 ROM bytes in bus order (family
// code first), as 16 lowercase hex digits.
func romHex(a onewire.Address) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(a >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

// Stream returns s, recorded under name.
func (r *Recorder) Stream(name string, s sensor.Stream) sensor.Stream { return &recStream{r, name, s} }

type recStream struct {
	r    *Recorder
	name string
	s    sensor.Stream
}

func (s *recStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	switch {
	case n > 0:
		d := Data(append([]byte(nil), p[:n]...))
		var rerr error
		if err != nil && !errors.Is(err, sensor.ErrNoData) && err != io.EOF {
			rerr = err
		}
		s.r.add(Op{Bus: s.name, Op: OpRead, Data: &d}, rerr)
		if err == io.EOF {
			s.r.add(Op{Bus: s.name, Op: OpEOF}, nil)
		}
	case errors.Is(err, sensor.ErrNoData):
		s.r.add(Op{Bus: s.name, Op: OpNoData}, nil)
	case err == io.EOF:
		s.r.add(Op{Bus: s.name, Op: OpEOF}, nil)
	default:
		s.r.add(Op{Bus: s.name, Op: OpNoData}, err)
	}
	return n, err
}

// Pin returns p, recorded under name.
func (r *Recorder) Pin(name string, p gpio.PinIO) gpio.PinIO {
	return &recPin{PinIO: p, r: r, name: name}
}

type recPin struct {
	gpio.PinIO
	r    *Recorder
	name string
}

func (p *recPin) String() string { return p.name }
func (p *recPin) Name() string   { return p.name }
func (p *recPin) Halt() error {
	err := p.PinIO.Halt()
	p.r.add(Op{Bus: p.name, Op: OpHalt}, err)
	return err
}
func (p *recPin) In(pull gpio.Pull, edge gpio.Edge) error {
	err := p.PinIO.In(pull, edge)
	p.r.add(Op{Bus: p.name, Op: OpIn, Arg: pull.String() + "/" + edge.String()}, err)
	return err
}
func (p *recPin) Read() gpio.Level {
	l := p.PinIO.Read()
	p.r.add(Op{Bus: p.name, Op: OpRead, Level: level(bool(l))}, nil)
	return l
}
func (p *recPin) WaitForEdge(timeout time.Duration) bool {
	ok := p.PinIO.WaitForEdge(timeout)
	ms := timeout.Milliseconds()
	if timeout < 0 {
		ms = -1
	}
	p.r.add(Op{Bus: p.name, Op: OpWait, Edge: &ok, Timeout: &ms}, nil)
	return ok
}
func (p *recPin) Out(l gpio.Level) error {
	err := p.PinIO.Out(l)
	p.r.add(Op{Bus: p.name, Op: OpOut, Level: level(bool(l))}, err)
	return err
}

// SimClock is a simulated clock for replays: Sleep advances it at once, or,
// with a speed above zero, on a real-time schedule at 1/speed of the
// simulated one: the clock keeps to the pace over many short sleeps,
// instead of losing the scheduler's wake-up latency on each.
type SimClock struct {
	speed float64

	// OnAdvance, if set, is called after each Sleep with the new time,
	// from the sleeping goroutine: a simulation updates its physical state
	// there. Set it before the clock is shared.
	OnAdvance func(now time.Time)

	mu       sync.Mutex
	now      time.Time
	paceReal time.Time // real time at the first paced Sleep
	paceSim  time.Time // simulated time then
}

// minPaceSleep is the shortest real sleep a paced Sleep makes; shorter
// ones are owed and taken with a later one.
const minPaceSleep = 2 * time.Millisecond

// NewSimClock returns a clock that reads start; speed 0 replays as fast as
// the CPU allows, speed 1 in real time, speed 10 ten times faster.
func NewSimClock(start time.Time, speed float64) *SimClock {
	return &SimClock{now: start, speed: speed}
}

// Now implements sensor.Clock.
func (c *SimClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep implements sensor.Clock.
func (c *SimClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	if c.speed > 0 {
		c.mu.Lock()
		if c.paceReal.IsZero() {
			c.paceReal, c.paceSim = time.Now(), c.now
		}
		due := c.paceReal.Add(time.Duration(float64(c.now.Add(d).Sub(c.paceSim)) / c.speed))
		c.mu.Unlock()
		if wait := time.Until(due); wait >= minPaceSleep {
			if err := sensor.SystemClock.Sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	if c.OnAdvance != nil {
		c.OnAdvance(now)
	}
	return nil
}

var (
	_ i2c.Bus       = (*recI2C)(nil)
	_ spi.Conn      = (*recSPI)(nil)
	_ onewire.Bus   = (*recOW)(nil)
	_ sensor.Stream = (*recStream)(nil)
	_ gpio.PinIO    = (*recPin)(nil)
	_ sensor.Clock  = (*SimClock)(nil)
)
