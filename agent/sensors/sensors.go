// Package sensors opens the sensors a device configuration names, each on
// its bus of a bus.Set through its driver, for the sampler to read; and
// probes them, for `waybill sensors probe`.
package sensors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/drivers/bme280"
	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/drivers/door"
	"github.com/waybill-eu/waybill/drivers/ds18b20"
	"github.com/waybill-eu/waybill/drivers/hx711"
	"github.com/waybill-eu/waybill/drivers/lis3dh"
	"github.com/waybill-eu/waybill/drivers/mfrc522"
	"github.com/waybill-eu/waybill/drivers/nmea"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Open opens every configured sensor on buses, in configuration order. A sensor whose bus or chip does not answer yet is not an error
// here: it is opened again at each read, with the sampler's backoff, so one
// unplugged sensor neither stops the agent nor delays the others. Only a
// configuration the driver refuses is returned as an error.
//
// Every I2C bus retries the Raspberry Pi's "remote I/O error" (bus.Retry):
// buses that are not a *bus.Retry already are wrapped in one; pass one to
// read its counts.
func Open(ctx context.Context, cfg *config.Config, buses bus.Set, clk sensor.Clock) ([]sampler.Sensor, error) {
	if _, ok := buses.(*bus.Retry); !ok {
		buses = bus.NewRetry(buses)
	}
	var out []sampler.Sensor
	var errs []error
	for _, s := range cfg.Sensors {
		open, err := opener(s, buses, clk)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensor %q: %w", s.Name, err))
			continue
		}
		l := &lazy{name: s.Name, driver: s.Driver, open: open}
		if err := l.tryOpen(ctx); err != nil && !sensor.Retryable(err) {
			errs = append(errs, fmt.Errorf("sensor %q: %w", s.Name, err))
			continue
		}
		out = append(out, sampler.Sensor{Name: s.Name, Dev: l, Interval: s.Interval, Timeout: s.Timeout})
	}
	return out, errors.Join(errs...)
}

