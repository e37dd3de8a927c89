package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse arbitrary configurations, each GeoJSON file they
// name reading as the second input. Parse must not panic, must return
// either a configuration or a non-empty Errors, and a configuration it
// accepts must hold its invariants.
func FuzzParse(f *testing.F) {
	var yamls, geos [][]byte
	for _, glob := range []string{"testdata/bad/*.yaml", "testdata/good/*.yaml", "../../configs/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				yamls = append(yamls, b)
			}
		}
	}
	for _, glob := range []string{"testdata/bad/zones/*.geojson", "../../configs/zones/*.geojson"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				geos = append(geos, b)
			}
		}
	}
	if len(yamls) == 0 || len(geos) == 0 {
		f.Fatal("no seeds")
	}
	for i, y := range yamls {
		f.Add(y, geos[i%len(geos)])
	}
	f.Fuzz(func(t *testing.T, data, geo []byte) {
		c, err := Parse("fuzz.yaml", data, func(string) ([]byte, error) {
			if len(geo) == 0 {
				return nil, fs.ErrNotExist
			}
			return geo, nil
		})
		if err != nil {
			var errs Errors
			if c != nil || !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse = %v, %T %v", c, err, err)
			}
			for _, e := range errs {
				if e.File == "" || e.Msg == "" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("malformed error %#v", e)
				}
			}
			return
		}
		checkInvariants(t, c)
	})
}

// checkInvariants checks what a valid Config promises its users.
func checkInvariants(t *testing.T, c *Config) {
	t.Helper()
	if c.Version != Version || c.Device.ChainID == 0 || c.Device.Fleet == "" || c.Device.Data == "" || c.Device.Key == "" {
		t.Fatalf("device %+v", c.Device)
	}
	names := map[string]bool{}
	for _, s := range c.Sensors {
		if names[s.Name] || !nameRE.MatchString(s.Name) {
			t.Fatalf("sensor name %q", s.Name)
		}
		names[s.Name] = true
		set := 0
		for _, d := range []bool{s.NMEA != nil, s.BME280 != nil, s.DS18B20 != nil, s.Door != nil, s.HX711 != nil, s.LIS3DH != nil, s.MFRC522 != nil} {
			if d {
				set++
			}
		}
		if set != 1 || s.Interval <= 0 || s.Timeout <= 0 {
			t.Fatalf("sensor %+v", s)
		}
	}
	for _, z := range c.Zones {
		if len(z.Polygons) == 0 {
			t.Fatalf("zone %s has no polygon", z.Name)
		}
		for _, p := range z.Polygons {
			for _, r := range p {
				if len(r) < 4 || r[0] != r[len(r)-1] {
					t.Fatalf("zone %s: ring %v", z.Name, r)
				}
			}
		}
	}
	for _, r := range c.Rules.Temperature {
		if s := c.Sensor(r.Sensor); s == nil || s.DS18B20 == nil || r.MinC >= r.MaxC {
			t.Fatalf("temperature rule %+v", r)
		}
	}
	if r := c.Rules.Shock; r != nil {
		if s := c.Sensor(r.Sensor); s == nil || s.LIS3DH == nil || r.HarshBrakingG >= r.ImpactG {
			t.Fatalf("shock rule %+v", r)
		}
	}
	if r := c.Rules.Delivery; r != nil {
		if s := c.Sensor(r.Sensor); s == nil || s.MFRC522 == nil {
			t.Fatalf("delivery rule %+v", r)
		}
	}
}

// FuzzParseSize: ParseSize never panics, never returns a negative size
// with no error, and reads back what fmtSize writes.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2GiB", "500 MB", "1.5GiB", "16777216", "0", "1e9", "-1KiB", "9999999999TiB", " 7 KiB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, v)
		}
		if back, err := ParseSize(fmtSize(v)); err != nil || back != v {
			t.Fatalf("ParseSize(fmtSize(%d) = %q) = %d, %v", v, fmtSize(v), back, err)
		}
	})
}
