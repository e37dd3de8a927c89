package archivetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/witness"
)

const (
	feedFleet   = "archivetest-city"
	feedChainID = 1337
)

// Message is one feed message of a device: its topic and payload, and the
// event's sequence number or the checkpoint's size.
type Message struct {
	Topic      string
	Payload    []byte
	Seq        uint64 // an event's sequence number, or a checkpoint's size
	Checkpoint bool
}

// Feed returns a new device with a real key (its allowlist entry, in fleet
// "archivetest-city" on chain 1337) and its feed of epoch 0: events 0 …
// events-1, each followed, when every divides its count, by a signed
// checkpoint of the log at that size (every 0: none).
func Feed(t testing.TB, events, every int) (watch.Device, []Message) {
	t.Helper()
	k, err := devkey.Generate()
	must(t, err)
	dom := signer.Domain{ChainID: feedChainID, Fleet: feedFleet}
	name := signer.KeyName(feedFleet, k.Address())
	vkey, err := k.VerifierKey(name)
	must(t, err)
	signers, err := k.NoteSigners(name, dom)
	must(t, err)
	origin, topics := signer.Origin(feedFleet, k.Address(), 0), feed.TopicsFor(feedFleet, k.Address())
	var front merkle.Frontier
	var ms []Message
	for seq := range uint64(events) {
		e := event.Event{Device: k.Address(), Seq: seq, Time: time.Date(2026, 12, 8, 5, 0, 0, 0, time.UTC).UnixMilli() + int64(seq)*10_000,
			Source: event.SourceGNSS, Kind: event.KindDelivery, Payload: fmt.Appendf(nil, `{"parcel":"%d"}`, seq)}
		s, err := k.SignEvent(dom, e)
		must(t, err)
		l, err := s.Leaf()
		must(t, err)
		front.Append(merkle.LeafHash(l))
		ms = append(ms, Message{Topic: topics.Events, Payload: (&feed.Message{Origin: origin, Seq: seq, Leaf: l}).Marshal(), Seq: seq})
		if every > 0 && (seq+1)%uint64(every) == 0 {
			note, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: origin, Size: front.Size(), Root: front.Root()}, signers...)
			must(t, err)
			ms = append(ms, Message{Topic: topics.Checkpoints, Payload: note, Seq: front.Size(), Checkpoint: true})
		}
	}
	return watch.Device{Address: k.Address(), Fleet: feedFleet, ChainID: feedChainID, NoteKey: vkey}, ms
}

