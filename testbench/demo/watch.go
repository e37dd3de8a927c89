package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/server"
	"github.com/waybill-eu/waybill/sync/watch/watchconfig"
	"github.com/waybill-eu/waybill/sync/witness"
)

// watcher is a city's feed watcher (sync/watch/server, as waybill-watch
// runs it) on the demo's broker and chain: it subscribes to the van's feed,
// verifies each message, reads the anchors from the chain, cosigns each
// checkpoint it verified and archives it all in a bbolt file.
type watcher struct {
	srv  *server.Server
	dir  string
	stop context.CancelFunc
	done chan error
	dev  event.Address
}

// startWatcher starts the watcher of the demo device id, whose note
// verifier key is vkey, on the broker at url and the chain ch.
func startWatcher(ctx context.Context, url string, ch *simchain.Chain, id eventlog.Identity, vkey string, lg *slog.Logger) (*watcher, error) {
	dir, err := os.MkdirTemp("", "waybill-demo-watch-")
	if err != nil {
		return nil, err
	}
	key, err := witness.GenerateKey("witness.demo.example/waybill", nil)
	if err == nil {
		err = key.Save(filepath.Join(dir, "witness.skey"))
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &watchconfig.Config{
		File: "the demo's watcher",
		Trust: watch.Trust{Operators: []watch.Operator{{Name: "demo", Devices: []watch.Device{
			{Address: id.Device, Fleet: id.Fleet, ChainID: id.ChainID, NoteKey: vkey}}}}},
		Brokers:    []watchconfig.Broker{{Name: "demo", URL: url, ClientID: "demo-watcher"}},
		Ledger:     &watchconfig.Ledger{Registry: event.Address(ch.Registry), ChainID: simchain.ChainID, Finality: watchconfig.DefaultFinality, Poll: 100 * time.Millisecond},
		Archive:    watchconfig.Archive{Bolt: filepath.Join(dir, "archive.db")},
		WitnessKey: filepath.Join(dir, "witness.skey"),
		Shard:      watchconfig.Shard{Index: 0, Count: 1},
	}
	srv, err := server.New(ctx, server.Options{Config: c, Logger: lg, Ledger: chainRPC(ch)})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w := &watcher{srv: srv, dir: dir, stop: stop, done: make(chan error, 1), dev: id.Device}
	go func() { w.done <- srv.Run(rctx) }()
	// The van's events are not retained: the watcher must be subscribed
	// before the replay publishes them.
	deadline := time.Now().Add(30 * time.Second)
	for h := srv.Health(ctx); !h.OK; h = srv.Health(ctx) {
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("not subscribed after 30s: %v", h.Reasons), w.close())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return w, nil
}

// chainRPC is the in-process chain's JSON-RPC connection, as a watcher has
// one to a node. The simulated client keeps its *ethclient.Client in an
// embedded field.
func chainRPC(ch *simchain.Chain) *rpc.Client {
	return reflect.ValueOf(ch.Client).Field(0).Interface().(*ethclient.Client).Client()
}

// settle waits until every one of the log's size events is witnessed in
// the watcher's archive: verified, checkpointed, anchored and covered by
// a checkpoint it cosigned.
func (w *watcher) settle(ctx context.Context, l *eventlog.Log) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	size := l.Size()
	for {
		p, err := w.srv.Archive().Progress(ctx, w.dev, l.Epoch())
		if err != nil {
			return fmt.Errorf("the watcher's archive: %w", err)
		}
		if p.Witnessed() >= size {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the watcher: %d of %d events witnessed (checkpointed %d, anchored %d, cosigned %d): %w",
				p.Witnessed(), size, p.Checkpointed, p.Anchored, p.Cosigned, ctx.Err())
		case err := <-w.done:
			w.done <- err
			return fmt.Errorf("the watcher stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// report prints the watcher's verdict and fills its part of the summary.
func (w *watcher) report(ctx context.Context, out io.Writer, sum *Summary) error {
	r, err := w.srv.Report(ctx)
	if err != nil {
		return err
	}
	sum.Watched = map[string]uint64{}
	for s, n := range r.Events {
		sum.Watched[string(s)] = n
	}
	sum.Cosigned = r.Cosigned
	for _, n := range r.Alarms {
		sum.Alarms += n
	}
	for _, n := range r.Rejected {
		sum.Rejected += n
	}
	alarms := alarmsText(sum.Alarms)
	if sum.Alarms > 0 {
		alarms = fmt.Sprint(r.Alarms)
	}
	fmt.Fprintf(out, "  a city's watcher on the broker and the chain: events verified %d, checkpointed %d, anchored %d, witnessed %d; %d messages rejected\n",
		r.Events[watch.StateVerified], r.Events[watch.StateCheckpointed], r.Events[watch.StateAnchored], r.Events[watch.StateWitnessed], sum.Rejected)
	fmt.Fprintf(out, "  the watcher cosigned %d checkpoints as a witness (C2SP tlog-cosignature); alarms: %s\n", sum.Cosigned, alarms)
	if sum.Alarms > 0 || sum.Rejected > 0 {
		return fmt.Errorf("the watcher raised %d alarms and rejected %d messages of the demo's own feed", sum.Alarms, sum.Rejected)
	}
	return nil
}

// close stops the watcher and removes its archive.
func (w *watcher) close() error {
	w.stop()
	err := <-w.done
	w.done <- err
	return errors.Join(err, w.srv.Close(), os.RemoveAll(w.dir))
}

func alarmsText(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}
