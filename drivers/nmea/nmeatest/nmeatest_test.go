package nmeatest

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/nmea"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

func TestReceiver_RoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC)
	clk := replay.NewSimClock(t0, 0)
	r := &Receiver{Clock: clk, At: func(tt time.Time) State {
		s := tt.Sub(t0).Seconds()
		return State{Valid: true, Lat: 50.8476123 + s*1e-5, Lon: -4.3537456, AltM: 61.2, SpeedMPS: 8.3, CourseDeg: 12.5, Sats: 9, HDOP: 0.9}
	}}
	var a nmea.Assembler
	var fixes []nmea.Fix
	buf := make([]byte, 100) // small reads split sentences
	var stream []byte
	for i := 0; i < 5; i++ {
		for {
			n, err := r.Read(buf)
			stream = append(stream, buf[:n]...)
			if errors.Is(err, sensor.ErrNoData) {
				break
			}
		}
		clk.Sleep(t.Context(), time.Second)
	}
	sc := nmea.NewScanner(bytes.NewReader(stream))
	for sc.Scan() {
		s, err := nmea.Parse(sc.Text())
		if err != nil {
			t.Fatalf("Parse(%q): %v", sc.Text(), err)
		}
		if f, ok := a.Add(s); ok {
			fixes = append(fixes, f)
		}
	}
	if f, ok := a.Flush(); ok {
		fixes = append(fixes, f)
	}
	if len(fixes) != 5 {
		t.Fatalf("fixes = %d, want 5", len(fixes))
	}
	for i, f := range fixes {
		if !f.Valid || !f.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("fix %d: valid %v time %v", i, f.Valid, f.Time)
		}
		if math.Abs(*f.Lat-(50.8476123+float64(i)*1e-5)) > 2e-7 || math.Abs(*f.Lon+4.3537456) > 2e-7 {
			t.Errorf("fix %d: %v,%v", i, *f.Lat, *f.Lon)
		}
	}
}

// TestReceiver_Stepped sets the state of a stepped receiver per epoch.
// Checksums computed independently (XOR of the bytes between $ and *).
func TestReceiver_Stepped(t *testing.T) {
	r := &Receiver{
		Time: time.Date(2026, 3, 28, 10, 1, 2, 500e6, time.UTC), Fix: 3, Talker: "GP",
		Lat: 50.8503, Lon: -4.3517, AltM: 71.2, SpeedMPS: 10, CourseDeg: 181.39, Sats: 9, HDOP: 0.9,
	}
	r.Epoch()
	want := "$GPRMC,100102.50,A,5051.01800,N,00421.10200,W,19.438,181.39,280326,,,A,V*35\r\n" +
		"$GPGGA,100102.50,5051.01800,N,00421.10200,W,1,09,0.90,71.2,M,45.6,M,,*76\r\n" +
		"$GPGSA,A,3,02,05,07,09,13,15,18,20,24,,,,1.44,0.90,1.17,1*12\r\n"
	if got := string(r.Take()); got != want {
		t.Fatalf("Epoch =\n%s\nwant\n%s", got, want)
	}
	if !r.Time.Equal(time.Date(2026, 3, 28, 10, 1, 3, 500e6, time.UTC)) {
		t.Errorf("Time = %v, want one second later", r.Time)
	}
	r.Fix, r.NoDate = 2, true
	r.Epoch()
	if got := string(r.Take()); !strings.Contains(got, ",181.39,,,,A,V*39\r\n") || !strings.Contains(got, "$GPGSA,A,2,") {
		t.Errorf("2D epoch without a date:\n%s", got)
	}
	r.Fix = 0
	r.Epoch()
	if got := string(r.Take()); !strings.Contains(got, "$GPGGA,100104.50,,,,,0,00,") || !strings.Contains(got, "$GPGSA,A,1,") {
		t.Errorf("no-fix epoch:\n%s", got)
	}
}

func TestReceiver_SteppedRead(t *testing.T) {
	r := &Receiver{}
	p := make([]byte, 4)
	if n, err := r.Read(p); n != 0 || !errors.Is(err, sensor.ErrNoData) {
		t.Fatalf("empty Read = %d, %v; want 0, ErrNoData", n, err)
	}
	r.Write([]byte("abcdef"))
	if n, err := r.Read(p); n != 4 || err != nil || string(p) != "abcd" {
		t.Fatalf("Read = %d %v %q", n, err, p[:n])
	}
	r.Ended = true
	if n, _ := r.Read(p); n != 2 {
		t.Fatalf("Read = %d, want the 2 remaining bytes", n)
	}
	if _, err := r.Read(p); err != io.EOF {
		t.Fatalf("Read at end = %v, want io.EOF", err)
	}
}

func TestMisread(t *testing.T) {
	data := []byte("$GPGGA,100102.50,5051.01800,N*4C\r\n\x00\xff\x55")
	for _, baud := range []int{4800, 9600, 115200} {
		if got := Misread(data, baud, baud); !bytes.Equal(got, data) {
			t.Errorf("Misread at %d/%d = %q, want the data unchanged", baud, baud, got)
		}
	}
	// 0x55 is 0101 0101: LSB first the line reads start 0, then 1 0 1 0 1 0 1 0,
	// stop 1. Read at half the rate, the samples fall at sent bits 3, 5, ...:
	// the receiver sees bits 1,1,1,1 then idle: 0xff with a good stop bit.
	if got := Misread([]byte{0x55}, 9600, 4800); !bytes.Equal(got, []byte{0xff}) {
		t.Errorf("Misread(0x55, 9600 read at 4800) = %x, want ff", got)
	}
	for _, readBaud := range []int{4800, 38400, 115200} {
		got := Misread(bytes.Repeat(data, 10), 9600, readBaud)
		if bytes.Contains(got, []byte("$GPGGA")) {
			t.Errorf("read at %d: sentence survived: %q", readBaud, got)
		}
	}
}