// opener returns the function that opens sensor s's bus and driver.
func opener(s config.Sensor, buses bus.Set, clk sensor.Clock) (func(context.Context) (sensor.Sensor, error), error) {
	switch {
	case s.NMEA != nil:
		c := s.NMEA
		return func(ctx context.Context) (sensor.Sensor, error) {
			st, err := buses.Serial(c.Port, c.Baud)
			if err != nil {
				return nil, busError("nmea", c.Port, err)
			}
			return nmea.NewReceiver(st, &nmea.ReceiverOptions{Port: c.Port, Clock: clk}), nil
		}, nil
	case s.BME280 != nil:
		c := s.BME280
		return func(ctx context.Context) (sensor.Sensor, error) {
			bus, err := buses.I2C(c.Bus)
			if err != nil {
				return nil, busError("bme280", c.Bus, err)
			}
			return bme280.New(ctx, bus, c.Address, &bme280.Options{Clock: clk, Name: s.Name, Bus: fmt.Sprintf("%s %#02x", c.Bus, c.Address)})
		}, nil
	case s.DS18B20 != nil:
		c := s.DS18B20
		probes := map[string]string{}
		for _, p := range c.Probes {
			probes[p.Name] = p.ROM
		}
		return func(ctx context.Context) (sensor.Sensor, error) {
			bus, err := buses.OneWire(c.Bus)
			if err != nil {
				return nil, busError("ds18b20", c.Bus, err)
			}
			return ds18b20.New(ctx, bus, &ds18b20.Options{Clock: clk, Resolution: c.Resolution, Probes: probes, BusName: c.Bus})
		}, nil
	case s.Door != nil:
		c := s.Door
		lvl := gpio.High
		if c.OpenLevel == config.LevelLow {
			lvl = gpio.Low
		}
		return func(ctx context.Context) (sensor.Sensor, error) {
			pin, err := buses.Pin(c.Pin)
			if err != nil {
				return nil, busError("door", c.Pin, err)
			}
			return door.New(ctx, pin, &door.Options{Clock: clk, OpenLevel: lvl, Debounce: c.Debounce, Name: s.Name})
		}, nil
	case s.HX711 != nil:
		c := s.HX711
		return func(ctx context.Context) (sensor.Sensor, error) {
			dout, err := buses.Pin(c.DataPin)
			if err != nil {
				return nil, busError("hx711", c.DataPin, err)
			}
			sck, err := buses.Pin(c.ClockPin)
			if err != nil {
				return nil, busError("hx711", c.ClockPin, err)
			}
			ch := hx711.ChannelA
			if c.Channel == string(rune(hx711.ChannelB)) {
				ch = hx711.ChannelB
			}
			return hx711.New(ctx, dout, sck, &hx711.Options{Clock: clk, Channel: ch, Gain: c.Gain, Tare: c.Tare, Scale: c.Scale, Name: s.Name})
		}, nil
	case s.LIS3DH != nil:
		c := s.LIS3DH
		return func(ctx context.Context) (sensor.Sensor, error) {
			bus, err := buses.I2C(c.Bus)
			if err != nil {
				return nil, busError("lis3dh", c.Bus, err)
			}
			return lis3dh.New(ctx, bus, c.Address, &lis3dh.Options{Clock: clk, RangeG: c.RangeG, RateHz: c.RateHz, Name: s.Name, BusName: c.Bus})
		}, nil
	case s.MFRC522 != nil:
		c := s.MFRC522
		return func(ctx context.Context) (sensor.Sensor, error) {
			conn, err := buses.SPI(c.Bus, mfrc522.SPIMaxHz, mfrc522.SPIMode, mfrc522.SPIBits)
			if err != nil {
				return nil, busError("mfrc522", c.Bus, err)
			}
			o := &mfrc522.Options{Clock: clk, Dedupe: c.Dedupe, Name: s.Name, BusName: c.Bus}
			if c.ResetPin != "" {
				p, err := buses.Pin(c.ResetPin)
				if err != nil {
					return nil, busError("mfrc522", c.ResetPin, err)
				}
				o.Reset = p
			}
			return mfrc522.New(ctx, conn, o)
		}, nil
	}
	return nil, fmt.Errorf("driver %q is not supported by this agent", s.Driver)
}

// busError is the error of a bus that could not be opened; an error that
// already names its device and step is kept as it is.
func busError(device, bus string, err error) error {
	var se *sensor.Error
	if errors.As(err, &se) {
		return err
	}
	return &sensor.Error{Device: device, Bus: bus, Step: "open bus", Err: fmt.Errorf("%w: %w", sensor.ErrNoDevice, err)}
}

// lazy is a sensor whose driver is opened on first use and again after it
// could not be opened.
type lazy struct {
	name, driver string
	open         func(context.Context) (sensor.Sensor, error)

	mu  sync.Mutex
	dev sensor.Sensor
}

func (l *lazy) tryOpen(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dev != nil {
		return nil
	}
	dev, err := l.open(ctx)
	if err != nil {
		return err
	}
	l.dev = dev
	return nil
}

func (l *lazy) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dev != nil {
		return l.dev.String()
	}
	return l.driver + " " + l.name + " (not open)"
}

// Sense implements sensor.Sensor.
func (l *lazy) Sense(ctx context.Context) ([]sensor.Value, error) {
	if err := l.tryOpen(ctx); err != nil {
		return nil, err
	}
	l.mu.Lock()
	dev := l.dev
	l.mu.Unlock()
	return dev.Sense(ctx)
}

// Halt implements sensor.Sensor.
func (l *lazy) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dev == nil {
		return nil
	}
	return l.dev.Halt()
}

// Sequential returns the sampler options of a replay (or of the simulation
// that records one): sequential on clk, until the given time (zero: until
// stopped). Recording and replay must use the same options to make the same
// reads.
func Sequential(c *config.Config, clk sensor.Clock, until time.Time) sampler.Options {
	return sampler.Options{Clock: clk, Sequential: true, FaultEvery: c.Faults.Every,
		Stop: func(next time.Time) bool { return !until.IsZero() && next.After(until) }}
}
