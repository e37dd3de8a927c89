package config

import (
	"strings"
	"testing"
	"time"
)

// anchorTimingBase is an anchor section without poll or stuck_after; the
// cases append theirs on lines 6 and 7 of the file.
const anchorTimingBase = syncBase + `anchor:
  rpc: http://127.0.0.1:8545
  contract: "0x5fbdb2315678afecb367f032d93f642f64180aa3"
`

func TestParse_AnchorTiming(t *testing.T) {
	for _, tt := range []struct {
		name        string
		yaml        string
		poll, stuck time.Duration
	}{
		{"defaults", "", 15 * time.Second, 3 * time.Minute},
		{"both", "  poll: 5s\n  stuck_after: 90s\n", 5 * time.Second, 90 * time.Second},
		{"poll alone", "  poll: 1m\n", time.Minute, 3 * time.Minute},
		{"stuck_after alone", "  stuck_after: 1h\n", 15 * time.Second, time.Hour},
		{"lowest", "  poll: 1s\n  stuck_after: 10s\n", time.Second, 10 * time.Second},
		{"highest", "  poll: 10m\n  stuck_after: 24h\n", 10 * time.Minute, 24 * time.Hour},
		{"stuck_after equal to poll", "  poll: 2m\n  stuck_after: 2m\n", 2 * time.Minute, 2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("s.yaml", []byte(anchorTimingBase+tt.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			if a := c.Anchor; a.Poll != tt.poll || a.StuckAfter != tt.stuck {
				t.Errorf("poll %v, stuck_after %v; want %v, %v", a.Poll, a.StuckAfter, tt.poll, tt.stuck)
			}
		})
	}
}

func TestParse_AnchorTimingErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"poll below 1s", "  poll: 500ms\n", `s.yaml:6:9: anchor.poll: 500ms is out of range 1s..10m`},
		{"poll above 10m", "  poll: 11m\n", `s.yaml:6:9: anchor.poll: 11m is out of range 1s..10m`},
		{"poll zero", "  poll: 0\n", `s.yaml:6:9: anchor.poll: 0 is out of range 1s..10m`},
		{"poll negative", "  poll: -15s\n", `s.yaml:6:9: anchor.poll: -15s is out of range`},
		{"stuck_after below 10s", "  stuck_after: 5s\n", `s.yaml:6:16: anchor.stuck_after: 5s is out of range 10s..24h`},
		{"stuck_after above 24h", "  stuck_after: 25h\n", `s.yaml:6:16: anchor.stuck_after: 25h is out of range 10s..24h`},
		{"stuck_after below poll", "  poll: 1m\n  stuck_after: 30s\n", `s.yaml:7:16: anchor.stuck_after: stuck_after 30s is below poll 1m`},
		{"poll above the default stuck_after", "  poll: 5m\n", `s.yaml:6:9: anchor.poll: stuck_after 3m is below poll 5m`},
		{"poll a number", "  poll: 15\n", `s.yaml:6:9: anchor.poll: want a duration like 30s, got the number 15 (add a unit`},
		{"stuck_after a number", "  stuck_after: 180.5\n", `s.yaml:6:16: anchor.stuck_after: want a duration like 30s, got the number 180.5`},
		{"poll not a duration", "  poll: often\n", `s.yaml:6:9: anchor.poll: "often" is not a duration`},
		{"poll a list", "  poll: [15s]\n", `s.yaml:6:9: anchor.poll: want a duration like 30s`},
		{"stuck_after a bool", "  stuck_after: true\n", `s.yaml:6:16: anchor.stuck_after: want a duration like 30s`},
		{"unknown field", "  stuck: 3m\n", `s.yaml:6:3: anchor: unknown field "stuck"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(anchorTimingBase+tt.yaml), nil)
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error lacks %q:\n%v", tt.want, err)
			}
		})
	}
}
