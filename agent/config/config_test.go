package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/signer"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.want from the current output")

// TestLoad_Configs loads every example in configs/: each must be valid.
func TestLoad_Configs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	want := map[string][2]int{"gateway.yaml": {5, 0}, "van.yaml": {6, 6}, "cargo-bike.yaml": {4, 2}}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("Load(%s):\n%v", f, err)
			continue
		}
		checkInvariants(t, c)
		if n, ok := want[filepath.Base(f)]; ok && (len(c.Sensors) != n[0] || len(c.Zones) != n[1]) {
			t.Errorf("Load(%s) = %d sensors, %d zones, want %d, %d", f, len(c.Sensors), len(c.Zones), n[0], n[1])
		}
		delete(want, filepath.Base(f))
	}
	if len(want) > 0 {
		t.Errorf("configs/ lacks %v", want)
	}
}

// TestLoad_VanZones checks the van's zones against each other: every
// loading bay lies in the pentagon, the depot outside it.
func TestLoad_VanZones(t *testing.T) {
	c, err := Load("../../configs/van.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pentagon *Zone
	for i := range c.Zones {
		if c.Zones[i].Name == "pentagon" {
			pentagon = &c.Zones[i]
		}
	}
	if pentagon == nil || len(pentagon.Polygons) != 1 {
		t.Fatalf("no one-polygon pentagon zone in %+v", c.Zones)
	}
	if n := len(pentagon.Polygons[0][0]); n < 13 || n > 21 {
		t.Errorf("pentagon has %d positions, want 13..21", n)
	}
	for _, z := range c.Zones {
		if z.Name == "pentagon" {
			continue
		}
		ring := z.Polygons[0][0]
		var centre [2]float64
		for _, q := range ring[:len(ring)-1] {
			centre[0] += q[0] / float64(len(ring)-1)
			centre[1] += q[1] / float64(len(ring)-1)
		}
		in := inside(pentagon.Polygons[0][0], centre)
		if in != (z.Type == ZoneLoadingBay) {
			t.Errorf("zone %s (%s) centred at %v: inside the pentagon = %v", z.Name, z.Type, centre, in)
		}
		// About 40 m by 30 m: at 50.8° N a degree of longitude is
		// 70.4 km, a degree of latitude 111.2 km.
		w := (ring[1][0] - ring[0][0]) * 70400
		h := (ring[2][1] - ring[1][1]) * 111200
		if w < 35 || w > 45 || h < 25 || h > 35 {
			t.Errorf("zone %s is %.0f m by %.0f m, want about 40 by 30", z.Name, w, h)
		}
	}
}

// inside is the even-odd rule, independently of the package's geometry.
func inside(ring [][2]float64, q [2]float64) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a[1] > q[1]) != (b[1] > q[1]) && q[0] < (b[0]-a[0])*(q[1]-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}

