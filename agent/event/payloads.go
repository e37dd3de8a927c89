package event

import "github.com/waybill-eu/waybill/agent/jcs"

// Payload is the payload of a registered kind as a Go value: one of the
// types below, whose JSON members are the fields of its kind's schema
// (firmware-docs/PROTOCOL.md §3). A field that is a pointer, or carries
// omitempty, is optional and left out when nil or empty.
type Payload interface {
	// Kind returns the kind whose payload this is.
	Kind() Kind
	isPayload()
}

// New returns the event of p's kind with the canonical JSON (RFC 8785) of
// p as its payload. Only Kind and Payload are set. The error wraps
// ErrInvalid when p does not satisfy its kind's schema: a value out of
// range, a string not one of the allowed values or longer than MaxString.
func New(p Payload) (Event, error) {
	b, err := jcs.Marshal(p)
	if err != nil {
		return Event{}, invalid("payload of %s: %v", p.Kind(), err)
	}
	if len(b) > MaxPayload {
		return Event{}, invalid("payload is %d bytes, limit %d", len(b), MaxPayload)
	}
	if err := p.Kind().check(b); err != nil {
		return Event{}, err
	}
	return Event{Kind: p.Kind(), Payload: b}, nil
}

// Delivery is the payload of a delivery event: a parcel handed over.
type Delivery struct {
	Parcel string   `json:"parcel"`          // tag UID as hex, or a label code
	Lat    *float64 `json:"lat,omitempty"`   // WGS84 degrees, when known
	Lon    *float64 `json:"lon,omitempty"`   // WGS84 degrees, when known
	Zone   string   `json:"zone,omitempty"`  // the delivery zone the device was in
	Door   string   `json:"door,omitempty"`  // open or closed: the cargo door at the scan
	Proof  string   `json:"proof,omitempty"` // scan, signature, photo, pin or none
}

// Position is the payload of a position event: a fix.
type Position struct {
	Lat       float64  `json:"lat"`                  // WGS84 degrees
	Lon       float64  `json:"lon"`                  // WGS84 degrees
	AltM      *float64 `json:"alt_m,omitempty"`      // above mean sea level, metres
	SpeedMPS  *float64 `json:"speed_mps,omitempty"`  // ground speed, 0..1000 m/s
	CourseDeg *float64 `json:"course_deg,omitempty"` // course over ground, 0..360 degrees true
	HDOP      *float64 `json:"hdop,omitempty"`       // horizontal dilution of precision, 0..100
	Sats      *int64   `json:"sats,omitempty"`       // satellites used, 0..255
}

// ZoneEntered is the payload of a zone_entered event.
type ZoneEntered struct {
	Zone string   `json:"zone"`          // the zone's name in the configuration
	Lat  *float64 `json:"lat,omitempty"` // WGS84 degrees, when known
	Lon  *float64 `json:"lon,omitempty"` // WGS84 degrees, when known
}

// ZoneLeft is the payload of a zone_left event.
type ZoneLeft struct {
	Zone string   `json:"zone"`          // the zone's name in the configuration
	Lat  *float64 `json:"lat,omitempty"` // WGS84 degrees, when known
	Lon  *float64 `json:"lon,omitempty"` // WGS84 degrees, when known
}

// DoorOpened is the payload of a door_opened event.
type DoorOpened struct {
	Door        string   `json:"door"`                   // the door's name
	Moving      *bool    `json:"moving,omitempty"`       // whether the vehicle was moving, when known
	OutsideZone *bool    `json:"outside_zone,omitempty"` // whether it was outside every delivery zone, when known
	Lat         *float64 `json:"lat,omitempty"`          // WGS84 degrees, when known
	Lon         *float64 `json:"lon,omitempty"`          // WGS84 degrees, when known
}

// DoorClosed is the payload of a door_closed event.
type DoorClosed struct {
	Door        string   `json:"door"`                   // the door's name
	OpenMS      *int64   `json:"open_ms,omitempty"`      // how long it was open, when known
	Moving      *bool    `json:"moving,omitempty"`       // whether the vehicle was moving, when known
	OutsideZone *bool    `json:"outside_zone,omitempty"` // whether it was outside every delivery zone, when known
	Lat         *float64 `json:"lat,omitempty"`          // WGS84 degrees, when known
	Lon         *float64 `json:"lon,omitempty"`          // WGS84 degrees, when known
}

// The states of a temperature excursion.
const (
	ExcursionStart = "start"
	ExcursionEnd   = "end"
)

