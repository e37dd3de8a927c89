package nmea

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sentence is a decoded NMEA 0183 sentence.
type Sentence interface {
	// Talker is the two-letter talker ID ("GP", "GN", "BD", ...) or "P"
	// for proprietary sentences.
	Talker() string
	// Type is the sentence type ("GGA", "RMC", ...); for proprietary
	// sentences it is everything after the leading 'P' (e.g. "GRME").
	Type() string
}

// Head carries the address field common to every sentence.
type Head struct {
	TalkerID     string
	SentenceType string
}

// Talker implements [Sentence].
func (h Head) Talker() string { return h.TalkerID }

// Type implements [Sentence].
func (h Head) Type() string { return h.SentenceType }

// Errors returned by [Parse] for sentence framing problems.
var (
	ErrNoStart    = errors.New("nmea: sentence does not start with '$'")
	ErrNoChecksum = errors.New("nmea: sentence has no checksum")
	ErrChecksum   = errors.New("nmea: checksum mismatch")
	ErrAddress    = errors.New("nmea: malformed address field")
)

// FieldError reports a field that could not be decoded. Index counts the
// address field as 0, so for RMC field 1 is the time and field 3 the latitude.
type FieldError struct {
	Type    string // sentence type, e.g. "RMC"
	Index   int
	Name    string
	Value   string
	Problem string // e.g. "is not a number"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("nmea: %s field %d (%s): %q %s", e.Type, e.Index, e.Name, e.Value, e.Problem)
}

// Checksum returns the NMEA checksum (XOR) of s, which must be the text
// between '$' and '*'.
func Checksum(s string) byte {
	var c byte
	for i := 0; i < len(s); i++ {
		c ^= s[i]
	}
	return c
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// frame checks the framing of line ("$...*HH", terminator already
// removed): it returns the index of the '*', the checksum sent and the one
// computed over the bytes between '$' and '*'. Errors are the bare
// sentinels; it does not allocate.
func frame[T string | []byte](line T) (star int, sent, got byte, err error) {
	if len(line) == 0 || line[0] != '$' {
		return 0, 0, 0, ErrNoStart
	}
	star = -1
	for i := len(line) - 1; i > 0; i-- {
		if line[i] == '*' {
			star = i
			break
		}
	}
	if star < 0 {
		return 0, 0, 0, ErrNoChecksum
	}
	if len(line)-star != 3 {
		return star, 0, 0, ErrNoChecksum
	}
	hi, ok1 := hexVal(line[star+1])
	lo, ok2 := hexVal(line[star+2])
	if !ok1 || !ok2 {
		return star, 0, 0, ErrNoChecksum
	}
	for i := 1; i < star; i++ {
		got ^= line[i]
	}
	if sent = hi<<4 | lo; got != sent {
		return star, sent, got, ErrChecksum
	}
	return star, sent, got, nil
}

// checkFrame is frame for the [Scanner]'s buffer.
func checkFrame(line []byte) error {
	_, _, _, err := frame(line)
	return err
}

// splitChecksum validates the framing of line ("$...*HH", terminator
// already removed) and returns the body between '$' and '*'.
func splitChecksum(line string) (string, error) {
	star, sent, got, err := frame(line)
	switch {
	case err == nil:
		return line[1:star], nil
	case errors.Is(err, ErrChecksum):
		return "", fmt.Errorf("%w: sent %02X, computed %02X", ErrChecksum, sent, got)
	case errors.Is(err, ErrNoChecksum) && star > 0:
		return "", fmt.Errorf("%w: %q is not two hex digits", ErrNoChecksum, line[star+1:])
	}
	return "", err
}

// Parse decodes one sentence. line must start with '$' and carry a valid
// "*HH" checksum; trailing CR/LF are ignored. Types this package does not
// decode are returned as [*Unknown] with a nil error.
func Parse(line string) (Sentence, error) {
	line = strings.TrimRight(line, "\r\n")
	body, err := splitChecksum(line)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; c < 0x20 || c > 0x7e || c == '$' {
			return nil, fmt.Errorf("nmea: invalid byte 0x%02x in sentence", c)
		}
	}
	var p fieldParser // on the stack: no allocation per field
	p.split(body)
	h, err := parseAddress(p.get(0))
	if err != nil {
		return nil, err
	}
	p.typ = h.SentenceType
	if h.TalkerID != "P" {
		switch h.SentenceType {
		case "GGA":
			return parseGGA(h, &p)
		case "RMC":
			return parseRMC(h, &p)
		case "GNS":
			return parseGNS(h, &p)
		case "GLL":
			return parseGLL(h, &p)
		case "VTG":
			return parseVTG(h, &p)
		case "GSA":
			return parseGSA(h, &p)
		case "GSV":
			return parseGSV(h, &p)
		case "ZDA":
			return parseZDA(h, &p)
		}
	}
	f := make([]string, p.n-1)
	for i := range f {
		f[i] = p.get(i + 1)
	}
	return &Unknown{Head: h, Fields: f}, nil
}

func isUpperAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseAddress splits "GPGGA" into talker "GP" and type "GGA", and
// "PGRME" into talker "P" and type "GRME".
func parseAddress(a string) (Head, error) {
	if !isUpperAlnum(a) {
		return Head{}, fmt.Errorf("%w: %q", ErrAddress, a)
	}
	if a[0] == 'P' && len(a) >= 2 {
		return Head{TalkerID: "P", SentenceType: a[1:]}, nil
	}
	if len(a) != 5 {
		return Head{}, fmt.Errorf("%w: %q", ErrAddress, a)
	}
	return Head{TalkerID: a[:2], SentenceType: a[2:]}, nil
}

// Unknown is a well-formed sentence of a type this package does not decode,
// including all proprietary ($P...) sentences.
type Unknown struct {
	Head
	Fields []string // data fields after the address
}

// Time is a UTC time of day, hhmmss[.s...]. Valid is false when the field
// was empty.
type Time struct {
	Hour, Minute, Second, Nanosecond int
	Valid                            bool
}

// Equal reports whether t and u denote the same time of day (both invalid
// counts as equal).
func (t Time) Equal(u Time) bool { return t == u }

// Nanoseconds returns the time of day as nanoseconds since midnight.
func (t Time) Nanoseconds() int64 {
	return ((int64(t.Hour)*60+int64(t.Minute))*60+int64(t.Second))*1e9 + int64(t.Nanosecond)
}

func (t Time) String() string {
	if !t.Valid {
		return "--:--:--"
	}
	return fmt.Sprintf("%02d:%02d:%02d.%09d", t.Hour, t.Minute, t.Second, t.Nanosecond)
}

// Date is a calendar date. Valid is false when the field(s) were empty.
type Date struct {
	Year, Month, Day int
	Valid            bool
}

