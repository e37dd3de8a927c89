package localapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// collectLines runs readLines on r to its end.
func collectLines(r io.Reader) []inputLine {
	out := make(chan inputLine)
	go readLines(r, out, make(chan struct{}))
	var got []inputLine
	for ln := range out {
		got = append(got, ln)
	}
	return got
}

// referenceLines splits b as readLines must: at each LF, a last line
// without one, each line without its LF, too long past MaxLineBytes (one
// more byte allowed for a CR before the LF).
func referenceLines(b []byte) []inputLine {
	var want []inputLine
	for len(b) > 0 {
		line, rest, found := bytes.Cut(b, []byte("\n"))
		tooLong := len(line) > MaxLineBytes+1 || len(line) == MaxLineBytes+1 && !bytes.HasSuffix(line, []byte("\r"))
		if tooLong {
			line = nil
		}
		want = append(want, inputLine{text: line, tooLong: tooLong})
		b = rest
		if !found {
			break
		}
	}
	return want
}

func sameLines(t *testing.T, got, want []inputLine) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d lines; want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].tooLong != want[i].tooLong || !bytes.Equal(got[i].text, want[i].text) || got[i].err != nil {
			t.Fatalf("line %d = (%d bytes, too long %v, %v); want (%d bytes, too long %v)", i+1,
				len(got[i].text), got[i].tooLong, got[i].err, len(want[i].text), want[i].tooLong)
		}
	}
}

func TestReadLines_Table(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name, in string
	}{
		{"empty input", ""},
		{"one line", "a\n"},
		{"no final newline", "a\nb"},
		{"blank lines", "\n\n \n"},
		{"CRLF", "a\r\nb\r\n"},
		{"at the limit", long + "\n" + "a\n"},
		{"at the limit with CR", long + "\r\n" + "a\n"},
		{"one byte over", long + "y\n" + "a\n"},
		{"far over, then a line", long + long + long + "\n" + "a\n"},
		{"over at the end without newline", long + long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameLines(t, collectLines(strings.NewReader(tt.in)), referenceLines([]byte(tt.in)))
			// Read one byte at a time, the lines are the same.
			sameLines(t, collectLines(iotest.OneByteReader(strings.NewReader(tt.in))), referenceLines([]byte(tt.in)))
		})
	}
}

func TestReadLines_ReadErrorComesLast(t *testing.T) {
	boom := errors.New("boom")
	got := collectLines(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)))
	if len(got) != 3 || string(got[0].text) != "a" || string(got[1].text) != "b" || !errors.Is(got[2].err, boom) {
		t.Fatalf("lines = %+v; want a, b, then the error", got)
	}
}

func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a\nb\r\n\n"), uint8(0))
	f.Add([]byte("x"), uint8(31))
	f.Fuzz(func(t *testing.T, b []byte, grow uint8) {
		// Now and then the input is repeated past the limit, so that some
		// lines cross it.
		if grow%32 == 31 && len(b) > 0 {
			b = bytes.Repeat(b, 1+MaxLineBytes/len(b))
		}
		sameLines(t, collectLines(bytes.NewReader(b)), referenceLines(b))
	})
}
