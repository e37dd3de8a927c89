// Package system is the one place that wires the agent. New builds the
// subsystems in the order data flows through them — configuration, device
// key, log, local API, feed and anchoring, retention, pipeline — and Run
// runs them under one errgroup and stops them in the reverse order.
//
// New starts nothing: a subsystem that cannot be built (an unreadable
// relayer key, an anchor store another process holds) fails New with the
// reason, and New closes what it had built. Run starts every part; when
// one fails, the others stop and Run returns its error; when the pipeline
// ends on its own (a replay's end) the feed catches up, boundedly, before
// the others stop. The waybill command, the demo and the tests build their
// agents here, and differ only in their Options.
package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/pipeline"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/agent/sensors"
	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
	"github.com/waybill-eu/waybill/sync/feed"
)

// DefaultCheckpointEvery is how often a checkpoint is signed when neither
// the options nor the configuration say.
const DefaultCheckpointEvery = time.Minute

// DefaultCatchUp bounds the feed's catching up after a replay.
const DefaultCatchUp = 30 * time.Second

// Options configures a System. Key and OpenLog are required.
type Options struct {
	// Config is the device configuration. Nil runs the log alone: the
	// local API, and a checkpoint every CheckpointEvery when there are new
	// events (events come in through the local API).
	Config *config.Config
	// Key returns the device key. It is called first, with New's context
	// (reading a passphrase FIFO ends with it).
	Key func(context.Context) (*devkey.Key, error)
	// OpenLog opens the log for writing with the key. The System closes it.
	OpenLog func(context.Context, *devkey.Key) (*eventlog.Log, error)
	// CheckpointEvery is how often a checkpoint is signed when there are
	// new events: 0 takes the configuration's checkpoint_every, else
	// DefaultCheckpointEvery. A replay counts it on its simulated clock.
	CheckpointEvery time.Duration
	// Floor is the sane-time floor of a live agent (the later of
	// event.TimeFloor and the build date): GNSS times before it are not
	// trusted, and the local API's clock starts there. A replay trusts
	// GNSS times from event.TimeFloor, as they were on the day.
	Floor time.Time
	// NoLocalAPI leaves the log's socket unserved.
	NoLocalAPI bool

	// Replay, if set, reads the sensors from a recording instead of the
	// buses: sequentially, on a simulated clock, until its end.
	Replay *Replay
	// Record, if set, records every bus transaction of a live run. The
	// System flushes it when it closes the buses; the caller closes the
	// file it writes to after Close.
	Record *replay.Recorder
	// Buses, if set, are the buses of a live run instead of the machine's
	// (bus.Host). The System closes them.
	Buses bus.Set

	// Brokers, if set, replace the configured feed brokers.
	Brokers []string
	// Client, if set, is the ledger node instead of dialing the configured
	// RPC URL.
	Client evmtx.Client
	// Payload, if set, makes the anchor calldata instead of the configured
	// backend's.
	Payload evmtx.Payload
	// AnchorPoll, if set, is how often the anchoring loop steps instead of
	// the configuration's anchor.poll.
	AnchorPoll time.Duration
	// CatchUp bounds how long, after the pipeline ended on its own, the
	// feed may take to publish the rest of the log; 0 is DefaultCatchUp.
	CatchUp time.Duration
	// Settle, if set, is called instead of the feed's catching up once
	// the pipeline has ended on its own, with every other part still
	// running; its error is Run's.
	Settle func(context.Context) error

	// OnEvent, if set, is called with every event the pipeline appended,
	// once it is durable.
	OnEvent func(*event.Signed)
	// OnCheckpoint, if set, is called with every checkpoint the pipeline
	// signed.
	OnCheckpoint func(checkpoint.Checkpoint)
	// Logger receives every part's log records, with a "subsystem"
	// attribute; nil discards them.
	Logger *slog.Logger
}

