package subscribe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// pki is a test CA with a broker certificate for the name broker.test
// only (no IP address) and a client certificate, as PEM files.
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
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) (string, string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns}
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
	p.brokerCert, p.brokerKey = issue(2, "broker", x509.ExtKeyUsageServerAuth, []string{"broker.test"})
	p.clientCert, p.clientKey = issue(3, "watcher", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// TestSubscribe_TLS: a broker that requires a client certificate, whose
// certificate names broker.test: the watcher with the CA, its certificate
// and the server name receives the feed; without the server name, with
// another CA or without a certificate it is refused, and says why.
func TestSubscribe_TLS(t *testing.T) {
	p, other := newPKI(t, "city"), newPKI(t, "other")
	b := startBroker(t, &mosquitto.Config{TLS: &mosquitto.TLS{CAFile: p.ca, CertFile: p.brokerCert, KeyFile: p.brokerKey, RequireCertificate: true}})
	good := TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey, ServerName: "broker.test"}

	for _, c := range []struct {
		name string
		edit func(*TLS)
		want string
	}{
		{"no server name", func(o *TLS) { o.ServerName = "" }, "cannot validate certificate for 127.0.0.1"},
		{"other CA", func(o *TLS) { o.CAFile = other.ca }, "certificate signed by unknown authority"},
		// The broker refuses a client certificate after the handshake, so
		// the client sees its alert or a reset connection.
		{"no client certificate", func(o *TLS) { o.CertFile, o.KeyFile = "", "" }, "connect: "},
		{"client certificate of another CA", func(o *TLS) { o.CertFile, o.KeyFile = other.clientCert, other.clientKey }, "connect: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.edit(&o)
			bc := quick(b.TLSURL(), "watch-tls-refused")
			bc.TLS = &o
			s, err := New(Config{Brokers: []Broker{bc}}, func(context.Context, string, []byte) error { return nil }, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			waitFor(t, "the refusal reported", func() bool { return s.Status()[0].LastError != "" })
			cancel()
			<-done
			st := s.Status()[0]
			if st.Connects != 0 || !strings.Contains(st.LastError, c.want) {
				t.Errorf("status %+v, want an error containing %q", st, c.want)
			}
		})
	}

	var rec record
	bc := quick(b.TLSURL(), "watch-tls")
	bc.TLS = &good
	s, err := New(Config{Brokers: []Broker{bc}}, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	publish(t, b.URL(), []int{70}, 0, 10)
	want := wantAll([]int{70}, 10)
	waitFor(t, "the messages over TLS", func() bool { _, c, _ := checkOrder(rec.lines(), want); return c })
}

// TestSubscribe_WebSocket: a ws:// broker.
func TestSubscribe_WebSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	b := startBroker(t, &mosquitto.Config{Extra: []string{"listener " + strconv.Itoa(port) + " 127.0.0.1", "protocol websockets"}})
	var rec record
	s, err := New(Config{Brokers: []Broker{quick("ws://127.0.0.1:"+strconv.Itoa(port)+"/mqtt", "watch-ws")}}, rec.handle, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	publish(t, b.URL(), []int{71}, 0, 10)
	want := wantAll([]int{71}, 10)
	waitFor(t, "the messages over WebSocket", func() bool { _, c, _ := checkOrder(rec.lines(), want); return c })
}
