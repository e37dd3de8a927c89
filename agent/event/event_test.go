package event

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/jcs"
)

func sample() *Signed {
	s := &Signed{Event: Event{
		Epoch: 2, Seq: 41, Time: 1795766400123, Source: SourceGNSS, Kind: "delivery",
		Payload: []byte(`{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A13C2F<&>` + "\u2028" + `"}`),
	}}
	for i := range s.Device {
		s.Device[i] = byte(i + 1)
	}
	for i := range s.Sig {
		s.Sig[i] = byte(0xa0 + i%16)
	}
	s.Sig[64] = 27
	return s
}

func TestLeaf_Canonical(t *testing.T) {
	s := sample()
	leaf, err := s.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	c, err := jcs.Canonicalize(leaf)
	if err != nil || !bytes.Equal(c, leaf) {
		t.Fatalf("Leaf is not RFC 8785 canonical:\n got %s\nwant %s (%v)", leaf, c, err)
	}
	want := `{"device":"0x0102030405060708090a0b0c0d0e0f1011121314","epoch":2,"kind":"delivery","payload":{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A13C2F<&>` + "\u2028" + `"},"seq":41,"sig":"0x` + strings.Repeat("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf", 4) + `1b","time":1795766400123,"time_source":"gnss","v":1}`
	if string(leaf) != want {
		t.Fatalf("Leaf =\n%s\nwant\n%s", leaf, want)
	}
	got, err := Parse(leaf)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Device != s.Device || got.Sig != s.Sig || got.Seq != s.Seq || got.Epoch != s.Epoch || got.Time != s.Time ||
		got.Source != s.Source || got.Kind != s.Kind || !bytes.Equal(got.Payload, s.Payload) {
		t.Fatalf("Parse(Leaf(s)) = %+v, want %+v", got, s)
	}
}

func TestParse_RejectsOtherSpellings(t *testing.T) {
	leaf, _ := sample().Leaf()
	l := string(leaf)
	bad := map[string]string{
		"whitespace":         strings.Replace(l, `"epoch":2`, `"epoch": 2`, 1),
		"member order":       strings.Replace(strings.Replace(l, `"epoch":2,`, ``, 1), `"kind":"delivery",`, `"kind":"delivery","epoch":2,`, 1),
		"uppercase hex":      strings.Replace(l, "0x0102030405060708090a0b", "0x0102030405060708090A0B", 1),
		"exponent number":    strings.Replace(l, `"seq":41`, `"seq":4.1e1`, 1),
		"escaped char":       strings.Replace(l, `"kind":"delivery"`, `"kind":"deliver\u0079"`, 1),
		"unknown member":     strings.Replace(l, `"v":1}`, `"v":1,"x":1}`, 1),
		"missing member":     strings.Replace(l, `,"time_source":"gnss"`, ``, 1),
		"version 2":          strings.Replace(l, `"v":1}`, `"v":2}`, 1),
		"bad time source":    strings.Replace(l, `"gnss"`, `"sundial"`, 1),
		"unknown kind":       strings.Replace(l, `"delivery"`, `"teleport"`, 1),
		"payload not object": strings.Replace(l, `"payload":{`, `"payload":[{`, 1),
		"short sig":          strings.Replace(l, `1b","time"`, `","time"`, 1),
		"trailing newline":   l + "\n",
		"duplicate member":   strings.Replace(l, `"v":1}`, `"v":1,"v":1}`, 1),
	}
	for name, in := range bad {
		if _, err := Parse([]byte(in)); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse = %v, want an ErrInvalid error", name, err)
		}
	}
}

func TestValidate_Table(t *testing.T) {
	floor := TimeFloor.UnixMilli()
	tests := []struct {
		name string
		mod  func(e *Event)
		want string // "" = valid
	}{
		{"ok", func(e *Event) {}, ""},
		{"unsynced 1970", func(e *Event) { e.Time, e.Source = 3600_000, SourceUnsynced }, ""},
		{"ntp before floor", func(e *Event) { e.Time, e.Source = floor-1, SourceNTP }, "before the floor"},
		{"negative time", func(e *Event) { e.Time = -1 }, "out of range"},
		{"seq too big", func(e *Event) { e.Seq = MaxSeq + 1 }, "exceeds"},
		{"payload not canonical", func(e *Event) { e.Payload = []byte(`{"parcel": "x"}`) }, "not canonical"},
		{"missing required", func(e *Event) { e.Payload = []byte(`{"lat":1,"lon":2}`) }, `lacks required field "parcel"`},
		{"wrong type", func(e *Event) { e.Payload = []byte(`{"parcel":7}`) }, `field "parcel": want a string`},
		{"enum", func(e *Event) { e.Payload = []byte(`{"door":"ajar","parcel":"p"}`) }, "not one of"},
		{"range", func(e *Event) { e.Payload = []byte(`{"lat":91,"parcel":"p"}`) }, "out of range"},
		{"unknown field", func(e *Event) { e.Payload = []byte(`{"colour":"red","parcel":"p"}`) }, `unknown field "colour"`},
		{"extension field", func(e *Event) { e.Payload = []byte(`{"parcel":"p","x_colour":"red"}`) }, ""},
		{"extension kind", func(e *Event) { e.Kind, e.Payload = "x_pallet_weighed", []byte(`{"kg":12.5}`) }, ""},
		{"bad kind name", func(e *Event) { e.Kind = "Delivery" }, "not a valid name"},
		{"integer field", func(e *Event) { e.Kind, e.Payload = "position", []byte(`{"lat":1,"lon":2,"sats":7.5}`) }, "want an integer"},
		{"big payload", func(e *Event) { e.Payload = []byte(`{"parcel":"` + strings.Repeat("a", MaxPayload) + `"}`) }, "limit"},
	}
	for _, tt := range tests {
		e := sample().Event
		tt.mod(&e)
		err := e.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: Validate = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want an ErrInvalid containing %q", tt.name, err, tt.want)
		}
	}
}

func TestKinds_SchemasWellFormed(t *testing.T) {
	for _, k := range KnownKinds() {
		s, _ := Lookup(k)
		if !kindRE.MatchString(string(k)) || s.Doc == "" {
			t.Errorf("kind %q: bad name or no doc", k)
		}
		for name, f := range s.Fields {
			if f.Doc == "" {
				t.Errorf("kind %q field %q has no doc", k, name)
			}
			switch f.Type {
			case TString, TNumber, TInteger, TBool:
			default:
				t.Errorf("kind %q field %q: type %q", k, name, f.Type)
			}
		}
	}
}

func TestTimeSource_Rank(t *testing.T) {
	order := []TimeSource{SourceUnsynced, SourceRTC, SourceNTP, SourceGNSS}
	for i := 1; i < len(order); i++ {
		if order[i].Rank() <= order[i-1].Rank() {
			t.Errorf("%s does not outrank %s", order[i], order[i-1])
		}
	}
	if TimeSource("sundial").Valid() {
		t.Error("unknown source is valid")
	}
}

func FuzzParse(f *testing.F) {
	leaf, _ := sample().Leaf()
	f.Add(leaf)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"device":"0x00","epoch":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		again, err := s.Leaf()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("Parse accepted %q but Leaf gives %q, %v", b, again, err)
		}
	})
}

func BenchmarkLeaf(b *testing.B) {
	s := sample()
	for b.Loop() {
		if _, err := s.Leaf(); err != nil {
			b.Fatal(err)
		}
	}
}
