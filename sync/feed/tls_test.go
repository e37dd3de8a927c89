package feed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// pki is a test CA with a broker certificate and a client certificate, as
// PEM files.
type pki struct {
	ca, brokerCert, brokerKey, clientCert, clientKey string
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, filepath.Join(dir, cn+".crt"), "CERTIFICATE", der), writePEM(t, filepath.Join(dir, cn+".key"), "EC PRIVATE KEY", kd)
	}
	p := pki{ca: writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER)}
	p.brokerCert, p.brokerKey = issue(2, "broker", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "device", x509.ExtKeyUsageClientAuth, nil)
	// Mosquitto runs as the test's user and reads the key files itself.
	return p
}

// TLS with server verification and a client certificate, against a broker
// that requires one; what happens without the certificate, with the wrong
// CA, with InsecureSkipVerify set explicitly, and on a device whose clock
// says 1970.
func TestPublisher_TLS(t *testing.T) {
	good := newPKI(t, "waybill-test")
	other := newPKI(t, "someone-else")
	b := mosquitto.Start(t, &mosquitto.Config{TLS: &mosquitto.TLS{CAFile: good.ca, CertFile: good.brokerCert, KeyFile: good.brokerKey, RequireCertificate: true}})
	if !strings.HasPrefix(b.TLSURL(), "ssl://127.0.0.1:") {
		t.Fatalf("TLSURL() = %q", b.TLSURL())
	}
	l := newLog(t, 20)

	for _, tc := range []struct {
		name string
		tls  TLSOptions
		err  string // "" if it must deliver
	}{
		{name: "verified with client certificate", tls: TLSOptions{CAFile: good.ca, CertFile: good.clientCert, KeyFile: good.clientKey}},
		{name: "no client certificate", tls: TLSOptions{CAFile: good.ca}, err: "connect: "},
		{name: "unknown CA", tls: TLSOptions{CAFile: other.ca, CertFile: good.clientCert, KeyFile: good.clientKey}, err: "certificate signed by unknown authority"},
		{name: "wrong server name", tls: TLSOptions{CAFile: good.ca, CertFile: good.clientCert, KeyFile: good.clientKey, ServerName: "broker.example"}, err: "broker.example"},
		{name: "insecure, explicitly", tls: TLSOptions{CAFile: other.ca, CertFile: good.clientCert, KeyFile: good.clientKey, InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, b.TLSURL())
			opts.TLS = &tc.tls
			p, err := New(l, opts)
			if err != nil {
				t.Fatal(err)
			}
			stop := runPublisher(t, p)
			defer stop()
			if tc.err == "" {
				waitCursor(t, p, 20)
				return
			}
			st := waitStatus(t, p, "a failed attempt", func(s Status) bool { return s.LastError != "" })
			if !strings.Contains(st.LastError, tc.err) || st.Connected || st.Cursor != 0 {
				t.Errorf("Status() = %+v, want an error containing %q", st, tc.err)
			}
		})
	}

	t.Run("clock at 1970", func(t *testing.T) {
		var clockSet atomic.Bool
		opts := testOptions(t, b.TLSURL())
		opts.TLS = &TLSOptions{CAFile: good.ca, CertFile: good.clientCert, KeyFile: good.clientKey}
		opts.Now = func() time.Time {
			if clockSet.Load() {
				return time.Now()
			}
			return time.Unix(30, 0) // a Pi without a real-time clock, 30 s after boot
		}
		p, err := New(l, opts)
		if err != nil {
			t.Fatal(err)
		}
		// One attempt, to see the error itself.
		if _, err := p.connect(context.Background()); !errors.Is(err, ErrClockNotSet) {
			t.Fatalf("connect at 1970 = %v, want ErrClockNotSet", err)
		}
		runPublisher(t, p)
		st := waitStatus(t, p, "a failed attempt", func(s Status) bool { return s.LastError != "" })
		if !strings.Contains(st.LastError, ErrClockNotSet.Error()) || !strings.Contains(st.LastError, "1970-01-01T00:00:30Z") {
			t.Errorf("LastError = %q, want the clock explained", st.LastError)
		}
		clockSet.Store(true) // NTP or GNSS sets the clock; the next attempt succeeds
		waitCursor(t, p, 20)
	})
}

// Options are checked by New.
func TestNew_Options(t *testing.T) {
	l := newLog(t, 1)
	ca := newPKI(t, "x")
	for _, tc := range []struct {
		name string
		edit func(*Options)
		err  string
	}{
		{"no broker", func(o *Options) { o.Brokers = nil }, "no broker URL"},
		{"bad scheme", func(o *Options) { o.Brokers = []string{"ws://127.0.0.1:80"} }, `scheme "ws"`},
		{"not a URL, password hidden", func(o *Options) { o.Brokers = []string{"tcp://u:secret@[::1"} }, "broker URL 1 of 1 is not a URL"},
		{"password hidden", func(o *Options) { o.Brokers = []string{"tcp://u:secret@127.0.0.1"} }, `"tcp://u:xxxxx@127.0.0.1": want scheme://host:port`},
		{"no port", func(o *Options) { o.Brokers = []string{"tcp://127.0.0.1"} }, "scheme://host:port"},
		{"no cursor file", func(o *Options) { o.CursorFile = "" }, "no cursor file"},
		{"window too large", func(o *Options) { o.Window = 65535 }, "window 65535 is out of range"},
		{"TLS options without ssl://", func(o *Options) { o.TLS = &TLSOptions{CAFile: ca.ca} }, "no broker URL is ssl://"},
		{"CA file missing", func(o *Options) {
			o.Brokers = []string{"ssl://127.0.0.1:8883"}
			o.TLS = &TLSOptions{CAFile: "/nonexistent/ca.pem"}
		}, "TLS CA file"},
		{"CA file not PEM", func(o *Options) {
			o.Brokers = []string{"ssl://127.0.0.1:8883"}
			o.TLS = &TLSOptions{CAFile: o.CursorFile + ".pem"}
			os.WriteFile(o.TLS.CAFile, []byte("not pem"), 0o600)
		}, "holds no PEM certificate"},
		{"certificate without key", func(o *Options) {
			o.Brokers = []string{"ssl://127.0.0.1:8883"}
			o.TLS = &TLSOptions{CertFile: ca.clientCert}
		}, "both a certificate file and a key file"},
		{"key of another certificate", func(o *Options) {
			o.Brokers = []string{"ssl://127.0.0.1:8883"}
			o.TLS = &TLSOptions{CertFile: ca.clientCert, KeyFile: ca.brokerKey}
		}, "TLS client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, "tcp://127.0.0.1:1883")
			tc.edit(&o)
			if _, err := New(l, o); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("New = %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

// The reconnection delay doubles from BackoffMin up to BackoffMax, and
// jitter keeps it within the upper half of each step.
func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, 3*time.Second
	for n := range 12 {
		step := min << n
		if step > max || n > 5 {
			step = max
		}
		for range 200 {
			if d := backoff(n, min, max); d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, step/2, step)
			}
		}
	}
}
