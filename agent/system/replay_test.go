package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/drivers/replay"
	"github.com/waybill-eu/waybill/testbench/recordings"
)

type replayed struct {
	sys    *System
	status Status
	log    *eventlog.Log
	events []*event.Signed
	notes  []checkpoint.Checkpoint
}

// replayFile runs the whole agent over a shipped recording, as `waybill
// run --config configs/van.yaml --replay` does, into a new log.
func replayFile(t *testing.T, data []byte) *replayed {
	t.Helper()
	cfg, err := config.Load("../../configs/van.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := replay.Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r := &replayed{}
	o := testOptions(t, t.TempDir(), cfg)
	o.Replay = &Replay{Recording: rec}
	o.OnEvent = func(s *event.Signed) { r.events = append(r.events, s) }
	o.OnCheckpoint = func(c checkpoint.Checkpoint) { r.notes = append(r.notes, c) }
	if r.sys, err = New(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.sys.Close() })
	r.log = r.sys.Log()
	if err := r.sys.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := rec.Remaining(); len(left) != 0 {
		t.Errorf("operations not replayed: %v", left)
	}
	r.status = r.sys.Status()
	return r
}

func payload(t *testing.T, s *event.Signed) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(s.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReplay_Brussels(t *testing.T) {
	r := replayFile(t, recordings.BrusselsVan)
	by := r.status.EventsBy
	// The counts and the zones below are the scenario's the recording was
	// made from (testbench/fleet's Brussels round), not what the rules
	// happened to emit once: 14 parcels at four drops, each with its door
	// opened and closed; one harsh braking; the cold box warmed past 8 °C
	// once, during the longest drop, one excursion start and end (as the
	// recording's raw DS18B20 readings show, see the waybill command's
	// replay tests); the route's zones in the order it drives through them.
	for kind, want := range map[string]int{"delivery": 14, "door_opened": 4, "door_closed": 4, "shock": 1,
		"temperature_excursion": 2, "zone_entered": 7, "zone_left": 6, "sensor_fault": 0} {
		if by[kind] != want {
			t.Errorf("%s events = %d, want %d (all: %v)", kind, by[kind], want, by)
		}
	}
	if by["position"] < 100 || by["position"] > 400 {
		t.Errorf("position events = %d: not at an interval and on change", by["position"])
	}
	var zones, excursion []string
	for _, s := range r.events {
		p := payload(t, s)
		switch s.Kind {
		case "zone_entered", "zone_left":
			zones = append(zones, fmt.Sprintf("%s %s", strings.TrimPrefix(string(s.Kind), "zone_"), p["zone"]))
		case "temperature_excursion":
			excursion = append(excursion, fmt.Sprintf("%s %s", p["probe"], p["state"]))
		case "delivery":
			if !strings.HasPrefix(p["zone"].(string), "bay-") || p["door"] != "open" || p["lat"] == nil {
				t.Errorf("delivery %v: not in a loading bay with the door open at a position", p)
			}
		case "shock":
			if p["type"] != "harsh_braking" {
				t.Errorf("shock %v", p)
			}
		}
		if s.Source != event.SourceGNSS && s.Seq > 0 {
			t.Errorf("event %d has time source %s, want gnss", s.Seq, s.Source)
		}
	}
	wantZones := "entered depot-anderlecht, left depot-anderlecht, entered pentagon, entered bay-dansaert, left bay-dansaert, " +
		"entered bay-marche-aux-herbes, left bay-marche-aux-herbes, entered bay-rue-neuve, left bay-rue-neuve, " +
		"entered bay-sablon, left bay-sablon, left pentagon, entered depot-anderlecht"
	if got := strings.Join(zones, ", "); got != wantZones {
		t.Errorf("zones:\n got %s\nwant %s", got, wantZones)
	}
	if got := strings.Join(excursion, ", "); got != "box-front start, box-front end" {
		t.Errorf("excursions: %s", got)
	}
	for _, h := range r.status.Sensors {
		if h.Failures != 0 || h.State != "ok" {
			t.Errorf("health %+v", h)
		}
	}
}

// Two replays of the same recording with the same key give the same
// events, byte for byte, and the same checkpoints.
func TestReplay_Deterministic(t *testing.T) {
	a := replayFile(t, recordings.BrusselsVan)
	b := replayFile(t, recordings.BrusselsVan)
	if len(a.events) != len(b.events) || len(a.events) == 0 {
		t.Fatalf("events: %d and %d", len(a.events), len(b.events))
	}
	for i := range a.events {
		if !bytes.Equal(a.events[i].LeafOfValid(), b.events[i].LeafOfValid()) {
			t.Fatalf("event %d differs:\n%s\n%s", i, a.events[i].LeafOfValid(), b.events[i].LeafOfValid())
		}
	}
	if len(a.notes) != len(b.notes) {
		t.Fatalf("checkpoints: %d and %d", len(a.notes), len(b.notes))
	}
	for i := range a.notes {
		if a.notes[i].Size != b.notes[i].Size || a.notes[i].Root != b.notes[i].Root {
			t.Errorf("checkpoint %d differs", i)
		}
	}
	sa, ra := a.log.Root()
	sb, rb := b.log.Root()
	if sa != sb || ra != rb {
		t.Errorf("roots differ: %d %x, %d %x", sa, ra, sb, rb)
	}
}

// A parked van whose sensors misbehave (85 °C, an all-zero scratchpad, CRC
// failures, a vanished probe, remote I/O errors, an RMC at 0,0, a
// week-rollover date, six GNSS talkers, a tag read through a noisy field)
// gives sensor faults and health counts, never an excursion, a zone change
// or a delivery.
func TestReplay_BadReadings(t *testing.T) {
	r := replayFile(t, recordings.BadReadings)
	st := r.status
	for _, kind := range []string{"temperature_excursion", "zone_left", "delivery", "door_opened", "shock"} {
		if st.EventsBy[kind] != 0 {
			t.Errorf("%d false %s events", st.EventsBy[kind], kind)
		}
	}
	if st.EventsBy["zone_entered"] != 1 {
		t.Errorf("zone_entered = %d, want 1 (the depot the van is parked in)", st.EventsBy["zone_entered"])
	}
	if st.EventsBy["position"] < 10 {
		t.Errorf("position = %d: the receiver's good fixes were lost among the bad ones", st.EventsBy["position"])
	}
	faults := map[string][]string{}
	var counted int64
	for _, s := range r.events {
		if s.Kind == "sensor_fault" {
			p := payload(t, s)
			faults[p["sensor"].(string)] = append(faults[p["sensor"].(string)], p["error"].(string))
			counted += int64(p["count"].(float64))
		}
	}
	all := fmt.Sprint(faults)
	for _, want := range []string{"85 °C", "127.94 °C", "no device answers", "remote I/O error", "BCC"} {
		if !strings.Contains(all, want) {
			t.Errorf("no sensor_fault mentions %q: %s", want, all)
		}
	}
	health := map[string]sampler.Health{}
	var failures int64
	for _, h := range r.status.Sensors {
		health[h.Sensor] = h
		failures += h.Failures
	}
	if health["coldbox"].Failures < 10 || health["cabin"].Failures < 1 || health["tags"].Failures < 1 {
		t.Errorf("health: %+v", health)
	}
	if counted > failures || counted < int64(len(faults)) {
		t.Errorf("sensor_fault counts sum to %d, failures %d", counted, failures)
	}
	if st.I2C["I2C1"].Retries == 0 {
		t.Errorf("no I2C retries counted: %+v", st.I2C)
	}
	if st.GNSSIgnored["clock: GNSS time before the floor"] == 0 {
		t.Errorf("the week-rollover date was not refused: %v", st.GNSSIgnored)
	}
}

// After a replay's end the feed catches up before Run returns: the broker
// has acknowledged every event, and the retention state is reported.
func TestReplay_FeedCatchesUp(t *testing.T) {
	broker := startBroker(t)
	cfg, err := config.Load("../../configs/van.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Feed = &config.Feed{Brokers: []string{broker}, Window: 64}
	cfg.Anchor = nil
	rec, err := replay.Load(bytes.NewReader(recordings.BrusselsVan))
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, t.TempDir(), cfg)
	o.Replay = &Replay{Recording: rec}
	o.CatchUp = deadline
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := within(t, "Run", func() error { return s.Run(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if size := s.Log().Size(); size == 0 || st.Sync == nil || st.Sync.Feed == nil || st.Sync.Feed.Cursor != size {
		t.Fatalf("after the replay the feed acknowledged %+v of %d events", st.Sync, size)
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after Run returned, goroutines are in %v", in)
	}
}

// A replay refuses a log that holds events, unless asked to continue.
func TestNew_ReplayIntoALogWithEvents(t *testing.T) {
	cfg, err := config.Load("../../configs/van.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := testOptions(t, dir, cfg)
	l, err := o.OpenLog(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	appendManual(t, l, 2)
	l.Close()
	rec, err := replay.Load(bytes.NewReader(recordings.BrusselsVan))
	if err != nil {
		t.Fatal(err)
	}
	o.Replay = &Replay{Recording: rec}
	_, err = New(context.Background(), o)
	var ne *NotEmptyError
	if !errors.As(err, &ne) || ne.Events != 2 || ne.Dir != dir {
		t.Fatalf("New replaying into a log of 2 events = %v; want a *NotEmptyError naming %s and 2 events", err, dir)
	}
	o.Replay.Continue = true
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New with Continue: %v", err)
	}
	s.Close()
}
