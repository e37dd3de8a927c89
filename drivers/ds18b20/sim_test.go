package ds18b20

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/ds18b20/ds18b20test"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Round trips through the simulated probes of package ds18b20test: what a
// test sets as the physical temperature comes back from Sense, within half
// a step of the resolution.

func abs(t physic.Temperature) physic.Temperature {
	if t < 0 {
		return -t
	}
	return t
}

// senseAll runs Sense and returns its temperatures by ROM code and its
// *sensor.Error values by the ROM code in their Bus field.
func senseAll(t *testing.T, d *Dev) (map[string]physic.Temperature, map[string]*sensor.Error) {
	t.Helper()
	values, err := d.Sense(context.Background())
	failed := map[string]*sensor.Error{}
	for _, se := range sensorErrors(err) {
		rom := ""
		if f := strings.Fields(se.Bus); len(f) > 1 {
			rom = f[1]
		}
		failed[rom] = se
	}
	if err != nil && len(failed) == 0 {
		t.Fatalf("Sense error %v holds no *sensor.Error", err)
	}
	return temps(t, values), failed
}

func TestSim_RoundTrip(t *testing.T) {
	set := []float64{4, -18.3, 7.77, 0.01, -0.04, 123.6, -54.97, 2.5}
	for bits := 9; bits <= 12; bits++ {
		b := &ds18b20test.Bus{Name: "w1"}
		var probes []*ds18b20test.Probe
		for i, deg := range set {
			p := b.AddProbe(uint64(0x0316716b4a00 + i*0x1111))
			p.SetTemperature(c(deg))
			probes = append(probes, p)
		}
		b.Probes()[1].SetParasite(true) // powered from the data line: needs the strong pull-up
		d, err := New(context.Background(), b, &Options{Clock: newClock(), Resolution: bits,
			Probes: map[string]string{"box-front": probes[0].Hex()}})
		if err != nil {
			t.Fatal(err)
		}
		half := physic.Temperature(1<<(12-bits)) * sixteenth / 2
		for round := 0; round < 2; round++ {
			got, failed := senseAll(t, d)
			if len(failed) > 0 {
				t.Fatalf("%d bits: %v", bits, failed)
			}
			if len(got) != len(set) {
				t.Fatalf("%d bits: %d values, want %d", bits, len(got), len(set))
			}
			for _, p := range probes {
				if diff := abs(got[p.Hex()] - p.Temperature()); diff > half {
					t.Errorf("%d bits: probe %s at %v read %v", bits, p.Hex(), p.Temperature(), got[p.Hex()])
				}
				if p.Resolution() != bits {
					t.Errorf("%d bits: probe %s at %d bits", bits, p.Hex(), p.Resolution())
				}
				p.SetTemperature(p.Temperature() + c(1.3) - physic.ZeroCelsius)
			}
		}
	}
}

