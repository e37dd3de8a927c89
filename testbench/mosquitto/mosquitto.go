// Package mosquitto runs a real Mosquitto broker (the Debian package
// `mosquitto`) for tests: on a free loopback port, from a configuration file
// written into a temporary directory, with persistence on in that directory,
// so that a test can stop the broker, restart it on the same port and find
// its retained messages and persistent sessions again.
//
// It installs nothing: when the mosquitto binary is absent, Start skips the
// test with SkipMessage (`make test` installs the package).
//
//	b := mosquitto.Start(t, nil)
//	… connect to b.URL() …
//	b.Stop()    // SIGTERM: Mosquitto saves its persistence file and exits
//	b.Restart() // the same port, configuration and persistence directory
//
// Stop is the graceful shutdown of a broker that keeps what it acknowledged;
// Kill (SIGKILL) loses whatever Mosquitto had not yet saved, as a power cut
// of the broker's machine would.
package mosquitto

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SkipMessage is the reason Start gives when it skips a test because the
// mosquitto binary is not installed.
const SkipMessage = "install mosquitto (make test does)"

// startTimeout bounds how long Start and Restart wait for the broker to
// accept connections, and Stop for it to exit before it is killed.
const startTimeout = 15 * time.Second

// Binary returns the path of the mosquitto executable: from PATH, or
// /usr/sbin/mosquitto where Debian installs it (often not on a user's PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("mosquitto: no mosquitto binary on PATH or in /usr/sbin")
}

// TLS adds a TLS listener to the broker. The files are PEM, as Mosquitto's
// cafile, certfile and keyfile options read them.
type TLS struct {
	CAFile   string // CA that signs client certificates (and is offered to clients)
	CertFile string // the broker's certificate chain
	KeyFile  string // the broker's private key
	// RequireCertificate makes clients present a certificate signed by CAFile.
	RequireCertificate bool
}

// Config configures Start. nil means the zero value: one plain listener,
// anonymous clients allowed, persistence on.
type Config struct {
	// TLS, when set, adds a TLS listener on a second free port (TLSURL).
	TLS *TLS
	// Extra lines appended to the configuration file, for example
	// "max_inflight_messages 10".
	Extra []string
}

// Broker is a running (or stopped) Mosquitto process. Its methods are safe
// for concurrent use.
type Broker struct {
	// Constant after Start.
	t       testing.TB
	bin     string
	dir     string // temp dir: mosquitto.conf, persistence, mosquitto.log
	conf    string
	port    int
	tlsPort int // 0 without TLS

	// mu guards the following.
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Start starts a broker for the test and stops it when the test ends. It
// skips the test with SkipMessage when mosquitto is not installed and fails
// it when the broker does not come up.
func Start(t testing.TB, cfg *Config) *Broker {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skip(SkipMessage)
	}
	if cfg == nil {
		cfg = &Config{}
	}
	b := &Broker{t: t, bin: bin, dir: t.TempDir()}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	// A port picked free can be taken by someone else before the broker
	// binds it; try a few.
	var last error
	for range 5 {
		if b.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		b.tlsPort = 0
		if cfg.TLS != nil {
			if b.tlsPort, err = freePort(); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(b.conf, []byte(b.config(cfg)), 0o644); err != nil {
			t.Fatal(err)
		}
		if last = b.start(); last == nil {
			t.Cleanup(b.Stop)
			return b
		}
	}
	t.Fatalf("mosquitto: %v", last)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mosquitto: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// config is the broker's configuration file.
func (b *Broker) config(cfg *Config) string {
	var s strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&s, format+"\n", args...) }
	line("# written by testbench/mosquitto")
	// Mosquitto started as root changes to the user "mosquitto", which could
	// not write the persistence directory; stay the user the test runs as.
	if u, err := user.Current(); err == nil {
		line("user %s", u.Username)
	}
	line("per_listener_settings false")
	line("allow_anonymous true")
	line("persistence true")
	line("persistence_location %s/", b.dir)
	line("persistence_file mosquitto.db")
	line("log_dest file %s", filepath.Join(b.dir, "mosquitto.log"))
	line("log_type error")
	line("log_type warning")
	line("log_type notice")
	line("log_type information")
	line("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S")
	line("connection_messages true")
	// Offline persistent sessions keep every queued message (the default
	// drops QoS 1 messages past 1000), so restart tests lose nothing.
	line("max_queued_messages 0")
	line("listener %d 127.0.0.1", b.port)
	if t := b.tlsPortConfig(cfg); t != "" {
		s.WriteString(t)
	}
	for _, e := range cfg.Extra {
		line("%s", e)
	}
	return s.String()
}

