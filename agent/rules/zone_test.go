package rules

import (
	"math"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// across returns a point d metres from the Pentagon's north-west side (the
// boulevard along the canal between the Porte de Ninove and Place
// Sainctelette), outside for d > 0 and inside for d < 0, as SignedDistance
// counts.
func across(d float64) geo.Point {
	ninove, sainctelette := geo.Point{Lat: 50.8507, Lon: 4.3403}, geo.Point{Lat: 50.8600, Lon: 4.3475}
	mid := geo.Point{Lat: (ninove.Lat + sainctelette.Lat) / 2, Lon: (ninove.Lon + sainctelette.Lon) / 2}
	// The ring runs clockwise, so the inside is to the right of the edge.
	in := geo.Bearing(ninove, sainctelette) + 90
	if d > 0 {
		return geo.Destination(mid, d, in+180)
	}
	return geo.Destination(mid, -d, in)
}

func TestAcross(t *testing.T) {
	for _, d := range []float64{-30, -5, -1, 1, 5, 30, 100} {
		if got := pentagon.SignedDistance(across(d)); math.Abs(got-d) > 0.01*math.Abs(d) {
			t.Errorf("SignedDistance(across(%v)) = %v", d, got)
		}
	}
}

// hold returns 1 Hz fixes for n seconds from t, the i-th at across(d(i)).
func hold(t time.Time, n int, d func(i int) float64) ([]sensor.Reading, time.Time) {
	var rs []sensor.Reading
	for i := range n {
		rs = append(rs, fixAt(t, across(d(i)), 0.8, 0)) // a van creeping in traffic
		t = t.Add(time.Second)
	}
	return rs, t
}

func still(d float64) func(int) float64 { return func(int) float64 { return d } }

// jitter swings ±5 m across the border with a period of 7.3 s, as a
// receiver's position wanders in an urban canyon.
func jitter(i int) float64 { return 5 * math.Sin(2*math.Pi*float64(i)/7.3) }

func TestEngine_BorderJitter(t *testing.T) {
	var rs []sensor.Reading
	add := func(r []sensor.Reading, t time.Time) time.Time { rs = append(rs, r...); return t }
	t1 := add(hold(t0, 20, still(100))) // outside: settles, no event
	t2 := add(hold(t1, 300, jitter))    // 5 min on the border
	t3 := add(hold(t2, 10, still(-30))) // clearly inside, from 320 s
	t4 := add(hold(t3, 300, jitter))    // 5 min on the border again
	add(hold(t4, 10, still(30)))        // clearly outside, from 630 s
	sec := func(t time.Time) float64 { return t.Sub(t0).Seconds() }

	for _, tc := range []struct {
		name       string
		fence      Geofence
		want       []string // kind@seconds
		flapsAtLst int      // or, without hysteresis, at least this many events
	}{
		{name: "hysteresis 10 m, dwell 5 s", fence: Geofence{HysteresisM: 10, MinDwell: 5 * time.Second},
			want: []string{"zone_entered@325", "zone_left@635"}},
		{name: "hysteresis 10 m, no dwell", fence: Geofence{HysteresisM: 10},
			want: []string{"zone_entered@320", "zone_left@630"}},
		{name: "hysteresis 6 m, dwell 5 s", fence: Geofence{HysteresisM: 6, MinDwell: 5 * time.Second},
			want: []string{"zone_entered@325", "zone_left@635"}},
		// Without hysteresis the dwell alone outlasts each 3.65 s swing,
		// but the inside swing just before the clear entry counts towards it.
		{name: "dwell 5 s alone", fence: Geofence{MinDwell: 5 * time.Second},
			want: []string{"zone_entered@321", "zone_left@635"}},
		{name: "neither: flaps", fence: Geofence{}, flapsAtLst: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Geofence = tc.fence
			evs := only(run(t, newEngine(t, opts), rs), "zone_entered", "zone_left")
			if tc.flapsAtLst > 0 {
				if len(evs) < tc.flapsAtLst {
					t.Errorf("%d zone events, want at least %d (the test's jitter must cross the border)", len(evs), tc.flapsAtLst)
				}
				return
			}
			var got []string
			for _, ev := range evs {
				got = append(got, string(ev.Kind)+"@"+ftoa(sec(ev.at)))
				if m := fields(t, ev); m["zone"] != "pentagon" {
					t.Errorf("%s: zone %v", ev.Kind, m["zone"])
				}
			}
			diffLines(t, got, tc.want)
		})
	}
}

func ftoa(s float64) string { return jsonString(s) }

