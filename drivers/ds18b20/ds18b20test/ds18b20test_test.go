package ds18b20test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

func c(deg float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(deg*1e9)
}

func romBytes(a onewire.Address) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(a >> (8 * i))
	}
	return b
}

func match(p *Probe, cmd ...byte) []byte {
	return append(append([]byte{cmdMatchROM}, romBytes(p.ROM())...), cmd...)
}

func readScratchpad(t *testing.T, b *Bus, p *Probe) []byte {
	t.Helper()
	r := make([]byte, 9)
	if err := b.Tx(match(p, cmdReadScratchpad), r, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	return r
}

func convert(t *testing.T, b *Bus) {
	t.Helper()
	if err := b.Tx([]byte{cmdSkipROM, cmdConvertT}, nil, onewire.StrongPullup); err != nil {
		t.Fatal(err)
	}
}

func TestBus_AddProbe(t *testing.T) {
	var b Bus
	p := b.AddProbe(0x0316716b4aff)
	if got, want := p.ROM(), onewire.Address(0xf80316716b4aff28); got != want {
		t.Errorf("ROM() = %#016x, want %#016x", uint64(got), uint64(want))
	}
	if got := p.Hex(); got != "28ff4a6b711603f8" {
		t.Errorf("Hex() = %q", got)
	}
	if !onewire.CheckCRC(romBytes(p.ROM())) {
		t.Errorf("ROM % x fails its CRC", romBytes(p.ROM()))
	}
	defer func() {
		if recover() == nil {
			t.Errorf("adding the same ROM code twice did not panic")
		}
	}()
	b.AddProbe(0x0316716b4aff)
}

func TestBus_Search(t *testing.T) {
	// AN187's search finds every device, whatever the bit patterns.
	b := &Bus{Name: "w1"}
	var want []onewire.Address
	for _, serial := range []uint64{1, 2, 3, 0x800000000000, 0xFFFFFFFFFFFF, 0x0316716b4aff, 0x0316716b4afe} {
		want = append(want, b.AddProbe(serial).ROM())
	}
	ds2401 := onewire.Address(0xf400000e123a6b01)
	b.AddDevice(ds2401)
	want = append(want, ds2401)
	got, err := b.Search(false)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Search = %x, want %x", got, want)
	}
	for _, a := range got {
		if !onewire.CheckCRC(romBytes(a)) {
			t.Errorf("ROM %x fails its CRC", a)
		}
	}
	if b.String() != "w1" || (&Bus{}).String() != "ds18b20test" {
		t.Errorf("String() = %q", b.String())
	}
}

func TestBus_SearchEmpty(t *testing.T) {
	var b Bus
	_, err := b.Search(false)
	var nd onewire.NoDevicesError
	if !errors.As(err, &nd) || !nd.NoDevices() {
		t.Fatalf("Search on an empty bus = %v, want a NoDevicesError", err)
	}
	p := b.AddProbe(7)
	p.SetFault(Vanished)
	if _, err := b.Search(false); !errors.As(err, &nd) {
		t.Fatalf("Search with the only probe unplugged = %v", err)
	}
	p.SetFault(None)
	if got, err := b.Search(false); err != nil || len(got) != 1 {
		t.Fatalf("Search = %v, %v", got, err)
	}
}

