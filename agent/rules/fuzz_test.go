package rules

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/physic"
)

// The fuzz input is a list of readings, each an opcode byte and operands:
//
//	op%8: 0 fix, 1 temperature, 2 door, 3 motion, 4 tag, 5 env, 6 weight, 7 clock jump
//	then: time step (int16, ×100 ms), sensor name index (byte), the value.
//
// Coordinates are offsets around the Pentagon unless a flag asks for raw
// float64 bits (NaN, ±Inf, anything).

var fuzzNames = []string{
	"gnss", "coldbox", "rear-door", "side-door", "accel", "tags", "cabin", "floor-scale",
	strings.Repeat("x", 1100), "door\xff", "",
}

var fuzzProbes = []string{romFront, romBack, "", "28FF4A6B711603C2", strings.Repeat("9", 2000)}

type fuzzIn struct{ b []byte }

func (d *fuzzIn) byte() byte {
	if len(d.b) == 0 {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *fuzzIn) i16() int16 { return int16(uint16(d.byte())<<8 | uint16(d.byte())) }

func (d *fuzzIn) u64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(d.byte())
	}
	return v
}

// num is a raw float64 when raw, else base + i16·step.
func (d *fuzzIn) num(raw bool, base, step float64) float64 {
	if raw {
		return math.Float64frombits(d.u64())
	}
	return base + float64(d.i16())*step
}

func (d *fuzzIn) readings() []sensor.Reading {
	var rs []sensor.Reading
	t := t0
	for len(d.b) > 0 && len(rs) < 5000 {
		op := d.byte()
		t = t.Add(time.Duration(d.i16()) * 100 * time.Millisecond)
		name := fuzzNames[int(d.byte())%len(fuzzNames)]
		flags := d.byte()
		raw := func(bit uint) bool { return flags&(1<<bit) != 0 }
		var v sensor.Value
		switch op % 8 {
		case 0:
			f := sensor.Fix{Valid: raw(0), Lat: d.num(raw(1), 50.85, 2e-6), Lon: d.num(raw(1), 4.355, 3e-6)}
			if raw(2) {
				f.SpeedMPS = ptr(d.num(raw(7), 5, 0.01))
			}
			if raw(3) {
				f.CourseDeg = ptr(d.num(raw(7), 180, 0.1))
			}
			if raw(4) {
				f.AltM = ptr(d.num(raw(7), 50, 0.1))
			}
			if raw(5) {
				f.HDOP = ptr(d.num(raw(7), 1, 0.01))
			}
			if raw(6) {
				f.Sats = ptr(int(d.i16()))
			}
			v = f
		case 1:
			tv := physic.ZeroCelsius + physic.Temperature(d.i16())*62500*physic.MicroKelvin
			if raw(1) {
				tv = physic.Temperature(d.u64())
			}
			v = sensor.Temperature{Probe: fuzzProbes[int(d.byte())%len(fuzzProbes)], T: tv}
		case 2:
			dv := sensor.Door{Open: raw(0)}
			if raw(1) {
				dv.At = t.Add(time.Duration(d.i16()) * time.Millisecond)
			}
			if raw(2) {
				dv.At = time.Unix(0, int64(d.u64()))
			}
			v = dv
		case 3:
			v = sensor.Motion{X: sensor.MilliG(d.i16()), Y: sensor.MilliG(d.i16()), Z: sensor.MilliG(d.i16()), Samples: int(int8(d.byte()))}
			if raw(1) {
				v = sensor.Motion{X: sensor.MilliG(d.u64()), Y: sensor.MilliG(d.u64() >> 32), Z: math.MinInt32, Samples: 1}
			}
		case 4:
			uid := make([]byte, int(d.byte())%(12+int(flags&1)*1000))
			for i := range uid {
				uid[i] = d.byte()
			}
			v = sensor.Tag{UID: uid}
		case 5:
			v = sensor.Env{Temperature: physic.Temperature(d.u64())}
		case 6:
			v = sensor.Weight{Mass: physic.Mass(d.u64())}
		case 7:
			t = time.Unix(0, int64(d.u64()))
			continue
		}
		rs = append(rs, sensor.Reading{Sensor: name, Time: t, Value: v})
	}
	return rs
}

// seed builds fuzz inputs in the format readings decodes.
type seed struct{ bytes.Buffer }

func (s *seed) head(op byte, dt int16, name int, flags byte) *seed {
	s.WriteByte(op)
	binary.Write(s, binary.BigEndian, dt)
	s.WriteByte(byte(name))
	s.WriteByte(flags)
	return s
}

