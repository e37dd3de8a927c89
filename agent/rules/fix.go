package rules

import (
	"math"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// lastFix is the latest valid fix.
type lastFix struct {
	ok       bool
	t        time.Time // reading time
	p        geo.Point
	speed    float64
	hasSpeed bool
}

// report is the last position event sent.
type report struct {
	ok      bool
	t       time.Time
	p       geo.Point
	course  float64
	heading bool // the report was made while moving, with a course
}

type zoneState uint8

const (
	unknown zoneState = iota // at start; as a pending state: none
	inside
	outside
)

type zone struct {
	name     string
	delivery bool // type loading_bay, delivery or depot
	area     geo.MultiPolygon
	state    zoneState
	pending  zoneState // the state the fixes have agreed on since `since`, or unknown
	since    time.Time
}

func (e *Engine) onFix(out []event.Event, t time.Time, f sensor.Fix) []event.Event {
	p := geo.Point{Lat: f.Lat, Lon: f.Lon}
	if !f.Valid || !p.Valid() {
		return out // a dropout holds every state
	}
	e.fix = lastFix{ok: true, t: t, p: p}
	if f.SpeedMPS != nil && nonNeg(*f.SpeedMPS) {
		e.fix.speed, e.fix.hasSpeed = *f.SpeedMPS, true
	}
	out = e.position(out, t, f, p)
	return e.geofence(out, t, p)
}

// position sends a position event if one of the triggers of Position fires.
func (e *Engine) position(out []event.Event, t time.Time, f sensor.Fix, p geo.Point) []event.Event {
	if e.pos == (Position{}) {
		return out
	}
	course, hasCourse := 0.0, f.CourseDeg != nil && finite(*f.CourseDeg)
	if hasCourse {
		course = math.Mod(*f.CourseDeg, 360)
		if course < 0 {
			course += 360
		}
	}
	moving := e.fix.hasSpeed && e.fix.speed > e.movingV
	send := !e.rep.ok
	if !send && e.pos.Interval > 0 {
		// A reading time before the last report means the clock stepped
		// back: report, and count from here.
		el := t.Sub(e.rep.t)
		send = el >= e.pos.Interval || el < 0
	}
	if !send && e.pos.MinDistanceM > 0 {
		send = geo.Distance(e.rep.p, p) > e.pos.MinDistanceM
	}
	if !send && e.pos.HeadingChangeDeg > 0 && moving && hasCourse && e.rep.heading {
		send = geo.AngleBetween(course, e.rep.course) > e.pos.HeadingChangeDeg
	}
	if !send {
		return out
	}
	e.rep = report{ok: true, t: t, p: p, course: course, heading: moving && hasCourse}

	lat, lon := point(p)
	if lat == nil || lon == nil {
		return out
	}
	pl := event.Position{Lat: *lat, Lon: *lon}
	if f.AltM != nil {
		pl.AltM = num(*f.AltM, 1, -1e6, 1e6)
	}
	if e.fix.hasSpeed {
		pl.SpeedMPS = num(e.fix.speed, 2, 0, 1000)
	}
	if hasCourse {
		if c, _ := round(course, 1); c >= 360 {
			course = 0
		}
		pl.CourseDeg = num(course, 1, 0, 360)
	}
	if f.HDOP != nil {
		pl.HDOP = num(*f.HDOP, 2, 0, 100)
	}
	if f.Sats != nil && *f.Sats >= 0 && *f.Sats <= 255 {
		n := int64(*f.Sats)
		pl.Sats = &n
	}
	return emit(out, pl)
}

// geofence moves each zone's state on a valid fix.
func (e *Engine) geofence(out []event.Event, t time.Time, p geo.Point) []event.Event {
	h := e.fence.HysteresisM
	for i := range e.zones {
		z := &e.zones[i]
		d := z.area.SignedDistance(p)
		s := unknown // within the hysteresis band (or NaN): no say
		switch {
		case d < 0 && -d >= h:
			s = inside
		case d > 0 && d >= h:
			s = outside
		}
		if s == unknown || s == z.state {
			z.pending = unknown
			continue
		}
		if s != z.pending || t.Before(z.since) {
			z.pending, z.since = s, t
		}
		if t.Sub(z.since) < e.fence.MinDwell {
			continue
		}
		prev := z.state
		z.state, z.pending = s, unknown
		lat, lon := point(p)
		var pl event.Payload = event.ZoneEntered{Zone: z.name, Lat: lat, Lon: lon}
		if s == outside {
			if prev != inside {
				continue // unknown to outside: nothing to report
			}
			pl = event.ZoneLeft{Zone: z.name, Lat: lat, Lon: lon}
		}
		out = emit(out, pl)
	}
	return out
}

// deliveryZone returns the first zone of a delivery type (loading bay,
// delivery, depot) the device is settled inside, or "".
func (e *Engine) deliveryZone() string {
	for i := range e.zones {
		if z := &e.zones[i]; z.delivery && z.state == inside {
			return z.name
		}
	}
	return ""
}

// fixContext is what the latest valid fix says about an event: nil where
// it says nothing.
type fixContext struct {
	moving   *bool
	lat, lon *float64
}

// context returns what the latest valid fix says at time t: whether the
// vehicle is moving (when asked) if the fix is at most MovingFreshness old
// and has a speed, where it is if the fix is at most PositionFreshness old.
func (e *Engine) context(t time.Time, moving bool) fixContext {
	var c fixContext
	if !e.fix.ok {
		return c
	}
	age := absDur(t.Sub(e.fix.t))
	if moving && age <= MovingFreshness && e.fix.hasSpeed {
		m := e.fix.speed > e.movingV
		c.moving = &m
	}
	if age <= PositionFreshness {
		c.lat, c.lon = point(e.fix.p)
	}
	return c
}

// absDur returns |d|, saturating.
func absDur(d time.Duration) time.Duration {
	if d < 0 {
		d = -d
		if d < 0 { // −minDuration
			d = math.MaxInt64
		}
	}
	return d
}
