package subscribe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// TLS configures TLS for an ssl:// or wss:// broker, with the rules of the
// feed publisher (sync/feed): the broker's certificate is always verified
// unless InsecureSkipVerify is set.
type TLS struct {
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

// secure reports whether a broker URL scheme is one of TLS.
func secure(scheme string) bool {
	switch scheme {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// tlsConfig builds the TLS configuration of a broker at u, or nil for a
// plain one. where names the broker in errors.
func tlsConfig(u *url.URL, t *TLS, where string) (*tls.Config, error) {
	if !secure(u.Scheme) {
		if t != nil {
			return nil, fmt.Errorf("%s: TLS options are set but the URL is not ssl://, tls://, mqtts:// or wss://", where)
		}
		return nil, nil
	}
	if t == nil {
		t = &TLS{}
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: TLS CA file: %w", where, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: TLS CA file %s holds no PEM certificate", where, t.CAFile)
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: TLS client certificate: %w", where, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New(where + ": TLS client certificate needs both a certificate file and a key file")
	}
	return cfg, nil
}
