package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/drivers/replay"
)

// cmdRun is the agent: it maps its flags to system.Options and runs the
// System. The agent holds the log, serves the local API, and, with
// --config, reads the configured sensors (or a recording of them, with
// --replay) and logs their events, publishes and anchors them as the
// configuration asks; it signs a checkpoint at an interval when there are
// new events.
func cmdRun(ctx context.Context, e *env, args []string) error {
	f := newFlags("run", e)
	f.logFlags()
	f.keyFlags()
	f.identityFlags()
	cfgPath := f.String("config", "", "device configuration file (sensors, zones, rules); see firmware-docs/CONFIG.md")
	replayPath := f.String("replay", "", "read the sensors from this recording (or raw NMEA file) on a simulated clock, then exit")
	speed := f.Float64("speed", 0, "with --replay: 1 replays in real time, 10 ten times faster; 0 (the default) as fast as possible")
	cont := f.Bool("continue", false, "with --replay: append the recording's events after those the data directory already holds (by default a replay refuses a log that holds events)")
	recordPath := f.String("record", "", "write every bus transaction to this recording (firmware-docs/RECORDING.md)")
	every := f.Duration("checkpoint-every", 0, "how often to sign a checkpoint when there are new events (default: the config's checkpoint_every, else 1m)")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if *cfgPath == "" && (*replayPath != "" || *recordPath != "") {
		return usageError{"run: --replay and --record need --config FILE"}
	}
	if *replayPath != "" && *recordPath != "" {
		return usageError{"run: --replay and --record cannot be used together"}
	}
	if *speed < 0 || (*speed > 0 && *replayPath == "") {
		return usageError{"run: --speed needs --replay and must not be negative"}
	}
	if *cont && *replayPath == "" {
		return usageError{"run: --continue needs --replay"}
	}
	var cfg *config.Config
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		cfg = c
		if err := f.configIdentity(cfg, *cfgPath); err != nil {
			return err
		}
		f.fromConfig(cfg, every)
	}
	if *every == 0 {
		*every = time.Minute
	}
	if err := f.need("data", "key"); err != nil {
		return err
	}
	if *every < time.Second {
		return usageError{fmt.Sprintf("run: --checkpoint-every %v is below 1s", *every)}
	}
	var rec *replay.Recording
	if *replayPath != "" {
		r, err := loadRecording(*replayPath)
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		rec = r
	}
	if err := f.checkCreate(); err != nil {
		return err
	}
	log := logger(e)
	o := system.Options{Config: cfg, CheckpointEvery: *every, Floor: buildFloor(), Logger: log,
		Key:     f.loadKey,
		OpenLog: func(ctx context.Context, k *devkey.Key) (*eventlog.Log, error) { return f.openWriter(ctx, e, k) }}
	if rec != nil {
		o.Replay = &system.Replay{Recording: rec, Speed: *speed, Continue: *cont}
	}
	if *recordPath != "" {
		w, err := os.OpenFile(*recordPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("run: --record: %w", err)
		}
		defer w.Close()
		if o.Record, err = replay.NewRecorder(w, replay.Header{Start: time.Now(), Note: "recorded by waybill run on " + hostname()}, nil); err != nil {
			return fmt.Errorf("run: --record: %w", err)
		}
	}
	s, err := system.New(ctx, o)
	var ne *system.NotEmptyError
	if errors.As(err, &ne) {
		return fmt.Errorf("run: --replay: data directory %s already holds a log of %d events; "+
			"the replay would append the whole recording after them under new sequence numbers: "+
			"give a new --data directory, or --continue to append to this log", f.data, ne.Events)
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer s.Close()
	l := s.Log()
	log.Info("agent running", "data", f.data, "device", s.Key().Address().String(), "origin", l.Origin(),
		"events", l.Size(), "socket", localapi.SocketPath(f.data))
	if cfg != nil && rec == nil {
		log.Info("sensors open", "sensors", len(cfg.Sensors), "zones", len(cfg.Zones))
	}
	runErr := s.Run(ctx)
	if rec != nil {
		printReplaySummary(e.stdout, s, rec)
		printSync(e.stdout, s)
	} else {
		log.Info("shutting down", "events", kindCounts(s.Pipeline().Stats().EventsBy))
	}
	if runErr != nil {
		return fmt.Errorf("run: %w", runErr)
	}
	return s.Close()
}