func TestEngine_GNSSDropout(t *testing.T) {
	type step struct {
		n    int     // seconds
		d    float64 // metres from the border, as across
		lost bool    // invalid fixes, positioned at d (which must be ignored)
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string // zone events, kind@seconds
		pos   []string // position events, @seconds
	}{
		{
			name:  "a dropout inside holds the state",
			steps: []step{{10, -30, false}, {120, 200, true}, {10, -30, false}},
			want:  []string{"zone_entered@5"},
			pos:   []string{"@0", "@130"},
		},
		{
			name:  "zero positions in a dropout are ignored",
			steps: []step{{10, -30, false}, {120, math.NaN(), true}, {10, -30, false}},
			want:  []string{"zone_entered@5"},
			pos:   []string{"@0", "@130"},
		},
		{
			name:  "leaving during a dropout: the wait starts at the first fix outside",
			steps: []step{{10, -30, false}, {60, 0, true}, {10, 30, false}},
			want:  []string{"zone_entered@5", "zone_left@75"},
			pos:   []string{"@0", "@70"},
		},
		{
			name:  "a pending entry is held: the fixes on both sides agree",
			steps: []step{{20, 40, false}, {2, -30, false}, {60, 0, true}, {3, -30, false}},
			want:  []string{"zone_entered@82"},
			pos:   []string{"@0", "@20", "@82"},
		},
		{
			name:  "a dropout interrupted by a border fix restarts the wait",
			steps: []step{{20, 40, false}, {2, -30, false}, {30, 0, true}, {1, -4, false}, {30, 0, true}, {10, -30, false}},
			want:  []string{"zone_entered@88"},
			pos:   []string{"@0", "@20", "@83"},
		},
		{
			name:  "no fix at all before the first valid one",
			steps: []step{{90, -30, true}, {10, -30, false}},
			want:  []string{"zone_entered@95"},
			pos:   []string{"@90"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs []sensor.Reading
			tm := t0
			for _, s := range tc.steps {
				for range s.n {
					if s.lost {
						p := geo.Point{}
						if !math.IsNaN(s.d) {
							p = across(s.d)
						}
						rs = append(rs, lostFix(tm, p))
					} else {
						rs = append(rs, fixAt(tm, across(s.d), 0.5, 0))
					}
					tm = tm.Add(time.Second)
				}
			}
			evs := run(t, newEngine(t, testOptions()), rs)
			var zones, pos []string
			for _, ev := range evs {
				s := ftoa(ev.at.Sub(t0).Seconds())
				switch ev.Kind {
				case "position":
					pos = append(pos, "@"+s)
				case "zone_entered", "zone_left":
					zones = append(zones, string(ev.Kind)+"@"+s)
				default:
					t.Errorf("unexpected %s", ev.Kind)
				}
			}
			diffLines(t, zones, tc.want)
			diffLines(t, pos, tc.pos)
		})
	}
}

func TestEngine_ZoneStartsUnknown(t *testing.T) {
	// Starting outside says nothing; starting inside says zone_entered
	// once settled, with the fix that settled it.
	for _, tc := range []struct {
		name string
		d    float64
		want []string
	}{
		{"outside", 50, nil},
		{"inside", -50, []string{"zone_entered"}},
		{"on the border", 3, nil},
	} {
		opts := testOptions()
		opts.Position = Position{}
		rs, _ := hold(t0, 30, still(tc.d))
		evs := run(t, newEngine(t, opts), rs)
		var got []string
		for _, ev := range evs {
			got = append(got, string(ev.Kind))
			m := fields(t, ev)
			p := across(tc.d)
			if m["lat"] != roundTo(p.Lat, 7) || m["lon"] != roundTo(p.Lon, 7) || ev.at != at(5) {
				t.Errorf("%s: %s at %v, want the fix at 5 s %v", tc.name, ev.Payload, ev.at.Sub(t0), p)
			}
		}
		diffLines(t, got, tc.want)
	}
}

func roundTo(x float64, d int) float64 {
	r, _ := round(x, d)
	return r
}

// A MultiPolygon zone: two bays, one state.
func TestEngine_MultiPolygonZone(t *testing.T) {
	second := geo.Polygon{Rings: [][][2]float64{{
		{4.35690, 50.85400}, {4.35750, 50.85400}, {4.35750, 50.85440}, {4.35690, 50.85440},
	}}}
	opts := Options{
		Zones:    []Zone{{Name: "bays", Type: ZoneLoadingBay, Area: geo.MultiPolygon{bayRueNeuve[0], second}}},
		Geofence: Geofence{HysteresisM: 10, MinDwell: 5 * time.Second},
	}
	rs, tm := park(t0, bayCentre, 20*time.Second)
	more, tm := drive(tm, 5, bayCentre, geo.Point{Lat: 50.85420, Lon: 4.35720})
	rs = append(rs, more...)
	more, _ = park(tm, geo.Point{Lat: 50.85420, Lon: 4.35720}, 20*time.Second)
	rs = append(rs, more...)
	var got []string
	for _, ev := range run(t, newEngine(t, opts), rs) {
		got = append(got, string(ev.Kind))
	}
	diffLines(t, got, []string{"zone_entered", "zone_left", "zone_entered"})
}
