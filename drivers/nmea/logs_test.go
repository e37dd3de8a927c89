package nmea

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gpsdDir = "../../../shared/testdata/gpsd"

type logResult struct {
	scanner *Scanner
	fixes   []Fix
	parsed  int
	errs    []error
	hasA    bool // contains GGA quality>0 or RMC status A
}

func runLog(t *testing.T, path string) logResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r logResult
	r.scanner = NewScanner(f)
	var a Assembler
	for r.scanner.Scan() {
		s, err := Parse(r.scanner.Text())
		if err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		r.parsed++
		switch v := s.(type) {
		case *RMC:
			r.hasA = r.hasA || v.Status == 'A'
		case *GGA:
			r.hasA = r.hasA || (v.Quality != nil && *v.Quality > 0)
		}
		if fix, ok := a.Add(s); ok {
			r.fixes = append(r.fixes, fix)
		}
	}
	if fix, ok := a.Flush(); ok {
		r.fixes = append(r.fixes, fix)
	}
	if err := r.scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

type tpv struct {
	Class string   `json:"class"`
	Mode  int      `json:"mode"`
	Time  string   `json:"time"`
	Lat   *float64 `json:"lat"`
	Lon   *float64 `json:"lon"`
}

// chkTPVs returns gpsd's TPV reports that carry time, lat and lon.
func chkTPVs(t *testing.T, path string) []tpv {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []tpv
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, `{"class":"TPV"`) {
			continue
		}
		var v tpv
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v.Time != "" && v.Lat != nil && v.Lon != nil {
			out = append(out, v)
		}
	}
	return out
}

func TestGpsdLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(gpsdDir, "*.log"))
	if _, err := os.Stat(gpsdDir); err != nil {
		t.Skipf("gpsd logs not available: %v", err)
	}
	if len(logs) == 0 {
		t.Fatalf("no *.log in %s", gpsdDir)
	}
	for _, path := range logs {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			r := runLog(t, path)
			valid := 0
			for _, f := range r.fixes {
				if f.Valid {
					valid++
				}
			}
			s := r.scanner
			t.Logf("%s: sentences=%d parsed=%d parseErrs=%d fixes=%d valid=%d skipped=%dB badsum=%d nosum=%d toolong=%d restarts=%d",
				name, s.Sentences, r.parsed, len(r.errs), len(r.fixes), valid, s.SkippedBytes, s.BadChecksums, s.NoChecksums, s.TooLong, s.Restarts)
			for _, err := range r.errs {
				t.Logf("  parse error: %v", err)
			}
			if r.hasA && valid == 0 {
				t.Errorf("log has a valid GGA/RMC but no valid fix")
			}
			byTime := map[string]Fix{}
			for _, f := range r.fixes {
				if !f.Time.IsZero() && f.Lat != nil {
					byTime[f.Time.Format("2006-01-02T15:04:05.000Z")] = f
				}
			}
			tpvs := chkTPVs(t, path+".chk")
			matched, missing, off := 0, 0, 0
			for _, v := range tpvs {
				f, ok := byTime[v.Time]
				if !ok {
					missing++
					t.Errorf("  no fix for gpsd TPV %s %.9f %.9f", v.Time, *v.Lat, *v.Lon)
					continue
				}
				if math.Abs(*f.Lat-*v.Lat) > 1e-6 || math.Abs(*f.Lon-*v.Lon) > 1e-6 {
					off++
					t.Errorf("  position differs at %s: gpsd %.9f %.9f, got %.9f %.9f", v.Time, *v.Lat, *v.Lon, *f.Lat, *f.Lon)
					continue
				}
				matched++
			}
			t.Logf("%s: gpsd TPVs with time+position=%d matched=%d missing=%d differ=%d", name, len(tpvs), matched, missing, off)
			for _, f := range r.fixes {
				if f.Valid {
					t.Logf("first valid fix: %s src=%s %.9f %.9f pos=%s sats=%v mode=%v q=%v", f.Time.Format(time.RFC3339Nano), f.DateSource, *f.Lat, *f.Lon, f.PosSource, deref(f.SatsUsed), deref(f.FixMode), deref(f.Quality))
					break
				}
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestGpsdLogFirstFix checks the first valid fix of logs inspected by hand
// against the first TPV with time and position in the log's .chk file.
func TestGpsdLogFirstFix(t *testing.T) {
	if _, err := os.Stat(gpsdDir); err != nil {
		t.Skipf("gpsd logs not available: %v", err)
	}
	cases := []struct {
		log      string
		time     string
		lat, lon float64
		sats     int
		src      DateSource
		pos      string
	}{
		// $GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,... + RMC 311214
		{"bu353s4.log", "2014-12-31T03:07:19Z", -37.784788333, 175.314896667, 8, DateRMC, "GGA"},
		// MT3339 sends ZDA with a four-digit year after RMC.
		{"mt3339.log", "2015-04-13T20:26:40Z", 44.068843333, -121.314191667, 10, DateZDA, "GGA"},
		// Trimble RTK: 8 decimal places of minutes, fractional seconds.
		{"nmea-fuzzy-cases.log", "2020-03-18T13:28:20.6Z", 41.574970205, -93.750558641, 9, DateRMC, "GGA"},
		// NMEA 4.1: RMC nav status 'V' must not invalidate; GNS wins position and sats.
		{"telit-pls83-w.log", "2025-09-04T04:35:39Z", 43.553170100, 1.460306333, 14, DateRMC, "GNS"},
		// Stale ZDA before the first fix; date from the epoch's own ZDA.
		{"ublox-lea-4h.log", "2006-08-10T03:08:58Z", 49.130888500, -122.719957167, 3, DateZDA, "GGA"},
	}
	for _, c := range cases {
		t.Run(c.log, func(t *testing.T) {
			r := runLog(t, filepath.Join(gpsdDir, c.log))
			var first *Fix
			for i := range r.fixes {
				if r.fixes[i].Valid {
					first = &r.fixes[i]
					break
				}
			}
			if first == nil {
				t.Fatal("no valid fix")
			}
			if got := first.Time.Format(time.RFC3339Nano); got != c.time {
				t.Errorf("time = %s, want %s", got, c.time)
			}
			if math.Abs(*first.Lat-c.lat) > 1e-7 || math.Abs(*first.Lon-c.lon) > 1e-7 {
				t.Errorf("position = %.9f,%.9f, want %.9f,%.9f", *first.Lat, *first.Lon, c.lat, c.lon)
			}
			if first.SatsUsed == nil || *first.SatsUsed != c.sats {
				t.Errorf("sats = %v, want %d", deref(first.SatsUsed), c.sats)
			}
			if first.DateSource != c.src || first.PosSource != c.pos {
				t.Errorf("sources = %q/%q, want %q/%q", first.DateSource, first.PosSource, c.src, c.pos)
			}
			// Cross-check with gpsd's first TPV carrying time and position.
			tpvs := chkTPVs(t, filepath.Join(gpsdDir, c.log+".chk"))
			if len(tpvs) == 0 {
				t.Fatal("no TPV in .chk")
			}
			want, _ := time.Parse(time.RFC3339Nano, tpvs[0].Time)
			if !want.Equal(first.Time) || math.Abs(*tpvs[0].Lat-*first.Lat) > 1e-7 || math.Abs(*tpvs[0].Lon-*first.Lon) > 1e-7 {
				t.Errorf("gpsd first TPV %s %.9f,%.9f differs from ours", tpvs[0].Time, *tpvs[0].Lat, *tpvs[0].Lon)
			}
		})
	}
}
