package rules

import (
	"slices"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

const (
	romFront = "28ff4a6b711603c2"
	romBack  = "28ff1c3d7e1604a9"
)

// every returns readings of probe rom on "coldbox" every 10 s from start
// (seconds) for n readings, at c °C.
func every(start float64, n int, rom string, c float64) []sensor.Reading {
	var rs []sensor.Reading
	for i := range n {
		rs = append(rs, tempAt(at(start+10*float64(i)), "coldbox", rom, c))
	}
	return rs
}

func cat(parts ...[]sensor.Reading) []sensor.Reading {
	var rs []sensor.Reading
	for _, p := range parts {
		rs = append(rs, p...)
	}
	return rs
}

// merge orders readings by time, as the sampler delivers them; readings of
// the same time keep their order.
func merge(rs []sensor.Reading) []sensor.Reading {
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b sensor.Reading) int { return a.Time.Compare(b.Time) })
	return rs
}

func TestEngine_TemperatureExcursion(t *testing.T) {
	rule := TemperatureRule{Sensor: "coldbox", Probe: romFront, Name: "box-front", MinC: 2, MaxC: 8, After: 5 * time.Minute}
	for _, tc := range []struct {
		name  string
		rules []TemperatureRule
		names map[string]string
		rs    []sensor.Reading
		want  []string // "@seconds payload"
	}{
		{
			name:  "a short excursion is not one",
			rules: []TemperatureRule{rule},
			rs:    cat(every(0, 3, romFront, 4), every(30, 24, romFront, 9.5), every(270, 3, romFront, 7)),
		},
		{
			name:  "start after After, end on the first reading back",
			rules: []TemperatureRule{rule},
			rs:    cat(every(0, 3, romFront, 4), every(30, 37, romFront, 10.0625), every(400, 2, romFront, 6)),
			want: []string{
				`@330 {"celsius":10.0625,"duration_s":300,"max_c":8,"min_c":2,"probe":"box-front","state":"start"}`,
				`@400 {"celsius":6,"duration_s":370,"max_c":8,"min_c":2,"probe":"box-front","state":"end"}`,
			},
		},
		{
			name:  "below the range; the bounds are inside",
			rules: []TemperatureRule{rule},
			rs:    cat(every(0, 31, romFront, 1.9375), every(310, 1, romFront, 2), every(320, 31, romFront, 8), every(630, 1, romFront, 1.5)),
			want: []string{
				`@300 {"celsius":1.9375,"duration_s":300,"max_c":8,"min_c":2,"probe":"box-front","state":"start"}`,
				`@310 {"celsius":2,"duration_s":310,"max_c":8,"min_c":2,"probe":"box-front","state":"end"}`,
			},
		},
		{
			name:  "a faulted probe (no readings) ends nothing",
			rules: []TemperatureRule{rule},
			rs:    cat(every(0, 31, romFront, 12), every(2100, 3, romFront, 11), every(2130, 1, romFront, 5)),
			want: []string{
				`@300 {"celsius":12,"duration_s":300,"max_c":8,"min_c":2,"probe":"box-front","state":"start"}`,
				`@2130 {"celsius":5,"duration_s":2130,"max_c":8,"min_c":2,"probe":"box-front","state":"end"}`,
			},
		},
		{
			name:  "a gap over 3×After restarts the count",
			rules: []TemperatureRule{rule},
			rs:    cat(every(0, 20, romFront, 12), every(190+901, 31, romFront, 12)),
			want: []string{
				`@1391 {"celsius":12,"duration_s":300,"max_c":8,"min_c":2,"probe":"box-front","state":"start"}`,
			},
		},
		{
			name:  "a gap of 3×After exactly does not",
			rules: []TemperatureRule{rule},
			rs:    cat(every(0, 20, romFront, 12), every(190+900, 1, romFront, 12)),
			want: []string{
				`@1090 {"celsius":12,"duration_s":1090,"max_c":8,"min_c":2,"probe":"box-front","state":"start"}`,
			},
		},
		{
			name:  "After shorter than the sampling interval",
			rules: []TemperatureRule{{Sensor: "coldbox", MinC: 2, MaxC: 8, After: 2 * time.Second}},
			rs:    every(0, 3, romFront, 9),
			want: []string{
				`@10 {"celsius":9,"duration_s":10,"max_c":8,"min_c":2,"probe":"28ff4a6b711603c2","state":"start"}`,
			},
		},
		{
			name:  "After zero: the first reading outside",
			rules: []TemperatureRule{{Sensor: "coldbox", Probe: romFront, MinC: -25, MaxC: -18}},
			rs:    cat(every(0, 2, romFront, -20), every(20, 2, romFront, -17.5), every(40, 1, romFront, -19)),
			want: []string{
				`@20 {"celsius":-17.5,"duration_s":0,"max_c":-18,"min_c":-25,"probe":"28ff4a6b711603c2","state":"start"}`,
				`@40 {"celsius":-19,"duration_s":20,"max_c":-18,"min_c":-25,"probe":"28ff4a6b711603c2","state":"end"}`,
			},
		},
		{
			name:  "every probe of the sensor, each on its own, named by ProbeNames or ROM",
			rules: []TemperatureRule{{Sensor: "coldbox", MinC: 2, MaxC: 8}},
			names: map[string]string{"28FF1C3D7E1604A9": "box-back"},
			rs: []sensor.Reading{
				tempAt(at(0), "coldbox", romFront, 9), tempAt(at(0), "coldbox", romBack, 5),
				tempAt(at(10), "coldbox", romFront, 9), tempAt(at(10), "coldbox", romBack, 9),
				tempAt(at(20), "coldbox", romFront, 5), tempAt(at(20), "coldbox", romBack, 9),
				tempAt(at(30), "cabin", romBack, 30), tempAt(at(40), "coldbox", romBack, 8),
			},
			want: []string{
				`@0 {"celsius":9,"duration_s":0,"max_c":8,"min_c":2,"probe":"28ff4a6b711603c2","state":"start"}`,
				`@10 {"celsius":9,"duration_s":0,"max_c":8,"min_c":2,"probe":"box-back","state":"start"}`,
				`@20 {"celsius":5,"duration_s":20,"max_c":8,"min_c":2,"probe":"28ff4a6b711603c2","state":"end"}`,
				`@40 {"celsius":8,"duration_s":30,"max_c":8,"min_c":2,"probe":"box-back","state":"end"}`,
			},
		},
		{
			name:  "a rule for one probe ignores the others and other sensors",
			rules: []TemperatureRule{{Sensor: "coldbox", Probe: "28FF4A6B711603C2", MinC: 2, MaxC: 8}},
			rs: []sensor.Reading{
				tempAt(at(0), "coldbox", romBack, 20), tempAt(at(0), "freezer", romFront, 20),
				tempAt(at(10), "coldbox", romFront, 20),
			},
			want: []string{
				`@10 {"celsius":20,"duration_s":0,"max_c":8,"min_c":2,"probe":"28ff4a6b711603c2","state":"start"}`,
			},
		},
		{
			name: "two ranges on one probe",
			rules: []TemperatureRule{
				{Sensor: "coldbox", Probe: romFront, Name: "warn", MinC: 2, MaxC: 8},
				{Sensor: "coldbox", Probe: romFront, Name: "spoil", MinC: 0, MaxC: 12, After: 30 * time.Second},
			},
			rs: every(0, 5, romFront, 13),
			want: []string{
				`@0 {"celsius":13,"duration_s":0,"max_c":8,"min_c":2,"probe":"warn","state":"start"}`,
				`@30 {"celsius":13,"duration_s":30,"max_c":12,"min_c":0,"probe":"spoil","state":"start"}`,
			},
		},
		{
			name:  "a clock stepped back restarts the count",
			rules: []TemperatureRule{rule},
			rs:    cat(every(1000, 20, romFront, 12), every(0, 30, romFront, 12)),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Options{Temperature: tc.rules, ProbeNames: tc.names})
			var got []string
			for _, ev := range run(t, e, tc.rs) {
				got = append(got, "@"+ftoa(ev.at.Sub(t0).Seconds())+" "+string(ev.Payload))
			}
			diffLines(t, got, tc.want)
		})
	}
}

func TestEngine_TemperatureNotAReading(t *testing.T) {
	// Values below absolute zero or above any probe's range never count;
	// the sampler should not deliver them, and they must not end anything.
	e := newEngine(t, Options{Temperature: []TemperatureRule{{Sensor: "coldbox", MinC: 2, MaxC: 8}}})
	rs := []sensor.Reading{
		tempAt(at(0), "coldbox", romFront, 20),
		{Sensor: "coldbox", Time: at(10), Value: sensor.Temperature{Probe: romFront, T: -1}},
		tempAt(at(20), "coldbox", romFront, 1e6),
		{Sensor: "coldbox", Time: at(30), Value: &sensor.Temperature{Probe: romFront, T: physicCelsius(5)}},
	}
	got := short(run(t, e, rs))
	diffLines(t, got, []string{
		`temperature_excursion {"celsius":20,"duration_s":0,"max_c":8,"min_c":2,"probe":"28ff4a6b711603c2","state":"start"}`,
		`temperature_excursion {"celsius":5,"duration_s":30,"max_c":8,"min_c":2,"probe":"28ff4a6b711603c2","state":"end"}`,
	})
}
