package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// payloads holds one value of each payload type.
var payloads = []Payload{Delivery{}, Position{}, ZoneEntered{}, ZoneLeft{}, DoorOpened{}, DoorClosed{},
	TemperatureExcursion{}, Shock{}, SensorFault{}, Manual{}, EventsRefused{}, ClockSynced{}}

// TestPayloads_MatchSchemas holds each payload type to its kind's schema:
// one type per registered kind, one JSON member per schema field with the
// field's type, and a required field never left out.
func TestPayloads_MatchSchemas(t *testing.T) {
	seen := map[Kind]bool{}
	for _, p := range payloads {
		k := p.Kind()
		if seen[k] {
			t.Errorf("two payload types for %s", k)
		}
		seen[k] = true
		s, ok := Lookup(k)
		if !ok {
			t.Errorf("%T: kind %s is not registered", p, k)
			continue
		}
		typ := reflect.TypeOf(p)
		members := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			members[name] = true
			sf, ok := s.Fields[name]
			if !ok {
				t.Errorf("%T.%s: member %q is not a field of %s", p, f.Name, name, k)
				continue
			}
			ft, ptr := f.Type, f.Type.Kind() == reflect.Pointer
			if ptr {
				ft = ft.Elem()
			}
			want := map[reflect.Kind]FieldType{reflect.String: TString, reflect.Float64: TNumber,
				reflect.Int64: TInteger, reflect.Bool: TBool}[ft.Kind()]
			if want != sf.Type {
				t.Errorf("%T.%s is a %s, but field %q of %s is a %s", p, f.Name, f.Type, name, k, sf.Type)
			}
			if sf.Required && (ptr || opts == "omitempty") {
				t.Errorf("%T.%s may be left out, but field %q of %s is required", p, f.Name, name, k)
			}
		}
		for name := range s.Fields {
			if !members[name] {
				t.Errorf("%T has no member for field %q of %s", p, name, k)
			}
		}
	}
	for _, k := range KnownKinds() {
		if !seen[k] {
			t.Errorf("kind %s has no payload type", k)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		p    Payload
		want string // the payload, or the error's text
		err  bool
	}{
		{p: Delivery{Parcel: "04a1b2c3", Lat: ptr(50.8476), Lon: ptr(4.3537), Zone: "bay-1", Door: "open", Proof: "scan"},
			want: `{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04a1b2c3","proof":"scan","zone":"bay-1"}`},
		{p: Delivery{Parcel: "a<b>&"}, want: `{"parcel":"a<b>&"}`},
		{p: Position{Lat: 50.8476, Lon: 4.3537, SpeedMPS: ptr(0.0), Sats: ptr(int64(9))},
			want: `{"lat":50.8476,"lon":4.3537,"sats":9,"speed_mps":0}`},
		{p: ZoneLeft{Zone: "lez"}, want: `{"zone":"lez"}`},
		{p: DoorOpened{Door: "rear", Moving: ptr(false), OutsideZone: ptr(true)},
			want: `{"door":"rear","moving":false,"outside_zone":true}`},
		{p: DoorClosed{Door: "rear", OpenMS: ptr(int64(61000))}, want: `{"door":"rear","open_ms":61000}`},
		{p: TemperatureExcursion{Probe: "chiller", State: ExcursionStart, Celsius: 8.25, MinC: ptr(2.0), MaxC: ptr(8.0), DurationS: ptr(300.0)},
			want: `{"celsius":8.25,"duration_s":300,"max_c":8,"min_c":2,"probe":"chiller","state":"start"}`},
		{p: Shock{G: 2.5, Axis: "x", Type: ShockHarshBraking}, want: `{"axis":"x","g":2.5,"type":"harsh_braking"}`},
		{p: SensorFault{Sensor: "gnss", Error: "no fix", Count: 0}, want: `{"count":0,"error":"no fix","sensor":"gnss"}`},
		{p: Manual{Note: "seal 4471 intact"}, want: `{"note":"seal 4471 intact"}`},
		{p: EventsRefused{Count: 3, Kinds: "position 3", Reason: "budget", FromMS: 1, ToMS: 2},
			want: `{"count":3,"from_ms":1,"kinds":"position 3","reason":"budget","to_ms":2}`},
		{p: ClockSynced{From: SourceUnsynced, To: SourceGNSS, StepMS: ptr(int64(-1500))},
			want: `{"from":"unsynced","step_ms":-1500,"to":"gnss"}`},

		{p: Delivery{Parcel: "p", Door: "ajar"}, err: true, want: `field "door": value "ajar" is not one of open, closed`},
		{p: Position{Lat: 91}, err: true, want: `field "lat": value 91 is out of range`},
		{p: Shock{G: -1}, err: true, want: `field "g": value -1 is out of range`},
		{p: Manual{Note: strings.Repeat("n", MaxString+1)}, err: true, want: `string longer than 1024 bytes`},
		{p: EventsRefused{Kinds: "k", Reason: "budget"}, err: true, want: `field "count": value 0 is out of range`},
		{p: ClockSynced{From: "sundial", To: SourceGNSS}, err: true, want: `field "from": value "sundial" is not one of`},
	} {
		ev, err := New(tt.p)
		switch {
		case tt.err && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("New(%#v) = %v, want an ErrInvalid containing %q", tt.p, err, tt.want)
		case !tt.err && err != nil:
			t.Errorf("New(%#v): %v", tt.p, err)
		case !tt.err && (ev.Kind != tt.p.Kind() || string(ev.Payload) != tt.want):
			t.Errorf("New(%#v) = %s %s, want %s %s", tt.p, ev.Kind, ev.Payload, tt.p.Kind(), tt.want)
		case !tt.err:
			ev.Source = SourceUnsynced
			if err := ev.Validate(); err != nil {
				t.Errorf("New(%#v) gives an event Validate refuses: %v", tt.p, err)
			}
		}
	}
}

func TestLookup_Copy(t *testing.T) {
	s, ok := Lookup(KindDelivery)
	if !ok {
		t.Fatal("delivery is not registered")
	}
	door := s.Fields["door"]
	door.Enum[0] = "ajar"
	delete(s.Fields, "parcel")
	again, _ := Lookup(KindDelivery)
	if _, ok := again.Fields["parcel"]; !ok || again.Fields["door"].Enum[0] != "open" {
		t.Fatalf("changing a looked-up schema changed the registry: %+v", again)
	}
	if _, ok := Lookup("x_custom"); ok {
		t.Error("an extension kind is registered")
	}
}

func TestKnownKinds(t *testing.T) {
	kinds := KnownKinds()
	if len(kinds) != len(payloads) {
		t.Fatalf("KnownKinds = %v: %d kinds, %d payload types", kinds, len(kinds), len(payloads))
	}
	for i, k := range kinds {
		if !k.Known() || i > 0 && kinds[i-1] >= k {
			t.Errorf("KnownKinds = %v: not sorted, or %s not known", kinds, k)
		}
	}
}
