// Package ds18b20test simulates DS18B20 temperature probes on a 1-Wire bus.
//
// [Bus] is a complete onewire.Bus: each Tx is a reset pulse, the bytes
// written and the bytes read, decoded as the probes' command flow in the
// Maxim DS18B20 datasheet ("1-Wire Bus System", "ROM Commands", "DS18B20
// Function Commands"), and Search runs the bit-by-bit Search ROM of Maxim
// Application Note 187 against every probe's ROM code. Tests set each
// probe's temperature and faults, and read back what a driver reports.
//
// The simulation follows the datasheet, not a driver: several selected
// probes answer a read as a wired AND, a parasite-powered probe resets
// (85 °C) when Convert T is not followed by the strong pull-up, a probe
// plugged in again powers up with its EEPROM settings, and with a Clock a
// read before tCONV has passed returns the previous temperature. Sequences
// the datasheet forbids (Write Scratchpad with fewer than three bytes,
// bytes after Search ROM) fail with an error that conntest.IsErr
// recognizes.
package ds18b20test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Commands (datasheet, "ROM Commands" and "DS18B20 Function Commands").
const (
	cmdSearchROM       = 0xF0
	cmdReadROM         = 0x33
	cmdMatchROM        = 0x55
	cmdSkipROM         = 0xCC
	cmdAlarmSearch     = 0xEC
	cmdConvertT        = 0x44
	cmdWriteScratchpad = 0x4E
	cmdReadScratchpad  = 0xBE
	cmdCopyScratchpad  = 0x48
	cmdRecallE2        = 0xB8
	cmdReadPowerSupply = 0xB4
)

// Power-up state (datasheet, "Memory", memory map: "Scratchpad (Power-up
// State)"). The TH and TL values are those shipped parts hold; the datasheet
// leaves them to the user.
const (
	powerOnRaw    = 0x0550 // +85 °C
	factoryTH     = 0x4B   // +75 °C
	factoryTL     = 0x46   // +70 °C
	factoryConfig = 0x7F   // 12 bits (R1 = R0 = 1)
)

// Fault is a failure a probe can be given with [Probe.SetFault].
type Fault int

// Faults. Each lasts until SetFault(None), except PowerOn85, which happens
// once.
const (
	None Fault = iota
	// PowerOn85: the probe browns out at the next Convert T and powers up
	// again instead of converting, so the next read returns the power-up
	// scratchpad: 85 °C and the EEPROM configuration.
	PowerOn85
	// Zero: the scratchpad reads as nine zero bytes (DQ held low), whose
	// CRC-8 is valid.
	Zero
	// CorruptCRC: the scratchpad's CRC byte is wrong.
	CorruptCRC
	// Vanished: the probe is unplugged. It gives no presence pulse, takes
	// no part in a search and answers nothing. Clearing the fault plugs it
	// in again, in its power-up state.
	Vanished
	// Error127: the temperature register reads 07FFh (127.94 °C) under a
	// valid CRC.
	Error127
)

