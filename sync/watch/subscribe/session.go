package subscribe

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// errHandler is wrapped by the error that ends a connection because the
// handler failed.
var errHandler = errors.New("handler failed; the message stays unacknowledged for the broker to deliver again")

// conn is one connection to a broker: a fresh paho client, its lanes and
// the signals that end it.
type conn struct {
	b     *broker
	cl    mqtt.Client
	lanes []chan *delivery
	acks  ackQueue
	hctx  context.Context // the handlers' context
	wg    sync.WaitGroup  // the lanes

	stop     chan struct{} // closed: hand no more messages to the handler
	stopOnce sync.Once

	failed   chan struct{} // closed at the first handler error; err says why
	failOnce sync.Once
	err      error

	lost     chan struct{} // closed when paho reports the connection lost
	lostOnce sync.Once
	lostErr  error
}

func (c *conn) halt() { c.stopOnce.Do(func() { close(c.stop) }) }

func (c *conn) fail(err error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.failed)
	})
	c.halt()
}

func (c *conn) markLost(err error) {
	c.lostOnce.Do(func() {
		if err == nil {
			err = errors.New("connection lost")
		}
		c.lostErr = fmt.Errorf("connection lost: %w", err)
		close(c.lost)
	})
}

// session connects, subscribes and handles messages until the connection
// is lost, the handler fails or ctx is cancelled; it returns how long the
// connection was up.
func (b *broker) session(ctx context.Context) (time.Duration, error) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	workers := b.s.cfg.Workers
	c := &conn{b: b, hctx: hctx,
		lanes:  make([]chan *delivery, workers),
		stop:   make(chan struct{}),
		failed: make(chan struct{}),
		lost:   make(chan struct{}),
	}
	for i := range c.lanes {
		c.lanes[i] = make(chan *delivery, b.s.cfg.Queue)
	}
	// The lanes run before the connection: with a persistent session the
	// broker sends what it kept as soon as it has accepted the connection.
	for _, l := range c.lanes {
		c.wg.Add(1)
		go c.lane(l)
	}
	defer c.drain(cancel)

	present, err := c.connect(ctx)
	if err != nil {
		return 0, err
	}
	up := time.Now()
	var again bool
	b.update(func(st *BrokerStatus) {
		again = st.Connects > 0
		st.Connected, st.SessionPresent = true, present
		st.Connects++
	})
	b.s.logger.Info("subscribe: connected", "broker", b.cfg.Name, "client_id", b.cfg.ClientID, "session_present", present)
	if again && !present {
		// The broker forgot the session (restarted without persistence,
		// or expired it): what it received meanwhile was not kept.
		b.s.logger.Error("subscribe: the broker no longer held this watcher's session; messages published while it was disconnected are lost to it (gaps)",
			"broker", b.cfg.Name, "client_id", b.cfg.ClientID)
	}
	defer func() {
		b.update(func(st *BrokerStatus) { st.Connected, st.Subscribed = false, false })
	}()
	if err := c.subscribe(ctx); err != nil {
		return time.Since(up), err
	}
	select {
	case <-ctx.Done():
		err = nil
	case <-c.lost:
		err = c.lostErr
	case <-c.failed:
		err = c.err
	}
	if ctx.Err() == nil {
		b.s.logger.Info("subscribe: disconnected", "broker", b.cfg.Name, "err", err)
	}
	return time.Since(up), err
}

// drain stops the lanes, gives the handlers in progress ShutdownTimeout
// before it cancels their context, and closes the connection once they
// have sent their acknowledgements.
func (c *conn) drain(cancel context.CancelFunc) {
	c.halt()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	grace := c.b.s.cfg.ShutdownTimeout
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancel()
		t.Reset(grace)
		select {
		case <-done:
		case <-t.C:
			c.b.s.logger.Error("subscribe: a handler ignores its cancelled context; going on without it",
				"broker", c.b.cfg.Name, "waited", (2 * grace).String())
		}
	}
	if c.cl != nil {
		c.cl.Disconnect(250)
	}
}

// connect makes the connection and reports whether the broker still held
// the session.
func (c *conn) connect(ctx context.Context) (bool, error) {
	b := c.b
	o := mqtt.NewClientOptions().
		AddBroker(b.cfg.URL).
		SetClientID(b.cfg.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(b.cfg.KeepAlive).
		SetConnectTimeout(b.cfg.ConnectTimeout).
		SetWriteTimeout(b.cfg.ConnectTimeout).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetDefaultPublishHandler(c.receive).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.markLost(err) })
	if b.tls != nil {
		o.SetTLSConfig(b.tls)
	}
	if b.cfg.Username != "" {
		o.SetUsername(b.cfg.Username)
	}
	if b.password != "" {
		o.SetPassword(b.password)
	}
	c.cl = mqtt.NewClient(o)
	tok := c.cl.Connect()
	if err := c.await(ctx, tok, b.cfg.ConnectTimeout+5*time.Second, "connect"); err != nil {
		return false, err
	}
	if !c.cl.IsConnectionOpen() {
		return false, errors.New("connect: the connection closed as it opened")
	}
	return tok.(*mqtt.ConnectToken).SessionPresent(), nil
}

