package feed

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"
)

// ErrClockNotSet is wrapped by a connection error when the broker's
// certificate is not yet valid by the device's clock, which is what a
// device that booted without a real-time clock (at 1970) sees until NTP or
// GNSS sets its time. The publisher keeps retrying: the same attempt
// succeeds once the clock is right.
var ErrClockNotSet = errors.New("the broker's certificate is not yet valid by this device's clock (is the clock set?)")

// tlsConfig builds the TLS configuration for ssl:// brokers, or nil when
// every broker is plain tcp://.
func (o Options) tlsConfig() (*tls.Config, error) {
	secure := false
	for _, b := range o.Brokers {
		u, _ := url.Parse(b)
		if u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" {
			secure = true
		}
	}
	if !secure {
		if o.TLS != nil {
			return nil, errors.New("feed: TLS options are set but no broker URL is ssl://, tls:// or mqtts://")
		}
		return nil, nil
	}
	t := o.TLS
	if t == nil {
		t = &TLSOptions{}
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
		// Certificates are checked against the publisher's clock, so that
		// a test can play a device that booted in 1970.
		Time: o.Now,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("feed: TLS CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("feed: TLS CA file %s holds no PEM certificate", t.CAFile)
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("feed: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New("feed: TLS client certificate needs both a certificate file and a key file")
	}
	return cfg, nil
}

// connectError explains a failed connection attempt.
func (p *Publisher) connectError(err error) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil {
		now := p.opts.Now()
		if now.Before(inv.Cert.NotBefore) {
			return fmt.Errorf("connect: %w: the clock says %s, the certificate of %q is valid from %s: %w",
				ErrClockNotSet, now.UTC().Format(time.RFC3339), inv.Cert.Subject.CommonName,
				inv.Cert.NotBefore.UTC().Format(time.RFC3339), err)
		}
	}
	return fmt.Errorf("connect: %w", err)
}

// redact hides a password in a broker URL.
func redact(u *url.URL) string { return u.Redacted() }
