package fleet

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/agent/sensors"
	"github.com/waybill-eu/waybill/drivers/bme280/bme280test"
	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/drivers/ds18b20/ds18b20test"
	"github.com/waybill-eu/waybill/drivers/lis3dh/lis3dhtest"
	"github.com/waybill-eu/waybill/drivers/mfrc522/mfrc522test"
	"github.com/waybill-eu/waybill/drivers/nmea/nmeatest"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Van is a delivery van's sensors on a round, as configured in
// configs/van.yaml.
type Van struct {
	Round *Round
	Clock *replay.SimClock

	GNSS    *nmeatest.Receiver
	Cabin   *bme280test.Chip
	Accel   *lis3dhtest.Chip
	Probes  *ds18b20test.Bus
	Front   *ds18b20test.Probe // by the evaporator: the cold-chain rule's probe
	Rear    *ds18b20test.Probe
	Door    *edgePin
	Tags    *mfrc522test.Chip
	TagsRst *gpiotest.Pin

	// Dropouts are GNSS outages: from, to (exclusive).
	Dropouts [][2]time.Time
	// HarshBrake is when the driver brakes hard for 800 ms (zero: never).
	HarshBrake time.Time
	// GNSSHook, if set, may change the receiver's state before each epoch
	// is sent (a talker, a wrong date, a bogus position).
	GNSSHook func(t time.Time, r *nmeatest.Receiver)
	// Script, if set, is called at the end of each Update (faults).
	Script func(now time.Time)

	mu     sync.Mutex
	last   time.Time // of the last Update
	epoch  time.Time // of the next GNSS epoch
	box    [2]float64
	door   bool
	tagsOn map[string]bool
}

// Cold box model: the air warms towards the outside temperature when the
// door is open and is pulled back towards the set point when it is closed,
// each exponentially.
const (
	setPointC = 3.5
	outsideC  = 14.0
	warmTau   = 600.0 // s, door open
	coolTau   = 240.0 // s, door closed
)

// NewVan returns the van at the start of r on clk, with the ROM codes and
// addresses of configs/van.yaml. It sets clk.OnAdvance.
func NewVan(r *Round, clk *replay.SimClock) *Van {
	v := &Van{Round: r, Clock: clk, tagsOn: map[string]bool{}, box: [2]float64{4.0, 4.4}}
	v.GNSS = &nmeatest.Receiver{Talker: "GN"}
	v.Cabin = bme280test.New(0x76)
	v.Cabin.Clock = clk
	v.Accel = lis3dhtest.New(0x18)
	v.Accel.Clock = clk
	v.Probes = &ds18b20test.Bus{Name: "w1", Clock: clk}
	v.Front = v.Probes.AddProbe(0x0316716b4aff) // ROM 28ff4a6b711603f8
	v.Rear = v.Probes.AddProbe(0x0e16716b4aff)  // ROM 28ff4a6b71160e05
	v.Door = &edgePin{&gpiotest.Pin{N: "GPIO17", Num: 17, L: gpio.Low, EdgesChan: make(chan gpio.Level, 64)}}
	v.Tags = mfrc522test.New()
	v.TagsRst = &gpiotest.Pin{N: "GPIO25", Num: 25}
	v.last = clk.Now()
	v.epoch = v.last.Truncate(time.Second)
	clk.OnAdvance = v.Update
	v.Update(v.last)
	return v
}

// gnssEpoch makes the receiver send its epoch at t.
func (v *Van) gnssEpoch(t time.Time) {
	r := v.GNSS
	r.Time = t
	r.Fix = 3
	for _, d := range v.Dropouts {
		if !t.Before(d[0]) && t.Before(d[1]) {
			r.Fix = 0
		}
	}
	p := v.Round.At(t)
	sec := float64(t.Unix() % 600)
	r.Lat, r.Lon, r.AltM = p.Lat, p.Lon, 56+3*math.Sin(sec/95)
	r.SpeedMPS, r.CourseDeg = p.SpeedMPS, p.CourseDeg
	r.Sats, r.HDOP = 9+int(t.Unix()/97%4), 0.8+0.1*float64(t.Unix()/131%3)
	if v.GNSSHook != nil {
		v.GNSSHook(t, r)
	}
	r.Epoch()
}

