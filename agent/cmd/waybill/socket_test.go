package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/testbench/fault"
)

// The running agent for these tests is this test binary run again as a
// child process (TestHelperAgent), so that it can be stopped with SIGSTOP
// and resumed, and ended with SIGTERM like the real daemon.

const envAgentArgs = "WAYBILL_TEST_AGENT_ARGS" // the run command's arguments, separated by U+001F

// TestHelperAgent runs `waybill run` with the arguments in
// WAYBILL_TEST_AGENT_ARGS until SIGTERM.
func TestHelperAgent(t *testing.T) {
	if !fault.IsHelper("TestHelperAgent") {
		t.Skip("helper process: the agent of the socket tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	args := strings.Split(os.Getenv(envAgentArgs), "\x1f")
	code := run(ctx, args, strings.NewReader(""), os.Stdout, os.Stderr)
	fmt.Printf("exit %d\n", code)
}

// agent is a running agent child process.
type agent struct {
	t    *testing.T
	c    *fault.Child
	data string
	exit chan string
}

// startAgent starts the agent on data with key and waits (bounded) until
// its socket answers.
func startAgent(t *testing.T, data, key string) *agent {
	t.Helper()
	args := []string{"run", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"}
	a := &agent{t: t, data: data, exit: make(chan string, 1)}
	a.c = fault.Start(t, "TestHelperAgent", envAgentArgs+"="+strings.Join(args, "\x1f"))
	go func() {
		last := ""
		for line := range a.c.Lines() {
			if strings.HasPrefix(line, "exit ") {
				last = line
			}
		}
		a.exit <- last
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := localapi.Dial(data); err == nil {
			c.Timeout = 10 * time.Second
			if err := c.Do(context.Background(), "GET", "/v1/status", nil, io.Discard); err == nil {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's socket did not answer within 2 minutes; stderr:\n%s", a.c.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *agent) signal(sig syscall.Signal) {
	a.t.Helper()
	if err := syscall.Kill(a.c.Pid(), sig); err != nil {
		a.t.Fatalf("kill -%v agent: %v", sig, err)
	}
}

// stop ends the agent with SIGTERM and checks it exits 0 within a bound.
func (a *agent) stop() {
	a.t.Helper()
	a.signal(syscall.SIGCONT)
	a.signal(syscall.SIGTERM)
	select {
	case last := <-a.exit:
		if st := a.c.Wait(); last != "exit 0" || st.ExitCode != 0 {
			a.t.Fatalf("agent ended with %q, %v; stderr:\n%s", last, st, a.c.Stderr())
		}
	case <-time.After(2 * time.Minute):
		a.t.Fatalf("the agent did not end within 2 minutes of SIGTERM; stderr:\n%s", a.c.Stderr())
	}
}

// inputLine is input line i of the streaming tests.
func inputLine(i int) string {
	return `{"kind":"manual","payload":{"note":"s-` + strconv.Itoa(i) + `"}}`
}

// slowWriter is a client's stdout that takes its time: the first
// slowWrites writes take a pause each.
type slowWriter struct {
	mu         sync.Mutex
	buf        bytes.Buffer
	lines      atomic.Int64
	slowWrites int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	slow := w.slowWrites > 0
	if slow {
		w.slowWrites--
	}
	w.mu.Unlock()
	if slow {
		time.Sleep(2 * time.Millisecond) // a slow reader: the agent must wait, not drop
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return w.buf.Write(p)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until cond holds, failing the test with what after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkSeqs checks that out is n lines of contiguous sequence numbers from
// first and that the log's events first.. are the input lines 0..n-1.
func checkSeqs(t *testing.T, data, out string, first uint64, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	if len(lines) != n {
		t.Fatalf("%d output lines; want %d", len(lines), n)
	}
	for i, line := range lines {
		if line != strconv.FormatUint(first+uint64(i), 10) {
			t.Fatalf("output line %d = %q; want sequence number %d", i+1, line, first+uint64(i))
		}
	}
	if n == 0 {
		return
	}
	l, err := eventlog.Open(context.Background(), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	i := 0
	err = l.Range(first, uint64(n), func(seq uint64, leaf []byte) error {
		if want := `"note":"s-` + strconv.Itoa(i) + `"`; !bytes.Contains(leaf, []byte(want)) {
			return fmt.Errorf("event %d is %s; want input line %d (%s)", seq, leaf, i+1, want)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("log events from %d: %d read, %v", first, i, err)
	}
}

// TestSocket_Append100kSlowReaderAndStoppedAgent streams 100,000 lines
// through the running agent while the client reads slowly and while the
// agent is stopped (SIGSTOP) and resumed (SIGCONT): every line is answered
// with its sequence number, in input order, and the log holds them so.
func TestSocket_Append100kSlowReaderAndStoppedAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100,000 lines through the agent")
	}
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	a := startAgent(t, data, key)
	const n = 100_000
	pr, pw := io.Pipe()
	go func() {
		bw := make([]byte, 0, 64<<10)
		for i := 0; i < n; i++ {
			bw = append(append(bw, inputLine(i)...), '\n')
			if len(bw) > 60<<10 || i == n-1 {
				if _, err := pw.Write(bw); err != nil {
					return
				}
				bw = bw[:0]
			}
		}
		pw.Close()
	}()
	out := &slowWriter{slowWrites: 5000}
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"log", "append", "--data", data}, pr, out, &errb)
	}()
	// Stop the agent mid-stream, twice, and let it go on.
	for _, at := range []int64{20_000, 60_000} {
		waitFor(t, 3*time.Minute, fmt.Sprintf("%d answers", at), func() bool { return out.lines.Load() >= at })
		a.signal(syscall.SIGSTOP)
		time.Sleep(1500 * time.Millisecond) // the agent stays stopped this long
		a.signal(syscall.SIGCONT)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("log append did not end within 5 minutes; %d answers", out.lines.Load())
	}
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("log append exit %d, stderr %q", code, errb.String())
	}
	a.stop()
	checkSeqs(t, data, out.String(), 0, n)
}

// failingInput has bad lines among good ones: not JSON, an unknown kind,
// an empty line, a line over the limit, and a last line without a newline;
// the answers are for a log of 3 events.
func failingInput() (string, []string) {
	var b strings.Builder
	b.WriteString(inputLine(0) + "\n")
	b.WriteString("this is not json\n")
	b.WriteString(inputLine(1) + "\n")
	b.WriteString("\n")
	b.WriteString(`{"kind":"teleported","payload":{}}` + "\n")
	b.WriteString(`{"kind":"manual","payload":{"note":"` + strings.Repeat("x", localapi.MaxLineBytes) + `"}}` + "\n")
	b.WriteString(inputLine(2) + "\r\n")
	b.WriteString(inputLine(3))
	want := []string{
		"3",
		"error: line 2: ",
		"4",
		"error: line 4: empty line (skipped)",
		"error: line 5: ",
		fmt.Sprintf("error: line 6: longer than %d bytes (skipped)", localapi.MaxLineBytes),
		"5",
		"6",
	}
	return b.String(), want
}

// docVector returns the append-input and append-output blocks of
// firmware-docs/LOCALAPI.md.
func docVector(t *testing.T) (in, out string) {
	t.Helper()
	b, err := os.ReadFile("../../../firmware-docs/LOCALAPI.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(name string) string {
		_, rest, ok := strings.Cut(string(b), "```text "+name+"\n")
		body, _, ok2 := strings.Cut(rest, "```")
		if !ok || !ok2 {
			t.Fatalf("LOCALAPI.md has no ```text %s block", name)
		}
		return body
	}
	return block("append-input"), block("append-output")
}

// TestSocket_FailingLinesSameAsDirect appends the same inputs with bad
// lines directly and through the agent: the same answers, stderr and exit
// status. The first input is LOCALAPI.md's vector, with its answers.
func TestSocket_FailingLinesSameAsDirect(t *testing.T) {
	dir, key, _, _ := keyed(t)
	docIn, docOut := docVector(t)
	in, want := failingInput()
	// Both logs start with one event.
	direct, viaAgent := filepath.Join(dir, "direct"), filepath.Join(dir, "agent")
	for _, data := range []string{direct, viaAgent} {
		if code, _, errs := waybill(t, `{"kind":"manual","payload":{"note":"first"}}`, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 {
			t.Fatalf("append: %s", errs)
		}
	}
	a := startAgent(t, viaAgent, key)
	defer a.stop()
	for _, c := range []struct {
		name, in  string
		check     func(out string) bool
		exit      int
		errSuffix string
	}{
		{"LOCALAPI.md's vector", docIn, func(out string) bool { return out == docOut }, 1, "3 input line(s) not appended, of 5 read (see the error lines above); every other line was appended\n"},
		{"failing lines", in, func(out string) bool {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(want) {
				return false
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					return false
				}
			}
			return true
		}, 1, "4 input line(s) not appended, of 8 read (see the error lines above); every other line was appended\n"},
		{"good lines", inputLine(7) + "\n" + inputLine(8) + "\n", func(out string) bool { return out == "7\n8\n" }, 0, ""},
	} {
		dcode, dout, derr := waybill(t, c.in, "log", "append", "--data", direct, "--key", key)
		acode, aout, aerr := waybill(t, c.in, "log", "append", "--data", viaAgent)
		if !c.check(dout) || dcode != c.exit || !strings.HasSuffix(derr, c.errSuffix) {
			t.Errorf("%s directly: exit %d, stdout\n%s\nstderr %q", c.name, dcode, dout, derr)
		}
		if acode != dcode || aout != dout || aerr != derr {
			t.Errorf("%s through the agent: exit %d, stdout\n%s\nstderr %q\ndirectly: exit %d, stdout\n%s\nstderr %q", c.name, acode, aout, aerr, dcode, dout, derr)
		}
	}
}

// mountTmpfs mounts a tmpfs of size bytes, or skips the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "waybill-test", mnt).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and CAP_SYS_ADMIN): %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// checkFullDiskAnswers checks the answers to n good lines on a full disk:
// k sequence numbers from first, then the line that failed, then every
// later line reported as not appended because appending stopped. It
// returns k.
func checkFullDiskAnswers(t *testing.T, what, out string, first uint64, n int) int {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%s: %d answers for %d lines:\n%s", what, len(lines), n, out)
	}
	k := 0
	for k < n && lines[k] == strconv.FormatUint(first+uint64(k), 10) {
		k++
	}
	if k == n {
		t.Fatalf("%s: every line was appended on a full disk", what)
	}
	if w := fmt.Sprintf("error: line %d: ", k+1); !strings.HasPrefix(lines[k], w) || !strings.Contains(lines[k], "no space left on device") || !strings.HasSuffix(lines[k], "(not appended)") {
		t.Fatalf("%s: answer %d = %q; want the full disk named", what, k+1, lines[k])
	}
	for i := k + 1; i < n; i++ {
		w := fmt.Sprintf("error: line %d: not appended: appending stopped at line %d, which was not appended", i+1, k+1)
		if lines[i] != w && !(strings.HasPrefix(lines[i], fmt.Sprintf("error: line %d: ", i+1)) && strings.HasSuffix(lines[i], "(not appended)") && strings.Contains(lines[i], "no space left on device")) {
			t.Fatalf("%s: answer %d = %q; want %q (or the same full-disk error, for a line of the same commit)", what, i+1, lines[i], w)
		}
	}
	t.Logf("%s: %d of %d lines appended before the disk was full; the rest reported", what, k, n)
	return k
}

// TestSocket_FullDiskSameAsDirect fills the disk under the log and appends
// directly and through the agent: both stop at the first line that cannot
// be appended, report every later line, exit 1 with the same message, and
// the log holds exactly the lines answered with a number.
func TestSocket_FullDiskSameAsDirect(t *testing.T) {
	_, key, _, _ := keyed(t)
	const n = 2000
	var in strings.Builder
	for i := 0; i < n; i++ {
		in.WriteString(inputLine(i) + "\n")
	}
	for _, via := range []string{"directly", "through the agent"} {
		mnt := mountTmpfs(t, "2m")
		data := filepath.Join(mnt, "log")
		// A log with one event, then a full disk.
		if code, _, errs := waybill(t, inputLine(0)+"\n", "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 {
			t.Fatalf("append: %s", errs)
		}
		var a *agent
		args := []string{"log", "append", "--data", data, "--key", key}
		if via != "directly" {
			a = startAgent(t, data, key)
			args = args[:4]
		}
		fillDisk(t, filepath.Join(mnt, "ballast"))
		code, out, errs := waybill(t, in.String(), args...)
		k := checkFullDiskAnswers(t, via, out, 1, n)
		if code != 1 || !strings.Contains(errs, fmt.Sprintf("%d input line(s) not appended, of %d read", n-k, n)) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and the count", via, code, errs)
		}
		// Space returns: the next input is appended after the first k.
		os.Remove(filepath.Join(mnt, "ballast"))
		if code, out, errs := waybill(t, `{"kind":"manual","payload":{"note":"after"}}`+"\n", args...); code != 0 || out != strconv.Itoa(k+1)+"\n" {
			t.Fatalf("%s: append once space returned: exit %d, %q, %s", via, code, out, errs)
		}
		if a != nil {
			a.stop()
		}
		// The log holds its first event, input lines 1..k, then "after".
		l, err := eventlog.Open(context.Background(), data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.Size() != uint64(k+2) {
			t.Errorf("%s: log size %d; want %d", via, l.Size(), k+2)
		}
		l.Close()
		checkSeqs(t, data, strings.Join(seqs(1, k), ""), 1, k)
	}
}

func seqs(first, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(first+i) + "\n"
	}
	return s
}

// TestSocket_StoppedAgentTimesOut: with the agent stopped, every socket
// client ends within a bounded time with an error naming the socket.
func TestSocket_StoppedAgentTimesOut(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	a := startAgent(t, data, key)
	defer a.stop()
	a.signal(syscall.SIGSTOP)
	sock := localapi.SocketPath(data)
	for _, args := range [][]string{
		{"log", "append", "--data", data, "--timeout", "1s"},
		{"log", "show", "--data", data, "--timeout", "1s"},
		{"log", "checkpoint", "--data", data, "--timeout", "1s"},
		{"log", "prove", "--data", data, "--seq", "0", "--timeout", "1s"},
		{"status", "--data", data, "--timeout", "1s"},
	} {
		type result struct {
			code     int
			out, err string
		}
		done := make(chan result, 1)
		go func() {
			code, out, errs := waybill(t, inputLine(0)+"\n", args...)
			done <- result{code, out, errs}
		}()
		select {
		case r := <-done:
			if r.code != 1 || !strings.Contains(r.err, "the agent does not answer on "+sock) || !strings.Contains(r.err, "nothing received for 1s") {
				t.Errorf("%v with the agent stopped: exit %d, stderr %q", args[:2], r.code, r.err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("%v did not end within 2 minutes with the agent stopped", args[:2])
		}
	}
}

// TestSocket_InterruptedAppend: an interrupted `log append` stops sending,
// still prints the answer to every line it sent, and fails saying so.
func TestSocket_InterruptedAppend(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	a := startAgent(t, data, key)
	pr, pw := io.Pipe() // an input that never ends, like a terminal
	go func() {
		for i := 0; i < 10; i++ {
			pw.Write([]byte(inputLine(i) + "\n"))
		}
	}()
	out := &slowWriter{}
	var errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"log", "append", "--data", data}, pr, out, &errb) }()
	waitFor(t, 2*time.Minute, "10 answers", func() bool { return out.lines.Load() == 10 })
	cancel()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errb.String(), "interrupted after input line 10") {
			t.Errorf("interrupted append: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("log append did not end within 2 minutes of the interrupt")
	}
	pw.Close()
	a.stop()
	checkSeqs(t, data, out.String(), 0, 10)
}

// TestCLI_ChainIDZeroIsInvalid: --chain-id 0 is refused as invalid, not
// reported as missing.
func TestCLI_ChainIDZeroIsInvalid(t *testing.T) {
	dir, key, _, _ := keyed(t)
	code, _, errs := waybill(t, "", "log", "append", "--data", filepath.Join(dir, "log"), "--key", key, "--fleet", "cli-test", "--chain-id", "0")
	if code != 2 || !strings.Contains(errs, `invalid value "0" for flag -chain-id: 0 is not a valid chain ID`) || strings.Contains(errs, "needs --fleet") {
		t.Fatalf("--chain-id 0: exit %d, stderr %q", code, errs)
	}
}

// TestSocket_AgentStopsMidStream: when the agent is stopped (SIGTERM) while
// an append stream is open, it answers every line it read and says why the
// stream ended; log append prints the answers and fails.
func TestSocket_AgentStopsMidStream(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	a := startAgent(t, data, key)
	pr, pw := io.Pipe() // an input that stays open
	defer pw.Close()
	go func() {
		for i := 0; i < 10; i++ {
			pw.Write([]byte(inputLine(i) + "\n"))
		}
	}()
	out := &slowWriter{}
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), []string{"log", "append", "--data", data}, pr, out, &errb) }()
	waitFor(t, 2*time.Minute, "10 answers", func() bool { return out.lines.Load() == 10 })
	a.stop()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errb.String(), "the agent stopped the stream: interrupted after input line 10") {
			t.Errorf("append while the agent stopped: exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("log append did not end within 2 minutes of the agent's SIGTERM")
	}
	checkSeqs(t, data, out.String(), 0, 10)
}
