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
	"time"

	"github.com/waybill-eu/waybill/agent/clock"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
)

// withReader runs direct on the log opened read-only, or, when a running
// agent holds the log, asks the agent over its socket.
func withReader(ctx context.Context, e *env, dir string, direct func(*eventlog.Log) error, method, path string, body io.Reader) error {
	// A running agent answers at once; a socket left by one that died does
	// not answer, and the log is then opened directly.
	if c, err := localapi.Dial(dir); err == nil {
		err := c.Do(ctx, method, path, body, e.stdout)
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
	c, derr := localapi.Dial(dir)
	if derr != nil {
		return fmt.Errorf("%w (and no running agent answers on %s)", err, localapi.SocketPath(dir))
	}
	return c.Do(ctx, method, path, body, e.stdout)
}

// withWriter runs direct on the log opened for writing with the key, or,
// when a running agent holds the log, posts to path on its socket.
func (f *flags) withWriter(ctx context.Context, e *env, direct func(*eventlog.Log) error, path string, body io.Reader) error {
	if err := f.checkCreate(); err != nil {
		return err
	}
	k, err := f.loadKey(ctx)
	if err != nil {
		return err
	}
	l, err := f.openWriter(ctx, e, k)
	if errors.Is(err, eventlog.ErrLocked) {
		if c, derr := localapi.Dial(f.data); derr == nil {
			return c.Do(ctx, "POST", path, body, e.stdout)
		}
	}
	if err != nil {
		return err
	}
	defer l.Close()
	return direct(l)
}

func cmdAppend(ctx context.Context, e *env, args []string) error {
	f := newFlags("log append", e)
	f.logFlags()
	f.keyFlags()
	f.identityFlags()
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	report := func(skipped int, err error) error {
		if err != nil {
			return err
		}
		if skipped > 0 {
			return fmt.Errorf("%d input line(s) not appended (see the error lines above); every other line was appended", skipped)
		}
		return nil
	}
	if f.key == "" {
		// Without a key only a running agent can append.
		if c, err := localapi.Dial(f.data); err == nil {
			return c.Do(ctx, "POST", "/v1/append", e.stdin, e.stdout)
		}
		return usageError{"log append: --key is required (no running agent holds " + f.data + ")"}
	}
	clk := clock.New(buildFloor())
	return f.withWriter(ctx, e, func(l *eventlog.Log) error {
		return report(localapi.AppendStream(ctx, l, clk.Now, e.stdin, e.stdout))
	}, "/v1/append", e.stdin)
}

func cmdShow(ctx context.Context, e *env, args []string) error {
	f := newFlags("log show", e)
	f.logFlags()
	from := f.Uint64("from", 0, "first sequence number")
	limit := f.Uint64("limit", 0, "how many events (0: all)")
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	q := url.Values{"from": {strconv.FormatUint(*from, 10)}, "limit": {strconv.FormatUint(*limit, 10)}}
	return withReader(ctx, e, f.data, func(l *eventlog.Log) error {
		return localapi.Show(e.stdout, l, *from, *limit)
	}, "GET", "/v1/show?"+q.Encode(), nil)
}

func cmdCheckpoint(ctx context.Context, e *env, args []string) error {
	f := newFlags("log checkpoint", e)
	f.logFlags()
	f.keyFlags()
	f.identityFlags()
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	if f.key == "" {
		return withReader(ctx, e, f.data, func(l *eventlog.Log) error {
			note, _, err := l.Latest()
			if errors.Is(err, eventlog.ErrNoCheckpoint) {
				return fmt.Errorf("%w; sign one with: waybill log checkpoint --data %s --key …", err, f.data)
			}
			if err == nil {
				_, err = e.stdout.Write(note)
			}
			return err
		}, "GET", "/v1/checkpoint", nil)
	}
	return f.withWriter(ctx, e, func(l *eventlog.Log) error {
		note, _, err := l.Checkpoint(ctx)
		if err == nil {
			_, err = e.stdout.Write(note)
		}
		return err
	}, "/v1/checkpoint", nil)
}

func cmdProve(ctx context.Context, e *env, args []string) error {
	f := newFlags("log prove", e)
	f.logFlags()
	seq := f.String("seq", "", "sequence number of the event")
	size := f.Uint64("size", 0, "tree size of a signed checkpoint (default: the latest)")
	format := f.String("format", "json", "json (the proof bundle) or tlog-proof (C2SP text form)")
	leafFile := f.String("leaf", "", "the event as its holder has it, for an event whose payload retention pruned: a feed message, a `log show` line, or the leaf bytes")
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
	return withReader(ctx, e, f.data, func(l *eventlog.Log) error {
		out, err := localapi.Prove(l, n, *size, *format, leaf)
		if err == nil {
			_, err = e.stdout.Write(out)
		}
		return err
	}, "GET", "/v1/prove?"+q.Encode(), nil)
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
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	if *from == 0 || *to < *from {
		return usageError{fmt.Sprintf("log consistency: need 0 < --from <= --to, got --from %d --to %d", *from, *to)}
	}
	q := url.Values{"from": {strconv.FormatUint(*from, 10)}, "to": {strconv.FormatUint(*to, 10)}}
	return withReader(ctx, e, f.data, func(l *eventlog.Log) error {
		out, err := localapi.Consistency(l, *from, *to)
		if err == nil {
			_, err = e.stdout.Write(out)
		}
		return err
	}, "GET", "/v1/consistency?"+q.Encode(), nil)
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
