// Package subscribe is the MQTT ingestion of a feed watcher: it subscribes
// to the devices' feeds (firmware-docs/FEED.md) on one or more brokers and
// hands every message to a Handler, in order per device, acknowledging it
// to the broker only once the handler has returned nil.
//
// # Delivery
//
// Each broker is reached with a persistent session (clean session off, a
// stable client identifier) and QoS 1 subscriptions, and paho's automatic
// acknowledgement is off: the PUBACK of a message is sent only after the
// handler returned nil for it. A message whose handler failed, or that was
// in flight when the watcher stopped or was killed, is therefore still the
// broker's, which delivers it again on the next connection of the session.
// Nothing acknowledged was handled less than once; duplicates are the
// handler's to drop (the verification core deduplicates by device, epoch
// and sequence number).
//
// A handler error ends the connection: the messages of that device after
// the failed one must not be handled before it, and the broker only sends
// an unacknowledged message again on a new connection. The subscriber
// reconnects after a backoff with jitter, as after any lost connection.
//
// # Order
//
// Messages are dealt to Config.Workers lanes by their topic without its
// last level (for a feed topic: the device), so the messages of one device
// are handled one at a time in the order the broker sent them, and those of
// different devices in parallel. The PUBACKs leave in the order the messages
// came (MQTT 3.1.1 §4.6): a message handled early waits for those before
// it. The broker must keep the order too: with Mosquitto 2.0.11, set
// max_inflight_messages 0 (firmware-docs/FEED.md §9).
//
// # Shards
//
// Several watchers split a city's devices with Shard and ShardOf, without
// coordination: see firmware-docs/FEED.md §9.
package subscribe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler handles one message received on topic. It returns nil once the
// message needs never be delivered again (it was archived, or refused for
// good); any error leaves the message unacknowledged, to be delivered again.
// The handler of a stopping subscriber sees its context cancelled after
// Config.ShutdownTimeout.
type Handler func(ctx context.Context, topic string, payload []byte) error

// Defaults of Broker and Config.
const (
	DefaultKeepAlive       = 60 * time.Second
	DefaultConnectTimeout  = 30 * time.Second
	DefaultBackoffMin      = time.Second
	DefaultBackoffMax      = 2 * time.Minute
	DefaultWorkers         = 4
	DefaultQueue           = 64
	DefaultShutdownTimeout = 5 * time.Second
)

// maxFiltersPerSubscribe bounds the topic filters of one SUBSCRIBE packet.
const maxFiltersPerSubscribe = 256

// Broker is one broker to subscribe to. Zero durations mean the defaults.
type Broker struct {
	// Name names the broker in the status and the logs; default the URL
	// without its password.
	Name string
	// URL is tcp://host:port (or mqtt://) in the clear, ssl://host:port
	// (or tls://, mqtts://) with TLS, ws://host:port/path or
	// wss://host:port/path over WebSocket.
	URL string
	// TLS configures an ssl:// or wss:// broker; nil means verification
	// against the system's roots without a client certificate.
	TLS *TLS
	// Username and the password read from PasswordFile (its first line,
	// without the line end) authenticate to the broker, if set.
	Username     string
	PasswordFile string
	// ClientID is the MQTT client identifier: required, stable across
	// restarts (the broker keeps the session under it) and used by this
	// watcher alone (a second client with it takes the session over).
	ClientID string
	// Filters are the topic filters subscribed to with QoS 1: FleetFilter,
	// DeviceFilter or ShardFilters. At least one.
	Filters []string
	// KeepAlive is the MQTT keep-alive interval (whole seconds).
	KeepAlive time.Duration
	// ConnectTimeout bounds a connection attempt and each subscription.
	ConnectTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between connection
	// attempts, which doubles per failure with jitter.
	BackoffMin, BackoffMax time.Duration
}

// Config configures a Subscriber.
type Config struct {
	// Brokers are subscribed to at once, each on its own connection. At
	// least one.
	Brokers []Broker
	// Workers is the number of lanes per connection: the most messages
	// handled at once. Default DefaultWorkers.
	Workers int
	// Queue is the number of messages each lane holds waiting for the
	// handler; paho waits (and with it the connection) while it is full.
	// Default DefaultQueue.
	Queue int
	// Select, if set, says which topics to handle: a message whose topic
	// it refuses is acknowledged without calling the handler (counted as
	// Skipped). Shard.OwnsTopic is one.
	Select func(topic string) bool
	// ShutdownTimeout is how long the handlers in progress may take, once
	// Run's context is cancelled or a connection ends, before their context
	// is cancelled.
	ShutdownTimeout time.Duration
}

