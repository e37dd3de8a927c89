// Package demo runs Waybill end to end on one machine: the recorded sensors
// of a delivery van's morning round through central Brussels are replayed
// through the drivers, rules and signed log, exactly as `waybill run
// --config --replay` does; the events are published to an in-process MQTT
// broker, where a subscriber verifies each one, and anchored to an
// in-process chain holding the registry contract; then every event is
// proven and verified offline against the final checkpoint and on chain
// against the anchored root, and every checkpoint is proven consistent with
// the next.
//
// The broker and the chain are test-bench parts: the device binary
// (agent/cmd/waybill) does not link them. The demo is the waybill-demo
// command (testbench/cmd/waybill-demo), which `make run` builds and runs.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/pipeline"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/agent/verify/prove"
	"github.com/waybill-eu/waybill/configs"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/testbench/recordings"
)

// Key is the demo device's secp256k1 key, in hex. It is public: a log
// signed with it proves nothing, and no device may use it. A fixed key
// makes the demo's root the same at every run, which shows the replay is
// deterministic.
const Key = "5761796269696c6c2064656d6f206b6579202d2d206e6f7420666f7220757365"

// ErrOptions is returned (wrapped) for options Run cannot work with: a
// negative speed, or a log directory that already holds a log.
var ErrOptions = errors.New("invalid demo options")

// Options configures a demo run. The zero value runs the embedded round
// into a new temporary directory, as fast as possible, and prints nothing.
type Options struct {
	// Data is the log directory; it must not hold a log. Empty: a new
	// temporary directory, which is kept.
	Data string
	// Config is the device configuration file. Empty: the embedded
	// configs/van.yaml.
	Config string
	// Replay is the recording to replay. Empty: the embedded Brussels round
	// (testbench/recordings/brussels-van.jsonl.gz).
	Replay string
	// Speed is the replay's pace: 1 in real time, 10 ten times faster; 0
	// as fast as possible. It must not be negative.
	Speed float64
	// Out receives the report, for a person to read. Nil: discard.
	Out io.Writer
	// Logger receives the subsystems' log. Nil: discard.
	Logger *slog.Logger
}

// Summary is what a demo run did and proved.
type Summary struct {
	Dir         string            // the log directory
	Device      string            // the demo device's address
	VerifierKey string            // the checkpoints' verifier key
	Readings    int64             // values the sensors delivered
	Faults      int64             // sensor_fault events
	EventsBy    map[string]int    // events by kind
	Events      uint64            // events signed and durable: the final checkpoint's size
	Checkpoints int               // checkpoints signed
	Root        merkle.Hash       // the final checkpoint's root
	Published   uint64            // events the broker acknowledged
	Received    int               // events the subscriber received and verified
	Anchors     int               // anchors confirmed on the chain
	Gas         uint64            // gas the confirmed anchors used, in all
	Records     int               // anchor records the feed published
	OnChain     uint64            // events verified on chain against the anchored root
	Watched     map[string]uint64 // the watcher's archived events by state (firmware-docs/WATCH.md)
	Cosigned    int               // checkpoints the watcher cosigned
	Alarms      int               // alarms the watcher raised
	Rejected    int               // feed messages the watcher rejected
	Inclusion   uint64            // inclusion proofs verified offline
	Consistency int               // consistency proofs verified offline
	Took        time.Duration     // wall-clock time of the run
}

