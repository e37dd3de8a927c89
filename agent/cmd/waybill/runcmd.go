package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/daemon"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/drivers/replay"
)

// cmdRun is the daemon: it holds the log, serves the local API, and, with
// --config, reads the configured sensors (or a recording of them, with
// --replay) and logs their events; it signs a checkpoint at an interval
// when there are new events.
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
	k, err := f.loadKey(ctx)
	if err != nil {
		return fmt.Errorf("run: load key: %w", err)
	}
	l, err := f.openWriter(ctx, e, k)
	if err != nil {
		return fmt.Errorf("run: open log: %w", err)
	}
	defer l.Close()
	if rec != nil && l.Size() > 0 && !*cont {
		return fmt.Errorf("run: --replay: data directory %s already holds a log of %d events; "+
			"the replay would append the whole recording after them under new sequence numbers: "+
			"give a new --data directory, or --continue to append to this log", f.data, l.Size())
	}
	log.Info("agent running", "data", f.data, "device", k.Address().String(), "origin", l.Origin(),
		"events", l.Size(), "socket", localapi.SocketPath(f.data))

	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	var running atomic.Pointer[daemon.Agent]
	var synced atomic.Pointer[daemon.Sync]
	srv := &localapi.Server{Log: l, Clock: clock.New(buildFloor()).Now, Logger: log.With("subsystem", "localapi"),
		Status: func() any {
			a := running.Load()
			if a == nil {
				return nil
			}
			return agentStatus{a.Status(), synced.Load().Status()}
		}}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(srvCtx) }()

	if cfg != nil {
		if cfg.Device.CheckpointEvery != *every {
			cfg.Device.CheckpointEvery = *every
		}
		// Feed and anchoring run downstream of the log until the sensors
		// have stopped and, after a replay, the feed has caught up.
		syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
		defer stopSync()
		// A signal during the start (a relayer key's passphrase FIFO with
		// no writer, its key derivation) stops it.
		startStop := context.AfterFunc(ctx, stopSync)
		sy, err := daemon.StartSync(syncCtx, daemon.SyncOptions{Config: cfg, Log: l, Key: k.ECDSA(), Logger: log})
		startStop()
		if err != nil {
			stopSrv()
			<-srvErr
			return fmt.Errorf("run: %w", err)
		}
		synced.Store(sy)
		var runErr error
		if rec != nil {
			var a *daemon.Agent
			a, runErr = runReplay(ctx, l, cfg, rec, *speed, log, running.Store, sy)
			if sy.Feed != nil && ctx.Err() == nil {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if err := sy.Feed.Wait(wctx, l.Size()); err != nil {
					log.Warn("the feed has not published every event", "published", sy.Feed.Status().Cursor, "events", l.Size())
				}
				cancel()
			}
			if a != nil {
				printReplaySummary(e.stdout, l, rec, a)
				printSync(e.stdout, sy)
			}
		} else {
			runErr = runLive(ctx, l, cfg, *recordPath, log, running.Store, sy)
		}
		stopSync()
		if err := sy.Wait(); err != nil {
			log.Error("sync stopped with an error", "err", err)
		}
		stopSrv()
		<-srvErr
		return runErr
	}

	tick := time.NewTicker(*every)
	defer tick.Stop()
	checkpoint := func() {
		if _, c, err := l.Latest(); err == nil && c.Size == l.Size() {
			return
		} else if err != nil && !errors.Is(err, eventlog.ErrNoCheckpoint) {
			log.Error("reading the latest checkpoint", "err", err)
		}
		if l.Size() == 0 {
			return
		}
		if _, c, err := l.Checkpoint(context.WithoutCancel(ctx)); err != nil {
			log.Error("checkpoint not signed", "err", err)
		} else {
			log.Info("checkpoint signed", "size", c.Size)
		}
	}
	for {
		select {
		case <-tick.C:
			checkpoint()
		case err := <-srvErr:
			if err != nil {
				return fmt.Errorf("run: local API: %w", err)
			}
		case <-ctx.Done():
			log.Info("shutting down")
			checkpoint()
			<-srvErr
			return nil
		}
	}
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
	f.segmentBytes = daemon.SegmentBytes(c)
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

