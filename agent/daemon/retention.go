package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/retention"
)

// Policy turns the configuration's retention section into a policy.
func Policy(c *config.Retention) retention.Policy {
	return retention.Policy{MaxBytes: c.MaxBytes, HardBytes: c.HardBytes, MinFreeBytes: c.MinFreeBytes,
		OnFull: retention.Mode(c.OnFull), LowPriority: c.LowPriority}
}

// SegmentBytes is the segment size for the log under cfg: suited to its
// retention budget, or eventlog's default without one.
func SegmentBytes(cfg *config.Config) int64 {
	if cfg == nil || cfg.Retention == nil {
		return 0
	}
	return retention.SegmentBytes(cfg.Retention.MaxBytes)
}

// StartRetention starts the Keeper of cfg's retention section, or returns
// nil without one. Payloads may be pruned once every part of sy that runs
// is done with them: the feed (the broker acknowledged them and the cursor
// is persisted) and anchoring (a confirmed anchor covers them). now is the
// clock of refusal records (nil: the system clock).
//
// The Keeper runs as a part of sy: it stops when ctx is done or sy is
// closed, and sy.Wait waits for it before it closes the anchor store the
// Keeper consults.
func StartRetention(ctx context.Context, cfg *config.Config, l *eventlog.Log, sy *Sync, now func() time.Time, lg *slog.Logger) (*retention.Keeper, error) {
	if cfg.Retention == nil {
		return nil, nil
	}
	if sy == nil {
		return nil, errors.New("retention: no Sync to run under (StartSync returns one even without feed or anchor)")
	}
	var holds []retention.Hold
	if sy.Feed != nil {
		p := sy.Feed
		holds = append(holds, retention.Hold{Name: "feed", Done: func(origin string) uint64 {
			if st := p.Status(); st.Origin == origin {
				return st.Persisted
			}
			return 0
		}})
	}
	if sy.Anchor != nil {
		holds = append(holds, retention.Hold{Name: "anchor", Done: sy.Anchor.Anchored})
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("subsystem", "retention")
	k, err := retention.New(l, Policy(cfg.Retention), retention.Options{Holds: holds, Logger: lg, Now: now})
	if err != nil {
		return nil, err
	}
	if len(holds) == 0 {
		lg.Warn("retention has no feed or anchor to wait for: nothing will be pruned, and events are refused at the budget")
	}
	sy.run(func(syncCtx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer context.AfterFunc(syncCtx, cancel)()
		defer cancel()
		return k.Run(ctx)
	})
	return k, nil
}
