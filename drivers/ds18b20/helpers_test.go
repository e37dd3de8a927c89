package ds18b20

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewiretest"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

// Test ROM codes, bus order, CRC-8 computed with periph's onewire.CalcCRC.
const (
	hexA      = "286164340a1d5e69" // a DS18B20
	hexB      = "28ff4a6b711603f8" // a DS18B20
	hexDS2401 = "016b3a120e0000f4" // a DS2401 silicon serial number, family 01h
	hexDS1820 = "10223344556677c2" // a DS18S20, family 10h
)

var (
	romA      = addr(hexA)
	romB      = addr(hexB)
	romDS2401 = addr(hexDS2401)
	romDS1820 = addr(hexDS1820)
)

// addr decodes a ROM code written in bus order, without checking it.
func addr(s string) onewire.Address {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		panic("bad test ROM " + s)
	}
	return addrBytes(b)
}

func addrBytes(b []byte) onewire.Address {
	var a onewire.Address
	for i := 7; i >= 0; i-- {
		a = a<<8 | onewire.Address(b[i])
	}
	return a
}

// bus returns the ROM bytes of a in bus order, as written after Match ROM.
func bus(a onewire.Address) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(a >> (8 * i))
	}
	return b
}

// c returns a temperature in degrees Celsius; every value used is a
// multiple of 1/16 °C, exact in float64.
func c(deg float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(deg*1e9)
}

// Transactions as the datasheet's command flow has them.

func searchOps(n int) []onewiretest.IO {
	ops := make([]onewiretest.IO, n)
	for i := range ops {
		ops[i] = onewiretest.IO{W: []byte{0xF0}}
	}
	return ops
}

func convertOp() onewiretest.IO {
	return onewiretest.IO{W: []byte{0xCC, 0x44}, Pull: onewire.StrongPullup}
}

func readOp(a onewire.Address, sp []byte) onewiretest.IO {
	w := append(append([]byte{0x55}, bus(a)...), 0xBE)
	return onewiretest.IO{W: w, R: sp}
}

func writeOp(a onewire.Address, th, tl, config byte) onewiretest.IO {
	w := append(append([]byte{0x55}, bus(a)...), 0x4E, th, tl, config)
	return onewiretest.IO{W: w}
}

// powerUp is a scratchpad in its power-up state: 85 °C, TH 4Bh, TL 46h,
// 12 bits, reserved bytes FFh 0Ch 10h (datasheet memory map), as read from
// parts in the field.
var powerUp = []byte{0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C}

// sp returns a scratchpad with temperature register raw and configuration
// config, its CRC computed by periph's onewire.CalcCRC.
func sp(raw uint16, config byte) []byte {
	b := []byte{byte(raw), byte(raw >> 8), 0x4B, 0x46, config, 0xFF, 0x10 - byte(raw)&0x0F, 0x10, 0}
	b[8] = onewire.CalcCRC(b[:8])
	return b
}

func repeat(v byte) []byte {
	b := make([]byte, scratchpadLen)
	for i := range b {
		b[i] = v
	}
	return b
}

// ops concatenates transactions and lists of them.
func ops(lists ...any) []onewiretest.IO {
	var s []onewiretest.IO
	for _, l := range lists {
		switch l := l.(type) {
		case onewiretest.IO:
			s = append(s, l)
		case []onewiretest.IO:
			s = append(s, l...)
		default:
			panic("ops: bad argument")
		}
	}
	return s
}

// newClock returns a simulated clock: Sleep advances it at once.
func newClock() *sensortest.Clock {
	return sensortest.NewClock(time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC))
}

// faultyBus is a playback whose Tx or Search can fail before reaching it.
type faultyBus struct {
	*onewiretest.Playback
	txErr     func(w []byte) error // nil or nil result: pass to the playback
	searchErr error                // returned by Search instead of the playback's
}

func (f *faultyBus) Tx(w, r []byte, pull onewire.Pullup) error {
	if f.txErr != nil {
		if err := f.txErr(w); err != nil {
			return err
		}
	}
	return f.Playback.Tx(w, r, pull)
}

func (f *faultyBus) Search(alarmOnly bool) ([]onewire.Address, error) {
	if f.searchErr != nil {
		return nil, f.searchErr
	}
	return f.Playback.Search(alarmOnly)
}

// noPresence is a bus master's "no presence pulse" error.
type noPresence struct{}

func (noPresence) Error() string   { return "no presence pulse" }
func (noPresence) NoDevices() bool { return true }

// lineError is a bus master's transfer error.
type lineError struct{}

func (lineError) Error() string  { return "1-Wire transfer failed" }
func (lineError) BusError() bool { return true }

// leaves returns every error in err's tree that wraps nothing further.
func leaves(err error) []error {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var s []error
		for _, e := range u.Unwrap() {
			s = append(s, leaves(e)...)
		}
		return s
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			return append([]error{err}, leaves(next)...)
		}
	}
	return []error{err}
}

// checkNoFake fails t if err comes from a playback complaining about the
// driver's transactions rather than from the driver itself.
func checkNoFake(t *testing.T, err error) {
	t.Helper()
	for _, e := range leaves(err) {
		if conntest.IsErr(e) {
			t.Fatalf("the playback rejected a transaction: %v", err)
		}
	}
}

// sensorErrors returns the *sensor.Error values err joins, in order.
func sensorErrors(err error) []*sensor.Error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var s []*sensor.Error
		for _, e := range j.Unwrap() {
			s = append(s, sensorErrors(e)...)
		}
		return s
	}
	var se *sensor.Error
	if errors.As(err, &se) {
		return []*sensor.Error{se}
	}
	return nil
}

// temps returns the temperatures of values by probe ROM code.
func temps(t *testing.T, values []sensor.Value) map[string]physic.Temperature {
	t.Helper()
	m := map[string]physic.Temperature{}
	for _, v := range values {
		tv, ok := v.(sensor.Temperature)
		if !ok {
			t.Fatalf("value %#v is not a sensor.Temperature", v)
		}
		if _, dup := m[tv.Probe]; dup {
			t.Fatalf("probe %s reported twice", tv.Probe)
		}
		m[tv.Probe] = tv.T
	}
	return m
}

func closePlayback(t *testing.T, p *onewiretest.Playback) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
