package ds18b20

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

func TestCRC8_AN27(t *testing.T) {
	// Application Note 27's worked example: the ROM code of a device with
	// family code 02h and serial number 000001B81Ch has CRC A2h; the CRC
	// over all eight bytes, its own CRC included, is 0.
	rom := []byte{0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00, 0xA2}
	if got := CRC8(rom[:7]); got != 0xA2 {
		t.Errorf("CRC8(% x) = %02x, want a2", rom[:7], got)
	}
	if got := CRC8(rom); got != 0 {
		t.Errorf("CRC8(% x) = %02x, want 0", rom, got)
	}
	for _, tc := range []struct {
		in   []byte
		want byte
	}{
		{nil, 0},
		{make([]byte, 8), 0}, // why an all-zero scratchpad passes the CRC
		{powerUp[:8], 0x1C},  // a power-up scratchpad read from a part
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 0xC9}, // not FFh: nothing answering fails the CRC
	} {
		if got := CRC8(tc.in); got != tc.want {
			t.Errorf("CRC8(% x) = %02x, want %02x", tc.in, got, tc.want)
		}
	}
}

func TestCRC8_MatchesPeriph(t *testing.T) {
	// periph's table-driven onewire.CalcCRC is an independent implementation
	// of the same AN27 CRC.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 27))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(16))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if got, want := CRC8(b), onewire.CalcCRC(b); got != want {
			t.Fatalf("CRC8(% x) = %02x, onewire.CalcCRC = %02x", b, got, want)
		}
	}
}

func TestParseROM(t *testing.T) {
	for _, s := range []string{hexA, hexB, hexDS2401, hexDS1820} {
		a, err := ParseROM(s)
		if err != nil {
			t.Fatalf("ParseROM(%q): %v", s, err)
		}
		if a != addr(s) {
			t.Errorf("ParseROM(%q) = %#016x, want %#016x", s, uint64(a), uint64(addr(s)))
		}
		if got := ROM(a); got != s {
			t.Errorf("ROM(ParseROM(%q)) = %q", s, got)
		}
	}
	// onewire.Address is little-endian: the family code is the low byte.
	if got := ROM(0xf80316716b4aff28); got != hexB {
		t.Errorf("ROM(0xf80316716b4aff28) = %q, want %q", got, hexB)
	}
}

func TestParseROM_Bad(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "16 lowercase hex digits"},
		{"28ff4a6b711603f", "16 lowercase hex digits"},
		{"28ff4a6b711603f80", "16 lowercase hex digits"},
		{"28FF4A6B711603F8", "not a lowercase hex digit"},
		{"28-0316716b4aff", "16 lowercase hex digits"},
		{"28ff4a6b7116 3f8", "not a lowercase hex digit"},
		{"28ff4a6b711603g8", "not a lowercase hex digit"},
		// One mistyped digit: the CRC catches it and says what it should be.
		{"28ff4a6b711603c2", "CRC byte is c2, the first seven bytes give f8"},
		{"28ff4a6b711630f8", "CRC byte is f8"},
	} {
		_, err := ParseROM(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseROM(%q) = %v, want an error containing %q", tc.in, err, tc.msg)
		}
	}
}

func TestCheckROM(t *testing.T) {
	for _, tc := range []struct {
		a    onewire.Address
		want string // "" for a DS18B20
	}{
		{romA, ""},
		{romB, ""},
		{romDS2401, "family code 01"},
		{romDS1820, "family code 10"},
		{romB ^ 1<<60, "ROM CRC"},
		{0, "family code 00"}, // all zero: a valid CRC, but no family
	} {
		err := checkROM(tc.a)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkROM(%s) = %v, want %q", ROM(tc.a), err, tc.want)
		}
	}
}

