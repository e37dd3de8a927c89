package nmea

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDecode_Golden decodes testdata/decode.nmea (a comment line, a 3D
// fix, a no-fix epoch, a GLL-only 2D fix, a fix dated 1998, a checksum
// error, binary noise) and compares with testdata/decode.jsonl.
func TestDecode_Golden(t *testing.T) {
	in, err := os.ReadFile("testdata/decode.nmea")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st, err := Decode(bytes.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/decode.jsonl"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("Decode =\n%s\nwant\n%s", out.Bytes(), want)
	}
	if st.Sentences != 8 || st.BadChecksums != 1 || st.ParseErrors != 0 || st.Epochs != 4 || st.Lines != 3 {
		t.Errorf("stats %+v", st)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	lat, lon, alt, kn, crs, hdop, sats, mode := 50.1234567, -4.000000001, -12.5, 1.0, 359.9, 0.9, 9, 3
	cases := []struct {
		fix  Fix
		want string
	}{
		{Fix{}, `{}`},
		{Fix{Time: time.Date(2019, 3, 28, 10, 1, 2, 5e8, time.UTC)}, `{"time":"2019-03-28T10:01:02.5Z"}`},
		{Fix{Time: time.Date(2019, 3, 28, 10, 1, 2, 0, time.FixedZone("CET", 3600))}, `{"time":"2019-03-28T09:01:02Z"}`},
		{Fix{Lat: &lat, Lon: &lon}, `{"lat":50.123456700,"lon":-4.000000001}`},
		{
			Fix{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Lat: &lat, Lon: &lon, Altitude: &alt, SpeedKnots: &kn, Course: &crs, HDOP: &hdop, SatsUsed: &sats, FixMode: &mode},
			`{"time":"2026-01-02T03:04:05.123456789Z","lat":50.123456700,"lon":-4.000000001,"alt_m":-12.5,"speed_mps":0.514,"course_deg":359.9,"mode":"3d","sats":9,"hdop":0.9}`,
		},
	}
	for _, c := range cases {
		if got := string(AppendJSON(nil, &c.fix)); got != c.want {
			t.Errorf("AppendJSON = %s, want %s", got, c.want)
		}
	}
}

// TestDecode_GpsdLogs decodes every shared gpsd log: each of gpsd's TPV
// reports with a time and a position has a line with the same time and the
// position within 1e-6 degree. gpsd reports an epoch when the sentence it
// takes for the end of the receiver's cycle arrives, so an epoch cut short
// (by the start or end of a recording, or one that lacks that sentence)
// gets no TPV: at most one line per log may lack a TPV.
func TestDecode_GpsdLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(gpsdDir, "*.log"))
	if len(logs) == 0 {
		t.Skipf("gpsd logs not available in %s", gpsdDir)
	}
	for _, path := range logs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			st, err := Decode(bytes.NewReader(in), &out)
			if err != nil {
				t.Fatal(err)
			}
			type pos struct{ lat, lon float64 }
			ours := map[time.Time]pos{}
			var order []time.Time
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var v struct {
					Time string  `json:"time"`
					Lat  float64 `json:"lat"`
					Lon  float64 `json:"lon"`
				}
				if err := json.Unmarshal([]byte(l), &v); err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				tm, err := time.Parse(time.RFC3339Nano, v.Time)
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				ours[tm] = pos{v.Lat, v.Lon}
				order = append(order, tm)
			}
			reported := map[time.Time]bool{}
			for _, v := range chkTPVs(t, path+".chk") {
				tm, err := time.Parse(time.RFC3339Nano, v.Time)
				if err != nil {
					t.Fatal(err)
				}
				reported[tm] = true
				p, ok := ours[tm]
				switch {
				case !ok:
					t.Errorf("no line for gpsd TPV %s %.9f %.9f", v.Time, *v.Lat, *v.Lon)
				case math.Abs(p.lat-*v.Lat) > 1e-6 || math.Abs(p.lon-*v.Lon) > 1e-6:
					t.Errorf("%s: gpsd %.9f %.9f, Decode %.9f %.9f", v.Time, *v.Lat, *v.Lon, p.lat, p.lon)
				}
			}
			unreported := 0
			for i, tm := range order {
				if !reported[tm] {
					unreported++
					t.Logf("line %d of %d (%v) has no gpsd TPV", i+1, len(order), tm)
				}
			}
			if unreported > 1 {
				t.Errorf("%d lines have no gpsd TPV", unreported)
			}
			t.Logf("%d lines, %d gpsd TPV times; %+v", len(order), len(reported), st)
		})
	}
}

func TestDecode_Errors(t *testing.T) {
	in := "$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D\r\n" +
		"$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D\r\n"
	boom := errors.New("boom")
	if _, err := Decode(iotest.ErrReader(boom), &bytes.Buffer{}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "read") {
		t.Errorf("read error: %v", err)
	}
	if _, err := Decode(strings.NewReader(in), failWriter{boom}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "write") {
		t.Errorf("write error: %v", err)
	}
	// A reader that returns data with its error.
	st, err := Decode(iotest.DataErrReader(strings.NewReader(in)), &bytes.Buffer{})
	if err != nil || st.Lines != 1 {
		t.Errorf("DataErrReader: %+v, %v", st, err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
