package ds18b20

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Family is the DS18B20's 1-Wire family code, the low byte of its ROM code
// (datasheet, "64-Bit Lasered ROM Code").
const Family = 0x28

// FamilyName names the Maxim temperature sensor whose 1-Wire family code is
// code, or returns "": 28h is a DS18B20; 10h a DS18S20, 22h a DS1822, 3Bh a
// DS1825 and 42h a DS28EA00 (each datasheet's "64-Bit Lasered ROM Code")
// answer a search on the same bus but are not read by this driver.
func FamilyName(code byte) string {
	switch code {
	case Family:
		return "DS18B20"
	case 0x10:
		return "DS18S20"
	case 0x22:
		return "DS1822"
	case 0x3B:
		return "DS1825"
	case 0x42:
		return "DS28EA00"
	}
	return ""
}

// The conversion resolutions in bits (datasheet, "Configuration Register",
// Table 2).
const (
	MinResolution     = 9  // 0.5 °C steps in 93.75 ms
	MaxResolution     = 12 // 0.0625 °C steps in 750 ms
	DefaultResolution = 12 // this driver's default, and the chip's as delivered
)

// ROM commands (datasheet, "ROM Commands") and function commands (datasheet,
// "DS18B20 Function Commands", Table 3) this driver sends. Search ROM (F0h)
// is sent by the bus's own Search.
const (
	cmdMatchROM        = 0x55 // followed by the 8 ROM bytes, family code first
	cmdSkipROM         = 0xCC // addresses every device on the bus at once
	cmdConvertT        = 0x44 // start a conversion; needs the strong pull-up on parasite power
	cmdWriteScratchpad = 0x4E // followed by TH, TL and the configuration register
	cmdReadScratchpad  = 0xBE // the device sends scratchpad bytes 0 to 8
)

// scratchpadLen is the scratchpad's size: eight data bytes and their CRC-8
// (datasheet, "Memory", memory map figure).
const scratchpadLen = 9

// The measuring range in °C (datasheet, "Overview" and Table 1): a reading
// outside it is not a measurement.
const (
	MinCelsius = -55
	MaxCelsius = 125
)

// Temperature register values (datasheet, "Operation—Measuring Temperature",
// Table 1). The register holds a signed count of 1/16 °C.
const (
	rawPowerOn  = 0x0550          // +85 °C: the register's power-on reset value (Table 1)
	rawError127 = 0x07FF          // +127.9375 °C: never a conversion result; a wiring or supply fault
	rawMin      = MinCelsius * 16 // FC90h, −55 °C: the bottom of the measuring range (Table 1)
	rawMax      = MaxCelsius * 16 // 07D0h, +125 °C: the top of the measuring range (Table 1)

	// sixteenth is one count of the temperature register, 0.0625 °C.
	sixteenth = 62500 * physic.MicroKelvin
)

// CRC8 returns the Dallas/Maxim 1-Wire CRC-8 of b: polynomial
// X^8 + X^5 + X^4 + 1, register starting at 0, bits entering least
// significant first (Maxim Application Note 27, "Understanding and Using
// Cyclic Redundancy Checks with Maxim 1-Wire and iButton Products";
// datasheet, "CRC Generation"). Shifting right, the polynomial without its
// X^8 term reads 0x8C. The CRC of data followed by its own CRC byte is 0:
// over the first seven bytes of a ROM code it gives the eighth, over the
// first eight scratchpad bytes the ninth.
func CRC8(b []byte) byte {
	var crc byte
	for _, v := range b {
		for i := 0; i < 8; i++ {
			feedback := (crc ^ v) & 1
			crc >>= 1
			v >>= 1
			if feedback != 0 {
				crc ^= 0x8C
			}
		}
	}
	return crc
}

// romBytes returns a ROM code's eight bytes in the order they travel on the
// bus: family code, six serial number bytes (least significant first), CRC.
// onewire.Address holds them little-endian.
func romBytes(a onewire.Address) [8]byte {
	var b [8]byte
	for i := range b {
		b[i] = byte(a >> (8 * i))
	}
	return b
}

// ROM formats a ROM code as 16 lowercase hex digits, its bytes in bus
// order: family code first, CRC last, e.g. "28ff4a6b711603f8". This is how
// [sensor.Temperature.Probe] names a probe and how [Options.Probes] is
// written. (Linux prints the same probe as "28-0316716b4aff": family, then
// the serial number most significant byte first, without the CRC.)
func ROM(a onewire.Address) string {
	const hex = "0123456789abcdef"
	var s [16]byte
	for i, v := range romBytes(a) {
		s[2*i] = hex[v>>4]
		s[2*i+1] = hex[v&0xF]
	}
	return string(s[:])
}

// ParseROM parses a ROM code written as [ROM] writes it and checks its
// CRC-8 (datasheet, "64-Bit Lasered ROM Code": the last byte is the CRC of
// the first seven). It does not check the family code.
func ParseROM(s string) (onewire.Address, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("ROM code %q: want 16 lowercase hex digits, got %d characters", s, len(s))
	}
	var b [8]byte
	for i := 0; i < 16; i++ {
		var n byte
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			n = c - '0'
		case 'a' <= c && c <= 'f':
			n = c - 'a' + 10
		default:
			return 0, fmt.Errorf("ROM code %q: character %q is not a lowercase hex digit", s, c)
		}
		b[i/2] = b[i/2]<<4 | n
	}
	if want := CRC8(b[:7]); b[7] != want {
		return 0, fmt.Errorf("ROM code %q: CRC byte is %02x, the first seven bytes give %02x (a typing error?)", s, b[7], want)
	}
	var a onewire.Address
	for i := 7; i >= 0; i-- {
		a = a<<8 | onewire.Address(b[i])
	}
	return a, nil
}