// Replay is a recording to replay.
type Replay struct {
	Recording *replay.Recording
	// Speed is 1 for real time, 10 for ten times faster, 0 for as fast as
	// possible.
	Speed float64
	// Continue appends the recording's events to a log that already holds
	// events; without it New refuses such a log (*NotEmptyError).
	Continue bool
}

// NotEmptyError is New's refusal to replay into a log that holds events
// without Replay.Continue: the recording would be appended after them
// under new sequence numbers.
type NotEmptyError struct {
	Dir    string // the log's directory
	Events uint64 // the events it holds
}

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("replay: data directory %s already holds a log of %d events; "+
		"the replay would append the whole recording after them under new sequence numbers", e.Dir, e.Events)
}

// System is the agent, built by New. Its accessors return nil for parts
// the configuration does not have.
type System struct {
	opts   Options
	lg     *slog.Logger
	key    *devkey.Key
	log    *eventlog.Log
	api    *localapi.Server
	feed   *feed.Publisher
	anchor *anchor.Anchorer
	keeper *retention.Keeper
	buses  *bus.Retry
	pipe   *pipeline.Pipeline
	clk    sensor.Clock // the pipeline's
	rec    *replay.Recording

	closers []func() error // in build order; Close runs them in reverse
	ran     atomic.Bool
	closed  bool
}

