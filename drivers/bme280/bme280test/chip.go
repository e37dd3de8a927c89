// Package bme280test simulates a Bosch BME280 (or BMP280) on an I2C bus, for
// tests, recordings and simulated fleets.
//
// A [Chip] is a complete i2c.Bus with one device on it. It answers the
// register map of datasheet BST-BME280-DS002 section 5.3: chip id, soft
// reset, the trimming parameters of section 4.2.2 (a fixed, realistic set,
// see [Calibration]), ctrl_hum, status, ctrl_meas, config and the data
// registers. A measurement (forced mode, or every data read in normal mode)
// turns the Chip's physical state (Temperature, Pressure, Humidity) into raw
// ADC words by inverting the double-precision compensation formulas of
// appendix 8.1: a binary search over the raw values the oversampling and
// filter settings allow (16 to 20 bits, section 3.4), since each formula is
// monotonic in its raw value. The driver's integer formulas (section 4.2.3)
// are a separate implementation, so a round trip checks one against the
// other.
package bme280test

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Trimming holds trimming parameters under their datasheet names and types
// (section 4.2.2, Table 16).
type Trimming struct {
	T1         uint16
	T2, T3     int16
	P1         uint16
	P2, P3, P4 int16
	P5, P6, P7 int16
	P8, P9     int16
	H1         uint8
	H2         int16
	H3         uint8
	H4, H5     int16 // 12-bit two's complement
	H6         int8
}

// Calibration returns the trimming parameters every simulated chip holds.
// Temperature and pressure are the values of the worked example in the
// BMP280 datasheet (BST-BMP280-DS001), whose temperature and pressure
// front end the BME280 shares (BME280 section 5.2); the humidity values lie
// within the spread of production parts and give dig_H4 and dig_H5, which
// share register 0xE5, non-zero nibbles there.
func Calibration() Trimming { return trimming }

var trimming = Trimming{
	T1: 27504, T2: 26435, T3: -1000,
	P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
	H1: 75, H2: 364, H3: 0, H4: 317, H5: 50, H6: 30,
}

// Chip is one simulated BME280 or BMP280 at Addr, and the I2C bus it sits
// on: transactions to any other address are not acknowledged.
//
// Set the exported fields before use, or while holding the Chip's lock
// (Lock, Unlock) when another goroutine may be talking to it. The zero Chip
// sits at address 0 at 0 K and 0 Pa; use [New].
type Chip struct {
	sync.Mutex

	Addr   uint16 // 0x76 or 0x77 on real hardware
	BMP280 bool   // answer as a BMP280: chip id 0x58, no humidity

	// Clock, if set, makes the chip take time: a measurement runs for the
	// typical time of appendix 9.1 (status.measuring is set meanwhile) and
	// a soft reset copies the NVM for the 2 ms start-up time (status.
	// im_update is set meanwhile). Nil means both finish at once.
	Clock sensor.Clock

	// The physical state the next measurement reads.
	Temperature physic.Temperature
	Pressure    physic.Pressure
	Humidity    physic.RelativeHumidity // ignored by a BMP280

	// FailNext makes the next FailNext transactions fail, whatever their
	// address, with a remote I/O error (EREMOTEIO, what the Raspberry
	// Pi's I2C controller reports for a disturbed transfer).
	FailNext int
	// Stuck makes a started measurement never finish: status.measuring
	// stays set and the data registers keep their old values.
	Stuck bool

	on        bool      // registers initialised (power-on reset done)
	regs      [256]byte // the writable registers and the data registers
	ptr       int       // register address pointer, auto-incremented on reads (section 6.2.2)
	osrsH     byte      // ctrl_hum as latched by the last ctrl_meas write (section 5.4.3)
	busy      bool      // a forced measurement is running
	busyUntil time.Time // when it ends (with a Clock)
	pending   [8]byte   // its result, copied to 0xF7..0xFE when it ends
	nvmUntil  time.Time // when the NVM copy after a reset ends (with a Clock)
}