func (b *Broker) tlsPortConfig(cfg *Config) string {
	if cfg.TLS == nil {
		return ""
	}
	var s strings.Builder
	fmt.Fprintf(&s, "listener %d 127.0.0.1\n", b.tlsPort)
	fmt.Fprintf(&s, "cafile %s\ncertfile %s\nkeyfile %s\n", cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	fmt.Fprintf(&s, "require_certificate %t\n", cfg.TLS.RequireCertificate)
	return s.String()
}

// start runs the broker and waits until every listener accepts connections.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("mosquitto: already running")
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	out, err := os.OpenFile(filepath.Join(b.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("mosquitto: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mosquitto: start %s: %w", b.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.cmd, b.exited = cmd, exited
	ports := []int{b.port}
	if b.tlsPort != 0 {
		ports = append(ports, b.tlsPort)
	}
	deadline := time.Now().Add(startTimeout)
	for _, port := range ports {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				b.cmd = nil
				return fmt.Errorf("broker exited before listening on port %d (%s):\n%s", port, cmd.ProcessState, b.logsLocked())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				b.stopLocked(syscall.SIGKILL)
				return fmt.Errorf("broker not listening on port %d after %v:\n%s", port, startTimeout, b.logsLocked())
			}
		}
	}
	return nil
}

// URL is the plain listener's address, tcp://127.0.0.1:port.
func (b *Broker) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(b.port) }

// TLSURL is the TLS listener's address, ssl://127.0.0.1:port, or "" when
// the broker has none.
func (b *Broker) TLSURL() string {
	if b.tlsPort == 0 {
		return ""
	}
	return "ssl://127.0.0.1:" + strconv.Itoa(b.tlsPort)
}

// Dir is the broker's directory: configuration, persistence file and logs.
func (b *Broker) Dir() string { return b.dir }

// Running reports whether the broker process is running.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

// Stop stops the broker with SIGTERM, on which Mosquitto saves its
// persistence file, and waits for it to exit (killing it if it has not
// after a while). Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked(syscall.SIGTERM)
}

// Kill stops the broker with SIGKILL: what it had not saved is lost.
func (b *Broker) Kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked(syscall.SIGKILL)
}

func (b *Broker) stopLocked(sig syscall.Signal) {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(sig)
	select {
	case <-b.exited:
	case <-time.After(startTimeout):
		b.t.Errorf("mosquitto: broker did not exit on %v within %v; killing it", sig, startTimeout)
		b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
}

// Restart stops the broker if it runs (SIGTERM) and starts it again on the
// same ports with the same configuration and persistence directory. It
// fails the test if the broker does not come back.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	if err := b.start(); err != nil {
		b.t.Fatalf("mosquitto: restart: %v", err)
	}
}

// Logs returns the broker's log and anything it wrote on stderr.
func (b *Broker) Logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logsLocked()
}

func (b *Broker) logsLocked() string {
	var s strings.Builder
	for _, f := range []string{"mosquitto.log", "stderr.log"} {
		if d, err := os.ReadFile(filepath.Join(b.dir, f)); err == nil && len(d) > 0 {
			fmt.Fprintf(&s, "== %s\n%s", f, d)
		}
	}
	return s.String()
}
