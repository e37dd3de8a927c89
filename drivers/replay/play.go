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

	"github.com/waybill-eu/waybill/drivers/nmea"
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

// Recording is a recording being played back. Operations are read from
// the file as the playback needs them, so a replay holds only the
// operations it has read ahead, not the whole file.
type Recording struct {
	Header Header
	Raw    bool // raw NMEA: one stream named RawStream

	mu     sync.Mutex
	sc     *bufio.Scanner // nil for raw NMEA, whose operations are all queued
	closer io.Closer      // the gzip reader, if any
	n      int            // lines read
	eof    bool
	last   int64 // t of the last operation read
	buses  map[string]*queue
	err    error // first mismatch or malformed line
}

// RawStream is the bus name of the serial stream made from a raw NMEA file.
const RawStream = "nmea"

type line struct {
	n  int
	op Op
}

type queue struct {
	ops  []line
	next int
}

func (q *queue) empty() bool { return q.next >= len(q.ops) }

func (q *queue) push(l line) {
	if q.next > 0 && q.next == len(q.ops) {
		q.ops, q.next = q.ops[:0], 0
	}
	q.ops = append(q.ops, l)
}

// Load starts the playback of a recording read from r, which must stay
// readable while the playback runs; or, for a raw NMEA file, reads it
// whole. It reads and checks the header; a malformed operation line is
// reported, with its line number, when the playback reaches it.
func Load(r io.Reader) (*Recording, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var closer io.Closer
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("replay: gzip: %w", err)
		}
		closer = zr
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
	rec := &Recording{buses: map[string]*queue{}, closer: closer}
	rec.sc = bufio.NewScanner(br)
	rec.sc.Buffer(make([]byte, 0, 4096), MaxLine)
	if !rec.sc.Scan() {
		return nil, fmt.Errorf("replay: line 1 (header): %v", rec.sc.Err())
	}
	rec.n = 1
	dec := json.NewDecoder(bytes.NewReader(rec.sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.Header); err != nil {
		return nil, fmt.Errorf("replay: line 1 (header): %w", err)
	}
	if rec.Header.Version != Version {
		return nil, fmt.Errorf("replay: line 1: recording format %d, this agent reads %d", rec.Header.Version, Version)
	}
	return rec, nil
}

// readLocked reads the next operation line into its bus's queue. It
// returns false at the end of the file or on a malformed line (recorded in
// r.err).
func (r *Recording) readLocked() bool {
	for !r.eof && r.err == nil {
		if !r.sc.Scan() {
			r.eof = true
			if err := r.sc.Err(); err != nil {
				r.err = fmt.Errorf("replay: line %d: %w", r.n+1, err)
			}
			if r.closer != nil {
				r.closer.Close()
			}
			return false
		}
		r.n++
		b := bytes.TrimSpace(r.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		op, err := decodeOp(b)
		if err != nil {
			r.err = fmt.Errorf("replay: line %d: %w", r.n, err)
			return false
		}
		q := r.buses[op.Bus]
		if q == nil {
			q = &queue{}
			r.buses[op.Bus] = q
		}
		q.push(line{r.n, op})
		r.last = max(r.last, op.T)
		return true
	}
	return false
}

func decodeOp(b []byte) (Op, error) {
	var op Op
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&op); err != nil {
		return op, err
	}
	if dec.More() {
		return op, errors.New("trailing data after the object")
	}
	return op, op.check()
}

