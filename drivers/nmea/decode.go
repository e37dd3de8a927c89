package nmea

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
)

// DecodeStats counts what [Decode] read and wrote.
type DecodeStats struct {
	ScanStats
	ParseErrors int64 // sentences with a valid checksum that Parse rejected
	Epochs      int64 // fixes assembled, with or without a position
	Lines       int64 // JSON lines written
}

// Decode reads NMEA 0183 from r (a receiver capture; gpsd's .log files
// as they are, their '#' comment lines being noise to the [Scanner]) and
// writes one JSON object per line to w for every fix that has a date and a
// valid position:
//
//	{"time":"2019-03-28T10:01:02.5Z","lat":50.123456700,"lon":4.123456700,"alt_m":71.2,"speed_mps":0.355,"course_deg":181.39,"mode":"3d","sats":9,"hdop":0.9}
//
// time is RFC 3339 UTC with the receiver's fractional seconds, exactly the
// date the receiver sent (see "Dates and week rollover" in the package
// documentation); lat and lon are WGS84 degrees with nine decimals
// (about 0.1 mm); alt_m is metres above mean sea level; speed_mps is ground
// speed in metres per second, rounded to the millimetre per second;
// course_deg is degrees true; mode is "none", "2d" or "3d" (GSA); sats is
// satellites used; hdop is the horizontal dilution of precision. A field
// the receiver did not send is left out.
//
// Sentences that fail to decode are counted, not reported. The error is a
// read or write error.
func Decode(r io.Reader, w io.Writer) (DecodeStats, error) {
	var st DecodeStats
	bw := bufio.NewWriterSize(w, 64<<10)
	s := NewScanner(r)
	var a Assembler
	var line []byte
	emit := func(f *Fix) error {
		st.Epochs++
		if !f.Valid || f.Time.IsZero() {
			return nil
		}
		st.Lines++
		line = AppendJSON(line[:0], f)
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	}
	for s.Scan() {
		sen, err := Parse(s.Text())
		if err != nil {
			st.ParseErrors++
			continue
		}
		if f, ok := a.Add(sen); ok {
			if err := emit(&f); err != nil {
				st.ScanStats = s.ScanStats
				return st, fmt.Errorf("nmea: write: %w", err)
			}
		}
	}
	st.ScanStats = s.ScanStats
	if err := s.Err(); err != nil {
		return st, fmt.Errorf("nmea: read: %w", err)
	}
	if f, ok := a.Flush(); ok {
		if err := emit(&f); err != nil {
			return st, fmt.Errorf("nmea: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("nmea: write: %w", err)
	}
	return st, nil
}

// AppendJSON appends f as the JSON object [Decode] writes, without a line
// ending. The time is left out when f has no date, the position when it
// has none.
func AppendJSON(b []byte, f *Fix) []byte {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	if !f.Time.IsZero() {
		b = append(b, `"time":"`...)
		b = f.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if f.Lat != nil && f.Lon != nil {
		sep()
		b = append(b, `"lat":`...)
		b = strconv.AppendFloat(b, *f.Lat, 'f', 9, 64)
		b = append(b, `,"lon":`...)
		b = strconv.AppendFloat(b, *f.Lon, 'f', 9, 64)
	}
	if f.Altitude != nil {
		sep()
		b = append(b, `"alt_m":`...)
		b = strconv.AppendFloat(b, *f.Altitude, 'f', -1, 64)
	}
	if v, ok := f.SpeedMS(); ok {
		sep()
		b = append(b, `"speed_mps":`...)
		b = strconv.AppendFloat(b, v, 'f', 3, 64)
	}
	if f.Course != nil {
		sep()
		b = append(b, `"course_deg":`...)
		b = strconv.AppendFloat(b, *f.Course, 'f', -1, 64)
	}
	if m := fixMode(f.FixMode); m != "" {
		sep()
		b = append(b, `"mode":"`...)
		b = append(b, m...)
		b = append(b, '"')
	}
	if f.SatsUsed != nil {
		sep()
		b = append(b, `"sats":`...)
		b = strconv.AppendInt(b, int64(*f.SatsUsed), 10)
	}
	if f.HDOP != nil {
		sep()
		b = append(b, `"hdop":`...)
		b = strconv.AppendFloat(b, *f.HDOP, 'f', -1, 64)
	}
	return append(b, '}')
}

// fixMode names a GSA fix mode (NMEA 0183 GSA field 2: 1 no fix, 2 2D,
// 3 3D), or "" when it is absent.
func fixMode(m *int) string {
	if m == nil {
		return ""
	}
	switch *m {
	case 1:
		return "none"
	case 2:
		return "2d"
	case 3:
		return "3d"
	}
	return ""
}
