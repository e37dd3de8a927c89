// Package ds18b20 reads Maxim DS18B20 temperature probes on a 1-Wire bus:
// the cold-chain probes of a refrigerated box, several on one bus.
//
// It is written from the Maxim DS18B20 datasheet ("Programmable Resolution
// 1-Wire Digital Thermometer", 19-7487), Maxim Application Note 27 for the
// CRC-8 and Application Note 187 for the ROM search, and talks to the bus
// through periph.io/x/conn/v3/onewire. Package ds18b20test simulates the
// probes for tests and replays.
//
// # Commands
//
// Every onewire.Bus.Tx is one 1-Wire transaction: a reset pulse, the bytes
// written, the bytes read, then the pull-up asked for (datasheet, "1-Wire
// Bus System", "Transaction Sequence"). The driver sends:
//
//	search      F0h through onewire.Bus.Search (AN187)   find the probes
//	convert     CCh 44h, strong pull-up                  Skip ROM, Convert T: every probe at once
//	read        55h <8 ROM bytes> BEh, read 9 bytes      Match ROM, Read Scratchpad
//	configure   55h <8 ROM bytes> 4Eh TH TL config       Match ROM, Write Scratchpad
//
// ROM bytes go family code (28h) first and CRC last; [ROM] prints them in
// that order as 16 lowercase hex digits, the form [Options.Probes] and
// sensor.Temperature.Probe use. Write Scratchpad keeps the TH and TL bytes
// the probe holds and changes only the resolution bits R1 R0 of the
// configuration register (datasheet, "Configuration Register", Table 2).
// Copy Scratchpad is never sent: the EEPROM keeps its settings, and a probe
// that resets comes back at its EEPROM resolution, which Sense notices in
// the configuration byte it reads and writes again.
//
// # Timing
//
// Convert T ends with the strong pull-up held until the next transaction,
// so that a parasite-powered probe can draw its conversion current from the
// data line (datasheet, "Powering the DS18B20"). Sense then waits the
// maximum conversion time tCONV of the resolution on its sensor.Clock
// (datasheet, Table 2; [ConversionTime]):
//
//	resolution   step        tCONV
//	 9 bits      0.5 °C      93.75 ms
//	10 bits      0.25 °C     187.5 ms
//	11 bits      0.125 °C    375 ms
//	12 bits      0.0625 °C   750 ms
//
// # Values that are not measurements
//
// The temperature register is a signed count of 1/16 °C (datasheet,
// "Operation—Measuring Temperature", Table 1: +25.0625 °C is 0191h,
// −10.125 °C is FF5Eh); below 12 bits its undefined low bits are cleared.
// The scratchpad's ninth byte is the CRC-8 of the first eight (polynomial
// X^8 + X^5 + X^4 + 1, AN27). These are never returned as values:
//
//	85 °C (0550h)          power-on reset value: the probe lost power or missed Convert T  ErrNotReading
//	127.94 °C (07FFh)      not a conversion result: a wiring or supply fault                ErrNotReading
//	outside −55..+125 °C   beyond the measuring range                                       ErrNotReading
//	all nine bytes 00h     CRC-8 of zeros is 0, so it passes the CRC: data line held low   ErrNotReading
//	other resolution       the probe reset; the conversion may be unfinished               ErrNotReading
//	all nine bytes FFh     nothing answered: the pulled-up line reads ones                  ErrNoDevice
//	CRC-8 mismatch         noise on the line                                                ErrCRC
//
// 85 °C can be a real reading only right after a reading near 85 °C, which
// a cold chain never has. Errors from the bus are sensor.ErrBus, except
// periph's onewire.NoDevicesError (no presence pulse), which is
// sensor.ErrNoDevice.
//
// # Several probes
//
// Sense returns a value for every probe that answered well and, when
// others failed, an error joining one *sensor.Error per failed probe
// (errors.Join); the Bus field of each names the bus, the ROM code and the
// configured name. The sampler keeps the values returned with an error.
// One failing probe never hides the others.
//
// # Probes that come and go
//
// New searches the bus once and never fails for missing hardware: a named
// probe that is not found is reported by every Sense as sensor.ErrNoDevice
// until it answers. Sense searches the bus again while a probe does not
// answer, while no probe is known, after a failed search, and otherwise
// every [Options.Rescan] calls ([DefaultRescan]), so that a box plugged in
// later is found; a probe found by a search is configured before its first
// conversion. A probe once found stays in the list ([Dev.Probes]) and is
// reported while it is gone. Devices of other families, or whose ROM code
// fails its CRC-8, are left alone and listed by [Dev.Ignored].
//
// Wiring and configuration: firmware-docs/wiring/ds18b20.md.
package ds18b20