// fromConfig fills the flags the command line left empty from the
// configuration's device section. The configuration's passphrase file
// goes with its key: a --key given on the command line takes its
// passphrase from --passphrase-file or the environment.
func (f *flags) fromConfig(c *config.Config, every *time.Duration) {
	if f.data == "" {
		f.data = c.Device.Data
	}
	if f.key == "" {
		f.key = c.Device.Key
		if f.passFile == "" {
			f.passFile = c.Device.PassphraseFile
		}
	}
	if f.fleet == "" {
		f.fleet = c.Device.Fleet
	}
	if f.chainID == 0 {
		f.chainID = c.Device.ChainID
	}
	if *every == 0 {
		*every = c.Device.CheckpointEvery
	}
	f.segmentBytes = system.SegmentBytes(c)
}

// loadRecording reads a recording or raw NMEA file, whole.
func loadRecording(path string) (*replay.Recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec, err := replay.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// printReplaySummary prints what a replay read, logged and signed.
func printReplaySummary(w io.Writer, s *system.System, rec *replay.Recording) {
	st := s.Status()
	fmt.Fprintf(w, "replayed %s to %s: %d readings, %d sensor faults\n", rec.Header.Start.Format(time.RFC3339),
		st.Now.Format(time.RFC3339), st.Readings, st.Faults)
	fmt.Fprintf(w, "events:\n")
	for _, kc := range kindCounts(st.EventsBy) {
		fmt.Fprintf(w, "  %s\n", kc)
	}
	printHealth(w, st)
	printRetention(w, st.Retention)
	if note, _, err := s.Log().Latest(); err == nil {
		fmt.Fprintf(w, "final checkpoint:\n%s", note)
	}
}

// printHealth prints each sensor's health, the I2C retries and the GNSS
// times the clock did not trust.
func printHealth(w io.Writer, st system.Status) {
	fmt.Fprintf(w, "sensors:\n")
	for _, h := range st.Sensors {
		fmt.Fprintf(w, "  %-10s %-8s %6d reads %6d values %4d failures", h.Sensor, h.State, h.Reads, h.Values, h.Failures)
		if h.Failures > 0 {
			fmt.Fprintf(w, " (last: %s)", oneLine(h.LastError))
		}
		fmt.Fprintln(w)
	}
	for _, bus := range slices.Sorted(maps.Keys(st.I2C)) {
		if r := st.I2C[bus]; r.Retries > 0 || r.Failures > 0 {
			fmt.Fprintf(w, "  %s: %d transactions retried after a remote I/O error, %d failed every attempt\n", bus, r.Retries, r.Failures)
		}
	}
	for _, kc := range kindCounts(st.GNSSIgnored) {
		fmt.Fprintf(w, "  GNSS time not used: %s\n", kc)
	}
}

// printRetention prints the disk budget's state, if there is one.
func printRetention(w io.Writer, st *retention.Status) {
	if st == nil {
		return
	}
	fmt.Fprintf(w, "retention: %s; %d of %d bytes used (hard limit %d); payloads kept from event %d",
		st.Level, st.Used, st.Budget, st.Hard, st.Retained)
	if st.Segments > 0 {
		fmt.Fprintf(w, "; pruned %d segments (%d events, %d bytes freed)", st.Segments, st.Events, st.Freed)
	}
	fmt.Fprintln(w)
	if len(st.Refused) > 0 {
		fmt.Fprintf(w, "  REFUSED at the budget: %s (payloads wait for: %s)\n", strings.Join(kindCounts(st.Refused), ", "), st.HeldBy)
	}
}

// printSync prints what the feed published and what was anchored.
func printSync(w io.Writer, s *system.System) {
	if p := s.Feed(); p != nil {
		st := p.Status()
		fmt.Fprintf(w, "feed: %d events acknowledged by the broker (%s), backlog %d\n", st.Cursor, st.Broker, st.Backlog)
		if st.Damaged != "" {
			fmt.Fprintf(w, "  WARNING: feed cursor damaged: %s\n", oneLine(st.Damaged))
		}
	}
	if a := s.Anchor(); a != nil {
		st := a.Status()
		fmt.Fprintf(w, "anchors: %d confirmed, %d failed", st.Confirmed, st.Failed)
		if st.Last != nil {
			fmt.Fprintf(w, "; last: size %d in block %d", st.Last.Size, st.Last.BlockNumber)
		}
		fmt.Fprintln(w)
		if st.Damaged != "" {
			fmt.Fprintf(w, "  WARNING: anchor store damaged: %s\n", oneLine(st.Damaged))
		}
	}
}

// kindCounts returns "name n" pairs sorted by name, for summaries.
func kindCounts[N int | int64](m map[string]N) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	return out
}
