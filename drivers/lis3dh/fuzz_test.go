package lis3dh

import (
	"testing"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// FuzzDecode checks the sample decoding for every full scale and mode: it
// never panics, each axis is a whole number of digits within the n-bit
// range (Table 4, §3.2.1), and bits below the significant ones are ignored.
func FuzzDecode(f *testing.F) {
	for _, s := range [][]byte{
		{0xE0, 0x15, 0x00, 0x40, 0x00, 0x00},
		{0xF0, 0x7F, 0x00, 0x80, 0xEF, 0x15},
		{0xC0, 0xE0, 0xC0, 0x0F, 0x40, 0x00},
		{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
		{0x00, 0x80, 0x00, 0x80, 0x00, 0x80},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 6 {
			return
		}
		for _, rangeG := range []int{2, 4, 8, 16} {
			for _, m := range []Mode{HighResolution, Normal, LowPower} {
				c := conversionFor(rangeG, m)
				x, y, z := c.decode(b)
				n := bits[m]
				lim := int64(1) << (n - 1) * int64(c.mg)
				for i, v := range []sensor.MilliG{x, y, z} {
					if int64(v)%int64(c.mg) != 0 || int64(v) < -lim || int64(v) > lim-int64(c.mg) {
						t.Fatalf("±%d g %v: axis %d of % x = %d mg: not a digit of %d mg in %d bits", rangeG, m, i, b[:6], v, c.mg, n)
					}
					// Clearing the bits that carry no data changes nothing.
					lo := b[2*i] &^ byte(1<<(16-n)-1)
					if 16-n >= 8 {
						lo = 0
					}
					if got := c.axis(lo, b[2*i+1]); got != v {
						t.Fatalf("±%d g %v: axis %d depends on its unused low bits", rangeG, m, i)
					}
				}
			}
		}
	})
}
