package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/verify"
)

// cmdDemo runs the agent's main job on its embedded default: a delivery
// van's morning round through central Brussels is appended to a fresh log
// by a fresh device key, checkpointed as it goes, and then every event is
// proven and verified offline against the final checkpoint, and every
// checkpoint is proven consistent with the next.
func cmdDemo(ctx context.Context, e *env, args []string) error {
	f := newFlags("demo", e)
	f.StringVar(&f.data, "data", "", "log directory (default: a new temporary directory)")
	every := f.Int("checkpoint-every", 50, "sign a checkpoint every N events")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if *every < 1 {
		return usageError{"demo: --checkpoint-every must be at least 1"}
	}
	dir := f.data
	if dir == "" {
		d, err := os.MkdirTemp("", "waybill-demo-")
		if err != nil {
			return err
		}
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return fmt.Errorf("demo: %s already holds a log; give an empty --data directory", dir)
	}
	start := time.Now()
	k, err := devkey.Generate()
	if err != nil {
		return err
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: "demo", ChainID: 1337}
	quiet := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k, Logger: quiet})
	if err != nil {
		return err
	}
	defer l.Close()
	vkey, _ := k.VerifierKey(id.KeyName())
	fmt.Fprintf(e.stdout, "Waybill demo: van round through central Brussels\n")
	fmt.Fprintf(e.stdout, "  log directory  %s\n  device         %s\n  origin         %s\n  verifier key   %s\n\n", dir, k.Address(), l.Origin(), vkey)

	events := vanRound()
	var notes []checkpoint.Checkpoint
	byKind := map[string]int{}
	for i, ev := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := l.Append(ctx, ev)
		if err != nil {
			return fmt.Errorf("demo: append event %d: %w", i, err)
		}
		byKind[string(s.Kind)]++
		if (i+1)%*every == 0 || i == len(events)-1 {
			_, c, err := l.Checkpoint(ctx)
			if err != nil {
				return err
			}
			notes = append(notes, c)
			fmt.Fprintf(e.stdout, "  appended %3d/%d events; checkpoint %d signed: size %d, root %s\n", i+1, len(events), len(notes), c.Size, merkle.Hash(c.Root))
		}
	}
	// Prove and verify every event offline against the final checkpoint.
	final := notes[len(notes)-1]
	vk, err := checkpoint.ParseVerifierKey(vkey)
	if err != nil {
		return err
	}
	dev := k.Address()
	opts := verify.Options{Device: &dev, Fleet: id.Fleet, ChainID: id.ChainID, Verifiers: []checkpoint.Verifier{vk}}
	for seq := uint64(0); seq < final.Size; seq++ {
		out, err := localapi.Prove(l, seq, 0, "json")
		if err != nil {
			return err
		}
		b, err := verify.ParseBundle(out)
		if err != nil {
			return fmt.Errorf("demo: bundle %d: %w", seq, err)
		}
		if err := b.Verify(opts); err != nil {
			return fmt.Errorf("demo: bundle %d does not verify: %w", seq, err)
		}
	}
	fmt.Fprintf(e.stdout, "  proved %d/%d events included in the final checkpoint and verified each bundle offline\n", final.Size, final.Size)
	for i := 1; i < len(notes); i++ {
		out, err := localapi.Consistency(l, notes[i-1].Size, notes[i].Size)
		if err != nil {
			return err
		}
		c, err := verify.ParseConsistency(out)
		if err == nil {
			err = c.Verify()
		}
		if err == nil && (c.OldRoot != notes[i-1].Root || c.NewRoot != notes[i].Root) {
			err = fmt.Errorf("roots differ from the signed checkpoints")
		}
		if err != nil {
			return fmt.Errorf("demo: consistency %d→%d: %w", notes[i-1].Size, notes[i].Size, err)
		}
	}
	fmt.Fprintf(e.stdout, "  proved %d checkpoints consistent, each with the next\n\n", len(notes)-1)

	fmt.Fprintf(e.stdout, "Events by kind:\n")
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(e.stdout, "  %-22s %4d\n", k, byKind[k])
	}
	note, _, err := l.Latest()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nFinal checkpoint (C2SP signed note):\n%s\n", note)
	fmt.Fprintf(e.stdout, "Summary: %d events signed and durable, %d inclusion proofs and %d consistency proofs verified offline, in %v.\n",
		final.Size, final.Size, len(notes)-1, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "Try: bin/waybill log prove --data %s --seq 42 > bundle.json && bin/waybill verify --vkey '%s' bundle.json\n", dir, vkey)
	return nil
}

type stop struct {
	name     string
	lat, lon float64
	zone     string // loading bay or delivery zone at the stop
	parcels  int
}