// Run runs the demo and returns what it proved. Any event, proof or message
// that does not verify is an error.
func Run(ctx context.Context, o Options) (Summary, error) {
	var sum Summary
	w := o.Out
	if w == nil {
		w = io.Discard
	}
	quiet := o.Logger
	if quiet == nil {
		quiet = slog.New(slog.DiscardHandler)
	}
	if o.Speed < 0 {
		return sum, fmt.Errorf("demo: %w: speed %v is negative", ErrOptions, o.Speed)
	}
	dir := o.Data
	if dir == "" {
		d, err := os.MkdirTemp("", "waybill-demo-")
		if err != nil {
			return sum, fmt.Errorf("demo: %w", err)
		}
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return sum, fmt.Errorf("demo: %w: %s already holds a log; give an empty data directory", ErrOptions, dir)
	}
	sum.Dir = dir
	cfg, cfgName, err := loadConfig(o.Config)
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	rec, recName, err := loadRecording(o.Replay)
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	start := time.Now()
	k, err := devkey.FromHex(Key)
	if err != nil {
		return sum, err
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: cfg.Device.Fleet, ChainID: cfg.Device.ChainID}
	vkey, err := k.VerifierKey(id.KeyName())
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	sum.Device, sum.VerifierKey = k.Address().String(), vkey

	// Downstream of the log: an in-process MQTT broker and chain.
	ds, err := startSync(ctx, cfg, id, k, quiet)
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	defer ds.close()
	wa, err := startWatcher(ctx, ds.broker.URL(), ds.chain, id, vkey, quiet)
	if err != nil {
		return sum, fmt.Errorf("demo: watcher: %w", err)
	}
	defer wa.close()

	// Replay through the agent, configured as a device would be, with a
	// progress line every ten simulated minutes; once the replay has ended,
	// the feed and anchoring settle.
	var notes []checkpoint.Checkpoint
	events := 0
	next := rec.Header.Start.Add(10 * time.Minute)
	onEvent := func(s *event.Signed) {
		events++
		if t := time.UnixMilli(s.Time).UTC(); !t.Before(next) {
			fmt.Fprintf(w, "  %s  %4d events signed and durable, last: %s\n", t.Format("15:04"), events, s.Kind)
			for !next.After(t) {
				next = next.Add(10 * time.Minute)
			}
		}
	}
	var stats pipeline.Stats
	settle := func(ctx context.Context) error {
		l := ds.sys.Log()
		if len(notes) == 0 {
			return fmt.Errorf("the replay produced no events")
		}
		stats = ds.sys.Pipeline().Stats()
		fmt.Fprintf(w, "  replayed %s of sensor data: %d readings, %d sensor faults, %d events in %d checkpoints\n",
			stats.Now.Sub(rec.Header.Start).Round(time.Second), stats.Readings, stats.Faults, l.Size(), len(notes))
		if err := ds.settle(ctx, l); err != nil {
			return err
		}
		if err := wa.settle(ctx, l); err != nil {
			return err
		}
		if err := ds.report(ctx, w, l, &sum); err != nil {
			return err
		}
		return wa.report(ctx, w, &sum)
	}
	if ds.sys, err = system.New(ctx, system.Options{Config: cfg, NoLocalAPI: true, Logger: quiet,
		Key: func(context.Context) (*devkey.Key, error) { return k, nil },
		OpenLog: func(ctx context.Context, k *devkey.Key) (*eventlog.Log, error) {
			return eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k, Logger: quiet})
		},
		Replay: &system.Replay{Recording: rec, Speed: o.Speed},
		Client: ds.chain.Client, AnchorPoll: 100 * time.Millisecond,
		OnEvent: onEvent, OnCheckpoint: func(c checkpoint.Checkpoint) { notes = append(notes, c) },
		Settle: settle}); err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	defer ds.sys.Close()
	l := ds.sys.Log()
	fmt.Fprintf(w, "Waybill demo: %s\n", rec.Header.Note)
	fmt.Fprintf(w, "  configuration  %s (%d sensors, %d zones)\n  recording      %s (from %s to %s)\n",
		cfgName, len(cfg.Sensors), len(cfg.Zones), recName, rec.Header.Start.Format("2006-01-02 15:04:05 MST"), untilText(rec))
	fmt.Fprintf(w, "  log directory  %s\n  device         %s (the public demo key)\n  origin         %s\n  verifier key   %s\n\n",
		dir, k.Address(), l.Origin(), vkey)
	fmt.Fprintf(w, "  MQTT broker    %s (in process), topic %s\n  ledger         in-process EVM chain %d, registry contract %s\n\n",
		ds.broker.URL(), feed.TopicsFor(id.Fleet, id.Device).Events, cfg.Device.ChainID, ds.chain.Registry.Hex())

	if err := ds.sys.Run(ctx); err != nil {
		return sum, fmt.Errorf("demo: replaying %s: %w", recName, err)
	}
	sum.Readings, sum.Faults, sum.EventsBy, sum.Checkpoints = stats.Readings, stats.Faults, stats.EventsBy, len(notes)

	// Prove and verify every event offline against the final checkpoint.
	final := notes[len(notes)-1]
	sum.Events, sum.Root = final.Size, merkle.Hash(final.Root)
	vk, err := checkpoint.ParseVerifierKey(vkey)
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	dev := k.Address()
	opts := verify.Options{Device: &dev, Fleet: id.Fleet, ChainID: id.ChainID, Verifiers: []checkpoint.Verifier{vk}}
	for seq := uint64(0); seq < final.Size; seq++ {
		pb, err := prove.Bundle(l, seq, 0, nil)
		var out []byte
		if err == nil {
			out, err = prove.Encode(pb, prove.FormatJSON)
		}
		if err != nil {
			return sum, fmt.Errorf("demo: prove %d: %w", seq, err)
		}
		b, err := verify.ParseBundle(out)
		if err != nil {
			return sum, fmt.Errorf("demo: bundle %d: %w", seq, err)
		}
		if err := b.Verify(opts); err != nil {
			return sum, fmt.Errorf("demo: bundle %d does not verify: %w", seq, err)
		}
		sum.Inclusion++
	}
	fmt.Fprintf(w, "  proved %d/%d events included in the final checkpoint and verified each bundle offline\n", sum.Inclusion, final.Size)
	for i := 1; i < len(notes); i++ {
		out, err := prove.Consistency(l, notes[i-1].Size, notes[i].Size)
		if err != nil {
			return sum, fmt.Errorf("demo: consistency %d→%d: %w", notes[i-1].Size, notes[i].Size, err)
		}
		c, err := verify.ParseConsistency(out)
		if err == nil {
			err = c.Verify()
		}
		if err == nil && (c.OldRoot != notes[i-1].Root || c.NewRoot != notes[i].Root) {
			err = fmt.Errorf("roots differ from the signed checkpoints")
		}
		if err != nil {
			return sum, fmt.Errorf("demo: consistency %d→%d: %w", notes[i-1].Size, notes[i].Size, err)
		}
		sum.Consistency++
	}
	fmt.Fprintf(w, "  proved %d checkpoints consistent, each with the next\n\n", sum.Consistency)

	fmt.Fprintf(w, "Events by kind:\n")
	for _, kc := range kindCounts(stats.EventsBy) {
		fmt.Fprintf(w, "  %s\n", kc)
	}
	fmt.Fprintln(w)
	printHealth(w, ds.sys.Status())
	note, _, err := l.Latest()
	if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	sum.Took = time.Since(start)
	fmt.Fprintf(w, "\nFinal checkpoint (C2SP signed note), root %s:\n%s\n", sum.Root, note)
	fmt.Fprintf(w, "Summary: %d events signed and durable, %d inclusion proofs and %d consistency proofs verified offline, in %v.\n",
		sum.Events, sum.Inclusion, sum.Consistency, sum.Took.Round(time.Millisecond))
	fmt.Fprintf(w, "Watcher: %d events witnessed (verified, checkpointed, anchored, cosigned), %d checkpoints cosigned, alarms: %s.\n",
		sum.Watched[string(watch.StateWitnessed)], sum.Cosigned, alarmsText(sum.Alarms))
	fmt.Fprintf(w, "Try: bin/waybill log prove --data %s --seq 42 > bundle.json && bin/waybill verify --vkey '%s' bundle.json\n", dir, vkey)
	return sum, nil
}

