package bme280

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// exampleCal holds the trimming parameters of the worked example in the
// BMP280 datasheet (BST-BMP280-DS001, "Calculating pressure and
// temperature"), whose temperature and pressure formulas are the BME280's
// (BME280 datasheet section 5.2 and 4.2.3), plus humidity parameters within
// the spread of production parts. The BME280 datasheet itself gives no
// numeric example; bme280test.Calibration() is the same set.
var exampleCal = calibration{
	T1: 27504, T2: 26435, T3: -1000,
	P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
	H1: 75, H2: 364, H3: 0, H4: 317, H5: 50, H6: 30,
}

// otherCal is a second set, also within the spread of production parts,
// with a positive dig_T3, a negative dig_P5 and dig_H5 = 0.
var otherCal = calibration{
	T1: 28009, T2: 25654, T3: 50,
	P1: 39145, P2: -10750, P3: 3024, P4: 5667, P5: -120, P6: -7, P7: 15500, P8: -14600, P9: 6000,
	H1: 75, H2: 352, H3: 0, H4: 340, H5: 0, H6: 30,
}

// encodeCal lays out c as the registers 0x88..0xA1 and 0xE1..0xE7 of
// Table 16, the inverse of parseCalibration.
func encodeCal(c calibration) (tp, h []byte) {
	tp = make([]byte, calibTPLen)
	for i, v := range []uint16{c.T1, uint16(c.T2), uint16(c.T3), c.P1, uint16(c.P2), uint16(c.P3),
		uint16(c.P4), uint16(c.P5), uint16(c.P6), uint16(c.P7), uint16(c.P8), uint16(c.P9)} {
		binary.LittleEndian.PutUint16(tp[2*i:], v)
	}
	tp[25] = c.H1
	h = make([]byte, calibHLen)
	binary.LittleEndian.PutUint16(h, uint16(c.H2))
	h[2] = c.H3
	h[3] = byte(c.H4 >> 4)
	h[4] = byte(c.H5&0x0F)<<4 | byte(c.H4&0x0F)
	h[5] = byte(c.H5 >> 4)
	h[6] = byte(c.H6)
	return tp, h
}

// encodeData lays out raw words as the registers 0xF7..0xFE.
func encodeData(p, t, h uint32) []byte {
	return []byte{byte(p >> 12), byte(p >> 4), byte(p << 4), byte(t >> 12), byte(t >> 4), byte(t << 4), byte(h >> 8), byte(h)}
}

// The worked example of the BMP280 datasheet: adc_T = 519888 and
// adc_P = 415148 give t_fine = 128422, T = 25.08 °C and p = 100653.27 Pa
// (double precision). The 64-bit integer formula gives 25767233/256 Pa.
func TestCompensate_DatasheetExample(t *testing.T) {
	c := exampleCal
	temp, tFine := c.compensateT(519888)
	if temp != 2508 || tFine != 128422 {
		t.Errorf("compensateT(519888) = %d, %d; want 2508, 128422", temp, tFine)
	}
	p := c.compensateP(415148, tFine)
	if p != 25767233 {
		t.Errorf("compensateP(415148) = %d; want 25767233", p)
	}
	if got := float64(p) / 256; math.Abs(got-100653.27) > 0.05 {
		t.Errorf("pressure = %.3f Pa; datasheet example 100653.27 Pa", got)
	}
}

