// Package bus opens the buses and pins sensors are attached to, by the
// names a device configuration gives them: I2C and SPI buses, 1-Wire bus
// masters, GPIO lines and serial ports.
//
// A [Set] is what the agent opens them through. [Host] is the machine's
// own buses, through periph's host drivers; the replay package plays a
// recording back as a Set and records any other. [Retry] wraps a Set so
// that each I2C bus retries the Raspberry Pi's "remote I/O error", and
// counts the retries.
//
// A Set owns what it opens and closes it in Close; drivers only borrow it.
package bus

import (
	"errors"
	"io"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Set opens buses and pins by their configured names. Its methods may be
// called from several goroutines.
type Set interface {
	// I2C returns the I2C bus name, e.g. "I2C1".
	I2C(name string) (i2c.Bus, error)
	// SPI returns a connection on port name with the device's maximum
	// clock, mode and word size (spi.Port.Connect).
	SPI(name string, maxHz physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error)
	// OneWire returns the 1-Wire bus master name, e.g. "w1".
	OneWire(name string) (onewire.Bus, error)
	// Pin returns the GPIO line name, e.g. "GPIO17".
	Pin(name string) (gpio.PinIO, error)
	// Serial returns the serial port at path port, set to baud.
	Serial(port string, baud int) (sensor.Stream, error)
	// Close closes everything the Set opened. It may be called more than
	// once; later calls return nil.
	Close() error
}

// closers collects what a Set opened, to close it once, newest first.
type closers struct {
	mu   sync.Mutex
	list []io.Closer
	done bool
}

func (c *closers) add(x io.Closer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, x)
}

// Close closes what was added, newest first, once.
func (c *closers) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	c.done = true
	var errs []error
	for i := len(c.list) - 1; i >= 0; i-- {
		errs = append(errs, c.list[i].Close())
	}
	return errors.Join(errs...)
}
