// Package pipeline is the agent's stage between the sensors and the log:
// the sampler's readings and faults go through the rules, become events,
// are stamped by the agent clock, admitted by retention and appended to
// the signed log; checkpoints are signed as the configuration asks.
//
// Every wait is on the injected sensor.Clock, so the same stage runs live
// (the system clock, one goroutine per sensor) and in a replay (a simulated
// clock, one goroutine in schedule order), and a test moves time by hand.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/agent/rules"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/agent/sensors"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Backoff bounds the waits between attempts to append an event the log
// refused (a full disk): the first wait is MinBackoff, each next one twice
// the last, at most MaxBackoff.
const (
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 5 * time.Second
)

// StopGrace is how long, on the pipeline's clock, an append the log keeps
// refusing is retried once the pipeline is stopping; then Run returns the
// log's error.
const StopGrace = 10 * time.Second

// Options configures a Pipeline.
type Options struct {
	// Config gives the rules and the sampler's fault rate. Nil: no sensors;
	// Run only signs checkpoints.
	Config *config.Config
	Log    *eventlog.Log // non-nil, open for writing
	// Sensors are the sensors to read (see agent/sensors).
	Sensors []sampler.Sensor
	// Clock is the pipeline's clock: every wait (the sampler's, the
	// checkpoint ticker's, an append's backoff) is on it. Nil: the system
	// clock, and events are stamped by the agent clock (GNSS time once
	// trusted); a simulated clock stamps events with its own time.
	Clock sensor.Clock
	// Floor is the sane-time floor: GNSS times before it are not trusted.
	Floor time.Time
	// CheckpointEvery is how often a checkpoint is signed when the log has
	// new events; 0 signs only when Run ends.
	CheckpointEvery time.Duration
	// Sequential reads the sensors in schedule order on one goroutine
	// (replay); Until then ends the run when the next read is due after
	// it, and Done, if set, ends it when it returns true.
	Sequential bool
	Until      time.Time
	Done       func() bool
	// Retention, if set, admits each event before it is appended: at the
	// log's disk budget it refuses events (low-priority kinds first), and
	// the pipeline records each episode of refusals in an events_refused
	// event once events are accepted again.
	Retention *retention.Keeper
	Logger    *slog.Logger // nil: discard
	// OnEvent, if set, is called with every event once it is durable.
	OnEvent func(*event.Signed)
	// OnCheckpoint, if set, is called with every checkpoint signed.
	OnCheckpoint func(checkpoint.Checkpoint)
}

// Pipeline is the running stage. Create it with New.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	clk     sensor.Clock
	events  *clock.Clock
	sampler *sampler.Sampler // nil without a configuration
	rules   *rules.Engine

	mu       sync.Mutex // guards the fields below
	byKind   map[string]int
	readings int64
	faults   int64
	rejected map[string]int64 // GNSS times not trusted, by reason
	lastCP   time.Time        // when the last checkpoint was considered (sequential runs)
}

