package replay

import (
	"errors"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Buses is a bus.Set that plays Rec back. A bus the recording does not
// hold fails at its first operation, naming the bus.
type Buses struct{ Rec *Recording }

// I2C implements bus.Set.
func (b Buses) I2C(name string) (i2c.Bus, error) { return b.Rec.I2C(name), nil }

// SPI implements bus.Set.
func (b Buses) SPI(name string, _ physic.Frequency, _ spi.Mode, _ int) (spi.Conn, error) {
	return b.Rec.SPI(name), nil
}

// OneWire implements bus.Set.
func (b Buses) OneWire(name string) (onewire.Bus, error) { return b.Rec.OneWire(name), nil }

// Pin implements bus.Set.
func (b Buses) Pin(name string) (gpio.PinIO, error) { return b.Rec.Pin(name), nil }

// Serial implements bus.Set. A raw NMEA file stands for any serial port.
func (b Buses) Serial(port string, _ int) (sensor.Stream, error) {
	if b.Rec.Raw {
		return b.Rec.Stream(RawStream), nil
	}
	return b.Rec.Stream(port), nil
}

// Close implements bus.Set; a recording holds nothing to close.
func (Buses) Close() error { return nil }

// RecordBuses is a bus.Set that records every operation on the buses of
// Set to Rec.
type RecordBuses struct {
	bus.Set
	Rec *Recorder
}

// I2C implements bus.Set.
func (b RecordBuses) I2C(name string) (i2c.Bus, error) {
	x, err := b.Set.I2C(name)
	if err != nil {
		return nil, err
	}
	return b.Rec.I2C(name, x), nil
}

// SPI implements bus.Set.
func (b RecordBuses) SPI(name string, f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	c, err := b.Set.SPI(name, f, m, bits)
	if err != nil {
		return nil, err
	}
	return b.Rec.SPI(name, c), nil
}

// OneWire implements bus.Set.
func (b RecordBuses) OneWire(name string) (onewire.Bus, error) {
	x, err := b.Set.OneWire(name)
	if err != nil {
		return nil, err
	}
	return b.Rec.OneWire(name, x), nil
}

// Pin implements bus.Set.
func (b RecordBuses) Pin(name string) (gpio.PinIO, error) {
	p, err := b.Set.Pin(name)
	if err != nil {
		return nil, err
	}
	return b.Rec.Pin(name, p), nil
}

// Serial implements bus.Set.
func (b RecordBuses) Serial(port string, baud int) (sensor.Stream, error) {
	s, err := b.Set.Serial(port, baud)
	if err != nil {
		return nil, err
	}
	return b.Rec.Stream(port, s), nil
}

// Close implements bus.Set: it flushes the recording, then closes the
// buses.
func (b RecordBuses) Close() error {
	return errors.Join(b.Rec.Flush(), b.Set.Close())
}

var (
	_ bus.Set = Buses{}
	_ bus.Set = RecordBuses{}
)
