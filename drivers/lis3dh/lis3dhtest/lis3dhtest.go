// Package lis3dhtest simulates an ST LIS3DH accelerometer on an I2C bus, per
// its datasheet (DocID17530 Rev 2): the register map of §7 and §8, the
// 32-level FIFO of §5.1 and the output format of §8.16 to §8.18 (two's
// complement, left-justified, with the bits per mode of §3.2.1, Table 10)
// and the sensitivity of Table 4.
//
// A [Chip] is an i2c.Bus with one LIS3DH on it. The caller sets the physical
// state: [Chip.Push] adds samples as if measured now, [Chip.SetConstant]
// makes the chip measure a constant vector at the configured output data
// rate as the chip's Clock advances. The chip converts each sample with the
// range and mode configured at the time it is taken, as the real one does.
package lis3dhtest

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Registers (datasheet §7, Table 21).
const (
	regWhoAmI   = 0x0F
	regCtrl0    = 0x1E
	regCtrl1    = 0x20
	regCtrl4    = 0x23
	regCtrl5    = 0x24
	regRef      = 0x26
	regStatus   = 0x27
	regOutXL    = 0x28
	regOutZH    = 0x2D
	regFIFOCtrl = 0x2E
	regFIFOSrc  = 0x2F
	regLast     = 0x3F

	depth = 32 // §5.1
)

// odrHz maps CTRL_REG1 ODR[3:0] to the output data rate (§8.8); the
// low-power-only rates above 400 Hz are simulated at their normal-mode value.
var odrHz = [16]int{0, 1, 10, 25, 50, 100, 200, 400, 1600, 1344}

// sensitivity is datasheet Table 4, milli-g per digit by FS[1:0] and mode
// (high-resolution, normal, low-power).
var sensitivity = [4][3]int32{{1, 4, 16}, {2, 8, 32}, {4, 16, 64}, {12, 48, 192}}

// Accel is an acceleration in the chip's axes.
type Accel struct {
	X, Y, Z sensor.MilliG
}

// Chip is a simulated LIS3DH. It implements i2c.Bus; transactions to any
// address but Addr fail as an unacknowledged address does on Linux.
type Chip struct {
	// Addr is the chip's 7-bit address, 0x18 or 0x19 (§6.1.1). Set the
	// exported fields before the chip is first used.
	Addr uint16
	// Clock paces SetConstant's samples; nil means sensor.SystemClock.
	Clock sensor.Clock

	mu       sync.Mutex
	regs     [regLast + 1]byte
	fifo     [][6]byte
	out      [6]byte // OUT_X_L..OUT_Z_H outside the FIFO modes
	constant *Accel
	next     time.Time // when the constant vector is sampled next
	failNext int
	txs      int
}

// New returns a chip at addr in its power-on state: WHO_AM_I 33h,
// CTRL_REG0 10h, CTRL_REG1 07h (power-down, axes enabled), every other
// register 00h (§7, Table 21).
func New(addr uint16) *Chip {
	c := &Chip{Addr: addr}
	c.powerOnLocked()
	return c
}

func (c *Chip) powerOnLocked() {
	c.regs = [regLast + 1]byte{}
	c.regs[regWhoAmI] = 0x33
	c.regs[regCtrl0] = 0x10
	c.regs[regCtrl1] = 0x07
	c.fifo = nil
	c.out = [6]byte{}
}

// PowerCycle simulates a brief loss of power (a brown-out): the chip comes
// back in its power-on state, in power-down mode with an empty FIFO, and
// has to be configured again.
func (c *Chip) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.powerOnLocked()
}

// String implements i2c.Bus.
func (c *Chip) String() string { return fmt.Sprintf("lis3dhtest(0x%02x)", c.Addr) }

// SetSpeed implements i2c.Bus; the LIS3DH runs at up to 400 kHz (§2.4.2,
// Table 8), which the simulation does not need to enforce.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// FailNext makes the next n transactions fail with a remote I/O error, the
// errno the Raspberry Pi's I2C controller returns on a missing ACK.
func (c *Chip) FailNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext = n
}

