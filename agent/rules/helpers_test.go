package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/physic"
)

// t0 is the start of every scenario: a Tuesday morning round in Brussels.
var t0 = time.Date(2026, 3, 10, 7, 30, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// pentagon is Brussels' inner ring through nine real corners ([lon, lat]):
// Porte de Namur, Porte de Hal, Porte d'Anderlecht, Porte de Ninove, Place
// Sainctelette, Place Rogier, Botanique, Place Madou, Trône.
var pentagon = geo.MultiPolygon{{Rings: [][][2]float64{{
	{4.3625, 50.8385}, {4.3440, 50.8334}, {4.3385, 50.8420}, {4.3403, 50.8507},
	{4.3475, 50.8600}, {4.3585, 50.8550}, {4.3660, 50.8545}, {4.3700, 50.8500},
	{4.3675, 50.8410},
}}}}

// bayRueNeuve is the loading bay of the example configuration, about 42 m ×
// 44 m in the Rue Neuve.
var bayRueNeuve = geo.MultiPolygon{{Rings: [][][2]float64{{
	{4.35690, 50.85280}, {4.35750, 50.85280}, {4.35750, 50.85320}, {4.35690, 50.85320},
}}}}

var (
	gareDuMidi = geo.Point{Lat: 50.8357, Lon: 4.3365}
	bourse     = geo.Point{Lat: 50.8480, Lon: 4.3500}
	bayCentre  = geo.Point{Lat: 50.85300, Lon: 4.35720}
	rueRoyale  = geo.Point{Lat: 50.8530, Lon: 4.3655} // inside, near the Botanique
	saintJosse = geo.Point{Lat: 50.8505, Lon: 4.3760} // outside, east of Place Madou
)

// testOptions is the example configuration's rules.
func testOptions() Options {
	return Options{
		Position: Position{Interval: 60 * time.Second, MinDistanceM: 50, HeadingChangeDeg: 30},
		Zones: []Zone{
			{Name: "pentagon", Type: ZoneLowEmission, Area: pentagon},
			{Name: "bay-rue-neuve", Type: ZoneLoadingBay, Area: bayRueNeuve},
		},
		Geofence: Geofence{HysteresisM: 10, MinDwell: 5 * time.Second},
		Temperature: []TemperatureRule{
			{Sensor: "coldbox", Probe: "28ff4a6b711603c2", Name: "box-front", MinC: 2, MaxC: 8, After: 5 * time.Minute},
		},
		Door:     Door{MovingMPS: 1.5},
		Shock:    Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
		Delivery: Delivery{Sensor: "tags"},
	}
}

func ptr[T any](v T) *T { return &v }

func fixAt(t time.Time, p geo.Point, speed, course float64) sensor.Reading {
	return sensor.Reading{Sensor: "gnss", Time: t, Value: sensor.Fix{
		Time: t, Valid: true, Lat: p.Lat, Lon: p.Lon, AltM: ptr(56.0),
		SpeedMPS: ptr(speed), CourseDeg: ptr(course), Sats: ptr(11), HDOP: ptr(0.9), Mode: "3d",
	}}
}

// lostFix is what a receiver sends in a tunnel: no fix, and a stale or
// zero position that must be ignored.
func lostFix(t time.Time, p geo.Point) sensor.Reading {
	return sensor.Reading{Sensor: "gnss", Time: t, Value: sensor.Fix{Time: t, Valid: false, Lat: p.Lat, Lon: p.Lon, Mode: "none"}}
}

func doorAt(t time.Time, name string, open bool) sensor.Reading {
	return sensor.Reading{Sensor: name, Time: t, Value: sensor.Door{Open: open, At: t.Add(-30 * time.Millisecond)}}
}

func tempAt(t time.Time, sens, rom string, c float64) sensor.Reading {
	return sensor.Reading{Sensor: sens, Time: t, Value: sensor.Temperature{
		Probe: rom, T: physicCelsius(c)}}
}

func motionAt(t time.Time, x, y, z sensor.MilliG) sensor.Reading {
	return sensor.Reading{Sensor: "accel", Time: t, Value: sensor.Motion{X: x, Y: y, Z: z, Samples: 20}}
}

func tagAt(t time.Time, uid ...byte) sensor.Reading {
	return sensor.Reading{Sensor: "tags", Time: t, Value: sensor.Tag{UID: uid}}
}

// drive returns 1 Hz fixes from the first point through the others at speed
// m/s, starting at t (the first fix is at t), and the time after the last.
func drive(t time.Time, speed float64, pts ...geo.Point) ([]sensor.Reading, time.Time) {
	var rs []sensor.Reading
	p := pts[0]
	for _, next := range pts[1:] {
		for geo.Distance(p, next) > speed {
			b := geo.Bearing(p, next)
			rs = append(rs, fixAt(t, p, speed, b))
			p = geo.Destination(p, speed, b)
			t = t.Add(time.Second)
		}
		p = next
	}
	rs = append(rs, fixAt(t, p, 0, 0))
	return rs, t.Add(time.Second)
}

// park returns 1 Hz stationary fixes at p for d.
func park(t time.Time, p geo.Point, d time.Duration) ([]sensor.Reading, time.Time) {
	var rs []sensor.Reading
	for end := t.Add(d); t.Before(end); t = t.Add(time.Second) {
		rs = append(rs, fixAt(t, p, 0, 0))
	}
	return rs, t
}

// stamped is an event with the time of the reading that caused it.
type stamped struct {
	at time.Time
	event.Event
}

// String is the event as the golden files show it: seconds since t0, kind
// and payload.
func (s stamped) String() string {
	return fmt.Sprintf("%+8.1fs %s %s", s.at.Sub(t0).Seconds(), s.Kind, s.Payload)
}

// run applies rs to e and returns the events, each stamped as the pipeline
// would stamp it and checked with event.Event.Validate.
func run(t testing.TB, e *Engine, rs []sensor.Reading) []stamped {
	t.Helper()
	var out []stamped
	for _, r := range rs {
		for _, ev := range e.Apply(r) {
			mustValidate(t, r.Time, ev, len(out))
			out = append(out, stamped{r.Time, ev})
		}
	}
	return out
}

// mustValidate stamps ev with the fields the pipeline adds (time, source,
// sequence number, device) and checks that the result is a valid event.
func mustValidate(t testing.TB, when time.Time, ev event.Event, seq int) {
	t.Helper()
	if ev.Time != 0 || ev.Source != "" || ev.Seq != 0 || ev.Device != (event.Address{}) || ev.Epoch != 0 {
		t.Fatalf("engine set pipeline fields: %+v", ev)
	}
	if ms := when.UnixMilli(); when.Before(event.TimeFloor) || ms > event.MaxSeq {
		when = t0 // a reading from a clock gone wrong: the pipeline stamps its own time
	}
	ev.Time = when.UnixMilli()
	ev.Source = event.SourceGNSS
	ev.Seq = uint64(seq)
	ev.Device = event.Address{0x57, 0xa1}
	if err := ev.Validate(); err != nil {
		t.Fatalf("event %s %s does not validate: %v", ev.Kind, ev.Payload, err)
	}
}

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// only returns the events of the given kinds.
func only(evs []stamped, kinds ...event.Kind) []stamped {
	var out []stamped
	for _, ev := range evs {
		for _, k := range kinds {
			if ev.Kind == k {
				out = append(out, ev)
			}
		}
	}
	return out
}

// fields decodes an event's payload.
func fields(t testing.TB, ev stamped) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Payload, &m); err != nil {
		t.Fatalf("payload %s: %v", ev.Payload, err)
	}
	return m
}

// short is an event as "kind payload", for compact expectations.
func short(evs []stamped) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Kind)+" "+string(ev.Payload))
	}
	return out
}

func diffLines(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(want, "\n       "))
	}
}

// physicCelsius converts °C to periph's nano-kelvin.
func physicCelsius(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(math.Round(c*float64(physic.Celsius)))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