// await waits for tok, at most limit, and returns its error.
func (c *conn) await(ctx context.Context, tok mqtt.Token, limit time.Duration, what string) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-c.lost:
		return c.lostErr
	case <-c.failed:
		return c.err
	case <-t.C:
		return fmt.Errorf("%s: no answer from the broker within %v", what, limit)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// subscribe subscribes to the broker's filters with QoS 1, a bounded
// number per packet. A filter the broker refuses is logged and listed in
// the status; the others are kept.
func (c *conn) subscribe(ctx context.Context) error {
	b := c.b
	var refused []string
	for batch := range slices.Chunk(b.cfg.Filters, maxFiltersPerSubscribe) {
		m := make(map[string]byte, len(batch))
		for _, f := range batch {
			m[f] = 1
		}
		tok := c.cl.SubscribeMultiple(m, nil)
		if err := c.await(ctx, tok, b.cfg.ConnectTimeout, "subscribe"); err != nil {
			return err
		}
		res := tok.(*mqtt.SubscribeToken).Result()
		for _, f := range batch {
			if q, ok := res[f]; !ok || q > 2 {
				refused = append(refused, f)
			}
		}
	}
	b.update(func(st *BrokerStatus) { st.Refused, st.Subscribed = refused, true })
	if len(refused) > 0 {
		b.s.logger.Error("subscribe: the broker refused topic filters (not authorized?); their messages are not received",
			"broker", b.cfg.Name, "refused", len(refused), "first", refused[0], "of", len(b.cfg.Filters))
	}
	return nil
}

// receive is paho's handler of every message, called in the order the
// broker sent them. It passes each to its lane, waiting while the lane is
// full.
func (c *conn) receive(_ mqtt.Client, m mqtt.Message) {
	now := time.Now()
	topic := m.Topic()
	sel := c.b.s.cfg.Select
	skip := sel != nil && !sel(topic)
	c.b.update(func(st *BrokerStatus) {
		st.Received++
		if m.Duplicate() {
			st.Redelivered++
		}
		st.LastMessage = now
		if skip {
			st.Skipped++
		}
	})
	d := c.acks.add(m)
	if skip {
		c.acks.done(d)
		return
	}
	select {
	case c.lanes[laneOf(topic, len(c.lanes))] <- d:
	case <-c.stop:
	}
}

// delivery is a received message awaiting its handler or its turn to be
// acknowledged.
type delivery struct {
	m    mqtt.Message
	done bool // handled (or skipped): to be acknowledged in its turn
}

// ackQueue acknowledges messages in the order they were received, as MQTT
// 3.1.1 §4.6 requires of a client (and Mosquitto needs: acknowledged out of
// order, it sends later messages ahead of queued ones): a handled message
// waits for every message received before it.
type ackQueue struct {
	mu sync.Mutex
	q  []*delivery
}

// add queues a received message.
func (a *ackQueue) add(m mqtt.Message) *delivery {
	d := &delivery{m: m}
	a.mu.Lock()
	a.q = append(a.q, d)
	a.mu.Unlock()
	return d
}

// done marks d handled and acknowledges, in order, every message at the
// head of the queue that is. A message never marked done (its handler
// failed, or the connection ended first) holds back the acknowledgement
// of those after it: the broker delivers them all again.
func (a *ackQueue) done(d *delivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d.done = true
	n := 0
	for ; n < len(a.q) && a.q[n].done; n++ {
		a.q[n].m.Ack() // under the lock: acknowledgements leave in order
		a.q[n] = nil
	}
	a.q = a.q[n:]
}

// laneOf returns the lane of topic: by the FNV-1a hash of the topic
// without its last level, so that the channels of one device share a lane.
func laneOf(topic string, n int) int {
	if i := strings.LastIndexByte(topic, '/'); i >= 0 {
		topic = topic[:i]
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	return int(h.Sum32() % uint32(n))
}

// lane hands the messages of its channel to the handler one at a time and
// marks each that the handler accepted for acknowledgement. It stops at
// the first error.
func (c *conn) lane(ch <-chan *delivery) {
	defer c.wg.Done()
	for {
		var d *delivery
		select {
		case <-c.stop:
			return
		case d = <-ch:
		}
		m := d.m
		select {
		case <-c.stop:
			return
		default:
		}
		if err := c.handle(m); err != nil {
			c.b.update(func(st *BrokerStatus) { st.HandlerErrors++ })
			c.fail(fmt.Errorf("%w: topic %s: %w", errHandler, m.Topic(), err))
			return
		}
		c.b.update(func(st *BrokerStatus) { st.Handled++ })
		c.acks.done(d)
	}
}

// handle calls the handler; a panic is an error.
func (c *conn) handle(m mqtt.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return c.b.s.h(c.hctx, m.Topic(), m.Payload())
}

// backoff returns the delay before connection attempt n+1 after n
// failures: min·2ⁿ capped at max, of which a uniformly random half is
// taken away ("equal jitter"), so that watchers that lost the same broker
// at the same moment spread their reconnections over the interval.
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
