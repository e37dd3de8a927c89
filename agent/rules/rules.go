package rules

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// The zone types of the configuration.
const (
	ZoneLowEmission = "low_emission"
	ZoneLoadingBay  = "loading_bay"
	ZoneDepot       = "depot"
	ZoneDelivery    = "delivery"
)

const (
	// DefaultMovingMPS is the speed above which the vehicle is moving when
	// Door.MovingMPS is zero: 1.5 m/s, a brisk walk.
	DefaultMovingMPS = 1.5
	// MovingFreshness is the age up to which the latest valid fix tells
	// whether the vehicle is moving.
	MovingFreshness = 10 * time.Second
	// PositionFreshness is the age up to which the latest valid fix places
	// a door, shock or delivery event. Ages are measured between reading
	// times, in either direction (readings of different sensors may arrive
	// slightly out of order).
	PositionFreshness = 30 * time.Second
	// MinTemperatureGap is the shortest silence of a probe that makes a
	// temperature rule forget when the probe went out of range; the gap
	// is max(3×After, MinTemperatureGap).
	MinTemperatureGap = time.Minute
)

// ErrOptions is wrapped by every error New returns.
var ErrOptions = errors.New("invalid rules options")

// Options configure an [Engine]. They are plain data; the daemon fills them
// from the configuration file.
type Options struct {
	Position    Position
	Zones       []Zone
	Geofence    Geofence
	Temperature []TemperatureRule
	// ProbeNames names 1-Wire probes for temperature events: ROM code (16
	// hex digits) to name. A rule's own Name takes precedence.
	ProbeNames map[string]string
	Door       Door
	Shock      Shock
	Delivery   Delivery
}

// Position says when a valid fix becomes a position event. A zero field
// disables its trigger; the zero Position disables position events.
type Position struct {
	Interval         time.Duration // send at least this often while fixes come
	MinDistanceM     float64       // send when farther than this from the last report
	HeadingChangeDeg float64       // send when the course turns by more than this while moving; at most 180
}

// Zone is a named area.
type Zone struct {
	Name string // unique; printed in events
	Type string // ZoneLowEmission, ZoneLoadingBay, ZoneDepot or ZoneDelivery
	Area geo.MultiPolygon
}

// Geofence sets the hysteresis of zone crossings.
type Geofence struct {
	HysteresisM float64       // a fix must be this far inside (outside) to count as in (out)
	MinDwell    time.Duration // and the fixes must agree for this long
}

// TemperatureRule is an allowed range for the probes of one sensor.
type TemperatureRule struct {
	Sensor string // the sensor's name
	Probe  string // a probe's ROM code (16 hex digits), or "" for every probe of the sensor
	Name   string // the probe name printed in events; "" for Options.ProbeNames or the ROM; needs a Probe
	MinC   float64
	MaxC   float64
	After  time.Duration // outside the range this long before an excursion starts
}

// Door configures door events.
type Door struct {
	// MovingMPS is the speed above which the vehicle is moving, for door
	// events and the position heading trigger; zero means DefaultMovingMPS.
	MovingMPS float64
}

// Shock configures shock events; the zero Shock disables them.
type Shock struct {
	Sensor        string  // the accelerometer's name
	ForwardAxis   string  // x, y, z, -x, -y or -z: the sensor axis pointing where the vehicle drives; needed for HarshBrakingG
	ImpactG       float64 // |peak vector| departing from 1 g by more than this is an impact; 0 disables
	HarshBrakingG float64 // forward peak beyond ±this is harsh braking or acceleration; 0 disables
}

// Delivery configures delivery events; the zero Delivery disables them.
type Delivery struct {
	Sensor string // the tag reader's name
}

// Engine applies the rules to readings. Make one with New. It is not safe
// for concurrent use.
type Engine struct {
	// Constant after New.
	pos      Position
	movingV  float64
	fence    Geofence
	names    map[string]string
	shock    Shock
	fwd      int     // forward axis index 0..2, or −1
	fwdSign  float64 // +1 or −1
	delivery string

	// State, changed by Apply.
	zones   []zone
	temps   []tempRule
	fix     lastFix
	rep     report
	doors   map[string]*doorState
	door    string     // "open" or "closed": the latest door reading of any door, "" before one
	gravity [3]float64 // unit vector of gravity in the accelerometer's axes
	shockOn string     // the shock type of the last reading, "" when none
	shockAt time.Time  // the time of the last reading
}