// New builds the rules and the sampler.
func New(opts Options) (*Pipeline, error) {
	if opts.Log == nil {
		return nil, errors.New("pipeline: no log")
	}
	p := &Pipeline{opts: opts, log: opts.Logger, clk: sensor.ClockOr(opts.Clock),
		byKind: map[string]int{}, rejected: map[string]int64{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock != nil {
		p.events = clock.NewFixed(opts.Floor, p.clk.Now, event.SourceUnsynced)
	} else {
		p.events = clock.New(opts.Floor)
	}
	p.lastCP = p.clk.Now()
	if opts.Config == nil {
		return p, nil
	}
	var err error
	if p.rules, err = rules.New(RulesOptions(opts.Config)); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	so := sampler.Options{Clock: p.clk, FaultEvery: opts.Config.Faults.Every}
	if opts.Sequential {
		// A replay reads as the simulation that recorded it did.
		so = sensors.Sequential(opts.Config, p.clk, opts.Until)
		if stop, done := so.Stop, opts.Done; done != nil {
			so.Stop = func(next time.Time) bool { return stop(next) || done() }
		}
	}
	so.Logger = p.log.With("subsystem", "sampler")
	if p.sampler, err = sampler.New(opts.Sensors, so); err != nil {
		return nil, err
	}
	return p, nil
}

// RulesOptions maps the configuration to the rules engine's options.
func RulesOptions(c *config.Config) rules.Options {
	r := c.Rules
	o := rules.Options{
		Position:   rules.Position{Interval: r.Position.Interval, MinDistanceM: r.Position.MinDistanceM, HeadingChangeDeg: r.Position.HeadingChangeDeg},
		Geofence:   rules.Geofence{HysteresisM: r.Geofence.HysteresisM, MinDwell: r.Geofence.MinDwell},
		Door:       rules.Door{MovingMPS: r.Door.MovingMPS},
		ProbeNames: map[string]string{},
	}
	hasGNSS := false
	for _, s := range c.Sensors {
		hasGNSS = hasGNSS || s.NMEA != nil
		if s.DS18B20 != nil {
			for _, p := range s.DS18B20.Probes {
				o.ProbeNames[p.ROM] = p.Name
			}
		}
	}
	if !hasGNSS {
		o.Position = rules.Position{}
	}
	for _, z := range c.Zones {
		var mp geo.MultiPolygon
		for _, rings := range z.Polygons {
			mp = append(mp, geo.Polygon{Rings: rings})
		}
		o.Zones = append(o.Zones, rules.Zone{Name: z.Name, Type: z.Type, Area: mp})
	}
	for _, t := range r.Temperature {
		o.Temperature = append(o.Temperature, rules.TemperatureRule{Sensor: t.Sensor, Probe: t.Probe, Name: t.ProbeName,
			MinC: t.MinC, MaxC: t.MaxC, After: t.After})
	}
	if r.Shock != nil {
		o.Shock = rules.Shock{Sensor: r.Shock.Sensor, ForwardAxis: r.Shock.ForwardAxis, ImpactG: r.Shock.ImpactG, HarshBrakingG: r.Shock.HarshBrakingG}
	}
	if r.Delivery != nil {
		o.Delivery = rules.Delivery{Sensor: r.Delivery.Sensor}
	}
	return o
}

// Health returns each sensor's health, in configuration order; none
// without a configuration.
func (p *Pipeline) Health() []sampler.Health {
	if p.sampler == nil {
		return nil
	}
	return p.sampler.Health()
}

// Stats is what the pipeline has done so far.
type Stats struct {
	Now         time.Time        `json:"now"`      // the pipeline's clock when the snapshot was taken
	Readings    int64            `json:"readings"` // values delivered by the sensors
	Faults      int64            `json:"faults"`   // sensor_fault events
	EventsBy    map[string]int   `json:"events_by_kind"`
	GNSSIgnored map[string]int64 `json:"gnss_time_not_used"` // GNSS times the clock did not trust, by reason
}

// Stats returns a snapshot of the pipeline's counters.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Now: p.clk.Now(), Readings: p.readings, Faults: p.faults,
		EventsBy: make(map[string]int, len(p.byKind)), GNSSIgnored: make(map[string]int64, len(p.rejected))}
	for k, v := range p.byKind {
		s.EventsBy[k] = v
	}
	for k, v := range p.rejected {
		s.GNSSIgnored[k] = v
	}
	return s
}

// Run reads the sensors and logs their events until ctx is done (a clean
// stop, nil) or, in a sequential run, until the sampler's end. Before it
// returns it appends what the sensors still delivered, records a refusal
// episode still going on, signs a checkpoint if there are new events and
// halts the sensors. Appends and that last checkpoint keep ctx's values
// but not its cancellation: an event read is appended even while stopping.
//
// Without a configuration Run signs checkpoints until ctx is done.
func (p *Pipeline) Run(ctx context.Context) error {
	var stopTicker func()
	if !p.opts.Sequential && p.opts.CheckpointEvery > 0 {
		stopTicker = p.checkpointTicker(ctx)
	}
	var err error
	if p.sampler == nil {
		<-ctx.Done()
	} else {
		err = p.sampler.Run(ctx, func(out sampler.Output) error { return p.emit(ctx, out) })
	}
	if stopTicker != nil {
		stopTicker()
	}
	p.recordRefusals(ctx)
	p.checkpoint(context.WithoutCancel(ctx))
	// Sensors are halted at the end of a run. An interrupted or failed
	// replay has no hardware to halt, and its recording holds no halt at
	// that point.
	if p.sampler != nil && !(p.opts.Sequential && (ctx.Err() != nil || err != nil)) {
		if herr := p.sampler.Halt(); herr != nil {
			p.log.Warn("halting sensors", "err", herr)
		}
	}
	return err
}

