package localapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultTimeout is how long a client waits for the agent to send
// anything while an answer is due, and how long it waits to connect.
const DefaultTimeout = 30 * time.Second

// ErrNoAgent is wrapped by Client errors when no agent answers on the
// socket (as opposed to an agent that answered with an error).
var ErrNoAgent = errors.New("no running agent answers")

// ErrNotAnswering is wrapped by Client errors when the agent accepted the
// connection but sent nothing for the client's Timeout while an answer was
// due: it is stopped (SIGSTOP), hung or badly overloaded.
var ErrNotAnswering = errors.New("the agent does not answer")

// Client talks to a running agent's socket. Every request honours its
// context, and fails with ErrNotAnswering when the agent sends nothing for
// Timeout while an answer is due.
type Client struct {
	// Timeout is the dial timeout and the longest silence allowed while an
	// answer is due; 0 means DefaultTimeout.
	Timeout time.Duration
	path    string
}

// Dial returns a client for the log in dir, or an error if dir has no
// socket. It does not connect: each request does.
func Dial(dir string) (*Client, error) {
	path := SocketPath(dir)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return &Client{path: path}, nil
}

// Path returns the socket's path.
func (c *Client) Path() string { return c.path }

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Do performs a request and copies a successful body to w. A non-2xx answer
// becomes an error carrying the agent's message.
func (c *Client) Do(ctx context.Context, method, pathAndQuery string, body io.Reader, w io.Writer) error {
	wd := c.newWatch(func() bool { return true })
	defer wd.stop()
	resp, err := c.roundTrip(ctx, wd, method, pathAndQuery, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return c.explain(ctx, wd, "reading the answer", err)
	}
	if msg := resp.Trailer.Get(TrailerError); msg != "" {
		return errors.New(msg)
	}
	return nil
}

func (c *Client) roundTrip(ctx context.Context, wd *watch, method, pathAndQuery string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://waybill"+pathAndQuery, body)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: c.timeout()}
			conn, err := d.DialContext(ctx, "unix", c.path)
			if err != nil {
				return nil, err
			}
			return wd.wrap(conn), nil
		},
	}}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, c.dialError(ctx, op)
		}
		return nil, c.explain(ctx, wd, "waiting for the answer", err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, errors.New(strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// dialError explains a failed connection.
func (c *Client) dialError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted while connecting to the agent on %s: %w", c.path, ctx.Err())
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		who := "uid " + strconv.Itoa(os.Geteuid())
		if u, uerr := user.Current(); uerr == nil {
			who = fmt.Sprintf("user %s (uid %s)", u.Username, u.Uid)
		}
		owner := ""
		if fi, serr := os.Stat(c.path); serr == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				owner = fmt.Sprintf(" (owned by uid %d, mode %04o)", st.Uid, fi.Mode().Perm())
			}
		}
		return fmt.Errorf("permission denied connecting to the running agent's socket %s%s as %s: run the command as the agent's user (or root): %w", c.path, owner, who, err)
	}
	return fmt.Errorf("%w on %s: %v", ErrNoAgent, c.path, err)
}

// explain turns the error of a request that had connected into one that
// says what happened: an interrupt, a silent agent, or a broken connection.
func (c *Client) explain(ctx context.Context, wd *watch, doing string, err error) error {
	switch {
	case wd.fired.Load():
		return fmt.Errorf("%w on %s: nothing received for %v while %s; it may be stopped (SIGSTOP), hung or overloaded (--timeout sets how long to wait)", ErrNotAnswering, c.path, c.timeout(), doing)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted while %s from the agent on %s: %w", doing, c.path, ctx.Err())
	}
	return fmt.Errorf("the agent on %s: %s: %w", c.path, doing, err)
}

// watch closes a request's connection when the agent sends nothing for the
// timeout while an answer is due: while a read of the connection is
// blocked and due() reports that an answer is expected. A client that is
// itself slow to read is not blocked in a read, so it never times out.
type watch struct {
	timeout time.Duration
	due     func() bool
	fired   atomic.Bool
	done    chan struct{}
	once    sync.Once

	mu        sync.Mutex
	conn      net.Conn
	reading   bool
	readSince time.Time // when the blocked read began
}

func (c *Client) newWatch(due func() bool) *watch {
	w := &watch{timeout: c.timeout(), due: due, done: make(chan struct{})}
	go w.run()
	return w
}

func (w *watch) stop() { w.once.Do(func() { close(w.done) }) }

