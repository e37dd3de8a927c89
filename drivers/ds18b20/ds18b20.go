package ds18b20

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// device names the driver in errors.
const device = "ds18b20"

// DefaultRescan is how many Sense calls may pass between two searches of the
// bus when Options.Rescan is 0: at a 10 s interval, a newly plugged probe
// without a configured name is found within 5 minutes.
const DefaultRescan = 30

// Options configures a [Dev]. A nil *Options means the zero value: 12-bit
// resolution, the system clock, every DS18B20 found on the bus.
type Options struct {
	// Clock is what Sense waits on during a conversion; nil means
	// sensor.SystemClock.
	Clock sensor.Clock
	// Resolution is the conversion resolution in bits, 9 to 12 (datasheet,
	// "Configuration Register", Table 2); 0 means 12. 9 bits are 0.5 °C
	// steps converted in 93.75 ms, 12 bits are 0.0625 °C steps in 750 ms.
	Resolution int
	// Probes names probes: name → ROM code as 16 lowercase hex digits, as
	// [ROM] prints it (family code 28 first, CRC last). Optional. A named
	// probe is expected: it is read at every Sense, and reported missing
	// until it answers. Probes found on the bus without a name are read
	// too, under their ROM code.
	Probes map[string]string
	// BusName names the bus in errors and String, e.g. "w1"; "" means the
	// bus's own String.
	BusName string
	// Rescan is how many Sense calls may pass between two searches for
	// newly plugged probes; 0 means DefaultRescan. The bus is searched at
	// every Sense anyway while a probe does not answer, while no probe is
	// known, or after a search failed.
	Rescan int
}

// Dev reads every DS18B20 on one 1-Wire bus. It implements sensor.Sensor.
// Sense is called by one goroutine at a time; the other methods may be
// called concurrently with it.
type Dev struct {
	// Constant after New.
	bus     onewire.Bus
	busName string
	clock   sensor.Clock
	bits    int
	rescan  int
	names   map[onewire.Address]string // configured names

	mu          sync.Mutex
	probes      []onewire.Address        // named probes and every DS18B20 found, in ROM order
	present     map[onewire.Address]bool // DS18B20s found by the last search
	ignored     []string                 // other devices found by the last search, in ROM order
	needSearch  bool                     // search at the next Sense
	sinceSearch int                      // Sense calls since the last search
}

// New returns a driver for the DS18B20 probes on bus. It checks opts
// (errors wrap sensor.ErrConfig), searches the bus (Search ROM, datasheet
// "ROM Commands"; Maxim Application Note 187), keeps the devices whose ROM
// code has family code 28h and a valid CRC-8 (see [Dev.Ignored] for the
// others) and sets the resolution of each one found.
//
// New fails only on invalid options or a done ctx. A named probe that the
// search does not find, a search that fails or finds nothing, and a probe
// that cannot be configured are not errors here: a cold-chain box may be
// plugged in later. Sense reports them, and searches again.
func New(ctx context.Context, bus onewire.Bus, opts *Options) (*Dev, error) {
	if opts == nil {
		opts = &Options{}
	}
	name := opts.BusName
	if name == "" && bus != nil {
		name = bus.String()
	}
	configErr := func(format string, args ...any) error {
		return &sensor.Error{Device: device, Bus: name, Step: "check options",
			Err: fmt.Errorf("%w: %s", sensor.ErrConfig, fmt.Sprintf(format, args...))}
	}
	if bus == nil {
		return nil, configErr("no 1-Wire bus")
	}
	bits := opts.Resolution
	if bits == 0 {
		bits = DefaultResolution
	}
	if bits < MinResolution || bits > MaxResolution {
		return nil, configErr("resolution %d bits: want %d to %d", opts.Resolution, MinResolution, MaxResolution)
	}
	rescan := opts.Rescan
	if rescan == 0 {
		rescan = DefaultRescan
	}
	if rescan < 0 {
		return nil, configErr("rescan every %d Sense calls: want at least 1", opts.Rescan)
	}
	d := &Dev{
		bus:     bus,
		busName: name,
		clock:   sensor.ClockOr(opts.Clock),
		bits:    bits,
		rescan:  rescan,
		names:   make(map[onewire.Address]string, len(opts.Probes)),
		present: map[onewire.Address]bool{},
	}
	for _, n := range slices.Sorted(maps.Keys(opts.Probes)) {
		s := opts.Probes[n]
		if n == "" {
			return nil, configErr("probe %s has an empty name", s)
		}
		a, err := ParseROM(s)
		if err != nil {
			return nil, configErr("probe %q: %v", n, err)
		}
		if f := byte(a); f != Family {
			return nil, configErr("probe %q: ROM code %s has family code %02x, not a DS18B20 (%02x)", n, s, f, Family)
		}
		if other, dup := d.names[a]; dup {
			return nil, configErr("probes %q and %q have the same ROM code %s", other, n, s)
		}
		d.names[a] = n
		d.probes = append(d.probes, a)
	}
	sortROMs(d.probes)
	if err := ctx.Err(); err != nil {
		return nil, d.errorf(0, "search", "%w", err)
	}
	// A failed search is reported by the next Sense, which searches again.
	_ = d.search(ctx)
	if err := ctx.Err(); err != nil {
		return nil, d.errorf(0, "configure", "%w", err)
	}
	return d, nil
}