// TemperatureExcursion is the payload of a temperature_excursion event.
type TemperatureExcursion struct {
	Probe     string   `json:"probe"`                // ROM code as hex, or the probe's name
	State     string   `json:"state"`                // ExcursionStart or ExcursionEnd
	Celsius   float64  `json:"celsius"`              // the temperature now
	MinC      *float64 `json:"min_c,omitempty"`      // lower bound of the allowed range
	MaxC      *float64 `json:"max_c,omitempty"`      // upper bound of the allowed range
	DurationS *float64 `json:"duration_s,omitempty"` // time outside the range so far, 0..1e9 s
}

// The types of a shock.
const (
	ShockImpact            = "impact"
	ShockDrop              = "drop"
	ShockHarshBraking      = "harsh_braking"
	ShockHarshAcceleration = "harsh_acceleration"
)

// Shock is the payload of a shock event.
type Shock struct {
	G    float64  `json:"g"`              // peak acceleration, 0..1000 g
	Axis string   `json:"axis,omitempty"` // x, y or z: the dominant axis
	Type string   `json:"type,omitempty"` // one of the Shock type constants
	Lat  *float64 `json:"lat,omitempty"`  // WGS84 degrees, when known
	Lon  *float64 `json:"lon,omitempty"`  // WGS84 degrees, when known
}

// SensorFault is the payload of a sensor_fault event. Text the device did
// not choose, such as Error, is best passed through Text.
type SensorFault struct {
	Sensor string `json:"sensor"`         // the sensor's name in the configuration
	Step   string `json:"step,omitempty"` // the driver step that failed
	Error  string `json:"error"`          // the error text
	Count  int64  `json:"count"`          // faults since the last sensor_fault event for this sensor
}

// Manual is the payload of a manual event: an operator's note.
type Manual struct {
	Note string `json:"note"`
	By   string `json:"by,omitempty"` // who entered it
}

// EventsRefused is the payload of an events_refused event.
type EventsRefused struct {
	Count  int64  `json:"count"`   // events refused, at least 1
	Kinds  string `json:"kinds"`   // "kind count" pairs sorted by kind, joined by ", "
	Reason string `json:"reason"`  // budget or disk_full
	FromMS int64  `json:"from_ms"` // device time of the first refusal, Unix ms
	ToMS   int64  `json:"to_ms"`   // device time of the last refusal, Unix ms
}

// ClockSynced is the payload of a clock_synced event.
type ClockSynced struct {
	From   TimeSource `json:"from"`              // the previous source
	To     TimeSource `json:"to"`                // the new source
	StepMS *int64     `json:"step_ms,omitempty"` // how far the clock moved, when known
}

// Kind returns KindDelivery.
func (Delivery) Kind() Kind { return KindDelivery }

// Kind returns KindPosition.
func (Position) Kind() Kind { return KindPosition }

// Kind returns KindZoneEntered.
func (ZoneEntered) Kind() Kind { return KindZoneEntered }

// Kind returns KindZoneLeft.
func (ZoneLeft) Kind() Kind { return KindZoneLeft }

// Kind returns KindDoorOpened.
func (DoorOpened) Kind() Kind { return KindDoorOpened }

// Kind returns KindDoorClosed.
func (DoorClosed) Kind() Kind { return KindDoorClosed }

// Kind returns KindTemperatureExcursion.
func (TemperatureExcursion) Kind() Kind { return KindTemperatureExcursion }

// Kind returns KindShock.
func (Shock) Kind() Kind { return KindShock }

// Kind returns KindSensorFault.
func (SensorFault) Kind() Kind { return KindSensorFault }

// Kind returns KindManual.
func (Manual) Kind() Kind { return KindManual }

// Kind returns KindEventsRefused.
func (EventsRefused) Kind() Kind { return KindEventsRefused }

// Kind returns KindClockSynced.
func (ClockSynced) Kind() Kind { return KindClockSynced }

func (Delivery) isPayload()             {}
func (Position) isPayload()             {}
func (ZoneEntered) isPayload()          {}
func (ZoneLeft) isPayload()             {}
func (DoorOpened) isPayload()           {}
func (DoorClosed) isPayload()           {}
func (TemperatureExcursion) isPayload() {}
func (Shock) isPayload()                {}
func (SensorFault) isPayload()          {}
func (Manual) isPayload()               {}
func (EventsRefused) isPayload()        {}
func (ClockSynced) isPayload()          {}
