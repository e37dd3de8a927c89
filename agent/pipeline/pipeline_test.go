package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
)

const testKey = "8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a"

var t0 = time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC)

// waitFor bounds the waits of these tests for what other goroutines do:
// far beyond what they need on a loaded machine.
const waitFor = time.Minute

// faultyLog is a real log in a temporary directory whose segment writes
// can be made to fail, as a full or failing disk makes them: the file
// descriptor bbolt writes through is swapped for a read-only one.
type faultyLog struct {
	*eventlog.Log
	mu    sync.Mutex
	files map[string]*os.File
	saved map[string]int
}

func openFaulty(t *testing.T) *faultyLog {
	t.Helper()
	k, err := devkey.FromHex(testKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &faultyLog{files: map[string]*os.File{}, saved: map[string]int{}}
	id := eventlog.Identity{Device: k.Address(), Fleet: "pipeline-test", ChainID: 1337}
	f.Log, err = eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			file, err := os.OpenFile(name, flag, perm)
			if err == nil {
				f.mu.Lock()
				f.files[filepath.Base(name)] = file
				f.mu.Unlock()
			}
			return file, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// breakWrites makes every write to the active segment fail (EBADF) while
// reads go on.
func (f *faultyLog) breakWrites(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	file := f.files["seg-000000.db"]
	if file == nil {
		t.Fatal("the log did not open seg-000000.db through Options.OpenFile")
	}
	fd := int(file.Fd())
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := syscall.Open(file.Name(), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ro)
	if err := syscall.Dup3(ro, fd, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	f.saved["seg-000000.db"] = saved
	t.Cleanup(func() { f.restore() })
}

// restore puts the writable descriptor back. It may be called from any
// goroutine, more than once.
func (f *faultyLog) restore() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, saved := range f.saved {
		syscall.Dup3(saved, int(f.files[name].Fd()), syscall.O_CLOEXEC)
		syscall.Close(saved)
		delete(f.saved, name)
	}
}

// sleepClock is a sensortest.Clock that reports each sleep to onSleep
// before it is made.
type sleepClock struct {
	*sensortest.Clock
	onSleep func(d time.Duration)
}

func (c *sleepClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.onSleep != nil {
		c.onSleep(d)
	}
	return c.Clock.Sleep(ctx, d)
}

// failing is a sensor that never answers: every read is a fault, which
// the pipeline appends as a sensor_fault event.
type failing struct{}

func (failing) String() string { return "failing sensor" }
func (failing) Sense(context.Context) ([]sensor.Value, error) {
	return nil, &sensor.Error{Device: "test", Step: "read", Err: sensor.ErrNoDevice}
}
func (failing) Halt() error { return nil }

// faultPipeline is a sequential pipeline over l whose one sensor fails at
// its first read, at t0, and is not read again before t0+1h.
func faultPipeline(t *testing.T, l *eventlog.Log, clk sensor.Clock) *Pipeline {
	t.Helper()
	p, err := New(Options{Config: &config.Config{}, Log: l, Clock: clk, Floor: event.TimeFloor,
		Sensors:    []sampler.Sensor{{Name: "probe", Dev: failing{}, Interval: time.Hour}},
		Sequential: true, Until: t0.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// backoffs returns the sleeps shorter than a minute: the append's, not the
// sampler's (an hour).
func backoffs(sleeps []time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range sleeps {
		if d > 0 && d < time.Minute {
			out = append(out, d)
		}
	}
	return out
}

// A log that refuses writes is retried with a doubling backoff, capped,
// on the pipeline's clock; once the writes recover, the event is appended
// once, and nothing else is lost.
func TestAppend_RetriesOnTheClock(t *testing.T) {
	l := openFaulty(t)
	l.breakWrites(t)
	const failures = 9
	clk := &sleepClock{Clock: sensortest.NewClock(t0)}
	n := 0
	clk.onSleep = func(d time.Duration) {
		if d > 0 && d < time.Minute {
			if n++; n == failures {
				l.restore()
			}
		}
	}
	if err := faultPipeline(t, l.Log, clk).Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if got := backoffs(clk.Sleeps()); !slices.Equal(got, want) {
		t.Errorf("backoff sleeps %v, want %v", got, want)
	}
	if l.Size() != 1 {
		t.Fatalf("log size %d after the writes recovered, want 1 (the sensor_fault)", l.Size())
	}
	leaf, err := l.Leaf(0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := event.Parse(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != event.KindSensorFault {
		t.Errorf("event 0 is %s, want %s", s.Kind, event.KindSensorFault)
	}
	// The event's time is the clock's when it was read, not after the
	// retries: the sensors waited.
	if got := time.UnixMilli(s.Time).UTC(); !got.Equal(t0) {
		t.Errorf("event time %v, want %v", got, t0)
	}
}

// Once the pipeline is stopping, an append the log keeps refusing is
// retried for StopGrace on the pipeline's clock, then Run returns the
// log's error, naming the event.
func TestAppend_GivesUpWhileStopping(t *testing.T) {
	l := openFaulty(t)
	l.breakWrites(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &sleepClock{Clock: sensortest.NewClock(t0)}
	var stoppedAt time.Time
	n := 0
	clk.onSleep = func(d time.Duration) {
		if d > 0 && d < time.Minute {
			if n++; n == 3 {
				stoppedAt = clk.Now()
				cancel()
			}
		}
	}
	err := faultPipeline(t, l.Log, clk).Run(ctx)
	var pe *os.PathError
	if err == nil || !errors.As(err, &pe) {
		t.Fatalf("Run = %v; want the log's write error", err)
	}
	if want := "append sensor_fault while stopping"; !strings.Contains(err.Error(), want) {
		t.Errorf("Run = %v; want it to say %q", err, want)
	}
	if l.Size() != 0 {
		t.Errorf("log size %d; the writes never recovered", l.Size())
	}
	// The retries went on for StopGrace after the stop, and not a
	// backoff longer.
	if grace := clk.Now().Sub(stoppedAt); grace < StopGrace || grace >= StopGrace+MaxBackoff {
		t.Errorf("retried for %v after the stop, want %v to %v", grace, StopGrace, StopGrace+MaxBackoff)
	}
}

// Writes that recover within the grace take the event: a stop loses
// nothing that was read.
func TestAppend_RecoversWhileStopping(t *testing.T) {
	l := openFaulty(t)
	l.breakWrites(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &sleepClock{Clock: sensortest.NewClock(t0)}
	n := 0
	clk.onSleep = func(d time.Duration) {
		if d > 0 && d < time.Minute {
			switch n++; n {
			case 2:
				cancel()
			case 5:
				l.restore()
			}
		}
	}
	if err := faultPipeline(t, l.Log, clk).Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if l.Size() != 1 {
		t.Fatalf("log size %d, want the sensor_fault read before the stop", l.Size())
	}
}

// stepClock is a simulated clock whose sleeps wait until the test moves
// it past their end (Advance), or their context ends.
type stepClock struct {
	mu      sync.Mutex
	now     time.Time
	moved   chan struct{} // closed and replaced at each Advance
	waiting int
	begun   int // Sleeps begun so far
}

func newStepClock(t time.Time) *stepClock { return &stepClock{now: t, moved: make(chan struct{})} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	end := c.now.Add(d)
	c.waiting++
	c.begun++
	defer func() { c.mu.Lock(); c.waiting--; c.mu.Unlock() }()
	for c.now.Before(end) {
		ch := c.moved
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return ctx.Err()
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	close(c.moved)
	c.moved = make(chan struct{})
}

// sleepers returns how many Sleeps are waiting.
func (c *stepClock) sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting
}

// advanceAndWait moves the clock by d, past the end of the one waiting
// Sleep, and returns once a new Sleep has begun and waits: the sleeper
// has done what it does at the end of its sleep. The count of waiting
// Sleeps alone cannot tell: it is still 1 while the ended Sleep has not
// yet returned.
func (c *stepClock) advanceAndWait(t *testing.T, what string, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	before := c.begun
	c.mu.Unlock()
	c.Advance(d)
	waitUntil(t, what, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.begun > before && c.waiting == 1
	})
}

// Without a configuration the pipeline signs a checkpoint every
// CheckpointEvery on its clock when the log has grown, and one more when
// it stops.
func TestRun_CheckpointsOnTheClock(t *testing.T) {
	l := openFaulty(t)
	clk := newStepClock(t0)
	var mu sync.Mutex
	var signed []uint64
	p, err := New(Options{Log: l.Log, Clock: clk, CheckpointEvery: time.Minute,
		OnCheckpoint: func(c checkpoint.Checkpoint) { mu.Lock(); signed = append(signed, c.Size); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	checkpoints := func() []uint64 { mu.Lock(); defer mu.Unlock(); return slices.Clone(signed) }
	waitUntil(t, "the ticker sleeps", func() bool { return clk.sleepers() == 1 })

	appendN(t, l.Log, 3)
	clk.Advance(59 * time.Second)
	waitUntil(t, "the ticker sleeps on", func() bool { return clk.sleepers() == 1 })
	if got := checkpoints(); len(got) != 0 {
		t.Fatalf("checkpoints %v signed before a minute passed on the clock", got)
	}
	clk.Advance(time.Second)
	waitUntil(t, "a checkpoint at a minute", func() bool { return slices.Equal(checkpoints(), []uint64{3}) })

	// Nothing new: no checkpoint at the next tick.
	waitUntil(t, "the ticker sleeps again", func() bool { return clk.sleepers() == 1 })
	clk.advanceAndWait(t, "the ticker sleeps after the second tick", time.Minute)
	appendN(t, l.Log, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := checkpoints(); !slices.Equal(got, []uint64{3, 5}) {
		t.Errorf("checkpoints %v, want [3 5] (one at the tick, one at the stop)", got)
	}
}

func appendN(t *testing.T, l *eventlog.Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ev, err := event.New(event.Manual{Note: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ev.Time, ev.Source = t0.UnixMilli()+int64(i), event.SourceNTP
		if _, err := l.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUntil waits, boundedly, until cond holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, waitFor)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFaultEvent_AnyText records a fault whatever its text: invalid bytes,
// noncharacters and a message far longer than a payload string may be.
func TestFaultEvent_AnyText(t *testing.T) {
	for _, msg := range []string{
		"remote I/O error",
		strings.Repeat("\xff!", 5000),
		strings.Repeat("\uffff", 2000),
		strings.Repeat("é", 4000),
	} {
		ev, err := faultEvent(&sampler.Fault{Sensor: "cargo\xfe", Step: "read", Err: errors.New(msg), Count: 3})
		if err != nil {
			t.Errorf("fault %.24q: %v", msg, err)
			continue
		}
		if ev.Kind != event.KindSensorFault {
			t.Errorf("fault %.24q: kind %q", msg, ev.Kind)
		}
	}
}