// String names the driver and its bus, e.g. "ds18b20 on w1".
func (d *Dev) String() string { return device + " on " + d.busName }

// Halt does nothing: a DS18B20 returns to its low-power idle state by
// itself when a conversion ends (datasheet, "Operation—Measuring
// Temperature"), and Sense returns only after the conversion time.
func (d *Dev) Halt() error { return nil }

// Probes returns the ROM codes of the probes Sense reads: the named ones
// and every DS18B20 found by a search so far, in ROM order. A probe that
// stops answering stays in the list (and Sense reports it) until the Dev is
// discarded.
func (d *Dev) Probes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := make([]string, len(d.probes))
	for i, a := range d.probes {
		s[i] = ROM(a)
	}
	return s
}

// Ignored returns the ROM codes of the devices the last search found but
// the driver does not read, in ROM order: other families (a DS18S20 is 10,
// a DS2401 serial number 01) and codes whose CRC-8 fails.
func (d *Dev) Ignored() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ignored)
}

// Sense converts the temperature of every probe at once and reads each one.
// It returns one [sensor.Temperature] per probe that gave a measurement, in
// ROM order, with Probe set to the ROM code; naming probes is left to the
// caller.
//
// Values and an error can come together: when some probes fail, Sense
// returns the good values and an error joining (errors.Join) one
// *sensor.Error per failed probe, whose Bus field is the bus name, a
// space, the ROM code and, for a named probe, the name in parentheses. A
// failed search is reported the same way. Callers keep the returned values
// even when err != nil. When Convert T fails, the wait for it is cut short
// by ctx, or no probe is known, Sense returns no values, only the error.
//
// A probe's failure wraps sensor.ErrNoDevice when it does not answer (every
// byte 0xFF, or no presence pulse on the bus), sensor.ErrCRC when its
// scratchpad fails the CRC-8, sensor.ErrBus when the bus reports an error,
// and sensor.ErrNotReading for the values that are not measurements: 85 °C
// (power-on reset), 127.94 °C, anything outside −55..+125 °C, an all-zero
// scratchpad, and a conversion made at another resolution than configured
// (the probe reset to its EEPROM setting; Sense writes the resolution again).
func (d *Dev) Sense(ctx context.Context) ([]sensor.Value, error) {
	var errs []error
	d.mu.Lock()
	d.sinceSearch++
	doSearch := d.needSearch || d.sinceSearch >= d.rescan || len(d.probes) == 0
	d.mu.Unlock()
	if doSearch {
		if err := d.search(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.Lock()
	probes := slices.Clone(d.probes)
	d.mu.Unlock()
	if len(probes) == 0 {
		if len(errs) > 0 {
			return nil, errs[0]
		}
		return nil, d.errorf(0, "search", "%w: no DS18B20 found on the bus", sensor.ErrNoDevice)
	}

	// Convert T to every device at once (Skip ROM), then hold the bus at
	// the strong pull-up for tCONV: a parasite-powered probe draws its
	// conversion current from the data line (datasheet, "Powering the
	// DS18B20"; "Convert T [44h]"). The pull-up lasts until the next Tx.
	if err := d.tx(ctx, []byte{cmdSkipROM, cmdConvertT}, nil, onewire.StrongPullup); err != nil {
		d.mu.Lock()
		d.needSearch = true
		d.mu.Unlock()
		return nil, join(append(errs, d.errorf(0, "convert T", "%w", busCause(err))))
	}
	if err := d.clock.Sleep(ctx, ConversionTime(d.bits)); err != nil {
		return nil, join(append(errs, d.errorf(0, "wait for conversion", "%w", err)))
	}

	var values []sensor.Value
	missing := false
	for _, a := range probes {
		if err := ctx.Err(); err != nil {
			errs = append(errs, d.errorf(0, "read scratchpad", "%w", err))
			break
		}
		t, err := d.read(ctx, a)
		if err != nil {
			missing = missing || errors.Is(err, sensor.ErrNoDevice)
			errs = append(errs, err)
			continue
		}
		values = append(values, sensor.Temperature{Probe: ROM(a), T: t})
	}
	if missing {
		d.mu.Lock()
		d.needSearch = true
		d.mu.Unlock()
	}
	return values, join(errs)
}

// read reads probe a's scratchpad after a conversion and decodes it.
func (d *Dev) read(ctx context.Context, a onewire.Address) (physic.Temperature, error) {
	sp, err := d.readScratchpad(ctx, a)
	if err != nil {
		return 0, err
	}
	if got := resolutionOf(sp.config); got != d.bits {
		// A power-on reset reloads the configuration from EEPROM, so the
		// conversion ran at another resolution and may not have finished
		// in the time waited (Table 2). Set it again for the next one.
		if err := d.writeConfig(ctx, a, sp); err != nil {
			return 0, err
		}
		return 0, d.errorf(a, "check resolution", "%w: the probe converted at %d bits, not %d (reset to its EEPROM setting?); resolution written again",
			sensor.ErrNotReading, got, d.bits)
	}
	t, err := decodeTemperature(sp.raw, d.bits)
	if err != nil {
		return 0, d.errorf(a, "decode temperature", "%w", err)
	}
	return t, nil
}

// readScratchpad selects probe a (Match ROM) and reads its nine scratchpad
// bytes (Read Scratchpad, datasheet "DS18B20 Function Commands").
func (d *Dev) readScratchpad(ctx context.Context, a onewire.Address) (scratchpad, error) {
	var buf [scratchpadLen]byte
	if err := d.tx(ctx, matchROM(a, cmdReadScratchpad), buf[:], onewire.WeakPullup); err != nil {
		return scratchpad{}, d.errorf(a, "read scratchpad", "%w", busCause(err))
	}
	sp, err := parseScratchpad(buf[:])
	if err != nil {
		return scratchpad{}, d.errorf(a, "read scratchpad", "%w", err)
	}
	return sp, nil
}

// writeConfig writes the configured resolution to probe a's configuration
// register, keeping its TH and TL bytes as read in sp. Write Scratchpad
// takes TH, TL and the configuration register, all three before the next
// reset (datasheet, "Write Scratchpad [4Eh]"). The EEPROM is left alone (no
// Copy Scratchpad): a power-on reset restores its resolution, which read
// detects.
func (d *Dev) writeConfig(ctx context.Context, a onewire.Address, sp scratchpad) error {
	w := matchROM(a, cmdWriteScratchpad, sp.th, sp.tl, configFor(d.bits))
	if err := d.tx(ctx, w, nil, onewire.WeakPullup); err != nil {
		return d.errorf(a, "write scratchpad", "%w", busCause(err))
	}
	return nil
}

// configure sets the resolution of a probe just found, unless it has it
// already. A failure is left for Sense to find and report.
func (d *Dev) configure(ctx context.Context, a onewire.Address) {
	sp, err := d.readScratchpad(ctx, a)
	if err != nil || resolutionOf(sp.config) == d.bits {
		return
	}
	_ = d.writeConfig(ctx, a, sp)
}

// search runs a Search ROM cycle, records what it found and configures the
// probes that the previous search did not find (a probe plugged in again
// comes back with its EEPROM resolution). Devices found before a failure
// are kept.
func (d *Dev) search(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return d.errorf(0, "search", "%w", err)
	}
	found, err := d.bus.Search(false)
	var fresh []onewire.Address
	present := make(map[onewire.Address]bool, len(found))
	var ignored []onewire.Address
	d.mu.Lock()
	for _, a := range found {
		if checkROM(a) != nil {
			ignored = append(ignored, a)
			continue
		}
		present[a] = true
		if !d.present[a] {
			fresh = append(fresh, a)
		}
		if !slices.Contains(d.probes, a) {
			d.probes = append(d.probes, a)
		}
	}
	sortROMs(d.probes)
	sortROMs(ignored)
	d.ignored = d.ignored[:0]
	for _, a := range ignored {
		d.ignored = append(d.ignored, ROM(a))
	}
	d.present = present
	d.needSearch = err != nil
	d.sinceSearch = 0
	d.mu.Unlock()

	sortROMs(fresh)
	for _, a := range fresh {
		if ctx.Err() != nil {
			break
		}
		d.configure(ctx, a)
	}
	if err != nil {
		return d.errorf(0, "search", "%w", busCause(err))
	}
	return nil
}

// tx runs one bus transaction (reset, write w, read r) unless ctx is done.
func (d *Dev) tx(ctx context.Context, w, r []byte, pull onewire.Pullup) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.bus.Tx(w, r, pull)
}