// New returns a BME280 at addr in a room: 20 °C, 1013.25 hPa, 50 %RH.
func New(addr uint16) *Chip {
	return &Chip{
		Addr:        addr,
		Temperature: physic.ZeroCelsius + 20*physic.Celsius,
		Pressure:    101325 * physic.Pascal,
		Humidity:    50 * physic.PercentRH,
	}
}

// Register addresses and values, datasheet section 5.3 and 5.4.
const (
	regCalibTP  = 0x88
	regID       = 0xD0
	regReset    = 0xE0
	regCalibH   = 0xE1
	regCtrlHum  = 0xF2
	regStatus   = 0xF3
	regCtrlMeas = 0xF4
	regConfig   = 0xF5
	regData     = 0xF7

	idBME280  = 0x60
	idBMP280  = 0x58
	resetWord = 0xB6

	startupTime = 2 * time.Millisecond // section 1, t_startup
)

// String implements i2c.Bus.
func (c *Chip) String() string {
	if c.BMP280 {
		return "bmp280test"
	}
	return "bme280test"
}

// SetSpeed implements i2c.Bus; the simulated chip runs at any speed.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// Tx implements i2c.Bus as the chip's I2C interface does (section 6.2): the
// first byte written sets the register address; further bytes written are
// register/data pairs (section 6.2.1: writes do not auto-increment); a read
// returns consecutive registers from the address (section 6.2.2).
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	c.Lock()
	defer c.Unlock()
	if c.FailNext > 0 {
		c.FailNext--
		return fmt.Errorf("bme280test: i2c transfer to 0x%02x: %w", addr, syscall.EREMOTEIO)
	}
	if addr != c.Addr {
		return fmt.Errorf("bme280test: no ACK from 0x%02x: %w", addr, syscall.EREMOTEIO)
	}
	if !c.on {
		c.powerOn()
	}
	c.settle()
	i := 0
	for ; i+1 < len(w); i += 2 {
		c.write(w[i], w[i+1])
	}
	if i < len(w) {
		c.ptr = int(w[i])
	}
	if len(r) > 0 && c.regs[regCtrlMeas]&3 == 3 && c.ptr >= regData {
		// Normal mode: a read of the data registers sees a fresh measurement.
		data := c.measure().registers()
		copy(c.regs[regData:], data[:])
	}
	for j := range r {
		r[j] = c.read(c.ptr)
		if c.ptr < 0xFF {
			c.ptr++
		}
	}
	return nil
}

// powerOn sets every register to its reset value (section 5.3).
func (c *Chip) powerOn() {
	c.on = true
	c.regs = [256]byte{}
	c.regs[0xF7], c.regs[0xFA], c.regs[0xFD] = 0x80, 0x80, 0x80 // press, temp: 0x80000; hum: 0x8000
	c.osrsH = 0
	c.busy = false
	c.ptr = 0
}

// now returns the chip's time, or the zero time without a Clock.
func (c *Chip) now() time.Time {
	if c.Clock == nil {
		return time.Time{}
	}
	return c.Clock.Now()
}

// settle ends a measurement whose time has come.
func (c *Chip) settle() {
	if c.busy && !c.Stuck && (c.Clock == nil || !c.now().Before(c.busyUntil)) {
		c.busy = false
		copy(c.regs[regData:], c.pending[:])
		c.regs[regCtrlMeas] &^= 3 // back to sleep mode (section 3.3.3)
	}
}

// write stores v in register reg.
func (c *Chip) write(reg, v byte) {
	switch reg {
	case regReset:
		if v == resetWord { // section 5.4.2: other values have no effect
			c.powerOn()
			if c.Clock != nil {
				c.nvmUntil = c.now().Add(startupTime)
			}
		}
	case regCtrlHum:
		if !c.BMP280 {
			c.regs[reg] = v & 0x07
		}
	case regConfig:
		c.regs[reg] = v
	case regCtrlMeas:
		c.regs[reg] = v
		if !c.BMP280 {
			c.osrsH = c.regs[regCtrlHum] // takes effect now (section 5.4.3)
		}
		if m := v & 3; m == 1 || m == 2 { // forced mode (section 3.3.3, Table 25)
			c.pending = c.measure().registers()
			c.busy = true
			c.busyUntil = c.now().Add(typicalTime(v>>5&7, v>>2&7, c.osrsH, !c.BMP280))
			c.settle()
		}
	}
	// The id, status, calibration and data registers are read-only.
}

