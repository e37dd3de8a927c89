package localapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/verify/prove"
)

func fixedClock() (int64, event.TimeSource) { return 3_600_000, event.SourceUnsynced }

func TestAppendStream_OrderAndBadLines(t *testing.T) {
	k, _ := devkey.FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	id := eventlog.Identity{Device: k.Address(), Fleet: "t", ChainID: 1}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var in strings.Builder
	for i := 0; i < 300; i++ {
		if i == 100 {
			in.WriteString("{broken\n")
		}
		in.WriteString(`{"kind":"manual","payload":{"note":"n` + string(rune('a'+i%26)) + `"}}` + "\n")
	}
	var out bytes.Buffer
	res, err := AppendStream(context.Background(), l, fixedClock, strings.NewReader(in.String()), &out)
	if err != nil || res != (Result{Lines: 301, NotAppended: 1}) {
		t.Fatalf("AppendStream = %+v, %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 301 || !strings.HasPrefix(lines[100], "error: line 101:") {
		t.Fatalf("%d output lines; line 101 = %q", len(lines), lines[100])
	}
	seq := 0
	for i, line := range lines {
		if i == 100 {
			continue
		}
		if line != strconv.Itoa(seq) {
			t.Fatalf("output line %d = %q, want %d (input order)", i+1, line, seq)
		}
		seq++
	}
	var shown bytes.Buffer
	if err := prove.Events(&shown, l, 299, 0); err != nil || !strings.Contains(shown.String(), `"seq":299`) {
		t.Fatalf("Show = %q, %v", shown.String(), err)
	}
}

// serveTest serves a new log in a directory others may enter on its real
// socket until the test ends, and returns the directory.
func serveTest(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "waybill-localapi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	k, _ := devkey.FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	id := eventlog.Identity{Device: k.Address(), Fleet: "t", ChainID: 1}
	l, err := eventlog.Open(context.Background(), dir, &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Log: l, Clock: fixedClock}).Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		l.Close()
	})
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := Dial(dir)
		if err == nil && c.Do(context.Background(), "GET", "/v1/status", nil, io.Discard) == nil {
			return dir
		}
		if time.Now().After(deadline) {
			t.Fatalf("the socket in %s did not answer within a minute: %v", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const envDeniedDir = "WAYBILL_TEST_DENIED_DIR"

// TestHelperDeniedClient is run by TestClient_PermissionDenied as another
// user; it prints the error of a status request.
func TestHelperDeniedClient(t *testing.T) {
	dir := os.Getenv(envDeniedDir)
	if dir == "" {
		t.Skip("helper process of TestClient_PermissionDenied")
	}
	c, err := Dial(dir)
	if err == nil {
		err = c.Do(context.Background(), "GET", "/v1/status", nil, io.Discard)
	}
	fmt.Printf("error: %v\n", err)
}

// TestClient_PermissionDenied: a user who may not connect to the socket is
// told so, naming the socket, not that no agent runs.
func TestClient_PermissionDenied(t *testing.T) {
	dir := serveTest(t)
	sock := SocketPath(dir)
	var msg string
	if os.Geteuid() != 0 {
		if err := os.Chmod(sock, 0); err != nil {
			t.Fatal(err)
		}
		c, err := Dial(dir)
		if err == nil {
			err = c.Do(context.Background(), "GET", "/v1/status", nil, io.Discard)
		}
		msg = fmt.Sprint(err)
	} else {
		// Root may connect to any socket: run the client as nobody, from a
		// copy of this test binary that nobody may run.
		bin := filepath.Join(dir, "client.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestHelperDeniedClient$", "-test.count=1")
		cmd.Env = append(os.Environ(), envDeniedDir+"="+dir)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as nobody: %v\n%s", err, out)
		}
		msg = string(out)
	}
	if !strings.Contains(msg, "permission denied connecting to the running agent's socket "+sock) ||
		!strings.Contains(msg, "mode 0600") || strings.Contains(msg, ErrNoAgent.Error()) {
		t.Fatalf("error as a user the socket refuses: %s", msg)
	}
	t.Log(strings.TrimSpace(msg))
}

// TestServer_AppendDoesNotBufferForAClientThatDoesNotRead: a client that
// sends lines and never reads the answers makes the server stop reading
// its input once a bounded amount is in flight.
func TestServer_AppendDoesNotBufferForAClientThatDoesNotRead(t *testing.T) {
	dir := serveTest(t)
	conn, err := net.Dial("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/append HTTP/1.1\r\nHost: waybill\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	line := `{"kind":"manual","payload":{"note":"` + strings.Repeat("x", 400) + `"}}` + "\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n", len(line), line)
	var sent atomic.Int64
	go func() {
		for {
			if _, err := io.WriteString(conn, chunk); err != nil {
				return
			}
			sent.Add(int64(len(line)))
		}
	}()
	// Wait until the server stops taking input: no progress for 2 s.
	last, since := int64(-1), time.Now()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if n := sent.Load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 2*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still takes input after 3 minutes (%d bytes) from a client that reads nothing", sent.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// In flight: the lines queued for answers and the socket buffers both
	// ways; far less than the 64 MiB this bound allows.
	if last > 64<<20 {
		t.Fatalf("the server took %d bytes from a client that reads nothing", last)
	}
	t.Logf("the server stopped taking input after %d bytes (%d lines) while the client read nothing", last, last/int64(len(line)))
}

// TestAppendStream_Interrupted: when ctx ends while the input is still
// open (a terminal), AppendStream stops reading, answers every line it
// read and says it was interrupted.
func TestAppendStream_Interrupted(t *testing.T) {
	k, _ := devkey.FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	id := eventlog.Identity{Device: k.Address(), Fleet: "t", ChainID: 1}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		for i := 0; i < 5; i++ {
			fmt.Fprintf(pw, `{"kind":"manual","payload":{"note":"n%d"}}`+"\n", i)
		}
	}()
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := AppendStream(ctx, l, fixedClock, pr, &out)
		done <- result{res, err}
	}()
	deadline := time.Now().Add(time.Minute)
	for strings.Count(out.String(), "\n") < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("5 answers not written within a minute: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case r := <-done:
		if r.res != (Result{Lines: 5}) || !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "interrupted after input line 5") {
			t.Fatalf("AppendStream after the interrupt = %+v, %v", r.res, r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("AppendStream did not return within a minute of the interrupt")
	}
	if out.String() != "0\n1\n2\n3\n4\n" {
		t.Fatalf("answers %q", out.String())
	}
}

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

// The socket appears at its path only once it accepts connections, with
// mode 0600 from the start: a client that waits for the file (as an
// operator's script does) connects at once. Serve removes it when it ends.
func TestServe_SocketAppearsListening(t *testing.T) {
	dir, err := os.MkdirTemp("", "waybill-localapi-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	k, _ := devkey.FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	id := eventlog.Identity{Device: k.Address(), Fleet: "t", ChainID: 1}
	l, err := eventlog.Open(context.Background(), dir, &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for round := 0; round < 20; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- (&Server{Log: l, Clock: fixedClock}).Serve(ctx) }()
		path := SocketPath(dir)
		deadline := time.Now().Add(time.Minute)
		var fi os.FileInfo
		for fi, err = os.Stat(path); err != nil; fi, err = os.Stat(path) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no socket at %s within a minute: %v", round, path, err)
			}
			runtime.Gosched()
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("round %d: the socket has mode %o, want 600", round, m)
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("round %d: the socket file exists, and a connection is refused: %v", round, err)
		}
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if ents, _ := filepath.Glob(filepath.Join(dir, "*sock*")); len(ents) != 0 {
			t.Fatalf("round %d: left after Serve: %v", round, ents)
		}
		if ents, _ := filepath.Glob(filepath.Join(dir, ".sock*")); len(ents) != 0 {
			t.Fatalf("round %d: left after Serve: %v", round, ents)
		}
	}
}
