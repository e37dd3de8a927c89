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

var axisNames = [3]string{"x", "y", "z"}

func (e *Engine) onMotion(out []event.Event, name string, t time.Time, v sensor.Motion) []event.Event {
	if e.shock.Sensor == "" || name != e.shock.Sensor || v.Samples <= 0 {
		return out
	}
	p := [3]float64{float64(v.X) / 1000, float64(v.Y) / 1000, float64(v.Z) / 1000}
	m := math.Sqrt(p[0]*p[0] + p[1]*p[1] + p[2]*p[2])
	e.learnGravity(p, m)

	if dev := m - 1; e.shock.ImpactG > 0 && math.Abs(dev) > e.shock.ImpactG {
		typ := "impact"
		if dev < 0 {
			typ = "drop"
		}
		// The axis whose peak departs most from gravity's share of it.
		axis, most := 0, -1.0
		for i := range p {
			if d := math.Abs(p[i] - e.gravity[i]); d > most {
				axis, most = i, d
			}
		}
		return e.emitShock(out, t, typ, axisNames[axis], math.Abs(dev))
	}
	if h := e.shock.HarshBrakingG; h > 0 && e.fwd >= 0 {
		switch f := e.fwdSign * p[e.fwd]; {
		case f < -h:
			return e.emitShock(out, t, "harsh_braking", axisNames[e.fwd], -f)
		case f > h:
			return e.emitShock(out, t, "harsh_acceleration", axisNames[e.fwd], f)
		}
	}
	return out
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
	pl := payload{"type": typ, "axis": axis}
	pl.put("g", g, 2, 0, 1000)
	e.putContext(pl, t, false)
	return emit(out, "shock", pl)
}
