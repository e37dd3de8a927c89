// Package sensor is the vocabulary every Waybill driver speaks: the [Sensor]
// contract, the typed values a sensor reports, the [Clock] drivers wait on,
// and the [*Error] they fail with.
//
// A driver takes a bus it does not own (an i2c.Bus, spi.Conn, onewire.Bus,
// gpio pin or serial [Stream]) and returns values in fixed-point units from
// periph.io/x/conn/v3/physic where one exists. The sampler (agent/sampler)
// stamps each value with the sensor's configured name and the time it was
// taken, and hands it to the rules.
//
// Drivers never sleep on the wall clock and never read it directly: they use
// the [Clock] they were given, so that a replay on a simulated clock reproduces
// the same readings, byte for byte, as fast as the CPU allows.
package sensor

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/physic"
)

// Sensor is one configured device. Sense is called by one goroutine at a time.
type Sensor interface {
	// String names the device and where it is attached, e.g.
	// "bme280 on I2C1 0x76".
	String() string
	// Sense takes one measurement, or collects what the device observed since
	// the last call (GNSS fixes, door changes, tag scans). It returns no
	// values and a nil error when there is nothing new. On failure it returns
	// an [*Error].
	Sense(ctx context.Context) ([]Value, error)
	// Halt stops any ongoing activity and puts the device in a low-power
	// state where it has one. It does not close the bus.
	Halt() error
}

// Value is one typed observation. The concrete types are listed in this
// package: [Env], [Temperature], [Fix], [Door], [Weight], [Motion], [Tag].
type Value interface {
	// Kind names the value type: "env", "temperature", "fix", "door",
	// "weight", "motion" or "tag".
	Kind() string
}

// Reading is a value stamped by the sampler.
type Reading struct {
	Sensor string    // the sensor's name from the configuration
	Time   time.Time // the sampler clock when Sense returned the value
	Value  Value
}

// Env is an environment measurement (BME280, BMP280).
type Env struct {
	Temperature physic.Temperature
	Pressure    physic.Pressure
	Humidity    physic.RelativeHumidity
	HasHumidity bool // false on a BMP280, which has no humidity sensor
}

// Kind implements Value.
func (Env) Kind() string { return "env" }

// Temperature is one probe's temperature (DS18B20).
type Temperature struct {
	Probe string // the probe's identity: its 1-Wire ROM code as 16 lowercase hex digits
	T     physic.Temperature
}

// Kind implements Value.
func (Temperature) Kind() string { return "temperature" }

// Fix is a GNSS navigation solution of one epoch. Pointer fields are nil when
// the receiver did not report them.
type Fix struct {
	Time      time.Time // receiver UTC; zero when the receiver has sent no date yet
	Valid     bool      // the receiver says it has a fix and the position is not 0,0
	Lat, Lon  float64   // WGS84 degrees; meaningful only when Valid
	AltM      *float64  // metres above mean sea level
	SpeedMPS  *float64  // ground speed
	CourseDeg *float64  // course over ground, degrees true
	Sats      *int      // satellites used
	HDOP      *float64
	Mode      string // "", "none", "2d" or "3d" (GSA fix mode)
}

// Kind implements Value.
func (Fix) Kind() string { return "fix" }

// Door is a debounced change of a door contact.
type Door struct {
	Open bool
	At   time.Time // when the new state began (the first edge of the settled state)
}

// Kind implements Value.
func (Door) Kind() string { return "door" }

// Weight is a load-cell measurement after tare and scale.
type Weight struct {
	Mass physic.Mass
	Raw  int32 // the ADC count it was computed from
}

// Kind implements Value.
func (Weight) Kind() string { return "weight" }

// MilliG is an acceleration in thousandths of standard gravity (9.80665 m/s²).
type MilliG int32

// Motion is the peak acceleration per axis over one sampling window,
// gravity included, in the sensor's own axes.
type Motion struct {
	X, Y, Z MilliG // signed peak of each axis (the sample of largest magnitude)
	Samples int    // samples the peaks were taken from
}

// Kind implements Value.
func (Motion) Kind() string { return "motion" }

// Tag is a contactless tag seen by a reader (MFRC522), after duplicate-scan
// suppression.
type Tag struct {
	UID []byte // 4, 7 or 10 bytes (ISO/IEC 14443-3 single, double, triple size)
}

// Kind implements Value.
func (Tag) Kind() string { return "tag" }

// UIDHex returns the UID as uppercase hex, as printed on parcel labels.
func (t Tag) UIDHex() string { return fmt.Sprintf("%X", t.UID) }

// Clock is time as a driver sees it: the system clock on a device, a
// simulated one in a replay.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever is first, and returns
	// ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ClockOr returns c, or SystemClock when c is nil.
func ClockOr(c Clock) Clock {
	if c == nil {
		return SystemClock
	}
	return c
}
