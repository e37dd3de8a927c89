package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/daemon"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/configs"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/testbench/recordings"
)

// DemoKey is the demo device's secp256k1 key. It is public: a log signed
// with it proves nothing, and no device may use it. A fixed key makes the
// demo's root the same at every run, which shows the replay is
// deterministic.
const DemoKey = "5761796269696c6c2064656d6f206b6579202d2d206e6f7420666f7220757365"

// cmdDemo runs the agent's main job on its embedded default: the recorded
// sensors of a delivery van's morning round through central Brussels are
// replayed through the drivers, rules and signed log, exactly as `waybill
// run --config --replay` does; then every event is proven and verified
// offline against the final checkpoint, and every checkpoint is proven
// consistent with the next.
func cmdDemo(ctx context.Context, e *env, args []string) error {
	f := newFlags("demo", e)
	f.StringVar(&f.data, "data", "", "log directory (default: a new temporary directory)")
	cfgPath := f.String("config", "", "device configuration (default: the embedded configs/van.yaml)")
	recPath := f.String("replay", "", "recording to replay (default: the embedded Brussels round)")
	speed := f.Float64("speed", 0, "1 replays in real time, 10 ten times faster; 0 (the default) as fast as possible")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if *speed < 0 {
		return usageError{"demo: --speed must not be negative"}
	}
	dir := f.data
	if dir == "" {
		d, err := os.MkdirTemp("", "waybill-demo-")
		if err != nil {
			return err
		}
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return fmt.Errorf("demo: %s already holds a log; give an empty --data directory", dir)
	}
	cfg, cfgName, err := demoConfig(*cfgPath)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	rec, recName, err := demoRecording(*recPath)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	start := time.Now()
	k, err := devkey.FromHex(DemoKey)
	if err != nil {
		return err
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: cfg.Device.Fleet, ChainID: cfg.Device.ChainID}
	quiet := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k, Logger: quiet})
	if err != nil {
		return err
	}
	defer l.Close()
	vkey, _ := k.VerifierKey(id.KeyName())
	fmt.Fprintf(e.stdout, "Waybill demo: %s\n", rec.Header.Note)
	fmt.Fprintf(e.stdout, "  configuration  %s (%d sensors, %d zones)\n  recording      %s (from %s to %s)\n",
		cfgName, len(cfg.Sensors), len(cfg.Zones), recName, rec.Header.Start.Format("2006-01-02 15:04:05 MST"), untilText(rec))
	fmt.Fprintf(e.stdout, "  log directory  %s\n  device         %s (the public demo key)\n  origin         %s\n  verifier key   %s\n\n",
		dir, k.Address(), l.Origin(), vkey)

	// Downstream of the log: an in-process MQTT broker and chain.
	ds, err := startDemoSync(ctx, cfg, l, k, quiet)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer ds.close()
	fmt.Fprintf(e.stdout, "  MQTT broker    %s (in process), topic %s\n  ledger         in-process EVM chain %d, registry contract %s\n\n",
		ds.broker.URL(), feedTopic(id), cfg.Device.ChainID, ds.chain.Registry.Hex())

	// Replay, with a progress line every ten simulated minutes.
	var notes []checkpoint.Checkpoint
	events := 0
	next := rec.Header.Start.Add(10 * time.Minute)
	onEvent := func(s *event.Signed) {
		ds.sync.Notify()
		events++
		if t := time.UnixMilli(s.Time).UTC(); !t.Before(next) {
			fmt.Fprintf(e.stdout, "  %s  %4d events signed and durable, last: %s\n", t.Format("15:04"), events, s.Kind)
			for !next.After(t) {
				next = next.Add(10 * time.Minute)
			}
		}
	}
	clk := replay.NewSimClock(rec.Header.Start, *speed)
	a, err := daemon.New(ctx, daemon.Options{Config: cfg, Log: l, Buses: daemon.ReplayBuses{Rec: rec}, Clock: clk,
		Floor: event.TimeFloor, Sequential: true, Until: rec.Until(), Done: rec.Exhausted, Logger: quiet,
		OnEvent: onEvent, OnCheckpoint: func(c checkpoint.Checkpoint) { notes = append(notes, c); ds.sync.Notify() }})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := a.Run(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := rec.Err(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if len(notes) == 0 {
		return fmt.Errorf("demo: the replay produced no events")
	}
	stats := a.Stats()
	fmt.Fprintf(e.stdout, "  replayed %s of sensor data: %d readings, %d sensor faults, %d events in %d checkpoints\n",
		stats.Now.Sub(rec.Header.Start).Round(time.Second), stats.Readings, stats.Faults, l.Size(), len(notes))

	if err := ds.settle(ctx, l); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := ds.report(ctx, e.stdout, l); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// Prove and verify every event offline against the final checkpoint.
	final := notes[len(notes)-1]
	vk, err := checkpoint.ParseVerifierKey(vkey)
	if err != nil {
		return err
	}
	dev := k.Address()
	opts := verify.Options{Device: &dev, Fleet: id.Fleet, ChainID: id.ChainID, Verifiers: []checkpoint.Verifier{vk}}
	for seq := uint64(0); seq < final.Size; seq++ {
		out, err := localapi.Prove(l, seq, 0, "json", nil)
		if err != nil {
			return err
		}
		b, err := verify.ParseBundle(out)
		if err != nil {
			return fmt.Errorf("demo: bundle %d: %w", seq, err)
		}
		if err := b.Verify(opts); err != nil {
			return fmt.Errorf("demo: bundle %d does not verify: %w", seq, err)
		}
	}
	fmt.Fprintf(e.stdout, "  proved %d/%d events included in the final checkpoint and verified each bundle offline\n", final.Size, final.Size)
	for i := 1; i < len(notes); i++ {
		out, err := localapi.Consistency(l, notes[i-1].Size, notes[i].Size)
		if err != nil {
			return err
		}
		c, err := verify.ParseConsistency(out)
		if err == nil {
			err = c.Verify()
		}
		if err == nil && (c.OldRoot != notes[i-1].Root || c.NewRoot != notes[i].Root) {
			err = fmt.Errorf("roots differ from the signed checkpoints")
		}
		if err != nil {
			return fmt.Errorf("demo: consistency %d→%d: %w", notes[i-1].Size, notes[i].Size, err)
		}
	}
	fmt.Fprintf(e.stdout, "  proved %d checkpoints consistent, each with the next\n\n", len(notes)-1)

	fmt.Fprintf(e.stdout, "Events by kind:\n")
	for _, kc := range daemon.KindCounts(stats.EventsBy) {
		fmt.Fprintf(e.stdout, "  %s\n", kc)
	}
	fmt.Fprintln(e.stdout)
	printHealth(e.stdout, a)
	note, _, err := l.Latest()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nFinal checkpoint (C2SP signed note), root %s:\n%s\n", merkle.Hash(final.Root), note)
	fmt.Fprintf(e.stdout, "Summary: %d events signed and durable, %d inclusion proofs and %d consistency proofs verified offline, in %v.\n",
		final.Size, final.Size, len(notes)-1, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "Try: bin/waybill log prove --data %s --seq 42 > bundle.json && bin/waybill verify --vkey '%s' bundle.json\n", dir, vkey)
	return nil
}

// demoConfig loads the configuration at path, or the embedded van.yaml.
func demoConfig(path string) (*config.Config, string, error) {
	if path != "" {
		c, err := config.Load(path)
		return c, path, err
	}
	data, err := fs.ReadFile(configs.FS, "van.yaml")
	if err != nil {
		return nil, "", err
	}
	c, err := config.Parse("van.yaml", data, func(name string) ([]byte, error) { return fs.ReadFile(configs.FS, name) })
	return c, "configs/van.yaml (embedded)", err
}

// demoRecording loads the recording at path, or the embedded Brussels round.
func demoRecording(path string) (*replay.Recording, string, error) {
	if path != "" {
		r, err := loadRecording(path)
		return r, path, err
	}
	r, err := replay.Load(bytes.NewReader(recordings.BrusselsVan))
	return r, "testbench/recordings/brussels-van.jsonl.gz (embedded)", err
}

func untilText(rec *replay.Recording) string {
	if u := rec.Until(); !u.IsZero() {
		return u.Format("15:04:05 MST")
	}
	return "its last operation"
}

func feedTopic(id eventlog.Identity) string { return feed.TopicsFor(id.Fleet, id.Device).Events }
