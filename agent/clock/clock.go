// Package clock gives events their time and says where it came from.
//
// A Raspberry Pi has no real-time clock and boots in 1970, so an event's time
// is only as good as its source. Clock picks the best source available at
// each call: a GNSS time observed recently (held over on the monotonic clock
// for HoldOver), else the kernel clock when NTP disciplines it, else the
// kernel clock set from a battery-backed RTC, else the kernel clock marked
// "unsynced". A time before the floor is never reported from any source but
// "unsynced".
//
// # Trusting GNSS time
//
// A receiver's UTC is the best clock a vehicle has, and its failures are
// known. [Clock.ObserveGNSS] takes a GNSS time only when all of these hold,
// and otherwise returns an error that wraps the reason's sentinel, for the
// agent to log and count:
//
//   - It is not before the floor ([ErrBeforeFloor]). Receivers that
//     resolve the GPS week number modulo 1024 report dates 19.6 years in
//     the past after a rollover (IS-GPS-200 §20.3.3.3.1.1: the broadcast
//     week number is 10 bits); a receiver's RTC before the first fix may
//     report its build date.
//   - It is within [MaxJump] of the expected time ([ErrFarOff]): the kernel
//     clock when NTP synchronizes it, else the last trusted GNSS time
//     advanced on the monotonic clock. This catches a rollover after the
//     floor, and a receiver that jumps.
//   - When the kernel clock is NTP-synchronized, it agrees with it: it may
//     be behind by up to [MaxLatency] (a fix is read after its epoch), and
//     ahead by no more than half a second. Ahead by more, up to
//     [MaxLeapSeconds] s, is the signature of a receiver that has not yet
//     received the UTC parameters (IS-GPS-200 §20.3.3.5.1.6, sent once
//     every 12.5 minutes) and reports GPS time, which is ahead of UTC by the
//     leap seconds (18 s since 2017) or by its firmware's stale default
//     ([ErrLeapSeconds]); GNSS is distrusted until it agrees. Latency can
//     only make GNSS look late, never early, so the two are told apart;
//     an offset of a second or two hidden by latency is not. Any other
//     disagreement is [ErrDisagrees].
//   - It is consistent with the previous observation: both advanced alike
//     on the local clock, within MaxLatency ([ErrUnconfirmed]). The first
//     observation is never taken, nor the first after a step, so a
//     receiver that corrects itself (the leap-second step of a receiver
//     without NTP to check it against) is followed one observation later.
//
// Only times of valid fixes should be observed; [Clock.ObserveFix] checks
// that ([ErrInvalidFix]). A trusted GNSS time learnt without NTP is the
// reference until the agent restarts or NTP synchronizes the kernel clock.
package clock

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/agent/event"
)

// HoldOver is how long a GNSS time observation keeps the clock at source
// "gnss" without a new one.
const HoldOver = 10 * time.Minute

// Limits of GNSS time trust; see the package documentation.
const (
	// MaxJump is how far a GNSS time may be from the expected time.
	MaxJump = 24 * time.Hour
	// MaxLatency is how late a GNSS time may be observed: the driver
	// returns an epoch's fix when the next epoch starts (1 s at 1 Hz), and
	// the sampler polls it up to a sensor interval later.
	MaxLatency = 3 * time.Second
	// MaxLeapSeconds is GPS time minus UTC since 2017-01-01 (IERS Bulletin
	// C 52): the largest offset of a receiver that reports GPS time.
	MaxLeapSeconds = 18
	// ahead is how far GNSS may be ahead of the NTP clock: NTP's error on
	// a LAN or LTE link, with margin.
	ahead = 500 * time.Millisecond
)

