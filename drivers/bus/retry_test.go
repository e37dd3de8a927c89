package bus

import (
	"errors"
	"syscall"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// flaky is an I2C bus whose next fails transactions end with the remote
// I/O error a clock-stretching device causes on a Raspberry Pi.
type flaky struct {
	fails int
	txs   int
}

func (b *flaky) String() string                  { return "flaky" }
func (b *flaky) SetSpeed(physic.Frequency) error { return nil }
func (b *flaky) Tx(addr uint16, w, r []byte) error {
	b.txs++
	if b.fails > 0 {
		b.fails--
		return syscall.EREMOTEIO
	}
	return nil
}

// set opens the flaky buses by name and counts the opens.
type set struct {
	buses map[string]*flaky
	opens map[string]int
}

func (s *set) I2C(name string) (i2c.Bus, error) {
	b, ok := s.buses[name]
	if !ok {
		return nil, errors.New("no such bus")
	}
	s.opens[name]++
	return b, nil
}
func (s *set) SPI(string, physic.Frequency, spi.Mode, int) (spi.Conn, error) {
	return nil, errors.ErrUnsupported
}
func (s *set) OneWire(string) (onewire.Bus, error)       { return nil, errors.ErrUnsupported }
func (s *set) Pin(string) (gpio.PinIO, error)            { return nil, errors.ErrUnsupported }
func (s *set) Serial(string, int) (sensor.Stream, error) { return nil, errors.ErrUnsupported }
func (s *set) Close() error                              { return nil }

// Each I2C bus is opened once, whoever asks for it, and its retries and
// failures are counted by name.
func TestRetry(t *testing.T) {
	s := &set{buses: map[string]*flaky{"I2C1": {}, "I2C3": {}}, opens: map[string]int{}}
	r := NewRetry(s)
	a, err := r.I2C("I2C1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.I2C("I2C1")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || s.opens["I2C1"] != 1 {
		t.Fatalf("I2C1 opened %d times, distinct buses %v; want one bus, opened once", s.opens["I2C1"], a != b)
	}
	if _, err := r.I2C("I2C9"); err == nil {
		t.Error("a bus the set does not have opened")
	}
	for _, tc := range []struct {
		bus   string
		fails int
		err   bool
	}{
		{"I2C1", 0, false},
		{"I2C1", Attempts - 1, false}, // retried, then done
		{"I2C3", Attempts, true},      // every attempt failed
	} {
		s.buses[tc.bus].fails = tc.fails
		bus, err := r.I2C(tc.bus)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.Tx(0x76, []byte{0xd0}, make([]byte, 1)); (err != nil) != tc.err {
			t.Errorf("%s with %d failures: Tx = %v", tc.bus, tc.fails, err)
		}
	}
	want := map[string]Retries{"I2C1": {Retries: Attempts - 1}, "I2C3": {Retries: Attempts - 1, Failures: 1}}
	got := r.Counts()
	if len(got) != len(want) {
		t.Fatalf("Counts() = %v, want %v", got, want)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("Counts()[%s] = %+v, want %+v", name, got[name], w)
		}
	}
}
