package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
)

// cmdRun is the daemon: it holds the log, serves the local API, and signs a
// checkpoint at an interval when there are new events. Sensor sampling and
// sync attach here as they arrive.
func cmdRun(ctx context.Context, e *env, args []string) error {
	f := newFlags("run", e)
	f.logFlags()
	f.keyFlags()
	f.identityFlags()
	every := f.Duration("checkpoint-every", time.Minute, "how often to sign a checkpoint when there are new events")
	if err := f.parse(args, 0, "data", "key"); err != nil {
		return err
	}
	if *every < time.Second {
		return usageError{fmt.Sprintf("run: --checkpoint-every %v is below 1s", *every)}
	}
	if err := f.checkCreate(); err != nil {
		return err
	}
	log := logger(e)
	k, err := f.loadKey()
	if err != nil {
		return fmt.Errorf("run: load key: %w", err)
	}
	l, err := f.openWriter(ctx, e, k)
	if err != nil {
		return fmt.Errorf("run: open log: %w", err)
	}
	defer l.Close()
	clk := clock.New(buildFloor())
	log.Info("agent running", "data", f.data, "device", k.Address().String(), "origin", l.Origin(),
		"events", l.Size(), "socket", localapi.SocketPath(f.data))

	srv := &localapi.Server{Log: l, Clock: clk.Now, Logger: log.With("subsystem", "localapi")}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ctx) }()

	tick := time.NewTicker(*every)
	defer tick.Stop()
	checkpoint := func() {
		if _, c, err := l.Latest(); err == nil && c.Size == l.Size() {
			return
		} else if err != nil && !errors.Is(err, eventlog.ErrNoCheckpoint) {
			log.Error("reading the latest checkpoint", "err", err)
		}
		if l.Size() == 0 {
			return
		}
		if _, c, err := l.Checkpoint(context.WithoutCancel(ctx)); err != nil {
			log.Error("checkpoint not signed", "err", err)
		} else {
			log.Info("checkpoint signed", "size", c.Size)
		}
	}
	for {
		select {
		case <-tick.C:
			checkpoint()
		case err := <-srvErr:
			if err != nil {
				return fmt.Errorf("run: local API: %w", err)
			}
		case <-ctx.Done():
			log.Info("shutting down")
			checkpoint()
			<-srvErr
			return nil
		}
	}
}