// matchROM returns Match ROM with a's code, then cmd and its arguments.
func matchROM(a onewire.Address, cmd byte, args ...byte) []byte {
	rom := romBytes(a)
	w := make([]byte, 0, 1+len(rom)+1+len(args))
	w = append(w, cmdMatchROM)
	w = append(w, rom[:]...)
	w = append(w, cmd)
	return append(w, args...)
}

// busCause classifies an error from the bus: no presence pulse
// (onewire.NoDevicesError) is sensor.ErrNoDevice, a cancelled or expired
// ctx stays itself, anything else is sensor.ErrBus.
func busCause(err error) error {
	var nd onewire.NoDevicesError
	switch {
	case errors.As(err, &nd) && nd.NoDevices():
		return fmt.Errorf("%w: no presence pulse: %w", sensor.ErrNoDevice, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", sensor.ErrBus, err)
}

// errorf returns a *sensor.Error at step, about probe a, or about the whole
// bus when a is 0 (never a probe: a probe's family code is 28h).
func (d *Dev) errorf(a onewire.Address, step, format string, args ...any) *sensor.Error {
	bus := d.busName
	if a != 0 {
		bus += " " + ROM(a)
		if n, ok := d.names[a]; ok {
			bus += " (" + n + ")"
		}
	}
	return sensor.Errorf(device, bus, step, format, args...)
}

// join returns nil, the only error, or errors.Join of errs.
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// sortROMs sorts ROM codes in the order [ROM] prints them.
func sortROMs(s []onewire.Address) {
	slices.SortFunc(s, func(a, b onewire.Address) int {
		ra, rb := romBytes(a), romBytes(b)
		return slices.Compare(ra[:], rb[:])
	})
}

var _ sensor.Sensor = (*Dev)(nil)
