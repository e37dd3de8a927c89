package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/verify/prove"
)

// socketFlags adds --timeout, how long a client of the running agent's
// socket waits to connect and for the agent while an answer is due.
func (f *flags) socketFlags() *time.Duration {
	return f.Duration("timeout", localapi.DefaultTimeout, "when a running agent serves the log: how long to wait for it to connect and to answer (no byte while an answer is due)")
}

// dial returns a client of the running agent's socket in dir, or an error
// if dir has none.
func dial(dir string, timeout time.Duration) (*localapi.Client, error) {
	c, err := localapi.Dial(dir)
	if err == nil {
		c.Timeout = timeout
	}
	return c, err
}

// withReader runs direct on the log opened read-only, or, when a running
// agent holds the log, asks the agent over its socket.
func withReader(ctx context.Context, e *env, dir string, timeout time.Duration, direct func(*eventlog.Log) error, method, path string) error {
	// A running agent answers at once; a socket left by one that died does
	// not answer, and the log is then opened directly.
	if c, err := dial(dir, timeout); err == nil {
		err := c.Do(ctx, method, path, nil, e.stdout)
		if !errors.Is(err, localapi.ErrNoAgent) {
			return err
		}
	}
	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Logger: logger(e)})
	if err == nil {
		defer l.Close()
		return direct(l)
	}
	if !errors.Is(err, eventlog.ErrLocked) {
		return err
	}
	c, derr := dial(dir, timeout)
	if derr != nil {
		return fmt.Errorf("%w (and no running agent answers on %s)", err, localapi.SocketPath(dir))
	}
	return c.Do(ctx, method, path, nil, e.stdout)
}

// withWriter runs direct on the log opened for writing with the key, or,
// when a running agent holds the log, runs viaAgent with a client of its
// socket.
func (f *flags) withWriter(ctx context.Context, e *env, timeout time.Duration, direct func(*eventlog.Log) error, viaAgent func(*localapi.Client) error) error {
	if err := f.checkCreate(); err != nil {
		return err
	}
	k, err := f.loadKey(ctx)
	if err != nil {
		return err
	}
	l, err := f.openWriter(ctx, e, k)
	if errors.Is(err, eventlog.ErrLocked) {
		if c, derr := dial(f.data, timeout); derr == nil {
			return viaAgent(c)
		}
	}
	if err != nil {
		return err
	}
	defer l.Close()
	return direct(l)
}

// cmdAppend appends JSON lines from stdin, directly or through the running
// agent, and prints one line per input line (see AppendStream). It fails
// unless every line was appended.
func cmdAppend(ctx context.Context, e *env, args []string) error {
	f := newFlags("log append", e)
	f.logFlags()
	f.keyFlags()
	f.identityFlags()
	timeout := f.socketFlags()
	asJSON := f.Bool("json", false, "answer each input line with a JSON object: line, status, seq or error (firmware-docs/CLI.md §4)")
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	if *asJSON {
		// An answer cut off before its line end is not an answer, and is
		// not converted: the error says the stream ended early.
		e = &env{stdin: e.stdin, stdout: &answerJSON{w: e.stdout}, stderr: e.stderr, group: e.group, cmd: e.cmd, flags: e.flags}
	}
	report := func(res localapi.Result, err error) error {
		if err != nil {
			if res.NotAppended > 0 {
				return fmt.Errorf("%w (%d input line(s) not appended, of %d answered)", err, res.NotAppended, res.Lines)
			}
			return err
		}
		if res.NotAppended > 0 {
			return fmt.Errorf("%d input line(s) not appended, of %d read (see the error lines above); every other line was appended", res.NotAppended, res.Lines)
		}
		return nil
	}
	viaAgent := func(c *localapi.Client) error { return report(c.Append(ctx, e.stdin, e.stdout)) }
	if f.key == "" {
		if err := f.checkLogIdentity(nil); err != nil {
			return err
		}
		// Without a key only a running agent can append.
		if c, err := dial(f.data, *timeout); err == nil {
			return viaAgent(c)
		}
		return usageError{"log append: --key is required (no running agent holds " + f.data + ")"}
	}
	clk := clock.New(buildFloor())
	return f.withWriter(ctx, e, *timeout, func(l *eventlog.Log) error {
		return report(localapi.AppendStream(ctx, l, clk.Now, e.stdin, e.stdout))
	}, viaAgent)
}

