package nmea

const (
	letters   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	statusAV  = "AV"
	modeChars = letters // FAA mode: A auto, D diff, E estimated, F float RTK, M manual, N not valid, P precise, R RTK, S simulator
)

// GGA is Global Positioning System Fix Data.
//
//	$--GGA,hhmmss.ss,llll.ll,a,yyyyy.yy,a,x,xx,x.x,x.x,M,x.x,M,x.x,xxxx*hh
//	       1         2       3 4        5 6 7  8   9   10 11 12 13  14
//
// 1 UTC time, 2-3 latitude, 4-5 longitude, 6 quality (0 invalid, 1 GPS,
// 2 DGPS, 4 RTK fixed, 5 RTK float, 6 estimated, ...), 7 satellites used,
// 8 HDOP, 9-10 altitude above MSL (m), 11-12 geoid separation (m),
// 13 age of differential corrections (s), 14 differential station ID.
type GGA struct {
	Head
	Time        Time
	Lat, Lon    *float64 // degrees, north/east positive
	Quality     *int
	NumSats     *int
	HDOP        *float64
	Altitude    *float64 // metres above mean sea level
	GeoidSep    *float64 // metres
	DGPSAge     *float64 // seconds
	DGPSStation string
}

func parseGGA(h Head, p *fieldParser) (*GGA, error) {
	if err := p.need(6); err != nil {
		return nil, err
	}
	var e errs
	s := &GGA{Head: h}
	s.Time = e.t(p.time(1))
	s.Lat, s.Lon = e.ll(p.latLon(2))
	s.Quality = e.i(p.int(6, "quality", false))
	s.NumSats = e.i(p.int(7, "satellites used", false))
	s.HDOP = e.f(p.float(8, "HDOP", false))
	s.Altitude = e.f(p.float(9, "altitude", true))
	s.GeoidSep = e.f(p.float(11, "geoid separation", true))
	s.DGPSAge = e.f(p.float(13, "DGPS age", false))
	s.DGPSStation = p.get(14)
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// RMC is Recommended Minimum Specific GNSS Data.
//
//	$--RMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,x.x,x.x,ddmmyy,x.x,a,m,s*hh
//	       1         2 3       4 5        6 7   8   9      10  11 12 13
//
// 1 UTC time, 2 status (A valid, V warning), 3-4 latitude, 5-6 longitude,
// 7 speed over ground (knots), 8 course over ground (degrees true),
// 9 date, 10-11 magnetic variation, 12 mode indicator (NMEA 2.3+),
// 13 navigational status (NMEA 4.1+: S safe, C caution, U unsafe,
// V "not valid", i.e. no navigational status; it does not invalidate the
// fix, which is field 2's job).
type RMC struct {
	Head
	Time       Time
	Status     byte // 'A' or 'V'; 0 if absent
	Lat, Lon   *float64
	SpeedKnots *float64
	Course     *float64 // degrees true
	Date       Date     // two-digit year: 20yy if yy < 80, else 19yy
	MagVar     *float64 // degrees, east positive
	Mode       byte     // 0 if absent
	NavStatus  byte     // 0 if absent
}

func parseRMC(h Head, p *fieldParser) (*RMC, error) {
	if err := p.need(9); err != nil {
		return nil, err
	}
	var e errs
	s := &RMC{Head: h}
	s.Time = e.t(p.time(1))
	s.Status = e.c(p.char(2, "status", statusAV))
	s.Lat, s.Lon = e.ll(p.latLon(3))
	s.SpeedKnots = e.f(p.float(7, "speed", false))
	s.Course = e.f(p.float(8, "course", false))
	s.Date = e.d(p.ddmmyy(9))
	s.MagVar = e.f(p.float(10, "magnetic variation", false))
	if hemi := e.c(p.char(11, "magnetic variation direction", "EW")); hemi == 'W' && s.MagVar != nil {
		*s.MagVar = -*s.MagVar
	}
	s.Mode = e.c(p.char(12, "mode", modeChars))
	s.NavStatus = e.c(p.char(13, "navigational status", letters))
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// GNS is GNSS Fix Data.
//
//	$--GNS,hhmmss.ss,llll.ll,a,yyyyy.yy,a,c--c,xx,x.x,x.x,x.x,x.x,x.x,a*hh
//	       1         2       3 4        5 6    7  8   9   10  11  12  13
//
// 1 UTC time, 2-3 latitude, 4-5 longitude, 6 mode indicator, one character
// per constellation (GPS, GLONASS, Galileo, BeiDou, ...; N = no fix),
// 7 satellites used, 8 HDOP, 9 altitude MSL (m), 10 geoid separation (m),
// 11 differential age, 12 differential station, 13 navigational status
// (NMEA 4.1; see [RMC]).
type GNS struct {
	Head
	Time        Time
	Lat, Lon    *float64
	Mode        string
	NumSats     *int
	HDOP        *float64
	Altitude    *float64
	GeoidSep    *float64
	DGPSAge     *float64
	DGPSStation string
	NavStatus   byte
}

func parseGNS(h Head, p *fieldParser) (*GNS, error) {
	if err := p.need(6); err != nil {
		return nil, err
	}
	var e errs
	s := &GNS{Head: h}
	s.Time = e.t(p.time(1))
	s.Lat, s.Lon = e.ll(p.latLon(2))
	s.Mode = p.get(6)
	for i := 0; i < len(s.Mode); i++ {
		if c := s.Mode[i]; c < 'A' || c > 'Z' {
			return nil, p.fail(6, "mode", "is not a string of mode letters")
		}
	}
	s.NumSats = e.i(p.int(7, "satellites used", false))
	s.HDOP = e.f(p.float(8, "HDOP", false))
	s.Altitude = e.f(p.float(9, "altitude", true))
	s.GeoidSep = e.f(p.float(10, "geoid separation", true))
	s.DGPSAge = e.f(p.float(11, "DGPS age", false))
	s.DGPSStation = p.get(12)
	s.NavStatus = e.c(p.char(13, "navigational status", letters))
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// GLL is Geographic Position, Latitude/Longitude.
//
//	$--GLL,llll.ll,a,yyyyy.yy,a,hhmmss.ss,A,a*hh
//	       1       2 3        4 5         6 7
//
// 1-2 latitude, 3-4 longitude, 5 UTC time, 6 status (A valid, V invalid),
// 7 mode indicator (NMEA 2.3+). Fields 5-7 are absent in NMEA 1.5.
type GLL struct {
	Head
	Lat, Lon *float64
	Time     Time
	Status   byte
	Mode     byte
}

func parseGLL(h Head, p *fieldParser) (*GLL, error) {
	if err := p.need(4); err != nil {
		return nil, err
	}
	var e errs
	s := &GLL{Head: h}
	s.Lat, s.Lon = e.ll(p.latLon(1))
	s.Time = e.t(p.time(5))
	s.Status = e.c(p.char(6, "status", statusAV))
	s.Mode = e.c(p.char(7, "mode", modeChars))
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// VTG is Course Over Ground and Ground Speed.
//
//	$--VTG,x.x,T,x.x,M,x.x,N,x.x,K,m*hh
//	       1   2 3   4 5   6 7   8 9
//
// 1 course (degrees true), 3 course (degrees magnetic), 5 speed (knots),
// 7 speed (km/h), 9 mode indicator (NMEA 2.3+). The pre-2.0 form without
// unit letters, $--VTG,t,m,n,k, is also accepted.
type VTG struct {
	Head
	CourseTrue, CourseMag *float64
	SpeedKnots, SpeedKPH  *float64
	Mode                  byte
}

func parseVTG(h Head, p *fieldParser) (*VTG, error) {
	var e errs
	s := &VTG{Head: h}
	if p.n == 5 { // legacy: course T, course M, knots, km/h
		s.CourseTrue = e.f(p.float(1, "course true", false))
		s.CourseMag = e.f(p.float(2, "course magnetic", false))
		s.SpeedKnots = e.f(p.float(3, "speed knots", false))
		s.SpeedKPH = e.f(p.float(4, "speed km/h", false))
	} else {
		if err := p.need(8); err != nil {
			return nil, err
		}
		s.CourseTrue = e.f(p.float(1, "course true", false))
		s.CourseMag = e.f(p.float(3, "course magnetic", false))
		s.SpeedKnots = e.f(p.float(5, "speed knots", false))
		s.SpeedKPH = e.f(p.float(7, "speed km/h", false))
		s.Mode = e.c(p.char(9, "mode", modeChars))
	}
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// GSA is GNSS DOP and Active Satellites.
//
//	$--GSA,a,x,xx,xx,xx,xx,xx,xx,xx,xx,xx,xx,xx,xx,x.x,x.x,x.x,h*hh
//	       1 2 3                                14 15  16  17  18
//
// 1 selection mode (M manual, A automatic), 2 fix mode (1 none, 2 2D,
// 3 3D), 3-14 IDs of satellites used, 15 PDOP, 16 HDOP, 17 VDOP,
// 18 GNSS system ID (NMEA 4.1). Some receivers put something other than an
// integer in field 18 (SiRF-TriG sends a float); that is ignored.
type GSA struct {
	Head
	SelectionMode    byte
	FixMode          *int
	SatIDs           []int
	PDOP, HDOP, VDOP *float64
	SystemID         *int
}

func parseGSA(h Head, p *fieldParser) (*GSA, error) {
	if err := p.need(17); err != nil {
		return nil, err
	}
	var e errs
	s := &GSA{Head: h}
	s.SelectionMode = e.c(p.char(1, "selection mode", "AM"))
	s.FixMode = e.i(p.int(2, "fix mode", false))
	if s.FixMode != nil && (*s.FixMode < 1 || *s.FixMode > 3) {
		return nil, p.fail(2, "fix mode", "is not 1, 2 or 3")
	}
	for i := 3; i <= 14; i++ {
		if id := e.i(p.int(i, "satellite ID", false)); id != nil {
			if s.SatIDs == nil {
				s.SatIDs = make([]int, 0, 15-i)
			}
			s.SatIDs = append(s.SatIDs, *id)
		}
	}
	s.PDOP = e.f(p.float(15, "PDOP", false))
	s.HDOP = e.f(p.float(16, "HDOP", false))
	s.VDOP = e.f(p.float(17, "VDOP", false))
	if id, err := p.int(18, "system ID", false); err == nil {
		s.SystemID = id
	}
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// SatInView is one satellite of a [GSV] sentence.
type SatInView struct {
	ID        int
	Elevation *int // degrees
	Azimuth   *int // degrees true
	SNR       *int // dB-Hz; nil when not tracked
}

// GSV is GNSS Satellites in View; a full sky view spans Total sentences.
//
//	$--GSV,x,x,xx,xx,xx,xxx,xx,...,xx,xx,xxx,xx,h*hh
//	       1 2 3  4  5  6   7          4n+4..4n+7 s
//
// 1 number of sentences, 2 sentence number, 3 satellites in view, then up
// to four groups of ID, elevation, azimuth, SNR, and (NMEA 4.1) a signal ID.
type GSV struct {
	Head
	Total, Number, InView int
	Sats                  []SatInView
	SignalID              *int
}

func parseGSV(h Head, p *fieldParser) (*GSV, error) {
	if err := p.need(3); err != nil {
		return nil, err
	}
	var e errs
	s := &GSV{Head: h}
	req := func(i int, name string) int {
		v := e.i(p.int(i, name, false))
		if v == nil {
			if e.err == nil {
				e.err = p.fail(i, name, "is empty")
			}
			return 0
		}
		return *v
	}
	s.Total = req(1, "number of sentences")
	s.Number = req(2, "sentence number")
	s.InView = req(3, "satellites in view")
	n := p.n - 4
	if n%4 == 1 {
		s.SignalID = e.i(p.int(p.n-1, "signal ID", false))
		n--
	}
	if n > 0 {
		s.Sats = make([]SatInView, 0, (n+3)/4)
	}
	for i := 4; i < 4+n; i += 4 {
		id := e.i(p.int(i, "satellite ID", false))
		el := e.i(p.int(i+1, "elevation", true))
		az := e.i(p.int(i+2, "azimuth", false))
		snr := e.i(p.int(i+3, "SNR", false))
		if id == nil {
			continue // empty padding group
		}
		s.Sats = append(s.Sats, SatInView{ID: *id, Elevation: el, Azimuth: az, SNR: snr})
	}
	if e.err != nil {
		return nil, e.err
	}
	return s, nil
}

// ZDA is Time and Date.
//
//	$--ZDA,hhmmss.ss,xx,xx,xxxx,xx,xx*hh
//	       1         2  3  4    5  6
//
// 1 UTC time, 2 day, 3 month, 4 year (four digits), 5-6 local zone hours
// and minutes.
type ZDA struct {
	Head
	Time                   Time
	Date                   Date
	ZoneHours, ZoneMinutes *int
}

func parseZDA(h Head, p *fieldParser) (*ZDA, error) {
	if err := p.need(4); err != nil {
		return nil, err
	}
	var e errs
	s := &ZDA{Head: h}
	s.Time = e.t(p.time(1))
	d := e.i(p.int(2, "day", false))
	m := e.i(p.int(3, "month", false))
	y := e.i(p.int(4, "year", false))
	s.ZoneHours = e.i(p.int(5, "local zone hours", true))
	s.ZoneMinutes = e.i(p.int(6, "local zone minutes", true))
	if e.err != nil {
		return nil, e.err
	}
	if d != nil && m != nil && y != nil {
		if len(p.get(4)) != 4 || !validDate(*y, *m, *d) {
			return nil, p.fail(4, "year", "does not form a valid date with day and month")
		}
		s.Date = Date{Year: *y, Month: *m, Day: *d, Valid: true}
	}
	return s, nil
}
