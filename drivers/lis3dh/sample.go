package lis3dh

import "github.com/waybill-eu/waybill/drivers/sensor"

// sensitivity is datasheet Table 4 ("So", typical): milli-g per digit of the
// n-bit output, by full scale (rows) and mode (columns: high-resolution
// 12-bit, normal 10-bit, low-power 8-bit).
var sensitivity = map[int][3]int32{
	2:  {1, 4, 16},
	4:  {2, 8, 32},
	8:  {4, 16, 64},
	16: {12, 48, 192},
}

// bits is the number of significant bits per mode (§3.2.1, Table 10).
var bits = [3]uint{HighResolution: 12, Normal: 10, LowPower: 8}

// conversion turns a left-justified 16-bit output into milli-g.
type conversion struct {
	shift uint  // 16 minus the significant bits
	mg    int32 // milli-g per digit
}

func conversionFor(rangeG int, m Mode) conversion {
	return conversion{shift: 16 - bits[m], mg: sensitivity[rangeG][m]}
}

// axis decodes one axis: OUT_x_L then OUT_x_H (BLE = 0, §8.11), a 16-bit
// two's complement value whose low (16 - bits) bits carry no data (§8.16).
func (c conversion) axis(lo, hi byte) sensor.MilliG {
	raw := int16(uint16(lo) | uint16(hi)<<8)
	return sensor.MilliG(int32(raw>>c.shift) * c.mg)
}

// decode converts one FIFO slot, OUT_X_L..OUT_Z_H; b has at least 6 bytes.
func (c conversion) decode(b []byte) (x, y, z sensor.MilliG) {
	_ = b[5]
	return c.axis(b[0], b[1]), c.axis(b[2], b[3]), c.axis(b[4], b[5])
}