func cmdShow(ctx context.Context, e *env, args []string) error {
	f := newFlags("log show", e)
	f.logFlags()
	from := f.Uint64("from", 0, "first sequence number")
	limit := f.Uint64("limit", 0, "how many events (0: all)")
	timeout := f.socketFlags()
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	q := url.Values{"from": {strconv.FormatUint(*from, 10)}, "limit": {strconv.FormatUint(*limit, 10)}}
	return withReader(ctx, e, f.data, *timeout, func(l *eventlog.Log) error {
		return prove.Events(e.stdout, l, *from, *limit)
	}, "GET", "/v1/show?"+q.Encode())
}

func cmdCheckpoint(ctx context.Context, e *env, args []string) error {
	f := newFlags("log checkpoint", e)
	f.logFlags()
	f.keyFlags()
	f.identityFlags()
	timeout := f.socketFlags()
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	if f.key == "" {
		if err := f.checkLogIdentity(nil); err != nil {
			return err
		}
		return withReader(ctx, e, f.data, *timeout, func(l *eventlog.Log) error {
			note, _, err := l.Latest()
			if errors.Is(err, eventlog.ErrNoCheckpoint) {
				return fmt.Errorf("%w; sign one with: waybill log checkpoint --data %s --key …", err, f.data)
			}
			if err == nil {
				_, err = e.stdout.Write(note)
			}
			return err
		}, "GET", "/v1/checkpoint")
	}
	return f.withWriter(ctx, e, *timeout, func(l *eventlog.Log) error {
		note, _, err := l.Checkpoint(ctx)
		if err == nil {
			_, err = e.stdout.Write(note)
		}
		return err
	}, func(c *localapi.Client) error { return c.Do(ctx, "POST", "/v1/checkpoint", nil, e.stdout) })
}

func cmdProve(ctx context.Context, e *env, args []string) error {
	f := newFlags("log prove", e)
	f.logFlags()
	seq := f.String("seq", "", "sequence number of the event")
	size := f.Uint64("size", 0, "tree size of a signed checkpoint (default: the latest)")
	format := f.String("format", "json", "json (the proof bundle) or tlog-proof (C2SP text form)")
	leafFile := f.String("leaf", "", "a `FILE` holding the event as its holder has it, for an event whose payload retention pruned: a feed message, a 'log show' line, or the leaf bytes")
	timeout := f.socketFlags()
	if err := f.parse(args, 0, "data", "seq"); err != nil {
		return err
	}
	var leaf []byte
	if *leafFile != "" {
		b, err := os.ReadFile(*leafFile)
		if err != nil {
			return fmt.Errorf("log prove: --leaf: %w", err)
		}
		if leaf, err = leafOf(b); err != nil {
			return fmt.Errorf("log prove: --leaf %s: %w", *leafFile, err)
		}
	}
	n, err := strconv.ParseUint(*seq, 10, 64)
	if err != nil {
		return usageError{fmt.Sprintf("log prove: --seq %q is not a non-negative integer", *seq)}
	}
	if *format != "json" && *format != "tlog-proof" {
		return usageError{fmt.Sprintf("log prove: --format %q: want json or tlog-proof", *format)}
	}
	q := url.Values{"seq": {*seq}, "size": {strconv.FormatUint(*size, 10)}, "format": {*format}}
	if leaf != nil {
		q.Set("leaf", base64.RawURLEncoding.EncodeToString(leaf))
	}
	return withReader(ctx, e, f.data, *timeout, func(l *eventlog.Log) error {
		b, err := prove.Bundle(l, n, *size, leaf)
		var out []byte
		if err == nil {
			out, err = prove.Encode(b, *format)
		}
		if err == nil {
			_, err = e.stdout.Write(out)
		}
		return err
	}, "GET", "/v1/prove?"+q.Encode())
}