// read returns register reg.
func (c *Chip) read(reg int) byte {
	switch {
	case reg == regID:
		if c.BMP280 {
			return idBMP280
		}
		return idBME280
	case reg == regStatus:
		var s byte
		if c.busy {
			s |= 1 << 3 // measuring
		}
		if c.now().Before(c.nvmUntil) {
			s |= 1 << 0 // im_update
		}
		return s
	case reg >= regCalibTP && reg < regCalibTP+26:
		return calibTP[reg-regCalibTP]
	case reg >= regCalibH && reg < regCalibH+7:
		if c.BMP280 {
			return 0
		}
		return calibH[reg-regCalibH]
	case reg == 0xFD || reg == 0xFE:
		if c.BMP280 {
			return 0 // not in the BMP280's memory map
		}
	}
	return c.regs[reg]
}

// calibTP and calibH are the register images of trimming: 0x88..0xA1 and
// 0xE1..0xE7, laid out as in Table 16.
var calibTP, calibH = encodeTrimming()

func encodeTrimming() (tp [26]byte, h [7]byte) {
	t := trimming
	for i, v := range []uint16{
		t.T1, uint16(t.T2), uint16(t.T3),
		t.P1, uint16(t.P2), uint16(t.P3), uint16(t.P4), uint16(t.P5),
		uint16(t.P6), uint16(t.P7), uint16(t.P8), uint16(t.P9),
	} {
		tp[2*i], tp[2*i+1] = byte(v), byte(v>>8) // LSB / MSB
	}
	tp[25] = t.H1 // 0xA1; 0xA0 is reserved
	h[0], h[1] = byte(t.H2), byte(uint16(t.H2)>>8)
	h[2] = t.H3
	h[3] = byte(t.H4 >> 4)                      // 0xE4: dig_H4[11:4]
	h[4] = byte(t.H4&0x0F) | byte(t.H5&0x0F)<<4 // 0xE5: dig_H5[3:0], dig_H4[3:0]
	h[5] = byte(t.H5 >> 4)                      // 0xE6: dig_H5[11:4]
	h[6] = byte(t.H6)
	return tp, h
}

// raw is one measurement's ADC words.
type raw struct{ p, t, h uint32 }

// registers lays out r as registers 0xF7..0xFE (sections 5.4.7 to 5.4.9):
// 20-bit words as msb, lsb and xlsb[7:4]; humidity as msb, lsb.
func (r raw) registers() [8]byte {
	return [8]byte{
		byte(r.p >> 12), byte(r.p >> 4), byte(r.p<<4) & 0xF0,
		byte(r.t >> 12), byte(r.t >> 4), byte(r.t<<4) & 0xF0,
		byte(r.h >> 8), byte(r.h),
	}
}

// measure converts the physical state into raw words with the current
// settings. A skipped measurement (osrs 000) gives the reset value.
func (c *Chip) measure() raw {
	osT := c.regs[regCtrlMeas] >> 5 & 7
	osP := c.regs[regCtrlMeas] >> 2 & 7
	filter := c.regs[regConfig] >> 2 & 7
	r := raw{p: 0x80000, t: 0x80000, h: 0x8000}
	tC := float64(c.Temperature-physic.ZeroCelsius) / float64(physic.Celsius)
	pPa := float64(c.Pressure) / float64(physic.Pascal)
	hRH := float64(c.Humidity) / float64(physic.PercentRH)

	// The temperature is measured even when skipped: the pressure and
	// humidity formulas need its t_fine.
	rt := search(func(adc float64) float64 { v, _ := compT(adc); return v }, tC, 20, bits(max(osT, 1), filter))
	_, tFine := compT(float64(rt))
	if osT != 0 {
		r.t = rt
	}
	if osP != 0 {
		r.p = search(func(adc float64) float64 { return compP(adc, tFine) }, pPa, 20, bits(osP, filter))
	}
	if !c.BMP280 && c.osrsH != 0 {
		r.h = search(func(adc float64) float64 { return compH(adc, tFine) }, hRH, 16, 16)
	}
	return r
}

// bits returns the resolution of a temperature or pressure result (section
// 3.4.2, 3.4.3): 16 + (osrs - 1) bits with the filter off, 20 bits with it
// on.
func bits(osrs, filter byte) int {
	if filter != 0 {
		return 20
	}
	return 15 + int(min(osrs, 5))
}

// search returns the raw word, width bits wide (20, or 16 for humidity)
// with only its top res bits used, whose compensated value f is nearest to
// target. f must be monotonic.
func search(f func(adc float64) float64, target float64, width, res int) uint32 {
	shift := width - res
	g := func(k int) float64 { return f(float64(k << shift)) }
	lo, hi := 0, 1<<res-1
	up := g(hi) >= g(lo)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if (g(mid) < target) == up {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo > 0 && abs(g(lo-1)-target) <= abs(g(lo)-target) {
		lo--
	}
	return uint32(lo << shift)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// compT is the double-precision temperature compensation of appendix 8.1:
// °C and t_fine.
func compT(adc float64) (float64, int32) {
	t := trimming
	v1 := (adc/16384 - float64(t.T1)/1024) * float64(t.T2)
	d := adc/131072 - float64(t.T1)/8192
	v2 := d * d * float64(t.T3)
	return (v1 + v2) / 5120, int32(v1 + v2)
}

// compP is the double-precision pressure compensation of appendix 8.1: Pa.
func compP(adc float64, tFine int32) float64 {
	t := trimming
	v1 := float64(tFine)/2 - 64000
	v2 := v1 * v1 * float64(t.P6) / 32768
	v2 += v1 * float64(t.P5) * 2
	v2 = v2/4 + float64(t.P4)*65536
	v1 = (float64(t.P3)*v1*v1/524288 + float64(t.P2)*v1) / 524288
	v1 = (1 + v1/32768) * float64(t.P1)
	if v1 == 0 {
		return 0
	}
	p := 1048576 - adc
	p = (p - v2/4096) * 6250 / v1
	v1 = float64(t.P9) * p * p / 2147483648
	v2 = p * float64(t.P8) / 32768
	return p + (v1+v2+float64(t.P7))/16
}

// compH is the double-precision humidity compensation of appendix 8.1: %RH.
func compH(adc float64, tFine int32) float64 {
	t := trimming
	v := float64(tFine) - 76800
	v = (adc - (float64(t.H4)*64 + float64(t.H5)/16384*v)) *
		(float64(t.H2) / 65536 * (1 + float64(t.H6)/67108864*v*(1+float64(t.H3)/67108864*v)))
	v *= 1 - float64(t.H1)*v/524288
	return min(max(v, 0), 100)
}

// typicalTime is the typical measurement time of appendix 9.1 for the
// osrs register fields (0: skipped).
func typicalTime(osT, osP, osH byte, humidity bool) time.Duration {
	us := 1000
	if osT != 0 {
		us += 2000 * factor(osT)
	}
	if osP != 0 {
		us += 2000*factor(osP) + 500
	}
	if humidity && osH != 0 {
		us += 2000*factor(osH) + 500
	}
	return time.Duration(us) * time.Microsecond
}

// factor returns the oversampling factor of an osrs field (1 to 5 and
// above: ×1 to ×16).
func factor(osrs byte) int { return 1 << (min(osrs, 5) - 1) }

var _ i2c.Bus = (*Chip)(nil)
