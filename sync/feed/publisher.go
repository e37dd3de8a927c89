package feed

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

// Log is what the publisher reads: the few methods of *eventlog.Log it
// uses. Every method must be safe for concurrent use with appends.
type Log interface {
	// Identity names the device and fleet (the topics) and the domain.
	Identity() eventlog.Identity
	// Origin is the checkpoint origin of the log's current epoch.
	Origin() string
	// Size is the number of durable events.
	Size() uint64
	// Range calls fn for up to limit events from seq from, in order.
	Range(from, limit uint64, fn func(seq uint64, leaf []byte) error) error
	// Latest returns the latest signed checkpoint note, or an error
	// wrapping eventlog.ErrNoCheckpoint.
	Latest() ([]byte, checkpoint.Checkpoint, error)
	// Retained is the first event whose payload the log still holds
	// (retention prunes older ones once the feed has delivered them).
	Retained() uint64
}

var _ Log = (*eventlog.Log)(nil)

// Defaults of Options.
const (
	DefaultWindow          = 64
	MaxWindow              = 1024 // far below the 65,535 MQTT packet identifiers
	DefaultKeepAlive       = 60 * time.Second
	DefaultConnectTimeout  = 30 * time.Second
	DefaultPublishTimeout  = 30 * time.Second
	DefaultBackoffMin      = time.Second
	DefaultBackoffMax      = 2 * time.Minute
	DefaultPollInterval    = time.Second
	DefaultCursorInterval  = 200 * time.Millisecond
	DefaultShutdownTimeout = 5 * time.Second
)

// TLSOptions configures TLS for ssl:// brokers. The broker's certificate is
// always verified unless InsecureSkipVerify is set.
type TLSOptions struct {
	// CAFile is a PEM file of the CAs that sign the broker's certificate;
	// empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key, for
	// brokers that require one; both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name the broker's certificate is checked
	// against (by default the host of the broker URL).
	ServerName string
	// InsecureSkipVerify accepts any broker certificate. THIS IS UNSAFE:
	// anyone on the path can read and change the feed. Only for tests.
	InsecureSkipVerify bool
}

// Options configures a Publisher. Zero durations and counts mean the
// defaults above.
type Options struct {
	// Brokers are the broker URLs, tried in order on every connection
	// attempt: tcp://host:port (or mqtt://) in the clear, ssl://host:port
	// (or tls://, mqtts://) with TLS. At least one.
	Brokers []string
	// TLS configures ssl:// brokers; nil means verification against the
	// system's roots without a client certificate.
	TLS *TLSOptions
	// Username and Password authenticate to the broker, if set.
	Username, Password string
	// ClientID is the MQTT client identifier. Default "waybill-" and the
	// device address's 40 hex digits: stable, so the broker resumes the
	// device's persistent session.
	ClientID string
	// KeepAlive is the MQTT keep-alive interval (whole seconds).
	KeepAlive time.Duration
	// ConnectTimeout bounds each connection attempt to each broker.
	ConnectTimeout time.Duration
	// Window is how many messages may await their PUBACK at once (default
	// DefaultWindow, at most MaxWindow).
	Window int
	// PublishTimeout is how long a message may await its PUBACK before the
	// connection is dropped and re-established.
	PublishTimeout time.Duration
	// Watchdog: when connected with a backlog and the cursor has not moved
	// for this long, reconnect. Default 2 × PublishTimeout.
	Watchdog time.Duration
	// BackoffMin and BackoffMax bound the delay between connection
	// attempts, which doubles per failure with jitter.
	BackoffMin, BackoffMax time.Duration
	// PollInterval is how often the log's size and latest checkpoint are
	// read when nothing calls Notify, and how often the watchdog looks.
	PollInterval time.Duration
	// CursorFile is where the cursor is persisted. Required.
	CursorFile string
	// CursorInterval is the least time between two writes of the cursor
	// file: after a crash, at most this long's acknowledgements (plus the
	// window) are published again.
	CursorInterval time.Duration
	// ShutdownTimeout is how long Run waits, once its context is
	// cancelled, for PUBACKs in flight and the "offline" status.
	ShutdownTimeout time.Duration
	// Logger receives the publisher's events; default discards.
	Logger *slog.Logger
	// LatestAnchor, if set, returns the record of the newest confirmed
	// anchor (the evidence of firmware-docs/ANCHORING.md §7, canonical
	// JSON), or nil; the feed publishes each new one, retained, on the
	// anchors topic.
	LatestAnchor func() []byte
	// Now is the clock TLS certificates are checked against and errors are
	// stamped with; default time.Now. Timeouts use the monotonic clock.
	Now func() time.Time
}

