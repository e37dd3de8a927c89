package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/feed/embedded"
)

// downstream is the demo's downstream half: an in-process MQTT broker with a
// subscriber that verifies every message, and an in-process chain with the
// registry contract, anchored to as the replay goes.
type downstream struct {
	broker *embedded.Broker
	chain  *simchain.Chain
	sub    paho.Client
	sys    *system.System // the agent, once built

	mu       sync.Mutex
	received map[uint64]bool // events received and verified, by seq
	bad      []error
	anchored []byte // the last anchor record received on the anchors topic
	records  int
}

// startSync starts the broker, the chain and the subscriber, and points
// cfg's feed and anchor sections at them, as a device would be configured.
func startSync(ctx context.Context, cfg *config.Config, id eventlog.Identity, k *devkey.Key, lg *slog.Logger) (*downstream, error) {
	d := &downstream{received: map[uint64]bool{}}
	var err error
	if d.broker, err = embedded.Start(lg); err != nil {
		return nil, err
	}
	if d.chain, err = simchain.Start(100*time.Millisecond, common.Address(k.Address())); err != nil {
		d.broker.Close()
		return nil, err
	}
	topics := feed.TopicsFor(id.Fleet, id.Device)
	opts := paho.NewClientOptions().AddBroker(d.broker.URL()).SetClientID("demo-subscriber").SetAutoReconnect(false)
	d.sub = paho.NewClient(opts)
	if t := d.sub.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		d.close()
		return nil, fmt.Errorf("demo subscriber: connect: %v", t.Error())
	}
	if t := d.sub.Subscribe(topics.Events, 1, func(_ paho.Client, m paho.Message) { d.receive(m.Payload(), id) }); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		d.close()
		return nil, fmt.Errorf("demo subscriber: subscribe: %v", t.Error())
	}
	if t := d.sub.Subscribe(topics.Anchors, 1, func(_ paho.Client, m paho.Message) {
		d.mu.Lock()
		d.anchored, d.records = append([]byte(nil), m.Payload()...), d.records+1
		d.mu.Unlock()
	}); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		d.close()
		return nil, fmt.Errorf("demo subscriber: subscribe: %v", t.Error())
	}
	cfg.Feed = &config.Feed{Brokers: []string{d.broker.URL()}, Window: 64}
	cfg.Anchor = &config.Anchor{Backend: config.AnchorEVM, Contract: d.chain.Registry.Hex(), Finality: "qbft",
		EveryEvents: 1, Every: time.Hour, MaxFeeGwei: 100, GasLimitPlus: 20}
	return d, nil
}

// receive checks one feed message as a city's consumer would, with the
// protocol alone: canonical form, leaf, device and signature.
func (d *downstream) receive(data []byte, id eventlog.Identity) {
	m, err := feed.ParseMessage(data)
	if err == nil {
		err = feed.Verify(m, id.Domain(), id.Device)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.bad = append(d.bad, err)
		return
	}
	d.received[m.Seq] = true
}

// settle waits until the broker has acknowledged every event, the
// subscriber has them all and the last checkpoint is anchored.
func (d *downstream) settle(ctx context.Context, l *eventlog.Log) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	size := l.Size()
	if err := d.sys.Feed().Wait(ctx, size); err != nil {
		return fmt.Errorf("feed: %d of %d events acknowledged: %w", d.sys.Feed().Status().Cursor, size, err)
	}
	for {
		d.mu.Lock()
		got := uint64(len(d.received))
		var recSize uint64
		if ev, err := anchor.ParseEvidence(d.anchored); err == nil {
			recSize = ev.Size
		}
		d.mu.Unlock()
		st := d.sys.Anchor().Status()
		if got >= size && st.Last != nil && st.Last.Size == size && st.InFlight == nil && recSize == size {
			return nil
		}
		d.sys.Anchor().Notify()
		select {
		case <-ctx.Done():
			return fmt.Errorf("after the replay: %d of %d events received, anchored size %v: %w", got, size, st.Last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// report proves every event against the anchored root on chain and prints
// what was published and anchored.
func (d *downstream) report(ctx context.Context, w io.Writer, l *eventlog.Log, sum *Summary) error {
	d.mu.Lock()
	received, bad, records := len(d.received), len(d.bad), d.records
	d.mu.Unlock()
	if bad > 0 {
		return fmt.Errorf("the subscriber refused %d feed messages: %v", bad, d.bad[0])
	}
	anchors, err := d.sys.Anchor().Anchors()
	if err != nil {
		return err
	}
	var gas uint64
	confirmed := 0
	for _, a := range anchors {
		if a.State == anchor.StateConfirmed {
			confirmed++
			gas += a.GasUsed
		}
	}
	size := l.Size()
	id := l.Identity()
	reg := registry.NewWaybillRegistry()
	onChain := uint64(0)
	for seq := uint64(0); seq < size; seq++ {
		leaf, proof, err := l.ProveInclusion(seq, size)
		if err != nil {
			return err
		}
		s, err := event.Parse(leaf)
		if err != nil {
			return err
		}
		hashes := make([][32]byte, len(proof))
		for i, h := range proof {
			hashes[i] = h
		}
		out, err := d.chain.Call(ctx, reg.PackVerifyEvent(id.Fleet, registry.SignedEvent(s), size, hashes))
		if err != nil {
			return fmt.Errorf("verifyEvent %d: %w", seq, err)
		}
		ok, err := reg.UnpackVerifyEvent(out)
		if err != nil || !ok {
			return fmt.Errorf("verifyEvent %d: the contract does not confirm the event (%v)", seq, err)
		}
		onChain++
	}
	sum.Published, sum.Received, sum.Anchors, sum.Gas, sum.Records, sum.OnChain = d.sys.Feed().Status().Cursor, received, confirmed, gas, records, onChain
	fmt.Fprintf(w, "  published %d events to the embedded MQTT broker; a subscriber received and verified %d of them\n", d.sys.Feed().Status().Cursor, received)
	fmt.Fprintf(w, "  anchored to the in-process chain (registry %s): %d anchors confirmed, %d gas in all, %.0f gas per event\n",
		d.chain.Registry.Hex(), confirmed, gas, float64(gas)/float64(size))
	fmt.Fprintf(w, "  the feed published %d anchor record(s), retained on the anchors topic; the newest covers all %d events\n", records, size)
	fmt.Fprintf(w, "  verified %d/%d events on chain: signature and inclusion against the anchored root (verifyEvent)\n", onChain, size)
	return nil
}

func (d *downstream) close() error {
	var errs []error
	if d.sub != nil && d.sub.IsConnected() {
		d.sub.Disconnect(100)
	}
	if d.chain != nil {
		errs = append(errs, d.chain.Close())
	}
	if d.broker != nil {
		errs = append(errs, d.broker.Close())
	}
	return errors.Join(errs...)
}
