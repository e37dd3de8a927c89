package rules

import (
	"math"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

func TestEngine_PositionTriggers(t *testing.T) {
	// Along the Boulevard Anspach from the Bourse, north.
	north := func(m float64) geo.Point { return geo.Destination(bourse, m, 0) }
	for _, tc := range []struct {
		name string
		pos  Position
		rs   []sensor.Reading
		want []float64 // seconds of the position events
	}{
		{
			name: "first valid fix, then the interval",
			pos:  Position{Interval: 60 * time.Second},
			rs: []sensor.Reading{
				lostFix(at(0), bourse), fixAt(at(1), bourse, 0, 0), fixAt(at(30), bourse, 0, 0),
				fixAt(at(60), bourse, 0, 0), fixAt(at(61), bourse, 0, 0), fixAt(at(121), bourse, 0, 0),
			},
			want: []float64{1, 61, 121},
		},
		{
			name: "invalid fixes never report, whatever the interval",
			pos:  Position{Interval: time.Second},
			rs:   []sensor.Reading{lostFix(at(0), bourse), lostFix(at(10), bourse), fixAt(at(20), bourse, 0, 0), lostFix(at(30), bourse)},
			want: []float64{20},
		},
		{
			name: "distance",
			pos:  Position{MinDistanceM: 50},
			rs: []sensor.Reading{
				fixAt(at(0), north(0), 8, 0), fixAt(at(5), north(40), 8, 0), fixAt(at(6), north(49), 8, 0),
				fixAt(at(7), north(51), 8, 0), fixAt(at(13), north(100), 8, 0), fixAt(at(14), north(102), 8, 0),
			},
			want: []float64{0, 7, 14},
		},
		{
			name: "heading change while moving",
			pos:  Position{HeadingChangeDeg: 30},
			rs: []sensor.Reading{
				fixAt(at(0), bourse, 8, 350), fixAt(at(1), bourse, 8, 15), // 25°: no
				fixAt(at(2), bourse, 8, 21),                              // 31° from 350, through north
				fixAt(at(3), bourse, 8, 45), fixAt(at(4), bourse, 8, 60), // 24°, 39°
			},
			want: []float64{0, 2, 4},
		},
		{
			name: "heading change while standing: the course means nothing",
			pos:  Position{HeadingChangeDeg: 30},
			rs: []sensor.Reading{
				fixAt(at(0), bourse, 8, 0), fixAt(at(1), bourse, 1.4, 90), fixAt(at(2), bourse, 0, 180),
				fixAt(at(3), bourse, 8, 0), fixAt(at(4), bourse, 8, 180),
			},
			want: []float64{0, 4},
		},
		{
			name: "a report at rest gives no heading to turn from",
			pos:  Position{HeadingChangeDeg: 30},
			rs:   []sensor.Reading{fixAt(at(0), bourse, 0, 0), fixAt(at(1), bourse, 8, 90), fixAt(at(2), bourse, 8, 180)},
			want: []float64{0},
		},
		{
			name: "clock stepped back",
			pos:  Position{Interval: 60 * time.Second},
			rs:   []sensor.Reading{fixAt(at(100), bourse, 0, 0), fixAt(at(50), bourse, 0, 0), fixAt(at(60), bourse, 0, 0)},
			want: []float64{100, 50},
		},
		{
			name: "zero Position: no position events",
			rs:   []sensor.Reading{fixAt(at(0), bourse, 0, 0), fixAt(at(600), north(1000), 8, 0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Position = tc.pos
			var got []float64
			for _, ev := range only(run(t, newEngine(t, opts), tc.rs), "position") {
				got = append(got, ev.at.Sub(t0).Seconds())
			}
			if jsonString(got) != jsonString(tc.want) {
				t.Errorf("position events at %v s, want %v s", got, tc.want)
			}
		})
	}
}

func TestEngine_PositionPayload(t *testing.T) {
	fix := func(f sensor.Fix) sensor.Reading {
		f.Valid = true
		return sensor.Reading{Sensor: "gnss", Time: t0, Value: f}
	}
	for _, tc := range []struct {
		name string
		r    sensor.Reading
		want string
	}{
		{
			name: "rounding",
			r: fix(sensor.Fix{Lat: 50.838512345678, Lon: 4.362549999, AltM: ptr(56.78), SpeedMPS: ptr(8.4567),
				CourseDeg: ptr(123.456), HDOP: ptr(0.956), Sats: ptr(9)}),
			want: `{"alt_m":56.8,"course_deg":123.5,"hdop":0.96,"lat":50.8385123,"lon":4.36255,"sats":9,"speed_mps":8.46}`,
		},
		{
			name: "course just under 360 is 0",
			r:    fix(sensor.Fix{Lat: 50.8467, Lon: 4.3525, CourseDeg: ptr(359.97)}),
			want: `{"course_deg":0,"lat":50.8467,"lon":4.3525}`,
		},
		{
			name: "course normalised",
			r:    fix(sensor.Fix{Lat: 50.8467, Lon: 4.3525, CourseDeg: ptr(-90.0)}),
			want: `{"course_deg":270,"lat":50.8467,"lon":4.3525}`,
		},
		{
			name: "only a position",
			r:    fix(sensor.Fix{Lat: -33.8688, Lon: 151.2093}),
			want: `{"lat":-33.8688,"lon":151.2093}`,
		},
		{
			name: "out-of-range fields left out",
			r: fix(sensor.Fix{Lat: 50.8467, Lon: 4.3525, AltM: ptr(math.Inf(1)), SpeedMPS: ptr(-1.0),
				CourseDeg: ptr(math.NaN()), HDOP: ptr(150.0), Sats: ptr(300)}),
			want: `{"lat":50.8467,"lon":4.3525}`,
		},
		{
			name: "a pointer to a fix works too",
			r: sensor.Reading{Sensor: "gnss", Time: t0, Value: &sensor.Fix{Valid: true, Lat: 50.8467, Lon: 4.3525,
				SpeedMPS: ptr(0.004), HDOP: ptr(0.0)}},
			want: `{"hdop":0,"lat":50.8467,"lon":4.3525,"speed_mps":0}`,
		},
	} {
		evs := run(t, newEngine(t, Options{Position: Position{Interval: time.Minute}}), []sensor.Reading{tc.r})
		if len(evs) != 1 || string(evs[0].Payload) != tc.want || evs[0].Kind != "position" {
			t.Errorf("%s: %v, want position %s", tc.name, short(evs), tc.want)
		}
	}
	// Invalid positions flagged valid are still refused.
	for _, p := range []geo.Point{{Lat: 91, Lon: 4}, {Lat: 50, Lon: math.NaN()}, {Lat: math.Inf(-1), Lon: 4}} {
		e := newEngine(t, Options{Position: Position{Interval: time.Minute}})
		if evs := e.Apply(fixAt(t0, p, 1, 1)); len(evs) != 0 {
			t.Errorf("fix at %v: %d events", p, len(evs))
		}
	}
}
