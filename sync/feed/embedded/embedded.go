// Package embedded runs an MQTT broker inside the process (mochi-mqtt), for
// the demo (testbench/demo): the feed is published over a real MQTT
// connection on loopback without a broker installed. Devices publish to a
// real broker (Mosquitto, EMQX, a city's broker); this one is for the demo,
// and the device binary does not link it.
package embedded

import (
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running in-process broker.
type Broker struct {
	srv *mqtt.Server
	url string
}

// Start starts a broker on a free loopback port that accepts every client.
func Start(logger *slog.Logger) (*Broker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: logger})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "demo", Address: addr})); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, url: "tcp://" + addr}, nil
}

// URL returns the broker's address, tcp://127.0.0.1:port.
func (b *Broker) URL() string { return b.url }

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }
