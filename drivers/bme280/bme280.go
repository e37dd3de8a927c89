package bme280

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Addresses the chip answers on (datasheet section 6.2): 1110110b with SDO
// tied to GND, 1110111b with SDO tied to VDDIO.
const (
	AddrSDOLow  uint16 = 0x76
	AddrSDOHigh uint16 = 0x77
)

// Register addresses, datasheet section 5.3 (memory map).
const (
	regCalibTP  = 0x88 // calib00..calib25, section 4.2.2
	regID       = 0xD0 // chip_id, section 5.4.1
	regReset    = 0xE0 // reset, section 5.4.2
	regCalibH   = 0xE1 // dig_H2..dig_H6, section 4.2.2
	regCtrlHum  = 0xF2 // osrs_h[2:0], section 5.4.3
	regStatus   = 0xF3 // measuring[3], im_update[0], section 5.4.4
	regCtrlMeas = 0xF4 // osrs_t[7:5], osrs_p[4:2], mode[1:0], section 5.4.5
	regConfig   = 0xF5 // t_sb[7:5], filter[4:2], spi3w_en[0], section 5.4.6
	regData     = 0xF7 // press 0xF7..0xF9, temp 0xFA..0xFC, hum 0xFD..0xFE
)

// Register values.
const (
	// idBME280 is the BME280's chip_id (section 5.4.1).
	idBME280 = 0x60
	// idBMP280 is the BMP280's chip_id in mass production (BMP280
	// datasheet BST-BMP280-DS001, section 4.3.1); pre-production parts
	// report 0x56 and 0x57.
	idBMP280 = 0x58

	// resetWord written to 0xE0 resets the device with the complete
	// power-on-reset procedure (section 5.4.2).
	resetWord = 0xB6

	statusMeasuring = 1 << 3 // a conversion is running (section 5.4.4)
	statusIMUpdate  = 1 << 0 // the NVM is being copied to the image registers

	modeSleep  = 0b00 // section 3.3.2, 5.4.5
	modeForced = 0b01 // section 3.3.3: one measurement, then back to sleep
)

// Timing, all waited on the Options' Clock.
const (
	// startupTime is t_startup, the time to first communication after
	// power-on (section 1, Table 1: 2 ms maximum); a soft reset runs the
	// same power-on-reset procedure (section 5.4.2).
	startupTime = 2 * time.Millisecond
	// pollInterval separates two reads of the status register.
	pollInterval = time.Millisecond
	// maxPolls bounds the status reads while waiting for im_update or
	// measuring to clear. The first read comes after the datasheet's
	// maximum time, so the polls are a margin for slow clocks, not the
	// expected path.
	maxPolls = 10
)

// Oversampling is the oversampling factor of one measurement: 1, 2, 4, 8 or
// 16 (datasheet section 3.4, registers ctrl_hum and ctrl_meas, sections
// 5.4.3 and 5.4.5). More oversampling lowers noise and lengthens the
// measurement (see [MeasurementTime]). The zero value means 1.
type Oversampling uint8

// code returns the osrs_x register field for o (sections 5.4.3, 5.4.5):
// 001 ×1, 010 ×2, 011 ×4, 100 ×8, 101 ×16. 000 (skipped) is never used.
func (o Oversampling) code() (byte, bool) {
	switch o {
	case 0, 1:
		return 1, true
	case 2:
		return 2, true
	case 4:
		return 3, true
	case 8:
		return 4, true
	case 16:
		return 5, true
	}
	return 0, false
}

// factor returns the oversampling factor, 1 for the zero value.
func (o Oversampling) factor() int {
	if o == 0 {
		return 1
	}
	return int(o)
}

// Filter is the coefficient of the IIR filter applied to temperature and
// pressure (section 3.4.4, register config, section 5.4.6): 0 (off), 2, 4,
// 8 or 16. The filter smooths short pressure changes (a door slammed, wind)
// at the cost of a step response that takes several measurements; it raises
// the output resolution to 20 bits.
type Filter uint8

// code returns the filter[2:0] field of config for f (section 5.4.6).
func (f Filter) code() (byte, bool) {
	switch f {
	case 0:
		return 0, true
	case 2:
		return 1, true
	case 4:
		return 2, true
	case 8:
		return 3, true
	case 16:
		return 4, true
	}
	return 0, false
}

// Options configures a [Dev]. The zero value (or nil) measures everything
// once (×1 oversampling), with the filter off, on the system clock.
type Options struct {
	// Clock is what the driver sleeps on; nil means sensor.SystemClock.
	Clock sensor.Clock
	// Temperature, Pressure and Humidity are the oversampling factors of
	// each measurement: 1, 2, 4, 8 or 16; 0 means 1. Humidity is ignored on
	// a BMP280.
	Temperature, Pressure, Humidity Oversampling
	// Filter is the IIR filter coefficient: 0 (off), 2, 4, 8 or 16.
	Filter Filter
	// Name is the configured sensor name, shown by String; may be empty.
	Name string
	// Bus names the bus and address in errors and in String, e.g.
	// "I2C1 0x76"; empty means the bus's own String and the address.
	Bus string
}

// Dev is a BME280 or BMP280 on an I2C bus, measuring in forced mode: each
// Sense starts one measurement, waits for it and reads it; in between the
// chip sleeps. Its methods may be called from several goroutines; they run
// one at a time.
type Dev struct {
	// Constant after New.
	bus      i2c.Bus
	addr     uint16
	clock    sensor.Clock
	device   string // "bme280" or "bmp280", from the chip id
	where    string // the Bus label
	name     string // the configured name, or ""
	humidity bool   // a BME280: humidity is measured
	cal      calibration
	start    []byte        // the register writes that start a forced measurement
	sleep    byte          // ctrl_meas in sleep mode
	wait     time.Duration // maximum measurement time, appendix 9.1

	mu sync.Mutex // held by Sense and Halt
}

// New checks the chip at addr on bus (0x76 with SDO to GND, 0x77 with SDO
// to VDDIO; datasheet section 6.2), resets it, waits for its trimming
// parameters to load and reads them. The chip is left in sleep mode.
//
// A chip id of 0x60 is a BME280; 0x56, 0x57 or 0x58 a BMP280, which has no
// humidity sensor. Every failure is a *sensor.Error: invalid options wrap
// sensor.ErrConfig; an error from the bus on the first transaction wraps
// sensor.ErrNoDevice and sensor.ErrBus; another chip id wraps
// sensor.ErrWrongChip.
func New(ctx context.Context, bus i2c.Bus, addr uint16, opts *Options) (*Dev, error) {
	if opts == nil {
		opts = &Options{}
	}
	where := opts.Bus
	if where == "" {
		b := "<nil>"
		if bus != nil {
			b = bus.String()
		}
		where = fmt.Sprintf("%s 0x%02x", b, addr)
	}
	d := &Dev{
		bus:    bus,
		addr:   addr,
		clock:  sensor.ClockOr(opts.Clock),
		device: "bme280",
		where:  where,
		name:   opts.Name,
	}
	if err := d.configure(opts); err != nil {
		return nil, d.fail("configure", err)
	}

	// Identify the chip: section 5.4.1.
	var id [1]byte
	if err := d.bus.Tx(d.addr, []byte{regID}, id[:]); err != nil {
		return nil, d.fail("read chip id", fmt.Errorf("%w: %w", sensor.ErrNoDevice, busErr(err)))
	}
	switch id[0] {
	case idBME280:
		d.humidity = true
	case 0x56, 0x57, idBMP280:
		d.device = "bmp280"
	default:
		return nil, d.fail("read chip id", fmt.Errorf("%w: chip id 0x%02x, want 0x60 (BME280) or 0x56, 0x57, 0x58 (BMP280)", sensor.ErrWrongChip, id[0]))
	}
	d.program(opts)

	// Soft reset (section 5.4.2), then wait for the NVM copy: im_update
	// clears when the trimming parameters are in the image registers
	// (section 5.4.4).
	if err := d.bus.Tx(d.addr, []byte{regReset, resetWord}, nil); err != nil {
		return nil, d.fail("reset", busErr(err))
	}
	if err := d.clock.Sleep(ctx, startupTime); err != nil {
		return nil, d.fail("reset", err)
	}
	if err := d.poll(ctx, statusIMUpdate, startupTime); err != nil {
		return nil, d.fail("reset", err)
	}

	// Trimming parameters: section 4.2.2, Table 16.
	tp := make([]byte, calibTPLen)
	if err := d.bus.Tx(d.addr, []byte{regCalibTP}, tp); err != nil {
		return nil, d.fail("read calibration", busErr(err))
	}
	var h []byte
	if d.humidity {
		h = make([]byte, calibHLen)
		if err := d.bus.Tx(d.addr, []byte{regCalibH}, h); err != nil {
			return nil, d.fail("read calibration", busErr(err))
		}
	}
	d.cal = parseCalibration(tp, h)
	return d, nil
}