// Transactions returns how many transactions the chip has seen.
func (c *Chip) Transactions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txs
}

// Push adds samples taken now, in order. A chip in power-down mode
// (ODR = 0) takes no samples, and Push ignores them.
func (c *Chip) Push(samples ...Accel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked()
	for _, s := range samples {
		c.sampleLocked(s)
	}
}

// SetConstant makes the chip measure v once per output data period from
// now on, as its Clock advances. nil stops it.
func (c *Chip) SetConstant(v *Accel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked()
	if v == nil {
		c.constant = nil
		return
	}
	cp := *v
	c.constant = &cp
	c.next = c.clock().Now()
}

// Pending returns the number of unread samples in the FIFO.
func (c *Chip) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked()
	return len(c.fifo)
}

// RateHz returns the configured output data rate; 0 in power-down mode.
func (c *Chip) RateHz() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rateLocked()
}

// Register returns a register's content, for tests that check the
// configuration a driver wrote.
func (c *Chip) Register(addr byte) byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(addr) >= len(c.regs) {
		return 0
	}
	return c.regs[addr]
}

// Tx implements i2c.Bus: w[0] is the sub-address (bit 7 set for
// auto-increment, §6.1.1), the rest of w is written from there, then len(r)
// bytes are read from there.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.txs++
	if c.failNext > 0 {
		c.failNext--
		return fmt.Errorf("lis3dhtest: %w", syscall.EREMOTEIO)
	}
	if addr != c.Addr {
		return fmt.Errorf("lis3dhtest: no ACK at 0x%02x: %w", addr, syscall.EREMOTEIO)
	}
	if len(w) == 0 {
		if len(r) != 0 {
			return fmt.Errorf("lis3dhtest: read without a sub-address: %w", syscall.EREMOTEIO)
		}
		return nil
	}
	c.advanceLocked()
	sub := w[0] & 0x7F
	inc := w[0]&0x80 != 0
	for _, b := range w[1:] {
		c.writeLocked(sub, b)
		if inc {
			sub = (sub + 1) & 0x7F
		}
	}
	for i := range r {
		r[i] = c.readLocked(sub)
		if inc {
			sub = (sub + 1) & 0x7F
			// In FIFO mode the address rolls back from OUT_Z_H (2Dh) to
			// OUT_X_L (28h), so one burst reads successive samples (§5.1.5).
			if sub == 0x2E && c.fifoOnLocked() {
				sub = 0x28
			}
		}
	}
	return nil
}

func (c *Chip) clock() sensor.Clock { return sensor.ClockOr(c.Clock) }

func (c *Chip) rateLocked() int { return odrHz[c.regs[regCtrl1]>>4] }

func (c *Chip) fifoOnLocked() bool {
	return c.regs[regCtrl5]&0x40 != 0 && c.regs[regFIFOCtrl]&0xC0 != 0
}

// advanceLocked takes the constant vector's samples that are due.
func (c *Chip) advanceLocked() {
	hz := c.rateLocked()
	if c.constant == nil || hz == 0 {
		return
	}
	now := c.clock().Now()
	if c.next.After(now) {
		return
	}
	period := time.Second / time.Duration(hz)
	n := int64(now.Sub(c.next)/period) + 1
	// Past two FIFO depths the outcome no longer depends on the count: the
	// FIFO is full of the same vector, or stopped full in FIFO mode.
	for i := int64(0); i < min(n, 2*depth); i++ {
		c.sampleLocked(*c.constant)
	}
	c.next = c.next.Add(time.Duration(n) * period)
}