// runLive reads the configured sensors on this machine's buses until ctx is
// done.
func runLive(ctx context.Context, l *eventlog.Log, cfg *config.Config, recordPath string, log *slog.Logger, started func(*daemon.Agent), sy *daemon.Sync) error {
	var buses daemon.Buses = &daemon.HostBuses{}
	if recordPath != "" {
		w, err := os.OpenFile(recordPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("run: --record: %w", err)
		}
		defer w.Close()
		r, err := replay.NewRecorder(w, replay.Header{Start: time.Now(), Note: "recorded by waybill run on " + hostname()}, nil)
		if err != nil {
			return err
		}
		buses = daemon.RecordBuses{Buses: buses, Rec: r}
	}
	keeper, err := daemon.StartRetention(ctx, cfg, l, sy, nil, log)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	a, err := daemon.New(ctx, daemon.Options{Config: cfg, Log: l, Buses: buses, Floor: buildFloor(),
		OnEvent: func(*event.Signed) { sy.Notify() }, OnCheckpoint: func(checkpoint.Checkpoint) { sy.Notify() },
		Logger: log.With("subsystem", "agent"), Retention: keeper})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	started(a)
	log.Info("sensors open", "sensors", len(cfg.Sensors), "zones", len(cfg.Zones))
	err = a.Run(ctx)
	log.Info("shutting down", "events", daemon.KindCounts(a.Stats().EventsBy))
	return err
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// runReplay plays rec back through the whole agent on a simulated clock.
// Recordings may be years old, so the time floor is the protocol's, not the
// build date: GNSS times the protocol accepts are trusted as they were on
// the day.
//
// A raw NMEA file holds only a receiver's output: it is replayed through the
// configuration's nmea sensor alone.
func runReplay(ctx context.Context, l *eventlog.Log, cfg *config.Config, rec *replay.Recording, speed float64,
	log *slog.Logger, started func(*daemon.Agent), sy *daemon.Sync) (*daemon.Agent, error) {
	if rec.Raw {
		c := *cfg
		c.Sensors = nil
		for _, s := range cfg.Sensors {
			if s.NMEA != nil {
				c.Sensors = append(c.Sensors, s)
			}
		}
		if len(c.Sensors) == 0 {
			return nil, fmt.Errorf("replay: a raw NMEA file needs an nmea sensor in the configuration")
		}
		log.Info("raw NMEA recording: replaying the GNSS receiver only", "sensor", c.Sensors[0].Name)
		cfg = &c
	}
	clk := replay.NewSimClock(rec.Header.Start, speed)
	keeper, err := daemon.StartRetention(ctx, cfg, l, sy, clk.Now, log)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	a, err := daemon.New(ctx, daemon.Options{Config: cfg, Log: l, Buses: daemon.ReplayBuses{Rec: rec}, Clock: clk,
		Floor: event.TimeFloor, Sequential: true, Until: rec.Until(), Done: rec.Exhausted, Logger: log.With("subsystem", "agent"),
		OnEvent: func(*event.Signed) { sy.Notify() }, OnCheckpoint: func(checkpoint.Checkpoint) { sy.Notify() }, Retention: keeper})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	started(a)
	runErr := a.Run(ctx)
	if err := rec.Err(); err != nil {
		return a, fmt.Errorf("replay: %w", err)
	}
	return a, runErr
}

func printReplaySummary(w io.Writer, l *eventlog.Log, rec *replay.Recording, a *daemon.Agent) {
	s := a.Stats()
	fmt.Fprintf(w, "replayed %s to %s: %d readings, %d sensor faults\n", rec.Header.Start.Format(time.RFC3339),
		s.Now.Format(time.RFC3339), s.Readings, s.Faults)
	fmt.Fprintf(w, "events:\n")
	for _, kc := range daemon.KindCounts(s.EventsBy) {
		fmt.Fprintf(w, "  %s\n", kc)
	}
	printHealth(w, a)
	printRetention(w, a.Status().Retention)
	if note, _, err := l.Latest(); err == nil {
		fmt.Fprintf(w, "final checkpoint:\n%s", note)
	}
}

// printHealth prints each sensor's health, the I2C retries and the GNSS
// times the clock did not trust.
func printHealth(w io.Writer, a *daemon.Agent) {
	fmt.Fprintf(w, "sensors:\n")
	for _, h := range a.Health() {
		fmt.Fprintf(w, "  %-10s %-8s %6d reads %6d values %4d failures", h.Sensor, h.State, h.Reads, h.Values, h.Failures)
		if h.Failures > 0 {
			fmt.Fprintf(w, " (last: %s)", oneLine(h.LastError))
		}
		fmt.Fprintln(w)
	}
	s := a.Stats()
	for _, bus := range slices.Sorted(maps.Keys(s.I2C)) {
		if r := s.I2C[bus]; r.Retries > 0 || r.Failures > 0 {
			fmt.Fprintf(w, "  %s: %d transactions retried after a remote I/O error, %d failed every attempt\n", bus, r.Retries, r.Failures)
		}
	}
	for _, kc := range daemon.KindCounts(s.GNSSIgnored) {
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
		fmt.Fprintf(w, "  REFUSED at the budget: %s (payloads wait for: %s)\n", strings.Join(daemon.KindCounts(st.Refused), ", "), st.HeldBy)
	}
}

// agentStatus is what `waybill status` prints of a running agent.
type agentStatus struct {
	daemon.Status
	Sync map[string]any `json:"sync,omitempty"`
}

// printSync prints what the feed published and what was anchored.
func printSync(w io.Writer, sy *daemon.Sync) {
	if sy.Feed != nil {
		st := sy.Feed.Status()
		fmt.Fprintf(w, "feed: %d events acknowledged by the broker (%s), backlog %d\n", st.Cursor, st.Broker, st.Backlog)
		if st.Damaged != "" {
			fmt.Fprintf(w, "  WARNING: feed cursor damaged: %s\n", oneLine(st.Damaged))
		}
	}
	if sy.Anchor != nil {
		st := sy.Anchor.Status()
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
