package nmea

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/nmea/nmeatest"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

// script is a sensor.Stream that returns its reads in order, a nil entry
// being one sensor.ErrNoData, then ErrNoData again or, when eof, io.EOF.
type script struct {
	reads [][]byte
	eof   bool
	err   error // returned once the reads are used up, instead of ErrNoData/EOF
}

func (s *script) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		switch {
		case s.err != nil:
			return 0, s.err
		case s.eof:
			return 0, io.EOF
		}
		return 0, sensor.ErrNoData
	}
	c := s.reads[0]
	if c == nil {
		s.reads = s.reads[1:]
		return 0, sensor.ErrNoData
	}
	n := copy(p, c)
	if n == len(c) {
		s.reads = s.reads[1:]
	} else {
		s.reads[0] = c[n:]
	}
	return n, nil
}

// senseAll calls Sense until the script is used up and once more (to see
// io.EOF), and returns every fix and error.
func senseAll(t testing.TB, r *Receiver, s *script) ([]sensor.Fix, []error) {
	t.Helper()
	var fixes []sensor.Fix
	var errs []error
	for i := 0; ; i++ {
		last := len(s.reads) == 0
		vals, err := r.Sense(context.Background())
		if err != nil {
			errs = append(errs, err)
		}
		for _, v := range vals {
			fixes = append(fixes, v.(sensor.Fix))
		}
		if last {
			return fixes, errs
		}
		if i > 1e6 {
			t.Fatal("Sense does not drain the stream")
		}
	}
}

func newTestReceiver(clk *sensortest.Clock) *Receiver {
	if clk == nil {
		clk = sensortest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	return NewReceiver(nil, &ReceiverOptions{Port: "/dev/ttyTEST", Clock: clk})
}

// receive feeds reads (then io.EOF) to a new Receiver.
func receive(t testing.TB, reads ...[]byte) ([]sensor.Fix, []error, *Receiver) {
	t.Helper()
	s := &script{reads: reads, eof: true}
	r := newTestReceiver(nil)
	r.src = s
	fixes, errs := senseAll(t, r, s)
	return fixes, errs, r
}

func readLog(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(gpsdDir, name))
	if err != nil {
		t.Skipf("gpsd logs not available: %v", err)
	}
	return data
}

// TestReceiver_GpsdLogs checks that the Receiver, given each whole log in
// one read, returns the fixes the Scanner/Parse/Assembler pipeline of
// logs_test.go assembles.
func TestReceiver_GpsdLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(gpsdDir, "*.log"))
	if len(logs) == 0 {
		t.Skipf("gpsd logs not available in %s", gpsdDir)
	}
	for _, path := range logs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := runLog(t, path)
			fixes, errs, r := receive(t, readLog(t, filepath.Base(path)))
			if len(errs) > 0 {
				t.Errorf("errors: %v", errs)
			}
			if len(fixes) != len(want.fixes) {
				t.Fatalf("%d fixes, want %d", len(fixes), len(want.fixes))
			}
			for i := range fixes {
				if w := SensorFix(&want.fixes[i]); !reflect.DeepEqual(fixes[i], w) {
					t.Errorf("fix %d = %+v, want %+v", i, fixes[i], w)
				}
			}
			st := r.Stats()
			if st.Sentences != want.scanner.Sentences || st.SkippedBytes != want.scanner.SkippedBytes ||
				st.ParseErrors != int64(len(want.errs)) || st.Epochs != int64(len(fixes)) {
				t.Errorf("Stats = %+v, want scanner %+v, %d parse errors", st, want.scanner.ScanStats, len(want.errs))
			}
		})
	}
}

// TestReceiver_SplitEverywhere cuts logs in two at every byte, with an
// ErrNoData between the halves: the fixes must be those of the whole.
func TestReceiver_SplitEverywhere(t *testing.T) {
	for _, name := range []string{"nmea-fuzzy-cases.log", "garmin15x.log", "bu353s4.log"} {
		t.Run(name, func(t *testing.T) {
			data := readLog(t, name)
			whole, _, _ := receive(t, data)
			if len(whole) == 0 {
				t.Fatal("no fixes")
			}
			for k := 1; k < len(data); k++ {
				got, errs, _ := receive(t, data[:k], nil, data[k:])
				if len(errs) > 0 || !reflect.DeepEqual(got, whole) {
					t.Fatalf("split at %d: %d fixes, errors %v; want the %d fixes of the whole log", k, len(got), errs, len(whole))
				}
			}
		})
	}
}

