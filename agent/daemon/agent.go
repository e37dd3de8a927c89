package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/geo"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/agent/rules"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Options configures an Agent.
type Options struct {
	Config *config.Config // non-nil
	Log    *eventlog.Log  // non-nil, open for writing
	Buses  Buses          // non-nil; the agent closes it
	// Clock is the sensors' clock: nil for the system clock, a simulated
	// one in a replay.
	Clock sensor.Clock
	// Floor is the sane-time floor (the later of event.TimeFloor and the
	// build date): GNSS times before it are not trusted.
	Floor time.Time
	// Sequential reads the sensors in schedule order on one goroutine
	// (replay); Until then ends the run when the next read is due after
	// it, and Done, if set, ends it when it returns true.
	Sequential bool
	Until      time.Time
	Done       func() bool
	Logger     *slog.Logger // nil: discard
	// OnEvent, if set, is called with every event once it is durable.
	OnEvent func(*event.Signed)
	// OnCheckpoint, if set, is called with every checkpoint signed.
	OnCheckpoint func(checkpoint.Checkpoint)
	// Retention, if set, admits each event before it is appended: at the
	// log's disk budget it refuses events (low-priority kinds first), and
	// the agent records each episode of refusals in an events_refused
	// event once events are accepted again.
	Retention *retention.Keeper
}

// Agent is the running pipeline. Create it with New.
type Agent struct {
	opts    Options
	log     *slog.Logger
	clk     sensor.Clock
	events  *clock.Clock
	sampler *sampler.Sampler
	rules   *rules.Engine
	retries *retryBuses
	every   time.Duration

	mu       sync.Mutex // guards the fields below
	byKind   map[string]int
	readings int64
	faults   int64
	lastCP   time.Time
	runCtx   context.Context
	rejected map[string]int64 // GNSS times not trusted, by reason
}