// Status is a snapshot of the publisher's state. Its JSON form is for the
// local API and `waybill status`.
type Status struct {
	Connected bool   `json:"connected"` // a connection is up
	Broker    string `json:"broker"`    // the broker of the current or last connection
	Origin    string `json:"origin"`    // the log's origin, which the cursor counts in
	// Cursor is the first sequence number the broker has not acknowledged:
	// every event before it was delivered.
	Cursor uint64 `json:"cursor"`
	// Persisted is the cursor as last written to CursorFile.
	Persisted uint64 `json:"persisted"`
	// Size is the log's size; Backlog is Size − Cursor, the events that
	// wait for the broker.
	Size    uint64 `json:"size"`
	Backlog uint64 `json:"backlog"`
	// Checkpoint is the tree size of the last checkpoint the broker
	// acknowledged on the checkpoints topic (0: none yet).
	Checkpoint uint64 `json:"checkpoint"`
	// Connects counts successful connections since New.
	Connects int `json:"connects"`
	// Skipped counts events never published because their payloads were
	// pruned before this publisher's cursor reached them: possible only
	// when its cursor file was removed or reset.
	Skipped uint64 `json:"skipped,omitempty"`
	// DamagedEvents counts events passed unpublished because the log
	// holds their bytes damaged (eventlog.DamageError.EventOnly): each is
	// a gap in the feed at its seq. DamagedSeqs lists the first
	// maxDamagedSeqs of them.
	DamagedEvents uint64   `json:"damaged_events,omitempty"`
	DamagedSeqs   []uint64 `json:"damaged_seqs,omitempty"`
	// Damaged says why the cursor file found at start could not be used
	// and where it was moved aside ("" if it could be).
	Damaged string `json:"cursor_damaged,omitempty"`
	// LastError is the last error, "" if none; LastErrorAt when it happened.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Publisher publishes a log's events to MQTT in sequence order and keeps a
// persisted cursor of what the broker acknowledged. See the package doc.
type Publisher struct {
	// Constant after New.
	log      Log
	opts     Options
	logger   *slog.Logger
	topics   Topics
	domain   []byte // the domain message, published retained on every connection
	origin   string
	clientID string
	tls      *tls.Config // nil: no ssl:// broker
	notify   chan struct{}
	running  atomic.Bool

	// mu guards the following.
	mu         sync.Mutex
	cursor     uint64        // acknowledged
	persisted  uint64        // on disk
	advanced   chan struct{} // closed when cursor moves; nil when no Wait waits
	dirty      chan struct{} // cap 1: the cursor writer has work
	st         Status
	lastErrMsg string
}

// New returns a publisher of log with opts. It checks the options, reads
// the TLS files and the cursor file, and connects to nothing: Run does.
// A cursor of another origin (the log started a new epoch) starts the new
// epoch's events at 0. A cursor file that cannot be read, or that is ahead
// of the log, is moved aside (PATH.damaged-<time>), reported in
// Status.Damaged and logged, and the log is published from its first
// event; only when it cannot be moved aside is New's error one wrapping
// ErrCursor.
func New(log Log, opts Options) (*Publisher, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	id := log.Identity()
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("feed: log identity: %w", err)
	}
	p := &Publisher{
		log: log, opts: o, logger: o.Logger,
		topics: TopicsFor(id.Fleet, id.Device), origin: log.Origin(),
		domain:   (&DomainMessage{ChainID: id.ChainID, Device: id.Device, Fleet: id.Fleet}).Marshal(),
		clientID: o.ClientID,
		notify:   make(chan struct{}, 1),
		dirty:    make(chan struct{}, 1),
	}
	if p.clientID == "" {
		p.clientID = "waybill-" + hex.EncodeToString(id.Device[:])
	}
	if p.tls, err = o.tlsConfig(); err != nil {
		return nil, err
	}
	for _, b := range o.Brokers {
		if u, _ := url.Parse(b); (u.Scheme == "tcp" || u.Scheme == "mqtt") && !isLoopback(u.Hostname()) && o.Password != "" {
			p.logger.Warn("feed: the broker password is sent in the clear (use ssl://)", "broker", redact(u))
		}
	}
	c, ok, err := readCursor(o.CursorFile)
	size := log.Size()
	if err == nil && ok && c.Origin == p.origin && c.Next > size {
		err = fmt.Errorf("%w: %s says %d events of %s were acknowledged, but the log has %d",
			ErrCursor, o.CursorFile, c.Next, p.origin, size)
	}
	p.st = Status{Origin: p.origin}
	if err != nil {
		// A cursor that cannot be read or does not fit the log must not
		// keep the agent from starting (a restart loop): it is moved
		// aside, never deleted, and the log published again.
		to, merr := moveAside(o.CursorFile, o.Now())
		if merr != nil {
			return nil, fmt.Errorf("feed: %w (%w); move or delete %s to publish the log again from its first event", err, merr, o.CursorFile)
		}
		p.st.Damaged = fmt.Sprintf("%v; moved aside to %s; publishing the log again from its first event", err, to)
		p.logger.Error("FEED CURSOR DAMAGED: moved aside; publishing the log again from its first event",
			"file", o.CursorFile, "moved_to", to, "err", err, "events", size)
		return p, nil
	}
	switch {
	case !ok:
		p.logger.Info("feed: no cursor file; publishing the log from its first event", "file", o.CursorFile, "events", size)
	case c.Origin != p.origin:
		p.logger.Warn("feed: the cursor is of another epoch; publishing the current epoch from its first event",
			"file", o.CursorFile, "cursor_origin", c.Origin, "cursor", c.Next, "origin", p.origin)
	default:
		p.cursor, p.persisted = c.Next, c.Next
	}
	return p, nil
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Brokers) == 0 {
		return o, errors.New("feed: no broker URL")
	}
	for i, b := range o.Brokers {
		u, err := url.Parse(b)
		if err != nil {
			// Not quoted: it may hold a password.
			return o, fmt.Errorf("feed: broker URL %d of %d is not a URL", i+1, len(o.Brokers))
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts":
		default:
			return o, fmt.Errorf("feed: broker URL %q: scheme %q is not tcp, mqtt, ssl, tls or mqtts", redact(u), u.Scheme)
		}
		if u.Host == "" || u.Port() == "" {
			return o, fmt.Errorf("feed: broker URL %q: want scheme://host:port", redact(u))
		}
	}
	if o.CursorFile == "" {
		return o, errors.New("feed: no cursor file")
	}
	if o.Window < 0 || o.Window > MaxWindow {
		return o, fmt.Errorf("feed: window %d is out of range (1 to %d)", o.Window, MaxWindow)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	def(&o.KeepAlive, DefaultKeepAlive)
	if o.KeepAlive < time.Second {
		o.KeepAlive = time.Second
	}
	def(&o.ConnectTimeout, DefaultConnectTimeout)
	def(&o.PublishTimeout, DefaultPublishTimeout)
	def(&o.Watchdog, 2*o.PublishTimeout)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	def(&o.PollInterval, DefaultPollInterval)
	def(&o.CursorInterval, DefaultCursorInterval)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Topics returns the device's topics.
func (p *Publisher) Topics() Topics { return p.topics }

// ClientID returns the MQTT client identifier the publisher connects with.
func (p *Publisher) ClientID() string { return p.clientID }

// Notify tells the publisher that the log has grown or signed a
// checkpoint. It never blocks; a missed call only delays publishing until
// the next poll.
func (p *Publisher) Notify() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of the publisher's state.
func (p *Publisher) Status() Status {
	size := p.log.Size()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.DamagedSeqs = slices.Clone(s.DamagedSeqs)
	s.Cursor, s.Persisted, s.Size = p.cursor, p.persisted, max(size, p.cursor)
	s.Backlog = s.Size - s.Cursor
	return s
}

// Wait blocks until the broker has acknowledged every event before seq
// (the cursor is at least seq) or ctx is done.
func (p *Publisher) Wait(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		if p.cursor >= seq {
			p.mu.Unlock()
			return nil
		}
		if p.advanced == nil {
			p.advanced = make(chan struct{})
		}
		ch := p.advanced
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// acked returns the cursor.
func (p *Publisher) acked() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cursor
}

// advance moves the cursor to next (never back) and wakes the cursor
// writer and Wait.
// maxDamagedSeqs bounds Status.DamagedSeqs.
const maxDamagedSeqs = 64

// passDamaged moves the cursor past event seq, whose bytes the log holds
// damaged, once every message before it was acknowledged. It counts and
// logs the event the first time the cursor passes it.
func (p *Publisher) passDamaged(seq uint64) {
	p.mu.Lock()
	first := seq >= p.cursor
	if first {
		p.st.DamagedEvents++
		if len(p.st.DamagedSeqs) < maxDamagedSeqs {
			p.st.DamagedSeqs = append(p.st.DamagedSeqs, seq)
		}
	}
	p.mu.Unlock()
	if first {
		p.logger.Error("feed: event damaged in the log, not published; consumers see a gap at its seq, which its checkpoint still covers",
			"seq", seq, "origin", p.origin,
			"next", fmt.Sprintf("waybill log check lists it; a consumer holding its genuine bytes proves them with waybill log prove --seq %d --leaf FILE", seq))
	}
	p.advance(seq + 1)
}

func (p *Publisher) advance(next uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if next <= p.cursor {
		return
	}
	p.cursor = next
	if p.advanced != nil {
		close(p.advanced)
		p.advanced = nil
	}
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

func (p *Publisher) update(f func(s *Status)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.st)
}

// fail records err in the status and logs it, at warn level the first
// time a message is seen in a row and at debug level after (so that a
// broker down for a week does not fill the log).
func (p *Publisher) fail(err error, args ...any) {
	msg := err.Error()
	p.mu.Lock()
	repeat := msg == p.lastErrMsg
	p.lastErrMsg = msg
	p.st.LastError, p.st.LastErrorAt = msg, p.opts.Now()
	p.mu.Unlock()
	level := slog.LevelWarn
	if repeat {
		level = slog.LevelDebug
	}
	p.logger.Log(context.Background(), level, "feed: "+msg, args...)
}

// Run connects, publishes and reconnects until ctx is cancelled, which is
// a clean exit (nil). It returns an error only if the log is closed under
// it. Only one Run may be active at a time.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("feed: Run is already running")
	}
	defer p.running.Store(false)

	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go p.cursorWriter(wctx, writerDone)
	defer func() {
		stopWriter()
		<-writerDone
		p.writeCursor()
	}()

	attempt := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		up, err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, eventlog.ErrClosed) {
			p.fail(err)
			return fmt.Errorf("feed: %w", err)
		}
		if up >= p.opts.BackoffMax {
			attempt = 0 // a connection that lasted is not part of a failure streak
		}
		delay := backoff(attempt, p.opts.BackoffMin, p.opts.BackoffMax)
		attempt++
		p.fail(err, "retry_in", delay.Round(time.Millisecond).String(), "attempt", attempt)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns the delay before connection attempt n+1 after n
