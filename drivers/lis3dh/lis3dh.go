// Package lis3dh reads an ST LIS3DH three-axis accelerometer over I2C and
// reports the peak acceleration per axis since the previous read.
//
// References are to the LIS3DH datasheet, DocID17530 Rev 2 (December 2016).
//
// # How the chip is used
//
// [New] checks WHO_AM_I (0Fh, §8.5: 33h), then writes CTRL_REG1..CTRL_REG5
// (20h..24h) in one auto-incremented transfer (§6.1.1: bit 7 of the
// sub-address enables address auto-increment):
//
//   - CTRL_REG1 (§8.8): ODR[3:0] for the configured rate, LPen for low-power
//     mode, Zen/Yen/Xen on;
//   - CTRL_REG2 and CTRL_REG3: 00h (no high-pass filter, no interrupts);
//   - CTRL_REG4 (§8.11): BDU = 1 (the two bytes of a sample come from the
//     same conversion), FS[1:0] for the range, HR for high-resolution mode;
//   - CTRL_REG5 (§8.12): FIFO_EN = 1.
//
// It then writes FIFO_CTRL_REG (2Eh, §8.19) with FM = 00 (Bypass), which
// empties the FIFO (§5.1.1), and with FM = 10 (Stream, §5.1.3): the chip
// keeps the latest 32 samples, overwriting the oldest when nobody reads.
//
// [Dev.Sense] reads FIFO_SRC_REG (2Fh, §8.20) for the number of unread
// samples (FSS[4:0]; a full FIFO of 32 samples sets OVRN_FIFO), then reads
// each sample as six bytes OUT_X_L..OUT_Z_H (28h..2Dh, §8.16..§8.18) in one
// auto-incremented transfer; each read frees one FIFO slot (§5.1.5, §8.20).
// Samples are 16-bit two's complement, little-endian (BLE = 0), left-justified:
// 12 significant bits in high-resolution mode, 10 in normal mode, 8 in
// low-power mode (§3.2.1, Table 10), scaled by the sensitivity of Table 4.
//
// When the FIFO was full the driver cannot tell how many samples were lost;
// it counts the event ([Dev.Overruns]) and reports the 32 it has. Read at
// least every 32/ODR (320 ms at 100 Hz) to lose none.
//
// A chip that loses power for a moment comes back in power-down mode
// (CTRL_REG1 = 07h) and its FIFO stays empty. So when the FIFO has been
// empty for two sample periods or more, Sense reads CTRL_REG1..CTRL_REG5
// back; if they changed it configures the chip again and returns an error
// saying so, and the next read has samples again.
package lis3dh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/i2c"
)

// Registers and bits (datasheet §7, Table 21, and §8).
const (
	regWhoAmI   = 0x0F // §8.5
	regCtrl1    = 0x20 // §8.8
	regOutXL    = 0x28 // §8.16; OUT_X_L..OUT_Z_H are 28h..2Dh
	regFIFOCtrl = 0x2E // §8.19
	regFIFOSrc  = 0x2F // §8.20

	autoIncrement = 0x80 // §6.1.1: MSb of the sub-address

	whoAmI = 0x33 // §8.5: the LIS3DH's identity

	ctrl1LPen = 1 << 3 // CTRL_REG1: low-power mode
	ctrl1XYZ  = 0x07   // CTRL_REG1: Zen, Yen, Xen
	ctrl4BDU  = 1 << 7 // CTRL_REG4: block data update
	ctrl4HR   = 1 << 3 // CTRL_REG4: high-resolution output mode
	ctrl5FIFO = 1 << 6 // CTRL_REG5: FIFO_EN

	fifoBypass = 0x00 // FIFO_CTRL_REG FM[1:0] = 00
	fifoStream = 0x80 // FIFO_CTRL_REG FM[1:0] = 10

	srcOverrun = 1 << 6 // FIFO_SRC_REG: OVRN_FIFO
	srcEmpty   = 1 << 5 // FIFO_SRC_REG: EMPTY
	srcFSS     = 0x1F   // FIFO_SRC_REG: FSS[4:0], unread samples

	// FIFODepth is the number of samples the FIFO holds (§5.1).
	FIFODepth = 32
)

