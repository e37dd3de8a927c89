package config

import (
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"periph.io/x/conn/v3/gpio"

	"github.com/waybill-eu/waybill/drivers/bme280"
	"github.com/waybill-eu/waybill/drivers/door"
	"github.com/waybill-eu/waybill/drivers/ds18b20"
	"github.com/waybill-eu/waybill/drivers/hx711"
	"github.com/waybill-eu/waybill/drivers/lis3dh"
	"github.com/waybill-eu/waybill/drivers/mfrc522"
	"github.com/waybill-eu/waybill/drivers/nmea"
)

// Drivers, as named by a sensor's driver field.
const (
	DriverNMEA    = "nmea"    // a GNSS receiver speaking NMEA 0183 on a serial port
	DriverBME280  = "bme280"  // Bosch BME280 or BMP280 on I2C: temperature, pressure, humidity
	DriverDS18B20 = "ds18b20" // Maxim DS18B20 probes on a 1-Wire bus
	DriverDoor    = "door"    // a door contact (reed switch) on a GPIO line
	DriverHX711   = "hx711"   // Avia HX711 load-cell amplifier on two GPIO lines
	DriverLIS3DH  = "lis3dh"  // ST LIS3DH accelerometer on I2C
	DriverMFRC522 = "mfrc522" // NXP MFRC522 contactless reader on SPI
)

// Sensor is one configured sensor. Exactly one of the driver fields is
// non-nil: the one Driver names.
type Sensor struct {
	Name     string        // unique among sensors; [a-z0-9][a-z0-9_-]*, at most 63 characters
	Driver   string        // one of the Driver constants
	Interval time.Duration // how often the sampler reads the sensor, 10ms..24h
	Timeout  time.Duration // how long one read may take, 10ms..10s; default the interval, at most 10s

	NMEA    *NMEA
	BME280  *BME280
	DS18B20 *DS18B20
	Door    *Door
	HX711   *HX711
	LIS3DH  *LIS3DH
	MFRC522 *MFRC522
}

// NMEA is a GNSS receiver on a serial port.
type NMEA struct {
	Port string // the UART device, e.g. /dev/serial0
	Baud int    // one of nmea.Bauds: 4800, 9600, 19200, 38400, 57600 or 115200; default nmea.DefaultBaud, 9600
}

// BME280 is a Bosch BME280 (or BMP280, without humidity) on I2C.
type BME280 struct {
	Bus     string // periph i2creg bus name, e.g. I2C1
	Address uint16 // bme280.AddrSDOLow, 0x76 (SDO to GND), or bme280.AddrSDOHigh, 0x77 (SDO to VDDIO)
}

// DS18B20 is a 1-Wire bus of DS18B20 probes.
type DS18B20 struct {
	Bus        string  // 1-Wire bus name
	Resolution int     // ds18b20.MinResolution..MaxResolution, 9..12 bits; default ds18b20.DefaultResolution, 12
	Probes     []Probe // named probes, in file order; unnamed probes are reported by ROM code
}

// Probe names one DS18B20 by its ROM code.
type Probe struct {
	Name string // [a-z0-9][a-z0-9_-]*, unique within its sensor
	ROM  string // 16 lowercase hex digits in bus order: family code 28 first, CRC last
}

// Probe returns the ROM code of the probe with the given name, or "".
func (d *DS18B20) Probe(name string) string {
	for _, p := range d.Probes {
		if p.Name == name {
			return p.ROM
		}
	}
	return ""
}

// Door levels: the level a door contact reads when the door is open.
const (
	LevelHigh = "high"
	LevelLow  = "low"
)

// levelName is the configuration's name of the GPIO level l.
func levelName(l gpio.Level) string {
	if l == gpio.High {
		return LevelHigh
	}
	return LevelLow
}

// Door is a door contact on a GPIO line.
type Door struct {
	Pin       string        // GPIO line name, e.g. GPIO17
	OpenLevel string        // LevelHigh or LevelLow: the level when the door is open; default door.DefaultOpenLevel, high
	Debounce  time.Duration // how long a level must hold to count, 0..door.MaxDebounce (10s); default door.DefaultDebounce, 50ms
}

