package system

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// The anchor section's poll and stuck_after reach the anchoring loop; left
// out, they are the loop's own defaults; Options.AnchorPoll overrides
// the poll.
func TestAnchorOptions_Timing(t *testing.T) {
	o := testOptions(t, t.TempDir(), nil)
	l, err := o.OpenLog(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const base = `version: 1
device: {type: gateway, fleet: sync-test, chain_id: 1337, data: /d, key: /k}
anchor:
  rpc: http://127.0.0.1:8545
  contract: "0x00000000000000000000000000000000000000aa"
`
	for _, tt := range []struct {
		name        string
		yaml        string
		override    time.Duration
		poll, stuck time.Duration
	}{
		{"defaults", "", 0, anchor.DefaultPoll, anchor.DefaultStuckAfter},
		{"configured", "  poll: 5s\n  stuck_after: 40s\n", 0, 5 * time.Second, 40 * time.Second},
		{"AnchorPoll overrides poll", "  poll: 5s\n  stuck_after: 40s\n", 100 * time.Millisecond, 100 * time.Millisecond, 40 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("waybill.yaml", []byte(base+tt.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			o, err := anchorOptions(&Options{Config: c, AnchorPoll: tt.override}, c.Anchor, l, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if o.Poll != tt.poll || o.StuckAfter != tt.stuck {
				t.Errorf("Poll %v, StuckAfter %v; want %v, %v", o.Poll, o.StuckAfter, tt.poll, tt.stuck)
			}
		})
	}
}
