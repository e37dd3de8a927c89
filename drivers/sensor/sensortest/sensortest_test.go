package sensortest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func TestClock_Sleep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sleeps []time.Duration
		moved  time.Duration
	}{
		{"none", nil, 0},
		{"one", []time.Duration{2 * time.Millisecond}, 2 * time.Millisecond},
		{"several", []time.Duration{time.Second, 750 * time.Millisecond, time.Microsecond}, 1750*time.Millisecond + time.Microsecond},
		{"zero and negative", []time.Duration{0, -time.Second, time.Millisecond}, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock(t0)
			for _, d := range tc.sleeps {
				if err := c.Sleep(context.Background(), d); err != nil {
					t.Fatalf("Sleep(%v) = %v; want nil", d, err)
				}
			}
			if got, want := c.Now(), t0.Add(tc.moved); !got.Equal(want) {
				t.Errorf("Now() = %v; want %v", got, want)
			}
			if got := c.Sleeps(); !slices.Equal(got, tc.sleeps) {
				t.Errorf("Sleeps() = %v; want %v", got, tc.sleeps)
			}
		})
	}
}

func TestClock_SleepCanceled(t *testing.T) {
	c := NewClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a canceled context = %v; want %v", err, context.Canceled)
	}
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("Now() = %v; want %v (unmoved)", got, t0)
	}
	if got := c.Sleeps(); len(got) != 0 {
		t.Errorf("Sleeps() = %v; want none", got)
	}
}

func TestClock_OnSleep(t *testing.T) {
	c := NewClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	c.OnSleep = func() {
		calls++
		if calls == 2 {
			cancel()
		}
		_ = c.Now() // the lock is not held
	}
	if err := c.Sleep(ctx, time.Second); err != nil {
		t.Fatalf("first Sleep = %v; want nil", err)
	}
	if err := c.Sleep(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("second Sleep = %v; want %v", err, context.Canceled)
	}
	if calls != 2 {
		t.Errorf("OnSleep called %d times; want 2", calls)
	}
	if got, want := c.Sleeps(), []time.Duration{time.Second}; !slices.Equal(got, want) {
		t.Errorf("Sleeps() = %v; want %v", got, want)
	}
	if got, want := c.Now(), t0.Add(time.Second); !got.Equal(want) {
		t.Errorf("Now() = %v; want %v", got, want)
	}
}

func TestClock_SetAdvance(t *testing.T) {
	c := NewClock(t0)
	c.Advance(90 * time.Second)
	if got, want := c.Now(), t0.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance: Now() = %v; want %v", got, want)
	}
	c.Set(t0.Add(-time.Hour))
	if got, want := c.Now(), t0.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("after Set: Now() = %v; want %v", got, want)
	}
	if got := c.Sleeps(); len(got) != 0 {
		t.Errorf("Sleeps() = %v; want none (Set and Advance are not sleeps)", got)
	}
}

func TestClock_SleepsCopy(t *testing.T) {
	c := NewClock(t0)
	ctx := context.Background()
	_ = c.Sleep(ctx, time.Millisecond)
	first := c.Sleeps()
	first[0] = time.Hour
	_ = c.Sleep(ctx, 2*time.Millisecond)
	all := c.Sleeps()
	if want := []time.Duration{time.Millisecond, 2 * time.Millisecond}; !slices.Equal(all, want) {
		t.Errorf("Sleeps() = %v; want %v (a caller's change leaked in)", all, want)
	}
	if got, want := all[len(first):], []time.Duration{2 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("sleeps since the first call = %v; want %v", got, want)
	}
}

func TestClock_Concurrent(t *testing.T) {
	const goroutines, each = 8, 100
	c := NewClock(t0)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				_ = c.Sleep(context.Background(), time.Millisecond)
				c.Advance(time.Millisecond)
				_ = c.Now()
				_ = c.Sleeps()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), t0.Add(2*goroutines*each*time.Millisecond); !got.Equal(want) {
		t.Errorf("Now() = %v; want %v", got, want)
	}
	if got, want := len(c.Sleeps()), goroutines*each; got != want {
		t.Errorf("%d sleeps recorded; want %d", got, want)
	}
}