// TestReceiver_ByteAtATime delivers a log one byte per Sense.
func TestReceiver_ByteAtATime(t *testing.T) {
	data := readLog(t, "mt3339.log")
	whole, _, _ := receive(t, data)
	var reads [][]byte
	for i := range data {
		reads = append(reads, data[i:i+1], nil)
	}
	got, errs, _ := receive(t, reads...)
	if len(errs) > 0 || !reflect.DeepEqual(got, whole) {
		t.Fatalf("%d fixes, errors %v; want %d", len(got), errs, len(whole))
	}
}

// TestReceiver_Noise interleaves binary traffic (a u-blox UBX frame header,
// 0xB5 0x62), a boot banner and cut sentences with a clean stream: the
// fixes are the same, the noise is counted.
func TestReceiver_Noise(t *testing.T) {
	sim := &nmeatest.Receiver{Time: time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC), Fix: 3, Lat: 50.85, Lon: 4.35, Sats: 7, HDOP: 1.2}
	var clean, noisy [][]byte
	for i := 0; i < 5; i++ {
		sim.Epoch()
		b := sim.Take()
		clean = append(clean, b)
		cut := bytes.LastIndex(b, []byte("$")) // start of the last sentence, GSA
		noisy = append(noisy,
			[]byte("\xb5\x62\x01\x07\x5c\x00 boot v1.0\r\n$GPRMC,0800"), // banner, binary, cut sentence
			b[:cut+5], nil, []byte("\x00\xff"), b[cut+5:]) // binary inside the GSA: it is lost
	}
	want, _, _ := receive(t, clean...)
	got, errs, r := receive(t, noisy...)
	if len(errs) > 0 || len(got) != len(want) {
		t.Fatalf("%d fixes, errors %v; want %d", len(got), errs, len(want))
	}
	for i := range got {
		if got[i].Time != want[i].Time || got[i].Lat != want[i].Lat || *got[i].Sats != *want[i].Sats || got[i].Mode != "" {
			t.Errorf("fix %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if st := r.Stats(); st.Restarts != 5 || st.Sentences != 10 || st.SkippedBytes < 5*20 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestReceiver_NoDataMidSentence: a Sense that ends inside a sentence
// returns nothing; the next completes it.
func TestReceiver_NoDataMidSentence(t *testing.T) {
	a := "$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D\r\n"
	b := "$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D\r\n"
	c := "$GPGGA,030720.000,3747.0875,S,17518.8938,E,1,08,1.1,59.8,M,23.7,M,,0000*70\r\n"
	s := &script{reads: [][]byte{[]byte(a + b + c[:20]), nil, []byte(c[20:]), nil}}
	r := newTestReceiver(nil)
	r.src = s
	ctx := context.Background()
	vals, err := r.Sense(ctx)
	if err != nil || len(vals) != 0 {
		t.Fatalf("first Sense = %v, %v; want nothing: the epoch is not complete", vals, err)
	}
	vals, err = r.Sense(ctx)
	if err != nil || len(vals) != 1 {
		t.Fatalf("second Sense = %v, %v; want the 03:07:19 fix", vals, err)
	}
	f := vals[0].(sensor.Fix)
	if !f.Time.Equal(time.Date(2014, 12, 31, 3, 7, 19, 0, time.UTC)) || !f.Valid || *f.Sats != 8 || f.Mode != "" ||
		math.Abs(f.Lat-(-37-47.0873/60)) > 1e-9 || math.Abs(*f.SpeedMPS-0.69*1852/3600) > 1e-9 || *f.CourseDeg != 181.39 {
		t.Errorf("fix = %+v", f)
	}
	if vals, err := r.Sense(ctx); err != nil || len(vals) != 0 {
		t.Fatalf("third Sense = %v, %v; want nothing: the 03:07:20 epoch is still open", vals, err)
	}
	s.eof = true
	vals, err = r.Sense(ctx)
	if err != nil || len(vals) != 1 || !vals[0].(sensor.Fix).Time.Equal(time.Date(2014, 12, 31, 3, 7, 20, 0, time.UTC)) {
		t.Fatalf("Sense at EOF = %v, %v; want the last epoch flushed", vals, err)
	}
	if vals, err := r.Sense(ctx); err != nil || len(vals) != 0 {
		t.Fatalf("Sense after EOF = %v, %v; want nothing", vals, err)
	}
}

// TestReceiver_EOFWithoutLineEnding: the last sentence of a recording
// may lack its CR LF.
func TestReceiver_EOFWithoutLineEnding(t *testing.T) {
	got, errs, _ := receive(t, []byte("$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D"))
	if len(errs) > 0 || len(got) != 1 || !got[0].Valid || !got[0].Time.IsZero() {
		t.Fatalf("fixes %+v, errors %v; want one valid fix without a date", got, errs)
	}
}

func TestReceiver_FixMapping(t *testing.T) {
	cases := []struct {
		lines []string
		want  sensor.Fix
	}{
		{ // GSA mode 1, no position, no date.
			[]string{withSum("$GPGGA,120000,,,,,0,00,,,M,,M,,"), withSum("$GPGSA,A,1,,,,,,,,,,,,,,,")},
			sensor.Fix{Mode: "none", Sats: iptr(0)},
		},
		{ // 2D: no altitude.
			[]string{withSum("$GPRMC,120001,A,5100.0,N,00100.0,W,1.0,90.0,010126,,,A"), withSum("$GPGSA,A,2,01,02,03,,,,,,,,,,2.0,1.5,1.2")},
			sensor.Fix{Time: time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC), Valid: true, Lat: 51, Lon: -1,
				SpeedMPS: fptr(1852.0 / 3600), CourseDeg: fptr(90), HDOP: fptr(1.5), Mode: "2d"},
		},
		{ // 3D.
			[]string{withSum("$GNGGA,120002.25,5100.0,S,00100.0,E,1,12,0.8,-12.5,M,,M,,"), withSum("$GNGSA,A,3,01,02,03,04,,,,,,,,,1.2,0.8,1.0")},
			sensor.Fix{Valid: true, Lat: -51, Lon: 1, AltM: fptr(-12.5), Sats: iptr(12), HDOP: fptr(0.8), Mode: "3d"},
		},
	}
	for i, c := range cases {
		got, errs, _ := receive(t, []byte(strings.Join(c.lines, "\r\n")+"\r\n"))
		if len(errs) > 0 || len(got) != 1 || !reflect.DeepEqual(got[0], c.want) {
			t.Errorf("case %d: %+v, %v; want %+v", i, got, errs, c.want)
		}
	}
}

func iptr(v int) *int         { return &v }
func fptr(v float64) *float64 { return &v }

// TestReceiver_RoundTrip reads back a simulated receiver's state, within
// the resolution of its sentences (1e-5 minute, 0.1 m, 0.001 knot, 0.01
// degree).
func TestReceiver_RoundTrip(t *testing.T) {
	sim := &nmeatest.Receiver{Time: time.Date(2026, 11, 27, 23, 59, 58, 0, time.UTC), Fix: 3, Sats: 11, HDOP: 0.7}
	r := NewReceiver(sim, &ReceiverOptions{Port: "sim", Clock: sensortest.NewClock(time.Time{})})
	type state struct{ lat, lon, alt, speed, course float64 }
	states := []state{{50.8503, 4.3517, 71.2, 0, 0}, {-33.868820, 151.209296, 58, 13.9, 359.99}, {89.9999999, -179.9999999, -400.5, 0.3, 12.5}, {0, 0.0001, 1, 1, 1}}
	var got []sensor.Fix
	for _, s := range states {
		sim.Lat, sim.Lon, sim.AltM, sim.SpeedMPS, sim.CourseDeg = s.lat, s.lon, s.alt, s.speed, s.course
		sim.Epoch()
		vals, err := r.Sense(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			got = append(got, v.(sensor.Fix))
		}
	}
	sim.Ended = true
	vals, _ := r.Sense(context.Background())
	for _, v := range vals {
		got = append(got, v.(sensor.Fix))
	}
	if len(got) != len(states) {
		t.Fatalf("%d fixes, want %d", len(got), len(states))
	}
	for i, s := range states {
		f := got[i]
		want := time.Date(2026, 11, 27, 23, 59, 58+i, 0, time.UTC) // across midnight
		if !f.Valid || !f.Time.Equal(want) || f.Mode != "3d" || *f.Sats != 11 || *f.HDOP != 0.7 ||
			math.Abs(f.Lat-s.lat) > 1e-7 || math.Abs(f.Lon-s.lon) > 1e-7 || math.Abs(*f.AltM-s.alt) > 0.05 ||
			math.Abs(*f.SpeedMPS-s.speed) > 0.001 {
			t.Errorf("fix %d = %+v (time %v), want %+v at %v", i, f, f.Time, s, want)
		}
		// The receiver leaves the course empty below 0.5 m/s, as real ones do.
		if s.speed > 0.5 && (f.CourseDeg == nil || math.Abs(*f.CourseDeg-s.course) > 0.005) || s.speed <= 0.5 && f.CourseDeg != nil {
			t.Errorf("fix %d: course %v, want %v at %v m/s", i, f.CourseDeg, s.course, s.speed)
		}
	}
}

// TestReceiver_WrongBaud: a receiver sending at 9600 baud read at another
// rate delivers bytes but no sentence; Sense reports it within 4 KiB.
func TestReceiver_WrongBaud(t *testing.T) {
	for _, baud := range []int{4800, 38400, 115200} {
		t.Run(fmt.Sprint(baud), func(t *testing.T) {
			sim := &nmeatest.Receiver{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Fix: 3, Lat: 50.85, Lon: 4.35, Sats: 8, HDOP: 1}
			clk := sensortest.NewClock(sim.Time)
			line := &script{}
			r := NewReceiver(line, &ReceiverOptions{Port: "/dev/serial0", Clock: clk, GarbageTime: time.Hour})
			var err error
			before, total := 0, 0 // bytes read before the last Sense, and in all
			for i := 0; i < 1000 && err == nil; i++ {
				sim.Epoch()
				b := nmeatest.Misread(sim.Take(), 9600, baud)
				before, total = total, total+len(b)
				line.reads = append(line.reads, b)
				_, err = r.Sense(context.Background())
			}
			checkError(t, err, sensor.ErrBus, "/dev/serial0", "read sentences", "baud rate")
			if before > DefaultGarbageBytes || total <= DefaultGarbageBytes {
				t.Errorf("reported after %d bytes, the Sense before at %d; want the first Sense past %d", total, before, DefaultGarbageBytes)
			}
			if st := r.Stats(); st.Sentences != 0 || st.Epochs != 0 {
				t.Errorf("Stats = %+v, want no sentence", st)
			}
		})
	}
}

// TestReceiver_GarbageTime: a trickle of bytes without a sentence is
// reported once it has lasted longer than GarbageTime, not before.
func TestReceiver_GarbageTime(t *testing.T) {
	clk := sensortest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	line := &script{}
	r := NewReceiver(line, &ReceiverOptions{Port: "/dev/ttyAMA0", Clock: clk})
	var err error
	for i := 0; i <= 5; i++ {
		line.reads = append(line.reads, bytes.Repeat([]byte{0xf0}, 100))
		if _, err = r.Sense(context.Background()); err != nil {
			t.Fatalf("after %d s: %v; want no error yet", i, err)
		}
		clk.Advance(time.Second)
	}
	line.reads = append(line.reads, []byte{0xf0})
	_, err = r.Sense(context.Background()) // 6 s of bytes, no sentence
	checkError(t, err, sensor.ErrBus, "/dev/ttyAMA0", "read sentences", "baud rate")
	// One valid sentence clears it.
	line.reads = append(line.reads, []byte("$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D\r\n"))
	if _, err = r.Sense(context.Background()); err != nil {
		t.Fatalf("after a valid sentence: %v", err)
	}
}

// TestReceiver_Silence: nothing at all for longer than Silence is
// ErrNoDevice, whether the receiver never sent or stopped.
func TestReceiver_Silence(t *testing.T) {
	clk := sensortest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	line := &script{}
	r := NewReceiver(line, &ReceiverOptions{Port: "/dev/serial0", Clock: clk})
	for i := 0; i < 5; i++ {
		if _, err := r.Sense(context.Background()); err != nil {
			t.Fatalf("after %d s: %v", i, err)
		}
		clk.Advance(time.Second)
	}
	clk.Advance(time.Millisecond)
	_, err := r.Sense(context.Background())
	checkError(t, err, sensor.ErrNoDevice, "/dev/serial0", "read sentences", "TX→RX")
	line.reads = append(line.reads, []byte("$GPG"))
	if _, err := r.Sense(context.Background()); err != nil {
		t.Fatalf("bytes again: %v", err)
	}
	clk.Advance(6 * time.Second)
	_, err = r.Sense(context.Background())
	checkError(t, err, sensor.ErrNoDevice, "/dev/serial0", "read sentences", "no data from the receiver")
}

// TestReceiver_ReadError: a failing stream is a bus error at step "read";
// fixes decoded before it are returned first.
func TestReceiver_ReadError(t *testing.T) {
	eio := errors.New("input/output error")
	data := readLog(t, "bu353s4.log")
	line := &script{reads: [][]byte{data}, err: eio}
	r := NewReceiver(line, &ReceiverOptions{Port: "/dev/ttyUSB0"})
	vals, err := r.Sense(context.Background())
	if err != nil || len(vals) == 0 {
		t.Fatalf("Sense = %d values, %v; want the fixes, the error next time", len(vals), err)
	}
	_, err = r.Sense(context.Background())
	checkError(t, err, sensor.ErrBus, "/dev/ttyUSB0", "read", "input/output error")
	if !errors.Is(err, eio) {
		t.Errorf("%v does not wrap the stream's error", err)
	}
	_, err = r.Sense(context.Background())
	checkError(t, err, sensor.ErrBus, "/dev/ttyUSB0", "read", "input/output error")
}

func TestReceiver_Canceled(t *testing.T) {
	r := NewReceiver(&script{reads: [][]byte{[]byte("$GP")}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Sense(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sense = %v, want context.Canceled", err)
	}
}

func TestReceiver_String(t *testing.T) {
	if s := NewReceiver(nil, &ReceiverOptions{Port: "/dev/serial0"}).String(); s != "nmea on /dev/serial0" {
		t.Errorf("String = %q", s)
	}
	if err := NewReceiver(nil, nil).Halt(); err != nil {
		t.Errorf("Halt = %v", err)
	}
}

func checkError(t *testing.T, err, cause error, bus, step, text string) {
	t.Helper()
	var se *sensor.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *sensor.Error", err, err)
	}
	if se.Device != "nmea" || se.Bus != bus || se.Step != step || !errors.Is(err, cause) || !strings.Contains(err.Error(), text) {
		t.Errorf("error %q = %+v; want device nmea, bus %s, step %q, cause %v, text %q", err, se, bus, step, cause, text)
	}
	if !se.Retryable() {
		t.Errorf("%v is not retryable", err)
	}
}

// FuzzReceiver feeds data in the chunks that cuts describes (each byte's
// low seven bits a chunk length less one, its high bit an ErrNoData
// before the chunk): the fixes must be those of data in one read, and
// nothing may panic.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte(strings.Join(seeds, "\r\n")), []byte{0, 0x86, 127, 0x82})
	f.Add([]byte("junk$GPG$GPGGA,030851.00,,,,,0,03,9.93,,,,,,*59\r\r\n\xb5\x62$"), []byte{4, 0x84})
	f.Add([]byte("$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D\r\n"+
		"$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D\r\n"+
		"$GPGGA,030720.000,3747.0875,S,17518.8938,E,1,08,1.1,59.8,M,23.7,M,,0000*70"), []byte{79, 0x80, 0, 0x80, 63})
	if data, err := os.ReadFile(filepath.Join(gpsdDir, "nmea-fuzzy-cases.log")); err == nil {
		f.Add(data, []byte{12, 0xff, 1, 0x89})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		whole, _, _ := receive(t, data)
		var reads [][]byte
		rest := data
		for i := 0; len(rest) > 0; i++ {
			c := byte(1)
			if len(cuts) > 0 {
				c = cuts[i%len(cuts)]
			}
			if c&0x80 != 0 {
				reads = append(reads, nil)
			}
			n := min(int(c&0x7f)+1, len(rest))
			reads = append(reads, rest[:n])
			rest = rest[n:]
		}
		got, _, r := receive(t, reads...)
		if !reflect.DeepEqual(got, whole) {
			t.Fatalf("chunked: %d fixes, whole: %d", len(got), len(whole))
		}
		if st := r.Stats(); st.Bytes != int64(len(data)) || st.Epochs != int64(len(got)) || st.SkippedBytes > st.Bytes {
			t.Fatalf("Stats = %+v for %d bytes", st, len(data))
		}
	})
}
