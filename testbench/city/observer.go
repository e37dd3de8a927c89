package city

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Observer hands the messages a subscriber receives to a watcher and keeps
// count of the verdicts: for every event of every device of the city, how
// many times it was verified (a duplicate is not a verification), and how
// long after it was signed. Its methods are safe for concurrent use.
type Observer struct {
	w     *watch.Watcher
	index map[event.Address]int
	devs  []*Device

	mu          sync.Mutex
	verified    [][]uint8 // device → seq → verifications
	events      uint64    // distinct events verified
	duplicates  uint64
	checkpoints uint64 // checkpoints concluded verified
	rejected    []watch.Verdict
	lags        []time.Duration // of each first verification, in order
	last        time.Time       // of the last first verification
	changed     chan struct{}   // closed when events changes
}

// NewObserver returns an observer of c's devices through w.
func NewObserver(c *City, w *watch.Watcher) *Observer {
	o := &Observer{w: w, index: map[event.Address]int{}, devs: c.Devices,
		verified: make([][]uint8, len(c.Devices)), changed: make(chan struct{})}
	for i, d := range c.Devices {
		o.index[d.Address()] = i
	}
	return o
}

// Handle is a subscribe.Handler: it passes the message to the watcher and
// counts the verdict. An archive error is returned, for the message to be
// delivered again.
func (o *Observer) Handle(ctx context.Context, topic string, payload []byte) error {
	v, err := o.w.Handle(ctx, topic, payload)
	if err != nil {
		return err
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checkpoints += uint64(len(v.Checkpoints))
	for _, c := range v.Checkpoints {
		if c.State != watch.StateVerified {
			o.rejected = append(o.rejected, c)
		}
	}
	switch {
	case v.State == watch.StateRejected:
		o.rejected = append(o.rejected, v)
	case v.Channel == feed.ChannelCheckpoints && v.State == watch.StateVerified:
		o.checkpoints++
	case v.Channel == feed.ChannelEvents && v.Duplicate:
		o.duplicates++
	case v.Channel == feed.ChannelEvents:
		i, ok := o.index[v.Device]
		if !ok {
			return fmt.Errorf("city: verdict for device %s, not of the city", v.Device)
		}
		vs := o.verified[i]
		if uint64(len(vs)) <= v.Seq {
			vs = append(vs, make([]uint8, v.Seq+1-uint64(len(vs)))...)
			o.verified[i] = vs
		}
		if vs[v.Seq] < 255 {
			vs[v.Seq]++
		}
		if vs[v.Seq] == 1 {
			o.events++
			o.lags = append(o.lags, now.Sub(o.devs[i].Signed(v.Seq)))
			o.last = now
			close(o.changed)
			o.changed = make(chan struct{})
		}
	}
	return nil
}

// Counts is what an Observer counted.
type Counts struct {
	Events      uint64 // distinct events verified
	Duplicates  uint64 // redelivered events dropped as duplicates
	Checkpoints uint64 // checkpoints verified
	Rejected    int    // messages and checkpoints rejected
	Last        time.Time
}

// Counts returns what o counted so far.
func (o *Observer) Counts() Counts {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Counts{Events: o.events, Duplicates: o.duplicates, Checkpoints: o.checkpoints, Rejected: len(o.rejected), Last: o.last}
}

// Wait waits until n distinct events were verified, or until ctx ends.
func (o *Observer) Wait(ctx context.Context, n uint64) error {
	for {
		o.mu.Lock()
		got, ch := o.events, o.changed
		o.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("city: %d of %d events verified: %w", got, n, ctx.Err())
		}
	}
}

// Check returns an error naming what is wrong unless every event every
// device signed was verified exactly once and nothing was rejected.
func (o *Observer) Check() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.rejected) > 0 {
		v := o.rejected[0]
		return fmt.Errorf("city: %d messages rejected; the first: %s seq %d size %d: %s: %v", len(o.rejected), v.Topic, v.Seq, v.Size, v.Reason, v.Err)
	}
	for i, d := range o.devs {
		n := d.Size()
		vs := o.verified[i]
		if uint64(len(vs)) > n {
			return fmt.Errorf("city: device %s: event %d verified, the device signed %d", d.Address(), len(vs)-1, n)
		}
		for seq := range n {
			if seq >= uint64(len(vs)) || vs[seq] != 1 {
				c := uint8(0)
				if seq < uint64(len(vs)) {
					c = vs[seq]
				}
				return fmt.Errorf("city: device %s: event %d verified %d times, want once", d.Address(), seq, c)
			}
		}
	}
	return nil
}

// Lags returns the lags from signing to verification of the events first
// verified from index from on (in the order of their verification), and
// the index to pass next time.
func (o *Observer) Lags(from int) (lags []time.Duration, next int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.lags[min(from, len(o.lags)):]), len(o.lags)
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of ds, or 0 if ds is empty.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
