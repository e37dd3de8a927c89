// Package sampler decides when each sensor is read, and keeps each sensor's
// health.
//
// Each sensor is read at its configured interval. A failed read is retried
// with exponential backoff (the interval doubled per consecutive failure,
// capped at MaxBackoff or the interval, whichever is larger) and counted; the
// first failure of a run of failures, and then at most one per FaultEvery,
// is reported as a [Fault], which the agent logs as a rate-limited
// sensor_fault event. Values a driver returns with an error (one probe of
// several failing) are delivered all the same.
//
// # Live and replay
//
// Live, every sensor has its own goroutine: a slow, failing or unplugged
// sensor (a bus that blocks past its timeout) delays only itself. In a
// replay (Options.Sequential), one goroutine reads the sensors in the order
// of their due times on the simulated clock, ties broken by configuration
// order, so the same recording gives the same calls, values and events.
package sampler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Sensor is one configured sensor.
type Sensor struct {
	Name     string
	Dev      sensor.Sensor
	Interval time.Duration // at least 1 ms
	Timeout  time.Duration // for one Sense; 0 means the interval, at most 10 s
}

// Options configures a Sampler. The zero value is usable.
type Options struct {
	Clock      sensor.Clock  // nil: the system clock
	Sequential bool          // one goroutine, in due-time order (replay)
	MaxBackoff time.Duration // 0: 1 minute
	FaultEvery time.Duration // 0: 5 minutes
	Logger     *slog.Logger  // nil: discard
	// Stop, if set, is called in sequential mode with the due time of the
	// next read before it is made; a true result ends Run (a replay reached
	// the end of its recording).
	Stop func(next time.Time) bool
}

// Fault is a sensor failure to report as a sensor_fault event.
type Fault struct {
	Sensor string
	Step   string // the driver step, from *sensor.Error; "" if unknown
	Err    error
	Count  int64 // failures since the previous Fault of this sensor (this one included)
}

// Output is what one read produced: readings, a fault, or both.
type Output struct {
	Readings []sensor.Reading
	Fault    *Fault
}

// Health is a sensor's state as the status and health endpoints report it.
type Health struct {
	Sensor      string    `json:"sensor"`
	State       string    `json:"state"`       // "starting", "ok", "failing" or "stuck" (a read outlived its timeout)
	Reads       int64     `json:"reads"`       // successful reads
	Values      int64     `json:"values"`      // values delivered
	Failures    int64     `json:"failures"`    // failed reads
	Consecutive int64     `json:"consecutive"` // failures since the last success
	Faults      int64     `json:"faults"`      // Fault reports emitted
	LastError   string    `json:"last_error,omitempty"`
	LastOK      time.Time `json:"last_ok,omitzero"`
	NextRead    time.Time `json:"next_read,omitzero"`
}

// Sampler reads sensors on schedule. Create it with New.
type Sampler struct {
	opts  Options
	clock sensor.Clock
	log   *slog.Logger
	slots []*slot
}

type slot struct {
	s       Sensor
	index   int
	mu      sync.Mutex // guards h, due, lastFault, pending
	h       Health
	due     time.Time
	faultAt time.Time // when the last Fault was emitted
	pending int64     // failures not yet reported
}