// Reasons a GNSS time is not trusted, wrapped by the errors of
// [Clock.ObserveGNSS] and [Clock.ObserveFix].
var (
	ErrBeforeFloor = errors.New("clock: GNSS time before the floor")
	ErrFarOff      = errors.New("clock: GNSS time more than a day from the expected time")
	ErrLeapSeconds = errors.New("clock: GNSS time ahead of the NTP clock by up to the leap seconds")
	ErrDisagrees   = errors.New("clock: GNSS time disagrees with the NTP clock")
	ErrUnconfirmed = errors.New("clock: GNSS time not confirmed by a consistent observation")
	ErrInvalidFix  = errors.New("clock: fix not valid or without a date")
)

// Clock is safe for concurrent use.
type Clock struct {
	floor  time.Time
	now    func() time.Time        // wall clock with monotonic reading
	system func() event.TimeSource // what disciplines the kernel clock

	mu      sync.Mutex
	gnss    time.Time // GNSS UTC at the last trusted observation
	gnssAt  time.Time // local clock reading (monotonic) at that observation
	hasGNSS bool
	obs     time.Time // GNSS UTC at the last observation, trusted or not
	obsAt   time.Time // local clock reading at that observation
	hasObs  bool
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

// ObserveGNSS records that the GNSS receiver reported UTC t now, and
// trusts it if the checks of the package documentation pass. It returns nil
// when t was taken, else an error wrapping ErrBeforeFloor, ErrFarOff,
// ErrLeapSeconds, ErrDisagrees or ErrUnconfirmed that says by how much.
func (c *Clock) ObserveGNSS(t time.Time) error {
	local := c.now()
	src := c.system()
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, prevAt, hadObs := c.obs, c.obsAt, c.hasObs
	c.obs, c.obsAt, c.hasObs = t, local, true
	if t.Before(c.floor) {
		return fmt.Errorf("%w: %s is before %s (GPS week rollover?)", ErrBeforeFloor, t.UTC().Format(time.RFC3339), c.floor.UTC().Format(time.RFC3339))
	}
	if src == event.SourceNTP && !local.Before(c.floor) {
		d := t.Sub(local)
		switch {
		case d > MaxJump || d < -MaxJump:
			return fmt.Errorf("%w: %s is %s from the NTP-synchronized kernel clock", ErrFarOff, t.UTC().Format(time.RFC3339), span(d))
		case d > ahead && d <= MaxLeapSeconds*time.Second+ahead:
			return fmt.Errorf("%w: %s ahead: the receiver reports GPS time, not UTC, until it has the UTC parameters", ErrLeapSeconds, d.Round(time.Millisecond))
		case d > ahead || d < -MaxLatency:
			return fmt.Errorf("%w: %s", ErrDisagrees, span(d))
		}
	} else if c.hasGNSS {
		expected := c.gnss.Add(local.Sub(c.gnssAt))
		if d := t.Sub(expected); d > MaxJump || d < -MaxJump {
			return fmt.Errorf("%w: %s is %s from the last trusted GNSS time advanced on the local clock", ErrFarOff, t.UTC().Format(time.RFC3339), span(d))
		}
	}
	if !hadObs {
		return fmt.Errorf("%w: first observation", ErrUnconfirmed)
	}
	if dev := t.Sub(prev) - local.Sub(prevAt); dev > MaxLatency || dev < -MaxLatency {
		return fmt.Errorf("%w: moved %s against the local clock since the previous observation", ErrUnconfirmed, span(dev))
	}
	c.gnss, c.gnssAt, c.hasGNSS = t, local, true
	return nil
}

// ObserveFix observes the time of a GNSS fix, given its Time and Valid
// (a sensor.Fix's fields): a fix that is not valid or has no date (a zero
// time) is not observed and returns ErrInvalidFix.
func (c *Clock) ObserveFix(t time.Time, valid bool) error {
	if !valid || t.IsZero() {
		return fmt.Errorf("%w (valid %t, time %v)", ErrInvalidFix, valid, t)
	}
	return c.ObserveGNSS(t)
}

// span formats d as "1.5s ahead" or "3h0m0s behind".
func span(d time.Duration) string {
	if d < 0 {
		return (-d).Round(time.Millisecond).String() + " behind"
	}
	return d.Round(time.Millisecond).String() + " ahead"
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
