package rules

import (
	"math"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Thresholds of a reading at rest, which tells gravity's direction.
const (
	restTolG = 0.1 // |p| within this of 1 g
	restMinG = 0.9 // and one axis carrying at least this much
)

// ShockEpisodeGap is the longest gap between two readings over the same
// shock threshold for them to be one episode, and one event.
const ShockEpisodeGap = 2 * time.Second

var axisNames = [3]string{"x", "y", "z"}

func (e *Engine) onMotion(out []event.Event, name string, t time.Time, v sensor.Motion) []event.Event {
	if e.shock.Sensor == "" || name != e.shock.Sensor || v.Samples <= 0 {
		return out
	}
	p := [3]float64{float64(v.X) / 1000, float64(v.Y) / 1000, float64(v.Z) / 1000}
	m := math.Sqrt(p[0]*p[0] + p[1]*p[1] + p[2]*p[2])
	e.learnGravity(p, m)
	typ, axis, g := e.classify(p, m)
	// One event per episode: readings in a row (each within ShockEpisodeGap
	// of the last) that exceed the same threshold are one braking or one
	// impact, however many sampling windows it spans.
	same := typ != "" && typ == e.shockOn && t.Sub(e.shockAt) <= ShockEpisodeGap && !t.Before(e.shockAt)
	e.shockOn, e.shockAt = typ, t
	if typ == "" || same {
		return out
	}
	return e.emitShock(out, t, typ, axis, g)
}

// classify returns the shock a reading shows, if any: its type, axis and
// the g compared with the threshold.
func (e *Engine) classify(p [3]float64, m float64) (typ, axis string, g float64) {
	if dev := m - 1; e.shock.ImpactG > 0 && math.Abs(dev) > e.shock.ImpactG {
		typ := event.ShockImpact
		if dev < 0 {
			typ = event.ShockDrop
		}
		// The axis whose peak departs most from gravity's share of it.
		a, most := 0, -1.0
		for i := range p {
			if d := math.Abs(p[i] - e.gravity[i]); d > most {
				a, most = i, d
			}
		}
		return typ, axisNames[a], math.Abs(dev)
	}
	if h := e.shock.HarshBrakingG; h > 0 && e.fwd >= 0 {
		switch f := e.fwdSign * p[e.fwd]; {
		case f < -h:
			return event.ShockHarshBraking, axisNames[e.fwd], -f
		case f > h:
			return event.ShockHarshAcceleration, axisNames[e.fwd], f
		}
	}
	return "", "", 0
}

// learnGravity takes gravity's direction from a reading at rest: |p| close
// to 1 g with one axis carrying nearly all of it.
func (e *Engine) learnGravity(p [3]float64, m float64) {
	if math.Abs(m-1) > restTolG {
		return
	}
	axis := 0
	for i := range p {
		if math.Abs(p[i]) > math.Abs(p[axis]) {
			axis = i
		}
	}
	if math.Abs(p[axis]) < restMinG || axis == e.fwd {
		return
	}
	e.gravity = [3]float64{}
	e.gravity[axis] = math.Copysign(1, p[axis])
}

func (e *Engine) emitShock(out []event.Event, t time.Time, typ, axis string, g float64) []event.Event {
	peak := num(g, 2, 0, 1000)
	if peak == nil {
		return out
	}
	c := e.context(t, false)
	return emit(out, event.Shock{G: *peak, Type: typ, Axis: axis, Lat: c.lat, Lon: c.lon})
}
