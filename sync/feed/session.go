package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/waybill-eu/waybill/agent/eventlog"
)

// errStalled ends a session whose cursor stopped moving with a backlog.
var errStalled = errors.New("watchdog: connected with a backlog but no acknowledgement")

// maxChunk caps the events read from the log in one Range call.
const maxChunk = 256

// conn is one MQTT connection: a paho client used for exactly one network
// connection and then thrown away. Paho's own reconnection is off; a new
// conn is a new client, so no token of an earlier connection can complete
// in this one.
type conn struct {
	cl     mqtt.Client
	lost   chan struct{} // closed by paho's connection-lost callback
	once   sync.Once
	why    atomic.Value // error: why the connection was lost
	broker atomic.Value // string: the broker paho last tried
}

func (c *conn) markLost(err error) {
	if err == nil {
		err = errors.New("connection lost")
	}
	c.why.Store(err)
	c.once.Do(func() { close(c.lost) })
}

func (c *conn) lostErr() error {
	if e, ok := c.why.Load().(error); ok {
		return fmt.Errorf("connection lost: %w", e)
	}
	return errors.New("connection lost")
}

func (c *conn) brokerURL() string {
	s, _ := c.broker.Load().(string)
	return s
}

// connect makes one connection attempt (paho tries each broker in turn).
// The callbacks only record what happened: no blocking work runs in paho's
// goroutines.
func (p *Publisher) connect(ctx context.Context) (*conn, error) {
	c := &conn{lost: make(chan struct{})}
	o := mqtt.NewClientOptions()
	for _, b := range p.opts.Brokers {
		o.AddBroker(b)
	}
	o.SetClientID(p.clientID).
		SetProtocolVersion(4). // MQTT 3.1.1, no fallback to 3.1
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(p.opts.KeepAlive).
		SetPingTimeout(min(p.opts.KeepAlive, 10*time.Second)).
		SetConnectTimeout(p.opts.ConnectTimeout).
		SetWriteTimeout(p.opts.PublishTimeout).
		SetDialer(&net.Dialer{Timeout: p.opts.ConnectTimeout}).
		SetStore(mqtt.NewMemoryStore()).
		SetMaxResumePubInFlight(p.opts.Window).
		SetBinaryWill(p.topics.Status, []byte(StatusOffline), 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.markLost(err) }).
		SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
			if b, ok := n.(mqtt.ConnectionNotificationBroker); ok && b.Broker != nil {
				c.broker.Store(redact(b.Broker))
			}
		})
	if p.tls != nil {
		o.SetTLSConfig(p.tls)
	}
	if p.opts.Username != "" {
		o.SetUsername(p.opts.Username)
	}
	if p.opts.Password != "" {
		o.SetPassword(p.opts.Password)
	}
	c.cl = mqtt.NewClient(o)
	tok := c.cl.Connect()
	limit := time.Duration(len(p.opts.Brokers))*p.opts.ConnectTimeout + 5*time.Second
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.cl.Disconnect(0) // returns at once; paho finishes the attempt and closes it
		return nil, ctx.Err()
	case <-t.C:
		c.cl.Disconnect(0)
		return nil, fmt.Errorf("connect: no answer from %v within %v", p.brokers(), limit)
	}
	if err := tok.Error(); err != nil {
		return nil, p.connectError(err)
	}
	if !c.cl.IsConnectionOpen() {
		return nil, errors.New("connect: the connection closed as it opened")
	}
	return c, nil
}

// kind is what a message in flight carries.
type kind uint8

const (
	kindEvent kind = iota
	kindCheckpoint
	kindStatus
	kindAnchor
	kindDomain
	kindDamaged // an event the log cannot serve: nothing is published
)

// pending is a published message awaiting its PUBACK.
type pending struct {
	kind kind
	seq  uint64 // event: its seq; checkpoint: its tree size
	tok  mqtt.Token
	sent time.Time
}

