package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/agent/sensors"
	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/drivers/nmea"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// cmdSensorsDecode prints the values drivers read from a recording, one
// JSON line each. For a raw NMEA file (gpsd's .log files are accepted as
// they are) --driver nmea needs no configuration; a bus recording is
// replayed through every configured sensor, as `run --replay` does, and the
// values of the sensors selected by --sensor or --driver are printed.
func cmdSensorsDecode(ctx context.Context, e *env, args []string) error {
	f := newFlags("sensors decode", e)
	driver := f.String("driver", "", "print the values of the sensors with this driver (nmea, bme280, ds18b20, door, hx711, lis3dh, mfrc522)")
	name := f.String("sensor", "", "print the values of this configured sensor")
	cfgPath := f.String("config", "", "the device configuration the recording was made with")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	if *driver == "" && *name == "" {
		return usageError{"sensors decode: give --driver or --sensor"}
	}
	path := f.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	isRecording := isJSONRecording(data)
	if *driver == "nmea" && *cfgPath == "" && !isRecording {
		w := bufio.NewWriter(e.stdout)
		st, err := nmea.Decode(bytes.NewReader(data), w)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			return fmt.Errorf("sensors decode: %s: %w", path, err)
		}
		fmt.Fprintf(e.stderr, "%s: %d fixes from %d sentences (%d bad checksums, %d parse errors)\n",
			path, st.Lines, st.Sentences, st.BadChecksums, st.ParseErrors)
		return nil
	}
	if *cfgPath == "" {
		return usageError{"sensors decode: a bus recording needs --config FILE (the configuration it was recorded with)"}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("sensors decode: %w", err)
	}
	if *name != "" && cfg.Sensor(*name) == nil {
		return usageError{fmt.Sprintf("sensors decode: %s has no sensor %q", *cfgPath, *name)}
	}
	rec, err := replay.Load(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("sensors decode: %s: %w", path, err)
	}
	want := func(s string) bool {
		if *name != "" {
			return s == *name
		}
		c := cfg.Sensor(s)
		return c != nil && c.Driver == *driver
	}
	clk := replay.NewSimClock(rec.Header.Start, 0)
	list, err := sensors.Open(ctx, cfg, replay.Buses{Rec: rec}, clk)
	if err != nil {
		return fmt.Errorf("sensors decode: %w", err)
	}
	so := sensors.Sequential(cfg, clk, rec.Until())
	stop := so.Stop
	so.Stop = func(next time.Time) bool { return stop(next) || rec.Exhausted() }
	s, err := sampler.New(list, so)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	n, faults := 0, 0
	err = s.Run(ctx, func(out sampler.Output) error {
		for _, r := range out.Readings {
			if want(r.Sensor) {
				n++
				if _, err := w.Write(append(readingJSON(r), '\n')); err != nil {
					return err
				}
			}
		}
		if f := out.Fault; f != nil && want(f.Sensor) {
			faults++
			fmt.Fprintf(e.stderr, "%s: fault: %v\n", f.Sensor, f.Err)
		}
		return nil
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		err = rec.Err()
	}
	if err != nil {
		return fmt.Errorf("sensors decode: %w", err)
	}
	fmt.Fprintf(e.stderr, "%s: %d values, %d faults\n", path, n, faults)
	return nil
}

func isJSONRecording(data []byte) bool {
	if len(data) > 1 && data[0] == 0x1f && data[1] == 0x8b {
		return true
	}
	return len(bytes.TrimLeft(data, " \t\r\n")) > 0 && bytes.TrimLeft(data, " \t\r\n")[0] == '{'
}