func TestConversionTime_Table2(t *testing.T) {
	for bits, want := range map[int]time.Duration{
		9:  93750 * time.Microsecond,
		10: 187500 * time.Microsecond,
		11: 375 * time.Millisecond,
		12: 750 * time.Millisecond,
	} {
		if got := ConversionTime(bits); got != want {
			t.Errorf("ConversionTime(%d) = %v, want %v", bits, got, want)
		}
		cfg := configFor(bits)
		if got := resolutionOf(cfg); got != bits {
			t.Errorf("resolutionOf(configFor(%d) = %02x) = %d", bits, cfg, got)
		}
	}
	// Table 2: R1 R0 = 00, 01, 10, 11; bit 7 reads 0 and bits 4–0 read 1.
	for bits, want := range map[int]byte{9: 0x1F, 10: 0x3F, 11: 0x5F, 12: 0x7F} {
		if got := configFor(bits); got != want {
			t.Errorf("configFor(%d) = %02x, want %02x", bits, got, want)
		}
	}
}

// table1 is the datasheet's Table 1, "Temperature/Data Relationship", with
// whole scratchpads around each register value (TH 4Bh, TL 46h, 12 bits;
// CRC by periph's onewire.CalcCRC).
var table1 = []struct {
	c   float64
	raw uint16
	sp  []byte
}{
	{+125, 0x07D0, []byte{0xD0, 0x07, 0x4B, 0x46, 0x7F, 0xFF, 0x10, 0x10, 0x55}},
	{+25.0625, 0x0191, []byte{0x91, 0x01, 0x4B, 0x46, 0x7F, 0xFF, 0x0F, 0x10, 0x25}},
	{+10.125, 0x00A2, []byte{0xA2, 0x00, 0x4B, 0x46, 0x7F, 0xFF, 0x0E, 0x10, 0xE5}},
	{+0.5, 0x0008, []byte{0x08, 0x00, 0x4B, 0x46, 0x7F, 0xFF, 0x08, 0x10, 0xD9}},
	{0, 0x0000, []byte{0x00, 0x00, 0x4B, 0x46, 0x7F, 0xFF, 0x10, 0x10, 0x69}},
	{-0.5, 0xFFF8, []byte{0xF8, 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x08, 0x10, 0xF8}},
	{-10.125, 0xFF5E, []byte{0x5E, 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x02, 0x10, 0xB6}},
	{-25.0625, 0xFE6F, []byte{0x6F, 0xFE, 0x4B, 0x46, 0x7F, 0xFF, 0x01, 0x10, 0x61}},
	{-55, 0xFC90, []byte{0x90, 0xFC, 0x4B, 0x46, 0x7F, 0xFF, 0x10, 0x10, 0xEE}},
	// Read from a probe by Linux's w1_therm ("f4 00 4b 46 7f ff 0c 10 fa :
	// crc=fa YES ... t=15250"): the CRC was computed by the kernel.
	{+15.25, 0x00F4, []byte{0xF4, 0x00, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0xFA}},
}

func TestParseScratchpad_Table1(t *testing.T) {
	for _, tc := range table1 {
		got, err := parseScratchpad(tc.sp)
		if err != nil {
			t.Fatalf("parseScratchpad(% x): %v", tc.sp, err)
		}
		want := scratchpad{raw: int16(tc.raw), th: 0x4B, tl: 0x46, config: 0x7F}
		if got != want {
			t.Errorf("parseScratchpad(% x) = %+v, want %+v", tc.sp, got, want)
		}
		temp, err := decodeTemperature(got.raw, 12)
		if err != nil || temp != c(tc.c) {
			t.Errorf("decodeTemperature(%04x, 12) = %v, %v; want %v", tc.raw, temp, err, c(tc.c))
		}
	}
}

