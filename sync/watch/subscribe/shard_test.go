package subscribe

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
)

// TestJump: the jump hash gives the results other implementations give.
func TestJump(t *testing.T) {
	for _, c := range []struct {
		key     uint64
		buckets int
		want    int64
	}{
		{256, 1024, 520},
		{10863919174838991, 11, 6},
		{2016238256797177309, 11, 3},
		{0, 1, 0},
		{1<<64 - 1, 1, 0},
	} {
		if got := jump(c.key, c.buckets); got != c.want {
			t.Errorf("jump(%d, %d) = %d, want %d", c.key, c.buckets, got, c.want)
		}
	}
}

// TestShardOf_Vectors: the vectors of firmware-docs/FEED.md §9.
func TestShardOf_Vectors(t *testing.T) {
	doc, err := os.ReadFile("../../../firmware-docs/FEED.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "## 9. Watchers and topic shards")
	if !ok {
		t.Fatal("FEED.md has no §9 Watchers and topic shards")
	}
	head := regexp.MustCompile(`(?m)^\| device \| K \|((?: N=\d+ \|)+)$`).FindStringSubmatch(sec)
	if head == nil {
		t.Fatal("FEED.md §9 has no table of vectors")
	}
	var counts []int
	for _, m := range regexp.MustCompile(`N=(\d+)`).FindAllStringSubmatch(head[1], -1) {
		n, _ := strconv.Atoi(m[1])
		counts = append(counts, n)
	}
	rows := regexp.MustCompile("(?m)^\\| `(0x[0-9a-f]{40})` \\| (\\d+) \\|((?: \\d+ \\|)+)$").FindAllStringSubmatch(sec, -1)
	if len(rows) < 5 {
		t.Fatalf("FEED.md §9 lists %d vectors", len(rows))
	}
	for _, r := range rows {
		d, err := event.ParseAddress(r[1])
		if err != nil {
			t.Fatal(err)
		}
		if k := strconv.FormatUint(binary.BigEndian.Uint64(d[:8]), 10); k != r[2] {
			t.Errorf("%s: K is %s, FEED.md says %s", r[1], k, r[2])
		}
		cells := strings.Fields(strings.ReplaceAll(r[3], "|", " "))
		if len(cells) != len(counts) {
			t.Fatalf("%s: %d shards for %d counts", r[1], len(cells), len(counts))
		}
		for i, c := range cells {
			want, _ := strconv.Atoi(c)
			if got := ShardOf(d, counts[i]); got != want {
				t.Errorf("ShardOf(%s, %d) = %d, FEED.md says %d", r[1], counts[i], got, want)
			}
		}
	}
	if !strings.Contains(sec, "| `0x2c7536e3605d9c16a7a3d7b1898e529396a65c23` |") {
		t.Error("FEED.md §9 does not list the vector device")
	}
}

// TestShardOf_Consistent: every device has one shard in range; growing
// the count by one moves devices only to the new shard; devices spread
// evenly.
func TestShardOf_Consistent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	devices := make([]event.Address, 20000)
	for i := range devices {
		for j := range devices[i] {
			devices[i][j] = byte(r.Uint32())
		}
	}
	for _, n := range []int{1, 2, 3, 7, 10, 64} {
		per := make([]int, n)
		for _, d := range devices {
			s := ShardOf(d, n)
			if s < 0 || s >= n {
				t.Fatalf("ShardOf(%s, %d) = %d", d, n, s)
			}
			per[s]++
			if next := ShardOf(d, n+1); next != s && next != n {
				t.Errorf("ShardOf(%s): %d of %d, %d of %d: moved to an old shard", d, s, n, next, n+1)
			}
			owners := 0
			for i := range n {
				if (Shard{Index: i, Count: n}).Owns(d) {
					owners++
				}
			}
			if owners != 1 {
				t.Fatalf("%s is owned by %d of %d shards", d, owners, n)
			}
		}
		// Each shard's count is within 5 standard deviations (about
		// √(devices/n)) of devices/n.
		for i, c := range per {
			want := float64(len(devices)) / float64(n)
			if d := float64(c) - want; d*d > 25*want {
				t.Errorf("shard %d of %d has %d devices, want about %.0f", i, n, c, want)
			}
		}
	}
	if ShardOf(devices[0], 0) != 0 || ShardOf(devices[0], -3) != 0 {
		t.Error("ShardOf of a count below 1 is not 0")
	}
}