// Check reads a whole recording and returns the first malformed line, or
// nil: for a recording's operations, what Load alone does not check.
func Check(r io.Reader) error {
	rec, err := Load(r)
	if err != nil || rec.Raw {
		return err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for rec.readLocked() {
		for _, q := range rec.buses {
			q.next = len(q.ops)
		}
	}
	return rec.err
}

// loadRawNMEA splits a raw NMEA stream into epochs: a new epoch starts
// when a sentence carries a UTC time of day different from the previous
// one. Each epoch becomes one read, followed by nodata.
func loadRawNMEA(r io.Reader) (*Recording, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	data0 := data
	rec := &Recording{Raw: true, eof: true, buses: map[string]*queue{}}
	q := &queue{}
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
	rec.last = t
	rec.Header.Start = firstFixTime(data0)
	end := rec.Header.Start.Add(time.Duration(t) * time.Millisecond)
	rec.Header.End = &end
	return rec, nil
}

// firstFixTime returns the UTC date and time of the first epoch of a raw
// NMEA stream that has both, whole seconds: the simulated clock of its
// replay starts there. A stream with no date starts at the Unix epoch.
func firstFixTime(data []byte) time.Time {
	sc := nmea.NewScanner(bytes.NewReader(data))
	var a nmea.Assembler
	for sc.Scan() {
		s, err := nmea.Parse(sc.Text())
		if err != nil {
			continue
		}
		if f, ok := a.Add(s); ok && !f.Time.IsZero() {
			return f.Time.Truncate(time.Second)
		}
	}
	if f, ok := a.Flush(); ok && !f.Time.IsZero() {
		return f.Time.Truncate(time.Second)
	}
	return time.Unix(0, 0).UTC()
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

// Until returns the header's end: when a replay of r stops reading
// sensors. The zero time means the recording does not say (see Exhausted).
func (r *Recording) Until() time.Time {
	if r.Header.End != nil {
		return *r.Header.End
	}
	return time.Time{}
}

// Exhausted reports whether every operation of the recording has been
// played (or the playback failed): a replay of a recording without an end
// in its header stops then.
func (r *Recording) Exhausted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		for _, q := range r.buses {
			if !q.empty() {
				return false
			}
		}
		if r.eof || r.err != nil {
			return true
		}
		r.readLocked()
	}
}

// Buses returns the names of the buses met so far, sorted.
func (r *Recording) Buses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.buses))
	for n := range r.buses {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Err returns the first mismatch or malformed line met by any playback,
// or nil.
func (r *Recording) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Remaining reads the rest of the recording and returns, per bus, how many
// operations were not played.
func (r *Recording) Remaining() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.readLocked() {
	}
	out := map[string]int{}
	for n, q := range r.buses {
		if left := len(q.ops) - q.next; left > 0 {
			out[n] = left
		}
	}
	return out
}

// nextLocked returns the next operation of bus, reading ahead as needed,
// or nil at the end of the recording.
func (r *Recording) nextLocked(bus string) *line {
	for {
		if q := r.buses[bus]; q != nil && !q.empty() {
			return &q.ops[q.next]
		}
		if !r.readLocked() {
			return nil
		}
	}
}

// take returns the next operation of bus if it has kind op and satisfies
// match; else it records and returns a mismatch.
func (r *Recording) take(bus, op string, got func() string, match func(o *Op) bool) (Op, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return Op{}, r.err
	}
	l := r.nextLocked(bus)
	if l == nil {
		if r.err != nil {
			return Op{}, r.err
		}
		return Op{}, r.failLocked(&MismatchError{Bus: bus, Got: got()})
	}
	if l.op.Op != op || !match(&l.op) {
		b, _ := json.Marshal(l.op)
		return Op{}, r.failLocked(&MismatchError{Bus: bus, Line: l.n, Want: string(b), Got: got()})
	}
	r.buses[bus].next++
	return l.op, nil
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
	return recordedErr(&o)
}
func (b *playI2C) SetSpeed(f physic.Frequency) error {
	hz := fmt.Sprint(int64(f / physic.Hertz))
	o, err := b.r.take(b.name, OpSpeed, func() string { return "speed " + hz }, func(o *Op) bool { return o.Arg == hz })
	if err != nil {
		return err
	}
	return recordedErr(&o)
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
	return recordedErr(&o)
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
	return recordedErr(&o)
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
	return out, recordedErr(&o)
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
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return 0, err
	}
	l := r.nextLocked(s.name)
	if l == nil {
		err := r.err
		r.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	r.buses[s.name].next++
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
	return recordedErr(&o)
}
func (p *playPin) In(pull gpio.Pull, edge gpio.Edge) error {
	arg := pull.String() + "/" + edge.String()
	o, err := p.r.take(p.name, OpIn, func() string { return "in " + arg }, func(o *Op) bool { return o.Arg == arg })
	if err != nil {
		return err
	}
	return recordedErr(&o)
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
	return recordedErr(&o)
}

var (
	_ i2c.Bus       = (*playI2C)(nil)
	_ spi.Conn      = (*playSPI)(nil)
	_ onewire.Bus   = (*playOW)(nil)
	_ sensor.Stream = (*playStream)(nil)
	_ gpio.PinIO    = (*playPin)(nil)
)
