package nmea

import "time"

// DateSource tells where a [Fix]'s date came from.
type DateSource string

// Date sources.
const (
	DateNone    DateSource = ""        // no date known yet
	DateRMC     DateSource = "RMC"     // RMC field 9 of this epoch (two-digit year)
	DateZDA     DateSource = "ZDA"     // ZDA fields 2-4 of this epoch
	DateCarried DateSource = "carried" // carried forward from an earlier epoch
)

// KnotsToMetresPerSecond converts knots to m/s.
const KnotsToMetresPerSecond = 1852.0 / 3600.0

// Fix is the navigation solution of one epoch: all sentences that share one
// UTC time of day. Pointer fields are nil when no sentence supplied them.
type Fix struct {
	TimeOfDay  Time // UTC time of day shared by the epoch's sentences
	Date       Date // see DateSource
	DateSource DateSource
	Time       time.Time // UTC date and time; zero when no date is known

	Lat, Lon    *float64 // degrees
	PosSource   string   // sentence type the position came from: GNS, GGA, RMC or GLL
	Altitude    *float64 // metres above MSL (GGA/GNS)
	SpeedKnots  *float64 // RMC, else VTG
	Course      *float64 // degrees true, RMC, else VTG
	Quality     *int     // GGA quality
	FixMode     *int     // GSA: 1 none, 2 2D, 3 3D (highest of the epoch's GSAs)
	SatsUsed    *int     // GNS, else GGA (a GN-talker one preferred)
	HDOP, PDOP  *float64 // HDOP from GNS/GGA, else GSA; PDOP from GSA
	Valid       bool     // see the package documentation
	NumSentence int      // sentences that contributed
}

// SpeedMS returns the speed over ground in m/s, if known.
func (f *Fix) SpeedMS() (float64, bool) {
	if f.SpeedKnots == nil {
		return 0, false
	}
	return *f.SpeedKnots * KnotsToMetresPerSecond, true
}

type epoch struct {
	fix      Fix
	posRank  int
	posGN    bool
	satsRank int
	date     Date
	dateSrc  DateSource
	flags    int // validity indications seen
	invalid  bool
	hdopRank int
	vtgSpeed *float64
	vtgCrs   *float64
}

// Assembler groups decoded sentences into epochs. The zero value is ready
// to use. It is not safe for concurrent use.
type Assembler struct {
	cur      epoch
	have     bool
	lastDate Date
	lastTOD  Time
}

func sentenceTime(s Sentence) (Time, bool) {
	var t Time
	switch v := s.(type) {
	case *GGA:
		t = v.Time
	case *RMC:
		t = v.Time
	case *GNS:
		t = v.Time
	case *GLL:
		t = v.Time
	case *ZDA:
		t = v.Time
	default:
		return Time{}, false
	}
	return t, t.Valid
}

// Add feeds one sentence. When s starts a new epoch (its UTC time differs
// from the current one) the previous epoch is returned as a Fix.
// Sentences without a time (VTG, GSA, GSV, ...) join the current epoch.
func (a *Assembler) Add(s Sentence) (Fix, bool) {
	var out Fix
	var emitted bool
	if t, ok := sentenceTime(s); ok {
		if a.have && !a.cur.fix.TimeOfDay.Equal(t) {
			out, emitted = a.Flush()
		}
		if !a.have {
			a.cur = epoch{fix: Fix{TimeOfDay: t}}
			a.have = true
		}
	}
	if a.have {
		a.merge(s)
	}
	return out, emitted
}

// Flush closes the current epoch, if any, and returns its Fix. Call it at
// the end of input.
func (a *Assembler) Flush() (Fix, bool) {
	if !a.have {
		return Fix{}, false
	}
	a.have = false
	e := &a.cur
	f := e.fix
	switch {
	case e.date.Valid:
		f.Date, f.DateSource = e.date, e.dateSrc
	case a.lastDate.Valid:
		d := a.lastDate
		// Time of day went back by more than 12 h: midnight passed.
		if f.TimeOfDay.Nanoseconds() < a.lastTOD.Nanoseconds()-12*3600*1e9 {
			n := time.Date(d.Year, time.Month(d.Month), d.Day+1, 0, 0, 0, 0, time.UTC)
			d = Date{Year: n.Year(), Month: int(n.Month()), Day: n.Day(), Valid: true}
		}
		f.Date, f.DateSource = d, DateCarried
	}
	if f.Date.Valid {
		a.lastDate, a.lastTOD = f.Date, f.TimeOfDay
		t := f.TimeOfDay
		f.Time = time.Date(f.Date.Year, time.Month(f.Date.Month), f.Date.Day, t.Hour, t.Minute, t.Second, t.Nanosecond, time.UTC)
	}
	if f.SpeedKnots == nil {
		f.SpeedKnots = e.vtgSpeed
	}
	if f.Course == nil {
		f.Course = e.vtgCrs
	}
	f.Valid = f.Lat != nil && !(*f.Lat == 0 && *f.Lon == 0) && e.flags > 0 && !e.invalid
	return f, true
}