// New returns a sampler for sensors. Sensor names must be unique.
func New(sensors []Sensor, opts Options) (*Sampler, error) {
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.FaultEvery <= 0 {
		opts.FaultEvery = 5 * time.Minute
	}
	s := &Sampler{opts: opts, clock: sensor.ClockOr(opts.Clock), log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for i, sn := range sensors {
		if sn.Name == "" || seen[sn.Name] {
			return nil, fmt.Errorf("sampler: sensor %d: name %q is empty or repeated", i, sn.Name)
		}
		if sn.Dev == nil {
			return nil, fmt.Errorf("sampler: sensor %q has no device", sn.Name)
		}
		if sn.Interval < time.Millisecond {
			return nil, fmt.Errorf("sampler: sensor %q: interval %v is below 1ms", sn.Name, sn.Interval)
		}
		if sn.Timeout <= 0 {
			sn.Timeout = min(sn.Interval, 10*time.Second)
		}
		seen[sn.Name] = true
		s.slots = append(s.slots, &slot{s: sn, index: i, h: Health{Sensor: sn.Name, State: "starting"}})
	}
	return s, nil
}

// Health returns every sensor's health, in configuration order.
func (s *Sampler) Health() []Health {
	out := make([]Health, len(s.slots))
	for i, sl := range s.slots {
		sl.mu.Lock()
		out[i] = sl.h
		sl.mu.Unlock()
	}
	return out
}

// Run reads the sensors until ctx is done (nil is returned: cancellation is
// a clean stop) or, in sequential mode, until Options.Stop says so. emit is
// called with each read's output, from one goroutine at a time; it must not
// block for long in live mode. An error from emit stops Run and is returned.
func (s *Sampler) Run(ctx context.Context, emit func(Output) error) error {
	if len(s.slots) == 0 {
		if s.opts.Sequential {
			return nil
		}
		<-ctx.Done()
		return nil
	}
	now := s.clock.Now()
	for _, sl := range s.slots {
		sl.due = now
		sl.h.NextRead = now
	}
	if s.opts.Sequential {
		return s.runSequential(ctx, emit)
	}
	return s.runLive(ctx, emit)
}

func (s *Sampler) runSequential(ctx context.Context, emit func(Output) error) error {
	for {
		// The slot due first; configuration order breaks ties.
		next := s.slots[0]
		for _, sl := range s.slots[1:] {
			if sl.due.Before(next.due) {
				next = sl
			}
		}
		if s.opts.Stop != nil && s.opts.Stop(next.due) {
			return nil
		}
		if err := s.clock.Sleep(ctx, next.due.Sub(s.clock.Now())); err != nil {
			return nil
		}
		out := s.read(ctx, next)
		if out.Readings != nil || out.Fault != nil {
			if err := emit(out); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (s *Sampler) runLive(ctx context.Context, emit func(Output) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outs := make(chan Output, 4*len(s.slots))
	var wg sync.WaitGroup
	for _, sl := range s.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := s.clock.Sleep(ctx, sl.nextDue().Sub(s.clock.Now())); err != nil {
					return
				}
				out := s.readWithTimeout(ctx, sl)
				if out.Readings == nil && out.Fault == nil {
					continue
				}
				select {
				case outs <- out:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var err error
	for err == nil {
		select {
		case out := <-outs:
			err = emit(out)
		case <-ctx.Done():
			cancel()
			wg.Wait()
			// Deliver what the workers produced before they stopped.
			for {
				select {
				case out := <-outs:
					if e := emit(out); e != nil {
						return e
					}
				default:
					return nil
				}
			}
		}
	}
	cancel()
	wg.Wait()
	return err
}

func (sl *slot) nextDue() time.Time {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.due
}

// readWithTimeout runs one Sense in its own goroutine so that a driver that
// ignores its context and blocks on the bus delays only this sensor; the
// sensor is marked stuck until that call returns.
func (s *Sampler) readWithTimeout(ctx context.Context, sl *slot) Output {
	done := make(chan Output, 1)
	go func() { done <- s.read(ctx, sl) }()
	t := time.NewTimer(sl.s.Timeout + time.Second)
	defer t.Stop()
	select {
	case out := <-done:
		return out
	case <-t.C:
		sl.mu.Lock()
		sl.h.State = "stuck"
		sl.h.LastError = fmt.Sprintf("read did not return within %v", sl.s.Timeout)
		sl.mu.Unlock()
		s.log.Warn("sensor read is stuck", "sensor", sl.s.Name, "timeout", sl.s.Timeout)
		select {
		case out := <-done:
			return out
		case <-ctx.Done():
			return Output{}
		}
	}
}

// read senses once and updates the slot's health, schedule and fault state.
func (s *Sampler) read(ctx context.Context, sl *slot) Output {
	// Live, a read has its timeout on the wall clock. A replay has none:
	// the recording decides what each read returns, and a wall-clock
	// deadline would make the outcome depend on the machine's speed.
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if !s.opts.Sequential {
		rctx, cancel = context.WithTimeout(ctx, sl.s.Timeout)
	}
	vals, err := sense(rctx, sl.s.Dev)
	cancel()
	now := s.clock.Now()
	var out Output
	for _, v := range vals {
		out.Readings = append(out.Readings, sensor.Reading{Sensor: sl.s.Name, Time: now, Value: v})
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.h.Values += int64(len(vals))
	if err == nil || (ctx.Err() != nil && errors.Is(err, ctx.Err())) {
		if err == nil {
			sl.h.Reads++
			sl.h.Consecutive = 0
			sl.h.State = "ok"
			sl.h.LastOK = now
		}
		sl.due = sl.due.Add(sl.s.Interval)
		if !sl.due.After(now) { // fell behind: do not catch up in a burst
			sl.due = now.Add(sl.s.Interval)
		}
		sl.h.NextRead = sl.due
		return out
	}
	sl.h.Failures++
	sl.h.Consecutive++
	sl.h.State = "failing"
	sl.h.LastError = err.Error()
	sl.pending++
	backoff := s.backoff(sl.s.Interval, sl.h.Consecutive, sensor.Retryable(err))
	sl.due = now.Add(backoff)
	sl.h.NextRead = sl.due
	if sl.h.Faults == 0 || now.Sub(sl.faultAt) >= s.opts.FaultEvery {
		out.Fault = &Fault{Sensor: sl.s.Name, Step: step(err), Err: err, Count: sl.pending}
		sl.pending = 0
		sl.faultAt = now
		sl.h.Faults++
		s.log.Warn("sensor fault", "sensor", sl.s.Name, "err", err, "retry_in", backoff)
	}
	return out
}

// sense calls Sense and turns a panicking driver into an error, so that one
// bad driver cannot take the agent down.
func sense(ctx context.Context, dev sensor.Sensor) (vals []sensor.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			vals, err = nil, fmt.Errorf("%s: driver panic: %v", dev, p)
		}
	}()
	return dev.Sense(ctx)
}

// backoff returns the delay before the next read after n consecutive
// failures: the interval doubled n−1 times, capped at the larger of the
// interval and MaxBackoff; a failure not worth retrying waits the cap.
func (s *Sampler) backoff(interval time.Duration, n int64, retryable bool) time.Duration {
	limit := max(interval, s.opts.MaxBackoff)
	if !retryable {
		return limit
	}
	d := interval
	for i := int64(1); i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func step(err error) string {
	var se *sensor.Error
	if errors.As(err, &se) {
		return se.Step
	}
	return ""
}

// Names returns the sensor names in configuration order.
func (s *Sampler) Names() []string {
	out := make([]string, len(s.slots))
	for i, sl := range s.slots {
		out[i] = sl.s.Name
	}
	return out
}

// Halt halts every sensor, in reverse configuration order, and returns the
// errors joined.
func (s *Sampler) Halt() error {
	var errs []error
	for i := len(s.slots) - 1; i >= 0; i-- {
		if err := s.slots[i].s.Dev.Halt(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.slots[i].s.Name, err))
		}
	}
	return errors.Join(errs...)
}
