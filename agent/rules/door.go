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
	c := e.context(t, true)
	var outside *bool
	if len(e.zones) > 0 && e.fix.ok {
		o := e.deliveryZone() == ""
		outside = &o
	}
	if v.Open {
		return emit(out, event.DoorOpened{Door: name, Moving: c.moving, OutsideZone: outside, Lat: c.lat, Lon: c.lon})
	}
	var openMS *int64
	if ms := at.Sub(openedAt).Milliseconds(); wasOpen && ms >= 0 && ms <= event.MaxSeq {
		openMS = &ms
	}
	return emit(out, event.DoorClosed{Door: name, OpenMS: openMS, Moving: c.moving, OutsideZone: outside, Lat: c.lat, Lon: c.lon})
}

func (e *Engine) onTag(out []event.Event, name string, t time.Time, v sensor.Tag) []event.Event {
	if e.delivery == "" || name != e.delivery || len(v.UID) == 0 {
		return out
	}
	c := e.context(t, false)
	return emit(out, event.Delivery{Parcel: v.UIDHex(), Proof: "scan", Zone: e.deliveryZone(), Door: e.door, Lat: c.lat, Lon: c.lon})
}