// The round: a depot by the canal in Anderlecht, into the Pentagon (the
// inner-ring district), four drops, and back.
var round = []stop{
	{"Depot, Quai de Biestebroeck", 50.82630, 4.31890, "depot-anderlecht", 0},
	{"Rue Antoine Dansaert", 50.85120, 4.34620, "bay-dansaert", 4},
	{"Rue du Marché aux Herbes", 50.84760, 4.35370, "bay-marche-aux-herbes", 6},
	{"Rue Neuve", 50.85300, 4.35720, "bay-rue-neuve", 5},
	{"Place du Grand Sablon", 50.84050, 4.35530, "bay-sablon", 3},
	{"Depot, Quai de Biestebroeck", 50.82630, 4.31890, "depot-anderlecht", 0},
}

// pentagon reports whether a point is inside the inner ring (approximated
// by its bounding box for the demo's zone events).
func pentagon(lat, lon float64) bool {
	return lat > 50.8370 && lat < 50.8580 && lon > 4.3390 && lon < 4.3700
}

func payload(v any) []byte {
	b, err := jcs.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func round7(x float64) float64 { return math.Round(x*1e7) / 1e7 }

// vanRound returns the round's events in time order.
func vanRound() []event.Event {
	t := time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC)
	var out []event.Event
	add := func(kind string, p map[string]any) {
		out = append(out, event.Event{Time: t.UnixMilli(), Source: event.SourceGNSS, Kind: event.Kind(kind), Payload: payload(p)})
	}
	add("manual", map[string]any{"note": "round 27-11 started, 18 parcels loaded, cold box at 4.1 C", "by": "driver 17"})
	inPentagon := false
	parcel := 0
	temp := 4.1
	for i := 0; i+1 < len(round); i++ {
		a, b := round[i], round[i+1]
		if i > 0 {
			add("zone_left", map[string]any{"zone": a.zone, "lat": a.lat, "lon": a.lon})
		}
		steps := 24
		for s := 1; s <= steps; s++ {
			t = t.Add(20 * time.Second)
			f := float64(s) / float64(steps)
			lat := round7(a.lat + (b.lat-a.lat)*f + 0.00004*math.Sin(float64(s)))
			lon := round7(a.lon + (b.lon-a.lon)*f + 0.00004*math.Cos(float64(s)))
			speed := 6.5 + 2*math.Sin(float64(s)/3)
			course := math.Mod(math.Atan2(b.lon-a.lon, b.lat-a.lat)*180/math.Pi+360, 360)
			add("position", map[string]any{"lat": lat, "lon": lon, "speed_mps": math.Round(speed*10) / 10,
				"course_deg": math.Round(course*10) / 10, "hdop": 0.9, "sats": 9 + s%4})
			if in := pentagon(lat, lon); in != inPentagon {
				inPentagon = in
				kind := "zone_left"
				if in {
					kind = "zone_entered"
				}
				add(kind, map[string]any{"zone": "pentagon", "lat": lat, "lon": lon})
			}
			if i == 2 && s == 12 {
				add("shock", map[string]any{"g": 1.9, "axis": "x", "type": "harsh_braking", "lat": lat, "lon": lon})
			}
		}
		t = t.Add(30 * time.Second)
		add("zone_entered", map[string]any{"zone": b.zone, "lat": b.lat, "lon": b.lon})
		if b.parcels == 0 {
			continue
		}
		add("door_opened", map[string]any{"door": "rear", "moving": false, "outside_zone": false, "lat": b.lat, "lon": b.lon})
		open := t
		for p := 0; p < b.parcels; p++ {
			t = t.Add(75 * time.Second)
			parcel++
			add("delivery", map[string]any{"parcel": fmt.Sprintf("04A1%06X", 0x3c20f0+parcel*7919), "lat": b.lat, "lon": b.lon,
				"zone": b.zone, "door": "open", "proof": "scan"})
		}
		if b.zone == "bay-rue-neuve" {
			// The long stop warms the cold box past its 8 C limit.
			temp = 8.6
			add("temperature_excursion", map[string]any{"probe": "28ff4a6b711603c2", "state": "start", "celsius": temp,
				"min_c": 2.0, "max_c": 8.0, "duration_s": 300})
			t = t.Add(6 * time.Minute)
			add("door_closed", map[string]any{"door": "rear", "open_ms": t.Sub(open).Milliseconds(), "lat": b.lat, "lon": b.lon})
			t = t.Add(9 * time.Minute)
			temp = 7.4
			add("temperature_excursion", map[string]any{"probe": "28ff4a6b711603c2", "state": "end", "celsius": temp,
				"min_c": 2.0, "max_c": 8.0, "duration_s": 1260})
			continue
		}
		t = t.Add(40 * time.Second)
		add("door_closed", map[string]any{"door": "rear", "open_ms": t.Sub(open).Milliseconds(), "lat": b.lat, "lon": b.lon})
	}
	add("manual", map[string]any{"note": fmt.Sprintf("round finished, %d parcels delivered", parcel), "by": "driver 17"})
	return out
}