// loadConfig loads the configuration at path, or the embedded van.yaml.
func loadConfig(path string) (*config.Config, string, error) {
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

// loadRecording loads the recording (or raw NMEA file) at path, or the
// embedded Brussels round.
func loadRecording(path string) (*replay.Recording, string, error) {
	if path == "" {
		r, err := replay.Load(bytes.NewReader(recordings.BrusselsVan))
		return r, "testbench/recordings/brussels-van.jsonl.gz (embedded)", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	r, err := replay.Load(bytes.NewReader(b))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return r, path, nil
}

func untilText(rec *replay.Recording) string {
	if u := rec.Until(); !u.IsZero() {
		return u.Format("15:04:05 MST")
	}
	return "its last operation"
}

// printHealth prints each sensor's health, the I2C retries and the GNSS
// times the clock did not trust.
func printHealth(w io.Writer, st system.Status) {
	fmt.Fprintf(w, "sensors:\n")
	for _, h := range st.Sensors {
		fmt.Fprintf(w, "  %-10s %-8s %6d reads %6d values %4d failures", h.Sensor, h.State, h.Reads, h.Values, h.Failures)
		if h.Failures > 0 {
			fmt.Fprintf(w, " (last: %s)", strings.ReplaceAll(strings.TrimSpace(h.LastError), "\n", "; "))
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

// kindCounts returns "name n" pairs sorted by name.
func kindCounts[N int | int64](m map[string]N) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	return out
}