// testWatchers: two watchers on the archive handle the feeds of many
// devices from several goroutines each, at once: the first each device's
// messages in order, as the subscriber's lanes hand them over, the second
// every message on any goroutine, so that one device's messages are
// handled concurrently and out of order. Together they archive every
// event exactly once; each verifies every checkpoint once; each cosigned
// checkpoint is handed to OnCosigned once, and every device's largest is
// cosigned; no alarm is raised.
func testWatchers(t *testing.T, a watch.Archive) {
	const devices, events, every = 32, 8, 4
	const watchers, goroutines = 2, 8 // goroutines per watcher
	ctx := context.Background()
	trust := watch.Trust{Operators: []watch.Operator{{Name: "city"}}}
	feeds := make([][]Message, devices)
	for i := range feeds {
		var d watch.Device
		d, feeds[i] = Feed(t, events, every)
		trust.Operators[0].Devices = append(trust.Operators[0].Devices, d)
	}
	wk, err := witness.NewKey("witness.archivetest.example", bytes.Repeat([]byte{9}, 32))
	must(t, err)

	type result struct {
		device  event.Address
		m       Message
		v       watch.Verdict
		watcher int
	}
	var mu sync.Mutex
	var results []result
	hooked := map[string]int{} // watcher/device/size → OnCosigned calls
	var wg sync.WaitGroup
	errs := make(chan error, watchers*goroutines)
	for wi := range watchers {
		w, err := watch.NewWithOptions(trust, a, watch.Options{Witness: wk, OnCosigned: func(_ context.Context, c watch.Cosigned) {
			mu.Lock()
			hooked[fmt.Sprintf("%d/%s/%d", wi, c.Device, c.Size)]++
			mu.Unlock()
		}})
		must(t, err)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Watcher 0: this goroutine's devices, their messages
				// interleaved, each device's in order. Watcher 1: every
				// goroutines-th message of all the feeds one after the
				// other.
				type item struct{ d, i int }
				var mine []item
				for d := range devices {
					for i := range feeds[d] {
						if wi == 0 && d%goroutines == g || wi == 1 && (d*len(feeds[d])+i)%goroutines == g {
							mine = append(mine, item{d, i})
						}
					}
				}
				if wi == 0 {
					slices.SortStableFunc(mine, func(a, b item) int { return a.i - b.i })
				}
				for _, it := range mine {
					m := feeds[it.d][it.i]
					v, err := w.Handle(ctx, m.Topic, m.Payload)
					if err != nil {
						errs <- fmt.Errorf("watcher %d: Handle(%s): %w", wi, m.Topic, err)
						return
					}
					mu.Lock()
					results = append(results, result{trust.Operators[0].Devices[it.d].Address, m, v, wi})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	stored := map[string]int{}   // device/seq → verdicts that stored the event
	verified := map[string]int{} // watcher/device/size → checkpoint verdicts verified
	cosigned := map[string]int{} // watcher/device/size → checkpoint verdicts cosigned
	for _, r := range results {
		vs := append([]watch.Verdict{r.v}, r.v.Checkpoints...)
		for _, v := range vs {
			if v.State == watch.StateRejected || v.Alarm != nil {
				t.Fatalf("watcher %d, %s: %+v", r.watcher, r.m.Topic, v)
			}
		}
		if r.m.Checkpoint && r.watcher == 0 {
			if r.v.State != watch.StateVerified || r.v.Size != r.m.Seq {
				t.Fatalf("watcher %d: checkpoint %d of %s: %+v, want verified (the device's events came first)", r.watcher, r.m.Seq, r.device, r.v)
			}
		} else if !r.m.Checkpoint && !r.v.Duplicate {
			stored[fmt.Sprintf("%s/%d", r.device, r.m.Seq)]++
		}
		for _, v := range vs {
			if v.Channel == feed.ChannelCheckpoints && v.State == watch.StateVerified && !v.Duplicate {
				verified[fmt.Sprintf("%d/%s/%d", r.watcher, v.Device, v.Size)]++
				if v.Cosigned {
					cosigned[fmt.Sprintf("%d/%s/%d", r.watcher, v.Device, v.Size)]++
				}
			}
		}
	}
	for _, d := range trust.Operators[0].Devices {
		for seq := range uint64(events) {
			if k := fmt.Sprintf("%s/%d", d.Address, seq); stored[k] != 1 {
				t.Errorf("event %s: stored by %d verdicts, want 1", k, stored[k])
			}
		}
		for size := uint64(every); size <= events; size += every {
			k := fmt.Sprintf("%s/%d", d.Address, size)
			for wi := range watchers {
				wk := fmt.Sprintf("%d/%s", wi, k)
				if n := verified[wk]; n != 1 {
					t.Errorf("watcher %d: checkpoint %s verified %d times, want 1", wi, k, n)
				}
				// A watcher also cosigns, with no verdict, the latest
				// checkpoint of an origin it loads that another
				// watcher verified and has not cosigned yet.
				if hooked[wk] > 1 || cosigned[wk] > hooked[wk] {
					t.Errorf("watcher %d: checkpoint %s: cosigned in %d verdicts, handed to OnCosigned %d times, want at most once and at least as many", wi, k, cosigned[wk], hooked[wk])
				}
			}
		}
		if n, _ := leaves(t, a, d.Address, 0, 0, 0); len(n) != events {
			t.Errorf("archive holds %d events of %s, want %d", len(n), d.Address, events)
		}
		want := watch.Progress{Events: events, Checkpointed: events, Cosigned: events}
		if p := progress(t, a, d.Address, 0); p != want {
			t.Errorf("Progress of %s = %+v, want %+v", d.Address, p, want)
		}
		co, err := a.Cosigned(ctx, d.Address, 0)
		must(t, err)
		if _, err := witness.VerifyCosignature(co, wk.VerifierKey()); err != nil {
			t.Errorf("cosigned checkpoint of %s: %v", d.Address, err)
		}
	}
	if t.Failed() {
		return
	}
	err = a.Alarms(ctx, func(al watch.Alarm) bool {
		t.Errorf("alarm %s of %s: %s", al.Reason, al.Device, al.Detail)
		return true
	})
	must(t, err)
}