// leafOf returns the leaf bytes in b: the "leaf" member (standard base64)
// of a JSON object such as a feed message or a `log show` line, or else b
// itself without its final newline, taken as the leaf.
func leafOf(b []byte) ([]byte, error) {
	var m struct {
		Leaf *string `json:"leaf"`
	}
	if json.Unmarshal(b, &m) == nil && m.Leaf != nil {
		leaf, err := base64.StdEncoding.DecodeString(*m.Leaf)
		if err != nil {
			return nil, fmt.Errorf("its \"leaf\" member is not standard base64: %w", err)
		}
		return leaf, nil
	}
	leaf := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if _, err := event.Parse(leaf); err != nil {
		return nil, fmt.Errorf("neither a JSON object with a \"leaf\" member nor a signed event's leaf: %w", err)
	}
	return leaf, nil
}

func cmdConsistency(ctx context.Context, e *env, args []string) error {
	f := newFlags("log consistency", e)
	f.logFlags()
	from := f.Uint64("from", 0, "old tree size")
	to := f.Uint64("to", 0, "new tree size")
	timeout := f.socketFlags()
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	if *from == 0 || *to < *from {
		return usageError{fmt.Sprintf("log consistency: need 0 < --from <= --to, got --from %d --to %d", *from, *to)}
	}
	q := url.Values{"from": {strconv.FormatUint(*from, 10)}, "to": {strconv.FormatUint(*to, 10)}}
	return withReader(ctx, e, f.data, *timeout, func(l *eventlog.Log) error {
		out, err := prove.Consistency(l, *from, *to)
		if err == nil {
			_, err = e.stdout.Write(out)
		}
		return err
	}, "GET", "/v1/consistency?"+q.Encode())
}

// answerJSON turns the answer lines of log append (localapi.AppendStream)
// into its --json lines (firmware-docs/CLI.md §4) as they are written:
//
//	SEQ                                  {"line":N,"status":"appended","seq":SEQ}
//	error: line N: REASON (skipped)      {"line":N,"status":"skipped","error":"REASON"}
//	error: line N: ERROR (not appended)  {"line":N,"status":"not_appended","error":"ERROR"}
//	error: line N: not appended: WHY     {"line":N,"status":"not_appended","error":"WHY"}
type answerJSON struct {
	w       io.Writer
	partial []byte // the start of a line not yet ended
	line    int    // the input line last answered
	err     error
}

// appendAnswer is one --json answer line of log append.
type appendAnswer struct {
	Line   int     `json:"line"`
	Status string  `json:"status"`
	Seq    *uint64 `json:"seq,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func (a *answerJSON) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	a.partial = append(a.partial, p...)
	for {
		i := bytes.IndexByte(a.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(a.partial[:i])
		a.partial = a.partial[i+1:]
		if a.err = a.answer(line); a.err != nil {
			return 0, a.err
		}
	}
}

// answer writes the JSON form of one answer line.
func (a *answerJSON) answer(line string) error {
	a.line++
	ans := appendAnswer{Line: a.line}
	if rest, ok := strings.CutPrefix(line, "error: line "); ok {
		n, reason, ok := strings.Cut(rest, ": ")
		if ln, err := strconv.Atoi(n); ok && err == nil {
			ans.Line = ln
			a.line = ln
		}
		switch {
		case strings.HasSuffix(reason, " (skipped)"):
			ans.Status, ans.Error = "skipped", strings.TrimSuffix(reason, " (skipped)")
		case strings.HasSuffix(reason, " (not appended)"):
			ans.Status, ans.Error = "not_appended", strings.TrimSuffix(reason, " (not appended)")
		default:
			ans.Status, ans.Error = "not_appended", strings.TrimPrefix(reason, "not appended: ")
		}
	} else {
		seq, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			return fmt.Errorf("log append: answer %d is neither a sequence number nor an error: %q", a.line, line)
		}
		ans.Status, ans.Seq = "appended", &seq
	}
	b, err := json.Marshal(ans)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.w, "%s\n", b)
	return err
}

// buildDate is set at link time (-X main.buildDate=YYYY-MM-DD) and raises
// the clock's floor above the protocol's.
var buildDate = ""

func buildFloor() time.Time {
	if t, err := time.Parse("2006-01-02", buildDate); err == nil {
		return t
	}
	return time.Time{}
}
