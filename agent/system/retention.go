package system

import (
	"log/slog"
	"time"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/feed"
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

// newKeeper builds the Keeper of the retention section c. Payloads may be
// pruned once every part downstream of the log that runs is done with
// them: the feed (the broker acknowledged them and the cursor is persisted)
// and anchoring (a confirmed anchor covers them). now is the clock of
// refusal records (nil: the system clock).
func newKeeper(c *config.Retention, l *eventlog.Log, p *feed.Publisher, a *anchor.Anchorer, now func() time.Time, lg *slog.Logger) (*retention.Keeper, error) {
	var holds []retention.Hold
	if p != nil {
		holds = append(holds, retention.Hold{Name: "feed", Done: func(origin string) uint64 {
			if st := p.Status(); st.Origin == origin {
				return st.Persisted
			}
			return 0
		}})
	}
	if a != nil {
		holds = append(holds, retention.Hold{Name: "anchor", Done: a.Anchored})
	}
	k, err := retention.New(l, Policy(c), retention.Options{Holds: holds, Logger: lg, Now: now})
	if err != nil {
		return nil, err
	}
	if len(holds) == 0 {
		lg.Warn("retention has no feed or anchor to wait for: nothing will be pruned, and events are refused at the budget")
	}
	return k, nil
}
