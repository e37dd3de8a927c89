package clock

import (
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
)

func TestClock_BestSourceWins(t *testing.T) {
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	boot := time.Unix(3600, 0) // a Pi that booted in 1970
	now := boot
	c := NewFixed(floor, func() time.Time { return now }, event.SourceRTC)
	if ms, src := c.Now(); src != event.SourceUnsynced || ms != boot.UnixMilli() {
		t.Fatalf("before any fix: %d %s; want %d unsynced (an rtc time before the floor is not trusted)", ms, src, boot.UnixMilli())
	}
	fix := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	c.ObserveGNSS(fix)
	now = now.Add(1500 * time.Millisecond)
	if ms, src := c.Now(); src != event.SourceGNSS || ms != fix.Add(1500*time.Millisecond).UnixMilli() {
		t.Fatalf("after fix: %d %s; want gnss time held over", ms, src)
	}
	now = now.Add(HoldOver)
	if _, src := c.Now(); src != event.SourceUnsynced {
		t.Fatalf("after holdover: %s; want unsynced", src)
	}
}

func TestClock_RejectsGNSSBeforeFloor(t *testing.T) {
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	c := NewFixed(floor, func() time.Time { return now }, event.SourceNTP)
	c.ObserveGNSS(time.Date(2006, 9, 17, 0, 0, 0, 0, time.UTC)) // a week-rollover date
	if ms, src := c.Now(); src != event.SourceNTP || ms != now.UnixMilli() {
		t.Fatalf("Now = %d %s; want the ntp clock, the bad GNSS date ignored", ms, src)
	}
}

func TestClock_FloorIsAtLeastProtocolFloor(t *testing.T) {
	if c := New(time.Unix(0, 0)); !c.Floor().Equal(event.TimeFloor) {
		t.Fatalf("Floor = %v, want %v", c.Floor(), event.TimeFloor)
	}
}

func TestSystemSource_Valid(t *testing.T) {
	if src := SystemSource(); !src.Valid() {
		t.Fatalf("SystemSource = %q", src)
	}
}