// New checks opts and returns an engine with every zone unknown and no
// excursion, door or fix known. Errors wrap ErrOptions and name the field.
// New copies what it keeps: opts may change afterwards.
func New(opts Options) (*Engine, error) {
	e := &Engine{
		pos:      opts.Position,
		movingV:  opts.Door.MovingMPS,
		fence:    opts.Geofence,
		names:    make(map[string]string, len(opts.ProbeNames)),
		shock:    opts.Shock,
		fwd:      -1,
		fwdSign:  1,
		delivery: opts.Delivery.Sensor,
		doors:    make(map[string]*doorState),
	}
	p := opts.Position
	if p.Interval < 0 || !nonNeg(p.MinDistanceM) || !nonNeg(p.HeadingChangeDeg) || p.HeadingChangeDeg > 180 {
		return nil, bad("position: interval, min_distance_m and heading_change_deg must be ≥ 0, heading at most 180 (got %v, %v, %v)",
			p.Interval, p.MinDistanceM, p.HeadingChangeDeg)
	}
	if !nonNeg(opts.Door.MovingMPS) {
		return nil, bad("door: moving_mps %v must be ≥ 0", opts.Door.MovingMPS)
	}
	if e.movingV == 0 {
		e.movingV = DefaultMovingMPS
	}
	g := opts.Geofence
	if !nonNeg(g.HysteresisM) || g.MinDwell < 0 {
		return nil, bad("geofence: hysteresis_m %v and min_dwell %v must be ≥ 0", g.HysteresisM, g.MinDwell)
	}
	for i, z := range opts.Zones {
		if err := checkName(z.Name); err != nil {
			return nil, bad("zones[%d]: name: %v", i, err)
		}
		if slices.ContainsFunc(opts.Zones[:i], func(o Zone) bool { return o.Name == z.Name }) {
			return nil, bad("zones[%d]: name %q is used twice", i, z.Name)
		}
		var delivery bool
		switch z.Type {
		case ZoneLoadingBay, ZoneDepot, ZoneDelivery:
			delivery = true
		case ZoneLowEmission:
		default:
			return nil, bad("zone %q: type %q is not one of %s, %s, %s, %s",
				z.Name, z.Type, ZoneLowEmission, ZoneLoadingBay, ZoneDepot, ZoneDelivery)
		}
		if err := z.Area.Validate(); err != nil {
			return nil, fmt.Errorf("%w: zone %q: %w", ErrOptions, z.Name, err)
		}
		e.zones = append(e.zones, zone{name: z.Name, delivery: delivery, area: cloneArea(z.Area)})
	}
	for rom, name := range opts.ProbeNames {
		if !isROM(rom) {
			return nil, bad("probe names: %q is not a ROM code (16 hex digits)", rom)
		}
		if err := checkName(name); err != nil {
			return nil, bad("probe names: %s: %v", rom, err)
		}
		e.names[strings.ToLower(rom)] = name
	}
	for i, r := range opts.Temperature {
		if err := checkName(r.Sensor); err != nil {
			return nil, bad("temperature[%d]: sensor: %v", i, err)
		}
		if r.Probe != "" && !isROM(r.Probe) {
			return nil, bad("temperature[%d]: probe %q is not a ROM code (16 hex digits)", i, r.Probe)
		}
		if r.Name != "" {
			if r.Probe == "" {
				return nil, bad("temperature[%d]: name %q needs a probe (a rule for every probe prints each probe's own name)", i, r.Name)
			}
			if err := checkName(r.Name); err != nil {
				return nil, bad("temperature[%d]: name: %v", i, err)
			}
		}
		if !finite(r.MinC) || !finite(r.MaxC) || r.MinC > r.MaxC || r.MinC < -273.15 || r.MaxC > 1000 {
			return nil, bad("temperature[%d]: range [%v, %v] °C is not a range of temperatures", i, r.MinC, r.MaxC)
		}
		if r.After < 0 {
			return nil, bad("temperature[%d]: after %v must be ≥ 0", i, r.After)
		}
		r.Probe = strings.ToLower(r.Probe)
		e.temps = append(e.temps, tempRule{TemperatureRule: r,
			gap: max(3*r.After, MinTemperatureGap), probes: make(map[string]*probeState)})
	}
	if err := e.setShock(opts.Shock); err != nil {
		return nil, err
	}
	if opts.Delivery.Sensor != "" {
		if err := checkName(opts.Delivery.Sensor); err != nil {
			return nil, bad("delivery: sensor: %v", err)
		}
	}
	return e, nil
}