// checkROM says why a found device is not a DS18B20 this driver reads: a
// ROM code that fails its CRC-8 or a family code other than 28h.
func checkROM(a onewire.Address) error {
	b := romBytes(a)
	if want := CRC8(b[:7]); b[7] != want {
		return fmt.Errorf("ROM CRC is %02x, want %02x", b[7], want)
	}
	if b[0] != Family {
		return fmt.Errorf("family code %02x is not a DS18B20 (%02x)", b[0], Family)
	}
	return nil
}

// configFor returns the configuration register for a resolution of bits
// (datasheet, "Configuration Register", Table 2): R1 R0 in bits 6 and 5
// (00 for 9 bits up to 11 for 12), bit 7 zero and bits 4 to 0 one, as the
// device reads them back.
func configFor(bits int) byte { return byte(bits-9)<<5 | 0x1F }

// resolutionOf returns the resolution, 9 to 12 bits, that a configuration
// register selects (Table 2).
func resolutionOf(config byte) int { return 9 + int(config>>5&3) }

// ConversionTime returns the maximum temperature conversion time tCONV at a
// resolution of bits, 9 to 12 (datasheet, Table 2): 93.75 ms, 187.5 ms,
// 375 ms and 750 ms.
func ConversionTime(bits int) time.Duration {
	return 750 * time.Millisecond >> (12 - bits)
}

// scratchpad is what a Read Scratchpad returned, after its checks.
type scratchpad struct {
	raw    int16 // temperature register, bytes 0 (LSB) and 1 (MSB), undefined bits included
	th, tl byte  // alarm registers or user bytes, bytes 2 and 3
	config byte  // configuration register, byte 4
}

// parseScratchpad checks the nine bytes of a Read Scratchpad (datasheet,
// "Memory": bytes 0–7 data, byte 8 their CRC-8) and returns its fields.
// Nine 0xFF bytes are what the pulled-up bus reads when nothing answers
// (ErrNoDevice); nine zero bytes have a valid CRC-8 but are not a
// scratchpad (ErrNotReading); any other CRC mismatch is ErrCRC.
func parseScratchpad(b []byte) (scratchpad, error) {
	if len(b) != scratchpadLen {
		return scratchpad{}, fmt.Errorf("%w: scratchpad is %d bytes, want %d", sensor.ErrBus, len(b), scratchpadLen)
	}
	ones, zeros := true, true
	for _, v := range b {
		ones = ones && v == 0xFF
		zeros = zeros && v == 0
	}
	switch {
	case ones:
		return scratchpad{}, fmt.Errorf("%w: no answer to Read Scratchpad (all bytes 0xFF)", sensor.ErrNoDevice)
	case zeros:
		return scratchpad{}, fmt.Errorf("%w: scratchpad is all zero bytes (whose CRC-8 is 0): data line held low?", sensor.ErrNotReading)
	}
	if want := CRC8(b[:8]); b[8] != want {
		return scratchpad{}, fmt.Errorf("%w: scratchpad % x: CRC byte is %02x, want %02x", sensor.ErrCRC, b, b[8], want)
	}
	return scratchpad{
		raw:    int16(uint16(b[1])<<8 | uint16(b[0])),
		th:     b[2],
		tl:     b[3],
		config: b[4],
	}, nil
}

// errNoBits is returned by decodeTemperature for a resolution outside 9..12;
// New never lets one through.
var errNoBits = errors.New("resolution is not 9 to 12 bits")

// decodeTemperature converts a temperature register read at a resolution of
// bits into a temperature. The register is a sign-extended two's complement
// count of 1/16 °C (datasheet, "Operation—Measuring Temperature", temperature
// register format figure); below 12 bits the lowest 12−bits bits are
// undefined and cleared here. The power-on value 85 °C, 0x07FF (127.94 °C)
// and anything outside −55..+125 °C are not measurements (ErrNotReading).
func decodeTemperature(raw int16, bits int) (physic.Temperature, error) {
	if bits < 9 || bits > 12 {
		return 0, errNoBits
	}
	if uint16(raw) == rawError127 {
		return 0, fmt.Errorf("%w: 127.94 °C (07FFh) is not a conversion result: check the wiring and the probe's supply", sensor.ErrNotReading)
	}
	v := raw &^ (1<<(12-bits) - 1)
	switch {
	case v == rawPowerOn:
		// A chilled load is never near 85 °C, so this is the value the
		// register holds after a power-on reset: the probe lost power (or
		// missed Convert T) since the last conversion (Table 1).
		return 0, fmt.Errorf("%w: 85 °C (0550h) is the power-on reset value: the probe reset or missed Convert T", sensor.ErrNotReading)
	case v < rawMin || v > rawMax:
		return 0, fmt.Errorf("%w: register %04Xh (%g °C) is outside the −55..+125 °C measuring range", sensor.ErrNotReading, uint16(raw), float64(v)/16)
	}
	return physic.ZeroCelsius + physic.Temperature(v)*sixteenth, nil
}