// failures: min·2ⁿ capped at max, of which a uniformly random half is
// taken away ("equal jitter"), so that devices that lost the same broker at
// the same moment spread their reconnections over the interval.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return d - half + time.Duration(rand.Int64N(int64(half)+1))
}

// cursorWriter persists the cursor whenever it moved, at most once per
// CursorInterval, until ctx is cancelled.
func (p *Publisher) cursorWriter(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.dirty:
		}
		p.writeCursor()
		t := time.NewTimer(p.opts.CursorInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// writeCursor writes the cursor file if the cursor moved since the last
// write. A failed write is logged and retried at the next move: it can
// only cause messages to be published again after a crash.
func (p *Publisher) writeCursor() {
	p.mu.Lock()
	c := cursor{Origin: p.origin, Next: p.cursor}
	same := c.Next == p.persisted
	p.mu.Unlock()
	if same {
		return
	}
	if err := writeCursor(p.opts.CursorFile, c); err != nil {
		p.fail(fmt.Errorf("persist cursor: %w", err))
		return
	}
	p.mu.Lock()
	if c.Next > p.persisted {
		p.persisted = c.Next
	}
	p.mu.Unlock()
}

// brokers returns the broker URLs with any password hidden.
func (p *Publisher) brokers() []string {
	out := make([]string, len(p.opts.Brokers))
	for i, b := range p.opts.Brokers {
		u, _ := url.Parse(b) // checked by New
		out[i] = redact(u)
	}
	return out
}

// isLoopback reports whether a URL host names a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
