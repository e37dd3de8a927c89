package nmea

import (
	"testing"
	"time"
)

func assemble(t *testing.T, lines ...string) []Fix {
	t.Helper()
	var a Assembler
	var out []Fix
	for _, l := range lines {
		s, err := Parse(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if f, ok := a.Add(s); ok {
			out = append(out, f)
		}
	}
	if f, ok := a.Flush(); ok {
		out = append(out, f)
	}
	return out
}

func TestAssembler(t *testing.T) {
	fixes := assemble(t,
		"$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D",
		"$GPGSA,A,3,17,28,06,01,30,20,26,13,,,,,1.8,1.1,1.5*33",
		"$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D",
		"$GPGGA,030720.000,3747.0875,S,17518.8938,E,1,08,1.1,59.8,M,23.7,M,,0000*70",
	)
	if len(fixes) != 2 {
		t.Fatalf("%d fixes", len(fixes))
	}
	f := fixes[0]
	if !f.Valid || f.DateSource != DateRMC || !f.Time.Equal(time.Date(2014, 12, 31, 3, 7, 19, 0, time.UTC)) ||
		*f.SatsUsed != 8 || *f.FixMode != 3 || !near(f.PDOP, 1.8) || !near(f.HDOP, 1.1) || !near(f.Altitude, 59.9) ||
		!near(f.SpeedKnots, 0.69) || !near(f.Course, 181.39) || f.PosSource != "GGA" || f.NumSentence != 3 {
		t.Errorf("fix 0 %+v", f)
	}
	if ms, ok := f.SpeedMS(); !ok || ms < 0.35 || ms > 0.36 {
		t.Errorf("speed %v", ms)
	}
	// Second epoch has only a GGA: date carried forward.
	if g := fixes[1]; g.DateSource != DateCarried || g.Time.Day() != 31 || !g.Valid || g.Course != nil {
		t.Errorf("fix 1 %+v", g)
	}
}

func TestAssemblerValidity(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		valid bool
	}{
		{"RMC V", []string{withSum("$GPRMC,120000,V,5100.0,N,00100.0,E,,,010120,,,A")}, false},
		{"RMC A, nav status V", []string{withSum("$GNRMC,120000,A,5100.0,N,00100.0,E,,,010120,,,A,V")}, true},
		{"GGA 0 with RMC A", []string{withSum("$GPGGA,120000,5100.0,N,00100.0,E,0,00,,,M,,M,,"), withSum("$GPRMC,120000,A,5100.0,N,00100.0,E,,,010120,,,A")}, false},
		{"GNS all N", []string{"$GNGNS,074150.799,5100.0,N,00100.0,E,NNNN,00,,,0.0,,0000*" + hex2(Checksum("GNGNS,074150.799,5100.0,N,00100.0,E,NNNN,00,,,0.0,,0000"))}, false},
		{"GNS one A, nav V", []string{"$GNGNS,043539.00,4333.190206,N,00127.618380,E,AAAAN,14,1.3,250.8,50.0,,,V*62"}, true},
		{"GLL V", []string{withSum("$GPGLL,5100.0,N,00100.0,E,120000,V,N")}, false},
		{"null island", []string{withSum("$GPGGA,120000,0000.0,N,00000.0,E,1,08,1.0,0,M,,M,,")}, false},
		{"no flags", []string{withSum("$GPGLL,5100.0,N,00100.0,E,120000,,")}, false},
		{"no position", []string{withSum("$GPGGA,120000,,,,,1,08,1.0,0,M,,M,,")}, false},
	}
	for _, c := range cases {
		fixes := assemble(t, c.lines...)
		if len(fixes) != 1 || fixes[0].Valid != c.valid {
			t.Errorf("%s: %+v", c.name, fixes)
		}
	}
}

func TestAssemblerMidnight(t *testing.T) {
	fixes := assemble(t,
		withSum("$GPRMC,235959.50,A,5100.0,N,00100.0,E,,,311299,,,A"),
		withSum("$GPGGA,000000.50,5100.0,N,00100.0,E,1,08,1.0,0,M,,M,,"),
		withSum("$GPZDA,000001.50,01,01,2000,,"),
	)
	if len(fixes) != 3 {
		t.Fatalf("%d fixes", len(fixes))
	}
	want := []time.Time{
		time.Date(1999, 12, 31, 23, 59, 59, 5e8, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 5e8, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 1, 5e8, time.UTC),
	}
	srcs := []DateSource{DateRMC, DateCarried, DateZDA}
	for i, f := range fixes {
		if !f.Time.Equal(want[i]) || f.DateSource != srcs[i] {
			t.Errorf("fix %d: %v %s", i, f.Time, f.DateSource)
		}
	}
	// Before any date: time of day only.
	fixes = assemble(t, withSum("$GPGGA,120000,5100.0,N,00100.0,E,1,08,1.0,0,M,,M,,"))
	if !fixes[0].Time.IsZero() || fixes[0].DateSource != DateNone || fixes[0].TimeOfDay.Hour != 12 {
		t.Errorf("%+v", fixes[0])
	}
}