// BrokerStatus is a snapshot of one broker's connection and counters.
type BrokerStatus struct {
	Name      string `json:"name"`
	URL       string `json:"url"` // without a password
	ClientID  string `json:"client_id"`
	Connected bool   `json:"connected"`
	// Subscribed is set once the broker answered every subscription of
	// the current connection.
	Subscribed bool `json:"subscribed"`
	// Connects counts successful connections since New.
	Connects int `json:"connects"`
	// SessionPresent is the broker's answer to the last connection: it
	// still held this client's session.
	SessionPresent bool `json:"session_present"`
	// Received counts the messages received, Redelivered those of them
	// the broker flagged as sent before (DUP), Handled those the handler
	// accepted, Skipped those Select refused (both acknowledged in their
	// turn), HandlerErrors the handler's errors.
	Received      uint64 `json:"received"`
	Redelivered   uint64 `json:"redelivered"`
	Handled       uint64 `json:"handled"`
	Skipped       uint64 `json:"skipped"`
	HandlerErrors uint64 `json:"handler_errors"`
	// LastMessage is when the last message was received.
	LastMessage time.Time `json:"last_message,omitzero"`
	// Refused lists the topic filters the broker refused (not authorized).
	Refused []string `json:"refused,omitempty"`
	// LastError is the last error, "" if none; LastErrorAt when it happened.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Subscriber subscribes to the brokers of a Config and hands their
// messages to a Handler.
type Subscriber struct {
	cfg     Config
	h       Handler
	logger  *slog.Logger
	brokers []*broker
	running atomic.Bool
}

// broker is the state of one broker.
type broker struct {
	s        *Subscriber
	cfg      Broker
	url      string // redacted
	password string
	tls      *tls.Config // nil: a plain broker

	mu      sync.Mutex
	st      BrokerStatus
	lastErr string
}

// New returns a subscriber of the brokers of cfg that hands their messages
// to h. It checks the configuration, reads the password and TLS files and
// connects to nothing: Run does. A nil logger discards.
func New(cfg Config, h Handler, logger *slog.Logger) (*Subscriber, error) {
	if h == nil {
		return nil, errors.New("subscribe: no handler")
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("subscribe: no broker")
	}
	if cfg.Workers < 0 || cfg.Queue < 0 {
		return nil, fmt.Errorf("subscribe: workers %d and queue %d must not be negative", cfg.Workers, cfg.Queue)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Subscriber{cfg: cfg, h: h, logger: logger}
	sessions := map[string]int{}
	for i, bc := range cfg.Brokers {
		b, err := newBroker(s, i, len(cfg.Brokers), bc)
		if err != nil {
			return nil, err
		}
		// Two connections with one client identifier to one broker take
		// the session from each other, endlessly.
		k := b.cfg.URL + "\x00" + b.cfg.ClientID
		if j, dup := sessions[k]; dup {
			return nil, fmt.Errorf("subscribe: brokers %d and %d have the same URL and client ID %q", j+1, i+1, b.cfg.ClientID)
		}
		sessions[k] = i
		s.brokers = append(s.brokers, b)
	}
	return s, nil
}

func newBroker(s *Subscriber, i, n int, c Broker) (*broker, error) {
	where := fmt.Sprintf("subscribe: broker %d of %d", i+1, n)
	u, err := url.Parse(c.URL)
	if err != nil || c.URL == "" {
		// Not quoted: it may hold a password.
		return nil, fmt.Errorf("%s: the URL is not a URL", where)
	}
	red := u.Redacted()
	if c.Name == "" {
		c.Name = red
	}
	where = fmt.Sprintf("subscribe: broker %q", c.Name)
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return nil, fmt.Errorf("%s: URL %q: scheme %q is not tcp, mqtt, ssl, tls, mqtts, ws or wss", where, red, u.Scheme)
	}
	if u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("%s: URL %q: want scheme://host:port", where, red)
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("%s: no client ID (the broker keeps the persistent session under it: give each watcher its own, stable one)", where)
	}
	if len(c.ClientID) > 65535 || !utf8Valid(c.ClientID) {
		return nil, fmt.Errorf("%s: client ID is not a UTF-8 string of at most 65,535 bytes", where)
	}
	if len(c.Filters) == 0 {
		return nil, fmt.Errorf("%s: no topic filter", where)
	}
	seen := map[string]bool{}
	for _, f := range c.Filters {
		if err := checkFilter(f); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[f] {
			return nil, fmt.Errorf("%s: topic filter %q is listed twice", where, f)
		}
		seen[f] = true
		if strings.HasPrefix(f, "$share/") {
			s.logger.Warn("subscribe: a shared subscription keeps each device's messages in order only if the broker deals them out by publisher (EMQX hash_clientid); Mosquitto deals them round-robin: use shards instead (FEED.md §9)",
				"broker", c.Name, "filter", f)
		}
	}
	if (c.KeepAlive > 0 && c.KeepAlive < time.Second) || c.KeepAlive > 65535*time.Second {
		return nil, fmt.Errorf("%s: keep-alive %v is out of range (1 s to 65,535 s)", where, c.KeepAlive)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.KeepAlive, DefaultKeepAlive)
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.BackoffMin, DefaultBackoffMin)
	def(&c.BackoffMax, DefaultBackoffMax)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	b := &broker{s: s, cfg: c, url: red}
	if c.PasswordFile != "" {
		if b.password, err = readPassword(c.PasswordFile); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if !secure(u.Scheme) && !isLoopback(u.Hostname()) {
			s.logger.Warn("subscribe: the broker password is sent in the clear (use ssl:// or wss://)", "broker", c.Name)
		}
	}
	if b.tls, err = tlsConfig(u, c.TLS, where); err != nil {
		return nil, err
	}
	b.st = BrokerStatus{Name: c.Name, URL: red, ClientID: c.ClientID}
	return b, nil
}