func (e *Engine) setShock(s Shock) error {
	if s == (Shock{}) {
		return nil
	}
	if err := checkName(s.Sensor); err != nil {
		return bad("shock: sensor: %v", err)
	}
	if !nonNeg(s.ImpactG) || !nonNeg(s.HarshBrakingG) || s.ImpactG+s.HarshBrakingG == 0 {
		return bad("shock: impact_g %v and harsh_braking_g %v must be ≥ 0 and not both 0", s.ImpactG, s.HarshBrakingG)
	}
	axis := strings.TrimPrefix(s.ForwardAxis, "-")
	switch {
	case len(axis) == 1 && axis[0] >= 'x' && axis[0] <= 'z':
		e.fwd = int(axis[0] - 'x')
		if s.ForwardAxis[0] == '-' {
			e.fwdSign = -1
		}
	case s.ForwardAxis == "" && s.HarshBrakingG == 0:
	default:
		return bad("shock: forward_axis %q is not one of x, y, z, -x, -y, -z", s.ForwardAxis)
	}
	e.gravity = [3]float64{0, 0, 1}
	if e.fwd == 2 {
		e.gravity = [3]float64{0, 1, 0}
	}
	return nil
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrOptions, fmt.Sprintf(format, args...))
}

// checkName accepts what an event payload can carry as a string.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > 1024:
		return fmt.Errorf("%d bytes, limit 1024", len(s))
	case !utf8.ValidString(s):
		return errors.New("not UTF-8")
	}
	return nil
}

func isROM(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func nonNeg(x float64) bool { return finite(x) && x >= 0 }

func cloneArea(m geo.MultiPolygon) geo.MultiPolygon {
	out := make(geo.MultiPolygon, len(m))
	for i, p := range m {
		out[i].Rings = make([][][2]float64, len(p.Rings))
		for j, r := range p.Rings {
			out[i].Rings[j] = slices.Clone(r)
		}
	}
	return out
}

// Apply feeds one reading to the rules and returns the events it causes, in
// order, or nil. Each event has only Kind and Payload set.
func (e *Engine) Apply(r sensor.Reading) []event.Event {
	var out []event.Event
	switch v := r.Value.(type) {
	case sensor.Fix:
		out = e.onFix(out, r.Time, v)
	case *sensor.Fix:
		if v != nil {
			out = e.onFix(out, r.Time, *v)
		}
	case sensor.Temperature:
		out = e.onTemperature(out, r.Sensor, r.Time, v)
	case *sensor.Temperature:
		if v != nil {
			out = e.onTemperature(out, r.Sensor, r.Time, *v)
		}
	case sensor.Door:
		out = e.onDoor(out, r.Sensor, r.Time, v)
	case *sensor.Door:
		if v != nil {
			out = e.onDoor(out, r.Sensor, r.Time, *v)
		}
	case sensor.Motion:
		out = e.onMotion(out, r.Sensor, r.Time, v)
	case *sensor.Motion:
		if v != nil {
			out = e.onMotion(out, r.Sensor, r.Time, *v)
		}
	case sensor.Tag:
		out = e.onTag(out, r.Sensor, r.Time, v)
	case *sensor.Tag:
		if v != nil {
			out = e.onTag(out, r.Sensor, r.Time, *v)
		}
	}
	// sensor.Env, sensor.Weight and anything else: no events.
	return out
}

// emit appends the event with payload p to out, unless p does not satisfy
// its kind's schema.
func emit(out []event.Event, p event.Payload) []event.Event {
	ev, err := event.New(p)
	if err != nil {
		return out
	}
	return append(out, ev)
}

// round returns x rounded to the given number of decimals, and whether it
// is finite. Dividing an integer by an exact power of ten gives the double
// nearest to the decimal, whose shortest form (RFC 8785 §3.2.2.3) is that
// decimal.
func round(x float64, decimals int) (float64, bool) {
	s := math.Pow10(decimals)
	r := math.Round(x*s) / s
	if !finite(r) {
		return 0, false
	}
	if r == 0 {
		r = 0 // no −0
	}
	return r, true
}

// num returns x rounded, if it is finite and in [lo, hi], or nil: a
// payload member left out.
func num(x float64, decimals int, lo, hi float64) *float64 {
	if r, ok := round(x, decimals); ok && r >= lo && r <= hi {
		return &r
	}
	return nil
}

// point returns the latitude and longitude of pt rounded to 7 decimals
// (about 1 cm).
func point(pt geo.Point) (lat, lon *float64) {
	return num(pt.Lat, 7, -90, 90), num(pt.Lon, 7, -180, 180)
}
