package event

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// FieldType is the JSON type a payload field must have.
type FieldType string

// The payload field types.
const (
	TString  FieldType = "string"
	TNumber  FieldType = "number"
	TInteger FieldType = "integer" // a number with no fractional part, |n| ≤ 2^53−1
	TBool    FieldType = "boolean"
)

// Field describes one payload member.
type Field struct {
	Type     FieldType
	Required bool
	Enum     []string // for strings: the allowed values, if restricted
	Min, Max float64  // for numbers: the inclusive range, when Min < Max
	Doc      string   // one line for the specification
}

// Schema is a kind's payload: its fields by name. Members not listed are
// refused unless their name begins with "x_".
type Schema struct {
	Doc    string
	Fields map[string]Field
}

var (
	lat      = Field{Type: TNumber, Required: true, Min: -90, Max: 90, Doc: "WGS84 latitude, degrees"}
	lon      = Field{Type: TNumber, Required: true, Min: -180, Max: 180, Doc: "WGS84 longitude, degrees"}
	optLat   = Field{Type: TNumber, Min: -90, Max: 90, Doc: "WGS84 latitude, degrees, when known"}
	optLon   = Field{Type: TNumber, Min: -180, Max: 180, Doc: "WGS84 longitude, degrees, when known"}
	zoneName = Field{Type: TString, Required: true, Doc: "zone identifier from the device configuration"}
)

// The registered kinds (firmware-docs/PROTOCOL.md §3). Each has a payload
// type in payloads.go whose JSON members are its schema's fields.
const (
	KindDelivery             Kind = "delivery"
	KindPosition             Kind = "position"
	KindZoneEntered          Kind = "zone_entered"
	KindZoneLeft             Kind = "zone_left"
	KindDoorOpened           Kind = "door_opened"
	KindDoorClosed           Kind = "door_closed"
	KindTemperatureExcursion Kind = "temperature_excursion"
	KindShock                Kind = "shock"
	KindSensorFault          Kind = "sensor_fault"
	KindManual               Kind = "manual"
	KindEventsRefused        Kind = "events_refused"
	KindClockSynced          Kind = "clock_synced"
)