// String returns the fault's name, e.g. "PowerOn85".
func (f Fault) String() string {
	switch f {
	case None:
		return "None"
	case PowerOn85:
		return "PowerOn85"
	case Zero:
		return "Zero"
	case CorruptCRC:
		return "CorruptCRC"
	case Vanished:
		return "Vanished"
	case Error127:
		return "Error127"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Bus is a simulated 1-Wire bus with DS18B20 probes and, optionally, other
// devices. It is safe for concurrent use. The zero value is an empty bus
// named "ds18b20test".
type Bus struct {
	// Name is what String returns; "" means "ds18b20test".
	Name string
	// Clock, when set before the first transaction, makes a conversion
	// take tCONV at the probe's resolution (datasheet, Table 2): a read
	// before then returns the previous temperature. Nil means conversions
	// are done at once.
	Clock sensor.Clock

	mu       sync.Mutex
	devs     []*Probe
	shorted  bool
	failNext error
	search   []*Probe // devices still taking part in the current search, or nil
	bit      int      // next ROM bit of the current search
	txs      int
}

// Probe is one simulated device on a [Bus]: a DS18B20, or (added with
// [Bus.AddDevice]) a device of another family that only answers the ROM
// commands. Its methods are safe for concurrent use.
type Probe struct {
	bus      *Bus
	rom      onewire.Address
	ds18b20  bool
	parasite bool

	// Guarded by bus.mu.
	temp      physic.Temperature
	fault     Fault
	raw       int16 // temperature register
	th, tl    byte  // scratchpad bytes 2, 3
	config    byte  // scratchpad byte 4
	eeprom    [3]byte
	alarm     bool
	pending   bool // a conversion is running
	pendRaw   int16
	pendAlarm bool
	doneAt    time.Time
}

// String implements onewire.Bus.
func (b *Bus) String() string {
	if b.Name == "" {
		return "ds18b20test"
	}
	return b.Name
}

// AddProbe plugs in a DS18B20 whose ROM code is family code 28h, the low 48
// bits of serial and their CRC-8 (datasheet, "64-Bit Lasered ROM Code"). It
// starts in its power-up state at 20 °C, externally powered. AddProbe panics
// if the bus already has that ROM code.
func (b *Bus) AddProbe(serial uint64) *Probe {
	rom := onewire.Address(0x28 | serial<<8&0x00FFFFFFFFFFFF00)
	p := &Probe{bus: b, ds18b20: true, temp: physic.ZeroCelsius + 20*physic.Celsius,
		eeprom: [3]byte{factoryTH, factoryTL, factoryConfig}}
	b.add(p, withCRC(rom))
	return p
}

// AddDevice plugs in a device of another family (a DS2401 serial number,
// family 01h, say) that takes part in searches and ignores DS18B20
// function commands. rom is used as given: a code with a wrong CRC-8 is how
// a search that fails on the bus is simulated.
func (b *Bus) AddDevice(rom onewire.Address) *Probe {
	p := &Probe{bus: b}
	b.add(p, rom)
	return p
}

func (b *Bus) add(p *Probe, rom onewire.Address) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.devs {
		if q.rom == rom {
			panic(fmt.Sprintf("ds18b20test: ROM code %016x is already on the bus", uint64(rom)))
		}
	}
	p.rom = rom
	p.powerUpLocked()
	b.devs = append(b.devs, p)
}

// withCRC returns rom with its top byte set to the CRC-8 of the other seven
// (periph's onewire.CalcCRC, Application Note 27).
func withCRC(rom onewire.Address) onewire.Address {
	var b [7]byte
	for i := range b {
		b[i] = byte(rom >> (8 * i))
	}
	return rom&0x00FFFFFFFFFFFFFF | onewire.Address(onewire.CalcCRC(b[:]))<<56
}

// Probes returns the devices on the bus, in the order they were added.
func (b *Bus) Probes() []*Probe {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.devs)
}

// SetShorted shorts the data line to ground, or removes the short: while
// shorted, every transaction and search fails with an error that
// implements onewire.ShortedBusError and onewire.BusError.
func (b *Bus) SetShorted(shorted bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shorted = shorted
}

// FailNext makes the next transaction fail with err without reaching the
// probes, as a bus adapter that loses a transfer.
func (b *Bus) FailNext(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext = err
}

// Transactions returns how many Tx calls the bus has served, searches
// included.
func (b *Bus) Transactions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs
}

