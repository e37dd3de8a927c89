package rules

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/physic"
)

func TestNew_Bad(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"negative interval", func(o *Options) { o.Position.Interval = -time.Second }, "position"},
		{"NaN distance", func(o *Options) { o.Position.MinDistanceM = math.NaN() }, "position"},
		{"heading over 180", func(o *Options) { o.Position.HeadingChangeDeg = 181 }, "position"},
		{"negative hysteresis", func(o *Options) { o.Geofence.HysteresisM = -1 }, "geofence"},
		{"negative dwell", func(o *Options) { o.Geofence.MinDwell = -1 }, "geofence"},
		{"negative moving speed", func(o *Options) { o.Door.MovingMPS = -1 }, "door"},
		{"zone without a name", func(o *Options) { o.Zones[0].Name = "" }, "zones[0]: name: empty"},
		{"zone name twice", func(o *Options) { o.Zones[1].Name = "pentagon" }, `zones[1]: name "pentagon" is used twice`},
		{"zone name not UTF-8", func(o *Options) { o.Zones[1].Name = "bay\xff" }, "not UTF-8"},
		{"zone type", func(o *Options) { o.Zones[1].Type = "parking" }, `type "parking"`},
		{"zone without area", func(o *Options) { o.Zones[1].Area = nil }, `zone "bay-rue-neuve": invalid polygon: no polygons`},
		{"zone across the antimeridian", func(o *Options) {
			o.Zones[1].Area = geo.MultiPolygon{{Rings: [][][2]float64{{{179.9, -16.9}, {-179.9, -16.9}, {-179.9, -16.8}}}}}
		}, "antimeridian"},
		{"temperature without sensor", func(o *Options) { o.Temperature[0].Sensor = "" }, "temperature[0]: sensor"},
		{"probe name, not ROM", func(o *Options) { o.Temperature[0].Probe = "box-front" }, "not a ROM code"},
		{"name for every probe", func(o *Options) { o.Temperature[0].Probe = "" }, "needs a probe"},
		{"range upside down", func(o *Options) { o.Temperature[0].MinC = 9 }, "range [9, 8]"},
		{"range NaN", func(o *Options) { o.Temperature[0].MaxC = math.NaN() }, "range"},
		{"negative after", func(o *Options) { o.Temperature[0].After = -time.Minute }, "after"},
		{"probe names key", func(o *Options) { o.ProbeNames = map[string]string{"box": "front"} }, "probe names"},
		{"probe names value", func(o *Options) { o.ProbeNames = map[string]string{romFront: ""} }, "probe names"},
		{"shock without sensor", func(o *Options) { o.Shock.Sensor = "" }, "shock: sensor"},
		{"shock axis", func(o *Options) { o.Shock.ForwardAxis = "forward" }, "forward_axis"},
		{"shock axis missing for braking", func(o *Options) { o.Shock.ForwardAxis = "" }, "forward_axis"},
		{"shock thresholds zero", func(o *Options) { o.Shock.ImpactG, o.Shock.HarshBrakingG = 0, 0 }, "not both 0"},
		{"shock threshold negative", func(o *Options) { o.Shock.ImpactG = -2 }, "impact_g"},
		{"delivery sensor too long", func(o *Options) { o.Delivery.Sensor = strings.Repeat("t", 1025) }, "delivery"},
	} {
		opts := testOptions()
		tc.edit(&opts)
		e, err := New(opts)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) || e != nil {
			t.Errorf("New(%s) = %v, %v; want ErrOptions containing %q", tc.name, e, err, tc.want)
		}
	}
	// A polygon error is still a geo.ErrPolygon.
	opts := testOptions()
	opts.Zones[0].Area = geo.MultiPolygon{{}}
	if _, err := New(opts); !errors.Is(err, geo.ErrPolygon) || !errors.Is(err, ErrOptions) {
		t.Errorf("New(empty polygon) = %v, want ErrOptions and geo.ErrPolygon", err)
	}
}

func TestNew_Good(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"zero", Options{}},
		{"example configuration", testOptions()},
		{"impact only", Options{Shock: Shock{Sensor: "accel", ImpactG: 3}}},
		{"every axis sign", Options{Shock: Shock{Sensor: "accel", ForwardAxis: "-z", HarshBrakingG: 0.4}}},
	} {
		if _, err := New(tc.opts); err != nil {
			t.Errorf("New(%s) = %v", tc.name, err)
		}
	}
}