func TestCompensate_Table(t *testing.T) {
	tests := []struct {
		name             string
		cal              calibration
		adcT, adcP, adcH int32
		// Results of the integer formulas of section 4.2.3.
		temp, tFine int32
		press       uint32 // Q24.8 Pa
		hum         uint32 // Q22.10 %RH
	}{
		{"example", exampleCal, 519888, 415148, 27136, 2508, 128422, 25767233, 38715},
		{"example dry", exampleCal, 519888, 415148, 25000, 2508, 128422, 25767233, 26400},
		{"arctic altitude", exampleCal, 330000, 700000, 20000, -3482, -178291, 12170458, 2468},
		{"frost", exampleCal, 420000, 500000, 30000, -633, -32397, 20992218, 53934},
		{"hot humid", exampleCal, 640000, 380000, 36000, 6255, 320262, 28906167, 93161},
		{"saturated", exampleCal, 700000, 360000, 38000, 8115, 415464, 30664199, 102400},
		{"other", otherCal, 519888, 415148, 27136, 2194, 112350, 22036920, 29911},
		{"other bone dry", otherCal, 330000, 700000, 20000, -3612, -184950, 9502794, 0},
		{"other frost", otherCal, 420000, 500000, 30000, -861, -44066, 17642219, 42615},
		{"other hot", otherCal, 640000, 380000, 36000, 5869, 300514, 24939493, 85115},
		{"other humid", otherCal, 700000, 360000, 38000, 7706, 394539, 26576110, 100552},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cal
			temp, tFine := c.compensateT(tt.adcT)
			press := c.compensateP(tt.adcP, tFine)
			hum := c.compensateH(tt.adcH, tFine)
			if temp != tt.temp || tFine != tt.tFine || press != tt.press || hum != tt.hum {
				t.Errorf("compensate(%d, %d, %d) = %d, %d, %d, %d; want %d, %d, %d, %d",
					tt.adcT, tt.adcP, tt.adcH, temp, tFine, press, hum, tt.temp, tt.tFine, tt.press, tt.hum)
			}
			// The double-precision formulas of appendix 8.1 agree within
			// the integer formulas' output resolution.
			oT, oFine := c.oracleT(tt.adcT)
			if d := math.Abs(float64(temp)/100 - oT); d > 0.006 {
				t.Errorf("T = %.2f °C, double precision %.4f °C", float64(temp)/100, oT)
			}
			if d := math.Abs(float64(press)/256 - c.oracleP(tt.adcP, oFine)); d > 0.1 {
				t.Errorf("p = %.3f Pa, double precision %.3f Pa", float64(press)/256, c.oracleP(tt.adcP, oFine))
			}
			if d := math.Abs(float64(hum)/1024 - c.oracleH(tt.adcH, oFine)); d > 0.01 {
				t.Errorf("h = %.4f %%RH, double precision %.4f %%RH", float64(hum)/1024, c.oracleH(tt.adcH, oFine))
			}
		})
	}
}

func TestCompensate_Units(t *testing.T) {
	c := exampleCal
	temp, press, hum, err := c.compensate(adc{T: 519888, P: 415148, H: 27136}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := physic.ZeroCelsius + 25080*physic.MilliCelsius; temp != want {
		t.Errorf("temperature = %v; want %v", temp, want)
	}
	if want := physic.Pressure(25767233) * 3906250; press != want { // 1/256 Pa = 3906250 nPa
		t.Errorf("pressure = %v; want %v", press, want)
	}
	// 38715/1024 %RH = 37.8076171875 %RH, to the nearest 0.00001 %RH.
	if want := 3780762 * physic.TenthMicroRH; hum != want {
		t.Errorf("humidity = %v; want %v", hum, want)
	}
	if _, _, hum, _ := c.compensate(adc{T: 519888, P: 415148, H: 0xFFFF}, true); hum != 100*physic.PercentRH {
		t.Errorf("humidity at full scale = %v; want 100%%rH", hum)
	}
	if _, _, hum, _ := c.compensate(adc{T: 519888, P: 415148, H: skippedH}, false); hum != 0 {
		t.Errorf("humidity without a humidity sensor = %v; want 0", hum)
	}
}

// The bit packing of Table 16: dig_H4 is 0xE4 (bits 11:4) and 0xE5[3:0];
// dig_H5 is 0xE5[7:4] and 0xE6 (bits 11:4); both are signed.
func TestParseCalibration_HumidityPacking(t *testing.T) {
	tests := []struct {
		e4, e5, e6 byte
		h4, h5     int16
	}{
		{0x13, 0x2D, 0x03, 317, 50},
		{0x00, 0x00, 0x00, 0, 0},
		{0x7F, 0xFF, 0x7F, 2047, 2047},
		{0x80, 0x00, 0x80, -2048, -2048},
		{0xFF, 0xFF, 0xFF, -1, -1},
		{0xEA, 0x1C, 0xFE, -340, -31},
	}
	for _, tt := range tests {
		c := parseCalibration(nil, []byte{0, 0, 0, tt.e4, tt.e5, tt.e6, 0})
		if c.H4 != tt.h4 || c.H5 != tt.h5 {
			t.Errorf("E4..E6 = %02x %02x %02x: dig_H4, dig_H5 = %d, %d; want %d, %d", tt.e4, tt.e5, tt.e6, c.H4, c.H5, tt.h4, tt.h5)
		}
	}
	for _, c := range []calibration{exampleCal, otherCal, {T2: -1, P1: 65535, H2: -32768, H4: -2048, H5: 2047, H6: -128}} {
		if got := parseCalibration(encodeCal(c)); got != c {
			t.Errorf("parseCalibration(encodeCal(%+v)) = %+v", c, got)
		}
	}
}

func TestParseData(t *testing.T) {
	// press 0x655AC, temp 0x7EED0, hum 0x6A00 (sections 5.4.7 to 5.4.9).
	b := []byte{0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x6A, 0x00}
	if got, want := parseData(b), (adc{P: 415148, T: 519888, H: 0x6A00}); got != want {
		t.Errorf("parseData(% x) = %+v; want %+v", b, got, want)
	}
	// xlsb bits 3:0 are not part of the value.
	b = []byte{0x65, 0x5A, 0xCF, 0x7E, 0xED, 0x0F}
	if got, want := parseData(b), (adc{P: 415148, T: 519888, H: skippedH}); got != want {
		t.Errorf("parseData(% x) = %+v; want %+v", b, got, want)
	}
}

// badInputs are trimming parameters and data the compensation must refuse
// or survive; they seed FuzzCompensate.
var badInputs = []struct {
	name     string
	cal      []byte // 0x88..0xA1 then 0xE1..0xE7
	data     []byte // 0xF7..0xFE
	humidity bool
	err      error // nil: no error required, only no panic
}{
	{"temperature skipped", example(), encodeData(415148, skippedTP, 27136), true, sensor.ErrNotReading},
	{"pressure skipped", example(), encodeData(skippedTP, 519888, 27136), true, sensor.ErrNotReading},
	{"humidity skipped", example(), encodeData(415148, 519888, skippedH), true, sensor.ErrNotReading},
	{"reset values", example(), []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0}, true, sensor.ErrNotReading},
	{"dig_P1 zero", make([]byte, calibTPLen+calibHLen), encodeData(415148, 519888, 27136), true, sensor.ErrNotReading},
	{"all ones", bytesOf(0xFF, calibTPLen+calibHLen), bytesOf(0xFF, dataLen), true, nil},
	{"all ones bmp280", bytesOf(0xFF, calibTPLen), bytesOf(0xFF, dataLenTP), false, nil},
	{"extreme trimming", extreme(), encodeData(0, 0xFFFFF, 0xFFFF), true, nil},
	{"extreme trimming low", extreme(), encodeData(0xFFFFF, 0, 0), true, nil},
	{"short", []byte{1, 2, 3}, []byte{4}, true, nil},
}

