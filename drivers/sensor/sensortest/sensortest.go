// Package sensortest provides a manual [sensor.Clock] for driver tests, as
// periph's i2ctest provides a fake i2c.Bus: time stands still until the test
// or the driver moves it, and a driver's waits take no real time.
package sensortest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Clock is a [sensor.Clock] that moves only when told: by Sleep, which
// returns at once having moved the time on, or by Set and Advance. It
// records every duration slept, so a test can check a driver's waits
// against the datasheet's timings. It is safe for concurrent use.
type Clock struct {
	// OnSleep, or nil, is called at the start of each Sleep, before ctx is
	// checked; a test can cancel ctx there to stop a driver during a wait.
	// Set it before the clock is shared. It is called without the clock's
	// lock held, so it may call the clock's methods.
	OnSleep func()

	mu    sync.Mutex
	now   time.Time       // guarded by mu
	slept []time.Duration // guarded by mu; every d Sleep accepted, in order
}

// NewClock returns a clock that reads t until moved.
func NewClock(t time.Time) *Clock {
	return &Clock{now: t}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep calls OnSleep, then returns ctx.Err() if ctx is done, leaving the
// clock as it was. Otherwise it records d, moves the clock on by d and
// returns nil at once. A d of zero or less is recorded but does not move
// the clock: as on [sensor.SystemClock], such a sleep takes no time.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if c.OnSleep != nil {
		c.OnSleep()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	return nil
}

// Set moves the clock to t, forward or back. It records no sleep.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d, as time passing outside the driver. It
// records no sleep.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleeps returns every duration Sleep has accepted so far, in order, as a
// new slice the caller may keep. To see the sleeps of one step, take
// len(Sleeps()) before it and slice the result after it from there.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

var _ sensor.Clock = (*Clock)(nil)
