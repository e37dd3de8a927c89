package config

import (
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waybill-eu/waybill/agent/rules"
	"github.com/waybill-eu/waybill/drivers/ds18b20"
	"github.com/waybill-eu/waybill/drivers/lis3dh"
)

// Rules are the rules that turn readings into events, every default filled
// in.
type Rules struct {
	Position    PositionRule      // applies when the device has a GNSS sensor
	Geofence    GeofenceRule      // applies to Config.Zones
	Temperature []TemperatureRule // in file order
	Door        DoorRule          // applies to every door sensor
	Shock       *ShockRule        // nil when not configured
	Delivery    *DeliveryRule     // nil when not configured
}

// PositionRule says when a position event is made: after Interval, or
// sooner when the device has moved MinDistanceM or turned HeadingChangeDeg
// since the last one.
type PositionRule struct {
	Interval         time.Duration // 1s..24h; default 60s
	MinDistanceM     float64       // 0..100000 m; default 50; 0 turns the distance trigger off
	HeadingChangeDeg float64       // 0..180°; default 30; 0 turns the heading trigger off
}

// GeofenceRule says when the device enters or leaves a zone.
type GeofenceRule struct {
	HysteresisM float64       // how far past a boundary the device must be, 0..1000 m; default 10
	MinDwell    time.Duration // how long it must stay on the new side, 0..1h; default 5s
}

// TemperatureRule watches DS18B20 probes for a temperature excursion.
type TemperatureRule struct {
	Sensor    string        // a sensor with driver ds18b20
	Probe     string        // the probe's ROM code (16 lowercase hex digits), or "" for every probe of the sensor
	ProbeName string        // the probe's configured name, or "" when the rule gave a ROM code or no probe
	MinC      float64       // lowest allowed temperature, °C, -55..125 (the DS18B20's range)
	MaxC      float64       // highest allowed temperature, °C, above MinC
	After     time.Duration // how long out of range before an excursion starts, 0..24h; default 5m
}

// DoorRule tells a door opened at a stop from one opened on the move.
type DoorRule struct {
	MovingMPS float64 // above this ground speed the vehicle is moving, 0..100 m/s; default 1.5
}

// Axes an accelerometer's forward direction may be: a sensor axis, or its
// opposite when the board is mounted the other way round.
var axes = []string{"x", "y", "z", "-x", "-y", "-z"}

// ShockRule turns accelerometer peaks into shock and harsh-braking events.
type ShockRule struct {
	Sensor        string  // a sensor with driver lis3dh
	ForwardAxis   string  // the sensor axis pointing forward: x, y, z, -x, -y or -z
	ImpactG       float64 // a peak of this many g on any axis is an impact, 0.1..16; default 2.5; at most the sensor's range_g
	HarshBrakingG float64 // a deceleration of this many g along the forward axis is harsh braking, 0.05..16; default 0.45; below ImpactG
}

// DeliveryRule turns tag scans into delivery events.
type DeliveryRule struct {
	Sensor string // a sensor with driver mfrc522
}

var ruleKeys = []string{"position", "geofence", "temperature", "door", "shock", "delivery"}

// rules reads the rules section (nil when absent).
func (p *parser) rules(n *yaml.Node, c *Config) Rules {
	var r Rules
	f := p.mapping(n, "rules", ruleKeys, nil)
	gnss := countDriver(c.Sensors, DriverNMEA) > 0

	pn, path := f.get("position", false)
	if pn != nil && !gnss {
		p.errorf(f.keys["position"], path, "no GNSS sensor (driver %s) to take positions from", DriverNMEA)
	}
	pf := p.mapping(pn, path, []string{"interval", "min_distance_m", "heading_change_deg"}, nil)
	r.Position.Interval, _ = pf.dur("interval", false, 60*time.Second, time.Second, 24*time.Hour)
	r.Position.MinDistanceM, _ = pf.float("min_distance_m", false, 50, 0, 100000)
	r.Position.HeadingChangeDeg, _ = pf.float("heading_change_deg", false, 30, 0, 180)

	gn, path := f.get("geofence", false)
	if gn != nil && !gnss {
		p.errorf(f.keys["geofence"], path, "no GNSS sensor (driver %s) to place the device in zones", DriverNMEA)
	}
	gf := p.mapping(gn, path, []string{"hysteresis_m", "min_dwell"}, nil)
	r.Geofence.HysteresisM, _ = gf.float("hysteresis_m", false, 10, 0, 1000)
	r.Geofence.MinDwell, _ = gf.dur("min_dwell", false, 5*time.Second, 0, time.Hour)

	items, path := f.list("temperature")
	for i, tn := range items {
		r.Temperature = append(r.Temperature, p.temperatureRule(tn, index(path, i), c))
	}

	dn, path := f.get("door", false)
	if dn != nil && countDriver(c.Sensors, DriverDoor) == 0 {
		p.errorf(f.keys["door"], path, "no sensor with driver %s", DriverDoor)
	}
	df := p.mapping(dn, path, []string{"moving_mps"}, nil)
	r.Door.MovingMPS, _ = df.float("moving_mps", false, rules.DefaultMovingMPS, 0, 100)

	if sn, path := f.get("shock", false); sn != nil {
		r.Shock = p.shockRule(sn, path, c)
	}
	if dn, path := f.get("delivery", false); dn != nil {
		df := p.mapping(dn, path, []string{"sensor"}, nil)
		r.Delivery = &DeliveryRule{}
		if s := p.sensorRef(df, c, DriverMFRC522); s != nil {
			r.Delivery.Sensor = s.Name
		}
	}
	return r
}