// HX711 is a load-cell amplifier on two GPIO lines.
type HX711 struct {
	DataPin  string  // DOUT line name
	ClockPin string  // PD_SCK line name, distinct from DataPin
	Channel  string  // "A" or "B"; default A
	Gain     int     // one of hx711.Gains(Channel), the first by default: 128 or 64 on channel A, 32 on channel B
	Tare     int32   // raw count at zero load, hx711.MinCode..MaxCode (24-bit two's complement); default 0
	Scale    float64 // raw counts per gram, at least hx711.MinScale in magnitude
}

// LIS3DH is an accelerometer on I2C.
type LIS3DH struct {
	Bus     string // periph i2creg bus name
	Address uint16 // lis3dh.AddrSA0Low, 0x18 (SA0 to GND), or lis3dh.AddrSA0High, 0x19 (SA0 to VDD)
	RangeG  int    // full scale, one of lis3dh.Ranges (2, 4, 8 or 16 g); default lis3dh.DefaultRangeG, 4
	RateHz  int    // output data rate, one of lis3dh.Rates (1 to 400 Hz); default lis3dh.DefaultRateHz, 100
}

// MFRC522 is a contactless card reader on SPI.
type MFRC522 struct {
	Bus      string        // periph spireg port name, e.g. SPI0.0
	ResetPin string        // NRSTPD line name, or "" when not wired
	Dedupe   time.Duration // a UID seen again within this time is not a new scan, 0..1h; default mfrc522.DefaultDedupe, 30s
}

var driverNames = []string{DriverNMEA, DriverBME280, DriverDS18B20, DriverDoor, DriverHX711, DriverLIS3DH, DriverMFRC522}

var sensorKeys = []string{"name", "driver", "interval", "timeout"}

var driverKeys = map[string][]string{
	DriverNMEA:    {"port", "baud"},
	DriverBME280:  {"bus", "address"},
	DriverDS18B20: {"bus", "resolution", "probes"},
	DriverDoor:    {"pin", "open_level", "debounce"},
	DriverHX711:   {"data_pin", "clock_pin", "channel", "gain", "tare", "scale"},
	DriverLIS3DH:  {"bus", "address", "range_g", "rate_hz"},
	DriverMFRC522: {"bus", "reset_pin", "dedupe"},
}

// nameRE is the rule for sensor, probe and zone names: they appear in
// events and file names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

const nameRule = "lowercase letters, digits, - and _, starting with a letter or digit, at most 63 characters"

// sensorState is what the sensors list shares while it is read.
type sensorState struct {
	names  map[string]*yaml.Node // sensor name → its node
	claims map[string]owner      // a bus address, line or port → the sensor using it
	gnss   *owner                // the first nmea sensor
}

type owner struct {
	sensor string
	line   int
}

// claim records that sensor uses resource (described by what for the
// message), reporting a sensor that used it first.
func (p *parser) claim(st *sensorState, resource, what string, n *yaml.Node, path, sensor string) {
	if o, ok := st.claims[resource]; ok {
		p.errorf(n, path, "%s is already used by sensor %s (line %d)", what, o.sensor, o.line)
		return
	}
	st.claims[resource] = owner{sensor, n.Line}
}

func (p *parser) sensors(items []*yaml.Node, path string) []Sensor {
	st := &sensorState{names: map[string]*yaml.Node{}, claims: map[string]owner{}}
	out := make([]Sensor, 0, len(items))
	for i, n := range items {
		out = append(out, p.sensor(n, index(path, i), st))
	}
	return out
}

// driverOf returns the value of n's driver field when it names a driver.
func driverOf(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "driver" && v.Kind == yaml.ScalarNode {
			if _, ok := driverKeys[v.Value]; ok {
				return v.Value
			}
		}
	}
	return ""
}