func (it pending) String() string {
	switch it.kind {
	case kindEvent:
		return fmt.Sprintf("event %d", it.seq)
	case kindCheckpoint:
		return fmt.Sprintf("checkpoint of size %d", it.seq)
	case kindAnchor:
		return "anchor record"
	case kindDomain:
		return "domain message"
	case kindDamaged:
		return fmt.Sprintf("damaged event %d", it.seq)
	}
	return "status"
}

// session is the publishing state of one connection. The producer (run)
// publishes; the acker waits for PUBACKs in publication order and moves
// the cursor.
type session struct {
	p *Publisher
	c *conn

	queue     chan pending // published, in order; the acker takes from it
	inflight  atomic.Int64 // messages published and not yet acknowledged
	freed     chan struct{}
	failed    chan struct{} // closed by the acker when it gives up; err says why
	err       error
	done      chan struct{} // closed to stop the acker
	ackerDone chan struct{}
	cpPending atomic.Bool // a checkpoint awaits its PUBACK

	// Producer only.
	next   uint64   // next seq to publish
	ahead  [][]byte // messages of events next, next+1, … read from the log; nil: damaged
	buf    [][]byte // backing array of ahead
	cpNote []byte   // the checkpoint note last published in this session
	anchor []byte   // the anchor record last published in this session
}

// session connects and publishes until the connection fails or ctx is
// cancelled; it returns how long the connection was up.
func (p *Publisher) session(ctx context.Context) (time.Duration, error) {
	c, err := p.connect(ctx)
	if err != nil {
		return 0, err
	}
	up := time.Now()
	p.update(func(s *Status) { s.Connected, s.Broker = true, c.brokerURL(); s.Connects++ })
	p.logger.Info("feed: connected", "broker", c.brokerURL(), "client_id", p.clientID, "cursor", p.acked())
	s := &session{p: p, c: c,
		queue:     make(chan pending, p.opts.Window+4),
		freed:     make(chan struct{}, 1),
		failed:    make(chan struct{}),
		done:      make(chan struct{}),
		ackerDone: make(chan struct{}),
	}
	go s.acker()
	err = s.run(ctx)
	close(s.done)
	<-s.ackerDone
	c.cl.Disconnect(250)
	p.update(func(s *Status) { s.Connected = false })
	if ctx.Err() == nil {
		p.logger.Info("feed: disconnected", "broker", c.brokerURL(), "cursor", p.acked(), "err", err)
	}
	return time.Since(up), err
}