// statusFlags records the validity that an RMC or GLL status (A valid, V
// not) and mode indicator (N: data not valid) say, where present.
func (e *epoch) statusFlags(status, mode byte) {
	if status != 0 {
		e.flag(status == 'A')
	}
	if mode != 0 {
		e.flag(mode != 'N')
	}
}

func (e *epoch) flag(ok bool) {
	e.flags++
	if !ok {
		e.invalid = true
	}
}

func (e *epoch) setPos(lat, lon *float64, typ, talker string, rank int) {
	if lat == nil {
		return
	}
	gn := talker == "GN"
	if rank > e.posRank || rank == e.posRank && gn && !e.posGN {
		e.fix.Lat, e.fix.Lon, e.fix.PosSource = lat, lon, typ
		e.posRank, e.posGN = rank, gn
	}
}

func (e *epoch) setSats(n *int, rank int) {
	if n != nil && rank > e.satsRank {
		e.fix.SatsUsed, e.satsRank = n, rank
	}
}

func (e *epoch) setDate(d Date, src DateSource) {
	if d.Valid && (!e.date.Valid || src == DateZDA) {
		e.date, e.dateSrc = d, src
	}
}

func (e *epoch) setHDOP(h *float64, rank int) {
	if h != nil && rank > e.hdopRank {
		e.fix.HDOP, e.hdopRank = h, rank
	}
}

func firstF(cur, v *float64) *float64 {
	if cur != nil {
		return cur
	}
	return v
}

func (a *Assembler) merge(s Sentence) {
	e := &a.cur
	e.fix.NumSentence++
	switch v := s.(type) {
	case *GGA:
		e.setPos(v.Lat, v.Lon, "GGA", v.TalkerID, 3)
		if v.Quality != nil {
			e.flag(*v.Quality > 0)
			if e.fix.Quality == nil || v.TalkerID == "GN" {
				e.fix.Quality = v.Quality
			}
		}
		if v.Altitude != nil && (e.fix.Altitude == nil || v.TalkerID == "GN") {
			e.fix.Altitude = v.Altitude
		}
		rank := 1
		if v.TalkerID == "GN" {
			rank = 2
		}
		e.setSats(v.NumSats, rank)
		e.setHDOP(v.HDOP, 2)
	case *GNS:
		e.setPos(v.Lat, v.Lon, "GNS", v.TalkerID, 4)
		if v.Mode != "" {
			allN := true
			for i := 0; i < len(v.Mode); i++ {
				allN = allN && v.Mode[i] == 'N'
			}
			e.flag(!allN)
		}
		if v.Altitude != nil {
			e.fix.Altitude = v.Altitude
		}
		e.setSats(v.NumSats, 3)
		e.setHDOP(v.HDOP, 3)
	case *RMC:
		e.setPos(v.Lat, v.Lon, "RMC", v.TalkerID, 2)
		e.statusFlags(v.Status, v.Mode)
		e.fix.SpeedKnots = firstF(e.fix.SpeedKnots, v.SpeedKnots)
		e.fix.Course = firstF(e.fix.Course, v.Course)
		e.setDate(v.Date, DateRMC)
	case *GLL:
		e.setPos(v.Lat, v.Lon, "GLL", v.TalkerID, 1)
		e.statusFlags(v.Status, v.Mode)
	case *VTG:
		e.vtgSpeed = firstF(e.vtgSpeed, v.SpeedKnots)
		e.vtgCrs = firstF(e.vtgCrs, v.CourseTrue)
	case *GSA:
		if v.FixMode != nil && (e.fix.FixMode == nil || *v.FixMode > *e.fix.FixMode) {
			e.fix.FixMode = v.FixMode
		}
		e.fix.PDOP = firstF(e.fix.PDOP, v.PDOP)
		e.setHDOP(v.HDOP, 1)
	case *ZDA:
		e.setDate(v.Date, DateZDA)
	}
}
