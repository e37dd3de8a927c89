package sampler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

var t0 = time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC)

// script is a sensor whose n-th Sense returns results[n] (the last one
// repeats), optionally blocking.
type script struct {
	name    string
	results []func() ([]sensor.Value, error)
	calls   atomic.Int64
	block   chan struct{} // when non-nil, Sense waits on it, ignoring ctx
}

func (s *script) String() string { return s.name }
func (s *script) Halt() error    { return nil }
func (s *script) Sense(ctx context.Context) ([]sensor.Value, error) {
	n := int(s.calls.Add(1)) - 1
	if s.block != nil {
		<-s.block
	}
	if n >= len(s.results) {
		n = len(s.results) - 1
	}
	return s.results[n]()
}

func ok(v sensor.Value) func() ([]sensor.Value, error) {
	return func() ([]sensor.Value, error) { return []sensor.Value{v}, nil }
}

func fail(step string, cause error) func() ([]sensor.Value, error) {
	return func() ([]sensor.Value, error) {
		return nil, &sensor.Error{Device: "test", Bus: "bus0", Step: step, Err: cause}
	}
}

type collected struct {
	mu   sync.Mutex
	outs []Output
}

func (c *collected) emit(o Output) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outs = append(c.outs, o)
	return nil
}

func runSeq(t *testing.T, sensors []Sensor, until time.Duration, opts Options) (*Sampler, []Output) {
	t.Helper()
	clk := replay.NewSimClock(t0, 0)
	opts.Clock = clk
	opts.Sequential = true
	opts.Stop = func(next time.Time) bool { return next.Sub(t0) > until }
	s, err := New(sensors, opts)
	if err != nil {
		t.Fatal(err)
	}
	var c collected
	if err := s.Run(context.Background(), c.emit); err != nil {
		t.Fatal(err)
	}
	return s, c.outs
}

func TestSampler_SequentialOrder(t *testing.T) {
	a := &script{name: "a", results: []func() ([]sensor.Value, error){ok(sensor.Door{Open: true})}}
	b := &script{name: "b", results: []func() ([]sensor.Value, error){ok(sensor.Weight{Raw: 1})}}
	_, outs := runSeq(t, []Sensor{{Name: "a", Dev: a, Interval: time.Second}, {Name: "b", Dev: b, Interval: 3 * time.Second}}, 6*time.Second, Options{})
	var got string
	for _, o := range outs {
		for _, r := range o.Readings {
			got += fmt.Sprintf("%s@%v ", r.Sensor, r.Time.Sub(t0))
		}
	}
	want := "a@0s b@0s a@1s a@2s a@3s b@3s a@4s a@5s a@6s b@6s "
	if got != want {
		t.Errorf("order = %s, want %s", got, want)
	}
}

func TestSampler_BackoffAndFaultRateLimit(t *testing.T) {
	bad := &script{name: "probe", results: []func() ([]sensor.Value, error){fail("read scratchpad", sensor.ErrCRC)}}
	s, outs := runSeq(t, []Sensor{{Name: "probe", Dev: bad, Interval: 10 * time.Second}},
		20*time.Minute+10*time.Second, Options{MaxBackoff: time.Minute, FaultEvery: 5 * time.Minute})
	// Reads at 0, 10s, 30s, 70s, then every 60s: 0,10,30,70,130,...,1150,1210.
	h := s.Health()[0]
	if h.State != "failing" || h.Reads != 0 {
		t.Errorf("health = %+v", h)
	}
	if h.Failures != 23 {
		t.Errorf("failures = %d, want 23 (backoff 10s, 20s, 40s, then 60s)", h.Failures)
	}
	var faults []*Fault
	for _, o := range outs {
		if o.Fault != nil {
			faults = append(faults, o.Fault)
		}
	}
	// Faults at 0s, then the first failure at least 5 min after: 310s, 610s, 910s, 1210s.
	if len(faults) != 5 {
		t.Fatalf("faults = %d, want 5", len(faults))
	}
	var total int64
	for _, f := range faults {
		total += f.Count
		if f.Step != "read scratchpad" || !errors.Is(f.Err, sensor.ErrCRC) {
			t.Errorf("fault = %+v", f)
		}
	}
	if total != h.Failures {
		t.Errorf("fault counts sum to %d, want every failure (%d)", total, h.Failures)
	}
}

