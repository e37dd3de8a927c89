package clock

import (
	"errors"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
)

// week1024 is the GPS week-number rollover period: 1024 weeks, 19.6 years.
const week1024 = 1024 * 7 * 24 * time.Hour

var floor2026 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fake is the local clock and kernel clock discipline of a test.
type fake struct {
	now time.Time
	src event.TimeSource
}

func newFake(floor, now time.Time, src event.TimeSource) (*Clock, *fake) {
	f := &fake{now: now, src: src}
	c := NewFixed(floor, func() time.Time { return f.now }, src)
	c.system = func() event.TimeSource { return f.src }
	return c, f
}

func TestClock_BestSourceWins(t *testing.T) {
	boot := time.Unix(3600, 0) // a Pi that booted in 1970
	c, f := newFake(floor2026, boot, event.SourceRTC)
	if ms, src := c.Now(); src != event.SourceUnsynced || ms != boot.UnixMilli() {
		t.Fatalf("before any fix: %d %s; want %d unsynced (an rtc time before the floor is not trusted)", ms, src, boot.UnixMilli())
	}
	fix := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	if err := c.ObserveGNSS(fix); !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("first observation: %v; want ErrUnconfirmed", err)
	}
	if _, src := c.Now(); src != event.SourceUnsynced {
		t.Fatalf("after one observation: %s; want unsynced", src)
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveGNSS(fix.Add(time.Second)); err != nil {
		t.Fatalf("second observation: %v", err)
	}
	f.now = f.now.Add(1500 * time.Millisecond)
	if ms, src := c.Now(); src != event.SourceGNSS || ms != fix.Add(2500*time.Millisecond).UnixMilli() {
		t.Fatalf("after fix: %d %s; want gnss time held over", ms, src)
	}
	f.now = f.now.Add(HoldOver)
	if _, src := c.Now(); src != event.SourceUnsynced {
		t.Fatalf("after holdover: %s; want unsynced", src)
	}
}

func TestClock_RejectsGNSSBeforeFloor(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	c, _ := newFake(floor2026, now, event.SourceNTP)
	err := c.ObserveGNSS(time.Date(2006, 9, 17, 0, 0, 0, 0, time.UTC)) // a week-rollover date
	if !errors.Is(err, ErrBeforeFloor) {
		t.Fatalf("ObserveGNSS = %v, want ErrBeforeFloor", err)
	}
	if ms, src := c.Now(); src != event.SourceNTP || ms != now.UnixMilli() {
		t.Fatalf("Now = %d %s; want the ntp clock, the bad GNSS date ignored", ms, src)
	}
}

func TestClock_FloorIsAtLeastProtocolFloor(t *testing.T) {
	if c := New(time.Unix(0, 0)); !c.Floor().Equal(event.TimeFloor) {
		t.Fatalf("Floor = %v, want %v", c.Floor(), event.TimeFloor)
	}
}

// observe makes two observations one second apart, GNSS reporting the
// local clock plus off, and returns the second's error.
func observe(c *Clock, f *fake, off time.Duration) error {
	c.ObserveGNSS(f.now.Add(off))
	f.now = f.now.Add(time.Second)
	return c.ObserveGNSS(f.now.Add(off))
}

// TestClock_AgainstNTP: with the kernel clock NTP-synchronized, GNSS may
// lag it by the latency of a fix, not lead it; a lead of up to the leap
// seconds is a receiver reporting GPS time.
func TestClock_AgainstNTP(t *testing.T) {
	cases := []struct {
		off  time.Duration // GNSS minus the kernel clock
		want error
	}{
		{0, nil},
		{-300 * time.Millisecond, nil}, // sentences read after the epoch
		{400 * time.Millisecond, nil},  // NTP's own error
		{-MaxLatency, nil},
		{-MaxLatency - time.Millisecond, ErrDisagrees},
		{600 * time.Millisecond, ErrLeapSeconds},
		{time.Second, ErrLeapSeconds},
		{17*time.Second + 700*time.Millisecond, ErrLeapSeconds}, // GPS−UTC = 18 s, read 300 ms late
		{18*time.Second + 500*time.Millisecond, ErrLeapSeconds},
		{19 * time.Second, ErrDisagrees},
		{-time.Hour, ErrDisagrees}, // a receiver reporting local time
		{25 * time.Hour, ErrFarOff},
		{-25 * time.Hour, ErrFarOff},
		{week1024, ErrFarOff},
	}
	for _, c := range cases {
		clk, f := newFake(floor2026, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), event.SourceNTP)
		err := observe(clk, f, c.off)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("GNSS %v off NTP: %v, want %v", c.off, err, c.want)
		}
		_, src := clk.Now()
		if want := map[bool]event.TimeSource{true: event.SourceGNSS, false: event.SourceNTP}[c.want == nil]; src != want {
			t.Errorf("GNSS %v off NTP: Now source %s, want %s", c.off, src, want)
		}
	}
}

// TestClock_WeekRollover: a receiver resolving the week number modulo
// 1024 reports a date 19.6 years off. Before the floor it is caught by the
// floor; after it (a 2045 rollover lands in 2025), by the expected time.
func TestClock_WeekRollover(t *testing.T) {
	now := time.Date(2045, 6, 1, 0, 0, 0, 0, time.UTC)
	c, f := newFake(event.TimeFloor, now, event.SourceNTP)
	if err := observe(c, f, -week1024); !errors.Is(err, ErrFarOff) {
		t.Fatalf("rollover with NTP: %v, want ErrFarOff", err)
	}
	// Without NTP the reference is the last trusted GNSS time.
	c, f = newFake(event.TimeFloor, now, event.SourceRTC)
	if err := observe(c, f, 0); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(5 * time.Minute)
	if err := observe(c, f, -week1024); !errors.Is(err, ErrFarOff) {
		t.Fatalf("rollover without NTP: %v, want ErrFarOff", err)
	}
	if ms, src := c.Now(); src != event.SourceGNSS || ms != f.now.UnixMilli() {
		t.Fatalf("Now = %d %s; want the trusted GNSS time held over", ms, src)
	}
}