func (p *parser) sensor(n *yaml.Node, path string, st *sensorState) Sensor {
	var s Sensor
	drv := driverOf(n)
	allowed := append([]string(nil), sensorKeys...)
	var other func(string) string
	if drv == "" {
		// Without a known driver only the field names no driver has are
		// reported; the driver field's own error says the rest.
		for _, d := range driverNames {
			allowed = append(allowed, driverKeys[d]...)
		}
	} else {
		allowed = append(allowed, driverKeys[drv]...)
		other = func(key string) string {
			var owners []string
			for _, d := range driverNames {
				if slices.Contains(driverKeys[d], key) {
					owners = append(owners, d)
				}
			}
			if len(owners) == 0 {
				return ""
			}
			return fmt.Sprintf("field %q does not apply to driver %s (it is for %s)", key, drv, orList(owners))
		}
	}
	f := p.mapping(n, path, allowed, other)
	s.Driver, _ = f.oneOf("driver", true, "", driverNames...)

	if name, ok := f.str("name", true); ok {
		s.Name = name
		v, npath := f.get("name", false)
		if !nameRE.MatchString(name) {
			p.errorf(v, npath, "%q is not a valid name (%s)", name, nameRule)
		}
		if prev, dup := st.names[name]; dup {
			p.errorf(v, npath, "sensor name %q is already used (line %d)", name, prev.Line)
		} else {
			st.names[name] = v
		}
	}
	var ok bool
	s.Interval, ok = f.dur("interval", true, 0, 10*time.Millisecond, 24*time.Hour)
	def := min(s.Interval, 10*time.Second)
	if !ok {
		def = 0
	}
	s.Timeout, _ = f.dur("timeout", false, def, 10*time.Millisecond, 10*time.Second)

	switch drv {
	case DriverNMEA:
		s.NMEA = p.nmea(f, s.Name, st)
	case DriverBME280:
		s.BME280 = p.bme280(f, s.Name, st)
	case DriverDS18B20:
		s.DS18B20 = p.ds18b20(f, s.Name, st, s.Interval)
	case DriverDoor:
		s.Door = p.door(f, s.Name, st)
	case DriverHX711:
		s.HX711 = p.hx711(f, s.Name, st)
	case DriverLIS3DH:
		s.LIS3DH = p.lis3dh(f, s.Name, st)
	case DriverMFRC522:
		s.MFRC522 = p.mfrc522(f, s.Name, st)
	}
	return s
}

// line reads a GPIO line name and claims it for the sensor.
func (p *parser) line(f *fields, key string, required bool, sensor string, st *sensorState) string {
	s, ok := f.name(key, required)
	if ok && s != "" {
		v, path := f.get(key, false)
		p.claim(st, "gpio "+s, s, v, path, sensor)
	}
	return s
}

// addr reads an I2C address that must be one of options and claims it on
// the bus.
func (p *parser) addr(f *fields, bus string, sensor string, st *sensorState, options ...uint16) uint16 {
	v, path := f.get("address", true)
	if v == nil || !p.scalar(v, path, "an I2C address like 0x76", "!!int") {
		return 0
	}
	var a uint64
	err := v.Decode(&a)
	hexes := make([]string, len(options))
	for i, o := range options {
		hexes[i] = fmt.Sprintf("0x%02x", o)
		if err == nil && a == uint64(o) {
			if bus != "" {
				p.claim(st, "i2c "+bus+" "+hexes[i], bus+" address "+hexes[i], v, path, sensor)
			}
			return o
		}
	}
	p.errorf(v, path, "%s is not %s", v.Value, orList(hexes))
	return 0
}

func (p *parser) nmea(f *fields, name string, st *sensorState) *NMEA {
	d := &NMEA{}
	if v, path := f.get("driver", false); v != nil {
		if st.gnss != nil {
			p.errorf(v, path, "a second GNSS sensor: positions come from one receiver (the first is %s, line %d)", st.gnss.sensor, st.gnss.line)
		} else {
			line := v.Line
			if nv := f.vals["name"]; nv != nil {
				line = nv.Line
			}
			st.gnss = &owner{name, line}
		}
	}
	var ok bool
	if d.Port, ok = f.name("port", true); ok {
		v, path := f.get("port", false)
		p.claim(st, "serial "+d.Port, d.Port, v, path, name)
	}
	baud, _ := f.intOneOf("baud", false, nmea.DefaultBaud, int64s(nmea.Bauds())...)
	d.Baud = int(baud)
	return d
}

