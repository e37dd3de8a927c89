package bme280

// The double-precision compensation of datasheet appendix 8.1, an
// independent oracle for the integer formulas of section 4.2.3.

// oracleT returns the temperature in °C and t_fine.
func (c *calibration) oracleT(adcT int32) (float64, int32) {
	v1 := (float64(adcT)/16384 - float64(c.T1)/1024) * float64(c.T2)
	d := float64(adcT)/131072 - float64(c.T1)/8192
	v2 := d * d * float64(c.T3)
	return (v1 + v2) / 5120, int32(v1 + v2)
}

// oracleP returns the pressure in Pa, or 0 where the formula divides by
// zero.
func (c *calibration) oracleP(adcP, tFine int32) float64 {
	v1 := float64(tFine)/2 - 64000
	v2 := v1 * v1 * float64(c.P6) / 32768
	v2 += v1 * float64(c.P5) * 2
	v2 = v2/4 + float64(c.P4)*65536
	v1 = (float64(c.P3)*v1*v1/524288 + float64(c.P2)*v1) / 524288
	v1 = (1 + v1/32768) * float64(c.P1)
	if v1 == 0 {
		return 0
	}
	p := 1048576 - float64(adcP)
	p = (p - v2/4096) * 6250 / v1
	v1 = float64(c.P9) * p * p / 2147483648
	v2 = p * float64(c.P8) / 32768
	return p + (v1+v2+float64(c.P7))/16
}

// oracleH returns the relative humidity in %RH, clamped to 0..100.
func (c *calibration) oracleH(adcH, tFine int32) float64 {
	v := float64(tFine) - 76800
	v = (float64(adcH) - (float64(c.H4)*64 + float64(c.H5)/16384*v)) *
		(float64(c.H2) / 65536 * (1 + float64(c.H6)/67108864*v*(1+float64(c.H3)/67108864*v)))
	v *= 1 - float64(c.H1)*v/524288
	return min(max(v, 0), 100)
}