func TestShard_Validate(t *testing.T) {
	for _, c := range []struct {
		s  Shard
		ok bool
	}{
		{Shard{}, true},
		{Shard{0, 1}, true},
		{Shard{4, 5}, true},
		{Shard{MaxShards - 1, MaxShards}, true},
		{Shard{5, 5}, false},
		{Shard{-1, 5}, false},
		{Shard{0, -1}, false},
		{Shard{1, 0}, false},
		{Shard{0, MaxShards + 1}, false},
	} {
		err := c.s.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v", c.s, err)
		}
		if !c.ok && (c.s.Owns(event.Address{}) || c.s.OwnsTopic("waybill/v1/demo/0x0000000000000000000000000000000000000000/events")) {
			t.Errorf("invalid %+v owns something", c.s)
		}
	}
}

func TestShard_OwnsTopic(t *testing.T) {
	d, _ := event.ParseAddress("0xffffffffffffffffffffffffffffffffffffffff") // shard 2 of 3
	topic := "waybill/v1/demo/" + d.String() + "/events"
	for i := range 3 {
		if got := (Shard{i, 3}).OwnsTopic(topic); got != (i == 2) {
			t.Errorf("shard %d/3 owns %s: %v", i, topic, got)
		}
		// Not a feed topic: every shard hands it to its handler, which
		// reports it.
		for _, bad := range []string{"waybill/v1/demo/0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF/events", "other/topic", ""} {
			if !(Shard{i, 3}).OwnsTopic(bad) {
				t.Errorf("shard %d/3 does not take %q", i, bad)
			}
		}
	}
	if !(Shard{}).OwnsTopic(topic) {
		t.Error("the unsharded Shard does not own a topic")
	}
}

func TestShardFilters(t *testing.T) {
	a, _ := event.ParseAddress("0xffffffffffffffffffffffffffffffffffffffff") // 2 of 3
	b, _ := event.ParseAddress("0x8ba1f109551bd432803012645ac136ddd64dba72") // 0 of 3
	devs := []Device{{"demo", a}, {"demo", b}, {"city", a}, {"demo", a}}
	got := ShardFilters(Shard{2, 3}, devs)
	want := []string{"waybill/v1/demo/" + a.String() + "/+", "waybill/v1/city/" + a.String() + "/+"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ShardFilters = %q, want %q", got, want)
	}
	if got := ShardFilters(Shard{}, devs); len(got) != 3 {
		t.Errorf("unsharded: %q", got)
	}
	if f := FleetFilter("demo"); f != "waybill/v1/demo/+/+" {
		t.Errorf("FleetFilter = %q", f)
	}
}

func TestCheckFilter(t *testing.T) {
	for _, c := range []struct {
		f  string
		ok bool
	}{
		{"waybill/v1/demo/+/+", true},
		{"waybill/v1/#", true},
		{"#", true},
		{"+", true},
		{"$share/watchers/waybill/v1/demo/+/+", true},
		{"", false},
		{"waybill/#/events", false},
		{"waybill/v1/demo#", false},
		{"waybill/v1/de+mo/+", false},
		{"waybill/\x00", false},
		{"waybill/\xff", false},
		{strings.Repeat("a", 65536), false},
	} {
		if err := checkFilter(c.f); (err == nil) != c.ok {
			t.Errorf("checkFilter(%.40q) = %v", c.f, err)
		}
	}
}
