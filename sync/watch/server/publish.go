package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/watch/watchconfig"
)

// CosignedTopicRoot is the first levels of the topics of cosigned
// checkpoints, apart from the devices' feed topics (FEED.md §1).
const CosignedTopicRoot = "waybill/witness/v1"

// CosignedTopic returns the topic a watcher whose witness key has the ID
// keyID publishes the cosigned checkpoints of a device's epoch on,
// retained: waybill/witness/v1/{key ID, 8 hex digits}/{fleet}/{device}/{epoch}.
func CosignedTopic(keyID uint32, fleet string, device event.Address, epoch uint32) string {
	return fmt.Sprintf("%s/%08x/%s/%s/%d", CosignedTopicRoot, keyID, fleet, device, epoch)
}

// publisher publishes the cosigned checkpoints, retained, on the brokers
// that carry them. Only the latest note of each topic is kept waiting: a
// retained topic's reader wants the newest.
type publisher struct {
	lg      *slog.Logger
	brokers []*pubBroker
}

type pubBroker struct {
	name string
	opts *mqtt.ClientOptions

	mu      sync.Mutex
	pending map[string][]byte
	wake    chan struct{}
}

func newPublisher(c *watchconfig.Config, lg *slog.Logger) (*publisher, error) {
	p := &publisher{lg: lg}
	for _, b := range c.Brokers {
		if !b.Publish {
			continue
		}
		o := mqtt.NewClientOptions().
			AddBroker(b.URL).
			SetClientID(b.ClientID + "-witness").
			SetProtocolVersion(4).
			SetCleanSession(true).
			SetAutoReconnect(true).
			SetConnectRetry(true).
			SetConnectRetryInterval(2 * time.Second).
			SetMaxReconnectInterval(time.Minute).
			SetConnectTimeout(30 * time.Second).
			SetKeepAlive(60 * time.Second)
		if b.Username != "" {
			o.SetUsername(b.Username)
		}
		if b.PasswordFile != "" {
			pw, err := os.ReadFile(b.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("broker %s: password_file: %w", b.Name, err)
			}
			first, _, _ := strings.Cut(string(pw), "\n")
			o.SetPassword(strings.TrimSuffix(first, "\r"))
		}
		if secure(b.URL) {
			tc, err := tlsConfig(b)
			if err != nil {
				return nil, fmt.Errorf("broker %s: %w", b.Name, err)
			}
			o.SetTLSConfig(tc)
		}
		p.brokers = append(p.brokers, &pubBroker{name: b.Name, opts: o, pending: map[string][]byte{}, wake: make(chan struct{}, 1)})
	}
	return p, nil
}

func secure(url string) bool {
	for _, s := range []string{"ssl://", "tls://", "mqtts://", "wss://"} {
		if strings.HasPrefix(url, s) {
			return true
		}
	}
	return false
}

func tlsConfig(b watchconfig.Broker) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: b.ServerName, InsecureSkipVerify: b.Insecure}
	if b.CAFile != "" {
		pem, err := os.ReadFile(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", b.CAFile)
		}
	}
	if b.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// offer queues note for topic on every broker. It never blocks.
func (p *publisher) offer(topic string, note []byte) {
	for _, b := range p.brokers {
		b.mu.Lock()
		b.pending[topic] = note
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// run publishes until ctx is done.
func (p *publisher) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, b := range p.brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.run(ctx, p.lg)
		}()
	}
	wg.Wait()
	return nil
}

func (b *pubBroker) run(ctx context.Context, lg *slog.Logger) {
	cl := mqtt.NewClient(b.opts)
	cl.Connect() // retries on its own until Disconnect
	defer cl.Disconnect(250)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-tick.C:
		}
		if !cl.IsConnectionOpen() {
			continue
		}
		b.mu.Lock()
		batch := make(map[string][]byte, len(b.pending))
		for t, n := range b.pending {
			batch[t] = n
		}
		b.mu.Unlock()
		for topic, note := range batch {
			tok := cl.Publish(topic, 1, true, note)
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				err := tok.Error()
				if err == nil {
					err = errors.New("no PUBACK within 30s")
				}
				lg.Warn("publishing a cosigned checkpoint failed; it stays queued", "broker", b.name, "topic", topic, "err", err)
				break
			}
			b.mu.Lock()
			if string(b.pending[topic]) == string(note) {
				delete(b.pending, topic)
			}
			b.mu.Unlock()
		}
	}
}