func TestSim_ValuesInROMOrder(t *testing.T) {
	b := &ds18b20test.Bus{}
	for _, serial := range []uint64{0xFFFF, 0x1, 0xABCDEF, 0x42} {
		b.AddProbe(serial)
	}
	d, err := New(context.Background(), b, &Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	values, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var roms []string
	for _, v := range values {
		roms = append(roms, v.(sensor.Temperature).Probe)
	}
	if !slices.IsSorted(roms) || !slices.Equal(roms, d.Probes()) {
		t.Errorf("values for %q, Probes() %q", roms, d.Probes())
	}
}

func TestSim_Faults(t *testing.T) {
	for _, tc := range []struct {
		fault ds18b20test.Fault
		bits  int
		want  error
		msg   string
	}{
		{ds18b20test.PowerOn85, 12, sensor.ErrNotReading, "85 °C"},
		{ds18b20test.PowerOn85, 10, sensor.ErrNotReading, "converted at 12 bits, not 10"},
		{ds18b20test.Zero, 12, sensor.ErrNotReading, "all zero"},
		{ds18b20test.CorruptCRC, 11, sensor.ErrCRC, "CRC"},
		{ds18b20test.Vanished, 12, sensor.ErrNoDevice, "no answer"},
		{ds18b20test.Error127, 9, sensor.ErrNotReading, "127.94"},
	} {
		t.Run(fmt.Sprintf("%v/%d bits", tc.fault, tc.bits), func(t *testing.T) {
			b := &ds18b20test.Bus{Name: "w1"}
			good, bad := b.AddProbe(1), b.AddProbe(2)
			good.SetTemperature(c(3.5))
			bad.SetTemperature(c(5))
			d, err := New(context.Background(), b, &Options{Clock: newClock(), Resolution: tc.bits, BusName: "w1",
				Probes: map[string]string{"box-rear": bad.Hex()}})
			if err != nil {
				t.Fatal(err)
			}
			bad.SetFault(tc.fault)
			got, failed := senseAll(t, d)
			if len(got) != 1 || got[good.Hex()] != c(3.5) {
				t.Errorf("values %v, want only the good probe at 3.5 °C", got)
			}
			se := failed[bad.Hex()]
			if len(failed) != 1 || se == nil || !errors.Is(se, tc.want) || !strings.Contains(se.Error(), tc.msg) ||
				!strings.HasSuffix(se.Bus, "(box-rear)") {
				t.Fatalf("errors %v, want one for %s wrapping %v with %q", failed, bad.Hex(), tc.want, tc.msg)
			}
			t.Log(se)
			// The fault goes away (PowerOn85 by itself); the probe reads
			// again at the next Sense, or, if it was unplugged, at the one
			// after the search its absence triggers.
			bad.SetFault(ds18b20test.None)
			got, failed = senseAll(t, d)
			if len(failed) != 0 || len(got) != 2 || got[bad.Hex()] != c(5) {
				t.Fatalf("after the fault: %v, %v", got, failed)
			}
		})
	}
}

func TestSim_VanishedProbeReturns(t *testing.T) {
	// Unplugged, the probe fails and the others keep working; plugged in
	// again, it powers up at its EEPROM's 12 bits, and the search that its
	// absence triggered configures it before its first conversion.
	b := &ds18b20test.Bus{}
	p, q := b.AddProbe(1), b.AddProbe(2)
	p.SetTemperature(c(-20))
	q.SetTemperature(c(6))
	d, err := New(context.Background(), b, &Options{Clock: newClock(), Resolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	p.SetFault(ds18b20test.Vanished)
	for i := 0; i < 3; i++ {
		got, failed := senseAll(t, d)
		if len(got) != 1 || got[q.Hex()] != c(6) || !errors.Is(failed[p.Hex()], sensor.ErrNoDevice) {
			t.Fatalf("Sense %d while unplugged: %v, %v", i, got, failed)
		}
	}
	if !slices.Contains(d.Probes(), p.Hex()) {
		t.Errorf("Probes() = %q dropped the unplugged probe", d.Probes())
	}
	p.SetFault(ds18b20test.None)
	if p.Resolution() != 12 {
		t.Fatalf("plugged in at %d bits, want the EEPROM's 12", p.Resolution())
	}
	got, failed := senseAll(t, d)
	if len(failed) != 0 || got[p.Hex()] != c(-20) || p.Resolution() != 9 {
		t.Fatalf("after plugging in: %v, %v, %d bits", got, failed, p.Resolution())
	}
}

func TestSim_LatePlug(t *testing.T) {
	// A named probe plugged in after New is reported missing until then
	// and read from the Sense after it appears. An unnamed one is found by
	// the periodic search.
	var box ds18b20test.Bus
	front := box.AddProbe(0x0316716b4aff)
	front.SetTemperature(c(4))
	var other ds18b20test.Bus
	rearHex := other.AddProbe(0x0316716b4afe).Hex() // the ROM code of the probe plugged in later

	d, err := New(context.Background(), &box, &Options{Clock: newClock(), Rescan: 3,
		Probes: map[string]string{"box-front": front.Hex(), "box-rear": rearHex}})
	if err != nil {
		t.Fatal(err)
	}
	got, failed := senseAll(t, d)
	if len(got) != 1 || !errors.Is(failed[rearHex], sensor.ErrNoDevice) {
		t.Fatalf("before plugging: %v, %v", got, failed)
	}
	rear := box.AddProbe(0x0316716b4afe)
	rear.SetTemperature(c(7))
	got, failed = senseAll(t, d)
	if len(failed) != 0 || got[rearHex] != c(7) || got[front.Hex()] != c(4) {
		t.Fatalf("after plugging: %v, %v", got, failed)
	}

	extra := box.AddProbe(0x123456)
	extra.SetTemperature(c(2))
	found := -1
	for i := 0; i < 3; i++ {
		got, failed = senseAll(t, d)
		if len(failed) != 0 {
			t.Fatal(failed)
		}
		if _, ok := got[extra.Hex()]; ok && found < 0 {
			found = i
		}
	}
	if found < 0 {
		t.Fatalf("an unnamed probe was not found within Rescan = 3 Sense calls")
	}
}

func TestSim_ForeignDevice(t *testing.T) {
	b := &ds18b20test.Bus{}
	p := b.AddProbe(1)
	p.SetTemperature(c(3))
	b.AddDevice(0xf400000e123a6b01) // a DS2401
	d, err := New(context.Background(), b, &Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Ignored(); !slices.Equal(got, []string{"016b3a120e0000f4"}) {
		t.Errorf("Ignored() = %q", got)
	}
	got, failed := senseAll(t, d)
	if len(failed) != 0 || len(got) != 1 || got[p.Hex()] != c(3) {
		t.Fatalf("Sense: %v, %v", got, failed)
	}
}

func TestSim_BusFaults(t *testing.T) {
	b := &ds18b20test.Bus{Name: "w1"}
	p := b.AddProbe(1)
	p.SetTemperature(c(3))
	d, err := New(context.Background(), b, &Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.String(); got != "ds18b20 on w1" {
		t.Errorf("String() = %q", got)
	}
	b.SetShorted(true)
	values, err := d.Sense(context.Background())
	if values != nil || !errors.Is(err, sensor.ErrBus) || !ds18b20test.IsShorted(err) {
		t.Fatalf("shorted: %v, %v", values, err)
	}
	b.SetShorted(false)
	// The failed Convert T leads to a search first.
	values, err = d.Sense(context.Background())
	if err != nil || len(values) != 1 {
		t.Fatalf("after the short: %v, %v", values, err)
	}
	b.FailNext(errors.New("adapter lost the transfer"))
	values, err = d.Sense(context.Background())
	if values != nil || !errors.Is(err, sensor.ErrBus) {
		t.Fatalf("lost transfer: %v, %v", values, err)
	}
}

func TestSim_WaitsForConversion(t *testing.T) {
	// The simulated probes take tCONV on the same clock the driver sleeps
	// on: every Sense sees the temperature set just before it, so the
	// driver waited long enough at every resolution.
	for bits := 9; bits <= 12; bits++ {
		clk := newClock()
		b := &ds18b20test.Bus{Clock: clk}
		p := b.AddProbe(1)
		d, err := New(context.Background(), b, &Options{Clock: clk, Resolution: bits})
		if err != nil {
			t.Fatal(err)
		}
		for _, deg := range []float64{4, 6, -2, 8} {
			p.SetTemperature(c(deg))
			got, failed := senseAll(t, d)
			if len(failed) != 0 || got[p.Hex()] != c(deg) {
				t.Fatalf("%d bits: set %v °C, read %v, %v", bits, deg, got, failed)
			}
		}
	}
}
