// Package fault is a small harness for fault-injection tests: it re-executes
// the running test binary as a child process that runs one helper test, reads
// the child's stdout line by line while it runs, and kills it with SIGKILL
// whenever the parent decides. Helper tests write their protocol lines with a
// LineWriter so that each line is one write(2) and reaches the parent only
// after the fact it reports has happened.
//
// The parent side:
//
//	c := fault.Start(t, "TestHelperX", "WAYBILL_X_DIR="+dir)
//	for line := range c.Lines() { … maybe c.Kill() … }
//	st := c.Wait()
//
// The child side:
//
//	func TestHelperX(t *testing.T) {
//		if !fault.IsHelper("TestHelperX") {
//			t.Skip("helper process, run by TestY")
//		}
//		…
//	}
package fault

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// HelperEnv names the environment variable that tells a re-executed test
// binary which helper test it runs.
const HelperEnv = "WAYBILL_FAULT_HELPER"

// IsHelper reports whether this process was started by Start to run the
// helper test name.
func IsHelper(name string) bool { return os.Getenv(HelperEnv) == name }

// Child is a running helper process.
type Child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr lockedBuffer
	other  lockedBuffer // stdout lines the caller did not consume before EOF

	killOnce sync.Once
	waitOnce sync.Once
	status   Status
}

// Status is how a child ended.
type Status struct {
	Killed   bool // ended by SIGKILL (from Kill or anyone else)
	Signal   syscall.Signal
	ExitCode int // -1 when killed by a signal
	Err      error
}

func (s Status) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by signal %v", s.Signal)
	}
	return fmt.Sprintf("exit status %d", s.ExitCode)
}

// Start runs the test binary again as a child that runs only the test named
// helper (which must check IsHelper), with env added to the environment.
// The child's stdout is delivered line by line on Lines; stderr is kept
// for Stderr. The child is killed when the test ends if it still runs.
func Start(t testing.TB, helper string, env ...string) *Child {
	t.Helper()
	c, err := StartCommand(exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1"), append(env, HelperEnv+"="+helper)...)
	if err != nil {
		t.Fatalf("fault: start helper %s: %v", helper, err)
	}
	t.Cleanup(func() { c.Kill(); c.Wait() })
	return c
}

// StartCommand starts cmd (whose Stdout and Stderr must be unset) with env
// added to the current environment and delivers its stdout like Start.
func StartCommand(cmd *exec.Cmd, env ...string) (*Child, error) {
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, lines: make(chan string, 4096)}
	cmd.Stderr = &c.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go c.read(out)
	return c, nil
}

func (c *Child) read(r io.Reader) {
	defer close(c.lines)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		c.lines <- sc.Text()
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(&c.stderr, "\nfault: reading the child's stdout: %v\n", err)
	}
}

// Lines returns the child's stdout, one line per value (without the
// newline). It is closed when the child has exited and every line written
// before that has been delivered, so reading it to the end after Kill
// yields everything the child wrote before it died.
func (c *Child) Lines() <-chan string { return c.lines }

// Pid returns the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Kill sends SIGKILL to the child. It may be called from any goroutine and
// more than once.
func (c *Child) Kill() {
	c.killOnce.Do(func() { c.cmd.Process.Signal(syscall.SIGKILL) })
}

// Wait drains what is left of Lines (keeping it for Output), waits for
// the child to end and reports how it ended. It may be called more than once.
func (c *Child) Wait() Status {
	c.waitOnce.Do(func() {
		for l := range c.lines {
			c.other.WriteString(l + "\n")
		}
		err := c.cmd.Wait()
		st := Status{Err: err}
		if ps := c.cmd.ProcessState; ps != nil {
			st.ExitCode = ps.ExitCode()
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				st.Signal = ws.Signal()
				st.Killed = st.Signal == syscall.SIGKILL
			}
		}
		c.status = st
	})
	return c.status
}

// Stderr returns what the child wrote on stderr so far.
func (c *Child) Stderr() string { return c.stderr.String() }

// Unread returns the stdout lines that Wait drained because the caller had
// not read them.
func (c *Child) Unread() string { return c.other.String() }

// LineWriter writes whole lines to a file with one write(2) each, so a line
// that reached the reader is complete, and nothing is buffered in the
// process: a line written before a SIGKILL is not lost.
type LineWriter struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

// NewLineWriter returns a LineWriter on f (typically os.Stdout).
func NewLineWriter(f *os.File) *LineWriter { return &LineWriter{f: f} }

// Printf formats one line (a trailing newline is added) and writes it.
func (w *LineWriter) Printf(format string, args ...any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = fmt.Appendf(w.buf[:0], format, args...)
	w.buf = append(w.buf, '\n')
	_, err := w.f.Write(w.buf)
	return err
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

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