func (s *seed) i16(v ...int16) *seed {
	for _, x := range v {
		binary.Write(s, binary.BigEndian, x)
	}
	return s
}

func (s *seed) f64(v ...float64) *seed {
	for _, x := range v {
		binary.Write(s, binary.BigEndian, math.Float64bits(x))
	}
	return s
}

func (s *seed) b(v ...byte) *seed { s.Write(v); return s }

// fuzzSeeds are the bad inputs of the tests, and a little of everything.
func fuzzSeeds() [][]byte {
	var out [][]byte
	add := func(s *seed) { out = append(out, bytes.Clone(s.Bytes())) }
	// A valid fix in the bay, speed 0, then the route's events.
	s := new(seed)
	for range 12 {
		s.head(0, 10, 0, 0b0000_0101).i16(1500, 600, -500)
	}
	s.head(2, 20, 2, 1).head(4, 10, 5, 0).b(7, 4, 0x5a, 0x7c, 0x22, 0x91, 0x3e, 0x80).head(2, 30, 2, 0)
	s.head(3, 1, 4, 0).i16(-520, 40, 1010).b(20)
	add(s)
	// NaN, ±Inf and out-of-range positions flagged valid.
	s = new(seed)
	s.head(0, 10, 0, 0b0111_1111).f64(math.NaN(), 4.35, math.Inf(1), math.NaN(), -1e308, 1e308).i16(300)
	s.head(0, 10, 0, 0b1000_0111).f64(91, 181, -1)
	add(s)
	// Temperatures: out of range, below absolute zero, a 2000-byte probe ID.
	s = new(seed)
	for i := range 20 {
		s.head(1, 100, 1, 0).i16(200).b(byte(i % 5))
	}
	s.head(1, 10, 1, 2).f64(math.Float64frombits(1 << 63)).b(0)
	add(s)
	// Doors with times far apart, clock jumps back and forth, odd names.
	s = new(seed)
	s.head(2, 0, 2, 1).head(2, 0, 2, 4).f64(math.Float64frombits(1 << 62))
	s.head(7, 0, 0, 0).f64(math.Float64frombits(1)).head(2, -30000, 9, 1).head(2, 0, 8, 1).head(2, 0, 10, 0)
	add(s)
	// Accelerations at the int32 limits, negative sample counts, long UIDs.
	s = new(seed)
	s.head(3, 1, 4, 2).f64(math.Float64frombits(0x7fffffff_80000000))
	s.head(3, 1, 4, 0).i16(-32768, 32767, 0).b(0xff)
	s.head(4, 1, 5, 1).b(255)
	for range 255 {
		s.b(0xab)
	}
	add(s)
	return out
}

func FuzzEngine(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs := (&fuzzIn{b: data}).readings()
		opts := testOptions()
		opts.Temperature = append(opts.Temperature, TemperatureRule{Sensor: "coldbox", MinC: -20, MaxC: 30, After: time.Second})
		opts.ProbeNames = map[string]string{romBack: "box-back"}
		opts.Geofence = Geofence{HysteresisM: 2}
		opts.Shock.ImpactG = 0.9
		a, b := newEngine(t, opts), newEngine(t, opts)
		seq := 0
		for _, r := range rs {
			ea, eb := a.Apply(r), b.Apply(r)
			if len(ea) != len(eb) {
				t.Fatalf("engines disagree: %d and %d events", len(ea), len(eb))
			}
			for i, ev := range ea {
				if ev.Kind != eb[i].Kind || !bytes.Equal(ev.Payload, eb[i].Payload) {
					t.Fatalf("engines disagree: %s %s and %s %s", ev.Kind, ev.Payload, eb[i].Kind, eb[i].Payload)
				}
				mustValidate(t, r.Time, ev, seq)
				seq++
			}
		}
	})
}

// TestFuzzSeeds_Decode keeps the seeds meaningful: they decode into
// readings of every type and give events.
func TestFuzzSeeds_Decode(t *testing.T) {
	types := map[string]bool{}
	n := 0
	for _, s := range fuzzSeeds() {
		rs := (&fuzzIn{b: s}).readings()
		for _, r := range rs {
			types[r.Value.Kind()] = true
		}
		n += len(run(t, newEngine(t, testOptions()), rs))
	}
	for _, k := range []string{"fix", "temperature", "door", "motion", "tag"} {
		if !types[k] {
			t.Errorf("no %s reading in the seeds", k)
		}
	}
	if n == 0 {
		t.Error("the seeds give no events")
	}
}
