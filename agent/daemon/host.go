package daemon

import (
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewirereg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/uart"
)

// HostBuses opens the real buses of the machine through periph's host
// drivers: I2C and SPI through the kernel's i2c-dev and spidev, 1-Wire
// through the kernel's w1 netlink interface, GPIO through the character
// device (/dev/gpiochipN) by line name, and serial ports through termios.
//
// GPIO pins are looked up by line name ("GPIO17") on every gpiochip rather
// than by chip and offset: the chip numbering moved between the Raspberry Pi
// 4 and 5 images, and sysfs GPIO edge detection is broken on kernel 6.6 and
// later (Raspberry Pi OS Bookworm).
type HostBuses struct {
	initOnce sync.Once
	initErr  error
	closers
}

func (h *HostBuses) init() error {
	h.initOnce.Do(func() {
		if _, err := host.Init(); err != nil {
			h.initErr = fmt.Errorf("initialise periph host drivers: %w", err)
		}
	})
	return h.initErr
}

// I2C implements Buses.
func (h *HostBuses) I2C(name string) (i2c.Bus, error) {
	if err := h.init(); err != nil {
		return nil, err
	}
	if len(i2creg.All()) == 0 {
		return nil, fmt.Errorf("open I2C bus %q: this machine has no I2C bus (is I2C enabled? see firmware-docs/PI-SETUP.md)", name)
	}
	bc, err := i2creg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open I2C bus %q: %w (buses here: %s)", name, err, i2cNames())
	}
	h.add(bc)
	return bc, nil
}

func i2cNames() string {
	var names []string
	for _, r := range i2creg.All() {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// SPI implements Buses.
func (h *HostBuses) SPI(name string, f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	if err := h.init(); err != nil {
		return nil, err
	}
	if len(spireg.All()) == 0 {
		return nil, fmt.Errorf("open SPI port %q: this machine has no SPI port (is SPI enabled? see firmware-docs/PI-SETUP.md)", name)
	}
	p, err := spireg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open SPI port %q: %w (is SPI enabled? see firmware-docs/PI-SETUP.md)", name, err)
	}
	h.add(p)
	c, err := p.Connect(f, mode, bits)
	if err != nil {
		return nil, fmt.Errorf("connect SPI port %q: %w", name, err)
	}
	return c, nil
}

// OneWire implements Buses. The name "w1" is the first bus master the
// kernel's w1 subsystem registered (periph names it "OneWire1" or
// "netlink-w1-master 1"); other names go to periph's registry as they are.
func (h *HostBuses) OneWire(name string) (onewire.Bus, error) {
	if err := h.init(); err != nil {
		return nil, err
	}
	reg := name
	if name == "w1" {
		reg = ""
	}
	if len(onewirereg.All()) == 0 {
		return nil, fmt.Errorf("open 1-Wire bus %q: this machine has no 1-Wire bus (is the w1-gpio overlay loaded? see firmware-docs/PI-SETUP.md)", name)
	}
	b, err := onewirereg.Open(reg)
	if err != nil {
		return nil, fmt.Errorf("open 1-Wire bus %q: %w (is the w1-gpio overlay loaded? see firmware-docs/PI-SETUP.md)", name, err)
	}
	h.add(b)
	return b, nil
}

// Pin implements Buses.
func (h *HostBuses) Pin(name string) (gpio.PinIO, error) {
	if err := h.init(); err != nil {
		return nil, err
	}
	for _, chip := range gpioioctl.Chips {
		if l := chip.ByName(name); l != nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no GPIO line named %q on any /dev/gpiochip (%d chips found; names are like GPIO17)", name, len(gpioioctl.Chips))
}

// Serial implements Buses.
func (h *HostBuses) Serial(port string, baud int) (sensor.Stream, error) {
	p, err := uart.Open(port, baud)
	if err != nil {
		return nil, err
	}
	h.add(p)
	return p, nil
}