// sensorRef reads a rule's sensor field, which must name a sensor with the
// given driver.
func (p *parser) sensorRef(f *fields, c *Config, driver string) *Sensor {
	name, ok := f.str("sensor", true)
	if !ok {
		return nil
	}
	v, path := f.get("sensor", false)
	s := c.Sensor(name)
	if s == nil {
		var names []string
		for _, s := range c.Sensors {
			names = append(names, s.Name)
		}
		p.errorf(v, path, "no sensor named %q%s", name, suggest(name, names))
		return nil
	}
	if s.Driver == "" {
		return nil // its driver field is already reported
	}
	if s.Driver != driver {
		p.errorf(v, path, "sensor %s has driver %s; this rule needs a %s", name, s.Driver, driver)
		return nil
	}
	return s
}

func (p *parser) temperatureRule(n *yaml.Node, path string, c *Config) TemperatureRule {
	var r TemperatureRule
	f := p.mapping(n, path, []string{"sensor", "probe", "min_c", "max_c", "after"}, nil)
	s := p.sensorRef(f, c, DriverDS18B20)
	if s != nil {
		r.Sensor = s.Name
	}
	if v, ppath := f.get("probe", false); v != nil {
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!bool" {
			p.errorf(v, ppath, "want a probe name or ROM code, got %s", describe(v))
		} else if s != nil && s.DS18B20 != nil {
			r.Probe, r.ProbeName = p.probeRef(v, ppath, s)
		}
	}
	// A bound the probe cannot measure could never be crossed.
	minC, minOK := f.float("min_c", true, 0, ds18b20.MinCelsius, ds18b20.MaxCelsius)
	maxC, maxOK := f.float("max_c", true, 0, ds18b20.MinCelsius, ds18b20.MaxCelsius)
	if minOK && maxOK && minC >= maxC {
		v, mpath := f.get("max_c", false)
		p.errorf(v, mpath, "%s is not above min_c %s", fmtFloat(maxC), fmtFloat(minC))
	}
	r.MinC, r.MaxC = minC, maxC
	r.After, _ = f.dur("after", false, 5*time.Minute, 0, 24*time.Hour)
	return r
}

// probeRef resolves a temperature rule's probe: a probe name of the sensor
// or a DS18B20 ROM code. It returns the ROM code and the name.
func (p *parser) probeRef(v *yaml.Node, path string, s *Sensor) (rom, name string) {
	if r := s.DS18B20.Probe(v.Value); r != "" {
		return r, v.Value
	}
	if len(v.Value) == 16 && strings.Trim(strings.ToLower(v.Value), "0123456789abcdef") == "" {
		r, msg := parseROM(v.Value)
		if msg != "" {
			p.errorf(v, path, "%s", msg)
			return "", ""
		}
		for _, pr := range s.DS18B20.Probes {
			if pr.ROM == r {
				return r, pr.Name
			}
		}
		return r, ""
	}
	var names []string
	for _, pr := range s.DS18B20.Probes {
		names = append(names, pr.Name)
	}
	sort.Strings(names)
	known := "it names no probes"
	if len(names) > 0 {
		known = "its probes are " + orList(names)
	}
	p.errorf(v, path, "sensor %s has no probe named %q%s (%s; or give a ROM code)", s.Name, v.Value, suggest(v.Value, names), known)
	return "", ""
}

func (p *parser) shockRule(n *yaml.Node, path string, c *Config) *ShockRule {
	r := &ShockRule{}
	f := p.mapping(n, path, []string{"sensor", "forward_axis", "impact_g", "harsh_braking_g"}, nil)
	s := p.sensorRef(f, c, DriverLIS3DH)
	if s != nil {
		r.Sensor = s.Name
	}
	r.ForwardAxis, _ = f.oneOf("forward_axis", true, "", axes...)
	// Beyond the widest full scale nothing is measured.
	maxG := float64(slices.Max(lis3dh.Ranges()))
	impact, impactOK := f.float("impact_g", false, 2.5, 0.1, maxG)
	braking, brakingOK := f.float("harsh_braking_g", false, 0.45, 0.05, maxG)
	if impactOK && brakingOK && braking >= impact {
		v, bpath := f.get("harsh_braking_g", false)
		if v == nil {
			v, bpath = f.get("impact_g", false)
		}
		p.errorf(v, bpath, "harsh_braking_g %s is not below impact_g %s", fmtFloat(braking), fmtFloat(impact))
	}
	// The output saturates at the full scale (LIS3DH datasheet, Table 4).
	if impactOK && s != nil && s.LIS3DH != nil && s.LIS3DH.RangeG > 0 && impact > float64(s.LIS3DH.RangeG) {
		v, ipath := f.get("impact_g", false)
		if v == nil {
			v, ipath = f.n, join(f.path, "impact_g")
		}
		p.errorf(v, ipath, "%s g is beyond sensor %s's range_g %d: it would never be measured", fmtFloat(impact), s.Name, s.LIS3DH.RangeG)
	}
	r.ImpactG, r.HarshBrakingG = impact, braking
	return r
}