// registry holds the registered kinds and their payload schemas, as
// specified in firmware-docs/PROTOCOL.md §3. New kinds are added here, in
// payloads.go and there together. It is never changed: Lookup hands out
// copies.
var registry = map[Kind]Schema{
	KindDelivery: {Doc: "a parcel handed over (tag scanned at the drop)", Fields: map[string]Field{
		"parcel": {Type: TString, Required: true, Doc: "parcel identifier (tag UID as hex, or a label code)"},
		"lat":    optLat, "lon": optLon,
		"zone":  {Type: TString, Doc: "delivery zone the device was in"},
		"door":  {Type: TString, Enum: []string{"open", "closed"}, Doc: "cargo door state at the scan"},
		"proof": {Type: TString, Enum: []string{"scan", "signature", "photo", "pin", "none"}, Doc: "how the handover was confirmed"},
	}},
	KindPosition: {Doc: "a position fix, sent at an interval or on significant change", Fields: map[string]Field{
		"lat": lat, "lon": lon,
		"alt_m":      {Type: TNumber, Doc: "altitude above mean sea level, metres"},
		"speed_mps":  {Type: TNumber, Min: 0, Max: 1000, Doc: "ground speed, m/s"},
		"course_deg": {Type: TNumber, Min: 0, Max: 360, Doc: "course over ground, degrees true"},
		"hdop":       {Type: TNumber, Min: 0, Max: 100, Doc: "horizontal dilution of precision"},
		"sats":       {Type: TInteger, Min: 0, Max: 255, Doc: "satellites used"},
	}},
	KindZoneEntered: {Doc: "the device entered a configured zone", Fields: map[string]Field{"zone": zoneName, "lat": optLat, "lon": optLon}},
	KindZoneLeft:    {Doc: "the device left a configured zone", Fields: map[string]Field{"zone": zoneName, "lat": optLat, "lon": optLon}},
	KindDoorOpened: {Doc: "a cargo door opened", Fields: map[string]Field{
		"door":         {Type: TString, Required: true, Doc: "door identifier"},
		"moving":       {Type: TBool, Doc: "true when the vehicle was moving"},
		"outside_zone": {Type: TBool, Doc: "true when outside every delivery zone"},
		"lat":          optLat, "lon": optLon,
	}},
	KindDoorClosed: {Doc: "a cargo door closed", Fields: map[string]Field{
		"door":    {Type: TString, Required: true, Doc: "door identifier"},
		"open_ms": {Type: TInteger, Min: 0, Max: MaxSeq, Doc: "how long it was open, ms"},
		"lat":     optLat, "lon": optLon,
		"moving":       {Type: TBool, Doc: "true when the vehicle was moving"},
		"outside_zone": {Type: TBool, Doc: "true when outside every delivery zone"},
	}},
	KindTemperatureExcursion: {Doc: "a probe outside its range for longer than allowed (start), or back in range (end)", Fields: map[string]Field{
		"probe":      {Type: TString, Required: true, Doc: "probe identifier (1-Wire ROM code as hex, or a name)"},
		"state":      {Type: TString, Required: true, Enum: []string{"start", "end"}, Doc: "start or end of the excursion"},
		"celsius":    {Type: TNumber, Required: true, Min: -273.15, Max: 1000, Doc: "temperature at this moment, °C"},
		"min_c":      {Type: TNumber, Doc: "lower bound of the allowed range, °C"},
		"max_c":      {Type: TNumber, Doc: "upper bound of the allowed range, °C"},
		"duration_s": {Type: TNumber, Min: 0, Max: 1e9, Doc: "time outside the range so far, seconds"},
	}},
	KindShock: {Doc: "a shock or harsh-braking event", Fields: map[string]Field{
		"g":    {Type: TNumber, Required: true, Min: 0, Max: 1000, Doc: "peak acceleration, g"},
		"axis": {Type: TString, Enum: []string{"x", "y", "z"}, Doc: "dominant axis"},
		"type": {Type: TString, Enum: []string{"impact", "harsh_braking", "harsh_acceleration", "drop"}, Doc: "classification"},
		"lat":  optLat, "lon": optLon,
	}},
	KindSensorFault: {Doc: "a sensor failed, rate-limited per sensor", Fields: map[string]Field{
		"sensor": {Type: TString, Required: true, Doc: "sensor name from the configuration"},
		"step":   {Type: TString, Doc: "the driver step that failed"},
		"error":  {Type: TString, Required: true, Doc: "the error text"},
		"count":  {Type: TInteger, Min: 0, Max: MaxSeq, Doc: "faults since the last sensor_fault event for this sensor"},
	}},
	KindManual: {Doc: "an operator's note", Fields: map[string]Field{
		"note": {Type: TString, Required: true, Doc: "free text"},
		"by":   {Type: TString, Doc: "who entered it"},
	}},
	KindEventsRefused: {Doc: "the device refused new events because its log reached its disk budget (or the disk its floor) with nothing it could prune; appended once events are accepted again", Fields: map[string]Field{
		"count":   {Type: TInteger, Required: true, Min: 1, Max: MaxSeq, Doc: "events refused"},
		"kinds":   {Type: TString, Required: true, Doc: `refused events by kind: "kind count" pairs sorted by kind, joined by ", "`},
		"reason":  {Type: TString, Required: true, Enum: []string{"budget", "disk_full"}, Doc: "budget: the configured budget with nothing prunable; disk_full: the hard limit or the filesystem's free-space floor"},
		"from_ms": {Type: TInteger, Required: true, Min: 0, Max: MaxSeq, Doc: "device time of the first refusal, Unix ms"},
		"to_ms":   {Type: TInteger, Required: true, Min: 0, Max: MaxSeq, Doc: "device time of the last refusal, Unix ms"},
	}},
	KindClockSynced: {Doc: "the device clock changed source (for example unsynced to gnss)", Fields: map[string]Field{
		"from":    {Type: TString, Required: true, Enum: []string{"gnss", "ntp", "rtc", "unsynced"}, Doc: "previous source"},
		"to":      {Type: TString, Required: true, Enum: []string{"gnss", "ntp", "rtc", "unsynced"}, Doc: "new source"},
		"step_ms": {Type: TInteger, Min: -MaxSeq, Max: MaxSeq, Doc: "how far the clock moved, ms"},
	}},
}

