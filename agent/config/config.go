// Package config reads the agent's configuration file: one YAML document
// describing the device, its sensors, the zones it knows and the rules that
// turn readings into events. firmware-docs/CONFIG.md documents every field,
// its type, default and range; configs/ holds one commented example per
// device type.
//
// The file is versioned (version: 1) and strict: unknown fields, values of
// the wrong type, names used twice, rules that name a sensor that does not
// exist or has the wrong driver, two sensors on one I2C address or GPIO line,
// malformed zones and unreadable GeoJSON are all errors. [Load] reports every
// problem at once, as [Errors]: one [FieldError] per problem, each naming the
// file, line, column and field, printed as
//
//	van.yaml:23:14: sensors[2].address: 0x99 is not 0x76 or 0x77
//
// A file that does not exist is not an invalid file: Load's error then wraps
// [ErrNoConfig].
//
// The result, [Config], is plain data with every default filled in:
// durations are [time.Duration], I2C addresses uint16, levels and axes short
// strings. The daemon maps it to drivers and rules; this package opens no
// device.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waybill-eu/waybill/agent/event"
)

// Size limits on the files Load reads.
const (
	MaxSize        = 1 << 20 // a configuration file
	MaxGeoJSONSize = 4 << 20 // a GeoJSON zone file
)

// Version is the only configuration version this package reads.
const Version = 1

// Device types.
const (
	DeviceGateway   = "gateway"    // a fixed installation, e.g. a loading dock
	DeviceVan       = "van"        // a delivery van
	DeviceCargoBike = "cargo-bike" // a cargo bike
)

// Config is a valid configuration with every default filled in.
type Config struct {
	Version int      // always Version
	Device  Device   // who the device is and where it keeps its log
	Sensors []Sensor // in file order
	Zones   []Zone   // in file order
	Rules   Rules
	Faults  Faults
	Feed    *Feed   // nil: no MQTT feed
	Anchor  *Anchor // nil: no anchoring
	// Retention is the log's disk budget; nil: none.
	Retention *Retention
}

// Device is the device's identity and storage.
type Device struct {
	Type            string        // DeviceGateway, DeviceVan or DeviceCargoBike
	Fleet           string        // fleet identifier, as given to keygen (see signer.ValidFleet)
	ChainID         uint64        // EIP-155 chain ID of the ledger the fleet anchors to, 1..2^53-1
	Data            string        // log directory; relative paths are resolved against the config file's directory
	Key             string        // device key file, resolved likewise
	PassphraseFile  string        // file holding the key's passphrase, resolved likewise; "" means the environment's WAYBILL_PASSPHRASE
	CheckpointEvery time.Duration // how often to sign a checkpoint when there are new events; default 1m
}

// Faults is the sensor fault reporting policy.
type Faults struct {
	Every time.Duration // at most one sensor_fault event per sensor per this period; default 5m
}

// Sensor returns the sensor with the given name, or nil.
func (c *Config) Sensor(name string) *Sensor {
	for i := range c.Sensors {
		if c.Sensors[i].Name == name {
			return &c.Sensors[i]
		}
	}
	return nil
}

// Load reads, parses and validates the configuration file at path, and the
// GeoJSON files it names (relative to its directory). Relative paths in the
// device section are made absolute against the file's directory.
//
// An invalid configuration yields an error of type [Errors] listing every
// problem; a missing file an error wrapping [ErrNoConfig].
func Load(path string) (*Config, error) {
	c, _, err := load(path)
	return c, err
}

// load is Load, also returning the files the configuration names for the
// agent to read.
func load(path string) (*Config, []input, error) {
	data, err := readCapped(path, MaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%w: %w", ErrNoConfig, err)
	case errors.Is(err, errTooLarge):
		return nil, nil, Errors{{File: path, Msg: fmt.Sprintf("the file is larger than %d bytes", MaxSize)}}
	case err != nil:
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, filepath.Dir(abs), data, func(name string) ([]byte, error) {
		return readCapped(name, MaxGeoJSONSize)
	})
}

// Parse validates a configuration held in memory. name is the file's name,
// used in error messages and as the base of relative paths; readFile reads
// the GeoJSON files the configuration names (given their path joined to
// name's directory), and nil means reading them from disk.
func Parse(name string, data []byte, readFile func(string) ([]byte, error)) (*Config, error) {
	if readFile == nil {
		readFile = func(name string) ([]byte, error) { return readCapped(name, MaxGeoJSONSize) }
	}
	c, _, err := parse(name, filepath.Dir(name), data, readFile)
	return c, err
}

var errTooLarge = errors.New("file too large")

// readCapped reads a file of at most max bytes.
func readCapped(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}

func parse(name, dir string, data []byte, readFile func(string) ([]byte, error)) (*Config, []input, error) {
	p := &parser{file: name, dir: dir, readFile: readFile}
	c := p.config(data)
	if len(p.errs) > 0 {
		sortErrors(p.errs, name)
		return nil, nil, p.errs
	}
	return c, p.inputs, nil
}

var topKeys = []string{"version", "device", "sensors", "zones", "rules", "faults", "feed", "anchor", "retention"}