// New builds the agent in flow order. On error it closes what it built,
// in reverse order, and returns the error of the part that failed. It
// starts no goroutine.
func New(ctx context.Context, o Options) (*System, error) {
	if o.Key == nil || o.OpenLog == nil {
		return nil, errors.New("system: Options.Key and Options.OpenLog are required")
	}
	if o.Replay != nil && o.Config == nil {
		return nil, errors.New("system: a replay needs a configuration")
	}
	s := &System{opts: o, lg: o.Logger}
	if s.lg == nil {
		s.lg = slog.New(slog.DiscardHandler)
	}
	if err := s.build(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	// Deriving the device key and a relayer key from their passphrases
	// took scrypt's memory (32 MiB each at the keystore's standard
	// parameters), now garbage. A device with 512 MB of RAM gets it back
	// now rather than at the next collection, which an idle agent may not
	// reach for a long time.
	debug.FreeOSMemory()
	return s, nil
}

// build builds the parts in flow order; Close releases what it built.
func (s *System) build(ctx context.Context) (err error) {
	o := s.opts
	cfg, err := s.config()
	if err != nil {
		return err
	}

	// Key and log.
	if s.key, err = o.Key(ctx); err != nil {
		return fmt.Errorf("load key: %w", err)
	}
	if s.log, err = o.OpenLog(ctx, s.key); err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	s.closers = append(s.closers, s.log.Close)
	if r := o.Replay; r != nil && !r.Continue && s.log.Size() > 0 {
		return &NotEmptyError{Dir: s.log.Dir(), Events: s.log.Size()}
	}

	// Local API.
	if !o.NoLocalAPI {
		floor := o.Floor
		if floor.IsZero() {
			floor = event.TimeFloor
		}
		s.api = &localapi.Server{Log: s.log, Clock: clock.New(floor).Now, Logger: s.lg.With("subsystem", "localapi")}
		if cfg != nil {
			s.api.Status = func() any { return s.Status() }
		}
	}

	// Downstream of the log: feed and anchoring.
	var latest atomic.Pointer[anchor.Anchorer]
	if c := cfgFeed(cfg); c != nil {
		if s.feed, err = newFeed(&o, c, s.log, &latest, s.lg.With("subsystem", "feed")); err != nil {
			return err
		}
	}
	if c := cfgAnchor(cfg); c != nil {
		a, closeClient, err := openAnchor(ctx, &o, c, s.log, s.key.ECDSA(), s.lg.With("subsystem", "anchor"))
		if err != nil {
			return err
		}
		s.anchor = a
		s.closers = append(s.closers, func() error { closeClient(); return nil }, a.Close)
		latest.Store(a)
	}

	// The pipeline's clock, which retention's refusal records use too.
	var now func() time.Time
	if r := o.Replay; r != nil {
		s.rec = r.Recording
		sim := replay.NewSimClock(r.Recording.Header.Start, r.Speed)
		s.clk, now = sim, sim.Now
	}
	if cfg != nil && cfg.Retention != nil {
		if s.keeper, err = newKeeper(cfg.Retention, s.log, s.feed, s.anchor, now, s.lg.With("subsystem", "retention")); err != nil {
			return err
		}
	}

	// Pipeline: the buses, the sensors on them, the rules.
	every := o.CheckpointEvery
	if every == 0 && cfg != nil {
		every = cfg.Device.CheckpointEvery
	}
	if every == 0 {
		every = DefaultCheckpointEvery
	}
	po := pipeline.Options{Config: cfg, Log: s.log, Clock: s.clk, Floor: o.Floor, CheckpointEvery: every,
		Retention: s.keeper, Logger: s.lg.With("subsystem", "pipeline"),
		OnEvent: s.onEvent, OnCheckpoint: s.onCheckpoint}
	if cfg != nil {
		if err := s.openSensors(ctx, cfg, &po); err != nil {
			return err
		}
	}
	s.pipe, err = pipeline.New(po)
	return err
}

// config returns the configuration the pipeline runs: for a raw NMEA
// recording, its nmea sensor alone.
func (s *System) config() (*config.Config, error) {
	cfg, r := s.opts.Config, s.opts.Replay
	if r == nil || !r.Recording.Raw {
		return cfg, nil
	}
	c := *cfg
	c.Sensors = nil
	for _, sc := range cfg.Sensors {
		if sc.NMEA != nil {
			c.Sensors = append(c.Sensors, sc)
			break
		}
	}
	if len(c.Sensors) == 0 {
		return nil, errors.New("replay: a raw NMEA file needs an nmea sensor in the configuration")
	}
	s.lg.Info("raw NMEA recording: replaying the GNSS receiver only", "sensor", c.Sensors[0].Name)
	return &c, nil
}

// openSensors opens the buses and the configured sensors on them, and
// completes po for them.
func (s *System) openSensors(ctx context.Context, cfg *config.Config, po *pipeline.Options) error {
	o := s.opts
	var set bus.Set
	switch {
	case o.Replay != nil:
		set = replay.Buses{Rec: o.Replay.Recording}
		po.Floor = event.TimeFloor
		po.Sequential, po.Until, po.Done = true, o.Replay.Recording.Until(), o.Replay.Recording.Exhausted
	case o.Buses != nil:
		set = o.Buses
	default:
		set = &bus.Host{}
	}
	if o.Record != nil {
		set = replay.RecordBuses{Set: set, Rec: o.Record}
	}
	s.buses = bus.NewRetry(set)
	s.closers = append(s.closers, s.buses.Close)
	list, err := sensors.Open(ctx, cfg, s.buses, s.clk)
	if err != nil {
		return err
	}
	po.Sensors = list
	return nil
}

func cfgFeed(c *config.Config) *config.Feed {
	if c == nil {
		return nil
	}
	return c.Feed
}

func cfgAnchor(c *config.Config) *config.Anchor {
	if c == nil {
		return nil
	}
	return c.Anchor
}

// onEvent tells the feed and the anchoring loop that the log has grown,
// then calls Options.OnEvent.
func (s *System) onEvent(e *event.Signed) {
	s.notify()
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(e)
	}
}

func (s *System) onCheckpoint(c checkpoint.Checkpoint) {
	s.notify()
	if s.opts.OnCheckpoint != nil {
		s.opts.OnCheckpoint(c)
	}
}

// Notify tells the feed and the anchoring loop that the log has grown.
// Events the pipeline appends notify them; call it for events appended
// otherwise.
func (s *System) Notify() { s.notify() }

func (s *System) notify() {
	if s.feed != nil {
		s.feed.Notify()
	}
	if s.anchor != nil {
		s.anchor.Notify()
	}
}

