package nmea

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// withSum appends a correct checksum to "$body".
func withSum(s string) string {
	return s + "*" + strings.ToUpper(hex2(Checksum(s[1:])))
}

func hex2(b byte) string {
	const h = "0123456789abcdef"
	return string([]byte{h[b>>4], h[b&15]})
}

func near(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

func TestParseGGA(t *testing.T) {
	s, err := Parse("$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133*7E\r\n")
	if err != nil {
		t.Fatal(err)
	}
	g := s.(*GGA)
	if g.Talker() != "GP" || g.Type() != "GGA" {
		t.Errorf("head %s/%s", g.Talker(), g.Type())
	}
	if g.Time != (Time{13, 28, 20, 600000000, true}) {
		t.Errorf("time %v", g.Time)
	}
	if !near(g.Lat, 41+34.49821229/60) || !near(g.Lon, -(93+45.03351845/60)) {
		t.Errorf("pos %v %v", *g.Lat, *g.Lon)
	}
	if *g.Quality != 2 || *g.NumSats != 9 || !near(g.HDOP, 1) || !near(g.Altitude, 278.02) || !near(g.GeoidSep, -31.442) || !near(g.DGPSAge, 7.6) || g.DGPSStation != "0133" {
		t.Errorf("fields %+v", g)
	}
	// No fix: empty fields are absent, not zero.
	s, err = Parse("$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*59")
	if err != nil {
		t.Fatal(err)
	}
	g = s.(*GGA)
	if g.Lat != nil || g.Lon != nil || g.Altitude != nil || g.GeoidSep != nil || g.DGPSAge != nil || *g.Quality != 0 {
		t.Errorf("empty GGA %+v", g)
	}
}

func TestParseRMC(t *testing.T) {
	cases := []struct {
		line             string
		talker           string
		status, mode, ns byte
		date             Date
		magvar           *float64
	}{
		// NMEA 2.0 (no mode field), Garmin 15x.
		{"$GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,181022,009.3,E*6B", "GP", 'A', 0, 0, Date{2022, 10, 18, true}, ptr(9.3)},
		// NMEA 2.3 mode indicator.
		{"$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D", "GP", 'A', 'A', 0, Date{2014, 12, 31, true}, nil},
		// NMEA 4.1 navigational status 'V' after mode 'A'; status field 2 is 'A'.
		{"$GARMC,043539.00,A,4333.190206,N,00127.618380,E,0.0,,040925,1.7,W,A,V*6D", "GA", 'A', 'A', 'V', Date{2025, 9, 4, true}, ptr(-1.7)},
		// Invalid, no position, 1990s date.
		{"$GNRMC,235959.00,V,,,,,,,010199,,,N*" + hex2(Checksum("GNRMC,235959.00,V,,,,,,,010199,,,N")), "GN", 'V', 'N', 0, Date{1999, 1, 1, true}, nil},
	}
	for _, c := range cases {
		s, err := Parse(c.line)
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		r := s.(*RMC)
		if r.Talker() != c.talker || r.Status != c.status || r.Mode != c.mode || r.NavStatus != c.ns || r.Date != c.date {
			t.Errorf("%s: got %+v", c.line, r)
		}
		if (c.magvar == nil) != (r.MagVar == nil) || c.magvar != nil && !near(r.MagVar, *c.magvar) {
			t.Errorf("%s: magvar %v", c.line, deref(r.MagVar))
		}
	}
	r, _ := Parse("$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D")
	if g := r.(*RMC); !near(g.SpeedKnots, 0.69) || !near(g.Course, 181.39) || !near(g.Lat, -(37+47.0873/60)) {
		t.Errorf("%+v", g)
	}
}

func ptr(f float64) *float64 { return &f }

func TestParseOthers(t *testing.T) {
	s, err := Parse("$GNGNS,043539.00,4333.190206,N,00127.618380,E,AAAAN,14,1.3,250.8,50.0,,,V*62")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.(*GNS); g.Mode != "AAAAN" || *g.NumSats != 14 || !near(g.Altitude, 250.8) || g.NavStatus != 'V' || !near(g.Lat, 43+33.190206/60) {
		t.Errorf("GNS %+v", g)
	}
	s, err = Parse("$GPGLL,4808.9985,N,01135.0867,E,164516.99,A,A*6E")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.(*GLL); g.Status != 'A' || g.Mode != 'A' || g.Time != (Time{16, 45, 16, 990000000, true}) || !near(g.Lon, 11+35.0867/60) {
		t.Errorf("GLL %+v", g)
	}
	s, err = Parse("$GPVTG,,T,1.7,M,0.0,N,0.0,K,A*0B")
	if err != nil {
		t.Fatal(err)
	}
	if v := s.(*VTG); v.CourseTrue != nil || !near(v.CourseMag, 1.7) || !near(v.SpeedKnots, 0) || v.Mode != 'A' {
		t.Errorf("VTG %+v", v)
	}
	s, err = Parse(withSum("$GPVTG,054.7,034.4,005.5,010.2"))
	if err != nil {
		t.Fatal(err)
	}
	if v := s.(*VTG); !near(v.CourseTrue, 54.7) || !near(v.SpeedKPH, 10.2) {
		t.Errorf("legacy VTG %+v", v)
	}
	s, err = Parse("$GNGSA,A,2,208,211,213,,,,,,,,,,1.6,1.3,0.9,4*01")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.(*GSA); *g.FixMode != 2 || len(g.SatIDs) != 3 || g.SatIDs[0] != 208 || !near(g.PDOP, 1.6) || !near(g.VDOP, 0.9) || *g.SystemID != 4 {
		t.Errorf("GSA %+v", g)
	}
	// SiRF-TriG puts a float in field 18: ignored.
	s, err = Parse("$BDGSA,A,3,02,03,04,,,,,,,,,,2.1,1.1,1.8,1.2*2D")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.(*GSA); g.Talker() != "BD" || g.SystemID != nil || len(g.SatIDs) != 3 {
		t.Errorf("BDGSA %+v", g)
	}
	s, err = Parse("$GLGSV,3,3,10,67,23,143,22,88,00,084,,1*73")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.(*GSV); g.Talker() != "GL" || g.Total != 3 || g.Number != 3 || g.InView != 10 || len(g.Sats) != 2 || *g.SignalID != 1 || g.Sats[1].SNR != nil || *g.Sats[0].SNR != 22 {
		t.Errorf("GSV %+v", g)
	}
	s, err = Parse("$GPGSV,4,4,13,44,33,219,36,,,,,,,,,,,,*44")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.(*GSV); len(g.Sats) != 1 || g.Sats[0].ID != 44 {
		t.Errorf("padded GSV %+v", g)
	}
	s, err = Parse("$GPZDA,232712.000,28,03,2016,00,00*5D")
	if err != nil {
		t.Fatal(err)
	}
	if z := s.(*ZDA); z.Date != (Date{2016, 3, 28, true}) || z.Time.Hour != 23 || *z.ZoneHours != 0 {
		t.Errorf("ZDA %+v", z)
	}
	for _, talker := range []string{"GQ", "GB", "BD", "GA", "GL", "GN"} {
		s, err := Parse(withSum("$" + talker + "GGA,120000.00,5130.0000,N,00007.5000,W,1,12,0.8,35.0,M,47.0,M,,"))
		if err != nil {
			t.Fatalf("%s: %v", talker, err)
		}
		g, ok := s.(*GGA)
		if !ok || g.Talker() != talker || !near(g.Lat, 51.5) || !near(g.Lon, -0.125) {
			t.Errorf("%s: %+v", talker, s)
		}
	}
	s, err = Parse("$PGRME,7.6,M,41.7,M,42.4,M*2F")
	if err != nil {
		t.Fatal(err)
	}
	if u := s.(*Unknown); u.Talker() != "P" || u.Type() != "GRME" || len(u.Fields) != 6 {
		t.Errorf("proprietary %+v", u)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		line string
		want string // substring of the error, or sentinel
		is   error
	}{
		{withSum("$GPRMC,120000,A,51x2.1,N,00000.000,E,,,010120,,"), `nmea: RMC field 3 (latitude): "51x2.1" is not a number`, nil},
		{withSum("$GPRMC,126000,A,5100.0,N,00000.000,E,,,010120,,"), `RMC field 1 (time)`, nil},
		{withSum("$GPRMC,120000,X,5100.0,N,00000.000,E,,,010120,,"), `RMC field 2 (status)`, nil},
		{withSum("$GPRMC,120000,A,5100.0,Q,00000.000,E,,,010120,,"), `RMC field 4 (latitude hemisphere)`, nil},
		{withSum("$GPRMC,120000,A,5100.0,N,00000.000,E,,,310220,,"), `RMC field 9 (date)`, nil},
		{withSum("$GPGGA,120000,5160.0,N,00000.000,E,1,08,1.0,1e3,M,,M,,"), `GGA field 2 (latitude): "5160.0" has minutes >= 60`, nil},
		{withSum("$GPGGA,120000,5100.0,N,00000.000,E,1,08,1.0,1e3,M,,M,,"), `GGA field 9 (altitude): "1e3" is not a number`, nil},
		{withSum("$GPGGA,120000,5100.0,N,18100.000,E,1,08,1.0,1,M,,M,,"), `GGA field 4 (longitude)`, nil},
		{withSum("$GPGGA,120000,5100.0,N,,,1,08,1.0,1,M,,M,,"), `without a longitude`, nil},
		{withSum("$GPGSA,A,4,,,,,,,,,,,,,,,"), `GSA field 2 (fix mode)`, nil},
		{withSum("$GPGSV,1,1,NaN"), `GSV field 3`, nil},
		{withSum("$GPZDA,120000,31,02,2020,,"), `ZDA field 4`, nil},
		{withSum("$GPRMC,120000,A"), `RMC has 2 fields`, nil},
		{"$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*58", "", ErrChecksum},
		{"$GPGGA,030851.00,,,,,0,03,9.93,,,,,,", "", ErrNoChecksum},
		{"$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*5", "", ErrNoChecksum},
		{"$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*5G", "", ErrNoChecksum},
		{"GPGGA,030851.00*00", "", ErrNoStart},
		{withSum("$gpgga,1"), "", ErrAddress},
		{withSum("$GPGGAX,1"), "", ErrAddress},
		{withSum("$,1"), "", ErrAddress},
		{"", "", ErrNoStart},
	}
	for _, c := range cases {
		_, err := Parse(c.line)
		if err == nil {
			t.Errorf("%q: no error", c.line)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%q: %v, want %v", c.line, err, c.is)
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.line, err, c.want)
		}
	}
	var fe *FieldError
	_, err := Parse(withSum("$GPRMC,120000,A,51x2.1,N,00000.000,E,,,010120,,"))
	if !errors.As(err, &fe) || fe.Type != "RMC" || fe.Index != 3 || fe.Name != "latitude" {
		t.Errorf("FieldError %+v", fe)
	}
	// Lower-case checksum digits are accepted.
	if _, err := Parse("$GPGSA,A,3,,21,,,,06,18,,05,,,,02.3,01.3,01.9*00"); err != nil {
		t.Error(err)
	}
	if _, err := Parse("$GPGSV,3,1,11,02,60,319,36,05,77,132,38,11,29,052,29,12,46,186,46*74"); err != nil {
		t.Error(err)
	}
	if _, err := Parse("$GPGSA,A,3,02,05,11,12,18,20,25,29,,,,,1.4,1.1,0.9*3d"); err != nil {
		t.Error(err)
	}
}