func (d Date) String() string {
	if !d.Valid {
		return "----------"
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// maxFields is how many fields a sentence is split into without an
// allocation: a GSV has at most 21 (NMEA 0183 4.11), a GSA 19. Longer
// sentences (proprietary ones) still work: append allocates.
const maxFields = 32

// fieldParser holds one sentence's fields. Parse keeps it on the stack;
// the values it decodes share two small heap slabs (floats, ints), so a
// sentence costs a few allocations however many fields it has.
type fieldParser struct {
	typ    string
	n      int               // number of fields, the address field included
	short  [maxFields]string // the fields, when there are at most maxFields
	long   []string          // the fields, when there are more
	floats []float64
	ints   []int
}

// split splits body at its commas.
func (p *fieldParser) split(body string) {
	rest := body
	for p.n < maxFields {
		i := strings.IndexByte(rest, ',')
		if i < 0 {
			p.short[p.n] = rest
			p.n++
			return
		}
		p.short[p.n] = rest[:i]
		p.n++
		rest = rest[i+1:]
	}
	p.long = strings.Split(body, ",")
	p.n = len(p.long)
}

// slabSize is how many values of one type a slab holds.
const slabSize = 8

func (p *fieldParser) newFloat(v float64) *float64 {
	if len(p.floats) == cap(p.floats) {
		p.floats = make([]float64, 0, slabSize)
	}
	p.floats = append(p.floats, v)
	return &p.floats[len(p.floats)-1]
}

func (p *fieldParser) newInt(v int) *int {
	if len(p.ints) == cap(p.ints) {
		p.ints = make([]int, 0, slabSize)
	}
	p.ints = append(p.ints, v)
	return &p.ints[len(p.ints)-1]
}

func (p *fieldParser) get(i int) string {
	switch {
	case i >= p.n:
		return ""
	case p.long != nil:
		return p.long[i]
	}
	return p.short[i]
}

func (p *fieldParser) fail(i int, name, problem string) error {
	return &FieldError{Type: p.typ, Index: i, Name: name, Value: p.get(i), Problem: problem}
}

// need checks that the sentence has at least fields 0..last.
func (p *fieldParser) need(last int) error {
	if p.n <= last {
		return fmt.Errorf("nmea: %s has %d fields, want at least %d", p.typ, p.n-1, last)
	}
	return nil
}

// isDecimal accepts [-]digits[.digits] (either side may be empty, not both).
func isDecimal(s string, signed bool) bool {
	if signed && len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

func (p *fieldParser) float(i int, name string, signed bool) (*float64, error) {
	s := p.get(i)
	if s == "" {
		return nil, nil
	}
	if !isDecimal(s, signed) {
		return nil, p.fail(i, name, "is not a number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return nil, p.fail(i, name, "is not a number")
	}
	return p.newFloat(v), nil
}

func (p *fieldParser) int(i int, name string, signed bool) (*int, error) {
	s := p.get(i)
	if s == "" {
		return nil, nil
	}
	if !isDecimal(s, signed) || strings.IndexByte(s, '.') >= 0 || len(s) > 9 {
		return nil, p.fail(i, name, "is not an integer")
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return nil, p.fail(i, name, "is not an integer")
	}
	return p.newInt(v), nil
}

func (p *fieldParser) char(i int, name, allowed string) (byte, error) {
	s := p.get(i)
	if s == "" {
		return 0, nil
	}
	if len(s) != 1 || (allowed != "" && strings.IndexByte(allowed, s[0]) < 0) {
		return 0, p.fail(i, name, "is not one of "+strconv.Quote(allowed))
	}
	return s[0], nil
}

// time decodes hhmmss[.sss...]; fractions finer than 1 ns are truncated.
func (p *fieldParser) time(i int) (Time, error) {
	s := p.get(i)
	if s == "" {
		return Time{}, nil
	}
	bad := func() (Time, error) { return Time{}, p.fail(i, "time", "is not a valid hhmmss.ss time") }
	if len(s) < 6 || !isDecimal(s, false) || strings.IndexByte(s[:6], '.') >= 0 {
		return bad()
	}
	t := Time{Valid: true}
	t.Hour = int(s[0]-'0')*10 + int(s[1]-'0')
	t.Minute = int(s[2]-'0')*10 + int(s[3]-'0')
	t.Second = int(s[4]-'0')*10 + int(s[5]-'0')
	if rest := s[6:]; rest != "" {
		if rest[0] != '.' {
			return bad()
		}
		scale := 100000000
		for j := 1; j < len(rest) && scale > 0; j++ {
			t.Nanosecond += int(rest[j]-'0') * scale
			scale /= 10
		}
	}
	if t.Hour > 23 || t.Minute > 59 || t.Second > 60 { // 60: leap second
		return bad()
	}
	return t, nil
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// ddmmyy decodes an RMC date; two-digit years map to 20yy for yy < 80 and
// to 19yy otherwise.
func (p *fieldParser) ddmmyy(i int) (Date, error) {
	s := p.get(i)
	if s == "" {
		return Date{}, nil
	}
	if len(s) != 6 || !isDecimal(s, false) || strings.IndexByte(s, '.') >= 0 {
		return Date{}, p.fail(i, "date", "is not a valid ddmmyy date")
	}
	d := Date{Valid: true}
	d.Day = int(s[0]-'0')*10 + int(s[1]-'0')
	d.Month = int(s[2]-'0')*10 + int(s[3]-'0')
	yy := int(s[4]-'0')*10 + int(s[5]-'0')
	if yy < 80 {
		d.Year = 2000 + yy
	} else {
		d.Year = 1900 + yy
	}
	if !validDate(d.Year, d.Month, d.Day) {
		return Date{}, p.fail(i, "date", "is not a valid ddmmyy date")
	}
	return d, nil
}

// coord decodes a ddmm.mmmm (latitude, maxDeg 90) or dddmm.mmmm
// (longitude, maxDeg 180) field at index i with its hemisphere at i+1.
func (p *fieldParser) coord(i int, name string, pos, neg byte, maxDeg float64) (*float64, error) {
	s, h := p.get(i), p.get(i+1)
	if s == "" && h == "" {
		return nil, nil
	}
	if s == "" {
		return nil, p.fail(i, name, "is empty but its hemisphere is not")
	}
	if !isDecimal(s, false) {
		return nil, p.fail(i, name, "is not a number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return nil, p.fail(i, name, "is not a number")
	}
	deg := math.Floor(v / 100)
	minutes := v - deg*100
	if minutes >= 60 {
		return nil, p.fail(i, name, "has minutes >= 60")
	}
	d := deg + minutes/60
	if d > maxDeg {
		return nil, p.fail(i, name, "is out of range")
	}
	switch {
	case len(h) == 1 && h[0] == pos:
	case len(h) == 1 && h[0] == neg:
		d = -d
	default:
		return nil, p.fail(i+1, name+" hemisphere", "is not "+string(pos)+" or "+string(neg))
	}
	return p.newFloat(d), nil
}

func (p *fieldParser) latLon(i int) (lat, lon *float64, err error) {
	if lat, err = p.coord(i, "latitude", 'N', 'S', 90); err != nil {
		return nil, nil, err
	}
	if lon, err = p.coord(i+2, "longitude", 'E', 'W', 180); err != nil {
		return nil, nil, err
	}
	if (lat == nil) != (lon == nil) {
		return nil, nil, p.fail(i, "latitude", "is present without a longitude or vice versa")
	}
	return lat, lon, nil
}

// errs collects the first error from a sequence of field decodes.
type errs struct{ err error }

func (e *errs) f(v *float64, err error) *float64 {
	if e.err == nil && err != nil {
		e.err = err
	}
	return v
}

func (e *errs) i(v *int, err error) *int {
	if e.err == nil && err != nil {
		e.err = err
	}
	return v
}

func (e *errs) c(v byte, err error) byte {
	if e.err == nil && err != nil {
		e.err = err
	}
	return v
}

func (e *errs) t(v Time, err error) Time {
	if e.err == nil && err != nil {
		e.err = err
	}
	return v
}

func (e *errs) d(v Date, err error) Date {
	if e.err == nil && err != nil {
		e.err = err
	}
	return v
}

func (e *errs) ll(lat, lon *float64, err error) (*float64, *float64) {
	if e.err == nil && err != nil {
		e.err = err
	}
	return lat, lon
}