// Addresses the LIS3DH answers on (§6.1.1): 0011000b with SA0 (pin SDO/SA0)
// tied low, 0011001b with SA0 high.
const (
	AddrSA0Low  uint16 = 0x18
	AddrSA0High uint16 = 0x19
)

// Mode is the operating mode: the number of significant bits per sample and
// the current drawn (datasheet §3.2.1, Table 10 and Table 12).
type Mode int

const (
	// HighResolution gives 12-bit samples (CTRL_REG4 HR = 1). The default.
	HighResolution Mode = iota
	// Normal gives 10-bit samples (LPen = 0, HR = 0).
	Normal
	// LowPower gives 8-bit samples (CTRL_REG1 LPen = 1).
	LowPower
)

// String names the mode as the datasheet does.
func (m Mode) String() string {
	switch m {
	case HighResolution:
		return "high-resolution"
	case Normal:
		return "normal"
	case LowPower:
		return "low-power"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// odrCode maps output data rates to CTRL_REG1 ODR[3:0] (§8.8); the rates
// above 400 Hz are not offered (a 200 ms read interval would overrun).
var odrCode = map[int]byte{1: 0x1, 10: 0x2, 25: 0x3, 50: 0x4, 100: 0x5, 200: 0x6, 400: 0x7}

// fsCode maps the full-scale range in g to CTRL_REG4 FS[1:0] (§8.11).
var fsCode = map[int]byte{2: 0, 4: 1, 8: 2, 16: 3}

// The defaults of Options.RangeG and Options.RateHz.
const (
	DefaultRangeG = 4
	DefaultRateHz = 100
)

// Ranges returns the full-scale ranges in g, ascending: 2, 4, 8 and 16
// (§8.11, CTRL_REG4 FS[1:0]).
func Ranges() []int { return slices.Sorted(maps.Keys(fsCode)) }

// Rates returns the output data rates in Hz the driver offers, ascending:
// 1, 10, 25, 50, 100, 200 and 400 (§8.8, CTRL_REG1 ODR[3:0]).
func Rates() []int { return slices.Sorted(maps.Keys(odrCode)) }

// Options configures a [Dev]. The zero value is valid.
type Options struct {
	// Clock is the time source; nil means sensor.SystemClock. The driver
	// never waits (the FIFO buffers samples); it uses the clock to notice a
	// FIFO that stays empty for longer than two sample periods.
	Clock sensor.Clock
	// RangeG is the full scale in g, one of Ranges: 2, 4, 8 or 16. 0
	// means DefaultRangeG.
	RangeG int
	// RateHz is the output data rate, one of Rates: 1, 10, 25, 50, 100,
	// 200 or 400. 0 means DefaultRateHz.
	RateHz int
	// Mode is the operating mode; the zero value is HighResolution.
	Mode Mode
	// Name names the device in String and errors; "" means "lis3dh".
	Name string
	// BusName names the bus in String and errors (e.g. "I2C1"); "" means
	// the bus's own String.
	BusName string
}

// Dev is a configured LIS3DH. It implements sensor.Sensor.
type Dev struct {
	// Constant after New.
	bus   i2c.Bus
	clock sensor.Clock
	addr  uint16
	name  string
	where string // bus name and address, e.g. "I2C1 0x18"
	regs  [5]byte
	conv  conversion
	rate  int
	rng   int
	mode  Mode

	mu       sync.Mutex // guards the following and serializes bus access
	halted   bool
	overruns int64
	lastData time.Time // when a read last found samples, or the chip was configured
}

// New checks that a LIS3DH answers at addr on bus and configures it as the
// package documentation describes. It returns an *sensor.Error: wrapping
// sensor.ErrConfig for bad options, sensor.ErrNoDevice when the identity
// read fails, sensor.ErrWrongChip when WHO_AM_I is not 33h, sensor.ErrBus
// when a configuration write fails.
func New(ctx context.Context, bus i2c.Bus, addr uint16, opts *Options) (*Dev, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := &Dev{bus: bus, clock: sensor.ClockOr(o.Clock), addr: addr, name: o.Name, rate: o.RateHz, rng: o.RangeG, mode: o.Mode}
	if d.name == "" {
		d.name = "lis3dh"
	}
	busName := o.BusName
	if busName == "" && bus != nil {
		busName = bus.String()
	}
	d.where = fmt.Sprintf("%s 0x%02x", busName, addr)
	if d.rate == 0 {
		d.rate = DefaultRateHz
	}
	if d.rng == 0 {
		d.rng = DefaultRangeG
	}
	if err := d.validate(bus); err != nil {
		return nil, d.fail("check options", fmt.Errorf("%w: %w", sensor.ErrConfig, err))
	}
	d.conv = conversionFor(d.rng, d.mode)

	// CTRL_REG1..CTRL_REG5, written in this order.
	ctrl1 := odrCode[d.rate]<<4 | ctrl1XYZ
	ctrl4 := byte(ctrl4BDU) | fsCode[d.rng]<<4
	switch d.mode {
	case LowPower:
		ctrl1 |= ctrl1LPen
	case HighResolution:
		ctrl4 |= ctrl4HR
	}
	d.regs = [5]byte{ctrl1, 0x00, 0x00, ctrl4, ctrl5FIFO}

	if err := ctx.Err(); err != nil {
		return nil, d.fail("read WHO_AM_I", err)
	}
	id := make([]byte, 1)
	if err := bus.Tx(addr, []byte{regWhoAmI}, id); err != nil {
		return nil, d.fail("read WHO_AM_I", fmt.Errorf("%w: %w", sensor.ErrNoDevice, err))
	}
	if id[0] != whoAmI {
		return nil, d.fail("read WHO_AM_I", fmt.Errorf("%w: WHO_AM_I is 0x%02x, want 0x%02x", sensor.ErrWrongChip, id[0], whoAmI))
	}
	if err := d.start(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dev) validate(bus i2c.Bus) error {
	if bus == nil {
		return errors.New("no I2C bus")
	}
	if d.addr != AddrSA0Low && d.addr != AddrSA0High {
		return fmt.Errorf("address 0x%02x: the LIS3DH answers on 0x%02x or 0x%02x", d.addr, AddrSA0Low, AddrSA0High)
	}
	if _, ok := fsCode[d.rng]; !ok {
		return fmt.Errorf("range %d g: want %s", d.rng, orList(Ranges()))
	}
	if _, ok := odrCode[d.rate]; !ok {
		return fmt.Errorf("rate %d Hz: want %s", d.rate, orList(Rates()))
	}
	if d.mode < HighResolution || d.mode > LowPower {
		return fmt.Errorf("mode %d: want HighResolution, Normal or LowPower", int(d.mode))
	}
	return nil
}

// orList writes xs as "1, 2 or 3".
func orList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// start writes the configuration and restarts the FIFO in Stream mode.
func (d *Dev) start() error {
	w := append([]byte{regCtrl1 | autoIncrement}, d.regs[:]...)
	if err := d.write("configure CTRL_REG1..5", w); err != nil {
		return err
	}
	// Bypass empties the FIFO (§5.1.1); Stream then collects (§5.1.3).
	if err := d.write("reset FIFO", []byte{regFIFOCtrl, fifoBypass}); err != nil {
		return err
	}
	if err := d.write("start FIFO stream", []byte{regFIFOCtrl, fifoStream}); err != nil {
		return err
	}
	d.lastData = d.clock.Now()
	return nil
}

// check reads CTRL_REG1..CTRL_REG5 back. A chip that lost power for a moment
// comes back in power-down mode (CTRL_REG1 = 07h, §8.8) and its FIFO stays
// empty for ever; check then configures it again and reports the event.
func (d *Dev) check() error {
	got := make([]byte, len(d.regs))
	if err := d.tx("check configuration", []byte{regCtrl1 | autoIncrement}, got); err != nil {
		return err
	}
	if bytes.Equal(got, d.regs[:]) {
		return nil
	}
	if err := d.start(); err != nil {
		return err
	}
	return d.fail("check configuration", fmt.Errorf("%w: CTRL_REG1..5 read % x, want % x: the chip was reset (power loss?) and is configured again", sensor.ErrBus, got, d.regs[:]))
}

// String implements sensor.Sensor, e.g. "lis3dh on I2C1 0x18".
func (d *Dev) String() string { return d.name + " on " + d.where }

// Overruns returns how many reads found the FIFO full, that is, how many
// times samples may have been overwritten before they were read.
func (d *Dev) Overruns() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.overruns
}

// Sense implements sensor.Sensor. It drains the FIFO and returns one
// sensor.Motion with the signed peak of each axis over the samples read
// (up to 32) and their count. An empty FIFO gives no value and no error;
// when it has been empty for two sample periods or more, Sense also reads
// the configuration back and, if the chip was reset, configures it again and
// returns an error wrapping sensor.ErrBus. After Halt, Sense restarts the
// chip first (and then finds an empty FIFO).
func (d *Dev) Sense(ctx context.Context) ([]sensor.Value, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, d.fail("read FIFO_SRC_REG", err)
	}
	if d.halted {
		if err := d.start(); err != nil {
			return nil, err
		}
		d.halted = false
	}
	src := make([]byte, 1)
	if err := d.tx("read FIFO_SRC_REG", []byte{regFIFOSrc}, src); err != nil {
		return nil, err
	}
	n := fifoCount(src[0])
	if src[0]&srcOverrun != 0 {
		d.overruns++
	}
	if n == 0 {
		period := time.Second / time.Duration(d.rate)
		if d.clock.Now().Sub(d.lastData) >= 2*period {
			if err := d.check(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	d.lastData = d.clock.Now()
	// One burst read of every stored sample: in FIFO mode the register
	// address rolls back to OUT_X_L (28h) after OUT_Z_H (2Dh) (§5.1.5), so
	// n samples are 6n bytes read from 28h with auto-increment.
	var m sensor.Motion
	buf := make([]byte, 6*n)
	if err := d.tx("read FIFO samples", []byte{regOutXL | autoIncrement}, buf); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		x, y, z := d.conv.decode(buf[6*i : 6*i+6])
		m.X, m.Y, m.Z = peak(m.X, x), peak(m.Y, y), peak(m.Z, z)
	}
	m.Samples = n
	return []sensor.Value{m}, nil
}

// Halt implements sensor.Sensor: it selects power-down mode (ODR = 0000,
// §8.8). The FIFO keeps what it holds until the next Sense restarts it.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.write("power down", []byte{regCtrl1, d.regs[0] & 0x0F}); err != nil {
		return err
	}
	d.halted = true
	return nil
}

// fifoCount decodes FIFO_SRC_REG (§8.20) into the number of unread samples:
// FSS[4:0], or the full depth when OVRN_FIFO says the FIFO is full (FSS has
// five bits and cannot count 32), or none when EMPTY is set.
func fifoCount(src byte) int {
	switch {
	case src&srcOverrun != 0:
		return FIFODepth
	case src&srcEmpty != 0:
		return 0
	}
	return int(src & srcFSS)
}

// peak returns whichever of a and b has the larger magnitude, a on a tie.
func peak(a, b sensor.MilliG) sensor.MilliG {
	if abs(b) > abs(a) {
		return b
	}
	return a
}

func abs(v sensor.MilliG) int64 {
	if v < 0 {
		return -int64(v)
	}
	return int64(v)
}

func (d *Dev) write(step string, w []byte) error { return d.tx(step, w, nil) }

func (d *Dev) tx(step string, w, r []byte) error {
	if err := d.bus.Tx(d.addr, w, r); err != nil {
		if !errors.Is(err, sensor.ErrBus) {
			err = fmt.Errorf("%w: %w", sensor.ErrBus, err)
		}
		return d.fail(step, err)
	}
	return nil
}

func (d *Dev) fail(step string, err error) error {
	return &sensor.Error{Device: d.name, Bus: d.where, Step: step, Err: err}
}

var _ sensor.Sensor = (*Dev)(nil)