// TestLoad_AllDrivers reads the schema example with every driver and
// checks every value, defaults included.
func TestLoad_AllDrivers(t *testing.T) {
	c, err := Load("testdata/good/all-drivers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Zones) != 2 || len(c.Zones[0].Polygons) != 1 || len(c.Zones[0].Polygons[0][0]) != 16 ||
		c.Zones[0].Polygons[0][0][0] != [2]float64{4.3447, 50.8331} {
		t.Fatalf("zones = %+v", c.Zones)
	}
	c.Zones[0].Polygons = nil
	want := &Config{
		Version: 1,
		Device: Device{Type: DeviceVan, Fleet: "brussels-north", ChainID: 1337, Data: "/var/lib/waybill/log",
			Key: "/var/lib/waybill/device.key", PassphraseFile: "/var/lib/waybill/passphrase", CheckpointEvery: time.Minute},
		Sensors: []Sensor{
			{Name: "gnss", Driver: DriverNMEA, Interval: time.Second, Timeout: time.Second,
				NMEA: &NMEA{Port: "/dev/serial0", Baud: 9600}},
			{Name: "cabin", Driver: DriverBME280, Interval: 30 * time.Second, Timeout: 10 * time.Second,
				BME280: &BME280{Bus: "I2C1", Address: 0x76}},
			{Name: "coldbox", Driver: DriverDS18B20, Interval: 10 * time.Second, Timeout: 10 * time.Second,
				DS18B20: &DS18B20{Bus: "w1", Resolution: 12, Probes: []Probe{{Name: "box-front", ROM: "28ff4a6b711603f8"}}}},
			{Name: "rear-door", Driver: DriverDoor, Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond,
				Door: &Door{Pin: "GPIO17", OpenLevel: LevelHigh, Debounce: 50 * time.Millisecond}},
			{Name: "floor-scale", Driver: DriverHX711, Interval: 5 * time.Second, Timeout: 5 * time.Second,
				HX711: &HX711{DataPin: "GPIO5", ClockPin: "GPIO6", Channel: "A", Gain: 128, Tare: 8421, Scale: 21.37}},
			{Name: "accel", Driver: DriverLIS3DH, Interval: 200 * time.Millisecond, Timeout: 200 * time.Millisecond,
				LIS3DH: &LIS3DH{Bus: "I2C1", Address: 0x18, RangeG: 4, RateHz: 100}},
			{Name: "tags", Driver: DriverMFRC522, Interval: 200 * time.Millisecond, Timeout: 200 * time.Millisecond,
				MFRC522: &MFRC522{Bus: "SPI0.0", ResetPin: "GPIO25", Dedupe: 30 * time.Second}},
		},
		Zones: []Zone{
			{Name: "pentagon", Type: ZoneLowEmission},
			{Name: "bay-rue-neuve", Type: ZoneLoadingBay, Polygons: [][][][2]float64{{{
				{4.35690, 50.85280}, {4.35750, 50.85280}, {4.35750, 50.85320}, {4.35690, 50.85320}, {4.35690, 50.85280}}}}},
		},
		Rules: Rules{
			Position: PositionRule{Interval: time.Minute, MinDistanceM: 50, HeadingChangeDeg: 30},
			Geofence: GeofenceRule{HysteresisM: 10, MinDwell: 5 * time.Second},
			Temperature: []TemperatureRule{{Sensor: "coldbox", Probe: "28ff4a6b711603f8", ProbeName: "box-front",
				MinC: 2, MaxC: 8, After: 5 * time.Minute}},
			Door:     DoorRule{MovingMPS: 1.5},
			Shock:    &ShockRule{Sensor: "accel", ForwardAxis: "x", ImpactG: 2.5, HarshBrakingG: 0.45},
			Delivery: &DeliveryRule{Sensor: "tags"},
		},
		Faults: Faults{Every: 5 * time.Minute},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load = %s\nwant %s", dump(c), dump(want))
	}
	if s := c.Sensor("coldbox"); s == nil || s.DS18B20.Probe("box-front") != "28ff4a6b711603f8" || s.DS18B20.Probe("x") != "" {
		t.Errorf("Sensor(coldbox) = %+v", s)
	}
	if c.Sensor("nothing") != nil {
		t.Errorf("Sensor(nothing) != nil")
	}
}

// dump prints a Config with the values behind its pointers.
func dump(c *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  %+v", c.Device)
	for _, s := range c.Sensors {
		fmt.Fprintf(&b, "\n  %s %s %v %v", s.Name, s.Driver, s.Interval, s.Timeout)
		for _, v := range []any{s.NMEA, s.BME280, s.DS18B20, s.Door, s.HX711, s.LIS3DH, s.MFRC522} {
			if !reflect.ValueOf(v).IsNil() {
				fmt.Fprintf(&b, " %+v", v)
			}
		}
	}
	for _, z := range c.Zones {
		fmt.Fprintf(&b, "\n  %+v", z)
	}
	fmt.Fprintf(&b, "\n  %+v %+v %+v %+v", c.Rules, c.Rules.Shock, c.Rules.Delivery, c.Faults)
	return b.String()
}

// TestLoad_Defaults reads the smallest valid file.
func TestLoad_Defaults(t *testing.T) {
	c, err := Load("testdata/good/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/good")
	want := Device{Type: DeviceGateway, Fleet: "dock-7", ChainID: 1, Data: filepath.Join(dir, "log"),
		Key: filepath.Join(dir, "keys", "device.key"), CheckpointEvery: time.Minute}
	if c.Device != want {
		t.Errorf("Device = %+v, want %+v", c.Device, want)
	}
	wantRules := Rules{
		Position: PositionRule{Interval: time.Minute, MinDistanceM: 50, HeadingChangeDeg: 30},
		Geofence: GeofenceRule{HysteresisM: 10, MinDwell: 5 * time.Second},
		Door:     DoorRule{MovingMPS: 1.5},
	}
	if !reflect.DeepEqual(c.Rules, wantRules) || c.Faults.Every != 5*time.Minute || len(c.Sensors) != 0 || len(c.Zones) != 0 {
		t.Errorf("Load = %+v", c)
	}
}

// TestParse_SensorDefaults checks each driver's defaults and the timeout's.
func TestParse_SensorDefaults(t *testing.T) {
	const file = `version: 1
device: {type: van, fleet: f, chain_id: 5, data: d, key: k}
sensors:
  - {name: g, driver: nmea, port: /dev/ttyS0, interval: 1s}
  - {name: t, driver: ds18b20, bus: w1, interval: 24h}
  - {name: d, driver: door, pin: GPIO4, interval: 20ms}
  - {name: s, driver: hx711, data_pin: GPIO5, clock_pin: GPIO6, scale: -0.5, interval: 1s}
  - {name: s2, driver: hx711, data_pin: GPIO7, clock_pin: GPIO8, channel: B, scale: 2, interval: 1s}
  - {name: a, driver: lis3dh, bus: I2C0, address: 25, interval: 1s, timeout: 50ms}
  - {name: r, driver: mfrc522, bus: SPI1.2, interval: 1s}
rules:
  temperature: [{sensor: t, min_c: -18, max_c: -12.5}]
  shock: {sensor: a, forward_axis: -z}
`
	c, err := Parse("in/test.yaml", []byte(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		got, want any
	}{
		{c.Device.Data, filepath.Join("in", "d")},
		{*c.Sensors[0].NMEA, NMEA{Port: "/dev/ttyS0", Baud: 9600}},
		{c.Sensors[1].Timeout, 10 * time.Second},
		{c.Sensors[1].DS18B20.Resolution, 12},
		{*c.Sensors[2].Door, Door{Pin: "GPIO4", OpenLevel: LevelHigh, Debounce: 50 * time.Millisecond}},
		{c.Sensors[2].Timeout, 20 * time.Millisecond},
		{*c.Sensors[3].HX711, HX711{DataPin: "GPIO5", ClockPin: "GPIO6", Channel: "A", Gain: 128, Scale: -0.5}},
		{c.Sensors[4].HX711.Gain, 32},
		{*c.Sensors[5].LIS3DH, LIS3DH{Bus: "I2C0", Address: 0x19, RangeG: 4, RateHz: 100}},
		{c.Sensors[5].Timeout, 50 * time.Millisecond},
		{*c.Sensors[6].MFRC522, MFRC522{Bus: "SPI1.2", Dedupe: 30 * time.Second}},
		{c.Rules.Temperature[0], TemperatureRule{Sensor: "t", MinC: -18, MaxC: -12.5, After: 5 * time.Minute}},
		{*c.Rules.Shock, ShockRule{Sensor: "a", ForwardAxis: "-z", ImpactG: 2.5, HarshBrakingG: 0.45}},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("got %+v, want %+v", tt.got, tt.want)
		}
	}
}

// TestLoad_Bad runs every file in testdata/bad against its .want file:
// the exact error lines, every problem of the file reported.
func TestLoad_Bad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	line := regexp.MustCompile(`^testdata/bad/[a-z0-9/-]+\.(yaml|geojson)(:[1-9][0-9]*(:[1-9][0-9]*)?)?: `)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			c, err := Load(f)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, nil; want an error", f, c)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Load(%s) error %T %v is not a non-empty Errors", f, err, err)
			}
			got := err.Error() + "\n"
			for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
				if !line.MatchString(l) {
					t.Errorf("line %q does not start with file:line:column", l)
				}
			}
			wantFile := strings.TrimSuffix(f, ".yaml") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Load(%s) errors:\n%s\nwant:\n%s", f, got, want)
			}
		})
	}
}

