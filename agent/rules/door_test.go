package rules

import (
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Outside both zones, on the Boulevard du Jardin Botanique's far side.
var schaerbeek = geo.Point{Lat: 50.8580, Lon: 4.3680}

func TestEngine_Door(t *testing.T) {
	// settled is a minute of fixes at p, at speed.
	settled := func(p geo.Point, speed float64) []sensor.Reading {
		rs, _ := park(t0, p, time.Minute)
		for i := range rs {
			rs[i] = fixAt(rs[i].Time, p, speed, 90)
		}
		return rs
	}
	noZones := testOptions()
	noZones.Zones = nil
	for _, tc := range []struct {
		name string
		opts Options
		rs   []sensor.Reading
		want []string
	}{
		{
			name: "closed at start-up says nothing; open, then close with open_ms",
			opts: testOptions(),
			rs: merge(cat(settled(bayCentre, 0), []sensor.Reading{
				doorAt(at(10), "rear-door", false), doorAt(at(12), "rear-door", true),
				doorAt(at(12.5), "rear-door", true), // the same state again
				doorAt(at(47), "rear-door", false),
			})),
			want: []string{
				`door_opened {"door":"rear-door","lat":50.853,"lon":4.3572,"moving":false,"outside_zone":false}`,
				`door_closed {"door":"rear-door","lat":50.853,"lon":4.3572,"moving":false,"open_ms":35000,"outside_zone":false}`,
			},
		},
		{
			name: "open at start-up is reported",
			opts: testOptions(),
			rs:   merge(cat(settled(bayCentre, 0), []sensor.Reading{doorAt(at(9), "side-door", true), doorAt(at(9.5), "side-door", false)})),
			want: []string{
				`door_opened {"door":"side-door","lat":50.853,"lon":4.3572,"moving":false,"outside_zone":false}`,
				`door_closed {"door":"side-door","lat":50.853,"lon":4.3572,"moving":false,"open_ms":500,"outside_zone":false}`,
			},
		},
		{
			name: "while moving, outside every delivery zone",
			opts: testOptions(),
			rs:   merge(cat(settled(schaerbeek, 9.7), []sensor.Reading{doorAt(at(10), "rear-door", true)})),
			want: []string{`door_opened {"door":"rear-door","lat":50.858,"lon":4.368,"moving":true,"outside_zone":true}`},
		},
		{
			name: "inside a low-emission zone only is outside every delivery zone",
			opts: testOptions(),
			rs:   merge(cat(settled(bourse, 0), []sensor.Reading{doorAt(at(10), "rear-door", true)})),
			want: []string{`door_opened {"door":"rear-door","lat":50.848,"lon":4.35,"moving":false,"outside_zone":true}`},
		},
		{
			name: "a fix 11 s old no longer says moving, 31 s old no longer places",
			opts: testOptions(),
			rs: merge(cat(settled(schaerbeek, 9.7)[:10], []sensor.Reading{
				doorAt(at(20), "rear-door", true), doorAt(at(40), "rear-door", false),
			})),
			want: []string{
				`door_opened {"door":"rear-door","lat":50.858,"lon":4.368,"outside_zone":true}`,
				`door_closed {"door":"rear-door","open_ms":20000,"outside_zone":true}`,
			},
		},
		{
			name: "a door reading slightly before the fix is fresh",
			opts: testOptions(),
			rs:   []sensor.Reading{fixAt(at(5), schaerbeek, 9.7, 0), doorAt(at(4.9), "rear-door", true)},
			want: []string{`door_opened {"door":"rear-door","lat":50.858,"lon":4.368,"moving":true,"outside_zone":true}`},
		},
		{
			name: "no zones configured: no outside_zone",
			opts: noZones,
			rs:   merge(cat(settled(schaerbeek, 1.2), []sensor.Reading{doorAt(at(10), "rear-door", true)})),
			want: []string{`door_opened {"door":"rear-door","lat":50.858,"lon":4.368,"moving":false}`},
		},
		{
			name: "no fix known: the door alone",
			opts: testOptions(),
			rs:   []sensor.Reading{lostFix(at(0), schaerbeek), doorAt(at(1), "rear-door", true)},
			want: []string{`door_opened {"door":"rear-door"}`},
		},
		{
			name: "a fix without speed does not say moving",
			opts: testOptions(),
			rs: []sensor.Reading{
				{Sensor: "gnss", Time: at(0), Value: sensor.Fix{Valid: true, Lat: schaerbeek.Lat, Lon: schaerbeek.Lon}},
				{Sensor: "rear-door", Time: at(1), Value: &sensor.Door{Open: true}},
			},
			want: []string{`door_opened {"door":"rear-door","lat":50.858,"lon":4.368,"outside_zone":true}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := only(run(t, newEngine(t, tc.opts), tc.rs), "door_opened", "door_closed")
			diffLines(t, short(evs), tc.want)
		})
	}
}

func TestEngine_Delivery(t *testing.T) {
	inBay, _ := park(t0, bayCentre, 10*time.Second)
	outside, _ := park(t0, schaerbeek, 10*time.Second)
	uid := []byte{0x04, 0x5a, 0x7c, 0x22, 0x91, 0x3e, 0x80}
	scan := func(sec float64) sensor.Reading { return tagAt(at(sec), uid...) }
	for _, tc := range []struct {
		name string
		rs   []sensor.Reading
		want []string
	}{
		{
			name: "in a loading bay with the door open",
			rs:   cat(inBay, []sensor.Reading{doorAt(at(10), "rear-door", true), scan(11)}),
			want: []string{`delivery {"door":"open","lat":50.853,"lon":4.3572,"parcel":"045A7C22913E80","proof":"scan","zone":"bay-rue-neuve"}`},
		},
		{
			name: "door closed (its first reading), outside every zone",
			rs:   cat(outside, []sensor.Reading{doorAt(at(10), "rear-door", false), scan(11)}),
			want: []string{`delivery {"door":"closed","lat":50.858,"lon":4.368,"parcel":"045A7C22913E80","proof":"scan"}`},
		},
		{
			name: "no door has reported, no fresh fix, a 4-byte UID",
			rs:   cat(inBay, []sensor.Reading{tagAt(at(45), 0xde, 0xad, 0xbe, 0xef)}),
			want: []string{`delivery {"parcel":"DEADBEEF","proof":"scan","zone":"bay-rue-neuve"}`},
		},
		{
			name: "another reader's tags and empty UIDs are not deliveries",
			rs: cat(inBay, []sensor.Reading{
				{Sensor: "cab-reader", Time: at(11), Value: sensor.Tag{UID: uid}},
				{Sensor: "tags", Time: at(12), Value: sensor.Tag{}},
				{Sensor: "tags", Time: at(13), Value: &sensor.Tag{UID: uid[:4]}},
			}),
			want: []string{`delivery {"lat":50.853,"lon":4.3572,"parcel":"045A7C22","proof":"scan","zone":"bay-rue-neuve"}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := only(run(t, newEngine(t, testOptions()), tc.rs), "delivery")
			diffLines(t, short(evs), tc.want)
		})
	}
	// Without a delivery sensor, tags are ignored.
	opts := testOptions()
	opts.Delivery = Delivery{}
	if evs := only(run(t, newEngine(t, opts), cat(inBay, []sensor.Reading{scan(11)})), "delivery"); len(evs) != 0 {
		t.Errorf("delivery without a reader: %v", short(evs))
	}
}