func (p *parser) config(data []byte) *Config {
	if len(data) > MaxSize {
		p.errorf(nil, "", "the file is larger than %d bytes", MaxSize)
		return nil
	}
	root := p.document(data)
	if root == nil {
		return nil
	}
	p.check(root)
	top := p.mapping(root, "", topKeys, nil)
	if top.n == nil {
		return nil
	}
	c := &Config{Version: Version}
	if vn := top.vals["version"]; vn == nil {
		p.errorf(root, "version", "missing required field (the file starts with version: %d)", Version)
	} else if v, path := top.get("version", true); v != nil {
		if n, ok := p.intNode(v, path, math.MinInt64, math.MaxInt64); ok && n != Version {
			// Another version has another schema: checking the rest
			// against this one would only add noise.
			p.errorf(v, path, "version %d is not supported: this agent reads version %d", n, Version)
			return nil
		}
	}
	dn, _ := top.get("device", true)
	c.Device = p.device(dn)
	sn, path := top.list("sensors")
	c.Sensors = p.sensors(sn, path)
	zn, path := top.list("zones")
	c.Zones = p.zones(zn, path)
	if len(c.Zones) > 0 && countDriver(c.Sensors, DriverNMEA) == 0 {
		p.errorf(top.keys["zones"], "zones", "zones need a GNSS sensor (driver %s) to place the device", DriverNMEA)
	}
	rn, _ := top.get("rules", false)
	c.Rules = p.rules(rn, c)
	fn, _ := top.get("faults", false)
	ff := p.mapping(fn, "faults", []string{"every"}, nil)
	c.Faults.Every, _ = ff.dur("every", false, 5*time.Minute, time.Second, 24*time.Hour)
	feedN, _ := top.get("feed", false)
	c.Feed = p.feed(feedN)
	anchorN, _ := top.get("anchor", false)
	c.Anchor = p.anchor(anchorN)
	retN, _ := top.get("retention", false)
	c.Retention = p.retention(retN)
	return c
}

// document parses data as exactly one YAML document and returns its root
// node, or nil after reporting why there is none.
func (p *parser) document(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML parser reports errors by panicking and recovering
		// internally; anything that escapes is still a property of the
		// input, not of the caller.
		if r := recover(); r != nil {
			p.errorf(nil, "", "the YAML parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "the file is empty: it needs at least version: %d and a device section", Version)
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "", "a second YAML document: the configuration is one document (remove the ---)")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
	}
	if len(doc.Content) == 0 {
		p.errorf(nil, "", "the file is empty: it needs at least version: %d and a device section", Version)
		return nil
	}
	return doc.Content[0]
}

var (
	yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// yamlParserError matches the parser's (not the scanner's) errors,
	// whose line the YAML package reports counting from 0.
	yamlParserError = regexp.MustCompile(`^did not find expected (key|'-' indicator|',' or '[]}]'|node content|<document start>)$`)
)

// yamlError reports a syntax error from the YAML parser, which gives a
// line but no column.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	e := &FieldError{File: p.file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &e.Line)
		msg = m[2]
		if yamlParserError.MatchString(msg) {
			e.Line++
		}
	} else if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	e.Msg = "invalid YAML: " + msg
	p.errs = append(p.errs, e)
}

var deviceKeys = []string{"type", "fleet", "chain_id", "data", "key", "passphrase_file", "checkpoint_every"}

// fleetRE is signer.ValidFleet's rule (the signing domain refuses any other
// fleet identifier); a test checks that the two agree.
var fleetRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (p *parser) device(n *yaml.Node) Device {
	var d Device
	f := p.mapping(n, "device", deviceKeys, nil)
	d.Type, _ = f.oneOf("type", true, "", DeviceGateway, DeviceVan, DeviceCargoBike)
	if s, ok := f.str("fleet", true); ok && !fleetRE.MatchString(s) {
		v, path := f.get("fleet", false)
		p.errorf(v, path, "%q is not a fleet identifier (1 to 63 of a-z 0-9 . _ -, starting with a letter or digit)", s)
	} else {
		d.Fleet = s
	}
	if v, path := f.get("chain_id", true); v != nil {
		if p.scalar(v, path, "an integer", "!!int") {
			var id uint64
			if err := v.Decode(&id); err != nil || id == 0 || id > event.MaxSeq {
				p.errorf(v, path, "%s is out of range 1..%d (2^53-1, so that JSON carries it exactly)", v.Value, uint64(event.MaxSeq))
			} else {
				d.ChainID = id
			}
		}
	}
	d.Data, _ = f.file("data", true)
	d.Key, _ = f.input("key", true)
	d.PassphraseFile, _ = f.input("passphrase_file", false)
	d.CheckpointEvery, _ = f.dur("checkpoint_every", false, time.Minute, time.Second, 24*time.Hour)
	return d
}

// file reads a file path and resolves it against the configuration's
// directory.
func (f *fields) file(key string, required bool) (string, bool) {
	s, ok := f.str(key, required)
	if !ok || s == "" {
		return s, ok
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(f.p.dir, s)
	}
	return s, true
}
