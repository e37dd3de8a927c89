package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{"2GiB", 2 << 30, ""},
		{"500 MB", 500e6, ""},
		{"1.5GiB", 3 << 29, ""},
		{"16777216", 16 << 20, ""},
		{"64KiB", 64 << 10, ""},
		{"2 gb", 0, "is not a size"},
		{"-1GiB", 0, "is not a size"},
		{"0.3B", 0, "whole number"},
		{"99999999TiB", 0, "whole number"},
		{"", 0, "is not a size"},
	} {
		got, err := ParseSize(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParse_Retention(t *testing.T) {
	c, err := Parse("s.yaml", []byte(syncBase+`retention:
  max_bytes: 2GiB
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Retention
	if r == nil || r.MaxBytes != 2<<30 || r.HardBytes != 0 || r.MinFreeBytes != 16<<20 || r.OnFull != RetentionRefuseLow ||
		len(r.LowPriority) != 1 || r.LowPriority[0] != "position" {
		t.Errorf("retention = %+v", r)
	}
	c, err = Parse("s.yaml", []byte(syncBase+`retention:
  max_bytes: 512MiB
  hard_limit_bytes: 600MiB
  min_free_bytes: 0
  on_full: refuse_all
  low_priority: [position, sensor_fault, x_debug]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Retention; r.HardBytes != 600<<20 || r.MinFreeBytes != 0 || r.OnFull != RetentionRefuseAll || strings.Join(r.LowPriority, ",") != "position,sensor_fault,x_debug" {
		t.Errorf("retention = %+v", r)
	}
	c, err = Parse("s.yaml", []byte(syncBase+`retention:
  max_bytes: 64MiB
  low_priority: []
`), nil)
	if err != nil || len(c.Retention.LowPriority) != 0 || c.Retention.LowPriority == nil {
		t.Errorf("an empty low_priority list: %+v, %v", c.Retention, err)
	}
	_, err = Parse("s.yaml", []byte(syncBase+`retention:
  max_bytes: 1MiB
  hard_limit_bytes: 20MiB
  on_full: drop_oldest
  low_priority: [positon, 3]
  max_byte: 1
`), nil)
	for _, want := range []string{
		`s.yaml:4:14: retention.max_bytes: 1MiB is out of range 16MiB..1024TiB`,
		`retention.on_full: "drop_oldest" is not refuse_low_priority or refuse_all`,
		`retention.low_priority[0]: "positon" is not an event kind (did you mean "position"?)`,
		`retention.low_priority[1]: want an event kind`,
		`unknown field "max_byte" (did you mean "max_bytes"?)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	_, err = Parse("s.yaml", []byte(syncBase+`retention:
  max_bytes: 1GiB
  hard_limit_bytes: 900MiB
`), nil)
	if err == nil || !strings.Contains(err.Error(), "retention.hard_limit_bytes: the hard limit (900MiB) is below max_bytes (1GiB)") {
		t.Errorf("hard limit below the budget: %v", err)
	}
	_, err = Parse("s.yaml", []byte(syncBase+`retention: {}
`), nil)
	if err == nil || !strings.Contains(err.Error(), "retention.max_bytes: missing required field") {
		t.Errorf("no max_bytes: %v", err)
	}
}