// readPassword reads the first line of a password file, without its line
// end.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	p, _, _ := strings.Cut(string(b), "\n")
	p = strings.TrimSuffix(p, "\r")
	if p == "" {
		return "", fmt.Errorf("password file %s: the first line is empty", path)
	}
	return p, nil
}

// isLoopback reports whether a URL host names a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Status returns a snapshot of every broker's status, in the order of
// Config.Brokers.
func (s *Subscriber) Status() []BrokerStatus {
	out := make([]BrokerStatus, len(s.brokers))
	for i, b := range s.brokers {
		b.mu.Lock()
		out[i] = b.st
		out[i].Refused = append([]string(nil), b.st.Refused...)
		b.mu.Unlock()
	}
	return out
}

// Run connects to every broker, handles their messages and reconnects,
// until ctx is cancelled; then it waits for the handlers in progress (see
// Config.ShutdownTimeout), disconnects and returns nil. Only one Run may be
// active at a time.
func (s *Subscriber) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("subscribe: Run is already running")
	}
	defer s.running.Store(false)
	var wg sync.WaitGroup
	for _, b := range s.brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// run connects and reconnects to the broker until ctx is cancelled.
func (b *broker) run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		up, err := b.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if up >= b.cfg.BackoffMax {
			attempt = 0 // a connection that lasted is not part of a failure streak
		}
		delay := backoff(attempt, b.cfg.BackoffMin, b.cfg.BackoffMax)
		attempt++
		b.fail(err, "retry_in", delay.Round(time.Millisecond).String(), "attempt", attempt)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fail records err in the status and logs it, at warn level the first
// time a message is seen in a row and at debug level after.
func (b *broker) fail(err error, args ...any) {
	msg := err.Error()
	b.mu.Lock()
	repeat := msg == b.lastErr
	b.lastErr = msg
	b.st.LastError, b.st.LastErrorAt = msg, time.Now()
	b.mu.Unlock()
	level := slog.LevelWarn
	if repeat {
		level = slog.LevelDebug
	}
	b.s.logger.Log(context.Background(), level, "subscribe: "+msg, append([]any{"broker", b.cfg.Name}, args...)...)
}

func (b *broker) update(f func(st *BrokerStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.st)
}
