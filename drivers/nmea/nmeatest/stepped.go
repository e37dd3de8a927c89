package nmeatest

import (
	"io"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Epoch sends one epoch of a stepped receiver with its state fields, as
// the package function Epoch formats it, and advances Time by Interval.
func (r *Receiver) Epoch() {
	r.pending = append(r.pending, Epoch(r.Time, State{
		Valid: r.Fix >= 2, Mode: r.Fix,
		Lat: r.Lat, Lon: r.Lon, AltM: r.AltM,
		SpeedMPS: r.SpeedMPS, CourseDeg: r.CourseDeg,
		Sats: r.Sats, HDOP: r.HDOP,
		NoDate: r.NoDate, Talker: r.Talker,
	})...)
	iv := r.Interval
	if iv <= 0 {
		iv = time.Second
	}
	r.Time = r.Time.Add(iv)
}

// Write sends raw bytes: a boot banner, binary protocol traffic, noise.
func (r *Receiver) Write(p []byte) (int, error) {
	r.pending = append(r.pending, p...)
	return len(p), nil
}

// Buffered returns the bytes sent and not yet read.
func (r *Receiver) Buffered() []byte { return r.pending }

// Take returns and removes every byte sent and not yet read.
func (r *Receiver) Take() []byte {
	p := r.pending
	r.pending = nil
	return p
}

// readStepped is Read for a receiver without At.
func (r *Receiver) readStepped(p []byte) (int, error) {
	if len(r.pending) == 0 {
		if r.Ended {
			return 0, io.EOF
		}
		return 0, sensor.ErrNoData
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}
