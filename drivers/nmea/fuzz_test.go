package nmea

import (
	"bytes"
	"strings"
	"testing"
)

var seeds = []string{
	"$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133*7E",
	"$GARMC,043539.00,A,4333.190206,N,00127.618380,E,0.0,,040925,1.7,W,A,V*6D",
	"$GNGNS,043539.00,4333.190206,N,00127.618380,E,AAAAN,14,1.3,250.8,50.0,,,V*62",
	"$GPGLL,4808.9985,N,01135.0867,E,164516.99,A,A*6E",
	"$GPVTG,,T,1.7,M,0.0,N,0.0,K,A*0B",
	"$GNGSA,A,2,208,211,213,,,,,,,,,,1.6,1.3,0.9,4*01",
	"$GLGSV,3,3,10,67,23,143,22,88,00,084,,1*73",
	"$GPZDA,232712.000,28,03,2016,00,00*5D",
	"$PGRME,7.6,M,41.7,M,42.4,M*2F",
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := Parse(line)
		if err == nil && (s == nil || s.Type() == "") {
			t.Fatalf("accepted %q without a sentence", line)
		}
		// Re-checksummed body: exercise the field decoders, not just framing.
		if i := strings.LastIndexByte(line, '*'); i > 0 && line[0] == '$' {
			s, err := Parse(withSum(line[:i]))
			if err == nil {
				var a Assembler
				a.Add(s)
				a.Flush()
			}
		}
	})
}

func FuzzScanner(f *testing.F) {
	f.Add([]byte(strings.Join(seeds, "\r\n")))
	f.Add([]byte("junk$GPG$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*59\r\r\n\xb5\x62$"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(bytes.NewReader(data))
		var a Assembler
		n := int64(0)
		for s.Scan() {
			n++
			line := s.Text()
			if len(line) > MaxLineLength || line[0] != '$' {
				t.Fatalf("bad token %q", line)
			}
			if _, err := splitChecksum(line); err != nil {
				t.Fatalf("token %q: %v", line, err)
			}
			if sen, err := Parse(line); err == nil {
				a.Add(sen)
			}
		}
		a.Flush()
		if n != s.Sentences || s.SkippedBytes < 0 || s.SkippedBytes > int64(len(data)) {
			t.Fatalf("counters %+v", s)
		}
	})
}
