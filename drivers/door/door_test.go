package door

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// t0 is when every test's clock starts.
var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// reedPin is a gpiotest.Pin whose level is driven by the switch: In selects
// the pull but, unlike gpiotest.Pin on its own, does not move a level the
// switch holds. Edges are fed through EdgesChan as usual.
type reedPin struct{ *gpiotest.Pin }

func (p reedPin) In(pull gpio.Pull, edge gpio.Edge) error {
	l := p.Read()
	err := p.Pin.In(pull, edge)
	_ = p.Out(l)
	return err
}

func newPin(l gpio.Level) reedPin {
	return reedPin{&gpiotest.Pin{N: "GPIO17", Num: 17, L: l, EdgesChan: make(chan gpio.Level, 2*maxEdges)}}
}

// step is one Sense of a scripted test: at offset ms after t0, with these
// edges fed first (the last one is the level Sense reads).
type step struct {
	ms    int
	edges []gpio.Level
	want  []sensor.Value
}

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func opened(ms int) sensor.Door { return sensor.Door{Open: true, At: at(ms)} }
func closed(ms int) sensor.Door { return sensor.Door{Open: false, At: at(ms)} }

const H, L = gpio.High, gpio.Low

func TestDev_Sense(t *testing.T) {
	low := DefaultOptions
	low.OpenLevel = gpio.Low
	noDebounce := DefaultOptions
	noDebounce.Debounce = 0
	tests := []struct {
		name  string
		opts  Options
		start gpio.Level
		steps []step
	}{
		{"initial closed", DefaultOptions, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{100, nil, nil},
		}},
		{"initial open", DefaultOptions, H, []step{
			{0, nil, []sensor.Value{opened(0)}},
			{100, nil, nil},
		}},
		{"open", DefaultOptions, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{1000, []gpio.Level{H}, nil}, // first edge: not settled yet
			{1040, nil, nil},             // held 40 ms < 50 ms
			{1100, nil, []sensor.Value{opened(1000)}},
			{1200, nil, nil},
		}},
		{"close", DefaultOptions, H, []step{
			{0, nil, []sensor.Value{opened(0)}},
			{500, []gpio.Level{L}, nil},
			{600, nil, []sensor.Value{closed(500)}},
		}},
		{"open and close", DefaultOptions, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{100, []gpio.Level{H}, nil},
			{200, nil, []sensor.Value{opened(100)}},
			{300, []gpio.Level{L}, nil},
			{400, nil, []sensor.Value{closed(300)}},
		}},
		{"bounce suppressed", DefaultOptions, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{1000, []gpio.Level{H}, nil},
			{1020, []gpio.Level{L}, nil}, // back to closed within 50 ms
			{1100, nil, nil},
			{1200, nil, nil},
		}},
		{"bounce between reads suppressed", DefaultOptions, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{1000, []gpio.Level{H, L, H, L}, nil},
			{1100, nil, nil},
		}},
		{"bounce then settle", DefaultOptions, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{1000, []gpio.Level{H, L, H}, nil},
			{1020, []gpio.Level{L}, nil},
			{1040, []gpio.Level{H}, nil},
			{1080, nil, nil}, // 40 ms since the last edge
			{1090, nil, []sensor.Value{opened(1000)}},
		}},
		{"debounce 0", noDebounce, L, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{1000, []gpio.Level{H}, []sensor.Value{opened(1000)}},
			{1001, []gpio.Level{L}, []sensor.Value{closed(1001)}},
			{1002, []gpio.Level{H, L}, nil},
		}},
		{"change on the first read", DefaultOptions, L, []step{
			{10, []gpio.Level{H}, []sensor.Value{closed(0)}},
			{100, nil, []sensor.Value{opened(10)}},
		}},
		{"inverted open level", low, H, []step{
			{0, nil, []sensor.Value{closed(0)}},
			{1000, []gpio.Level{L}, nil},
			{1100, nil, []sensor.Value{opened(1000)}},
			{2000, []gpio.Level{H}, nil},
			{2100, nil, []sensor.Value{closed(2000)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := sensortest.NewClock(t0)
			opts := tt.opts
			opts.Clock = clk
			pin := newPin(tt.start)
			d, err := New(context.Background(), pin, &opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				clk.Set(at(s.ms))
				for _, e := range s.edges {
					pin.EdgesChan <- e
				}
				got, err := d.Sense(context.Background())
				if err != nil {
					t.Fatalf("Sense at %d ms: %v", s.ms, err)
				}
				if !reflect.DeepEqual(got, s.want) {
					t.Fatalf("Sense at %d ms = %v, want %v", s.ms, got, s.want)
				}
			}
		})
	}
}

func TestNew_Pull(t *testing.T) {
	for _, tt := range []struct {
		open gpio.Level
		pull gpio.Pull
	}{{gpio.High, gpio.PullUp}, {gpio.Low, gpio.PullDown}} {
		pin := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 1)}
		opts := DefaultOptions
		opts.OpenLevel = tt.open
		if _, err := New(context.Background(), pin, &opts); err != nil {
			t.Fatal(err)
		}
		if pin.Pull() != tt.pull {
			t.Errorf("OpenLevel %s: pull = %s, want %s", tt.open, pin.Pull(), tt.pull)
		}
	}
}

