package sensor

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Causes a driver wraps in an [*Error], to be checked with errors.Is.
var (
	// ErrWrongChip is returned when the device answers with an identity
	// (chip id, WHO_AM_I, family code, version) other than the driver's.
	ErrWrongChip = errors.New("wrong chip")
	// ErrNoDevice is returned when nothing answers: an I2C NACK on the
	// address, no 1-Wire presence pulse, a probe missing from the search, no
	// tag reader on the SPI bus.
	ErrNoDevice = errors.New("no device answers")
	// ErrCRC is returned when a checksum or CRC over received bytes fails.
	ErrCRC = errors.New("CRC mismatch")
	// ErrTimeout is returned when the device does not finish in the time its
	// datasheet allows.
	ErrTimeout = errors.New("timed out")
	// ErrNotReading is returned when the device sends a value that its
	// datasheet defines as "no measurement" (a DS18B20's 85 °C power-on
	// value, a saturated ADC); the value must never reach a rule.
	ErrNotReading = errors.New("not a measurement")
	// ErrBus is returned for a transfer the bus reported as failed (for
	// example EREMOTEIO from the Raspberry Pi's I2C controller).
	ErrBus = errors.New("bus error")
	// ErrConfig is returned when the driver's options are invalid.
	ErrConfig = errors.New("invalid driver configuration")
)

// ErrNoData is returned by a [Stream]'s Read when no byte is available now.
// It is not a fault.
var ErrNoData = errors.New("no data available yet")

// Stream is a serial byte stream (a UART) read without blocking: Read
// returns what has arrived, or 0 and ErrNoData when nothing has. It returns
// io.EOF when the stream has ended for good (a replay reached its end).
type Stream interface {
	Read(p []byte) (int, error)
}

// Error is a driver failure: which device, on which bus, at which step, and
// why. Drivers return it for every failure of Sense and of their
// constructors.
type Error struct {
	Device string // the driver, e.g. "bme280"
	Bus    string // the bus and address, e.g. "I2C1 0x76", "1-Wire 28ff4a6b711603c2"
	Step   string // what the driver was doing, e.g. "read chip id"
	Err    error  // the cause; wraps one of the Err* causes where one applies
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Device)
	if e.Bus != "" {
		b.WriteString(" on ")
		b.WriteString(e.Bus)
	}
	if e.Step != "" {
		b.WriteString(": ")
		b.WriteString(e.Step)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again may succeed: true for bus errors,
// CRC failures, timeouts, absent devices and non-measurements (a probe that
// was unplugged can come back); false for a wrong chip or a bad
// configuration, which only a person can fix.
func (e *Error) Retryable() bool {
	return !errors.Is(e.Err, ErrWrongChip) && !errors.Is(e.Err, ErrConfig)
}

// Errorf returns an *Error for device on bus at step, with a cause made as
// by fmt.Errorf (so %w wraps).
func Errorf(device, bus, step, format string, args ...any) *Error {
	return &Error{Device: device, Bus: bus, Step: step, Err: fmt.Errorf(format, args...)}
}

// Retryable reports whether err is worth retrying: an [*Error] that says so,
// or any other error (an unknown failure is treated as transient).
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable()
	}
	return err != nil
}

// IsRemoteIO reports whether err is the EREMOTEIO the Raspberry Pi's I2C
// controller returns when a device stretches the clock (BCM2835 erratum) or
// misses an ACK. periph's sysfs I2C formats the errno into its message, so
// the text is checked as well.
func IsRemoteIO(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, syscall.EREMOTEIO) || strings.Contains(err.Error(), "remote I/O error")
}