func TestDecodeTemperature_Resolution(t *testing.T) {
	// Below 12 bits the low bits are undefined (temperature register
	// format): here they are all ones and must not count.
	for _, tc := range []struct {
		raw  uint16
		bits int
		want float64
	}{
		{0x0191, 12, 25.0625},
		{0x0191, 11, 25},
		{0x0193, 10, 25},
		{0x0197, 9, 25},
		{0x00A2, 11, 10.125},
		{0x00A3, 11, 10.125},
		{0x00A3, 10, 10},
		{0x00A7, 9, 10},
		{0xFF5E, 12, -10.125},
		{0xFF5F, 11, -10.125},
		{0xFF5F, 10, -10.25}, // FF5Ch: two's complement rounds down
		{0xFF5F, 9, -10.5},   // FF58h
		{0xFC97, 9, -55},
		{0x07D7, 9, 125},
	} {
		got, err := decodeTemperature(int16(tc.raw), tc.bits)
		if err != nil || got != c(tc.want) {
			t.Errorf("decodeTemperature(%04x, %d) = %v, %v; want %v", tc.raw, tc.bits, got, err, c(tc.want))
		}
	}
	if _, err := decodeTemperature(0, 8); !errors.Is(err, errNoBits) {
		t.Errorf("decodeTemperature(0, 8) = %v, want errNoBits", err)
	}
}

// badScratchpads are scratchpads that give no temperature, with the cause
// each must wrap and a word of its message.
var badScratchpads = []struct {
	name string
	sp   []byte
	bits int
	want error
	msg  string
}{
	{"power-on 85 °C", powerUp, 12, sensor.ErrNotReading, "power-on"},
	{"85 °C at 9 bits", sp(0x0557, 0x1F), 9, sensor.ErrNotReading, "power-on"},
	{"127.94 °C", sp(0x07FF, 0x7F), 12, sensor.ErrNotReading, "127.94"},
	{"127.94 °C at 9 bits", sp(0x07FF, 0x1F), 9, sensor.ErrNotReading, "127.94"},
	{"above +125 °C", sp(0x07D1, 0x7F), 12, sensor.ErrNotReading, "measuring range"},
	{"below −55 °C", sp(0xFC8F, 0x7F), 12, sensor.ErrNotReading, "measuring range"},
	{"all zero", repeat(0x00), 12, sensor.ErrNotReading, "all zero"},
	{"all FFh", repeat(0xFF), 12, sensor.ErrNoDevice, "0xFF"},
	{"CRC", append(append([]byte{}, table1[1].sp[:8]...), 0x26), 12, sensor.ErrCRC, "CRC byte is 26, want 25"},
	{"bit flip", []byte{0x91, 0x03, 0x4B, 0x46, 0x7F, 0xFF, 0x0F, 0x10, 0x25}, 12, sensor.ErrCRC, "CRC"},
	{"short", table1[1].sp[:8], 12, sensor.ErrBus, "8 bytes"},
	{"long", append(append([]byte{}, table1[1].sp...), 0xFF), 12, sensor.ErrBus, "10 bytes"},
}

func TestParseScratchpad_Bad(t *testing.T) {
	for _, tc := range badScratchpads {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseScratchpad(tc.sp)
			if err == nil {
				_, err = decodeTemperature(s.raw, tc.bits)
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("% x at %d bits: %v, want %v with %q", tc.sp, tc.bits, err, tc.want, tc.msg)
			}
		})
	}
}

func TestDecodeTemperature_Range(t *testing.T) {
	// Every register value either decodes within the measuring range to a
	// multiple of the resolution's step, or is refused.
	for bits := 9; bits <= 12; bits++ {
		step := physic.Temperature(1<<(12-bits)) * sixteenth
		for raw := -32768; raw <= 32767; raw++ {
			got, err := decodeTemperature(int16(raw), bits)
			if err != nil {
				if !errors.Is(err, sensor.ErrNotReading) {
					t.Fatalf("decodeTemperature(%04x, %d): %v", uint16(raw), bits, err)
				}
				continue
			}
			if got < c(-55) || got > c(125) || (got-physic.ZeroCelsius)%step != 0 || got == c(85) {
				t.Fatalf("decodeTemperature(%04x, %d) = %v", uint16(raw), bits, got)
			}
		}
	}
}
