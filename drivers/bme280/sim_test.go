package bme280

import (
	"context"
	"fmt"
	"math"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/bme280/bme280test"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// The simulated chip's trimming parameters are exampleCal.
func TestChip_Trimming(t *testing.T) {
	tr := bme280test.Calibration()
	sim := calibration{T1: tr.T1, T2: tr.T2, T3: tr.T3, P1: tr.P1, P2: tr.P2, P3: tr.P3, P4: tr.P4, P5: tr.P5,
		P6: tr.P6, P7: tr.P7, P8: tr.P8, P9: tr.P9, H1: tr.H1, H2: tr.H2, H3: tr.H3, H4: tr.H4, H5: tr.H5, H6: tr.H6}
	if sim != exampleCal {
		t.Errorf("bme280test.Calibration() = %+v; want %+v", sim, exampleCal)
	}
}

// The driver reads back the physical state of the simulated chip, which
// inverts the double-precision formulas of appendix 8.1, within the
// resolution of the measurement: the ADC step at the oversampling used
// (section 3.4: 16 bits at ×1, 20 bits at ×16 or with the filter on) plus
// the integer formulas' own resolution: 0.01 °C, 1/1024 %RH and, for
// pressure, t_fine's: the integer temperature formula uses adc_T only to 17
// bits (adc_T>>3), so t_fine moves in steps of about 13 (0.0025 °C), each
// worth up to 0.4 Pa.
func TestChip_RoundTrip(t *testing.T) {
	settings := []struct {
		name       string
		opts       Options
		dT, dP, dH float64 // °C, Pa, %RH
	}{
		{"x1", Options{}, 0.008, 1.5, 0.01},
		{"x16", Options{Temperature: 16, Pressure: 16, Humidity: 16}, 0.008, 0.5, 0.01},
		{"x2 filter 4", Options{Temperature: 2, Pressure: 2, Humidity: 2, Filter: 4}, 0.008, 0.5, 0.01},
	}
	states := []struct {
		c, pa, rh float64
	}{
		{20, 101325, 50},
		{-40, 30000, 0},
		{-12.34, 70000, 12.5},
		{0, 95000, 99.9},
		{4.5, 100200, 85},
		{37.2, 101800, 33.3},
		{60, 105000, 5},
		{85, 110000, 100},
	}
	for _, s := range settings {
		for _, bmp := range []bool{false, true} {
			chip := bme280test.New(0x77)
			chip.BMP280 = bmp
			clk := newFakeClock()
			chip.Clock = clk
			opts := s.opts
			opts.Clock = clk
			d, err := New(context.Background(), chip, 0x77, &opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range states {
				t.Run(fmt.Sprintf("%s/%s/%v°C %vPa %v%%", s.name, d.device, st.c, st.pa, st.rh), func(t *testing.T) {
					chip.Lock()
					chip.Temperature = physic.ZeroCelsius + physic.Temperature(st.c*1e9)
					chip.Pressure = physic.Pressure(st.pa * 1e9)
					chip.Humidity = physic.RelativeHumidity(st.rh * 1e5)
					chip.Unlock()
					vals, err := d.Sense(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					env := vals[0].(sensor.Env)
					if got := env.Temperature.Celsius(); math.Abs(got-st.c) > s.dT {
						t.Errorf("temperature = %.4f °C; want %v ± %v", got, st.c, s.dT)
					}
					if got := float64(env.Pressure) / 1e9; math.Abs(got-st.pa) > s.dP {
						t.Errorf("pressure = %.3f Pa; want %v ± %v", got, st.pa, s.dP)
					}
					if env.HasHumidity == bmp {
						t.Errorf("HasHumidity = %v on a %s", env.HasHumidity, d.device)
					}
					if got := float64(env.Humidity) / 1e5; !bmp && math.Abs(got-st.rh) > s.dH {
						t.Errorf("humidity = %.4f %%RH; want %v ± %v", got, st.rh, s.dH)
					}
					if bmp && env.Humidity != 0 {
						t.Errorf("humidity = %v on a BMP280; want 0", env.Humidity)
					}
				})
			}
			if err := d.Halt(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A genuine temperature whose raw value is 0x80000 cannot be told from a
// skipped measurement; the sample is dropped.
func TestChip_RawEqualsSkipped(t *testing.T) {
	c := exampleCal
	tC, _ := c.oracleT(0x80000)
	chip := bme280test.New(0x76)
	chip.Temperature = physic.ZeroCelsius + physic.Temperature(tC*1e9)
	d, err := New(context.Background(), chip, 0x76, &Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Sense(context.Background())
	wantErr(t, err, "bme280", "read data", sensor.ErrNotReading)
	chip.Temperature += 10 * physic.MilliKelvin
	if _, err := d.Sense(context.Background()); err != nil {
		t.Errorf("Sense at %v: %v", chip.Temperature, err)
	}
}

func TestChip_Faults(t *testing.T) {
	ctx := context.Background()
	chip := bme280test.New(0x76)

	// Nothing at 0x77.
	_, err := New(ctx, chip, 0x77, &Options{Clock: newFakeClock(), Bus: "I2C1 0x77"})
	wantErr(t, err, "bme280", "read chip id", sensor.ErrNoDevice, sensor.ErrBus)

	// Two disturbed transfers: the retrying bus gets through.
	chip.FailNext = 2
	retry := &sensor.RetryI2C{Bus: chip}
	d, err := New(ctx, retry, 0x76, &Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if retry.Retries() != 2 {
		t.Errorf("Retries() = %d; want 2", retry.Retries())
	}
	// Three: the retrying bus gives up, and the error says so once.
	chip.FailNext = 3
	_, err = d.Sense(ctx)
	se := wantErr(t, err, "bme280", "start measurement", sensor.ErrBus)
	if !sensor.IsRemoteIO(err) || !se.Retryable() {
		t.Errorf("error %q: not a retryable remote I/O error", err)
	}
	if _, err := d.Sense(ctx); err != nil {
		t.Errorf("Sense after the fault: %v", err)
	}

	// A conversion that never ends.
	chip.Stuck = true
	_, err = d.Sense(ctx)
	wantErr(t, err, "bme280", "wait for measurement", sensor.ErrTimeout)
}