// configure validates opts; it touches no hardware.
func (d *Dev) configure(opts *Options) error {
	if d.bus == nil {
		return fmt.Errorf("%w: no bus", sensor.ErrConfig)
	}
	if d.addr != AddrSDOLow && d.addr != AddrSDOHigh {
		return fmt.Errorf("%w: address 0x%02x, want 0x%02x or 0x%02x", sensor.ErrConfig, d.addr, AddrSDOLow, AddrSDOHigh)
	}
	for _, o := range []struct {
		name string
		v    Oversampling
	}{{"temperature", opts.Temperature}, {"pressure", opts.Pressure}, {"humidity", opts.Humidity}} {
		if _, ok := o.v.code(); !ok {
			return fmt.Errorf("%w: %s oversampling %d, want 1, 2, 4, 8 or 16", sensor.ErrConfig, o.name, o.v)
		}
	}
	if _, ok := opts.Filter.code(); !ok {
		return fmt.Errorf("%w: filter coefficient %d, want 0 (off), 2, 4, 8 or 16", sensor.ErrConfig, opts.Filter)
	}
	return nil
}

// program computes the register values for the validated opts, once the
// chip is known.
func (d *Dev) program(opts *Options) {
	osT, _ := opts.Temperature.code()
	osP, _ := opts.Pressure.code()
	osH, _ := opts.Humidity.code()
	filter, _ := opts.Filter.code()
	meas := osT<<5 | osP<<2 // section 5.4.5
	config := filter << 2   // section 5.4.6; t_sb is unused in forced mode
	d.sleep = meas | modeSleep
	// I2C writes are register/data pairs (section 6.2.1), so one
	// transaction sets all three. ctrl_hum takes effect only after a write
	// to ctrl_meas (section 5.4.3), and config is written while the chip
	// sleeps, where writes are not ignored (section 5.4.6).
	if d.humidity {
		d.start = []byte{regCtrlHum, osH, regConfig, config, regCtrlMeas, meas | modeForced}
	} else {
		d.start = []byte{regConfig, config, regCtrlMeas, meas | modeForced}
	}
	d.wait = MeasurementTime(opts.Temperature, opts.Pressure, opts.Humidity, d.humidity)
}

// MeasurementTime returns the maximum duration of one forced measurement
// with the given oversampling factors (0 means 1), from datasheet appendix
// 9.1:
//
//	t_measure,max = 1.25 + 2.3·osrs_t + (2.3·osrs_p + 0.575) [+ (2.3·osrs_h + 0.575)] ms
//
// the humidity term counting only when humidity is true (a BME280). With
// every factor 1 that is 9.3 ms on a BME280 and 6.425 ms on a BMP280 (whose
// own datasheet, section 3.8.1, gives 6.4 ms); with every factor 16,
// 112.8 ms.
func MeasurementTime(t, p, h Oversampling, humidity bool) time.Duration {
	us := 1250 + 2300*t.factor() + 2300*p.factor() + 575
	if humidity {
		us += 2300*h.factor() + 575
	}
	return time.Duration(us) * time.Microsecond
}