func (p *parser) bme280(f *fields, name string, st *sensorState) *BME280 {
	d := &BME280{}
	d.Bus, _ = f.name("bus", true)
	d.Address = p.addr(f, d.Bus, name, st, bme280.AddrSDOLow, bme280.AddrSDOHigh)
	return d
}

func (p *parser) lis3dh(f *fields, name string, st *sensorState) *LIS3DH {
	d := &LIS3DH{}
	d.Bus, _ = f.name("bus", true)
	d.Address = p.addr(f, d.Bus, name, st, lis3dh.AddrSA0Low, lis3dh.AddrSA0High)
	r, _ := f.intOneOf("range_g", false, lis3dh.DefaultRangeG, int64s(lis3dh.Ranges())...)
	d.RangeG = int(r)
	r, _ = f.intOneOf("rate_hz", false, lis3dh.DefaultRateHz, int64s(lis3dh.Rates())...)
	d.RateHz = int(r)
	return d
}

func (p *parser) door(f *fields, name string, st *sensorState) *Door {
	d := &Door{}
	d.Pin = p.line(f, "pin", true, name, st)
	d.OpenLevel, _ = f.oneOf("open_level", false, levelName(door.DefaultOpenLevel), LevelHigh, LevelLow)
	d.Debounce, _ = f.dur("debounce", false, door.DefaultDebounce, 0, door.MaxDebounce)
	return d
}

func (p *parser) hx711(f *fields, name string, st *sensorState) *HX711 {
	d := &HX711{}
	d.DataPin = p.line(f, "data_pin", true, name, st)
	if c, ok := f.name("clock_pin", true); ok {
		if c == d.DataPin {
			v, path := f.get("clock_pin", false)
			p.errorf(v, path, "%s is also the data_pin: the clock needs its own line", c)
		} else {
			d.ClockPin = p.line(f, "clock_pin", true, name, st)
		}
	}
	chA, chB := string(rune(hx711.ChannelA)), string(rune(hx711.ChannelB))
	d.Channel, _ = f.oneOf("channel", false, chA, chA, chB)
	if d.Channel != "" {
		switch gains := int64s(hx711.Gains(d.Channel[0])); len(gains) {
		case 1:
			if v, path := f.get("gain", false); v != nil {
				var g int64
				if p.scalar(v, path, "an integer", "!!int") && (v.Decode(&g) != nil || g != gains[0]) {
					p.errorf(v, path, "%s is not %d: channel %s has a fixed gain of %d", v.Value, gains[0], d.Channel, gains[0])
				}
			}
			d.Gain = int(gains[0])
		default:
			g, _ := f.intOneOf("gain", false, gains[0], gains...)
			d.Gain = int(g)
		}
	}
	t, _ := f.int("tare", false, 0, hx711.MinCode, hx711.MaxCode)
	d.Tare = int32(t)
	switch sc, ok := f.float("scale", true, 0, -math.MaxFloat64, math.MaxFloat64); {
	case ok && sc == 0:
		v, path := f.get("scale", false)
		p.errorf(v, path, "must not be 0 (it is the raw counts per gram)")
	case ok && math.Abs(sc) < hx711.MinScale:
		v, path := f.get("scale", false)
		p.errorf(v, path, "%s counts per gram is too fine: the hx711 driver takes at least %v in magnitude", v.Value, hx711.MinScale)
	default:
		d.Scale = sc
	}
	return d
}

func (p *parser) mfrc522(f *fields, name string, st *sensorState) *MFRC522 {
	d := &MFRC522{}
	var ok bool
	if d.Bus, ok = f.name("bus", true); ok {
		v, path := f.get("bus", false)
		p.claim(st, "spi "+d.Bus, "SPI port "+d.Bus, v, path, name)
	}
	d.ResetPin = p.line(f, "reset_pin", false, name, st)
	d.Dedupe, _ = f.dur("dedupe", false, mfrc522.DefaultDedupe, 0, time.Hour)
	return d
}