func example() []byte {
	tp, h := encodeCal(exampleCal)
	return append(tp, h...)
}

func extreme() []byte {
	tp, h := encodeCal(calibration{T1: 65535, T2: -32768, T3: 32767, P1: 1, P2: 32767, P3: -32768, P4: 32767,
		P5: -32768, P6: 32767, P7: -32768, P8: 32767, P9: -32768, H1: 255, H2: 32767, H3: 255, H4: -2048, H5: 2047, H6: 127})
	return append(tp, h...)
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

// check runs the compensation on outside bytes as Sense does and checks
// what must hold for any input.
func check(t *testing.T, cal, data []byte, humidity bool) error {
	t.Helper()
	tp, h := cal, []byte(nil)
	if len(tp) > calibTPLen {
		tp, h = cal[:calibTPLen], cal[calibTPLen:]
	}
	c := parseCalibration(tp, h)
	_, press, hum, err := c.compensate(parseData(data), humidity)
	if err != nil {
		if !errors.Is(err, sensor.ErrNotReading) {
			t.Errorf("compensate: %v; want an ErrNotReading", err)
		}
		return err
	}
	if c.P1 == 0 {
		t.Errorf("compensate with dig_P1 = 0 returned a pressure (%v)", press)
	}
	if press <= 0 {
		t.Errorf("pressure = %v; want > 0", press)
	}
	if hum < 0 || hum > 100*physic.PercentRH || (!humidity && hum != 0) {
		t.Errorf("humidity = %v; want 0..100%%rH (0 without a humidity sensor)", hum)
	}
	return nil
}

func TestCompensate_BadInputs(t *testing.T) {
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			err := check(t, tt.cal, tt.data, tt.humidity)
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("compensate: %v; want %v", err, tt.err)
			}
		})
	}
}

func FuzzCompensate(f *testing.F) {
	for _, tt := range badInputs {
		f.Add(tt.cal, tt.data, tt.humidity)
	}
	f.Add(example(), encodeData(415148, 519888, 27136), true)
	f.Fuzz(func(t *testing.T, cal, data []byte, humidity bool) {
		check(t, cal, data, humidity)
	})
}