// String implements sensor.Sensor: "bme280 on I2C1 0x76", preceded by the
// configured name if there is one.
func (d *Dev) String() string {
	s := d.device + " on " + d.where
	if d.name != "" {
		s = d.name + ": " + s
	}
	return s
}

// Sense implements sensor.Sensor. It runs one forced-mode measurement
// (datasheet section 3.3.3): it writes ctrl_hum, config and ctrl_meas,
// sleeps for the maximum measurement time of appendix 9.1, reads the status
// until measuring clears (at most 10 more reads, 1 ms apart, then
// sensor.ErrTimeout), burst-reads the data registers (section 4) and
// compensates them (section 4.2.3). It returns one sensor.Env; HasHumidity
// is false on a BMP280. A raw value the datasheet defines as "skipped"
// (0x80000 for temperature or pressure, 0x8000 for humidity) or a pressure
// the formula cannot compute is reported as sensor.ErrNotReading.
func (d *Dev) Sense(ctx context.Context) ([]sensor.Value, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, d.fail("start measurement", err)
	}
	if err := d.bus.Tx(d.addr, d.start, nil); err != nil {
		return nil, d.fail("start measurement", busErr(err))
	}
	if err := d.clock.Sleep(ctx, d.wait); err != nil {
		return nil, d.fail("wait for measurement", err)
	}
	if err := d.poll(ctx, statusMeasuring, d.wait); err != nil {
		return nil, d.fail("wait for measurement", err)
	}
	// One burst read, so that every value comes from the same measurement
	// (section 4 and 4.1, data register shadowing).
	n := dataLenTP
	if d.humidity {
		n = dataLen
	}
	raw := make([]byte, n)
	if err := d.bus.Tx(d.addr, []byte{regData}, raw); err != nil {
		return nil, d.fail("read data", busErr(err))
	}
	t, p, h, err := d.cal.compensate(parseData(raw), d.humidity)
	if err != nil {
		return nil, d.fail("read data", err)
	}
	return []sensor.Value{sensor.Env{Temperature: t, Pressure: p, Humidity: h, HasHumidity: d.humidity}}, nil
}

// Halt implements sensor.Sensor: it puts the chip in sleep mode (section
// 3.3.2), where it draws 0.1 µA typical. After a forced measurement the chip
// already sleeps; Halt makes sure of it. The bus stays open.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.bus.Tx(d.addr, []byte{regCtrlMeas, d.sleep}, nil); err != nil {
		return d.fail("sleep", busErr(err))
	}
	return nil
}

// poll reads the status register until the bits in mask are clear, reading
// at most maxPolls times, pollInterval apart. waited is the time already
// waited, for the timeout message.
func (d *Dev) poll(ctx context.Context, mask byte, waited time.Duration) error {
	var st [1]byte
	for i := 0; i < maxPolls; i++ {
		if i > 0 {
			if err := d.clock.Sleep(ctx, pollInterval); err != nil {
				return err
			}
		}
		if err := d.bus.Tx(d.addr, []byte{regStatus}, st[:]); err != nil {
			return busErr(err)
		}
		if st[0]&mask == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: status 0x%02x after %v and %d reads", sensor.ErrTimeout, st[0], waited+(maxPolls-1)*pollInterval, maxPolls)
}

// fail returns the *sensor.Error for step.
func (d *Dev) fail(step string, err error) *sensor.Error {
	return &sensor.Error{Device: d.device, Bus: d.where, Step: step, Err: err}
}

// busErr wraps an error from the bus with sensor.ErrBus, unless it already
// does (as sensor.RetryI2C's do).
func busErr(err error) error {
	if errors.Is(err, sensor.ErrBus) {
		return err
	}
	return fmt.Errorf("%w: %w", sensor.ErrBus, err)
}

var _ sensor.Sensor = (*Dev)(nil)