func TestNew_CopiesOptions(t *testing.T) {
	opts := testOptions()
	area := geo.MultiPolygon{{Rings: [][][2]float64{{
		{4.35690, 50.85280}, {4.35750, 50.85280}, {4.35750, 50.85320}, {4.35690, 50.85320},
	}}}}
	opts.Zones = []Zone{{Name: "bay", Type: ZoneLoadingBay, Area: area}}
	opts.ProbeNames = map[string]string{romFront: "front"}
	e := newEngine(t, opts)
	// The caller changes its options afterwards.
	area[0].Rings[0][0] = [2]float64{0, 0}
	opts.Zones[0].Name = "moved"
	opts.ProbeNames[romFront] = "renamed"
	rs, _ := park(t0, bayCentre, 10*time.Second)
	evs := only(run(t, e, rs), "zone_entered")
	if len(evs) != 1 || fields(t, evs[0])["zone"] != "bay" {
		t.Errorf("events %v, want bay entered", short(evs))
	}
}

func TestEngine_NoEventsFromEnvAndWeight(t *testing.T) {
	e := newEngine(t, testOptions())
	for _, v := range []sensor.Value{
		sensor.Env{Temperature: physicCelsius(35), Pressure: 101325 * physic.Pascal, Humidity: 80 * physic.PercentRH, HasHumidity: true},
		&sensor.Env{},
		sensor.Weight{Mass: 120 * physic.KiloGram, Raw: 8421},
		&sensor.Weight{},
		nil,
		(*sensor.Fix)(nil), (*sensor.Door)(nil), (*sensor.Tag)(nil), (*sensor.Motion)(nil), (*sensor.Temperature)(nil),
	} {
		for _, name := range []string{"cabin", "floor-scale", "coldbox", "accel", "tags", "gnss"} {
			if evs := e.Apply(sensor.Reading{Sensor: name, Time: t0, Value: v}); len(evs) != 0 {
				t.Errorf("Apply(%s %T) = %d events", name, v, len(evs))
			}
		}
	}
}

// scenarios is every reading sequence of the tests, for the checks that
// hold for all of them.
func scenarios() [][]sensor.Reading {
	coldChain := cat(every(0, 3, romFront, 4), every(30, 37, romFront, 10.0625), every(400, 2, romFront, 6))
	jit, _ := hold(t0, 300, jitter)
	shocks := []sensor.Reading{
		motionAt(at(1), 15, -10, 1005), motionAt(at(2), -520, 40, 1010), motionAt(at(3), 200, -150, 4200),
		motionAt(at(4), 700, 0, 1000), motionAt(at(5), 60, -40, 90),
	}
	return [][]sensor.Reading{route(), coldChain, jit, shocks, merge(cat(route(), coldChain, shocks))}
}

// TestEngine_EventsValidate stamps every event of every scenario as the
// pipeline does and validates it (run does both), and checks that the
// scenarios produce every kind the engine knows.
func TestEngine_EventsValidate(t *testing.T) {
	kinds := map[event.Kind]int{}
	for _, rs := range scenarios() {
		for _, ev := range run(t, newEngine(t, testOptions()), rs) {
			kinds[ev.Kind]++
		}
	}
	for _, k := range []event.Kind{"position", "zone_entered", "zone_left", "door_opened", "door_closed",
		"temperature_excursion", "shock", "delivery"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in the scenarios", k)
		}
	}
	t.Logf("events by kind: %v", kinds)
}

func TestEngine_Deterministic(t *testing.T) {
	for i, rs := range scenarios() {
		// Two engines from separately built options (maps built in a
		// different order).
		o1, o2 := testOptions(), testOptions()
		o1.ProbeNames = map[string]string{romFront: "front", romBack: "back", "28ff000000000001": "spare"}
		o2.ProbeNames = map[string]string{"28ff000000000001": "spare", romBack: "back", romFront: "front"}
		a, b := run(t, newEngine(t, o1), rs), run(t, newEngine(t, o2), rs)
		if len(a) != len(b) {
			t.Fatalf("scenario %d: %d events, then %d", i, len(a), len(b))
		}
		for j := range a {
			if a[j].Kind != b[j].Kind || !bytes.Equal(a[j].Payload, b[j].Payload) || !a[j].at.Equal(b[j].at) {
				t.Fatalf("scenario %d, event %d: %s then %s", i, j, a[j], b[j])
			}
		}
		if len(a) == 0 {
			t.Errorf("scenario %d: no events", i)
		}
	}
}

func BenchmarkEngine_Apply(b *testing.B) {
	rs := route()
	for b.Loop() {
		e, _ := New(testOptions())
		for _, r := range rs {
			e.Apply(r)
		}
	}
	b.ReportMetric(float64(len(rs)), "readings/op")
}