func (w *watch) run() {
	tick := w.timeout / 10
	tick = min(max(tick, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	var dueSince time.Time // when a blocked read was first seen with an answer due
	for {
		select {
		case <-w.done:
			return
		case now := <-t.C:
			w.mu.Lock()
			conn, reading, since := w.conn, w.reading, w.readSince
			w.mu.Unlock()
			if conn == nil || !reading || !w.due() {
				dueSince = time.Time{}
				continue
			}
			if dueSince.IsZero() {
				dueSince = now
			}
			start := since
			if dueSince.After(start) {
				start = dueSince
			}
			if now.Sub(start) >= w.timeout {
				w.fired.Store(true)
				conn.Close()
				return
			}
		}
	}
}

func (w *watch) wrap(conn net.Conn) net.Conn {
	w.mu.Lock()
	w.conn = conn
	w.mu.Unlock()
	return &watchedConn{Conn: conn, w: w}
}

type watchedConn struct {
	net.Conn
	w *watch
}

func (c *watchedConn) Read(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.reading, c.w.readSince = true, time.Now()
	c.w.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.w.mu.Lock()
	c.w.reading = false
	c.w.mu.Unlock()
	return n, err
}

// Append headers and trailers of POST /v1/append (see LOCALAPI.md).
const (
	TrailerLines       = "Waybill-Lines"
	TrailerNotAppended = "Waybill-Not-Appended"
	TrailerError       = "Waybill-Error"
)

// Append streams in to the agent's POST /v1/append and copies each answer
// line to out as it arrives, exactly as AppendStream writes them when the
// log is opened directly, and returns the same counts and error. Input is
// sent only as fast as the agent takes it, and answers are read only as
// fast as out takes them.
//
// When ctx ends, no more input is sent; the answers to the lines sent are
// still read (within the timeout) so that each is accounted for, and the
// error says the command was interrupted.
func (c *Client) Append(ctx context.Context, in io.Reader, out io.Writer) (Result, error) {
	var sent, answered atomic.Int64
	var inputDone, finished atomic.Bool
	wd := c.newWatch(func() bool {
		return !finished.Load() && (sent.Load() > answered.Load() || inputDone.Load())
	})
	defer wd.stop()

	pr, pw := io.Pipe()
	s := &sender{pw: pw, sent: &sent, eof: &inputDone}
	go s.run(in)
	stopSending := context.AfterFunc(ctx, s.cut)
	defer stopSending()

	// The request runs without ctx: an interrupt stops the input, and the
	// answers to what was sent are still read. The watch bounds the wait.
	resp, err := c.roundTrip(context.WithoutCancel(ctx), wd, "POST", "/v1/append", pr)
	if err != nil {
		pr.CloseWithError(err)
		s.interrupt()
		return Result{}, err
	}
	defer resp.Body.Close()
	var res Result
	br := bufio.NewReader(resp.Body)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if _, err := out.Write(line); err != nil {
				pr.CloseWithError(err)
				s.interrupt()
				return res, fmt.Errorf("writing the answers: %w", err)
			}
			res.Lines++
			answered.Add(1)
			if line[0] == 'e' {
				res.NotAppended++
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			pr.CloseWithError(rerr)
			s.interrupt()
			err := c.explain(ctx, wd, "reading the answers", rerr)
			return res, fmt.Errorf("%w; %d input line(s) were answered above, %d sent were not: those may or may not have been appended (see waybill log show)", err, res.Lines, sent.Load()-int64(res.Lines))
		}
	}
	finished.Store(true)
	pr.Close()
	lines, err1 := strconv.Atoi(resp.Trailer.Get(TrailerLines))
	notAppended, err2 := strconv.Atoi(resp.Trailer.Get(TrailerNotAppended))
	if err1 != nil || err2 != nil {
		return res, fmt.Errorf("the agent on %s ended its answer without its outcome after %d line(s); lines sent after them may or may not have been appended (see waybill log show)", c.path, res.Lines)
	}
	if lines != res.Lines || notAppended != res.NotAppended || int64(lines) != sent.Load() {
		return res, fmt.Errorf("the agent on %s answered %d line(s) (%d not appended), counted %d with %d not appended, and %d were sent: the answer is inconsistent", c.path, res.Lines, res.NotAppended, lines, notAppended, sent.Load())
	}
	if msg := resp.Trailer.Get(TrailerError); msg != "" {
		return res, errors.New(msg)
	}
	cut, rerr := s.outcome()
	if cut {
		return res, fmt.Errorf("interrupted after input line %d (no later line was sent): %w", res.Lines, context.Cause(ctx))
	}
	if rerr != nil {
		return res, fmt.Errorf("reading input line %d: %w", res.Lines+1, rerr)
	}
	return res, nil
}

// sender copies input lines to the request body, whole lines at a time,
// so that an interrupt never sends part of a line the agent could take
// for a complete one.
type sender struct {
	pw   *io.PipeWriter
	sent *atomic.Int64 // lines begun
	eof  *atomic.Bool  // set once the input has ended

	mu      sync.Mutex
	stopped bool  // nothing more is sent
	cutOff  bool  // stopped by an interrupt before the input ended
	err     error // reading the input failed
}

func (s *sender) run(in io.Reader) {
	// A line of up to MaxLineBytes fits the buffer and is sent whole; a
	// longer one is sent in pieces, each already too long to be taken.
	br := bufio.NewReaderSize(in, MaxLineBytes+4096)
	midLine := false
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if !s.write(frag, !midLine) {
				return
			}
		}
		midLine = err == bufio.ErrBufferFull
		if err == nil || midLine {
			continue
		}
		s.mu.Lock()
		if err != io.EOF {
			s.err = err
		}
		s.eof.Store(true)
		s.mu.Unlock()
		s.interrupt()
		return
	}
}

// cut stops sending after the line being sent, on an interrupt.
func (s *sender) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped, s.cutOff = true, true
		s.eof.Store(true)
		s.pw.Close()
	}
}

// outcome says whether an interrupt cut the input short and why reading
// the input failed, if it did.
func (s *sender) outcome() (cut bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cutOff, s.err
}

// write sends p, counting a new line if it starts one, unless the sender
// was stopped.
func (s *sender) write(p []byte, newLine bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	if newLine {
		s.sent.Add(1)
	}
	if _, err := s.pw.Write(p); err != nil {
		s.stopped = true
		return false
	}
	return true
}

// interrupt ends the request body after the line being sent, if any.
func (s *sender) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		s.pw.Close()
	}
}
