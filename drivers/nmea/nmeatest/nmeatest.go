// Package nmeatest simulates a GNSS receiver's serial output: NMEA 0183
// sentences for a moving position, one epoch per second, on a
// sensor.Clock. It stands in for a receiver on a UART when recordings and
// simulated fleets are generated; the driver reads it as it reads a port.
//
// A [Receiver] runs in one of two ways: on a clock, sending the epochs
// whose time has come with the solution that At returns; or stepped, a test
// or simulation setting its state fields and calling [Receiver.Epoch] for
// each epoch. [Misread] simulates the line itself: what a UART set to the
// wrong baud rate makes of the receiver's bytes.
package nmeatest

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// State is the receiver's solution at one instant.
type State struct {
	Valid     bool    // a fix; false sends the receiver's no-fix sentences
	Lat, Lon  float64 // degrees
	AltM      float64
	SpeedMPS  float64
	CourseDeg float64
	Sats      int
	HDOP      float64
	Mode      int    // GSA fix mode of a valid fix: 2 (2D) or 3 (3D); 0 means 3
	NoDate    bool   // leave RMC's date empty, as before the almanac is known
	Talker    string // talker ID; "" means "GN"
}

// Receiver emits, at each Read, the epochs whose time has come on Clock
// and were not sent yet: $GNRMC, $GNGGA and $GNGSA per epoch, CR LF
// terminated, the way a multi-constellation u-blox M8 does by default.
//
// Without At, the Receiver is stepped: Read returns what [Receiver.Epoch]
// and [Receiver.Write] sent, then sensor.ErrNoData (io.EOF once Ended).
type Receiver struct {
	Clock sensor.Clock
	// At returns the solution at t (UTC, whole seconds).
	At func(t time.Time) State
	// Until, if set, ends the stream: epochs after it are not sent and
	// Read returns io.EOF.
	Until time.Time

	// The state of a stepped receiver's next epoch.
	Time      time.Time // UTC of the next epoch
	Fix       int       // 0 or 1: no fix; 2: 2D; 3: 3D
	Lat, Lon  float64   // degrees, north and east positive
	AltM      float64   // metres above mean sea level
	SpeedMPS  float64   // ground speed
	CourseDeg float64   // course over ground, degrees true
	Sats      int       // satellites used
	HDOP      float64
	NoDate    bool          // leave RMC's date empty
	Talker    string        // talker ID; "" means "GN"
	Interval  time.Duration // epoch period; 0 means 1 s
	Ended     bool          // Read returns io.EOF, not ErrNoData, once empty

	next    time.Time // the next epoch to send; zero before the first Read
	pending []byte
}

// Read implements sensor.Stream.
func (r *Receiver) Read(p []byte) (int, error) {
	if r.At == nil {
		return r.readStepped(p)
	}
	now := r.Clock.Now().UTC()
	if r.next.IsZero() {
		r.next = now.Truncate(time.Second)
	}
	for len(r.pending) < len(p) && !r.next.After(now) && (r.Until.IsZero() || !r.next.After(r.Until)) {
		r.pending = append(r.pending, Epoch(r.next, r.At(r.next))...)
		r.next = r.next.Add(time.Second)
	}
	if len(r.pending) == 0 {
		if !r.Until.IsZero() && r.next.After(r.Until) {
			return 0, io.EOF
		}
		return 0, sensor.ErrNoData
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// Sentence returns "$" body "*HH\r\n" with the NMEA 0183 checksum, the
// XOR of the bytes between '$' and '*'. It is computed here, not by the
// decoder, so that the simulator checks the decoder independently (and
// drivers/nmea's own tests can import this package).
func Sentence(body string) string {
	var sum byte
	for i := 0; i < len(body); i++ {
		sum ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, sum)
}

// Epoch returns the sentences of one epoch at t.
func Epoch(t time.Time, s State) []byte {
	t = t.UTC()
	hms := t.Format("150405") + fmt.Sprintf(".%02d", t.Nanosecond()/1e7)
	date := t.Format("020106")
	if s.NoDate {
		date = ""
	}
	talker := s.Talker
	if talker == "" {
		talker = "GN"
	}
	var b strings.Builder
	if !s.Valid {
		b.WriteString(Sentence(talker + "RMC," + hms + ",V,,,,,,," + date + ",,,N,V"))
		b.WriteString(Sentence(talker + "GGA," + hms + ",,,,,0,00,99.99,,,,,,"))
		b.WriteString(Sentence(talker + "GSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1"))
		return []byte(b.String())
	}
	mode := s.Mode
	if mode != 2 {
		mode = 3
	}
	lat, ns := coord(s.Lat, 2, 'N', 'S')
	lon, ew := coord(s.Lon, 3, 'E', 'W')
	knots := s.SpeedMPS * 3600 / 1852 // 1 knot is 1852 m per hour
	course := ""
	if s.SpeedMPS > 0.5 {
		course = fmt.Sprintf("%.2f", s.CourseDeg)
	}
	b.WriteString(Sentence(fmt.Sprintf("%sRMC,%s,A,%s,%c,%s,%c,%.3f,%s,%s,,,A,V", talker, hms, lat, ns, lon, ew, knots, course, date)))
	b.WriteString(Sentence(fmt.Sprintf("%sGGA,%s,%s,%c,%s,%c,1,%02d,%.2f,%.1f,M,45.6,M,,", talker, hms, lat, ns, lon, ew, s.Sats, s.HDOP, s.AltM)))
	sats := make([]string, 12)
	for i := 0; i < 12 && i < s.Sats; i++ {
		sats[i] = fmt.Sprintf("%02d", []int{2, 5, 7, 9, 13, 15, 18, 20, 24, 29, 30, 31}[i])
	}
	b.WriteString(Sentence(fmt.Sprintf("%sGSA,A,%d,%s,%.2f,%.2f,%.2f,1", talker, mode, strings.Join(sats, ","), s.HDOP*1.6, s.HDOP, s.HDOP*1.3)))
	return []byte(b.String())
}

// coord formats degrees as NMEA (d)ddmm.mmmmm with its hemisphere letter.
func coord(deg float64, width int, pos, neg byte) (string, byte) {
	h := pos
	if deg < 0 {
		h, deg = neg, -deg
	}
	d := math.Floor(deg)
	m := (deg - d) * 60
	m = math.Round(m*1e5) / 1e5
	if m >= 60 {
		d, m = d+1, 0
	}
	return fmt.Sprintf("%0*d%08.5f", width, int(d), m), h
}
