package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// ErrMismatch is wrapped by every [*MismatchError].
var ErrMismatch = errors.New("replay diverged from the recording")

// MismatchError is a call that is not the next recorded operation of its bus.
type MismatchError struct {
	Bus  string
	Line int    // line of the recorded operation expected, 0 when the bus's recording is exhausted
	Want string // the recorded operation
	Got  string // the call made
}

func (e *MismatchError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("replay: %s: recording has no more operations, the driver called %s", e.Bus, e.Got)
	}
	return fmt.Sprintf("replay: %s: line %d records %s, the driver called %s", e.Bus, e.Line, e.Want, e.Got)
}

// Unwrap returns ErrMismatch.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// Recording is a loaded recording, ready to play back.
type Recording struct {
	Header Header
	Raw    bool  // raw NMEA: one stream named RawStream
	End    int64 // t of the last operation, ms

	buses map[string]*queue

	mu  sync.Mutex
	err error // first mismatch
}

// RawStream is the bus name of the serial stream made from a raw NMEA file.
const RawStream = "nmea"

type line struct {
	n  int
	op Op
}

type queue struct {
	name string
	ops  []line
	next int
}

// Load reads a recording, or a raw NMEA file, whole. It reports the line
// and the problem of the first malformed line.
func Load(r io.Reader) (*Recording, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("replay: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	first, err := br.Peek(1)
	for err == nil && (first[0] == '\n' || first[0] == '\r' || first[0] == ' ' || first[0] == '\t') {
		br.ReadByte()
		first, err = br.Peek(1)
	}
	if err == io.EOF {
		return nil, errors.New("replay: the file is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if first[0] != '{' {
		return loadRawNMEA(br)
	}
	rec := &Recording{buses: map[string]*queue{}}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if n == 1 {
			if err := dec.Decode(&rec.Header); err != nil {
				return nil, fmt.Errorf("replay: line 1 (header): %w", err)
			}
			if rec.Header.Version != Version {
				return nil, fmt.Errorf("replay: line 1: recording format %d, this agent reads %d", rec.Header.Version, Version)
			}
			continue
		}
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("replay: line %d: trailing data after the object", n)
		}
		if err := op.check(); err != nil {
			return nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		q := rec.buses[op.Bus]
		if q == nil {
			q = &queue{name: op.Bus}
			rec.buses[op.Bus] = q
		}
		q.ops = append(q.ops, line{n, op})
		rec.End = max(rec.End, op.T)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: line %d: %w", n+1, err)
	}
	if n == 0 {
		return nil, errors.New("replay: the file is empty")
	}
	return rec, nil
}

// loadRawNMEA splits a raw NMEA stream into epochs: a new epoch starts
// when a sentence carries a UTC time of day different from the previous
// one. Each epoch becomes one read, followed by nodata.
func loadRawNMEA(r io.Reader) (*Recording, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	rec := &Recording{Raw: true, buses: map[string]*queue{}}
	q := &queue{name: RawStream}
	rec.buses[RawStream] = q
	var cur []byte
	lastTOD := ""
	var t int64
	flush := func() {
		if len(cur) == 0 {
			return
		}
		d := Data(cur)
		q.ops = append(q.ops, line{len(q.ops) + 1, Op{T: t, Bus: RawStream, Op: OpRead, Data: &d}},
			line{len(q.ops) + 2, Op{T: t, Bus: RawStream, Op: OpNoData}})
		cur = nil
		t += 1000
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var ln []byte
		if i < 0 {
			ln, data = data, nil
		} else {
			ln, data = data[:i+1], data[i+1:]
		}
		if tod := timeOfDay(ln); tod != "" && tod != lastTOD {
			if lastTOD != "" {
				flush()
			}
			lastTOD = tod
		}
		cur = append(cur, ln...)
	}
	flush()
	t = max(t-1000, 0) // the last epoch's time
	q.ops = append(q.ops, line{len(q.ops) + 1, Op{T: t, Bus: RawStream, Op: OpEOF}})
	rec.End = t
	return rec, nil
}

// timeOfDay returns the hhmmss field of a GGA, RMC, GNS, GLL or ZDA
// sentence on the line, or "".
func timeOfDay(ln []byte) string {
	i := bytes.IndexByte(ln, '$')
	if i < 0 || len(ln) < i+7 {
		return ""
	}
	s := string(ln[i+1:])
	f := strings.Split(s, ",")
	if len(f) < 2 || len(f[0]) < 5 {
		return ""
	}
	typ := f[0][len(f[0])-3:]
	idx := 1
	switch typ {
	case "GGA", "RMC", "GNS", "ZDA":
	case "GLL":
		idx = 5
	default:
		return ""
	}
	if len(f) <= idx {
		return ""
	}
	return f[idx]
}

// Until returns when a replay of r should stop reading sensors: the
// header's end, or 1 ms after the last operation.
func (r *Recording) Until() time.Time {
	if r.Header.End != nil {
		return *r.Header.End
	}
	return r.Header.Start.Add(time.Duration(r.End+1) * time.Millisecond)
}

// Buses returns the names of the recorded buses, sorted.
func (r *Recording) Buses() []string {
	names := make([]string, 0, len(r.buses))
	for n := range r.buses {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether the recording holds operations of bus name.
func (r *Recording) Has(name string) bool { _, ok := r.buses[name]; return ok }

// Err returns the first mismatch met by any playback, or nil.
func (r *Recording) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Remaining returns, per bus, how many recorded operations were not played.
func (r *Recording) Remaining() map[string]int {
	out := map[string]int{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, q := range r.buses {
		if left := len(q.ops) - q.next; left > 0 {
			out[n] = left
		}
	}
	return out
}

// take returns the next operation of bus if it has kind op and satisfies
// match; else it records and returns a mismatch.
func (r *Recording) take(bus, op string, got func() string, match func(o *Op) bool) (*Op, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.buses[bus]
	if q == nil || q.next >= len(q.ops) {
		return nil, r.failLocked(&MismatchError{Bus: bus, Got: got()})
	}
	l := &q.ops[q.next]
	if l.op.Op != op || !match(&l.op) {
		b, _ := json.Marshal(l.op)
		return nil, r.failLocked(&MismatchError{Bus: bus, Line: l.n, Want: string(b), Got: got()})
	}
	q.next++
	return &l.op, nil
}

func (r *Recording) failLocked(err error) error {
	if r.err == nil {
		r.err = err
	}
	return err
}

// recordedErr rebuilds the error a recorded call returned.
func recordedErr(o *Op) error {
	switch {
	case o.Err == "":
		return nil
	case o.ErrKind == "no_devices":
		return noDevices(o.Err)
	case o.ErrKind == "shorted":
		return shorted(o.Err)
	}
	return errors.New(o.Err)
}

type noDevices string

func (e noDevices) Error() string   { return string(e) }
func (e noDevices) NoDevices() bool { return true }
func (e noDevices) BusError() bool  { return true }

type shorted string

func (e shorted) Error() string   { return string(e) }
func (e shorted) IsShorted() bool { return true }
func (e shorted) BusError() bool  { return true }

// I2C returns the playback of bus name.
func (r *Recording) I2C(name string) i2c.Bus { return &playI2C{r, name} }

type playI2C struct {
	r    *Recording
	name string
}

func (b *playI2C) String() string { return b.name }
func (b *playI2C) Tx(addr uint16, w, rd []byte) error {
	o, err := b.r.take(b.name, OpTx,
		func() string { return fmt.Sprintf("tx addr %#x w %x r[%d]", addr, w, len(rd)) },
		func(o *Op) bool {
			return o.Addr != nil && *o.Addr == addr && bytes.Equal(o.W, w) && len(o.R) == len(rd)
		})
	if err != nil {
		return err
	}
	copy(rd, o.R)
	return recordedErr(o)
}
func (b *playI2C) SetSpeed(f physic.Frequency) error {
	hz := fmt.Sprint(int64(f / physic.Hertz))
	o, err := b.r.take(b.name, OpSpeed, func() string { return "speed " + hz }, func(o *Op) bool { return o.Arg == hz })
	if err != nil {
		return err
	}
	return recordedErr(o)
}

// SPI returns the playback of the SPI connection name.
func (r *Recording) SPI(name string) spi.Conn { return &playSPI{r, name} }

type playSPI struct {
	r    *Recording
	name string
}

func (c *playSPI) String() string      { return c.name }
func (c *playSPI) Duplex() conn.Duplex { return conn.Full }
func (c *playSPI) Tx(w, rd []byte) error {
	o, err := c.r.take(c.name, OpTx,
		func() string { return fmt.Sprintf("tx w %x r[%d]", w, len(rd)) },
		func(o *Op) bool { return bytes.Equal(o.W, w) && len(o.R) == len(rd) })
	if err != nil {
		return err
	}
	copy(rd, o.R)
	return recordedErr(o)
}
func (c *playSPI) TxPackets(p []spi.Packet) error {
	var first error
	for _, pk := range p {
		if err := c.Tx(pk.W, pk.R); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// OneWire returns the playback of the 1-Wire bus name.
func (r *Recording) OneWire(name string) onewire.Bus { return &playOW{r, name} }

type playOW struct {
	r    *Recording
	name string
}

func (b *playOW) String() string { return b.name }
func (b *playOW) Tx(w, rd []byte, pull onewire.Pullup) error {
	o, err := b.r.take(b.name, OpTx,
		func() string { return fmt.Sprintf("tx w %x r[%d] pull %v", w, len(rd), bool(pull)) },
		func(o *Op) bool { return bytes.Equal(o.W, w) && len(o.R) == len(rd) && o.Pull == bool(pull) })
	if err != nil {
		return err
	}
	copy(rd, o.R)
	return recordedErr(o)
}
func (b *playOW) Search(alarmOnly bool) ([]onewire.Address, error) {
	arg := ""
	if alarmOnly {
		arg = "alarm"
	}
	o, err := b.r.take(b.name, OpSearch, func() string { return "search " + arg }, func(o *Op) bool { return o.Arg == arg })
	if err != nil {
		return nil, err
	}
	var out []onewire.Address
	for _, d := range o.Devices {
		raw, err := hex.DecodeString(d)
		if err != nil || len(raw) != 8 {
			return nil, fmt.Errorf("replay: %s: device %q is not 16 hex digits", b.name, d)
		}
		var a onewire.Address
		for i, c := range raw {
			a |= onewire.Address(c) << (8 * i)
		}
		out = append(out, a)
	}
	return out, recordedErr(o)
}

// Stream returns the playback of the serial stream name.
func (r *Recording) Stream(name string) sensor.Stream { return &playStream{r: r, name: name} }

type playStream struct {
	r    *Recording
	name string
	rest []byte // bytes of the current read not yet returned
}

func (s *playStream) Read(p []byte) (int, error) {
	if len(s.rest) > 0 {
		n := copy(p, s.rest)
		s.rest = s.rest[n:]
		return n, nil
	}
	r := s.r
	r.mu.Lock()
	q := r.buses[s.name]
	if q == nil || q.next >= len(q.ops) {
		r.mu.Unlock()
		return 0, io.EOF
	}
	l := &q.ops[q.next]
	q.next++
	r.mu.Unlock()
	switch l.op.Op {
	case OpRead:
		if l.op.Data == nil {
			return 0, r.failLocked2(&MismatchError{Bus: s.name, Line: l.n, Want: "serial read with data", Got: "read"})
		}
		n := copy(p, *l.op.Data)
		s.rest = (*l.op.Data)[n:]
		return n, recordedErr(&l.op)
	case OpNoData:
		if e := recordedErr(&l.op); e != nil {
			return 0, e
		}
		return 0, sensor.ErrNoData
	case OpEOF:
		return 0, io.EOF
	}
	return 0, r.failLocked2(&MismatchError{Bus: s.name, Line: l.n, Want: l.op.Op, Got: "serial read"})
}

func (r *Recording) failLocked2(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failLocked(err)
}

// Pin returns the playback of the GPIO pin name.
func (r *Recording) Pin(name string) gpio.PinIO { return &playPin{r: r, name: name} }

type playPin struct {
	r    *Recording
	name string
}

func (p *playPin) String() string             { return p.name }
func (p *playPin) Name() string               { return p.name }
func (p *playPin) Number() int                { return -1 }
func (p *playPin) Function() string           { return "" }
func (p *playPin) Func() pin.Func             { return gpio.IN }
func (p *playPin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }
func (p *playPin) SetFunc(pin.Func) error     { return errors.New("replay: SetFunc is not recorded") }
func (p *playPin) Pull() gpio.Pull            { return gpio.PullNoChange }
func (p *playPin) DefaultPull() gpio.Pull     { return gpio.PullNoChange }
func (p *playPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("replay: PWM is not recorded")
}
func (p *playPin) Halt() error {
	o, err := p.r.take(p.name, OpHalt, func() string { return "halt" }, func(*Op) bool { return true })
	if err != nil {
		return err
	}
	return recordedErr(o)
}
func (p *playPin) In(pull gpio.Pull, edge gpio.Edge) error {
	arg := pull.String() + "/" + edge.String()
	o, err := p.r.take(p.name, OpIn, func() string { return "in " + arg }, func(o *Op) bool { return o.Arg == arg })
	if err != nil {
		return err
	}
	return recordedErr(o)
}
func (p *playPin) Read() gpio.Level {
	o, err := p.r.take(p.name, OpRead, func() string { return "read" }, func(o *Op) bool { return o.Level != "" })
	if err != nil {
		return gpio.Low
	}
	return o.Level == "high"
}
func (p *playPin) WaitForEdge(timeout time.Duration) bool {
	ms := timeout.Milliseconds()
	if timeout < 0 {
		ms = -1
	}
	o, err := p.r.take(p.name, OpWait, func() string { return fmt.Sprintf("wait %d ms", ms) },
		func(o *Op) bool { return o.Timeout != nil && *o.Timeout == ms })
	if err != nil {
		return false
	}
	return *o.Edge
}
func (p *playPin) Out(l gpio.Level) error {
	want := level(bool(l))
	o, err := p.r.take(p.name, OpOut, func() string { return "out " + want }, func(o *Op) bool { return o.Level == want })
	if err != nil {
		return err
	}
	return recordedErr(o)
}

var (
	_ i2c.Bus       = (*playI2C)(nil)
	_ spi.Conn      = (*playSPI)(nil)
	_ onewire.Bus   = (*playOW)(nil)
	_ sensor.Stream = (*playStream)(nil)
	_ gpio.PinIO    = (*playPin)(nil)
)