// run is the producer.
func (s *session) run(ctx context.Context) error {
	p := s.p
	if err := s.publish(pending{kind: kindStatus}, p.topics.Status, true, []byte(StatusOnline)); err != nil {
		return err
	}
	if err := s.publish(pending{kind: kindDomain}, p.topics.Domain, true, p.domain); err != nil {
		return err
	}
	s.next = p.acked()
	if r := p.log.Retained(); s.next < r {
		// Retention prunes only what the persisted cursor has passed; a
		// cursor behind it was reset. Those payloads are gone: say so and
		// go on from the first one kept.
		p.logger.Error("feed: events pruned before they were published (was the cursor file removed?); continuing after them",
			"from", s.next, "to", r-1, "cursor_file", p.opts.CursorFile)
		skipped := r - s.next
		p.update(func(st *Status) { st.Skipped += skipped })
		p.advance(r)
		s.next = r
	}
	tick := time.NewTicker(p.opts.PollInterval)
	defer tick.Stop()
	lastCheck := time.Time{}
	progress, progressAt := p.acked(), time.Now()
	for {
		size := p.log.Size()
		if err := s.fill(size); err != nil {
			return err
		}
		if time.Since(lastCheck) >= p.opts.PollInterval {
			lastCheck = time.Now()
			if err := s.checkpoint(); err != nil {
				return err
			}
			if err := s.anchorRecord(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			s.shutdown()
			return ctx.Err()
		case <-s.c.lost:
			return s.c.lostErr()
		case <-s.failed:
			return s.err
		case <-s.freed:
		case <-p.notify:
		case <-tick.C:
			cur := p.acked()
			switch {
			case cur != progress || size <= cur:
				progress, progressAt = cur, time.Now()
			case time.Since(progressAt) > p.opts.Watchdog:
				return fmt.Errorf("%w for %v (cursor %d, log size %d)", errStalled, p.opts.Watchdog, cur, size)
			}
		}
	}
}

// fill publishes events from s.next while the window has room, from a
// read-ahead buffer of up to maxChunk events.
func (s *session) fill(size uint64) error {
	p := s.p
	for {
		if len(s.ahead) == 0 {
			if s.next >= size {
				return nil
			}
			if err := s.readAhead(size); err != nil {
				return err
			}
		}
		room := int64(p.opts.Window) - s.inflight.Load()
		for ; room > 0 && len(s.ahead) > 0; room-- {
			it, msg := pending{kind: kindEvent, seq: s.next}, s.ahead[0]
			if msg == nil {
				it.kind = kindDamaged
			}
			if err := s.publish(it, p.topics.Events, false, msg); err != nil {
				return err
			}
			s.ahead[0] = nil
			s.ahead = s.ahead[1:]
			s.next++
		}
		if room <= 0 {
			return nil
		}
	}
}

// readAhead reads the events from s.next (at most maxChunk) and builds
// their messages. It builds them inside Range but publishes them outside:
// Range holds a read transaction, which must not wait on the network.
func (s *session) readAhead(size uint64) error {
	p := s.p
	n := min(size-s.next, maxChunk)
	if cap(s.buf) < maxChunk {
		s.buf = make([][]byte, 0, maxChunk)
	}
	msgs := s.buf[:0]
	want, end := s.next, s.next+n
	for want < end {
		err := p.log.Range(want, end-want, func(seq uint64, leaf []byte) error {
			if seq != want {
				return fmt.Errorf("log returned event %d where %d was expected", seq, want)
			}
			want++
			msgs = append(msgs, appendMessage(nil, p.origin, seq, leaf))
			return nil
		})
		// An event whose bytes alone are damaged is never served, and
		// the events after it still are: it becomes a gap (nil), the
		// rest are read on.
		var d *eventlog.DamageError
		if errors.As(err, &d) && d.EventOnly() && d.Seq == want {
			msgs = append(msgs, nil)
			want++
			continue
		}
		if err != nil {
			return fmt.Errorf("read events from %d: %w", s.next, err)
		}
		break
	}
	if uint64(len(msgs)) != n {
		return fmt.Errorf("read events from %d: the log returned %d of %d", s.next, len(msgs), n)
	}
	s.ahead = msgs
	return nil
}

// checkpoint publishes the log's latest checkpoint (retained) once the
// events it covers have been published, if this session has not yet.
func (s *session) checkpoint() error {
	if s.cpPending.Load() {
		return nil
	}
	note, c, err := s.p.log.Latest()
	if errors.Is(err, eventlog.ErrNoCheckpoint) {
		return nil
	}
	if errors.Is(err, eventlog.ErrClosed) {
		return err
	}
	if err != nil {
		s.p.fail(fmt.Errorf("read the latest checkpoint: %w", err))
		return nil
	}
	if c.Size > s.next || bytes.Equal(note, s.cpNote) {
		return nil
	}
	s.cpNote = note
	s.cpPending.Store(true)
	return s.publish(pending{kind: kindCheckpoint, seq: c.Size}, s.p.topics.Checkpoints, true, note)
}

// anchorRecord publishes the newest confirmed anchor's record (retained),
// when Options.LatestAnchor gives one this session has not published.
func (s *session) anchorRecord() error {
	if s.p.opts.LatestAnchor == nil {
		return nil
	}
	rec := s.p.opts.LatestAnchor()
	if len(rec) == 0 || bytes.Equal(rec, s.anchor) {
		return nil
	}
	s.anchor = rec
	return s.publish(pending{kind: kindAnchor}, s.p.topics.Anchors, true, rec)
}

// publish hands one QoS 1 message to paho and queues it for the acker.
// A damaged event is queued without publishing anything: the acker passes
// it once every message before it is acknowledged, so the cursor moves
// past it in order.
func (s *session) publish(it pending, topic string, retain bool, payload []byte) error {
	s.inflight.Add(1)
	if it.kind != kindDamaged {
		it.tok = s.c.cl.Publish(topic, 1, retain, payload)
		it.sent = time.Now()
	}
	select {
	case s.queue <- it:
		return nil
	case <-s.c.lost:
		return s.c.lostErr()
	case <-s.failed:
		return s.err
	}
}

// shutdown runs when Run's context is cancelled while connected: it
// publishes "offline" (a clean disconnect discards the will) and waits, at
// most ShutdownTimeout, for the PUBACKs in flight.
func (s *session) shutdown() {
	t := time.NewTimer(s.p.opts.ShutdownTimeout)
	defer t.Stop()
	it := pending{kind: kindStatus}
	s.inflight.Add(1)
	it.tok = s.c.cl.Publish(s.p.topics.Status, 1, true, []byte(StatusOffline))
	it.sent = time.Now()
	select {
	case s.queue <- it:
	case <-s.c.lost:
		return
	case <-s.failed:
		return
	case <-t.C:
		return
	}
	for s.inflight.Load() > 0 {
		select {
		case <-s.freed:
		case <-s.c.lost:
			return
		case <-s.failed:
			return
		case <-t.C:
			return
		}
	}
}

// acker waits for each message's PUBACK in publication order and moves
// the cursor past each acknowledged event.
func (s *session) acker() {
	defer close(s.ackerDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		var it pending
		select {
		case it = <-s.queue:
		case <-s.done:
			return
		}
		if it.kind != kindDamaged {
			err := awaitAck(it.tok, s.c.lost, s.c.cl.IsConnectionOpen, it.sent.Add(s.p.opts.PublishTimeout), s.done, t)
			if err != nil {
				s.err = fmt.Errorf("%s: %w", it, err)
				close(s.failed)
				return
			}
		}
		switch it.kind {
		case kindEvent:
			s.p.advance(it.seq + 1)
		case kindDamaged:
			s.p.passDamaged(it.seq)
		case kindCheckpoint:
			s.cpPending.Store(false)
			s.p.update(func(st *Status) { st.Checkpoint = it.seq })
		}
		// Wake the producer at every acknowledgement: refilling the
		// window in bursts would leave the link idle between them, and a
		// broker with Nagle's algorithm on (Mosquitto's default) then
		// holds its PUBACKs for the client's delayed ACK, some 40 ms.
		s.inflight.Add(-1)
		select {
		case s.freed <- struct{}{}:
		default:
		}
	}
}

// Errors of awaitAck.
var (
	errAckTimeout = errors.New("no PUBACK in time")
	errNotOnLine  = errors.New("completed while the connection was down: not counted as delivered")
	errStopped    = errors.New("session stopped")
)

// awaitAck waits until tok completes, the connection is lost, the
// deadline passes or done is closed, and returns nil only if the message
// was delivered: the token completed without error and the connection it
// was published on is still up. Paho completes tokens on some connection
// losses without an error, so a completed token alone proves nothing.
// timer is a stopped timer to reuse.
func awaitAck(tok mqtt.Token, lost <-chan struct{}, open func() bool, deadline time.Time, done <-chan struct{}, timer *time.Timer) error {
	timer.Reset(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-tok.Done():
	case <-lost:
		return errors.New("connection lost before the PUBACK")
	case <-timer.C:
		return errAckTimeout
	case <-done:
		return errStopped
	}
	if err := tok.Error(); err != nil {
		return err
	}
	select {
	case <-lost:
		return errNotOnLine
	default:
	}
	if !open() {
		return errNotOnLine
	}
	return nil
}