// Tx implements onewire.Bus: a reset pulse, then w, then len(r) bytes read,
// then the pull-up (datasheet, "Transaction Sequence"). A read slot that no
// device pulls low reads 1, so unanswered bytes read 0xFF.
func (b *Bus) Tx(w, r []byte, pull onewire.Pullup) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.txs++
	b.search = nil
	for i := range r {
		r[i] = 0xFF
	}
	if err := b.failNext; err != nil {
		b.failNext = nil
		return err
	}
	if b.shorted {
		return shortedError{}
	}
	// Reset and presence pulse ("1-Wire Signaling", "Initialization
	// Procedure"): with no device, nothing pulls the line low.
	present := b.presentLocked()
	if len(present) == 0 {
		return noDevicesError{}
	}
	if len(w) == 0 {
		return nil
	}
	now := b.nowLocked()
	for _, p := range present {
		p.settleLocked(now)
	}
	cmd, rest := w[0], w[1:]
	var selected []*Probe
	switch cmd {
	case cmdSearchROM, cmdAlarmSearch:
		if len(rest) > 0 || len(r) > 0 {
			return conntest.Errorf("ds18b20test: Search ROM takes triplets, not %d bytes written and %d read", len(rest), len(r))
		}
		b.search = nil
		for _, p := range present {
			if cmd == cmdSearchROM || p.alarm {
				b.search = append(b.search, p)
			}
		}
		if b.search == nil {
			b.search = []*Probe{} // a search with no participant: triplets read 1, 1
		}
		b.bit = 0
		return nil
	case cmdReadROM:
		// Every device sends its code at once; the open-drain line reads
		// their AND. The datasheet allows Read ROM with one device only.
		if len(rest) > 0 {
			return conntest.Errorf("ds18b20test: Read ROM is followed by reads, not by %d bytes written", len(rest))
		}
		for i := range r {
			if i < 8 {
				for _, p := range present {
					r[i] &= byte(p.rom >> (8 * i))
				}
			}
		}
		return nil
	case cmdSkipROM:
		selected = present
	case cmdMatchROM:
		if len(rest) < 8 {
			return conntest.Errorf("ds18b20test: Match ROM with %d ROM bytes, want 8", len(rest))
		}
		var rom onewire.Address
		for i := 7; i >= 0; i-- {
			rom = rom<<8 | onewire.Address(rest[i])
		}
		rest = rest[8:]
		for _, p := range present {
			if p.rom == rom {
				selected = append(selected, p)
			}
		}
	default:
		// Not a ROM command: every device waits for the next reset.
		return nil
	}
	var probes []*Probe
	for _, p := range selected {
		if p.ds18b20 {
			probes = append(probes, p)
		}
	}
	return b.functionLocked(probes, rest, r, pull, now)
}

// functionLocked runs a function command (datasheet, "DS18B20 Function
// Commands") on the selected probes.
func (b *Bus) functionLocked(probes []*Probe, w, r []byte, pull onewire.Pullup, now time.Time) error {
	if len(w) == 0 {
		return nil
	}
	cmd, args := w[0], w[1:]
	switch cmd {
	case cmdConvertT:
		if len(args) > 0 {
			return conntest.Errorf("ds18b20test: %d bytes written after Convert T", len(args))
		}
		busy := false
		for _, p := range probes {
			p.convertLocked(pull, now, b.Clock != nil)
			busy = busy || (p.pending && !p.parasite)
		}
		// An externally powered probe answers read slots with 0 while it
		// converts and 1 when done.
		if busy {
			clear(r)
		}
	case cmdWriteScratchpad:
		// "All three bytes MUST be written before the master issues a
		// reset, or the data may be corrupted."
		if len(args) != 3 {
			return conntest.Errorf("ds18b20test: Write Scratchpad with %d bytes, want TH, TL and config", len(args))
		}
		for _, p := range probes {
			// Only R1 and R0 are writable; bit 7 reads 0 and bits 4–0 read
			// 1 ("Configuration Register").
			p.th, p.tl, p.config = args[0], args[1], args[2]&0x60|0x1F
		}
	case cmdReadScratchpad:
		if len(args) > 0 {
			return conntest.Errorf("ds18b20test: %d bytes written after Read Scratchpad", len(args))
		}
		for _, p := range probes {
			sp := p.scratchpadLocked()
			for i := range r {
				if i < len(sp) {
					r[i] &= sp[i]
				}
			}
		}
	case cmdCopyScratchpad:
		for _, p := range probes {
			// A parasite-powered probe needs the strong pull-up for the
			// EEPROM write ("Copy Scratchpad [48h]").
			if !p.parasite || pull == onewire.StrongPullup {
				p.eeprom = [3]byte{p.th, p.tl, p.config}
			}
		}
	case cmdRecallE2:
		for _, p := range probes {
			p.th, p.tl, p.config = p.eeprom[0], p.eeprom[1], p.eeprom[2]
		}
	case cmdReadPowerSupply:
		// A parasite-powered probe pulls the read slot low.
		for _, p := range probes {
			if p.parasite && len(r) > 0 {
				r[0] = 0
			}
		}
	}
	return nil
}

// Search implements onewire.Bus with periph's onewire.Search over
// SearchTriplet (Application Note 187).
func (b *Bus) Search(alarmOnly bool) ([]onewire.Address, error) {
	return onewire.Search(b, alarmOnly)
}