func TestNew_NilOptions(t *testing.T) {
	pin := newPin(L)
	d, err := New(context.Background(), pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.openLevel != gpio.High || d.debounce != 50*time.Millisecond || pin.Pull() != gpio.PullUp {
		t.Errorf("nil options: open level %s, debounce %v, pull %s; want High, 50ms, PullUp", d.openLevel, d.debounce, pin.Pull())
	}
	if got, want := d.String(), "door on GPIO17"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name string
		pin  gpio.PinIn
		opts Options
		want error
	}{
		{"no pin", nil, DefaultOptions, sensor.ErrConfig},
		{"negative debounce", newPin(L), Options{OpenLevel: H, Debounce: -time.Millisecond}, sensor.ErrConfig},
		{"debounce too long", newPin(L), Options{OpenLevel: H, Debounce: MaxDebounce + 1}, sensor.ErrConfig},
		// gpiotest.Pin refuses edge detection without an EdgesChan, as a
		// line without interrupt support does.
		{"pin refuses edges", &gpiotest.Pin{N: "GPIO17"}, DefaultOptions, sensor.ErrBus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.pin, &tt.opts)
			var e *sensor.Error
			if !errors.As(err, &e) || !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want a *sensor.Error wrapping %v", err, tt.want)
			}
			if e.Device != "door" {
				t.Errorf("Device = %q, want door", e.Device)
			}
		})
	}
	t.Run("debounce limits accepted", func(t *testing.T) {
		for _, db := range []time.Duration{0, MaxDebounce} {
			if _, err := New(context.Background(), newPin(L), &Options{OpenLevel: H, Debounce: db}); err != nil {
				t.Errorf("Debounce %v: %v", db, err)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := New(ctx, newPin(L), nil); !errors.Is(err, context.Canceled) {
			t.Errorf("New = %v, want context.Canceled", err)
		}
	})
}

// TestDev_SpuriousEdgeStorm simulates broken edge detection (sysfs on
// kernel 6.6+): every wait reports an edge and the level never changes.
func TestDev_SpuriousEdgeStorm(t *testing.T) {
	clk := sensortest.NewClock(t0)
	opts := DefaultOptions
	opts.Clock = clk
	pin := newPin(L)
	d, err := New(context.Background(), pin, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sense(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range maxSpurious + 10 {
		pin.EdgesChan <- L
	}
	clk.Set(at(100))
	got, err := d.Sense(context.Background())
	var e *sensor.Error
	if !errors.As(err, &e) || !errors.Is(err, sensor.ErrBus) || e.Step != "wait for edge" || e.Bus != "GPIO17" {
		t.Fatalf("Sense = %v, %v; want a *sensor.Error at step \"wait for edge\" on GPIO17 wrapping ErrBus", got, err)
	}
	if !e.Retryable() {
		t.Error("storm error is not retryable")
	}

	// The storm ends: the driver reads changes again.
	for len(pin.EdgesChan) > 0 {
		<-pin.EdgesChan
	}
	pin.EdgesChan <- H
	clk.Set(at(200))
	if got, err := d.Sense(context.Background()); err != nil || got != nil {
		t.Fatalf("Sense after the storm = %v, %v; want nothing yet", got, err)
	}
	clk.Set(at(300))
	got, err = d.Sense(context.Background())
	if want := []sensor.Value{opened(200)}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Sense = %v, %v; want %v", got, err, want)
	}
}

// TestDev_BouncesAreNotAStorm feeds a burst of real bounces (alternating
// levels) longer than the spurious-edge bound.
func TestDev_BouncesAreNotAStorm(t *testing.T) {
	clk := sensortest.NewClock(t0)
	opts := DefaultOptions
	opts.Clock = clk
	pin := newPin(L)
	d, err := New(context.Background(), pin, &opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxSpurious {
		pin.EdgesChan <- gpio.Level(i%2 == 0)
	}
	if _, err := d.Sense(context.Background()); err != nil {
		t.Fatalf("Sense: %v", err)
	}
}

func TestDev_DrainIsBounded(t *testing.T) {
	clk := sensortest.NewClock(t0)
	opts := DefaultOptions
	opts.Clock = clk
	pin := newPin(L)
	d, err := New(context.Background(), pin, &opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxEdges + 10 {
		pin.EdgesChan <- gpio.Level(i%2 == 0)
	}
	if _, err := d.Sense(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(pin.EdgesChan); n != 10 {
		t.Errorf("%d edges left after one Sense, want 10", n)
	}
}

func TestDev_SenseCancelled(t *testing.T) {
	d, err := New(context.Background(), newPin(L), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Sense(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sense = %v, want context.Canceled", err)
	}
}

func TestDev_String(t *testing.T) {
	opts := DefaultOptions
	opts.Name = "rear-door"
	d, err := New(context.Background(), newPin(L), &opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), "door rear-door on GPIO17"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := d.Halt(); err != nil {
		t.Errorf("Halt() = %v", err)
	}
}