// sampleLocked converts one measurement with the current range and mode
// and stores it where the FIFO mode says (§5.1).
func (c *Chip) sampleLocked(a Accel) {
	if c.rateLocked() == 0 {
		return
	}
	ctrl4 := c.regs[regCtrl4]
	mode := 1 // normal
	switch {
	case c.regs[regCtrl1]&0x08 != 0:
		mode = 2 // low-power
	case ctrl4&0x08 != 0:
		mode = 0 // high-resolution
	}
	bitsPer := [3]uint{12, 10, 8}[mode]
	mg := sensitivity[(ctrl4>>4)&3][mode]
	var slot [6]byte
	for i, v := range [3]sensor.MilliG{a.X, a.Y, a.Z} {
		lo, hi := encode(int32(v), mg, bitsPer)
		if ctrl4&0x40 != 0 { // BLE: big-endian (§8.11)
			lo, hi = hi, lo
		}
		slot[2*i], slot[2*i+1] = lo, hi
	}
	c.out = slot
	c.regs[regStatus] |= 0x0F // ZYXDA and each axis
	if !c.fifoOnLocked() {
		return
	}
	if len(c.fifo) == depth {
		if c.regs[regFIFOCtrl]&0xC0 == 0x40 { // FIFO mode stops when full (§5.1.2)
			return
		}
		c.fifo = c.fifo[1:] // Stream mode overwrites the oldest (§5.1.3)
	}
	c.fifo = append(c.fifo, slot)
}

// encode rounds mgValue to the nearest digit, saturates it to the n-bit
// range and left-justifies it in 16 bits.
func encode(mgValue, mgPerDigit int32, n uint) (lo, hi byte) {
	half := mgPerDigit / 2
	var d int32
	if mgValue >= 0 {
		d = (mgValue + half) / mgPerDigit
	} else {
		d = -((-mgValue + half) / mgPerDigit)
	}
	maxD := int32(1)<<(n-1) - 1
	minD := -int32(1) << (n - 1)
	d = max(minD, min(maxD, d))
	raw := uint16(int16(d) << (16 - n))
	return byte(raw), byte(raw >> 8)
}

func (c *Chip) writeLocked(sub, b byte) {
	switch {
	case sub == regCtrl0:
		c.regs[sub] = b&0x80 | 0x10 // SDO_PU_DISC; bits 6:0 read 0010000b (§8.6)
	case sub >= 0x1F && sub <= regRef:
		old := c.regs[sub]
		c.regs[sub] = b
		if sub == regCtrl1 && old>>4 != b>>4 {
			c.next = c.clock().Now() // a new rate starts from now
		}
		if sub == regCtrl5 {
			c.regs[sub] &^= 0x80 // BOOT clears itself once the trimming is reloaded
		}
	case sub == regFIFOCtrl:
		c.regs[sub] = b
		if b&0xC0 == 0 { // Bypass resets the FIFO (§5.1.1)
			c.fifo = nil
		}
	case sub == 0x30 || sub == 0x32 || sub == 0x33 || sub == 0x34 ||
		sub == 0x36 || sub == 0x37 || sub == 0x38 || (sub >= 0x3A && sub <= regLast):
		c.regs[sub] = b
	}
	// Everything else is read-only or reserved: the write is ignored.
}

func (c *Chip) readLocked(sub byte) byte {
	switch {
	case sub >= regOutXL && sub <= regOutZH:
		if c.fifoOnLocked() && len(c.fifo) > 0 {
			v := c.fifo[0][sub-regOutXL]
			if sub == regOutZH { // reading the slot's last byte frees it
				c.out = c.fifo[0]
				c.fifo = c.fifo[1:]
			}
			return v
		}
		if sub == regOutZH {
			c.regs[regStatus] = 0
		}
		return c.out[sub-regOutXL]
	case sub == regFIFOSrc:
		return c.fifoSrcLocked()
	case int(sub) < len(c.regs):
		return c.regs[sub]
	}
	return 0
}

// fifoSrcLocked builds FIFO_SRC_REG (§8.20): WTM, OVRN_FIFO (set while the
// FIFO is full, 32 samples), EMPTY, FSS[4:0] (unread samples, at most 31).
func (c *Chip) fifoSrcLocked() byte {
	n := len(c.fifo)
	var v byte
	if n >= depth {
		v |= 0x40
	}
	if n == 0 {
		v |= 0x20
	}
	if c.regs[regFIFOCtrl]&0x1F != 0 && n >= int(c.regs[regFIFOCtrl]&0x1F) {
		v |= 0x80
	}
	return v | byte(min(n, depth-1))
}

var _ i2c.Bus = (*Chip)(nil)