// SearchTriplet implements onewire.BusSearcher: each device still in the
// search sends its ROM bit and then its complement, the line reads their
// AND, and the devices whose bit differs from the direction taken leave the
// search (Application Note 187, "Search Algorithm").
func (b *Bus) SearchTriplet(direction byte) (onewire.TripletResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var tr onewire.TripletResult
	if b.search == nil {
		return tr, conntest.Errorf("ds18b20test: search triplet without Search ROM")
	}
	if b.bit > 63 {
		return tr, conntest.Errorf("ds18b20test: search triplet after the 64th ROM bit")
	}
	for _, p := range b.search {
		if p.rom>>b.bit&1 == 0 {
			tr.GotZero = true
		} else {
			tr.GotOne = true
		}
	}
	switch {
	case tr.GotZero && tr.GotOne:
		tr.Taken = direction & 1
	case tr.GotOne:
		tr.Taken = 1
	case tr.GotZero:
		tr.Taken = 0
	default:
		tr.Taken = 1 // both reads were 1: no device left; the master writes 1
	}
	kept := b.search[:0]
	for _, p := range b.search {
		if byte(p.rom>>b.bit&1) == tr.Taken {
			kept = append(kept, p)
		}
	}
	b.search = kept
	b.bit++
	return tr, nil
}

func (b *Bus) presentLocked() []*Probe {
	var s []*Probe
	for _, p := range b.devs {
		if p.fault != Vanished {
			s = append(s, p)
		}
	}
	return s
}

func (b *Bus) nowLocked() time.Time {
	if b.Clock == nil {
		return time.Time{}
	}
	return b.Clock.Now()
}

// ROM returns the probe's ROM code.
func (p *Probe) ROM() onewire.Address { return p.rom }

// Hex returns the ROM code as 16 lowercase hex digits, family code first
// and CRC last, the bytes in the order they travel on the bus.
func (p *Probe) Hex() string {
	var s []byte
	for i := 0; i < 8; i++ {
		s = fmt.Appendf(s, "%02x", byte(p.rom>>(8*i)))
	}
	return string(s)
}

// SetTemperature sets the temperature the probe measures at its next
// conversion. The probe reports it clamped to −55..+125 °C and rounded to
// the nearest step of its resolution.
func (p *Probe) SetTemperature(t physic.Temperature) {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	p.temp = t
}

// Temperature returns the temperature set with SetTemperature.
func (p *Probe) Temperature() physic.Temperature {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	return p.temp
}

// SetFault gives the probe a fault, or clears it with None.
func (p *Probe) SetFault(f Fault) {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	if p.fault == Vanished && f != Vanished {
		p.powerUpLocked() // plugged in again
	}
	p.fault = f
}

// Fault returns the probe's fault; PowerOn85 reads None once it happened.
func (p *Probe) Fault() Fault {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	return p.fault
}

// SetParasite powers the probe from the data line (VDD grounded) instead of
// its VDD pin. A parasite-powered probe needs the strong pull-up after
// Convert T: without it the conversion resets the probe (datasheet,
// "Powering the DS18B20").
func (p *Probe) SetParasite(parasite bool) {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	p.parasite = parasite
}

// SetEEPROM sets the probe's EEPROM TH, TL and configuration register, as a
// Copy Scratchpad would; they are loaded at the next power-up.
func (p *Probe) SetEEPROM(th, tl, config byte) {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	p.eeprom = [3]byte{th, tl, config&0x60 | 0x1F}
}

// Resolution returns the resolution, 9 to 12 bits, of the probe's
// configuration register.
func (p *Probe) Resolution() int {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	return resolution(p.config)
}

// Alarm reports whether the last conversion set the alarm flag: the
// temperature's integer part at or below TL or at or above TH (datasheet,
// "Operation—Alarm Signaling"; only bits 11–4 of the register are compared).
func (p *Probe) Alarm() bool {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	return p.alarm
}

// powerUpLocked puts the scratchpad in its power-up state: 85 °C, and TH,
// TL and configuration loaded from EEPROM.
func (p *Probe) powerUpLocked() {
	p.raw = powerOnRaw
	p.th, p.tl, p.config = p.eeprom[0], p.eeprom[1], p.eeprom[2]
	p.alarm, p.pending = false, false
}

