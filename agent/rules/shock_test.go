package rules

import (
	"time"

	"testing"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

func TestEngine_Shock(t *testing.T) {
	// Peaks in mg. A board lying flat reads about +1000 mg on z at rest.
	rest := motionAt(at(1), 15, -10, 1005)
	for _, tc := range []struct {
		name  string
		shock Shock
		rs    []sensor.Reading
		want  []string
	}{
		{
			name:  "harsh braking",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs:    []sensor.Reading{rest, motionAt(at(2), -520, 40, 1010)},
			want:  []string{`{"axis":"x","g":0.52,"type":"harsh_braking"}`},
		},
		{
			name:  "harsh acceleration; at the threshold is not beyond it",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs:    []sensor.Reading{motionAt(at(2), 450, 0, 1000), motionAt(at(3), 461, 0, 1000)},
			want:  []string{`{"axis":"x","g":0.46,"type":"harsh_acceleration"}`},
		},
		{
			name:  "forward is -y: a positive y peak is braking",
			shock: Shock{Sensor: "accel", ForwardAxis: "-y", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs:    []sensor.Reading{motionAt(at(2), 30, 610, 990)},
			want:  []string{`{"axis":"y","g":0.61,"type":"harsh_braking"}`},
		},
		{
			name:  "vertical impact (a kerb at speed)",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs:    []sensor.Reading{rest, motionAt(at(2), 200, -150, 4200)},
			want:  []string{`{"axis":"z","g":3.21,"type":"impact"}`},
		},
		{
			name:  "side impact; impact wins over the braking in the same window",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs:    []sensor.Reading{rest, motionAt(at(2), -900, 3600, 1000)},
			want:  []string{`{"axis":"y","g":2.84,"type":"impact"}`},
		},
		{
			name:  "gravity learned: a board on its side, gravity on -y",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			// On its side, z is horizontal: the 3 g on z is the hit, and
			// the -3.6 g on y is gravity plus 2.6 g.
			rs:   []sensor.Reading{motionAt(at(1), 10, -995, 30), motionAt(at(2), 100, -3600, 3000)},
			want: []string{`{"axis":"z","g":3.69,"type":"impact"}`},
		},
		{
			name:  "the same window before any rest reading: z taken as vertical",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs:    []sensor.Reading{motionAt(at(2), 100, -3600, 3000)},
			want:  []string{`{"axis":"y","g":3.69,"type":"impact"}`},
		},
		{
			name:  "drop: a whole window near free fall",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 0.8},
			rs:    []sensor.Reading{motionAt(at(2), 60, -40, 90)},
			want:  []string{`{"axis":"z","g":0.88,"type":"drop"}`},
		},
		{
			name:  "impact only, no forward axis",
			shock: Shock{Sensor: "accel", ImpactG: 2},
			rs:    []sensor.Reading{motionAt(at(1), -1900, 0, 1000), motionAt(at(2), -3500, 0, 1000)},
			want:  []string{`{"axis":"x","g":2.64,"type":"impact"}`},
		},
		{
			name:  "quiet driving, other sensors, empty windows",
			shock: Shock{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			rs: []sensor.Reading{
				rest, motionAt(at(2), 300, 200, 1300),
				{Sensor: "cab-accel", Time: at(3), Value: sensor.Motion{X: -3000, Samples: 10}},
				{Sensor: "accel", Time: at(4), Value: sensor.Motion{X: -3000, Samples: 0}},
				{Sensor: "accel", Time: at(5), Value: &sensor.Motion{X: -600, Z: 1000, Samples: 10}},
			},
			want: []string{`{"axis":"x","g":0.6,"type":"harsh_braking"}`},
		},
		{
			name: "no shock sensor: nothing",
			rs:   []sensor.Reading{motionAt(at(2), -3500, 0, 1000)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			opts.Shock = tc.shock
			var got []string
			for _, ev := range run(t, newEngine(t, opts), tc.rs) {
				if ev.Kind != "shock" {
					t.Fatalf("unexpected %s", ev.Kind)
				}
				got = append(got, string(ev.Payload))
			}
			diffLines(t, got, tc.want)
		})
	}
}

func TestEngine_ShockEpisode(t *testing.T) {
	e := newEngine(t, testOptions())
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var rs []sensor.Reading
	// 800 ms of braking in 200 ms windows, a quiet window, then braking again.
	for i, x := range []sensor.MilliG{-620, -640, -610, -600, 0, -700} {
		rs = append(rs, motionAt(at(200*i), x, 0, 1000))
	}
	// An impact during braking is a new episode.
	rs = append(rs, motionAt(at(1400), -3600, 0, 1000))
	diffLines(t, short(only(run(t, e, rs), "shock")), []string{
		`shock {"axis":"x","g":0.62,"type":"harsh_braking"}`,
		`shock {"axis":"x","g":0.7,"type":"harsh_braking"}`,
		`shock {"axis":"x","g":2.74,"type":"impact"}`,
	})
}

func TestEngine_ShockPlaced(t *testing.T) {
	e := newEngine(t, testOptions())
	rs := []sensor.Reading{fixAt(at(0), bourse, 9, 0), motionAt(at(3), -600, 0, 1000), motionAt(at(40), -600, 0, 1000)}
	diffLines(t, short(only(run(t, e, rs), "shock")), []string{
		`shock {"axis":"x","g":0.6,"lat":50.848,"lon":4.35,"type":"harsh_braking"}`,
		`shock {"axis":"x","g":0.6,"type":"harsh_braking"}`,
	})
}