// TestClock_Jump: without NTP, a receiver that jumps by more than a day
// from the trusted GNSS time is not followed; one that steps by less is,
// once the step is confirmed.
func TestClock_Jump(t *testing.T) {
	c, f := newFake(floor2026, time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), event.SourceUnsynced)
	if err := observe(c, f, 0); err != nil {
		t.Fatal(err)
	}
	for _, jump := range []time.Duration{-72 * time.Hour, 25 * time.Hour, week1024} {
		f.now = f.now.Add(time.Second)
		if err := observe(c, f, jump); !errors.Is(err, ErrFarOff) {
			t.Errorf("jump %v: %v, want ErrFarOff", jump, err)
		}
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveGNSS(f.now.Add(-time.Hour)); !errors.Is(err, ErrUnconfirmed) {
		t.Errorf("a one-hour step: %v, want ErrUnconfirmed", err)
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveGNSS(f.now.Add(-time.Hour)); err != nil {
		t.Errorf("the step confirmed: %v", err)
	}
}

// TestClock_ColdStartLeapSeconds: old firmware reports GPS time (UTC + 18 s)
// until it has the UTC parameters. With NTP, GNSS is distrusted until it
// agrees; then it is taken after one confirming observation.
func TestClock_ColdStartLeapSeconds(t *testing.T) {
	c, f := newFake(floor2026, time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), event.SourceNTP)
	const latency = 300 * time.Millisecond
	gps := 18*time.Second - latency
	for i := 0; i < 5; i++ {
		err := c.ObserveGNSS(f.now.Add(gps))
		if !errors.Is(err, ErrLeapSeconds) {
			t.Fatalf("epoch %d: %v, want ErrLeapSeconds", i, err)
		}
		if _, src := c.Now(); src != event.SourceNTP {
			t.Fatalf("epoch %d: Now source %s, want ntp", i, src)
		}
		f.now = f.now.Add(time.Second)
	}
	// UTC parameters received: the receiver steps back 18 s.
	if err := c.ObserveGNSS(f.now.Add(-latency)); !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("first UTC epoch: %v, want ErrUnconfirmed", err)
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveGNSS(f.now.Add(-latency)); err != nil {
		t.Fatalf("second UTC epoch: %v", err)
	}
	if ms, src := c.Now(); src != event.SourceGNSS || ms != f.now.Add(-latency).UnixMilli() {
		t.Fatalf("Now = %d %s, want the GNSS time", ms, src)
	}
}

// TestClock_ColdStartWithoutNTP: with nothing to compare against, GPS time
// is taken once consistent, and the receiver's later step to UTC is
// followed one observation after it.
func TestClock_ColdStartWithoutNTP(t *testing.T) {
	c, f := newFake(floor2026, time.Unix(60, 0), event.SourceUnsynced) // booted in 1970
	utc := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	gnss := func() time.Time { return utc.Add(f.now.Sub(time.Unix(60, 0))) }
	if err := observe(c, f, gnss().Add(18*time.Second).Sub(f.now)); err != nil {
		t.Fatalf("GPS time, consistent: %v", err)
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveGNSS(gnss()); !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("the step to UTC: %v, want ErrUnconfirmed", err)
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveGNSS(gnss()); err != nil {
		t.Fatalf("UTC confirmed: %v", err)
	}
	if ms, src := c.Now(); src != event.SourceGNSS || ms != gnss().UnixMilli() {
		t.Fatalf("Now = %d %s, want UTC from GNSS", ms, src)
	}
}

// TestClock_Inconsistent: a receiver whose time does not advance with the
// local clock is never taken.
func TestClock_Inconsistent(t *testing.T) {
	c, f := newFake(floor2026, time.Unix(60, 0), event.SourceUnsynced)
	utc := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		err := c.ObserveGNSS(utc.Add(time.Duration(i) * 10 * time.Second)) // 10 s per 1 s
		if !errors.Is(err, ErrUnconfirmed) {
			t.Fatalf("observation %d: %v, want ErrUnconfirmed", i, err)
		}
		f.now = f.now.Add(time.Second)
	}
	if _, src := c.Now(); src != event.SourceUnsynced {
		t.Fatalf("Now source %s, want unsynced", src)
	}
}

func TestClock_ObserveFix(t *testing.T) {
	c, f := newFake(floor2026, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), event.SourceNTP)
	if err := c.ObserveFix(f.now, false); !errors.Is(err, ErrInvalidFix) {
		t.Errorf("invalid fix: %v", err)
	}
	if err := c.ObserveFix(time.Time{}, true); !errors.Is(err, ErrInvalidFix) {
		t.Errorf("fix without a date: %v", err)
	}
	if err := c.ObserveFix(f.now, true); !errors.Is(err, ErrUnconfirmed) {
		t.Errorf("first valid fix: %v", err)
	}
	f.now = f.now.Add(time.Second)
	if err := c.ObserveFix(f.now, true); err != nil {
		t.Errorf("second valid fix: %v", err)
	}
}

func TestSystemSource_Valid(t *testing.T) {
	if src := SystemSource(); !src.Valid() {
		t.Fatalf("SystemSource = %q", src)
	}
}