// convertLocked starts a conversion ("Convert T [44h]").
func (p *Probe) convertLocked(pull onewire.Pullup, now time.Time, timed bool) {
	if p.fault == PowerOn85 || (p.parasite && pull != onewire.StrongPullup) {
		p.fault = None // a PowerOn85 happens once
		p.powerUpLocked()
		return
	}
	bits := resolution(p.config)
	p.pendRaw = register(p.temp, bits)
	ti := int8(p.pendRaw >> 4)
	p.pendAlarm = ti <= int8(p.tl) || ti >= int8(p.th)
	p.pending = true
	p.doneAt = now.Add(750 * time.Millisecond >> (12 - bits))
	if !timed {
		p.doneAt = now // no clock: done at once
	}
	p.settleLocked(now)
}

// settleLocked ends a conversion whose tCONV has passed at now.
func (p *Probe) settleLocked(now time.Time) {
	if p.pending && !now.Before(p.doneAt) {
		p.raw, p.alarm, p.pending = p.pendRaw, p.pendAlarm, false
	}
}

// scratchpadLocked returns the nine bytes Read Scratchpad sends ("Memory").
func (p *Probe) scratchpadLocked() [9]byte {
	if p.fault == Zero {
		return [9]byte{}
	}
	raw := p.raw
	if p.fault == Error127 {
		raw = 0x07FF
	}
	// Byte 5 reads FFh and byte 7 10h. Byte 6 is reserved; it reads 0Ch
	// at power-up, and parts in the field read 10h minus the register's
	// low nibble after a conversion.
	b6 := byte(0x0C)
	if raw != powerOnRaw {
		b6 = 0x10 - byte(raw)&0x0F
	}
	sp := [9]byte{byte(raw), byte(uint16(raw) >> 8), p.th, p.tl, p.config, 0xFF, b6, 0x10}
	sp[8] = onewire.CalcCRC(sp[:8])
	if p.fault == CorruptCRC {
		sp[8] ^= 0xA5
	}
	return sp
}

// resolution returns the resolution selected by R1 R0 in bits 6 and 5 of a
// configuration register (datasheet, Table 2).
func resolution(config byte) int { return 9 + int(config>>5&3) }

// register returns the temperature register a conversion of t at a
// resolution of bits produces: a signed count of 1/16 °C (datasheet,
// "Operation—Measuring Temperature", Table 1), clamped to −55..+125 °C and
// rounded to the nearest step of the resolution, with the undefined low
// bits set to 1 so that a reader that forgets to clear them is caught.
func register(t physic.Temperature, bits int) int16 {
	const (
		sixteenth = int64(62500 * physic.MicroKelvin)
		lo, hi    = -880, 2000 // −55 °C and +125 °C
	)
	step := int64(1) << (12 - bits) // in 1/16 °C
	unit := sixteenth * step
	c := int64(t - physic.ZeroCelsius)
	q := c / unit
	if rem := c % unit; 2*rem >= unit {
		q++
	} else if 2*rem < -unit {
		q--
	}
	v := min(max(q*step, lo), hi)
	return int16(v | (step - 1))
}

// noDevicesError is what a real bus master returns when no device answers
// the reset with a presence pulse.
type noDevicesError struct{}

func (noDevicesError) Error() string   { return "ds18b20test: no presence pulse after reset" }
func (noDevicesError) NoDevices() bool { return true }
func (noDevicesError) BusError() bool  { return true }

// shortedError is what a real bus master returns when the data line is held
// at ground.
type shortedError struct{}

func (shortedError) Error() string   { return "ds18b20test: bus shorted to ground" }
func (shortedError) IsShorted() bool { return true }
func (shortedError) BusError() bool  { return true }

// IsShorted reports whether err says the bus is shorted.
func IsShorted(err error) bool {
	var s onewire.ShortedBusError
	return errors.As(err, &s) && s.IsShorted()
}

var (
	_ onewire.Bus             = (*Bus)(nil)
	_ onewire.BusSearcher     = (*Bus)(nil)
	_ onewire.NoDevicesError  = noDevicesError{}
	_ onewire.ShortedBusError = shortedError{}
	_ onewire.BusError        = shortedError{}
)