func TestSampler_RecoveryResetsBackoff(t *testing.T) {
	dev := &script{name: "x", results: []func() ([]sensor.Value, error){
		fail("read", sensor.ErrBus), fail("read", sensor.ErrBus), ok(sensor.Weight{Raw: 7})}}
	s, _ := runSeq(t, []Sensor{{Name: "x", Dev: dev, Interval: time.Second}}, 10*time.Second, Options{})
	h := s.Health()[0]
	// 0 fail, 1s fail, 3s ok, then every second to 10s: 8 successes.
	if h.State != "ok" || h.Failures != 2 || h.Reads != 8 || h.Consecutive != 0 {
		t.Errorf("health = %+v", h)
	}
}

func TestSampler_WrongChipWaitsTheCap(t *testing.T) {
	dev := &script{name: "x", results: []func() ([]sensor.Value, error){fail("read chip id", sensor.ErrWrongChip)}}
	s, _ := runSeq(t, []Sensor{{Name: "x", Dev: dev, Interval: time.Second}}, 5*time.Minute, Options{MaxBackoff: time.Minute})
	if got := s.Health()[0].Failures; got != 6 { // 0, 1m, 2m, 3m, 4m, 5m
		t.Errorf("failures = %d, want 6", got)
	}
}

func TestSampler_ValuesWithErrorAreDelivered(t *testing.T) {
	dev := &script{name: "w1", results: []func() ([]sensor.Value, error){func() ([]sensor.Value, error) {
		return []sensor.Value{sensor.Temperature{Probe: "a"}}, errors.Join(&sensor.Error{Device: "ds18b20", Step: "read scratchpad", Err: sensor.ErrCRC})
	}}}
	_, outs := runSeq(t, []Sensor{{Name: "w1", Dev: dev, Interval: time.Second}}, 0, Options{})
	if len(outs) != 1 || len(outs[0].Readings) != 1 || outs[0].Fault == nil {
		t.Fatalf("outs = %+v", outs)
	}
}

func TestSampler_PanicIsAFault(t *testing.T) {
	dev := &script{name: "p", results: []func() ([]sensor.Value, error){func() ([]sensor.Value, error) { panic("index out of range") }}}
	_, outs := runSeq(t, []Sensor{{Name: "p", Dev: dev, Interval: time.Second}}, 0, Options{})
	if len(outs) != 1 || outs[0].Fault == nil {
		t.Fatalf("outs = %+v", outs)
	}
}

// A sensor stuck on its bus must not delay the others (live mode).
func TestSampler_LiveStuckSensorDoesNotBlockOthers(t *testing.T) {
	stuck := &script{name: "stuck", block: make(chan struct{}), results: []func() ([]sensor.Value, error){ok(sensor.Weight{})}}
	fast := &script{name: "fast", results: []func() ([]sensor.Value, error){ok(sensor.Door{})}}
	s, err := New([]Sensor{
		{Name: "stuck", Dev: stuck, Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond},
		{Name: "fast", Dev: fast, Interval: 5 * time.Millisecond},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var c collected
	done := make(chan error)
	go func() { done <- s.Run(ctx, c.emit) }()
	for deadline := time.Now().Add(time.Minute); fast.calls.Load() < 20; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fast sensor was read %d times in a minute beside a stuck one, want 20", fast.calls.Load())
		}
	}
	cancel()
	close(stuck.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := stuck.calls.Load(); n != 1 {
		t.Errorf("stuck sensor called %d times, want 1", n)
	}
}

func TestNew_Errors(t *testing.T) {
	d := &script{name: "d", results: []func() ([]sensor.Value, error){ok(sensor.Door{})}}
	for _, tc := range []struct {
		name string
		in   []Sensor
	}{
		{"empty name", []Sensor{{Dev: d, Interval: time.Second}}},
		{"repeated", []Sensor{{Name: "a", Dev: d, Interval: time.Second}, {Name: "a", Dev: d, Interval: time.Second}}},
		{"no device", []Sensor{{Name: "a", Interval: time.Second}}},
		{"interval", []Sensor{{Name: "a", Dev: d}}},
	} {
		if _, err := New(tc.in, Options{}); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}
