// Package city simulates a city's devices publishing their feeds to a real
// MQTT broker, and watches them: Devices with real keys sign events and
// checkpoints as the agent does, each published by its own sync/feed
// Publisher (its own MQTT connection and persistent session, cursor and
// backoff), and an Observer hands what a subscribe.Subscriber receives to
// a watch.Watcher, checking that every event each device signed is
// verified exactly once and measuring the lag from signing to verdict.
//
// It is what the feed watcher's city figures in the README are measured
// with (BenchmarkCity_* in this package) and what its tests check at a
// small size.
package city

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Fleet and ChainID are the signing domain of the city's devices.
const (
	Fleet   = "city"
	ChainID = 1337
)

// Config configures a City.
type Config struct {
	// Devices is how many devices the city has.
	Devices int
	// Broker is the URL of the broker every device publishes to.
	Broker string
	// Dir is where the devices' feed cursors are kept.
	Dir string
	// CheckpointEvery is how many events a device appends between two
	// checkpoints it signs (default 6: one a minute at one event each
	// 10 s).
	CheckpointEvery int
	// Logger receives the publishers' logs; nil discards them.
	Logger *slog.Logger
}

// City is a set of devices and their feed publishers.
type City struct {
	Devices []*Device
	cfg     Config
	pubs    []*feed.Publisher
}

// New makes the city's devices, each with a new key, and their
// publishers; it connects nothing (Run does).
func New(cfg Config) (*City, error) {
	if cfg.Devices < 1 {
		return nil, fmt.Errorf("city: %d devices asked for", cfg.Devices)
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = 6
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &City{cfg: cfg}
	for i := range cfg.Devices {
		d, err := NewDevice(Fleet, ChainID)
		if err != nil {
			return nil, err
		}
		p, err := feed.New(d, feed.Options{
			Brokers:    []string{cfg.Broker},
			CursorFile: filepath.Join(cfg.Dir, "cursor-"+strconv.Itoa(i)),
			BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second,
			CursorInterval: time.Second,
			Logger:         cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("city: device %d: %w", i, err)
		}
		c.Devices, c.pubs = append(c.Devices, d), append(c.pubs, p)
	}
	return c, nil
}

// Trust returns the allowlist of the city's devices, one operator.
func (c *City) Trust() (watch.Trust, error) {
	op := watch.Operator{Name: "city"}
	for _, d := range c.Devices {
		t, err := d.Trust()
		if err != nil {
			return watch.Trust{}, err
		}
		op.Devices = append(op.Devices, t)
	}
	return watch.Trust{Operators: []watch.Operator{op}}, nil
}

// Run runs every device's publisher until ctx ends.
func (c *City) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.pubs))
	for i, p := range c.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = fmt.Errorf("city: device %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Append makes device i sign its next event at now, and a checkpoint when
// one is due, and tells its publisher.
func (c *City) Append(i int, now time.Time) error {
	d := c.Devices[i]
	seq, err := d.Append(now)
	if err != nil {
		return err
	}
	if (seq+1)%uint64(c.cfg.CheckpointEvery) == 0 {
		if err := d.Checkpoint(); err != nil {
			return err
		}
	}
	c.pubs[i].Notify()
	return nil
}

// Checkpoint makes every device sign a checkpoint of its whole log, and
// tells the publishers.
func (c *City) Checkpoint() error {
	for i, d := range c.Devices {
		if err := d.Checkpoint(); err != nil {
			return err
		}
		c.pubs[i].Notify()
	}
	return nil
}

// Drive makes every device append one event each interval, spread evenly
// over it, until ctx ends or until the devices appended n events each
// (n 0: no end). It returns nil when they did.
func (c *City) Drive(ctx context.Context, interval time.Duration, n int) error {
	step := interval / time.Duration(len(c.Devices))
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	total := n * len(c.Devices)
	for k := 0; n == 0 || k < total; {
		// Every append due by now, then wait for the next tick.
		for due := int(time.Since(start) / step); k <= due && (n == 0 || k < total); k++ {
			if err := c.Append(k%len(c.Devices), time.Now()); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Backlog makes every device append n events as fast as the machine signs
// them, with every core, and a checkpoint of its whole log at the end: a
// backlog that the publishers send once connected.
func (c *City) Backlog(ctx context.Context, n, workers int) error {
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(c.Devices); i += workers {
				for range n {
					if err := ctx.Err(); err != nil {
						errs[w] = err
						return
					}
					if _, err := c.Devices[i].Append(time.Now()); err != nil {
						errs[w] = err
						return
					}
				}
				if err := c.Devices[i].Checkpoint(); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, p := range c.pubs {
		p.Notify()
	}
	return nil
}

// Published returns how many events the broker acknowledged, over all
// devices.
func (c *City) Published() uint64 {
	var n uint64
	for _, p := range c.pubs {
		n += p.Status().Cursor
	}
	return n
}

// Size returns how many events the devices signed, over all devices.
func (c *City) Size() uint64 {
	var n uint64
	for _, d := range c.Devices {
		n += d.Size()
	}
	return n
}
