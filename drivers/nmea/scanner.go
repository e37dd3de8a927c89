package nmea

import (
	"bytes"
	"errors"
	"io"
)

// MaxLineLength is the longest sentence, '$' to checksum inclusive, that
// [Scanner] accepts: twice the 82-byte NMEA 0183 maximum.
const MaxLineLength = 164

// ScanStats counts what a [Scanner] saw.
type ScanStats struct {
	Sentences    int64 // sentences yielded
	SkippedBytes int64 // bytes discarded: noise, binary, abandoned sentences (line endings not counted)
	BadChecksums int64 // sentences whose checksum did not match
	NoChecksums  int64 // sentences without a well-formed "*HH" checksum
	TooLong      int64 // sentences abandoned for exceeding MaxLineLength
	Restarts     int64 // sentences abandoned because another '$' started mid-line
}

// Scanner reads NMEA sentences from a byte stream that may also carry noise,
// binary protocols and truncated lines. Use it like [bufio.Scanner]:
//
//	s := nmea.NewScanner(port)
//	for s.Scan() {
//		sen, err := nmea.Parse(s.Text())
//		...
//	}
//
// The counters are updated as the stream is read and may be read between
// calls to Scan.
//
// The state machine (see scan) consumes bytes in whatever pieces they come:
// a sentence split across two reads is joined, so the same Scanner serves a
// reader ([Scanner.Scan]) and a non-blocking serial stream ([Receiver]).
type Scanner struct {
	r     io.Reader // nil when bytes are pushed with scan
	rbuf  []byte    // read buffer
	pend  []byte    // read from r, not yet scanned
	rerr  error     // error of the last read, acted on once pend is empty
	empty int       // consecutive reads that returned nothing
	done  bool      // end of input handled

	buf []byte // the sentence being received, from '$'
	in  bool   // inside a sentence (buf starts with '$')
	tok string
	err error

	ScanStats
}

// NewScanner returns a Scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, rbuf: make([]byte, 32<<10), buf: make([]byte, 0, MaxLineLength)}
}

// newPushScanner returns a Scanner fed with scan and end instead of a reader.
func newPushScanner() *Scanner {
	return &Scanner{buf: make([]byte, 0, MaxLineLength)}
}

// Text returns the most recent sentence, from '$' to the checksum digits,
// without line ending. Its checksum has been verified.
func (s *Scanner) Text() string { return s.tok }

// Err returns the first non-EOF read error.
func (s *Scanner) Err() error { return s.err }

func (s *Scanner) abandon() {
	s.SkippedBytes += int64(len(s.buf))
	s.buf = s.buf[:0]
	s.in = false
}

// Scan advances to the next sentence with a valid checksum. It returns false
// at the end of input or on a read error.
func (s *Scanner) Scan() bool {
	s.tok = ""
	for {
		if len(s.pend) > 0 {
			n, ok := s.scan(s.pend)
			s.pend = s.pend[n:]
			if ok {
				return true
			}
			continue
		}
		if s.rerr != nil || s.r == nil {
			if s.done {
				return false
			}
			s.done = true
			if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
				s.err = s.rerr
			}
			return s.end()
		}
		n, err := s.r.Read(s.rbuf)
		s.pend = s.rbuf[:n]
		switch {
		case err != nil:
			s.rerr = err
		case n > 0:
			s.empty = 0
		default:
			if s.empty++; s.empty >= 100 { // as bufio does
				s.rerr = io.ErrNoProgress
			}
		}
	}
}

// scan consumes bytes of p until a sentence with a valid checksum ends, and
// returns how many bytes it consumed and whether [Scanner.Text] holds that
// sentence. State is kept between calls.
func (s *Scanner) scan(p []byte) (int, bool) {
	i := 0
	for i < len(p) {
		if !s.in {
			// Between sentences: skip to the next '$', counting all but
			// line endings as noise.
			j := bytes.IndexByte(p[i:], '$')
			if j < 0 {
				s.SkippedBytes += noise(p[i:])
				return len(p), false
			}
			s.SkippedBytes += noise(p[i : i+j])
			i += j + 1
			s.in = true
			s.buf = append(s.buf[:0], '$')
			continue
		}
		// Inside a sentence: take the run of printable bytes other than '$'.
		j := i
		for j < len(p) && p[j] >= 0x20 && p[j] <= 0x7e && p[j] != '$' {
			j++
		}
		if room := MaxLineLength - len(s.buf); j-i > room {
			s.buf = append(s.buf, p[i:i+room]...)
			s.TooLong++
			s.abandon()
			s.SkippedBytes++ // the byte that did not fit
			i += room + 1
			continue
		}
		s.buf = append(s.buf, p[i:j]...)
		if i = j; i == len(p) {
			break
		}
		switch c := p[i]; {
		case c == '$':
			s.Restarts++
			s.abandon()
			s.in = true
			s.buf = append(s.buf, '$')
		case c == '\r' || c == '\n':
			if s.finish() {
				return i + 1, true
			}
		default: // binary data: abandon the sentence
			s.abandon()
			s.SkippedBytes++
		}
		i++
	}
	return len(p), false
}

// end handles the end of input: a sentence it cuts short is still yielded
// if its checksum is valid.
func (s *Scanner) end() bool {
	s.tok = ""
	if s.in && s.finish() {
		return true
	}
	s.abandon()
	return false
}

// noise counts the bytes of p that are not line endings.
func noise(p []byte) int64 {
	n := int64(len(p))
	for _, c := range p {
		if c == '\r' || c == '\n' {
			n--
		}
	}
	return n
}

// finish validates the buffered sentence; on success it becomes the token.
func (s *Scanner) finish() bool {
	line := s.buf
	s.buf = s.buf[:0]
	s.in = false
	switch err := checkFrame(line); {
	case err == nil:
		s.tok = string(line)
		s.Sentences++
		return true
	case errors.Is(err, ErrChecksum):
		s.BadChecksums++
	default:
		s.NoChecksums++
	}
	s.SkippedBytes += int64(len(line))
	return false
}
