package rules

import (
	"strings"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// tempRule is a TemperatureRule with the state of each probe it watches.
type tempRule struct {
	TemperatureRule               // Probe in lowercase
	gap             time.Duration // max(3×After, MinTemperatureGap)
	probes          map[string]*probeState
}

type probeState struct {
	seen     time.Time // the probe's latest reading
	out      bool      // readings have been outside the range since outSince
	outSince time.Time
	active   bool // an excursion has started and not ended
}

func (e *Engine) onTemperature(out []event.Event, name string, t time.Time, v sensor.Temperature) []event.Event {
	c := v.T.Celsius()
	if !(c >= -273.15 && c <= 1000) {
		return out // no chip reports this
	}
	rom := strings.ToLower(v.Probe)
	for i := range e.temps {
		r := &e.temps[i]
		if r.Sensor != name || (r.Probe != "" && r.Probe != rom) {
			continue
		}
		st := r.probes[rom]
		if st == nil {
			st = &probeState{}
			r.probes[rom] = st
		}
		label := r.Name
		if label == "" {
			label = e.names[rom]
		}
		if label == "" {
			label = v.Probe
		}
		out = r.apply(out, st, t, c, label)
	}
	return out
}

func (r *tempRule) apply(out []event.Event, st *probeState, t time.Time, c float64, label string) []event.Event {
	if st.out && !st.active && (t.Sub(st.seen) > r.gap || t.Before(st.outSince)) {
		// A silence longer than the gap, or a clock stepped back: whether
		// the probe stayed outside in between is unknown.
		st.out = false
	}
	st.seen = t
	if c >= r.MinC && c <= r.MaxC {
		if st.active {
			out = r.emit(out, event.ExcursionEnd, c, label, t.Sub(st.outSince))
		}
		st.out, st.active = false, false
		return out
	}
	if st.active {
		return out
	}
	if !st.out {
		st.out, st.outSince = true, t
	}
	if d := t.Sub(st.outSince); d >= r.After {
		st.active = true
		out = r.emit(out, event.ExcursionStart, c, label, d)
	}
	return out
}

func (r *tempRule) emit(out []event.Event, state string, c float64, label string, d time.Duration) []event.Event {
	celsius := num(c, 4, -273.15, 1000)
	if celsius == nil {
		return out
	}
	return emit(out, event.TemperatureExcursion{Probe: label, State: state, Celsius: *celsius,
		MinC:      num(r.MinC, 4, -273.15, 1000),
		MaxC:      num(r.MaxC, 4, -273.15, 1000),
		DurationS: num(min(max(d.Seconds(), 0), 1e9), 3, 0, 1e9)})
}