// checkpointTicker signs a checkpoint every CheckpointEvery on the
// pipeline's clock until ctx is done or the returned function is called;
// that function waits for the ticker to stop.
func (p *Pipeline) checkpointTicker(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p.clk.Sleep(ctx, p.opts.CheckpointEvery) == nil {
			p.checkpoint(ctx)
		}
	}()
	return func() { cancel(); <-done }
}

// emit turns one sampler output into events. It runs on one goroutine.
func (p *Pipeline) emit(ctx context.Context, out sampler.Output) error {
	for _, r := range out.Readings {
		p.mu.Lock()
		p.readings++
		p.mu.Unlock()
		if f, ok := r.Value.(sensor.Fix); ok && !f.Time.IsZero() {
			p.observeGNSS(f)
		}
		for _, ev := range p.rules.Apply(r) {
			if err := p.append(ctx, ev); err != nil {
				return err
			}
		}
	}
	if f := out.Fault; f != nil {
		p.mu.Lock()
		p.faults++
		p.mu.Unlock()
		ev, err := faultEvent(f)
		if err != nil {
			return err
		}
		if err := p.append(ctx, ev); err != nil {
			return err
		}
	}
	if p.opts.Sequential && p.opts.CheckpointEvery > 0 {
		p.mu.Lock()
		due := p.clk.Now().Sub(p.lastCP) >= p.opts.CheckpointEvery
		p.mu.Unlock()
		if due {
			p.checkpoint(context.WithoutCancel(ctx))
		}
	}
	return nil
}

// faultEvent is the sensor_fault event of f. Text from drivers and the
// system is recorded, not refused: a noncharacter or a cut rune in it must
// not stop the agent.
func faultEvent(f *sampler.Fault) (event.Event, error) {
	ev, err := event.New(event.SensorFault{Sensor: event.Text(f.Sensor), Step: event.Text(f.Step),
		Error: event.Text(f.Err.Error()), Count: f.Count})
	if err != nil {
		return event.Event{}, fmt.Errorf("sensor_fault payload: %w", err)
	}
	return ev, nil
}

// observeGNSS offers a fix's time to the agent clock and counts the times
// it does not trust, by reason (logged once per reason).
func (p *Pipeline) observeGNSS(f sensor.Fix) {
	err := p.events.ObserveFix(f.Time, f.Valid)
	if err == nil {
		return
	}
	reason := err.Error()
	for _, e := range []error{clock.ErrInvalidFix, clock.ErrBeforeFloor, clock.ErrFarOff, clock.ErrLeapSeconds, clock.ErrDisagrees, clock.ErrUnconfirmed} {
		if errors.Is(err, e) {
			reason = e.Error()
			break
		}
	}
	p.mu.Lock()
	p.rejected[reason]++
	first := p.rejected[reason] == 1
	p.mu.Unlock()
	if first && !errors.Is(err, clock.ErrInvalidFix) && !errors.Is(err, clock.ErrUnconfirmed) {
		p.log.Warn("GNSS time not trusted", "err", err)
	}
}

// append appends ev unless retention refuses it (counted and logged by the
// Keeper, reported in its status). The events_refused event of an episode
// that ended goes first.
func (p *Pipeline) append(ctx context.Context, ev event.Event) error {
	if k := p.opts.Retention; k != nil {
		if err := k.Admit(string(ev.Kind)); err != nil {
			return nil
		}
		if r, ok := k.TakeRefusals(); ok {
			ev, err := refusedEvent(r)
			if err != nil {
				return err
			}
			if err := p.appendNow(ctx, ev); err != nil {
				return err
			}
		}
	}
	return p.appendNow(ctx, ev)
}

