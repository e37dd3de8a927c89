// Package server runs a feed watcher (firmware-docs/WATCH.md) as a
// service: it opens the archive its configuration (sync/watch/watchconfig)
// names, builds the verification core with the witness key, subscribes to
// the brokers, reads the anchors from the ledger and serves /healthz,
// /metrics and the cosigned checkpoints over HTTP. The parts run under one
// errgroup, so that a failure stops the others, and stop in the reverse
// order of their start: the inputs (ledger, brokers) first, the archive
// last.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/ledger"
	"github.com/waybill-eu/waybill/sync/watch/subscribe"
	"github.com/waybill-eu/waybill/sync/watch/watchconfig"
	"github.com/waybill-eu/waybill/sync/witness"
)

// Options configure a Server.
type Options struct {
	// Config is the watcher's configuration. Required.
	Config *watchconfig.Config
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Archive, if set, is used in place of the archive the configuration
	// names (which is then not opened); the caller closes it.
	Archive watch.Archive
	// Ledger, if set, is the connection the registry's anchors are read
	// through, in place of dialing ledger.rpc (an in-process chain).
	Ledger ledger.Caller
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is a running feed watcher.
type Server struct {
	cfg *watchconfig.Config
	lg  *slog.Logger
	now func() time.Time

	arc     watch.Archive
	key     *witness.Key
	watcher *watch.Watcher
	sub     *subscribe.Subscriber
	caller  ledger.Caller
	ledgers []*ledgerSource
	pub     *publisher
	met     *metrics
	ln      net.Listener
	http    *http.Server

	mu       sync.Mutex
	archErr  error     // the archive's last failure, nil once a write succeeded after it
	archErrT time.Time // when

	closers []func() error // in build order; Close runs them in reverse
	closed  bool
}

// New builds the server in flow order: archive, witness key, watcher,
// subscriber, HTTP listener. It starts no goroutine; on error it closes
// what it built.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Config == nil {
		return nil, errors.New("server: Options.Config is required")
	}
	s := &Server{cfg: o.Config, lg: o.Logger, now: o.Now, arc: o.Archive, caller: o.Ledger}
	if s.lg == nil {
		s.lg = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.build(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Server) build(ctx context.Context) error {
	c := s.cfg
	if s.arc == nil {
		arc, closer, err := OpenArchive(ctx, c.Archive)
		if err != nil {
			return err
		}
		s.arc = arc
		s.closers = append(s.closers, closer)
	}
	key, err := witness.LoadKey(c.WitnessKey)
	if err != nil {
		return fmt.Errorf("%s: witness.key_file: %w", c.File, err)
	}
	s.key = key
	s.met = newMetrics(s.arc, s.brokerStatus, s.now)
	if s.pub, err = newPublisher(c, s.lg); err != nil {
		return fmt.Errorf("%s: brokers: %w", c.File, err)
	}
	s.watcher, err = watch.NewWithOptions(c.Trust, s.arc, watch.Options{Witness: key, OnCosigned: s.cosigned, Now: s.now, Logger: s.lg})
	if err != nil {
		return fmt.Errorf("%s: operators: %w", c.File, err)
	}
	if s.sub, err = subscribe.New(subscribeConfig(c), s.handle, s.lg); err != nil {
		return fmt.Errorf("%s: brokers: %w", c.File, err)
	}
	if err := s.openLedgers(ctx); err != nil {
		return err
	}
	if c.Listen != "" {
		ln, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return fmt.Errorf("%s: http.listen: %w", c.File, err)
		}
		s.ln = ln
		s.closers = append(s.closers, func() error {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
		s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return nil
}

// cosigned is called by the watcher with each checkpoint it cosigned:
// it is counted and published.
func (s *Server) cosigned(ctx context.Context, c watch.Cosigned) {
	s.met.cosigned.Inc()
	s.met.mu.Lock()
	s.met.nCosigned++
	s.met.mu.Unlock()
	s.pub.offer(CosignedTopic(s.key.KeyID(), c.Fleet, c.Device, c.Epoch), c.Note)
}

// OpenArchive opens the archive a configures and returns it with the
// function that closes it.
func OpenArchive(ctx context.Context, a watchconfig.Archive) (watch.Archive, func() error, error) {
	switch {
	case a.Bolt != "":
		b, err := watch.OpenBolt(a.Bolt)
		if err != nil {
			return nil, nil, fmt.Errorf("archive.bolt: %w", err)
		}
		return b, b.Close, nil
	case a.PostgresDSN != "" || a.PostgresDSNFile != "":
		return openPostgres(ctx, a)
	}
	return nil, nil, errors.New("archive: no bolt file and no PostgreSQL database configured")
}

// subscribeConfig is the subscriber's configuration: per broker, the
// topics of its fleets, or of the devices of this watcher's shard.
func subscribeConfig(c *watchconfig.Config) subscribe.Config {
	shard := subscribe.Shard{}
	if c.Shard.Count > 1 {
		shard = subscribe.Shard{Index: int(c.Shard.Index), Count: int(c.Shard.Count)}
	}
	var devices []subscribe.Device
	fleets := []string{}
	for _, op := range c.Trust.Operators {
		for _, d := range op.Devices {
			devices = append(devices, subscribe.Device{Fleet: d.Fleet, Address: d.Address})
			if !contains(fleets, d.Fleet) {
				fleets = append(fleets, d.Fleet)
			}
		}
	}
	sc := subscribe.Config{}
	if shard.Count > 1 {
		sc.Select = shard.OwnsTopic
	}
	for _, b := range c.Brokers {
		want := b.Fleets
		if len(want) == 0 {
			want = fleets
		}
		var filters []string
		if shard.Count > 1 {
			var mine []subscribe.Device
			for _, d := range devices {
				if contains(want, d.Fleet) {
					mine = append(mine, d)
				}
			}
			filters = subscribe.ShardFilters(shard, mine)
		} else {
			for _, f := range want {
				filters = append(filters, subscribe.FleetFilter(f))
			}
		}
		sb := subscribe.Broker{Name: b.Name, URL: b.URL, Username: b.Username, PasswordFile: b.PasswordFile,
			ClientID: b.ClientID, Filters: filters}
		if b.CAFile != "" || b.CertFile != "" || b.ServerName != "" || b.Insecure {
			sb.TLS = &subscribe.TLS{CAFile: b.CAFile, CertFile: b.CertFile, KeyFile: b.KeyFile,
				ServerName: b.ServerName, InsecureSkipVerify: b.Insecure}
		}
		sc.Brokers = append(sc.Brokers, sb)
	}
	return sc
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// handle is the subscriber's handler: it verifies one message and
// observes the verdict. An archive failure leaves the message to the
// broker, to be delivered again.
func (s *Server) handle(ctx context.Context, topic string, payload []byte) error {
	v, err := s.watcher.Handle(ctx, topic, payload)
	if err != nil {
		s.archiveFailed(err)
		s.lg.Warn("archive failed: the message is left for redelivery", "topic", topic, "err", err)
		return err
	}
	s.archiveOK()
	now := s.now()
	s.met.observe(v, now)
	if v.Channel == feed.ChannelEvents && v.State != watch.StateRejected && !v.Duplicate {
		if m, err := feed.ParseMessage(payload); err == nil {
			s.met.lag.Set(now.Sub(time.UnixMilli(m.Event.Time)).Seconds())
		}
	}
	if v.State == watch.StateRejected {
		s.lg.Info("rejected", "topic", topic, "reason", v.Reason, "err", v.Err)
	}
	if v.Alarm != nil {
		s.lg.Error("alarm", "reason", v.Alarm.Reason, "device", v.Alarm.Device, "epoch", v.Alarm.Epoch, "detail", v.Alarm.Detail)
	}
	if v.NewEpoch {
		s.lg.Warn("a device started a new epoch", "device", v.Device, "epoch", v.Epoch)
	}
	return nil
}

// archiveFailed records a failure of the archive, for /healthz.
func (s *Server) archiveFailed(err error) {
	s.met.archErrs.Inc()
	s.mu.Lock()
	s.archErr, s.archErrT = err, s.now()
	s.mu.Unlock()
}

// archiveOK records that the archive took a write.
func (s *Server) archiveOK() {
	s.mu.Lock()
	s.archErr = nil
	s.mu.Unlock()
}

func (s *Server) brokerStatus() []brokerStatus {
	st := s.sub.Status()
	out := make([]brokerStatus, len(st))
	for i, b := range st {
		out[i] = brokerStatus{Name: b.Name, Connected: b.Connected, Subscribed: b.Subscribed, Received: b.Received, LastError: b.LastError}
	}
	return out
}

// Addr is the HTTP listener's address, or nil without one.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Watcher is the server's verification core.
func (s *Server) Watcher() *watch.Watcher { return s.watcher }

// Archive is the server's archive.
func (s *Server) Archive() watch.Archive { return s.arc }

// part is one part running under Run's errgroup.
type part struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Run runs the watcher until ctx is done (a clean stop: nil) or a part
// fails, whose error it returns. The HTTP server starts first and stops
// last, so that /healthz and /metrics answer while the inputs drain.
func (s *Server) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	var parts []*part
	start := func(name string, run func(context.Context) error) {
		pctx, cancel := context.WithCancel(gctx)
		p := &part{cancel: cancel, done: make(chan struct{})}
		parts = append(parts, p)
		g.Go(func() error {
			defer close(p.done)
			if err := run(pctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	if s.http != nil {
		start("http", s.serveHTTP)
	}
	if len(s.pub.brokers) > 0 {
		start("cosigned checkpoints", s.pub.run)
	}
	start("brokers", s.sub.Run)
	for _, l := range s.ledgers {
		start("ledger "+l.name, func(ctx context.Context) error { return s.runLedger(ctx, l) })
	}
	s.lg.Info("watching", "devices", countDevices(s.cfg), "brokers", len(s.cfg.Brokers), "shard", fmt.Sprintf("%d/%d", s.cfg.Shard.Index, s.cfg.Shard.Count), "http", s.Addr())
	select {
	case <-ctx.Done():
	case <-gctx.Done():
	}
	for i := len(parts) - 1; i >= 0; i-- {
		parts[i].cancel()
		<-parts[i].done
	}
	return g.Wait()
}

func countDevices(c *watchconfig.Config) int {
	n := 0
	for _, op := range c.Trust.Operators {
		n += len(op.Devices)
	}
	return n
}

// serveHTTP serves until ctx is done, then lets the requests in progress
// end (for up to five seconds).
func (s *Server) serveHTTP(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(sctx)
	<-errc
	return err
}

// Close releases, in reverse build order, what New built. Call it after
// Run has returned, or in place of Run.
func (s *Server) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// readDSN returns the PostgreSQL connection string a configures.
func readDSN(a watchconfig.Archive) (string, error) {
	if a.PostgresDSN != "" {
		return a.PostgresDSN, nil
	}
	b, err := os.ReadFile(a.PostgresDSNFile)
	if err != nil {
		return "", fmt.Errorf("archive.postgres_dsn_file: %w", err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("archive.postgres_dsn_file: %s is empty", a.PostgresDSNFile)
	}
	return dsn, nil
}

// device parses a device address of a URL path.
func device(s string) (event.Address, error) { return event.ParseAddress(strings.ToLower(s)) }

// Report is what the watcher concluded: the archived events by state, the
// alarms in the archive, and since the server started, the checkpoints it
// cosigned and the messages it rejected, by reason.
type Report struct {
	Events   map[watch.State]uint64
	Alarms   map[watch.Reason]int
	Cosigned int
	Rejected map[watch.Reason]int
}

// Report returns what the watcher concluded so far.
func (s *Server) Report(ctx context.Context) (Report, error) {
	r := Report{Alarms: map[watch.Reason]int{}, Rejected: map[watch.Reason]int{}}
	var err error
	if r.Events, err = countStates(ctx, s.arc); err != nil {
		return r, err
	}
	err = s.arc.Alarms(ctx, func(a watch.Alarm) bool { r.Alarms[a.Reason]++; return true })
	if err != nil {
		return r, err
	}
	s.met.mu.Lock()
	r.Cosigned = s.met.nCosigned
	for k, v := range s.met.rejected {
		r.Rejected[k] = v
	}
	s.met.mu.Unlock()
	return r, nil
}
