package nmea

import (
	"strings"
	"testing"
)

func scanAll(in string) (*Scanner, []string) {
	s := NewScanner(strings.NewReader(in))
	var out []string
	for s.Scan() {
		out = append(out, s.Text())
	}
	return s, out
}

func TestScanner(t *testing.T) {
	gga := "$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*59"
	gsa := "$GPGSA,A,3,02,05,11,12,18,20,25,29,,,,,1.4,1.1,0.9*3d"
	long := "$GPTXT," + strings.Repeat("x", 200) + "*00"
	in := "noise\xb5\x62\x01\x07" + gga + "\r\r\n" + // binary noise, \r\r\n
		"$GPRMC,0308" + gga + "\n" + // truncated sentence, second '$' restarts
		gsa + "\r\n" +
		"$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*58\r\n" + // bad checksum
		"$GPGGA,030851.00,,,,,0,03,9.93,,,,,,\r\n" + // no checksum
		long + "\r\n" +
		"$GPG\x00GA,1*00\n" + // binary inside
		gga // EOF without terminator
	s, got := scanAll(in)
	want := []string{gga, gga, gsa, gga}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
	if s.Sentences != 4 || s.BadChecksums != 1 || s.NoChecksums != 1 || s.TooLong != 1 || s.Restarts != 1 {
		t.Errorf("counters %+v", s)
	}
	if s.SkippedBytes < int64(len("noise")+4+len(long)) {
		t.Errorf("skipped %d", s.SkippedBytes)
	}
	if s.Err() != nil {
		t.Error(s.Err())
	}
}

func TestScannerMaxLength(t *testing.T) {
	body := "GPTXT," + strings.Repeat("a", MaxLineLength-10)
	line := "$" + body + "*" + hex2(Checksum(body)) // exactly MaxLineLength
	if len(line) != MaxLineLength {
		t.Fatal(len(line))
	}
	s, got := scanAll(line + "\r\n" + "x" + line + "\n")
	if len(got) != 2 || s.TooLong != 0 {
		t.Errorf("got %d, toolong %d", len(got), s.TooLong)
	}
	body += "a"
	line = "$" + body + "*" + hex2(Checksum(body))
	if s, got := scanAll(line + "\r\n"); len(got) != 0 || s.TooLong != 1 {
		t.Errorf("over-long accepted: %d", len(got))
	}
}