func TestBus_AlarmSearch(t *testing.T) {
	// Alarm when the integer part is ≥ TH or ≤ TL ("Alarm Signaling").
	var b Bus
	warm, cold, ok := b.AddProbe(1), b.AddProbe(2), b.AddProbe(3)
	warm.SetTemperature(c(8))
	cold.SetTemperature(c(1.9375)) // integer part 1
	ok.SetTemperature(c(5))
	if err := b.Tx([]byte{cmdSkipROM, cmdWriteScratchpad, 8, 2, 0x7F}, nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	convert(t, &b)
	got, err := b.Search(true)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []onewire.Address{warm.ROM(), cold.ROM()}
	slices.Sort(want)
	if !slices.Equal(got, want) || !warm.Alarm() || !cold.Alarm() || ok.Alarm() {
		t.Fatalf("alarm search = %x, want %x", got, want)
	}
}

func TestBus_ReadROM(t *testing.T) {
	var b Bus
	p := b.AddProbe(0x0316716b4aff)
	r := make([]byte, 8)
	if err := b.Tx([]byte{cmdReadROM}, r, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r, romBytes(p.ROM())) {
		t.Fatalf("Read ROM = % x", r)
	}
}

func TestBus_PowerUpScratchpad(t *testing.T) {
	// Datasheet memory map, power-up state; the CRC matches parts read in
	// the field.
	var b Bus
	p := b.AddProbe(1)
	want := []byte{0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C}
	if got := readScratchpad(t, &b, p); !slices.Equal(got, want) {
		t.Fatalf("power-up scratchpad % x, want % x", got, want)
	}
}

func TestBus_ConvertTable1(t *testing.T) {
	// Table 1 of the datasheet, at 12 bits.
	var b Bus
	p := b.AddProbe(1)
	for _, tc := range []struct {
		c   float64
		raw uint16
	}{
		{125, 0x07D0}, {25.0625, 0x0191}, {10.125, 0x00A2}, {0.5, 0x0008}, {0, 0},
		{-0.5, 0xFFF8}, {-10.125, 0xFF5E}, {-25.0625, 0xFE6F}, {-55, 0xFC90},
		{130, 0x07D0}, {-60, 0xFC90}, // clamped to the measuring range
	} {
		p.SetTemperature(c(tc.c))
		convert(t, &b)
		sp := readScratchpad(t, &b, p)
		if got := uint16(sp[1])<<8 | uint16(sp[0]); got != tc.raw {
			t.Errorf("%v °C: register %04x, want %04x", tc.c, got, tc.raw)
		}
		if !onewire.CheckCRC(sp) {
			t.Errorf("%v °C: scratchpad % x fails its CRC", tc.c, sp)
		}
	}
}

func TestRegister(t *testing.T) {
	// Nearest step of the resolution; undefined low bits read 1.
	for _, tc := range []struct {
		c    float64
		bits int
		want uint16
	}{
		{25.0625, 12, 0x0191},
		{25.03, 12, 0x0190},
		{25.04, 12, 0x0191},
		{25.0625, 11, 0x0193}, // a tie rounds up: 25.125 → 0192h, bit 0 undefined
		{25.1, 11, 0x0193},    // 25.125 → 0192h
		{25.0625, 9, 0x0197},  // 25.0 → 0190h, bits 2–0 undefined
		{25.3, 9, 0x019F},     // 25.5 → 0198h
		{25.3, 10, 0x0197},    // 25.25 → 0194h
		{-10.125, 9, 0xFF67},  // −10.0 → FF60h
		{-10.3, 9, 0xFF5F},    // −10.5 → FF58h
		{-10.2, 9, 0xFF67},
		{125, 9, 0x07D7},
		{-55, 9, 0xFC97},
	} {
		if got := uint16(register(c(tc.c), tc.bits)); got != tc.want {
			t.Errorf("register(%v °C, %d) = %04x, want %04x", tc.c, tc.bits, got, tc.want)
		}
	}
}

func TestBus_WriteScratchpad(t *testing.T) {
	var b Bus
	p, q := b.AddProbe(1), b.AddProbe(2)
	// Only R1 R0 are writable ("Configuration Register").
	if err := b.Tx(match(p, cmdWriteScratchpad, 0x19, 0x02, 0xFF&^0x40), nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	sp := readScratchpad(t, &b, p)
	if sp[2] != 0x19 || sp[3] != 0x02 || sp[4] != 0x3F || p.Resolution() != 10 {
		t.Fatalf("scratchpad % x, resolution %d", sp, p.Resolution())
	}
	if q.Resolution() != 12 {
		t.Errorf("Match ROM reached the other probe")
	}
	// A conversion at 10 bits.
	p.SetTemperature(c(4.3))
	convert(t, &b)
	sp = readScratchpad(t, &b, p)
	if got := uint16(sp[1])<<8 | uint16(sp[0]); got != 0x0047 { // 4.25 °C = 0044h, bits 1–0 undefined
		t.Errorf("register %04x", got)
	}
}

func TestBus_CopyRecallPower(t *testing.T) {
	var b Bus
	p := b.AddProbe(1)
	p.SetParasite(true)
	write := match(p, cmdWriteScratchpad, 0x20, 0x10, 0x1F)
	if err := b.Tx(write, nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	// Copy Scratchpad on parasite power needs the strong pull-up.
	if err := b.Tx(match(p, cmdCopyScratchpad), nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	p.SetFault(Vanished)
	p.SetFault(None) // power cycle
	if p.Resolution() != 12 {
		t.Fatalf("EEPROM written without the strong pull-up")
	}
	if err := b.Tx(write, nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	if err := b.Tx(match(p, cmdCopyScratchpad), nil, onewire.StrongPullup); err != nil {
		t.Fatal(err)
	}
	if err := b.Tx(match(p, cmdWriteScratchpad, 0, 0, 0x7F), nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	if err := b.Tx(match(p, cmdRecallE2), nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	if sp := readScratchpad(t, &b, p); sp[2] != 0x20 || sp[3] != 0x10 || sp[4] != 0x1F {
		t.Fatalf("after Recall E2: % x", sp)
	}
	r := []byte{0xFF}
	if err := b.Tx(match(p, cmdReadPowerSupply), r, onewire.WeakPullup); err != nil || r[0] != 0 {
		t.Fatalf("Read Power Supply = %02x, %v; want 00 (parasite)", r[0], err)
	}
	p.SetParasite(false)
	if err := b.Tx(match(p, cmdReadPowerSupply), r, onewire.WeakPullup); err != nil || r[0] != 0xFF {
		t.Fatalf("Read Power Supply = %02x, %v; want FF (external)", r[0], err)
	}
}

func TestBus_ParasiteNeedsStrongPullup(t *testing.T) {
	var b Bus
	p := b.AddProbe(1)
	p.SetParasite(true)
	p.SetTemperature(c(4))
	convert(t, &b)
	if sp := readScratchpad(t, &b, p); sp[0] != 0x40 || sp[1] != 0 {
		t.Fatalf("with the strong pull-up: % x", sp)
	}
	if err := b.Tx([]byte{cmdSkipROM, cmdConvertT}, nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	if sp := readScratchpad(t, &b, p); sp[0] != 0x50 || sp[1] != 0x05 {
		t.Fatalf("without the strong pull-up: % x, want 85 °C", sp)
	}
}

func TestBus_Faults(t *testing.T) {
	var b Bus
	p := b.AddProbe(1)
	p.SetTemperature(c(4))
	convert(t, &b)
	for _, tc := range []struct {
		f     Fault
		check func(sp []byte) bool
	}{
		{Zero, func(sp []byte) bool { return slices.Equal(sp, make([]byte, 9)) }},
		{CorruptCRC, func(sp []byte) bool { return sp[0] == 0x40 && !onewire.CheckCRC(sp) }},
		{Error127, func(sp []byte) bool { return sp[0] == 0xFF && sp[1] == 0x07 && onewire.CheckCRC(sp) }},
		{Vanished, func(sp []byte) bool { return false }},
	} {
		p.SetFault(tc.f)
		r := make([]byte, 9)
		err := b.Tx(match(p, cmdReadScratchpad), r, onewire.WeakPullup)
		if tc.f == Vanished {
			var nd onewire.NoDevicesError
			if !errors.As(err, &nd) {
				t.Errorf("%v: %v, want no presence pulse", tc.f, err)
			}
			continue
		}
		if err != nil || !tc.check(r) {
			t.Errorf("%v: % x, %v", tc.f, r, err)
		}
		if p.Fault() != tc.f || tc.f.String() == "" {
			t.Errorf("Fault() = %v", p.Fault())
		}
	}
	p.SetFault(None) // plugged in again: power-up state
	if sp := readScratchpad(t, &b, p); sp[0] != 0x50 || sp[1] != 0x05 {
		t.Fatalf("after Vanished: % x, want the power-up scratchpad", sp)
	}
	// PowerOn85 happens at the next conversion, once.
	p.SetFault(PowerOn85)
	convert(t, &b)
	if sp := readScratchpad(t, &b, p); sp[0] != 0x50 || sp[1] != 0x05 || p.Fault() != None {
		t.Fatalf("PowerOn85: % x, fault %v", sp, p.Fault())
	}
	convert(t, &b)
	if sp := readScratchpad(t, &b, p); sp[0] != 0x40 || sp[1] != 0 {
		t.Fatalf("after PowerOn85: % x", sp)
	}
}

func TestBus_SelectedNone(t *testing.T) {
	// Match ROM with a code nobody has: reads are ones. A foreign device
	// ignores DS18B20 function commands.
	var b Bus
	b.AddProbe(1)
	foreign := b.AddDevice(0xf400000e123a6b01)
	r := make([]byte, 9)
	if err := b.Tx(append(append([]byte{cmdMatchROM}, 1, 2, 3, 4, 5, 6, 7, 8), cmdReadScratchpad), r, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}) {
		t.Fatalf("unmatched read % x", r)
	}
	if err := b.Tx(match(foreign, cmdReadScratchpad), r, onewire.WeakPullup); err != nil || r[0] != 0xFF {
		t.Fatalf("foreign device read % x, %v", r, err)
	}
}

func TestBus_WiredAND(t *testing.T) {
	// Skip ROM + Read Scratchpad with two probes: the line reads the AND of
	// both (why the datasheet allows it with one device only).
	var b Bus
	p, q := b.AddProbe(1), b.AddProbe(2)
	p.SetTemperature(c(25.0625)) // 0191h
	q.SetTemperature(c(10.125))  // 00A2h
	convert(t, &b)
	r := make([]byte, 9)
	if err := b.Tx([]byte{cmdSkipROM, cmdReadScratchpad}, r, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	lsb := [2]byte{0x91, 0xA2} // the two probes' temperature LSBs
	msb := [2]byte{0x01, 0x00} // and MSBs
	if r[0] != lsb[0]&lsb[1] || r[1] != msb[0]&msb[1] {
		t.Fatalf("wired AND % x", r)
	}
}

func TestBus_ProtocolErrors(t *testing.T) {
	var b Bus
	p := b.AddProbe(1)
	for _, tc := range []struct {
		name string
		w    []byte
		r    int
	}{
		{"write scratchpad short", match(p, cmdWriteScratchpad, 1, 2), 0},
		{"write scratchpad long", match(p, cmdWriteScratchpad, 1, 2, 3, 4), 0},
		{"match ROM short", []byte{cmdMatchROM, 1, 2, 3}, 0},
		{"search with bytes", []byte{cmdSearchROM, 0}, 0},
		{"search with reads", []byte{cmdSearchROM}, 1},
		{"read ROM then write", []byte{cmdReadROM, cmdReadScratchpad}, 9},
		{"convert with bytes", []byte{cmdSkipROM, cmdConvertT, 0}, 0},
		{"read with bytes", match(p, cmdReadScratchpad, 0), 9},
	} {
		if err := b.Tx(tc.w, make([]byte, tc.r), onewire.WeakPullup); !conntest.IsErr(err) {
			t.Errorf("%s: %v, want a simulator complaint", tc.name, err)
		}
	}
	if _, err := b.SearchTriplet(0); !conntest.IsErr(err) {
		t.Errorf("triplet without Search ROM: %v", err)
	}
}

func TestBus_ShortedAndFailNext(t *testing.T) {
	var b Bus
	b.AddProbe(1)
	b.SetShorted(true)
	if err := b.Tx([]byte{cmdSkipROM, cmdConvertT}, nil, onewire.StrongPullup); !IsShorted(err) {
		t.Errorf("Tx on a shorted bus: %v", err)
	}
	if _, err := b.Search(false); !IsShorted(err) {
		t.Errorf("Search on a shorted bus: %v", err)
	}
	var be onewire.BusError
	if err := b.Tx(nil, nil, false); !errors.As(err, &be) || !be.BusError() {
		t.Errorf("shorted error %v is not a BusError", err)
	}
	b.SetShorted(false)
	lost := errors.New("adapter lost the transfer")
	b.FailNext(lost)
	if err := b.Tx([]byte{cmdSkipROM, cmdConvertT}, nil, onewire.StrongPullup); err != lost {
		t.Errorf("FailNext: %v", err)
	}
	if err := b.Tx([]byte{cmdSkipROM, cmdConvertT}, nil, onewire.StrongPullup); err != nil {
		t.Errorf("after FailNext: %v", err)
	}
	if n := b.Transactions(); n != 5 {
		t.Errorf("Transactions() = %d, want 5", n)
	}
}

func TestBus_ConversionTime(t *testing.T) {
	// With a Clock, the register changes only when tCONV has passed
	// (Table 2), and an externally powered probe reads 0 until then.
	clk := sensortest.NewClock(time.Unix(1e9, 0))
	b := &Bus{Clock: clk}
	p := b.AddProbe(1)
	if err := b.Tx(match(p, cmdWriteScratchpad, 0x4B, 0x46, 0x1F), nil, onewire.WeakPullup); err != nil {
		t.Fatal(err)
	}
	p.SetTemperature(c(4))
	r := []byte{0xFF}
	if err := b.Tx([]byte{cmdSkipROM, cmdConvertT}, r, onewire.WeakPullup); err != nil || r[0] != 0 {
		t.Fatalf("read slot during the conversion: %02x, %v", r[0], err)
	}
	clk.Advance(93 * time.Millisecond)
	if sp := readScratchpad(t, b, p); sp[0] != 0x50 || sp[1] != 0x05 {
		t.Fatalf("before tCONV: % x, want the old 85 °C", sp)
	}
	clk.Advance(750 * time.Microsecond)
	if sp := readScratchpad(t, b, p); sp[0] != 0x47 || sp[1] != 0 {
		t.Fatalf("after tCONV (93.75 ms at 9 bits): % x, want 4 °C", sp)
	}
}
