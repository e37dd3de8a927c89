package ds18b20

import (
	"testing"

	"periph.io/x/conn/v3/physic"
)

// FuzzScratchpad feeds arbitrary bytes to the scratchpad checks and the
// temperature decoding at every resolution: a value or an error, never a
// panic, and a value only from a scratchpad with a valid CRC-8 and a
// temperature in the measuring range.
func FuzzScratchpad(f *testing.F) {
	for _, tc := range table1 {
		f.Add(tc.sp)
	}
	for _, tc := range badScratchpads {
		f.Add(tc.sp)
	}
	f.Add(powerUp)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseScratchpad(b)
		if err != nil {
			return
		}
		if len(b) != scratchpadLen || CRC8(b) != 0 {
			t.Fatalf("accepted % x", b)
		}
		for bits := 9; bits <= 12; bits++ {
			temp, err := decodeTemperature(s.raw, bits)
			if err != nil {
				continue
			}
			step := physic.Temperature(1<<(12-bits)) * sixteenth
			if temp < c(-55) || temp > c(125) || temp == c(85) || (temp-physic.ZeroCelsius)%step != 0 {
				t.Fatalf("% x at %d bits: %v", b, bits, temp)
			}
		}
	})
}

// FuzzParseROM checks that ParseROM accepts only what ROM prints.
func FuzzParseROM(f *testing.F) {
	for _, s := range []string{hexA, hexB, hexDS2401, "28ff4a6b711603c2", "28FF4A6B711603F8", "28-0316716b4aff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseROM(s)
		if err != nil {
			return
		}
		if got := ROM(a); got != s {
			t.Fatalf("ParseROM(%q) = %s", s, got)
		}
		if b := romBytes(a); CRC8(b[:]) != 0 {
			t.Fatalf("ParseROM(%q) accepted a bad CRC", s)
		}
	})
}