func TestLoad_NoConfig(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	var errs Errors
	if !errors.Is(err, ErrNoConfig) || !errors.Is(err, fs.ErrNotExist) || errors.As(err, &errs) {
		t.Errorf("Load(missing) = %v, want ErrNoConfig and fs.ErrNotExist, not Errors", err)
	}
	_, err = Load("testdata/good/minimal.yaml")
	if errors.Is(err, ErrNoConfig) {
		t.Errorf("Load(present) wraps ErrNoConfig")
	}
}

func TestLoad_TooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("#"+strings.Repeat(" ", MaxSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(errs[0].Msg, "larger than") {
		t.Errorf("Load(too large) = %v", err)
	}
	_, err = Parse("big.yaml", make([]byte, MaxSize+1), nil)
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(errs[0].Msg, "larger than") {
		t.Errorf("Parse(too large) = %v", err)
	}
}

// TestParse_GeoJSON reads each GeoJSON form through Parse's readFile.
func TestParse_GeoJSON(t *testing.T) {
	const square = `[[4.0, 50.0], [4.1, 50.0], [4.1, 50.1], [4.0, 50.1], [4.0, 50.0]]`
	const hole = `[[4.02, 50.02], [4.02, 50.03], [4.03, 50.03], [4.03, 50.02], [4.02, 50.02]]`
	const square3D = `[[5.0, 50.0, 10], [5.1, 50.0, 12], [5.1, 50.1, 11], [5.0, 50.0, 10]]`
	for _, tt := range []struct {
		name, json string
		polys      int
		rings      []int
	}{
		{"polygon", `{"type": "Polygon", "coordinates": [` + square + `]}`, 1, []int{1}},
		{"polygon with hole", `{"type": "Polygon", "coordinates": [` + square + `, ` + hole + `], "bbox": [4, 50, 4.1, 50.1]}`, 1, []int{2}},
		{"multipolygon", `{"type": "MultiPolygon", "coordinates": [[` + square + `], [` + square3D + `]]}`, 2, []int{1, 1}},
		{"feature", `{"type": "Feature", "id": 7, "properties": null, "geometry": {"type": "Polygon", "coordinates": [` + square + `]}}`, 1, []int{1}},
		{"collection", `{"type": "FeatureCollection", "features": [
			{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [` + square + `]}},
			{"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": [[` + square3D + `], [` + square + `, ` + hole + `]]}}]}`,
			3, []int{1, 1, 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "version: 1\ndevice: {type: van, fleet: f, chain_id: 1, data: d, key: k}\n" +
				"sensors: [{name: g, driver: nmea, port: /dev/ttyS0, interval: 1s}]\n" +
				"zones: [{name: z, type: delivery, geojson: zones/z.geojson}]\n"
			var asked string
			c, err := Parse("conf/van.yaml", []byte(cfg), func(name string) ([]byte, error) {
				asked = name
				return []byte(tt.json), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if asked != filepath.Join("conf", "zones", "z.geojson") {
				t.Errorf("readFile(%q), want conf/zones/z.geojson", asked)
			}
			p := c.Zones[0].Polygons
			if len(p) != tt.polys {
				t.Fatalf("%d polygons, want %d", len(p), tt.polys)
			}
			for i, poly := range p {
				if len(poly) != tt.rings[i] {
					t.Errorf("polygon %d has %d rings, want %d", i, len(poly), tt.rings[i])
				}
				for _, r := range poly {
					if r[0] != r[len(r)-1] {
						t.Errorf("polygon %d: ring %v not closed", i, r)
					}
				}
			}
		})
	}
}

// TestParse_ReadError reports a GeoJSON file that cannot be read at the
// zone's geojson field.
func TestParse_ReadError(t *testing.T) {
	cfg := "version: 1\ndevice: {type: van, fleet: f, chain_id: 1, data: d, key: k}\n" +
		"sensors: [{name: g, driver: nmea, port: /dev/ttyS0, interval: 1s}]\n" +
		"zones: [{name: z, type: delivery, geojson: /srv/z.geojson}]\n"
	_, err := Parse("van.yaml", []byte(cfg), func(string) ([]byte, error) { return nil, fs.ErrPermission })
	want := "van.yaml:4:44: zones[0].geojson: /srv/z.geojson: permission denied"
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
}

func TestFieldError_Error(t *testing.T) {
	for _, tt := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "van.yaml", Line: 23, Column: 14, Field: "sensors[2].address", Msg: "0x99 is not 0x76 or 0x77"},
			"van.yaml:23:14: sensors[2].address: 0x99 is not 0x76 or 0x77"},
		{FieldError{File: "van.yaml", Line: 4, Msg: "invalid YAML: did not find expected key"}, "van.yaml:4: invalid YAML: did not find expected key"},
		{FieldError{File: "van.yaml", Msg: "the file is empty"}, "van.yaml: the file is empty"},
		{FieldError{File: "z.geojson", Line: 1, Column: 2, Field: "type", Msg: "m"}, "z.geojson:1:2: type: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	es := Errors{{File: "a", Line: 1, Msg: "x"}, {File: "a", Line: 2, Msg: "y"}}
	if got := es.Error(); got != "a:1: x\na:2: y" {
		t.Errorf("Errors.Error() = %q", got)
	}
}

func TestParseROM(t *testing.T) {
	for _, tt := range []struct {
		in, rom, msg string
	}{
		{"28ff4a6b711603f8", "28ff4a6b711603f8", ""},
		{"28FF4A6B711603F8", "28ff4a6b711603f8", ""},
		{"28ff4a6b711603c2", "", "fails its CRC: the last byte is c2, the first seven give f8"},
		{"10ff4a6b711603c2", "", "family code 10, a DS18S20"},
		{"28-0316a27975ff", "", "is not a ROM code"},
		{"", "", "is not a ROM code"},
	} {
		rom, msg := parseROM(tt.in)
		if rom != tt.rom || !strings.Contains(msg, tt.msg) || (tt.msg == "") != (msg == "") {
			t.Errorf("parseROM(%q) = %q, %q; want %q, %q", tt.in, rom, msg, tt.rom, tt.msg)
		}
	}
}

func TestRingProblem(t *testing.T) {
	type R = [][2]float64
	for _, tt := range []struct {
		name string
		ring R
		want string
	}{
		{"square", R{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}, ""},
		{"clockwise square", R{{0, 0}, {0, 1}, {1, 1}, {1, 0}, {0, 0}}, ""},
		{"triangle", R{{0, 0}, {1, 0}, {0, 1}, {0, 0}}, ""},
		{"repeated positions", R{{0, 0}, {1, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}, {0, 0}}, ""},
		{"concave", R{{0, 0}, {2, 0}, {2, 2}, {1, 1}, {0, 2}, {0, 0}}, ""},
		{"bowtie", R{{0, 0}, {1, 1}, {1, 0}, {0, 1}, {0, 0}}, "crosses itself: the edge from position 0 to 1 meets the edge from position 2 to 3"},
		{"closing edge crosses", R{{0, 0}, {2, 0}, {2, 2}, {1, -1}, {0, 0}}, "crosses itself"},
		{"touches at a vertex", R{{0, 0}, {2, 0}, {1, 1}, {2, 2}, {0, 2}, {1, 1}, {0, 0}}, "crosses itself"},
		{"spike", R{{0, 0}, {2, 0}, {3, 0}, {1, 0}, {1, 1}, {0, 0}}, "doubles back on itself at position 2"},
		{"line", R{{0, 0}, {1, 1}, {2, 2}, {0, 0}}, "encloses no area (its positions lie on a line)"},
		{"two points", R{{0, 0}, {1, 1}, {0, 0}}, "2 distinct positions"},
		{"one point", R{{0, 0}, {0, 0}, {0, 0}, {0, 0}}, "1 distinct positions"},
	} {
		got := ringProblem(tt.ring)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: ringProblem = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseJSON_Positions(t *testing.T) {
	data := []byte("{\n  \"a\": [1, \"é\", {\"b\": null}],\n\t\"c\": true\n}")
	n, dups, err := parseJSON(data)
	if err != nil || len(dups) != 0 {
		t.Fatal(err, dups)
	}
	pos := newPosition(data)
	a := n.member("a")
	for _, tt := range []struct {
		node      *jnode
		line, col int
		kind      jkind
	}{
		{n, 1, 1, jObject},
		{a, 2, 8, jArray},
		{a.elems[0], 2, 9, jNumber},
		{a.elems[1], 2, 12, jString},
		{a.elems[2], 2, 17, jObject},
		{a.elems[2].member("b"), 2, 23, jNull},
		{n.member("c"), 3, 7, jBool},
	} {
		line, col := pos.at(tt.node.off)
		if line != tt.line || col != tt.col || tt.node.kind != tt.kind {
			t.Errorf("node %v at %d:%d, want %v at %d:%d", tt.node.kind, line, col, tt.kind, tt.line, tt.col)
		}
	}
	for _, tt := range []struct {
		in   string
		line int
		col  int
		msg  string
	}{
		{`[1, 2 3]`, 1, 7, "after array element"},
		{"{\n\"a\": 1,\n}", 3, 1, "looking for beginning of object key"},
		{`[1, 2`, 1, 6, "unexpected end"},
		{`[1] [2]`, 1, 5, "after top-level value"},
		{`[1e999]`, 1, 2, "out of range"},
		{strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), 1, maxJSONDepth + 1, "nested more than"},
	} {
		_, _, err := parseJSON([]byte(tt.in))
		var je *jsonError
		if !errors.As(err, &je) {
			t.Errorf("parseJSON(%q) = %v, want a jsonError", tt.in, err)
			continue
		}
		line, col := newPosition([]byte(tt.in)).at(je.off)
		if line != tt.line || col != tt.col || !strings.Contains(je.msg, tt.msg) {
			t.Errorf("parseJSON(%q) error at %d:%d %q, want %d:%d %q", tt.in, line, col, je.msg, tt.line, tt.col, tt.msg)
		}
	}
	_, dups, err = parseJSON([]byte(`{"a": 1, "a": 2}`))
	if err != nil || len(dups) != 1 || dups[0].off != 9 {
		t.Errorf("duplicate member: %v, %v", dups, err)
	}
}

// TestFleetRE_MatchesSigner: the configuration accepts exactly the fleet
// identifiers the signing domain accepts.
func TestFleetRE_MatchesSigner(t *testing.T) {
	for _, s := range []string{"brussels-north", "a", "dock-7", "fleet.eu_1", "", "Brussels", "-x", "a b",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "é", ".x", "x."} {
		if got, want := fleetRE.MatchString(s), signer.ValidFleet(s); got != want {
			t.Errorf("fleet %q: config accepts %v, signer %v", s, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	opts := []string{"address", "bus", "interval", "name", "driver", "chain_id"}
	for _, tt := range []struct{ in, want string }{
		{"adress", "address"},
		{"addres", "address"},
		{"intreval", "interval"},
		{"bsu", "bus"},
		{"chainid", "chain_id"},
		{"nmae", "name"},
		{"colour", ""},
		{"b", ""},
		{strings.Repeat("x", 100), ""},
	} {
		if got := closest(tt.in, opts); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFmtDur(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24h"},
		{time.Hour, "1h"},
		{5 * time.Minute, "5m"},
		{90 * time.Second, "1m30s"},
		{10 * time.Millisecond, "10ms"},
		{0, "0s"},
		{time.Hour + time.Second, "1h0m1s"},
	} {
		if got := fmtDur(tt.d); got != tt.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestParse_GeoJSONErrorCap stops reporting after maxGeoErrors problems in
// one GeoJSON file.
func TestParse_GeoJSONErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type": "Polygon", "coordinates": [`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`[[0, 0], [1, 0], [1, 1], [0, 2]]`)
	}
	b.WriteString(`]}`)
	cfg := "version: 1\ndevice: {type: van, fleet: f, chain_id: 1, data: d, key: k}\n" +
		"sensors: [{name: g, driver: nmea, port: /dev/ttyS0, interval: 1s}]\n" +
		"zones: [{name: z, type: delivery, geojson: z.geojson}]\n"
	_, err := Parse("van.yaml", []byte(cfg), func(string) ([]byte, error) { return []byte(b.String()), nil })
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != maxGeoErrors+1 || !strings.Contains(errs[maxGeoErrors].Msg, "more than 50 problems") {
		t.Fatalf("Parse: %d errors, last %v", len(errs), errs[len(errs)-1])
	}
	if errs[0].Line != 1 || errs[0].Column != 62 || errs[0].Field != "coordinates[0][3]" {
		t.Errorf("first problem %v", errs[0])
	}
}

// TestDeps keeps the package light: it reads a file, it does not sign,
// store or talk to hardware. It asks the driver packages their chip facts
// (addresses, codes, timings), which brings in periph's conn interfaces,
// never a host driver that reaches the hardware.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/ethereum/", "periph.io/x/host/", "periph.io/x/devices/", "go.etcd.io/bbolt", "github.com/waybill-eu/waybill/drivers/uart", "github.com/waybill-eu/waybill/agent/signer"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("agent/config depends on %s", dep)
			}
		}
	}
}
