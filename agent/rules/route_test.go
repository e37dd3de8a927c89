package rules

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// route is a delivery round into and through the Pentagon:
//
//   - 10 s parked at the Gare du Midi, outside;
//   - through the Porte d'Anderlecht side to the Bourse and on to the loading
//     bay in the Rue Neuve at 8 m/s, braking hard before the bay;
//   - 3 min in the bay: the rear door opens, a parcel is scanned, the door
//     closes; the accelerometer reports rest every 10 s;
//   - out past the Botanique at 9 m/s, 20 s without GNSS in the Rue Royale
//     tunnel, leaving the Pentagon east of Place Madou;
//   - the rear door opens for 4 s while driving outside every zone.
func route() []sensor.Reading {
	var rs []sensor.Reading
	add := func(r []sensor.Reading, t time.Time) time.Time {
		rs = append(rs, r...)
		return t
	}
	t := add(park(t0, gareDuMidi, 10*time.Second))
	t = add(drive(t, 8, gareDuMidi, bourse, bayCentre))
	rs = append(rs, motionAt(t.Add(-3*time.Second), -520, 40, 1010))

	inBay := t
	t = add(park(t, bayCentre, 3*time.Minute))
	for s := inBay; s.Before(t); s = s.Add(10 * time.Second) {
		rs = append(rs, motionAt(s.Add(500*time.Millisecond), 12, -20, 998))
	}
	rs = append(rs,
		doorAt(inBay.Add(20*time.Second), "rear-door", true),
		tagAt(inBay.Add(40*time.Second), 0x04, 0x5a, 0x7c, 0x22, 0x91, 0x3e, 0x80),
		doorAt(inBay.Add(90*time.Second), "rear-door", false),
	)

	leave := t
	east := geo.Point{Lat: 50.8490, Lon: 4.3840}
	var out []sensor.Reading
	out, _ = drive(t, 9, bayCentre, rueRoyale, saintJosse, east)
	for i, r := range out {
		if s := r.Time.Sub(leave); s >= 30*time.Second && s < 50*time.Second {
			out[i] = lostFix(r.Time, geo.Point{})
		}
	}
	rs = append(rs, out...)
	// The door opens 20 s after the van is 30 m out of the Pentagon.
	for _, r := range out {
		f := r.Value.(sensor.Fix)
		if f.Valid && pentagon.SignedDistance(geo.Point{Lat: f.Lat, Lon: f.Lon}) > 30 && r.Time.After(leave.Add(time.Minute)) {
			rs = append(rs,
				doorAt(r.Time.Add(20*time.Second+300*time.Millisecond), "rear-door", true),
				doorAt(r.Time.Add(24*time.Second+300*time.Millisecond), "rear-door", false))
			break
		}
	}
	slices.SortStableFunc(rs, func(a, b sensor.Reading) int { return a.Time.Compare(b.Time) })
	return rs
}

func TestEngine_RouteThroughPentagon(t *testing.T) {
	evs := run(t, newEngine(t, testOptions()), route())

	// The golden file holds every event; the checks below say why.
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.String())
		b.WriteByte('\n')
	}
	golden(t, "testdata/route.golden", b.String())

	var got []string
	for _, ev := range evs {
		if ev.Kind == "position" {
			continue
		}
		m := fields(t, ev)
		s := string(ev.Kind)
		for _, k := range []string{"zone", "type", "door", "moving", "outside_zone", "parcel"} {
			if v, ok := m[k]; ok {
				s += " " + k + "=" + strings.TrimSpace(strings.ReplaceAll(jsonString(v), `"`, ""))
			}
		}
		got = append(got, s)
	}
	diffLines(t, got, []string{
		"zone_entered zone=pentagon",
		"shock type=harsh_braking",
		"zone_entered zone=bay-rue-neuve",
		"door_opened door=rear-door moving=false outside_zone=false",
		"delivery zone=bay-rue-neuve door=open parcel=045A7C22913E80",
		"door_closed door=rear-door moving=false outside_zone=false",
		"zone_left zone=bay-rue-neuve",
		"zone_left zone=pentagon",
		"door_opened door=rear-door moving=true outside_zone=true",
		"door_closed door=rear-door moving=true outside_zone=true",
	})

	// Position events: far fewer than fixes, and each one justified by a
	// trigger.
	pos := only(evs, "position")
	fixes := 0
	for _, r := range route() {
		if f, ok := r.Value.(sensor.Fix); ok && f.Valid {
			fixes++
		}
	}
	if len(pos) < 10 || len(pos) > fixes/4 {
		t.Errorf("%d position events for %d fixes", len(pos), fixes)
	}
	for i := 1; i < len(pos); i++ {
		a, b := fields(t, pos[i-1]), fields(t, pos[i])
		d := geo.Distance(geo.Point{Lat: a["lat"].(float64), Lon: a["lon"].(float64)},
			geo.Point{Lat: b["lat"].(float64), Lon: b["lon"].(float64)})
		dt := pos[i].at.Sub(pos[i-1].at)
		turn := geo.AngleBetween(a["course_deg"].(float64), b["course_deg"].(float64))
		if dt < time.Minute && d <= 50 && turn <= 30 {
			t.Errorf("position %v: %v after the last, %.1f m away, %.1f° turn: no trigger", pos[i].at.Sub(t0), dt, d, turn)
		}
	}
	// No position during the dropout.
	for _, ev := range pos {
		f := fixOf(route(), ev.at)
		if !f.Valid {
			t.Errorf("position event at %v from an invalid fix", ev.at.Sub(t0))
		}
	}
}

func fixOf(rs []sensor.Reading, at time.Time) sensor.Fix {
	for _, r := range rs {
		if f, ok := r.Value.(sensor.Fix); ok && r.Time.Equal(at) {
			return f
		}
	}
	return sensor.Fix{}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s: line %d:\n  got  %s\n  want %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s: %d lines, want %d", path, len(gl), len(wl))
	}
}