func (p *parser) ds18b20(f *fields, name string, st *sensorState, interval time.Duration) *DS18B20 {
	d := &DS18B20{}
	var ok bool
	if d.Bus, ok = f.name("bus", true); ok {
		v, path := f.get("bus", false)
		p.claim(st, "w1 "+d.Bus, "1-Wire bus "+d.Bus, v, path, name)
	}
	r, ok := f.int("resolution", false, ds18b20.DefaultResolution, ds18b20.MinResolution, ds18b20.MaxResolution)
	d.Resolution = int(r)
	if conv := ds18b20.ConversionTime(d.Resolution); ok && interval > 0 && interval < conv {
		v, path := f.get("interval", false)
		p.errorf(v, path, "%s is shorter than a %d-bit conversion (%s, DS18B20 datasheet Table 2)", v.Value, d.Resolution, conv)
	}
	pn, ppath := f.get("probes", false)
	if pn == nil {
		return d
	}
	if pn.Kind != yaml.MappingNode {
		p.errorf(pn, ppath, "want a mapping of probe names to ROM codes, got %s", describe(pn))
		return d
	}
	names := map[string]*yaml.Node{}
	roms := map[string]string{}
	for i := 0; i+1 < len(pn.Content); i += 2 {
		k, v := pn.Content[i], pn.Content[i+1]
		if k.Kind == badNode || v.Kind == badNode {
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			p.errorf(k, ppath, "probe names are words, not %s", describe(k))
			continue
		}
		path := join(ppath, k.Value)
		if !nameRE.MatchString(k.Value) {
			p.errorf(k, ppath, "%q is not a valid probe name (%s)", k.Value, nameRule)
		}
		if prev, dup := names[k.Value]; dup {
			p.errorf(k, ppath, "probe %q appears twice (first on line %d)", k.Value, prev.Line)
			continue
		}
		names[k.Value] = k
		// A ROM code of decimal digits only reads as a YAML number; its
		// text is what counts.
		if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" || v.ShortTag() == "!!bool" {
			p.errorf(v, path, "want a ROM code like 28ff4a6b711603f8, got %s", describe(v))
			continue
		}
		rom, msg := parseROM(v.Value)
		if msg != "" {
			p.errorf(v, path, "%s", msg)
			continue
		}
		if prev, dup := roms[rom]; dup {
			p.errorf(v, path, "ROM code %s is also probe %s", rom, prev)
			continue
		}
		roms[rom] = k.Value
		d.Probes = append(d.Probes, Probe{Name: k.Value, ROM: rom})
	}
	return d
}

// parseROM checks a DS18B20 ROM code written as 16 hex digits in bus order
// (family code first, CRC last) and returns it in lowercase, or a message
// saying what is wrong with it.
func parseROM(s string) (string, string) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		return "", fmt.Sprintf("%q is not a ROM code: want 16 hex digits, family code %02x first, like 28ff4a6b711603f8", s, ds18b20.Family)
	}
	rom := strings.ToLower(s)
	if b[0] != ds18b20.Family {
		if name := ds18b20.FamilyName(b[0]); name != "" {
			return "", fmt.Sprintf("ROM code %s has family code %02x, a %s, not %02x (a DS18B20)", rom, b[0], name, ds18b20.Family)
		}
		return "", fmt.Sprintf("ROM code %s has family code %02x, not %02x (a DS18B20)", rom, b[0], ds18b20.Family)
	}
	if c := ds18b20.CRC8(b[:7]); c != b[7] {
		return "", fmt.Sprintf("ROM code %s fails its CRC: the last byte is %02x, the first seven give %02x (a typo?)", rom, b[7], c)
	}
	return rom, ""
}

// countDriver counts the sensors with the given driver.
func countDriver(ss []Sensor, driver string) int {
	n := 0
	for _, s := range ss {
		if s.Driver == driver {
			n++
		}
	}
	return n
}

// int64s returns xs as int64s, for intOneOf.
func int64s(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}
