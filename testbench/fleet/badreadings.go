package fleet

import (
	"context"
	"io"
	"time"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/drivers/ds18b20/ds18b20test"
	"github.com/waybill-eu/waybill/drivers/nmea/nmeatest"
	"github.com/waybill-eu/waybill/drivers/replay"
)

// BadReadings is a van parked in its depot for 20 minutes, door shut,
// cold box at its set point, while its sensors misbehave the ways real
// ones do. Nothing happens to the van: any excursion, zone change or
// delivery a replay of it produces is false.
var BadReadings = Round{
	Start: time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC),
	Stops: []Stop{{Name: "depot-anderlecht", Lat: 50.82630, Lon: 4.31890, Dwell: 20 * time.Minute}},
}

// The faults of RecordBadReadings, as minutes into the recording.
const (
	badPowerOn  = 1  // front probe browns out: 85 °C power-on value
	badZero     = 2  // front probe scratchpad all zeros (valid CRC)
	badCRC      = 3  // front probe CRC mismatch, for a minute
	badNullFix  = 4  // the receiver says "valid" at 0,0 for 30 s
	badRollover = 6  // the receiver's date is 1024 weeks early for a minute
	badVanish   = 8  // the rear probe is unplugged for four minutes
	badRemoteIO = 9  // the I2C bus fails transactions with remote I/O errors
	bad127      = 13 // front probe reads the 127.94 °C wiring error, for a minute
	badBCC      = 15 // a parcel tag is read through a noisy field
)

// RecordBadReadings records the BadReadings round of a van configured as in
// configs/van.yaml. The GNSS talker changes every minute among GN, GP, GB,
// BD, GL and GA.
func RecordBadReadings(ctx context.Context, cfg *config.Config, w io.Writer) error {
	r := BadReadings
	clk := replay.NewSimClock(r.Start, 0)
	v := NewVan(&r, clk)
	at := func(min int) time.Time { return r.Start.Add(time.Duration(min) * time.Minute) }
	in := func(now time.Time, from int, d time.Duration) bool {
		return !now.Before(at(from)) && now.Before(at(from).Add(d))
	}
	talkers := []string{"GN", "GP", "GB", "BD", "GL", "GA"}
	v.GNSSHook = func(t time.Time, g *nmeatest.Receiver) {
		g.Talker = talkers[int(t.Sub(r.Start).Minutes())%len(talkers)]
		if in(t, badNullFix, 30*time.Second) {
			g.Lat, g.Lon = 0, 0
		}
		if in(t, badRollover, time.Minute) {
			g.Time = t.Add(-1024 * 7 * 24 * time.Hour)
		}
	}
	done := map[int]bool{}
	once := func(now time.Time, min int, f func()) {
		if !done[min] && !now.Before(at(min)) {
			done[min] = true
			f()
		}
	}
	tag := []byte{0x04, 0xA1, 0x3C, 0x3B, 0x11, 0x22, 0x80}
	v.Script = func(now time.Time) {
		// The front probe: a power-on brown-out (a one-shot fault the
		// probe clears itself), then faults that last a while.
		once(now, badPowerOn, func() { v.Front.SetFault(ds18b20test.PowerOn85) })
		if !in(now, badPowerOn, 30*time.Second) {
			want := ds18b20test.None
			switch {
			case in(now, badZero, 15*time.Second):
				want = ds18b20test.Zero
			case in(now, badCRC, time.Minute):
				want = ds18b20test.CorruptCRC
			case in(now, bad127, time.Minute):
				want = ds18b20test.Error127
			}
			if v.Front.Fault() != want {
				v.Front.SetFault(want)
			}
		}
		want := ds18b20test.None
		if in(now, badVanish, 4*time.Minute) {
			want = ds18b20test.Vanished
		}
		if v.Rear.Fault() != want {
			v.Rear.SetFault(want)
		}
		once(now, badRemoteIO, func() {
			v.Cabin.Lock()
			v.Cabin.FailNext = 7 // three attempts per transaction: two fail for good, one retries through
			v.Cabin.Unlock()
			v.Accel.FailNext(2)
		})
		once(now, badBCC, func() {
			v.Tags.CorruptBCC(true)
			if err := v.Tags.Place(tag); err != nil {
				panic(err)
			}
		})
		if !in(now, badBCC, 30*time.Second) && done[badBCC] && !done[-badBCC] {
			done[-badBCC] = true
			v.Tags.Remove(tag)
			v.Tags.CorruptBCC(false)
		}
	}
	return Record(ctx, cfg, v, "bad readings: a parked van whose sensors misbehave (testbench/fleet)", w)
}