// KnownKinds returns the registered kinds, sorted.
func KnownKinds() []Kind {
	kinds := make([]Kind, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Lookup returns the payload schema of the registered kind k, and whether
// k is registered. The schema is a copy: changing it changes no other.
func Lookup(k Kind) (Schema, bool) {
	s, ok := registry[k]
	if !ok {
		return Schema{}, false
	}
	fields := make(map[string]Field, len(s.Fields))
	for name, f := range s.Fields {
		f.Enum = slices.Clone(f.Enum)
		fields[name] = f
	}
	return Schema{Doc: s.Doc, Fields: fields}, true
}

// kindList is the registered kinds joined by ", ", for messages.
func kindList() string {
	var b strings.Builder
	for i, k := range KnownKinds() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

// check validates a canonical payload against k's schema. The payload has
// already passed jcs.IsCanonical, so it is well-formed JSON in canonical
// form and a plain scan finds its members.
func (k Kind) check(payload []byte) error {
	if !kindRE.MatchString(string(k)) {
		return invalid("kind %q is not a valid name (lowercase letters, digits and _)", k)
	}
	if len(payload) < 2 || payload[0] != '{' {
		return invalid("payload of %s is not a JSON object", k)
	}
	schema, known := registry[k]
	if !known && !strings.HasPrefix(string(k), "x_") {
		return invalid("unknown kind %q (known: %s; extensions start with x_)", k, kindList())
	}
	seen := 0
	err := members(payload, func(name string, v []byte) error {
		if !known {
			return nil
		}
		f, ok := schema.Fields[name]
		if !ok {
			if strings.HasPrefix(name, "x_") {
				return nil
			}
			for n := range schema.Fields {
				if strings.EqualFold(n, name) {
					return invalid("payload of %s has unknown field %q: field names are case-sensitive (did you mean %q?)", k, name, n)
				}
			}
			return invalid("payload of %s has unknown field %q (extension fields start with x_)", k, name)
		}
		seen++
		if err := f.check(v); err != nil {
			return invalid("payload of %s: field %q: %v", k, name, err)
		}
		return nil
	})
	if err != nil || !known {
		return err
	}
	if seen < len(schema.Fields) {
		for name, f := range schema.Fields {
			if f.Required && !hasMember(payload, name) {
				return invalid("payload of %s lacks required field %q", k, name)
			}
		}
	}
	return nil
}

func hasMember(obj []byte, name string) bool {
	found := false
	members(obj, func(n string, _ []byte) error {
		found = found || n == name
		return nil
	})
	return found
}

// members calls fn with the name and raw value of each member of the
// canonical JSON object obj, in order, and stops at fn's first error.
func members(obj []byte, fn func(name string, v []byte) error) error {
	i := 1
	for i < len(obj) && obj[i] != '}' {
		end := scanString(obj, i)
		raw := obj[i:end]
		name := string(raw[1 : len(raw)-1])
		if bytes.IndexByte(raw, '\\') >= 0 {
			json.Unmarshal(raw, &name)
		}
		i = end + 1 // skip ':'
		vend := scanValue(obj, i)
		if err := fn(name, obj[i:vend]); err != nil {
			return err
		}
		i = vend
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return nil
}

// scanString returns the index just past the string starting at b[i].
func scanString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// scanValue returns the index just past the value starting at b[i].
func scanValue(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			j = scanString(b, j) - 1
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	return len(b)
}

type fieldError string

func (e fieldError) Error() string { return string(e) }

func (f Field) check(v []byte) error {
	if string(v) == "null" {
		return fieldError("null is not a " + string(f.Type))
	}
	switch f.Type {
	case TString:
		if len(v) < 2 || v[0] != '"' {
			return fieldError("want a string")
		}
		s := string(v[1 : len(v)-1])
		if bytes.IndexByte(v, '\\') >= 0 {
			if err := json.Unmarshal(v, &s); err != nil {
				return fieldError("want a string")
			}
		}
		if len(s) > MaxString {
			return fieldError("string longer than " + strconv.Itoa(MaxString) + " bytes")
		}
		if len(f.Enum) > 0 {
			for _, e := range f.Enum {
				if s == e {
					return nil
				}
			}
			return fieldError("value " + string(v) + " is not one of " + strings.Join(f.Enum, ", "))
		}
		return nil
	case TBool:
		if string(v) != "true" && string(v) != "false" {
			return fieldError("want true or false")
		}
		return nil
	case TNumber, TInteger:
		if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
			return fieldError("want a number")
		}
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return fieldError("want a number")
		}
		if f.Type == TInteger && (x != math.Trunc(x) || math.Abs(x) > MaxSeq) {
			return fieldError("want an integer, got " + string(v))
		}
		if f.Min < f.Max && (x < f.Min || x > f.Max) {
			return fieldError("value " + string(v) + " is out of range")
		}
		return nil
	}
	panic("event: bad schema type " + string(f.Type))
}