// part is one subsystem running under Run's errgroup.
type part struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// Run runs the agent until ctx is done (a clean stop, nil), the pipeline
// ends on its own (a replay's end), or a part fails, whose error it then
// returns. Every part runs under one errgroup: a failure stops the others.
// The pipeline stops first and appends what the sensors still delivered;
// after a replay's end the feed catches up (or Options.Settle runs); then
// retention, anchoring, the feed and the local API stop, in that order.
// Run returns once every part has stopped; Close then releases what they
// held. Run may be called once.
func (s *System) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("system: Run called twice")
	}
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	var parts []*part // in start order
	start := func(name string, parent context.Context, run func(context.Context) error) *part {
		pctx, cancel := context.WithCancel(parent)
		p := &part{name: name, cancel: cancel, done: make(chan struct{})}
		parts = append(parts, p)
		g.Go(func() error {
			defer close(p.done)
			if err := run(pctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
		return p
	}
	if s.api != nil {
		start("local API", gctx, s.api.Serve)
	}
	if s.feed != nil {
		start("feed", gctx, s.feed.Run)
	}
	if s.anchor != nil {
		start("anchor", gctx, s.anchor.Run)
	}
	if s.keeper != nil {
		start("retention", gctx, s.keeper.Run)
	}
	// The pipeline stops when ctx is done, as well as when a part fails.
	pctx, stopPipe := context.WithCancel(gctx)
	defer context.AfterFunc(ctx, stopPipe)()
	pipe := start("pipeline", pctx, s.runPipeline)
	defer stopPipe()

	var settleErr error
	select {
	case <-pipe.done:
		// The pipeline ended: a clean stop, its end, or its failure.
		if gctx.Err() == nil && ctx.Err() == nil {
			sctx, cancel := context.WithCancel(gctx)
			stop := context.AfterFunc(ctx, cancel)
			settleErr = s.settle(sctx)
			stop()
			cancel()
		}
	case <-gctx.Done():
		// A part failed.
	}
	for i := len(parts) - 1; i >= 0; i-- {
		parts[i].cancel()
		<-parts[i].done
	}
	return errors.Join(g.Wait(), settleErr)
}

// runPipeline runs the pipeline; a replay that ended is checked against
// the recording (replay's errors start with "replay: ").
func (s *System) runPipeline(ctx context.Context) error {
	if err := s.pipe.Run(ctx); err != nil {
		return err
	}
	if s.rec != nil {
		return s.rec.Err()
	}
	return nil
}

// settle runs after the pipeline ended on its own: Options.Settle, or the
// feed's catching up, bounded by Options.CatchUp.
func (s *System) settle(ctx context.Context) error {
	if s.opts.Settle != nil {
		return s.opts.Settle(ctx)
	}
	if s.feed == nil {
		return nil
	}
	d := s.opts.CatchUp
	if d <= 0 {
		d = DefaultCatchUp
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := s.feed.Wait(wctx, s.log.Size()); err != nil {
		s.lg.Warn("the feed has not published every event", "published", s.feed.Status().Cursor, "events", s.log.Size(), "waited", d)
	}
	return nil
}

// Close releases, in reverse build order, what New built: the buses (a
// recording is flushed), the anchor store, the ledger client and the log.
// Call it after Run has returned, or instead of Run. It is idempotent.
func (s *System) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// Key returns the device key.
func (s *System) Key() *devkey.Key { return s.key }

// Log returns the log.
func (s *System) Log() *eventlog.Log { return s.log }

// Feed returns the feed's publisher, or nil.
func (s *System) Feed() *feed.Publisher { return s.feed }

// Anchor returns the anchoring loop, or nil.
func (s *System) Anchor() *anchor.Anchorer { return s.anchor }

// Retention returns the disk budget's keeper, or nil.
func (s *System) Retention() *retention.Keeper { return s.keeper }

// Pipeline returns the pipeline.
func (s *System) Pipeline() *pipeline.Pipeline { return s.pipe }
