package nmeatest

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/nmea"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/testbench/replay"
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
