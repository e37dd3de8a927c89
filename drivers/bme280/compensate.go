package bme280

import (
	"encoding/binary"
	"fmt"

	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Sizes of the blocks the driver reads. Trimming parameters, datasheet
// section 4.2.2, Table 16: calib00..calib25 at 0x88..0xA1, and the
// humidity words at 0xE1..0xE7 (part of calib26..calib41, BME280 only).
// Data registers, section 5.3 (memory map) and 5.4.7 to 5.4.9.
const (
	calibTPLen = 0xA1 - 0x88 + 1 // 26
	calibHLen  = 0xE7 - 0xE1 + 1 // 7
	dataLen    = 0xFE - 0xF7 + 1 // 8: press, temp, hum
	dataLenTP  = 0xFC - 0xF7 + 1 // 6: press, temp (BMP280)
)

// Raw values the chip leaves in the data registers when a measurement was
// skipped or has not run: the reset values of the memory map, section 5.3
// (0x80 0x00 0x00 for press and temp, 0x80 0x00 for hum), which sections
// 5.4.3 and 5.4.5 name as the output of a skipped measurement ("output set
// to 0x8000" for humidity, "0x80000" for temperature and pressure).
const (
	skippedTP = 0x80000
	skippedH  = 0x8000
)

// calibration holds the trimming parameters of datasheet Table 16 under
// their datasheet names, with the datasheet's types.
type calibration struct {
	T1         uint16
	T2, T3     int16
	P1         uint16
	P2, P3, P4 int16
	P5, P6, P7 int16
	P8, P9     int16
	H1         uint8
	H2         int16
	H3         uint8
	H4, H5     int16 // 12-bit two's complement, sign-extended
	H6         int8
}

// parseCalibration decodes the trimming parameters from the bytes read at
// 0x88..0xA1 (tp, calibTPLen bytes) and 0xE1..0xE7 (h, calibHLen bytes, or
// nil on a BMP280), as laid out in datasheet section 4.2.2, Table 16. Words
// are little-endian ("LSB / MSB"). Shorter slices are padded with zeros, so
// any input decodes.
func parseCalibration(tp, h []byte) calibration {
	var b [calibTPLen]byte
	copy(b[:], tp)
	var e [calibHLen]byte
	copy(e[:], h)
	s := func(i int) int16 { return int16(binary.LittleEndian.Uint16(b[i:])) }
	return calibration{
		T1: binary.LittleEndian.Uint16(b[0:]), // 0x88/0x89
		T2: s(2),                              // 0x8A/0x8B
		T3: s(4),                              // 0x8C/0x8D
		P1: binary.LittleEndian.Uint16(b[6:]), // 0x8E/0x8F
		P2: s(8),                              // 0x90/0x91
		P3: s(10),                             // 0x92/0x93
		P4: s(12),                             // 0x94/0x95
		P5: s(14),                             // 0x96/0x97
		P6: s(16),                             // 0x98/0x99
		P7: s(18),                             // 0x9A/0x9B
		P8: s(20),                             // 0x9C/0x9D
		P9: s(22),                             // 0x9E/0x9F
		// 0xA0 is reserved.
		H1: b[25],                                    // 0xA1
		H2: int16(binary.LittleEndian.Uint16(e[0:])), // 0xE1/0xE2
		H3: e[2],                                     // 0xE3
		H4: int16(int8(e[3]))<<4 | int16(e[4]&0x0F),  // 0xE4 = [11:4], 0xE5[3:0] = [3:0]
		H5: int16(int8(e[5]))<<4 | int16(e[4]>>4),    // 0xE6 = [11:4], 0xE5[7:4] = [3:0]
		H6: int8(e[6]),                               // 0xE7
	}
}

// adc holds the raw ADC words of one burst read of 0xF7..0xFE.
type adc struct {
	P, T int32 // 20 bits, unsigned
	H    int32 // 16 bits, unsigned
}

// parseData decodes the burst read of 0xF7..0xFE (datasheet section 5.4.7
// to 5.4.9): press_msb, press_lsb, press_xlsb[7:4], temp_msb, temp_lsb,
// temp_xlsb[7:4], hum_msb, hum_lsb. A 6-byte read (BMP280) leaves H at
// skippedH. Shorter slices are padded with zeros.
func parseData(b []byte) adc {
	var d [dataLen]byte
	copy(d[:], b)
	r := adc{
		P: int32(d[0])<<12 | int32(d[1])<<4 | int32(d[2])>>4,
		T: int32(d[3])<<12 | int32(d[4])<<4 | int32(d[5])>>4,
		H: int32(d[6])<<8 | int32(d[7]),
	}
	if len(b) <= dataLenTP {
		r.H = skippedH
	}
	return r
}

// compensateT is the datasheet's 32-bit integer temperature compensation
// (section 4.2.3, BME280_compensate_T_int32). It returns the temperature in
// 0.01 °C and t_fine, the fine temperature the pressure and humidity
// formulas take. Arithmetic wraps as int32; with real trimming values it
// never overflows.
func (c *calibration) compensateT(adcT int32) (t, tFine int32) {
	var1 := (((adcT >> 3) - (int32(c.T1) << 1)) * int32(c.T2)) >> 11
	d := (adcT >> 4) - int32(c.T1)
	var2 := (((d * d) >> 12) * int32(c.T3)) >> 14
	tFine = var1 + var2
	return (tFine*5 + 128) >> 8, tFine
}

// compensateP is the datasheet's 64-bit integer pressure compensation
// (section 4.2.3, BME280_compensate_P_int64). It returns the pressure in Pa
// as Q24.8 (1/256 Pa), or 0 where the formula would divide by zero (as the
// datasheet does: "avoid exception caused by division by zero"), which
// happens when dig_P1 is 0.
func (c *calibration) compensateP(adcP, tFine int32) uint32 {
	var1 := int64(tFine) - 128000
	var2 := var1 * var1 * int64(c.P6)
	var2 += (var1 * int64(c.P5)) << 17
	var2 += int64(c.P4) << 35
	var1 = ((var1 * var1 * int64(c.P3)) >> 8) + ((var1 * int64(c.P2)) << 12)
	var1 = (((int64(1) << 47) + var1) * int64(c.P1)) >> 33
	if var1 == 0 {
		return 0
	}
	p := int64(1048576 - adcP)
	// Go defines the one overflowing case (MinInt64 / -1) as wrapping, so no
	// input makes the division panic.
	p = (((p << 31) - var2) * 3125) / var1
	var1 = (int64(c.P9) * (p >> 13) * (p >> 13)) >> 25
	var2 = (int64(c.P8) * p) >> 19
	p = ((p + var1 + var2) >> 8) + (int64(c.P7) << 4)
	return uint32(p)
}

// compensateH is the datasheet's 32-bit integer humidity compensation
// (section 4.2.3, bme280_compensate_H_int32). It returns the relative
// humidity in %RH as Q22.10 (1/1024 %RH), clamped to 0..100 %RH.
func (c *calibration) compensateH(adcH, tFine int32) uint32 {
	v := tFine - 76800
	a := ((adcH << 14) - (int32(c.H4) << 20) - (int32(c.H5) * v) + 16384) >> 15
	b := (((((v * int32(c.H6)) >> 10) * (((v * int32(c.H3)) >> 11) + 32768)) >> 10) + 2097152)
	v = a * ((b*int32(c.H2) + 8192) >> 14)
	v -= ((((v >> 15) * (v >> 15)) >> 7) * int32(c.H1)) >> 4
	v = min(max(v, 0), 419430400) // 0..100 %RH in Q22.10 << 12
	return uint32(v >> 12)
}

// Units of the compensated values in periph's fixed-point types.
const (
	centiCelsius = 10 * physic.MilliKelvin // 0.01 °C, the unit of compensateT
	q8Pascal     = physic.Pascal / 256     // 1/256 Pa, the unit of compensateP: 3906250 nPa exactly
)

// compensate turns raw ADC words into an environment value. humidity says
// whether the chip has a humidity sensor (BME280). It fails with a
// notReading error when a raw word is the datasheet's "skipped" value or the
// pressure formula has no result; the error wraps sensor.ErrNotReading.
func (c *calibration) compensate(r adc, humidity bool) (physic.Temperature, physic.Pressure, physic.RelativeHumidity, error) {
	if r.T == skippedTP {
		return 0, 0, 0, fmt.Errorf("%w: temperature not measured (raw 0x80000)", sensor.ErrNotReading)
	}
	if r.P == skippedTP {
		return 0, 0, 0, fmt.Errorf("%w: pressure not measured (raw 0x80000)", sensor.ErrNotReading)
	}
	if humidity && r.H == skippedH {
		return 0, 0, 0, fmt.Errorf("%w: humidity not measured (raw 0x8000)", sensor.ErrNotReading)
	}
	t, tFine := c.compensateT(r.T)
	p := c.compensateP(r.P, tFine)
	if p == 0 {
		return 0, 0, 0, fmt.Errorf("%w: pressure compensation divides by zero (dig_P1 = 0)", sensor.ErrNotReading)
	}
	temp := physic.Temperature(t)*centiCelsius + physic.ZeroCelsius
	press := physic.Pressure(p) * q8Pascal
	var hum physic.RelativeHumidity
	if humidity {
		// h ≤ 102400 (100 %RH), so h*100000 fits in int64 and the result in
		// RelativeHumidity's int32.
		h := int64(c.compensateH(r.H, tFine))
		hum = physic.RelativeHumidity((h*int64(physic.PercentRH) + 512) / 1024)
	}
	return temp, press, hum, nil
}