// Update sets the simulated physical state for time now.
func (v *Van) Update(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	dt := now.Sub(v.last).Seconds()
	v.last = now
	for ; !v.epoch.After(now); v.epoch = v.epoch.Add(time.Second) {
		v.gnssEpoch(v.epoch)
	}
	p := v.Round.At(now)
	open := false
	var tags []string
	if p.Stop >= 0 {
		s := v.Round.Stops[p.Stop]
		open = s.DoorShut > 0 && p.SinceStart >= s.DoorOpen && p.SinceStart < s.DoorShut
		if n := len(s.Parcels); n > 0 && s.DoorShut > 0 {
			step := (s.DoorShut - s.DoorOpen) / time.Duration(n+1)
			for i, uid := range s.Parcels {
				at := s.DoorOpen + step*time.Duration(i+1)
				if p.SinceStart >= at && p.SinceStart < at+3*time.Second {
					tags = append(tags, uid)
				}
			}
		}
	}
	// Cold box.
	if dt > 0 {
		for i := range v.box {
			target, tau := setPointC+0.4*float64(i), coolTau
			if v.door {
				target, tau = outsideC, warmTau
			}
			v.box[i] = target + (v.box[i]-target)*math.Exp(-dt/tau)
		}
	}
	v.Front.SetTemperature(celsius(v.box[0]))
	v.Rear.SetTemperature(celsius(v.box[1]))
	// Cabin air: a November morning, warming slowly.
	mins := now.Sub(v.Round.Start).Minutes()
	v.Cabin.Lock()
	v.Cabin.Temperature = celsius(7.5 + mins*0.02)
	v.Cabin.Pressure = physic.Pressure(101720+int64(20*math.Sin(mins/9))) * physic.Pascal
	v.Cabin.Humidity = physic.RelativeHumidity(78+int32(mins/20)) * physic.PercentRH
	v.Cabin.Unlock()
	// Door contact: high when open (reed switch apart, pull-up).
	if open != v.door {
		v.door = open
		lvl := gpio.Level(open)
		v.Door.Lock()
		v.Door.L = lvl
		v.Door.Unlock()
		select {
		case v.Door.EdgesChan <- lvl:
		default:
		}
	}
	// Tags in the reader's field.
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	for t := range v.tagsOn {
		if !want[t] {
			uid, _ := hex.DecodeString(t)
			v.Tags.Remove(uid)
			delete(v.tagsOn, t)
		}
	}
	for t := range want {
		if !v.tagsOn[t] {
			uid, _ := hex.DecodeString(t)
			if err := v.Tags.Place(uid); err != nil {
				panic(fmt.Sprintf("fleet: tag %s: %v", t, err))
			}
			v.tagsOn[t] = true
		}
	}
	// Acceleration along the van's x axis (forward), gravity on z.
	ax := 0.0
	if p.Leg >= 0 {
		leg := v.Round.Legs[p.Leg]
		switch {
		case p.SpeedMPS < leg.SpeedMPS && p.Travelled < p.LegLength/2:
			ax = accel
		case p.SpeedMPS < leg.SpeedMPS:
			ax = -accel
		}
	}
	mg := sensor.MilliG(math.Round(ax / 9.80665 * 1000))
	braking := !v.HarshBrake.IsZero() && !now.Before(v.HarshBrake) && now.Before(v.HarshBrake.Add(800*time.Millisecond))
	if braking {
		mg = -620
	}
	v.Accel.SetConstant(&lis3dhtest.Accel{X: mg, Y: 0, Z: 1000})
	if v.Script != nil {
		v.Script(now)
	}
}

func celsius(c float64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(math.Round(c*1e6))*physic.MicroKelvin
}

