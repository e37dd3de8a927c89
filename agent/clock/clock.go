// Package clock gives events their time and says where it came from.
//
// A Raspberry Pi has no real-time clock and boots in 1970, so an event's time
// is only as good as its source. Clock picks the best source available at
// each call: a GNSS time observed recently (held over on the monotonic clock
// for HoldOver), else the kernel clock when NTP disciplines it, else the
// kernel clock set from a battery-backed RTC, else the kernel clock marked
// "unsynced". A time before the floor is never reported from any source but
// "unsynced".
package clock

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/agent/event"
)

// HoldOver is how long a GNSS time observation keeps the clock at source
// "gnss" without a new one.
const HoldOver = 10 * time.Minute

// Clock is safe for concurrent use.
type Clock struct {
	floor  time.Time
	now    func() time.Time        // wall clock with monotonic reading
	system func() event.TimeSource // what disciplines the kernel clock

	mu      sync.Mutex
	gnss    time.Time // GNSS UTC at the observation
	gnssAt  time.Time // local clock reading (monotonic) at the observation
	hasGNSS bool
}

// New returns a clock with the given floor (use the later of
// event.TimeFloor and the build date).
func New(floor time.Time) *Clock {
	if floor.Before(event.TimeFloor) {
		floor = event.TimeFloor
	}
	return &Clock{floor: floor, now: time.Now, system: SystemSource}
}

// NewFixed returns a clock that reads now and reports src for the kernel
// clock: for replays and tests.
func NewFixed(floor time.Time, now func() time.Time, src event.TimeSource) *Clock {
	c := New(floor)
	c.now, c.system = now, func() event.TimeSource { return src }
	return c
}

// Floor returns the clock's floor.
func (c *Clock) Floor() time.Time { return c.floor }

// ObserveGNSS records that the GNSS receiver reported UTC t now. Times
// before the floor are ignored (week-rollover and cold-start bugs).
func (c *Clock) ObserveGNSS(t time.Time) {
	if t.Before(c.floor) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gnss, c.gnssAt, c.hasGNSS = t, c.now(), true
}

// Now returns the current time in Unix milliseconds and its source.
func (c *Clock) Now() (int64, event.TimeSource) {
	local := c.now()
	c.mu.Lock()
	if c.hasGNSS {
		if d := local.Sub(c.gnssAt); d >= 0 && d < HoldOver {
			t := c.gnss.Add(d)
			c.mu.Unlock()
			return t.UnixMilli(), event.SourceGNSS
		}
	}
	c.mu.Unlock()
	src := c.system()
	if src != event.SourceUnsynced && local.Before(c.floor) {
		src = event.SourceUnsynced
	}
	ms := local.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return ms, src
}

// SystemSource reports what sets the kernel clock: "ntp" when the kernel
// says it is synchronized (adjtimex), "rtc" when an RTC device exists, else
// "unsynced".
func SystemSource() event.TimeSource {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0 {
		return event.SourceNTP
	}
	if _, err := os.Stat("/dev/rtc0"); err == nil {
		return event.SourceRTC
	}
	return event.SourceUnsynced
}
