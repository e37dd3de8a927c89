package watche2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// passphrase is the passphrase of every key the test makes.
const passphrase = "e2e passphrase"

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

// build builds the command of package pkg (relative to the module root)
// into dir and returns the binary's path.
func build(t *testing.T, root, pkg, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// run runs bin with args to its end, bounded by limit, and returns its
// exit code, standard output and standard error.
func run(t *testing.T, limit time.Duration, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE="+passphrase)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: not done within %v:\n%s", filepath.Base(bin), strings.Join(args, " "), limit, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return code, out.String(), errb.String()
}

// lockedBuffer is an output buffer that a process writes to while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a process the test started and stops.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    lockedBuffer // standard output and error
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// start starts bin with args as a process named name. The kernel kills it
// if the test binary dies; the test kills it when it ends.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE="+passphrase)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, tail(p.out.String(), 60))
		}
	})
	return p
}

// running reports whether p has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill kills p with SIGKILL and waits for it to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Fatalf("%s has not exited a minute after SIGKILL", p.name)
	}
}

// stop stops p with SIGTERM and fails the test unless it exits 0 within
// limit.
func (p *proc) stop(t *testing.T, limit time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	p.wait(t, limit)
}

// wait waits for p to exit on its own and fails the test unless it exits
// 0 within limit.
func (p *proc) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("%s has not exited within %v:\n%s", p.name, limit, tail(p.out.String(), 40))
	}
	if p.err != nil {
		t.Fatalf("%s: %v:\n%s", p.name, p.err, tail(p.out.String(), 40))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond until it holds, and fails the test naming what did
// not happen, with cond's last account of what it saw, if it has not
// within limit. Any of the procs exiting fails the test at once.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string), watch ...*proc) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		for _, p := range watch {
			if !p.running() {
				t.Fatalf("%s exited (%v) while waiting until %s; saw %s:\n%s", p.name, p.err, what, saw, tail(p.out.String(), 40))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; saw %s", what, limit, saw)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// httpGet returns the status and body of GET url.
func httpGet(url string) (int, []byte, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// metrics is a scrape of Prometheus text: each sample's value by its name
// and labels.
type metrics []sample

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads the metrics served at url.
func scrape(url string) (metrics, error) {
	code, body, err := httpGet(url)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, code, body)
	}
	var m metrics
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %v", line, err)
		}
		s := sample{name: line[:i], labels: map[string]string{}, value: v}
		if name, labels, ok := strings.Cut(line[:i], "{"); ok {
			s.name = name
			for _, kv := range splitLabels(strings.TrimSuffix(labels, "}")) {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		m = append(m, s)
	}
	return m, sc.Err()
}

// splitLabels splits a label list at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, from := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[from:i])
				from = i + 1
			}
		}
	}
	if from < len(s) {
		out = append(out, s[from:])
	}
	return out
}

// sum adds the samples of name whose labels include the given pairs
// (name, value, name, value, ...).
func (m metrics) sum(name string, pairs ...string) float64 {
	var n float64
next:
	for _, s := range m {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			if s.labels[pairs[i]] != pairs[i+1] {
				continue next
			}
		}
		n += s.value
	}
	return n
}