// Buses returns the van's buses under the names configs/van.yaml uses.
func (v *Van) Buses() bus.Set {
	return &simBuses{
		i2c:    map[string]i2c.Bus{"I2C1": i2cMux{v.Cabin.Addr: v.Cabin, v.Accel.Addr: v.Accel}},
		spi:    map[string]spi.Conn{"SPI0.0": v.Tags},
		w1:     map[string]onewire.Bus{"w1": v.Probes},
		pins:   map[string]gpio.PinIO{"GPIO17": v.Door, "GPIO25": v.TagsRst},
		serial: map[string]sensor.Stream{"/dev/serial0": v.GNSS},
	}
}

// edgePin is a gpiotest.Pin whose WaitForEdge does not wait in real time:
// on the simulated clock an edge has either happened or not.
type edgePin struct{ *gpiotest.Pin }

// In implements gpio.PinIn. Unlike gpiotest.Pin it leaves the level as
// the circuit sets it: a reed switch closed to ground reads low whatever
// the pull-up.
func (p *edgePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.Lock()
	l := p.L
	p.Unlock()
	err := p.Pin.In(pull, edge)
	p.Lock()
	p.L = l
	p.Unlock()
	return err
}

// WaitForEdge implements gpio.PinIn.
func (p *edgePin) WaitForEdge(time.Duration) bool {
	select {
	case <-p.EdgesChan:
		return true
	default:
		return false
	}
}

// i2cMux routes transactions to the chip at each address; a missing chip
// does not acknowledge (EREMOTEIO on a Raspberry Pi).
type i2cMux map[uint16]i2c.Bus

func (m i2cMux) String() string                  { return "I2C1" }
func (m i2cMux) SetSpeed(physic.Frequency) error { return nil }
func (m i2cMux) Tx(addr uint16, w, r []byte) error {
	if b, ok := m[addr]; ok {
		return b.Tx(addr, w, r)
	}
	return fmt.Errorf("i2c: write to %#02x: %w", addr, syscall.EREMOTEIO)
}

type simBuses struct {
	i2c    map[string]i2c.Bus
	spi    map[string]spi.Conn
	w1     map[string]onewire.Bus
	pins   map[string]gpio.PinIO
	serial map[string]sensor.Stream
}

func lookup[T any](m map[string]T, kind, name string) (T, error) {
	v, ok := m[name]
	if !ok {
		var zero T
		return zero, fmt.Errorf("the simulated vehicle has no %s %q", kind, name)
	}
	return v, nil
}

func (b *simBuses) I2C(name string) (i2c.Bus, error) { return lookup(b.i2c, "I2C bus", name) }
func (b *simBuses) SPI(name string, _ physic.Frequency, _ spi.Mode, _ int) (spi.Conn, error) {
	return lookup(b.spi, "SPI port", name)
}
func (b *simBuses) OneWire(name string) (onewire.Bus, error) { return lookup(b.w1, "1-Wire bus", name) }
func (b *simBuses) Pin(name string) (gpio.PinIO, error)      { return lookup(b.pins, "GPIO pin", name) }
func (b *simBuses) Serial(port string, _ int) (sensor.Stream, error) {
	return lookup(b.serial, "serial port", port)
}
func (b *simBuses) Close() error { return nil }

// Record drives the van through its round and writes the recording of
// every bus transaction the agent's drivers make, configured by cfg, to w.
// The sampler runs exactly as `waybill run --replay` will run it.
func Record(ctx context.Context, cfg *config.Config, v *Van, note string, w io.Writer) error {
	end := v.Round.End()
	rec, err := replay.NewRecorder(w, replay.Header{Start: v.Round.Start, End: &end, Note: note}, v.Clock)
	if err != nil {
		return err
	}
	buses := replay.RecordBuses{Set: v.Buses(), Rec: rec}
	list, err := sensors.Open(ctx, cfg, buses, v.Clock)
	if err != nil {
		return err
	}
	s, err := sampler.New(list, sensors.Sequential(cfg, v.Clock, end))
	if err != nil {
		return err
	}
	if err := s.Run(ctx, func(sampler.Output) error { return nil }); err != nil {
		return err
	}
	// The agent halts its sensors when it stops; so does its replay.
	if err := s.Halt(); err != nil {
		return err
	}
	return buses.Close()
}