// readingJSON is the JSON line of one reading: time (the sampler's clock),
// sensor, kind, and the value's fields in SI-derived units.
func readingJSON(r sensor.Reading) []byte {
	m := map[string]any{"time": r.Time.UTC().Format(time.RFC3339Nano), "sensor": r.Sensor, "kind": r.Value.Kind()}
	switch v := r.Value.(type) {
	case sensor.Env:
		m["celsius"] = celsius(v.Temperature)
		m["pressure_pa"] = float64(v.Pressure) / float64(physic.Pascal)
		if v.HasHumidity {
			m["humidity_pct"] = float64(v.Humidity) / float64(physic.PercentRH)
		}
	case sensor.Temperature:
		m["probe"], m["celsius"] = v.Probe, celsius(v.T)
	case sensor.Fix:
		if !v.Time.IsZero() {
			m["fix_time"] = v.Time.UTC().Format(time.RFC3339Nano)
		}
		m["valid"] = v.Valid
		if v.Valid {
			m["lat"], m["lon"] = json.Number(strconv.FormatFloat(v.Lat, 'f', 7, 64)), json.Number(strconv.FormatFloat(v.Lon, 'f', 7, 64))
		}
		putF(m, "alt_m", v.AltM)
		putF(m, "speed_mps", v.SpeedMPS)
		putF(m, "course_deg", v.CourseDeg)
		putF(m, "hdop", v.HDOP)
		if v.Sats != nil {
			m["sats"] = *v.Sats
		}
		if v.Mode != "" {
			m["mode"] = v.Mode
		}
	case sensor.Door:
		m["open"], m["at"] = v.Open, v.At.UTC().Format(time.RFC3339Nano)
	case sensor.Weight:
		m["grams"], m["raw"] = float64(v.Mass)/float64(physic.Gram), v.Raw
	case sensor.Motion:
		m["x_mg"], m["y_mg"], m["z_mg"], m["samples"] = v.X, v.Y, v.Z, v.Samples
	case sensor.Tag:
		m["uid"] = v.UIDHex()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	return b
}

func putF(m map[string]any, k string, v *float64) {
	if v != nil {
		m[k] = *v
	}
}

func celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}

// cmdSensorsProbe opens every configured bus on this machine and reports
// which chips answer.
func cmdSensorsProbe(ctx context.Context, e *env, args []string) error {
	f := newFlags("sensors probe", e)
	cfgPath := f.String("config", "", "device configuration file")
	if err := f.parse(args, 0, "config"); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("sensors probe: %w", err)
	}
	buses := &bus.Host{}
	defer buses.Close()
	res := sensors.Probe(ctx, cfg, buses, nil)
	found := 0
	for _, r := range res {
		fmt.Fprintln(e.stdout, strings.TrimRight(r.String(), " "))
		if r.Found {
			found++
		}
	}
	fmt.Fprintf(e.stdout, "%d of %d sensors answer\n", found, len(res))
	if found < len(res) {
		return exitError{code: 1, err: errors.New("sensors probe: some sensors do not answer (see firmware-docs/PI-SETUP.md and the wiring pages)")}
	}
	return nil
}

// cmdStatus prints the running agent's status: the log's size, events by
// kind, each sensor's health, I2C retries and GNSS times not used.
func cmdStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags("status", e)
	f.logFlags()
	timeout := f.socketFlags()
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	c, err := dial(f.data, *timeout)
	if err != nil {
		if aside := damagedParts(f.data); len(aside) > 0 {
			return fmt.Errorf("status: no agent is running on %s: %w; found damaged and moved aside there: %s", f.data, err, strings.Join(aside, ", "))
		}
		return fmt.Errorf("status: no agent is running on %s: %w", f.data, err)
	}
	return c.Do(ctx, "GET", "/v1/status", nil, e.stdout)
}

// damagedParts lists what the agent moved aside in the log directory dir
// after finding it damaged: epochs under damaged/, a feed cursor or an
// anchor store renamed to NAME.damaged-<time>.
func damagedParts(dir string) []string {
	var out []string
	if es, err := os.ReadDir(filepath.Join(dir, "damaged")); err == nil {
		for _, e := range es {
			out = append(out, filepath.Join("damaged", e.Name()))
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.damaged-*"))
	for _, p := range m {
		out = append(out, filepath.Base(p))
	}
	return out
}
