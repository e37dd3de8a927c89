package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/waybill-eu/waybill/agent/event"
)

// Retention is the log's disk budget (agent/retention); nil when the file
// has no retention section: the log then grows until the disk is full.
type Retention struct {
	MaxBytes     int64    // the budget for everything under the data directory; 16 MiB or more
	HardBytes    int64    // beyond it every event is refused; default MaxBytes + MaxBytes/8
	MinFreeBytes int64    // free space the filesystem must keep; default 16 MiB
	OnFull       string   // RetentionRefuseLow (default) or RetentionRefuseAll
	LowPriority  []string // kinds refused first; default [position]
}

// What the agent does when the budget is reached and nothing can be pruned.
const (
	RetentionRefuseLow = "refuse_low_priority"
	RetentionRefuseAll = "refuse_all"
)

var (
	retentionKeys = []string{"max_bytes", "hard_limit_bytes", "min_free_bytes", "on_full", "low_priority"}
	sizeRE        = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([KMGT]i?B|B)?$`)
	sizeUnits     = map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
)

// ParseSize reads a byte size: an integer number of bytes, or a number with
// a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers
// of 1024), as in "2GiB" or "500 MB".
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (write it like 512MiB, 2GiB or 500MB)", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %v", s, err)
	}
	v *= sizeUnits[m[2]]
	if v >= math.MaxInt64/2 || v != math.Trunc(v) {
		return 0, fmt.Errorf("%q is not a whole number of bytes below 4 EiB", s)
	}
	return int64(v), nil
}

// size reads a byte-size field within [min, max]; def is the value when
// absent.
func (f *fields) size(key string, required bool, def, min, max int64) (int64, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		f.p.errorf(n, path, "want a size like 2GiB, got %s", describe(n))
		return 0, false
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		f.p.errorf(n, path, "%v", err)
		return 0, false
	}
	if v < min || v > max {
		f.p.errorf(n, path, "%s is out of range %s..%s", n.Value, fmtSize(min), fmtSize(max))
		return 0, false
	}
	return v, true
}

// fmtSize formats a byte count in the largest binary unit that divides it.
func fmtSize(v int64) string {
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if d := int64(sizeUnits[u]); v >= d && v%d == 0 {
			return fmt.Sprintf("%d%s", v/d, u)
		}
	}
	return fmt.Sprintf("%dB", v)
}

func (p *parser) retention(n *yaml.Node) *Retention {
	if n == nil {
		return nil
	}
	f := p.mapping(n, "retention", retentionKeys, nil)
	if f.n == nil {
		return nil
	}
	r := &Retention{}
	r.MaxBytes, _ = f.size("max_bytes", true, 0, 16<<20, 1<<50)
	if h, ok := f.size("hard_limit_bytes", false, 0, 16<<20, 1<<50); ok && h != 0 {
		if v, path := f.get("hard_limit_bytes", false); r.MaxBytes > 0 && h < r.MaxBytes {
			p.errorf(v, path, "the hard limit (%s) is below max_bytes (%s)", fmtSize(h), fmtSize(r.MaxBytes))
		} else {
			r.HardBytes = h
		}
	}
	r.MinFreeBytes, _ = f.size("min_free_bytes", false, 16<<20, 0, 1<<50)
	r.OnFull, _ = f.oneOf("on_full", false, RetentionRefuseLow, RetentionRefuseLow, RetentionRefuseAll)
	kinds, path := f.list("low_priority")
	if kinds == nil && !f.has("low_priority") {
		r.LowPriority = []string{string(event.KindPosition)}
	}
	for i, k := range kinds {
		kp := index(path, i)
		if !p.scalar(k, kp, "an event kind", "!!str") {
			continue
		}
		if _, known := event.Lookup(event.Kind(k.Value)); !known && !strings.HasPrefix(k.Value, "x_") {
			p.errorf(k, kp, "%q is not an event kind%s", k.Value, suggest(k.Value, kindNames()))
			continue
		}
		r.LowPriority = append(r.LowPriority, k.Value)
	}
	if r.LowPriority == nil {
		r.LowPriority = []string{}
	}
	return r
}

// kindNames returns the registered event kinds' names, sorted.
func kindNames() []string {
	var names []string
	for _, k := range event.KnownKinds() {
		names = append(names, string(k))
	}
	return names
}
