package ds18b20

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewiretest"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

func TestNew_Options(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		msg  string
	}{
		{"resolution 8", Options{Resolution: 8}, "resolution 8"},
		{"resolution 13", Options{Resolution: 13}, "resolution 13"},
		{"resolution -1", Options{Resolution: -1}, "resolution -1"},
		{"rescan", Options{Rescan: -1}, "rescan"},
		{"empty name", Options{Probes: map[string]string{"": hexA}}, "empty name"},
		{"uppercase", Options{Probes: map[string]string{"box": "28FF4A6B711603F8"}}, "lowercase hex"},
		{"Linux form", Options{Probes: map[string]string{"box": "28-0316716b4aff"}}, "16 lowercase hex digits"},
		{"typo", Options{Probes: map[string]string{"box": "28ff4a6b711603c2"}}, "CRC byte is c2"},
		{"family", Options{Probes: map[string]string{"box": hexDS1820}}, "family code 10"},
		{"duplicate", Options{Probes: map[string]string{"front": hexA, "rear": hexA}}, `"front" and "rear"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &onewiretest.Playback{} // no transaction may happen
			tc.opts.BusName = "w1"
			d, err := New(context.Background(), p, &tc.opts)
			var se *sensor.Error
			if d != nil || !errors.Is(err, sensor.ErrConfig) || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("New = %v, %v; want a *sensor.Error wrapping ErrConfig with %q", d, err, tc.msg)
			}
			if se.Device != "ds18b20" || se.Bus != "w1" || se.Step != "check options" {
				t.Errorf("error %+v", se)
			}
			if sensor.Retryable(err) {
				t.Errorf("a configuration error is retryable")
			}
			closePlayback(t, p)
		})
	}
	if _, err := New(context.Background(), nil, nil); !errors.Is(err, sensor.ErrConfig) {
		t.Errorf("New(nil bus) = %v, want ErrConfig", err)
	}
}

func TestNew_Search(t *testing.T) {
	// The search finds four devices; two are DS18B20s, configured in ROM
	// order. Their power-up resolution is already 12 bits: nothing written.
	p := &onewiretest.Playback{
		Devices: []onewire.Address{romB, romDS2401, romA, romDS1820},
		Ops:     ops(searchOps(4), readOp(romA, powerUp), readOp(romB, powerUp)),
	}
	d, err := New(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	closePlayback(t, p)
	if got, want := d.Probes(), []string{hexA, hexB}; !slices.Equal(got, want) {
		t.Errorf("Probes() = %q, want %q", got, want)
	}
	if got, want := d.Ignored(), []string{hexDS2401, hexDS1820}; !slices.Equal(got, want) {
		t.Errorf("Ignored() = %q, want %q", got, want)
	}
	if got := d.String(); got != "ds18b20 on playback" {
		t.Errorf("String() = %q", got)
	}
	if err := d.Halt(); err != nil {
		t.Errorf("Halt() = %v", err)
	}
}

func TestNew_WritesResolution(t *testing.T) {
	// Write Scratchpad keeps TH and TL (4Bh, 46h) as read and sets R1 R0
	// (Table 2). A probe already at the resolution is left alone.
	for bits, config := range map[int]byte{9: 0x1F, 10: 0x3F, 11: 0x5F} {
		p := &onewiretest.Playback{
			Devices: []onewire.Address{romA, romB},
			Ops: ops(searchOps(2),
				readOp(romA, powerUp), writeOp(romA, 0x4B, 0x46, config),
				readOp(romB, sp(0x0191, config))),
		}
		if _, err := New(context.Background(), p, &Options{Resolution: bits}); err != nil {
			t.Fatal(err)
		}
		closePlayback(t, p)
	}
}

// newA returns a Dev on a playback with probe A found and configured at
// the given resolution, then the transactions in then; the clock records
// the waits.
func newA(t *testing.T, bits int, then ...any) (*Dev, *onewiretest.Playback, *sensortest.Clock) {
	t.Helper()
	config := configFor(bits)
	first := ops(searchOps(1), readOp(romA, powerUp))
	if bits != 12 {
		first = append(first, writeOp(romA, 0x4B, 0x46, config))
	}
	p := &onewiretest.Playback{Devices: []onewire.Address{romA}, Ops: ops(append([]any{first}, then...)...)}
	clk := newClock()
	d, err := New(context.Background(), p, &Options{Clock: clk, Resolution: bits, BusName: "w1",
		Probes: map[string]string{"box-front": hexA}})
	if err != nil {
		t.Fatal(err)
	}
	return d, p, clk
}

func TestDev_Sense_Table1(t *testing.T) {
	for _, tc := range table1 {
		d, p, clk := newA(t, 12, convertOp(), readOp(romA, tc.sp))
		values, err := d.Sense(context.Background())
		if err != nil {
			t.Fatalf("%v °C: %v", tc.c, err)
		}
		want := []sensor.Value{sensor.Temperature{Probe: hexA, T: c(tc.c)}}
		if !slices.Equal(values, want) {
			t.Errorf("Sense = %v, want %v", values, want)
		}
		if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{750 * time.Millisecond}) {
			t.Errorf("waited %v, want 750ms (Table 2)", got)
		}
		closePlayback(t, p)
	}
}

func TestDev_Sense_Resolution(t *testing.T) {
	// Undefined low bits (all ones here) are cleared; the wait follows
	// Table 2.
	for _, tc := range []struct {
		bits  int
		conv  time.Duration
		raw   uint16
		want  float64
		raw2  uint16
		want2 float64
	}{
		{9, 93750 * time.Microsecond, 0x0197, 25, 0xFF5F, -10.5},
		{10, 187500 * time.Microsecond, 0x0193, 25, 0xFF5F, -10.25},
		{11, 375 * time.Millisecond, 0x0191, 25, 0xFF5F, -10.125},
		{12, 750 * time.Millisecond, 0x0191, 25.0625, 0xFF5E, -10.125},
	} {
		config := configFor(tc.bits)
		d, p, clk := newA(t, tc.bits,
			convertOp(), readOp(romA, sp(tc.raw, config)),
			convertOp(), readOp(romA, sp(tc.raw2, config)))
		for _, want := range []float64{tc.want, tc.want2} {
			values, err := d.Sense(context.Background())
			if err != nil {
				t.Fatalf("%d bits: %v", tc.bits, err)
			}
			if got := temps(t, values)[hexA]; got != c(want) {
				t.Errorf("%d bits: got %v, want %v", tc.bits, got, c(want))
			}
		}
		if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{tc.conv, tc.conv}) {
			t.Errorf("%d bits: waited %v, want %v twice", tc.bits, got, tc.conv)
		}
		closePlayback(t, p)
	}
}

func TestDev_Sense_NotReadings(t *testing.T) {
	for _, tc := range badScratchpads {
		if len(tc.sp) != scratchpadLen {
			continue // a bus never hands the driver another length
		}
		t.Run(tc.name, func(t *testing.T) {
			d, p, _ := newA(t, tc.bits, convertOp(), readOp(romA, tc.sp))
			values, err := d.Sense(context.Background())
			if values != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Sense = %v, %v; want no value and %v", values, err, tc.want)
			}
			var se *sensor.Error
			if !errors.As(err, &se) || se.Bus != "w1 "+hexA+" (box-front)" || !se.Retryable() {
				t.Errorf("error %#v does not name the probe, or is not retryable", se)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			t.Log(err)
			closePlayback(t, p)
		})
	}
}

func TestDev_Sense_ResolutionReverted(t *testing.T) {
	// The probe reset since New: its scratchpad is the power-up one, at
	// the EEPROM's 12 bits. Sense reports no value and writes 9 bits
	// again; the next Sense reads normally.
	d, p, _ := newA(t, 9,
		convertOp(), readOp(romA, powerUp), writeOp(romA, 0x4B, 0x46, 0x1F),
		convertOp(), readOp(romA, sp(0x0047, 0x1F)))
	values, err := d.Sense(context.Background())
	if values != nil || !errors.Is(err, sensor.ErrNotReading) || !strings.Contains(err.Error(), "converted at 12 bits, not 9") {
		t.Fatalf("Sense = %v, %v", values, err)
	}
	values, err = d.Sense(context.Background())
	if err != nil || temps(t, values)[hexA] != c(4) {
		t.Fatalf("Sense = %v, %v; want 4 °C", values, err)
	}
	closePlayback(t, p)
}

func TestDev_Sense_TwoProbesOneFails(t *testing.T) {
	badCRC := append(slices.Clone(table1[1].sp[:8]), 0x26)
	p := &onewiretest.Playback{
		Devices: []onewire.Address{romA, romB},
		Ops: ops(searchOps(2), readOp(romA, powerUp), readOp(romB, powerUp),
			convertOp(), readOp(romA, table1[1].sp), readOp(romB, badCRC), // B: CRC
			convertOp(), readOp(romA, repeat(0xFF)), readOp(romB, table1[6].sp), // A: gone
			searchOps(2),                                                            // after A failed to answer, Sense searches the bus again
			convertOp(), readOp(romA, repeat(0x00)), readOp(romB, sp(0x07FF, 0x7F)), // both
		),
		DontPanic: true,
	}
	d, err := New(context.Background(), p, &Options{Clock: newClock(), BusName: "w1",
		Probes: map[string]string{"box-front": hexB}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		values map[string]float64
		failed []string // Bus fields of the errors, in order
		causes []error
	}{
		{map[string]float64{hexA: 25.0625}, []string{"w1 " + hexB + " (box-front)"}, []error{sensor.ErrCRC}},
		{map[string]float64{hexB: -10.125}, []string{"w1 " + hexA}, []error{sensor.ErrNoDevice}},
		{map[string]float64{}, []string{"w1 " + hexA, "w1 " + hexB + " (box-front)"}, []error{sensor.ErrNotReading, sensor.ErrNotReading}},
	} {
		values, err := d.Sense(context.Background())
		checkNoFake(t, err)
		got := temps(t, values)
		if len(got) != len(tc.values) {
			t.Errorf("Sense %d: values %v, want %v", i, got, tc.values)
		}
		for rom, want := range tc.values {
			if got[rom] != c(want) {
				t.Errorf("Sense %d: probe %s = %v, want %v", i, rom, got[rom], c(want))
			}
		}
		errs := sensorErrors(err)
		if len(errs) != len(tc.failed) {
			t.Fatalf("Sense %d: errors %v, want %d", i, err, len(tc.failed))
		}
		for j, se := range errs {
			if se.Bus != tc.failed[j] || !errors.Is(se, tc.causes[j]) {
				t.Errorf("Sense %d: error %d = %v, want on %q wrapping %v", i, j, se, tc.failed[j], tc.causes[j])
			}
		}
	}
	closePlayback(t, p)
}

func TestDev_Sense_MissingProbe(t *testing.T) {
	// "box-rear" is configured but not plugged in: New succeeds, Sense
	// reports it and keeps reading "box-front"; once plugged in, the
	// search that follows its failure finds and configures it.
	p := &onewiretest.Playback{
		Devices: []onewire.Address{romB},
		Ops: ops(searchOps(1), readOp(romB, sp(0x0040, 0x3F)),
			convertOp(), readOp(romA, repeat(0xFF)), readOp(romB, sp(0x0040, 0x3F)),
			searchOps(2), readOp(romA, powerUp), writeOp(romA, 0x4B, 0x46, 0x3F),
			convertOp(), readOp(romA, sp(0x0038, 0x3F)), readOp(romB, sp(0x0040, 0x3F)),
		),
		DontPanic: true,
	}
	d, err := New(context.Background(), p, &Options{Clock: newClock(), Resolution: 10, BusName: "w1",
		Probes: map[string]string{"box-front": hexB, "box-rear": hexA}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Probes(); !slices.Equal(got, []string{hexA, hexB}) {
		t.Errorf("Probes() = %q", got)
	}
	values, err := d.Sense(context.Background())
	checkNoFake(t, err)
	var se *sensor.Error
	if !errors.Is(err, sensor.ErrNoDevice) || !errors.As(err, &se) || se.Bus != "w1 "+hexA+" (box-rear)" {
		t.Fatalf("Sense error %v, want box-rear missing", err)
	}
	if got := temps(t, values); len(got) != 1 || got[hexB] != c(4) {
		t.Fatalf("Sense values %v, want box-front at 4 °C", got)
	}
	p.Devices = []onewire.Address{romA, romB}
	values, err = d.Sense(context.Background())
	checkNoFake(t, err)
	if got := temps(t, values); err != nil || len(got) != 2 || got[hexA] != c(3.5) || got[hexB] != c(4) {
		t.Fatalf("Sense = %v, %v", got, err)
	}
	closePlayback(t, p)
}

func TestDev_Sense_Rescan(t *testing.T) {
	// With Rescan 2, every second Sense searches for new probes first; the
	// one found in between is configured and read.
	read := sp(0x0050, 0x7F)
	p := &onewiretest.Playback{
		Devices: []onewire.Address{romB},
		Ops: ops(searchOps(1), readOp(romB, read),
			convertOp(), readOp(romB, read),
			searchOps(2), readOp(romA, powerUp), convertOp(), readOp(romA, read), readOp(romB, read),
			convertOp(), readOp(romA, read), readOp(romB, read),
			searchOps(2), convertOp(), readOp(romA, read), readOp(romB, read),
		),
	}
	d, err := New(context.Background(), p, &Options{Clock: newClock(), Rescan: 2})
	if err != nil {
		t.Fatal(err)
	}
	p.Devices = []onewire.Address{romA, romB} // plugged in after New
	for i, n := range []int{1, 2, 2, 2} {
		values, err := d.Sense(context.Background())
		if err != nil || len(values) != n {
			t.Fatalf("Sense %d = %v, %v; want %d values", i, values, err, n)
		}
	}
	closePlayback(t, p)
}

func TestDev_Sense_BusErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   []byte // the transaction that fails starts with these bytes
		err    error
		want   error
		values int
		step   string
	}{
		{"convert, transfer", []byte{0xCC, 0x44}, lineError{}, sensor.ErrBus, 0, "convert T"},
		{"convert, no presence", []byte{0xCC, 0x44}, noPresence{}, sensor.ErrNoDevice, 0, "convert T"},
		{"read, transfer", append([]byte{0x55}, bus(romB)...), lineError{}, sensor.ErrBus, 1, "read scratchpad"},
		{"read, no presence", append([]byte{0x55}, bus(romB)...), noPresence{}, sensor.ErrNoDevice, 1, "read scratchpad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := sp(0x0191, 0x7F)
			pb := &onewiretest.Playback{
				Devices: []onewire.Address{romA, romB},
				Ops:     ops(searchOps(2), readOp(romA, good), readOp(romB, good), convertOp(), readOp(romA, good)),
			}
			fb := &faultyBus{Playback: pb}
			d, err := New(context.Background(), fb, &Options{Clock: newClock(), BusName: "w1"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.values == 0 {
				pb.Ops = pb.Ops[:len(pb.Ops)-2]
			}
			fb.txErr = func(w []byte) error {
				if len(w) >= len(tc.fail) && slices.Equal(w[:len(tc.fail)], tc.fail) {
					return tc.err
				}
				return nil
			}
			values, err := d.Sense(context.Background())
			checkNoFake(t, err)
			var se *sensor.Error
			if len(values) != tc.values || !errors.Is(err, tc.want) || !errors.As(err, &se) || se.Step != tc.step || !se.Retryable() {
				t.Fatalf("Sense = %v, %v; want %d values and %v at %q", values, err, tc.values, tc.want, tc.step)
			}
			closePlayback(t, pb)
		})
	}
}

func TestDev_Sense_NoDevices(t *testing.T) {
	// Nothing on the bus at all: New succeeds (the box may come later);
	// Sense searches again and says so.
	pb := &onewiretest.Playback{}
	fb := &faultyBus{Playback: pb, searchErr: noPresence{}}
	d, err := New(context.Background(), fb, &Options{BusName: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	values, err := d.Sense(context.Background())
	var se *sensor.Error
	if values != nil || !errors.Is(err, sensor.ErrNoDevice) || !errors.As(err, &se) || se.Step != "search" {
		t.Fatalf("Sense = %v, %v", values, err)
	}

	// Only devices of other families: still nothing to read.
	pb.Devices = []onewire.Address{romDS2401}
	pb.Ops = searchOps(1)
	fb.searchErr = nil
	values, err = d.Sense(context.Background())
	if values != nil || !errors.Is(err, sensor.ErrNoDevice) || !strings.Contains(err.Error(), "no DS18B20") {
		t.Fatalf("Sense = %v, %v", values, err)
	}
	if got := d.Ignored(); !slices.Equal(got, []string{hexDS2401}) {
		t.Errorf("Ignored() = %q", got)
	}
	closePlayback(t, pb)
}

func TestDev_Sense_SearchFails(t *testing.T) {
	// A device with a corrupt ROM code ends periph's search with a CRC
	// error after the devices before it (AN187 finds the 0 branch first).
	// The probes found are read; the search error comes with their values
	// and the bus is searched again at the next Sense.
	bad := romB ^ 1<<56 // CRC byte off by one bit
	read := sp(0x0191, 0x7F)
	p := &onewiretest.Playback{
		Devices: []onewire.Address{romA, bad},
		Ops: ops(searchOps(2), readOp(romA, read),
			searchOps(2), convertOp(), readOp(romA, read),
			searchOps(2), convertOp(), readOp(romA, read)),
	}
	d, err := New(context.Background(), p, &Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		values, err := d.Sense(context.Background())
		var se *sensor.Error
		if len(values) != 1 || !errors.Is(err, sensor.ErrBus) || !errors.As(err, &se) || se.Step != "search" {
			t.Fatalf("Sense = %v, %v; want one value and the search error", values, err)
		}
	}
	if got := d.Probes(); !slices.Equal(got, []string{hexA}) {
		t.Errorf("Probes() = %q", got)
	}
	closePlayback(t, p)
}

func TestDev_Sense_Cancelled(t *testing.T) {
	d, p, clk := newA(t, 12, convertOp())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk.OnSleep = cancel // shut down during the conversion
	values, err := d.Sense(ctx)
	var se *sensor.Error
	if values != nil || !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.Step != "wait for conversion" {
		t.Fatalf("Sense = %v, %v", values, err)
	}
	closePlayback(t, p)

	// A done context reaches no transaction.
	if _, err := d.Sense(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sense = %v", err)
	}
	if _, err := New(ctx, p, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("New = %v", err)
	}
	closePlayback(t, p)
}