// New opens the sensors and builds the rules. On error it closes the buses.
func New(ctx context.Context, opts Options) (*Agent, error) {
	a := &Agent{opts: opts, log: opts.Logger, clk: sensor.ClockOr(opts.Clock), every: opts.Config.Device.CheckpointEvery,
		byKind: map[string]int{}, rejected: map[string]int64{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock != nil {
		a.events = clock.NewFixed(opts.Floor, a.clk.Now, event.SourceUnsynced)
	} else {
		a.events = clock.New(opts.Floor)
	}
	ro, err := RulesOptions(opts.Config)
	if err == nil {
		a.rules, err = rules.New(ro)
	}
	if err != nil {
		opts.Buses.Close()
		return nil, fmt.Errorf("rules: %w", err)
	}
	sensors, retries, err := openSensors(ctx, opts.Config, opts.Buses, a.clk)
	a.retries = retries
	if err != nil {
		opts.Buses.Close()
		return nil, err
	}
	so := sampler.Options{Clock: a.clk, FaultEvery: opts.Config.Faults.Every}
	if opts.Sequential {
		so = SamplerOptions(opts.Config, a.clk, opts.Until)
		if stop, done := so.Stop, opts.Done; done != nil {
			so.Stop = func(next time.Time) bool { return stop(next) || done() }
		}
	}
	so.Logger = a.log.With("subsystem", "sampler")
	if a.sampler, err = sampler.New(sensors, so); err != nil {
		opts.Buses.Close()
		return nil, err
	}
	a.lastCP = a.clk.Now()
	return a, nil
}

// SamplerOptions returns the sampler options of a replay (or of the
// simulation that records one): sequential on clk, until the given time.
// Recording and replay must use the same options to make the same reads.
func SamplerOptions(c *config.Config, clk sensor.Clock, until time.Time) sampler.Options {
	return sampler.Options{Clock: clk, Sequential: true, FaultEvery: c.Faults.Every,
		Stop: func(next time.Time) bool { return !until.IsZero() && next.After(until) }}
}

// RulesOptions maps the configuration to the rules engine's options.
func RulesOptions(c *config.Config) (rules.Options, error) {
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
	return o, nil
}

// Health returns each sensor's health, in configuration order.
func (a *Agent) Health() []sampler.Health { return a.sampler.Health() }

// Stats is what the agent has done so far.
type Stats struct {
	Now         time.Time             `json:"now"`      // the sensors' clock when the snapshot was taken
	Readings    int64                 `json:"readings"` // values delivered by the sensors
	Faults      int64                 `json:"faults"`   // sensor_fault events
	EventsBy    map[string]int        `json:"events_by_kind"`
	GNSSIgnored map[string]int64      `json:"gnss_time_not_used"` // GNSS times the clock did not trust, by reason
	I2C         map[string]BusRetries `json:"i2c_retries"`
}

// Status is the agent's state as `waybill status` prints it.
type Status struct {
	Stats
	Sensors   []sampler.Health  `json:"sensors"`
	Retention *retention.Status `json:"retention,omitempty"`
	// LogDamaged counts the damaged places of the log (events never served;
	// see eventlog.Log.Damaged).
	LogDamaged int `json:"log_damaged"`
}

// Status returns the agent's counters, every sensor's health and, with a
// disk budget, the retention state.
func (a *Agent) Status() Status {
	st := Status{Stats: a.Stats(), Sensors: a.Health()}
	st.LogDamaged, _ = a.opts.Log.Damaged()
	if k := a.opts.Retention; k != nil {
		r := k.Status()
		st.Retention = &r
	}
	return st
}

// Stats returns a snapshot of the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{Now: a.clk.Now(), Readings: a.readings, Faults: a.faults, EventsBy: map[string]int{}, GNSSIgnored: map[string]int64{}}
	for k, v := range a.byKind {
		s.EventsBy[k] = v
	}
	for k, v := range a.rejected {
		s.GNSSIgnored[k] = v
	}
	s.I2C = a.retries.counts()
	return s
}

// Run reads the sensors and logs their events until ctx is done (a clean
// stop, nil) or, in a replay, until the recording's end. Before it returns it
// appends what the sensors still delivered, signs a checkpoint if there are
// new events, halts the sensors and closes the buses.
func (a *Agent) Run(ctx context.Context) error {
	defer a.opts.Buses.Close()
	var stopTicker func()
	if !a.opts.Sequential && a.every > 0 {
		stopTicker = a.checkpointTicker(ctx)
	}
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	err := a.sampler.Run(ctx, a.emit)
	if stopTicker != nil {
		stopTicker()
	}
	a.recordRefusals()
	a.checkpoint()
	// Sensors are halted at the end of a run. An interrupted replay has no
	// hardware to halt, and its recording holds no halt at that point.
	if !(a.opts.Sequential && ctx.Err() != nil) {
		if herr := a.sampler.Halt(); herr != nil {
			a.log.Warn("halting sensors", "err", herr)
		}
	}
	return err
}

func (a *Agent) checkpointTicker(ctx context.Context) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				a.checkpoint()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// emit turns one sampler output into events. It runs on one goroutine.
func (a *Agent) emit(out sampler.Output) error {
	for _, r := range out.Readings {
		a.mu.Lock()
		a.readings++
		a.mu.Unlock()
		if f, ok := r.Value.(sensor.Fix); ok && !f.Time.IsZero() {
			a.observeGNSS(f)
		}
		for _, ev := range a.rules.Apply(r) {
			if err := a.append(ev); err != nil {
				return err
			}
		}
	}
	if f := out.Fault; f != nil {
		a.mu.Lock()
		a.faults++
		a.mu.Unlock()
		// Text from drivers and the system is recorded, not refused: a
		// noncharacter or a cut rune in it must not stop the agent.
		p := map[string]any{"sensor": event.Text(f.Sensor), "error": event.Text(truncate(f.Err.Error(), 1000)), "count": f.Count}
		if f.Step != "" {
			p["step"] = event.Text(f.Step)
		}
		b, err := jcs.Marshal(p)
		if err != nil {
			return fmt.Errorf("sensor_fault payload: %w", err)
		}
		if err := a.append(event.Event{Kind: "sensor_fault", Payload: b}); err != nil {
			return err
		}
	}
	if a.opts.Sequential && a.every > 0 && a.clk.Now().Sub(a.lastCP) >= a.every {
		a.checkpoint()
	}
	return nil
}

// observeGNSS offers a fix's time to the agent clock and counts the times
// it does not trust, by reason (logged once per reason).
func (a *Agent) observeGNSS(f sensor.Fix) {
	err := a.events.ObserveFix(f.Time, f.Valid)
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
	a.mu.Lock()
	a.rejected[reason]++
	first := a.rejected[reason] == 1
	a.mu.Unlock()
	if first && !errors.Is(err, clock.ErrInvalidFix) && !errors.Is(err, clock.ErrUnconfirmed) {
		a.log.Warn("GNSS time not trusted", "err", err)
	}
}

// append stamps ev with the agent clock and appends it, unless retention
// refuses it (counted and logged by the Keeper, reported in its status).
// A failing log (a full disk) is retried with backoff until it takes the
// event, and the sensors wait meanwhile; once the agent is stopping it
// tries for ten more seconds, then returns the error.
func (a *Agent) append(ev event.Event) error {
	if k := a.opts.Retention; k != nil {
		if err := k.Admit(string(ev.Kind)); err != nil {
			return nil
		}
		if r, ok := k.TakeRefusals(); ok {
			if err := a.appendNow(refusedEvent(r)); err != nil {
				return err
			}
		}
	}
	return a.appendNow(ev)
}

// recordRefusals appends the events_refused event of an episode still
// going on when the agent stops, if retention lets it in (refusals at the
// hard limit then stay in the log output and the status only).
func (a *Agent) recordRefusals() {
	k := a.opts.Retention
	if k == nil || k.Admit("events_refused") != nil {
		return
	}
	if r, ok := k.FlushRefusals(); ok {
		if err := a.appendNow(refusedEvent(r)); err != nil {
			a.log.Error("recording the refused events", "err", err)
		}
	}
}

// refusedEvent is the events_refused event that records an episode of
// refusals.
func refusedEvent(r retention.Refusals) event.Event {
	p, _ := jcs.Marshal(map[string]any{"count": r.Count(), "kinds": r.Kinds(), "reason": r.Reason,
		"from_ms": r.From.UnixMilli(), "to_ms": r.To.UnixMilli()})
	return event.Event{Kind: "events_refused", Payload: p}
}

func (a *Agent) appendNow(ev event.Event) error {
	ev.Time, ev.Source = a.events.Now()
	delay := 100 * time.Millisecond
	a.mu.Lock()
	ctx := a.runCtx
	a.mu.Unlock()
	var stopping time.Time
	for {
		s, err := a.opts.Log.Append(context.Background(), ev)
		if err == nil {
			a.mu.Lock()
			a.byKind[string(s.Kind)]++
			a.mu.Unlock()
			if a.opts.OnEvent != nil {
				a.opts.OnEvent(s)
			}
			return nil
		}
		if errors.Is(err, event.ErrInvalid) {
			a.log.Error("event refused by the log", "kind", ev.Kind, "err", err)
			return nil
		}
		if errors.Is(err, eventlog.ErrClosed) {
			return err
		}
		a.log.Error("append failed; retrying", "kind", ev.Kind, "err", err, "retry_in", delay)
		if ctx != nil && ctx.Err() != nil {
			if stopping.IsZero() {
				stopping = time.Now()
			} else if time.Since(stopping) > 10*time.Second {
				return fmt.Errorf("append %s while stopping: %w", ev.Kind, err)
			}
		}
		time.Sleep(delay)
		delay = min(2*delay, 5*time.Second)
	}
}

// checkpoint signs a checkpoint when the log has grown since the last one.
func (a *Agent) checkpoint() {
	a.lastCP = a.clk.Now()
	l := a.opts.Log
	if l.Size() == 0 {
		return
	}
	if _, c, err := l.Latest(); err == nil && c.Size == l.Size() {
		return
	}
	if _, c, err := l.Checkpoint(context.Background()); err != nil {
		a.log.Error("checkpoint not signed", "err", err)
	} else {
		a.log.Debug("checkpoint signed", "size", c.Size)
		if a.opts.OnCheckpoint != nil {
			a.opts.OnCheckpoint(c)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// KindCounts returns "name n" pairs sorted by name, for summaries.
func KindCounts[N int | int64](m map[string]N) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return out
}
