package rules

import (
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

type doorState struct {
	open  bool
	since time.Time // when the current state began
}

func (e *Engine) onDoor(out []event.Event, name string, t time.Time, v sensor.Door) []event.Event {
	at := v.At
	if at.IsZero() {
		at = t
	}
	e.door = "closed"
	if v.Open {
		e.door = "open"
	}
	d, known := e.doors[name]
	if known && d.open == v.Open {
		return out // the same state reported again
	}
	if !known {
		if e.doors == nil {
			e.doors = make(map[string]*doorState)
		}
		d = &doorState{}
		e.doors[name] = d
	}
	wasOpen, openedAt := known && d.open, d.since
	d.open, d.since = v.Open, at
	if !known && !v.Open {
		return out // closed at start-up: nothing happened
	}
	pl := payload{"door": name}
	e.putContext(pl, t, true)
	if len(e.zones) > 0 && e.fix.ok {
		pl["outside_zone"] = e.deliveryZone() == ""
	}
	if v.Open {
		return emit(out, "door_opened", pl)
	}
	if ms := at.Sub(openedAt).Milliseconds(); wasOpen && ms >= 0 && ms <= event.MaxSeq {
		pl["open_ms"] = ms
	}
	return emit(out, "door_closed", pl)
}

func (e *Engine) onTag(out []event.Event, name string, t time.Time, v sensor.Tag) []event.Event {
	if e.delivery == "" || name != e.delivery || len(v.UID) == 0 {
		return out
	}
	pl := payload{"parcel": v.UIDHex(), "proof": "scan"}
	if z := e.deliveryZone(); z != "" {
		pl["zone"] = z
	}
	if e.door != "" {
		pl["door"] = e.door
	}
	e.putContext(pl, t, false)
	return emit(out, "delivery", pl)
}