// recordRefusals appends the events_refused event of an episode still
// going on when the pipeline stops, if retention lets it in (refusals at
// the hard limit then stay in the log output and the status only).
func (p *Pipeline) recordRefusals(ctx context.Context) {
	k := p.opts.Retention
	if k == nil || k.Admit(string(event.KindEventsRefused)) != nil {
		return
	}
	if r, ok := k.FlushRefusals(); ok {
		ev, err := refusedEvent(r)
		if err == nil {
			err = p.appendNow(ctx, ev)
		}
		if err != nil {
			p.log.Error("recording the refused events", "err", err)
		}
	}
}

// refusedEvent is the events_refused event that records an episode of
// refusals.
func refusedEvent(r retention.Refusals) (event.Event, error) {
	ev, err := event.New(event.EventsRefused{Count: r.Count(), Kinds: r.Kinds(), Reason: r.Reason,
		FromMS: r.From.UnixMilli(), ToMS: r.To.UnixMilli()})
	if err != nil {
		return event.Event{}, fmt.Errorf("events_refused payload: %w", err)
	}
	return ev, nil
}

// appendNow stamps ev with the agent clock and appends it. A failing log
// (a full disk) is retried with backoff on the pipeline's clock until it
// takes the event, and the sensors wait meanwhile. Once ctx is done (the
// pipeline is stopping) the appends go on for StopGrace more on that
// clock, then appendNow returns the log's error. An event the log refuses
// as invalid is logged and dropped; a closed log ends the pipeline.
func (p *Pipeline) appendNow(ctx context.Context, ev event.Event) error {
	ev.Time, ev.Source = p.events.Now()
	keep := context.WithoutCancel(ctx) // once read, an event is appended even while stopping
	delay := MinBackoff
	var stopping time.Time
	for {
		s, err := p.opts.Log.Append(keep, ev)
		if err == nil {
			p.mu.Lock()
			p.byKind[string(s.Kind)]++
			p.mu.Unlock()
			if p.opts.OnEvent != nil {
				p.opts.OnEvent(s)
			}
			return nil
		}
		if errors.Is(err, event.ErrInvalid) {
			p.log.Error("event refused by the log", "kind", ev.Kind, "err", err)
			return nil
		}
		if errors.Is(err, eventlog.ErrClosed) {
			return err
		}
		wait := ctx
		if ctx.Err() != nil {
			now := p.clk.Now()
			if stopping.IsZero() {
				stopping = now
			} else if now.Sub(stopping) >= StopGrace {
				return fmt.Errorf("append %s while stopping: %w", ev.Kind, err)
			}
			wait = keep
		}
		p.log.Error("append failed; retrying", "kind", ev.Kind, "err", err, "retry_in", delay)
		p.clk.Sleep(wait, delay) // a stop ends the wait early: the next failure starts the grace
		delay = min(2*delay, MaxBackoff)
	}
}

// checkpoint signs a checkpoint when the log has grown since the last one.
func (p *Pipeline) checkpoint(ctx context.Context) {
	p.mu.Lock()
	p.lastCP = p.clk.Now()
	p.mu.Unlock()
	l := p.opts.Log
	if l.Size() == 0 {
		return
	}
	if _, c, err := l.Latest(); err == nil && c.Size == l.Size() {
		return
	} else if err != nil && !errors.Is(err, eventlog.ErrNoCheckpoint) {
		p.log.Error("reading the latest checkpoint", "err", err)
	}
	_, c, err := l.Checkpoint(ctx)
	if err != nil {
		p.log.Error("checkpoint not signed", "err", err)
		return
	}
	level := slog.LevelInfo
	if p.opts.Sequential {
		level = slog.LevelDebug // a replay signs many, quickly
	}
	p.log.Log(ctx, level, "checkpoint signed", "size", c.Size)
	if p.opts.OnCheckpoint != nil {
		p.opts.OnCheckpoint(c)
	}
}
