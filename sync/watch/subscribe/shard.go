package subscribe

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/feed"
)

// MaxShards is the largest shard count.
const MaxShards = 1 << 16

// Shard is one watcher's share of the devices when several watchers split
// a city (firmware-docs/FEED.md §9): the watcher of shard Index takes the
// devices d with ShardOf(d, Count) == Index. The zero Shard (Count 0) is
// unsharded: every device.
type Shard struct {
	Index, Count int
}

// Validate checks that the shard is unsharded or has 0 ≤ Index < Count ≤
// MaxShards.
func (s Shard) Validate() error {
	switch {
	case s.Count == 0 && s.Index == 0:
		return nil
	case s.Count < 1 || s.Count > MaxShards:
		return fmt.Errorf("subscribe: shard count %d is out of range (1 to %d, or 0 for unsharded)", s.Count, MaxShards)
	case s.Index < 0 || s.Index >= s.Count:
		return fmt.Errorf("subscribe: shard index %d is out of range (0 to %d for a count of %d)", s.Index, s.Count-1, s.Count)
	}
	return nil
}

// String returns "Index/Count", or "all" for the unsharded Shard.
func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Owns reports whether the shard takes device. An invalid shard owns
// nothing.
func (s Shard) Owns(device event.Address) bool {
	if s.Validate() != nil {
		return false
	}
	return s.Count == 0 || ShardOf(device, s.Count) == s.Index
}

// OwnsTopic reports whether the shard takes the messages of topic: a feed
// topic of a device it owns, or a topic that is not a feed topic (which
// the handler reports as such: no watcher may drop it unseen).
func (s Shard) OwnsTopic(topic string) bool {
	_, device, _, err := feed.ParseTopic(topic)
	return err != nil || s.Owns(device)
}

// ShardOf returns the shard of device among count shards: the jump
// consistent hash (Lamping and Veach, "A Fast, Minimal Memory, Consistent
// Hash Algorithm", 2014) of the first 8 bytes of the address read as a
// big-endian integer. When count grows by one, only the devices that the
// new shard takes change shard. It returns 0 when count < 1 and panics
// never.
func ShardOf(device event.Address, count int) int {
	if count <= 1 {
		return 0
	}
	return int(jump(binary.BigEndian.Uint64(device[:8]), min(count, MaxShards)))
}

// jump is the jump consistent hash of key among buckets (≥ 1), as
// published with the paper.
func jump(key uint64, buckets int) int64 {
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return b
}

// FleetFilter returns the filter of every topic of every device of fleet:
// waybill/v1/{fleet}/+/+.
func FleetFilter(fleet string) string {
	return feed.TopicRoot + "/" + fleet + "/+/+"
}

// DeviceFilter returns the filter of every topic of one device:
// waybill/v1/{fleet}/{device}/+.
func DeviceFilter(fleet string, device event.Address) string {
	return feed.TopicRoot + "/" + fleet + "/" + device.String() + "/+"
}

// Device names a device of the allowlist for ShardFilters.
type Device struct {
	Fleet   string
	Address event.Address
}

// ShardFilters returns the DeviceFilter of every device that s owns, in
// the order of devices, each once.
func ShardFilters(s Shard, devices []Device) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range devices {
		f := DeviceFilter(d.Fleet, d.Address)
		if s.Owns(d.Address) && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// checkFilter checks an MQTT topic filter (MQTT 3.1.1 §4.7): not empty,
// at most 65,535 bytes of UTF-8 without U+0000, '+' only as a whole level
// and '#' only as the whole last level.
func checkFilter(f string) error {
	switch {
	case f == "":
		return fmt.Errorf("empty topic filter")
	case len(f) > 65535:
		return fmt.Errorf("topic filter of %d bytes (at most 65,535)", len(f))
	case !utf8Valid(f):
		return fmt.Errorf("topic filter %q is not UTF-8 without U+0000", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("topic filter %q: '#' is not the last level", f)
		case l != "#" && strings.Contains(l, "#"):
			return fmt.Errorf("topic filter %q: '#' is not a whole level", f)
		case l != "+" && strings.Contains(l, "+"):
			return fmt.Errorf("topic filter %q: '+' is not a whole level", f)
		}
	}
	return nil
}

func utf8Valid(s string) bool {
	return utf8.ValidString(s) && !strings.Contains(s, "\x00")
}
