package daemon

import (
	"errors"
	"io"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Buses opens the buses and pins the configured sensors are attached to, by
// their configured names. The daemon owns what it opens and closes it on
// shutdown; drivers only borrow it.
type Buses interface {
	I2C(name string) (i2c.Bus, error)
	// SPI returns a connection on port name with the device's maximum
	// clock, mode and word size (spi.Port.Connect).
	SPI(name string, maxHz physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error)
	OneWire(name string) (onewire.Bus, error)
	Pin(name string) (gpio.PinIO, error)
	Serial(port string, baud int) (sensor.Stream, error)
	Close() error
}

// ReplayBuses plays a recording back. A bus the recording does not hold
// fails at its first operation, naming the bus.
type ReplayBuses struct{ Rec *replay.Recording }

// I2C implements Buses.
func (b ReplayBuses) I2C(name string) (i2c.Bus, error) { return b.Rec.I2C(name), nil }

// SPI implements Buses.
func (b ReplayBuses) SPI(name string, _ physic.Frequency, _ spi.Mode, _ int) (spi.Conn, error) {
	return b.Rec.SPI(name), nil
}

// OneWire implements Buses.
func (b ReplayBuses) OneWire(name string) (onewire.Bus, error) { return b.Rec.OneWire(name), nil }

// Pin implements Buses.
func (b ReplayBuses) Pin(name string) (gpio.PinIO, error) { return b.Rec.Pin(name), nil }

// Serial implements Buses. A raw NMEA file stands for any serial port.
func (b ReplayBuses) Serial(port string, _ int) (sensor.Stream, error) {
	if b.Rec.Raw {
		return b.Rec.Stream(replay.RawStream), nil
	}
	return b.Rec.Stream(port), nil
}

// Close implements Buses.
func (ReplayBuses) Close() error { return nil }

// RecordBuses records every operation on the buses of Buses.
type RecordBuses struct {
	Buses
	Rec *replay.Recorder
}

// I2C implements Buses.
func (b RecordBuses) I2C(name string) (i2c.Bus, error) {
	bus, err := b.Buses.I2C(name)
	if err != nil {
		return nil, err
	}
	return b.Rec.I2C(name, bus), nil
}

// SPI implements Buses.
func (b RecordBuses) SPI(name string, f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	c, err := b.Buses.SPI(name, f, m, bits)
	if err != nil {
		return nil, err
	}
	return b.Rec.SPI(name, c), nil
}

// OneWire implements Buses.
func (b RecordBuses) OneWire(name string) (onewire.Bus, error) {
	bus, err := b.Buses.OneWire(name)
	if err != nil {
		return nil, err
	}
	return b.Rec.OneWire(name, bus), nil
}

// Pin implements Buses.
func (b RecordBuses) Pin(name string) (gpio.PinIO, error) {
	p, err := b.Buses.Pin(name)
	if err != nil {
		return nil, err
	}
	return b.Rec.Pin(name, p), nil
}

// Serial implements Buses.
func (b RecordBuses) Serial(port string, baud int) (sensor.Stream, error) {
	s, err := b.Buses.Serial(port, baud)
	if err != nil {
		return nil, err
	}
	return b.Rec.Stream(port, s), nil
}

// Close implements Buses: it flushes the recording, then closes the buses.
func (b RecordBuses) Close() error {
	return errors.Join(b.Rec.Flush(), b.Buses.Close())
}

// closers collects what a Buses implementation opened, to close it once.
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

// retryBuses opens each I2C bus once and wraps it in a sensor.RetryI2C,
// above any recorder, so that a replay retries exactly the transactions
// that failed when the recording was made, and counts them again.
type retryBuses struct {
	Buses
	mu  sync.Mutex
	i2c map[string]*sensor.RetryI2C
}

func (b *retryBuses) I2C(name string) (i2c.Bus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.i2c[name]; ok {
		return r, nil
	}
	bus, err := b.Buses.I2C(name)
	if err != nil {
		return nil, err
	}
	if b.i2c == nil {
		b.i2c = map[string]*sensor.RetryI2C{}
	}
	r := &sensor.RetryI2C{Bus: bus, Attempts: 3}
	b.i2c[name] = r
	return r, nil
}

// BusRetries are an I2C bus's remote I/O error counts.
type BusRetries struct {
	Retries  int64 `json:"retries"`  // transactions repeated after a remote I/O error
	Failures int64 `json:"failures"` // transactions that failed every attempt
}

func (b *retryBuses) counts() map[string]BusRetries {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]BusRetries{}
	for n, r := range b.i2c {
		out[n] = BusRetries{r.Retries(), r.Failures()}
	}
	return out
}
