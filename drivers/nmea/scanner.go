package nmea

import (
	"bufio"
	"errors"
	"io"
)

// MaxLineLength is the longest sentence, '$' to checksum inclusive, that
// [Scanner] accepts: twice the 82-byte NMEA 0183 maximum.
const MaxLineLength = 164

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
type Scanner struct {
	r   *bufio.Reader
	buf []byte
	in  bool // inside a sentence (buf starts with '$')
	tok string
	err error

	Sentences    int64 // sentences yielded
	SkippedBytes int64 // bytes discarded: noise, binary, abandoned sentences (line endings not counted)
	BadChecksums int64 // sentences whose checksum did not match
	NoChecksums  int64 // sentences without a well-formed "*HH" checksum
	TooLong      int64 // sentences abandoned for exceeding MaxLineLength
	Restarts     int64 // sentences abandoned because another '$' started mid-line
}

// NewScanner returns a Scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: bufio.NewReaderSize(r, 4096), buf: make([]byte, 0, MaxLineLength)}
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
		c, err := s.r.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			if s.in && s.finish() { // sentence terminated by EOF
				return true
			}
			s.abandon()
			return false
		}
		switch {
		case c == '$':
			if s.in {
				s.Restarts++
				s.abandon()
			}
			s.in = true
			s.buf = append(s.buf[:0], c)
		case c == '\r' || c == '\n':
			if s.in && s.finish() {
				return true
			}
		case !s.in:
			s.SkippedBytes++
		case c < 0x20 || c > 0x7e: // binary data: abandon the sentence
			s.abandon()
			s.SkippedBytes++
		case len(s.buf) >= MaxLineLength:
			s.TooLong++
			s.abandon()
			s.SkippedBytes++
		default:
			s.buf = append(s.buf, c)
		}
	}
}

// finish validates the buffered sentence; on success it becomes the token.
func (s *Scanner) finish() bool {
	line := string(s.buf)
	s.buf = s.buf[:0]
	s.in = false
	_, err := splitChecksum(line)
	switch {
	case err == nil:
		s.tok = line
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
