package localapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

// MaxLineBytes is the longest input line `waybill log append` reads, not
// counting its line end. A longer line is reported as an error and skipped;
// the lines after it are read as usual. It is event.MaxInput, the longest
// line event.ParseInput reads.
const MaxLineBytes = event.MaxInput

// maxInFlight bounds the input bytes of the lines read but not yet
// answered, so that a client that does not read its answers stops the
// reading of its input instead of making the agent buffer it.
const (
	maxInFlight      = 4 << 20
	maxInFlightLines = 256
)

// Result counts what AppendStream did.
type Result struct {
	Lines       int // input lines read, each answered by one output line
	NotAppended int // lines answered with an error
}

// entry is one input line on its way to its output line.
type entry struct {
	line    int
	size    int
	skip    string            // why the line was skipped (bad input)
	p       *eventlog.Pending // queued for appending
	err     error             // why it could not be queued
	stopped error             // not queued: appending had stopped, for this reason
}

// AppendStream reads JSON lines from r, appends each valid one and writes
// exactly one line per input line to w, in input order, as soon as its
// outcome is known:
//
//	SEQ                               the event's sequence number, once it is durable
//	error: line N: REASON (skipped)   the line is not a valid input (see event.ParseInput),
//	                                  is empty, or is longer than MaxLineBytes
//	error: line N: ERR (not appended) the log could not append the line's event
//	error: line N: not appended: appending stopped at line M, which was not appended
//
// Lines are appended in input order, several in flight at once so that they
// share commits. Once a valid line is not appended (a full disk, an I/O
// error, the log closing, ctx ending), no later line is: each is answered
// as not appended, so the log holds a prefix of the input's valid lines, in
// order. Input is read only as fast as w takes the answers.
//
// It returns the counts, and an error if the input could not be read to
// its end, w failed, or ctx ended; the lines read until then are answered.
func AppendStream(ctx context.Context, l *eventlog.Log, clock Clock, r io.Reader, w io.Writer) (Result, error) {
	st := l.NewStream()
	in := make(chan inputLine)
	quit := make(chan struct{})
	defer close(quit)
	go readLines(r, in, quit)

	var budget byteBudget
	budget.c.L = &budget.mu
	entries := make(chan entry, maxInFlightLines)
	var res Result
	var werr error
	var writing atomic.Bool // the writer has failed
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, werr = writeAnswers(w, entries, &budget, &writing)
	}()

	var err error
	n := 0
read:
	for {
		var ln inputLine
		var ok bool
		select {
		case ln, ok = <-in:
		case <-ctx.Done():
			err = fmt.Errorf("interrupted after input line %d (no later line was read): %w", n, ctx.Err())
			break read
		}
		if !ok {
			break
		}
		if ln.err != nil {
			err = fmt.Errorf("reading input line %d: %w", n+1, ln.err)
			break
		}
		if writing.Load() {
			break // werr says why
		}
		n++
		e := entry{line: n, size: len(ln.text)}
		switch text := bytes.TrimSpace(ln.text); {
		case ln.tooLong:
			e.skip = fmt.Sprintf("longer than %d bytes", MaxLineBytes)
		case len(text) == 0:
			e.skip = "empty line"
		case st.Err() != nil:
			e.stopped = st.Err()
		default:
			ev, perr := event.ParseInput(text, clock)
			if perr != nil {
				e.skip = perr.Error()
				break
			}
			budget.acquire(e.size)
			if e.p, e.err = st.Enqueue(ctx, ev); e.err != nil {
				budget.release(e.size)
				if errors.Is(e.err, eventlog.ErrStreamStopped) {
					e.stopped, e.err = e.err, nil
				}
			}
		}
		entries <- e
	}
	close(entries)
	<-done
	if err == nil {
		err = werr
	}
	return res, err
}

// writeAnswers writes the answer of each entry in order.
func writeAnswers(w io.Writer, entries <-chan entry, budget *byteBudget, failed *atomic.Bool) (Result, error) {
	bw := bufio.NewWriter(w)
	var res Result
	var werr error
	stopLine := 0 // the first line not appended
	for e := range entries {
		var s string
		switch {
		case e.skip != "":
			s = fmt.Sprintf("error: line %d: %s (skipped)", e.line, e.skip)
		case e.p != nil:
			signed, err := e.p.Wait()
			budget.release(e.size)
			switch {
			case err == nil:
				s = strconv.FormatUint(signed.Seq, 10)
			case stopLine != 0 && errors.Is(err, eventlog.ErrStreamStopped):
				s = stoppedAnswer(e.line, stopLine)
			default:
				if stopLine == 0 {
					stopLine = e.line
				}
				s = fmt.Sprintf("error: line %d: %s (not appended)", e.line, oneLine(err.Error()))
			}
		case e.err != nil:
			if stopLine == 0 {
				stopLine = e.line
			}
			s = fmt.Sprintf("error: line %d: %s (not appended)", e.line, oneLine(e.err.Error()))
		case stopLine != 0: // stopped before it was queued
			s = stoppedAnswer(e.line, stopLine)
		default:
			stopLine = e.line
			s = fmt.Sprintf("error: line %d: %s (not appended)", e.line, oneLine(e.stopped.Error()))
		}
		res.Lines++
		if s[0] == 'e' {
			res.NotAppended++
		}
		if werr != nil {
			continue
		}
		if _, werr = bw.WriteString(s); werr == nil {
			werr = bw.WriteByte('\n')
		}
		if werr == nil && len(entries) == 0 {
			werr = bw.Flush()
		}
		if werr != nil {
			failed.Store(true)
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		werr = fmt.Errorf("writing the answers: %w", werr)
	}
	return res, werr
}

func stoppedAnswer(line, stopLine int) string {
	return fmt.Sprintf("error: line %d: not appended: appending stopped at line %d, which was not appended", line, stopLine)
}

func oneLine(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("\n"), []byte("; "))) }

// inputLine is one line read by readLines, or the error that ended the input.
type inputLine struct {
	text    []byte
	tooLong bool
	err     error
}

// readLines sends r's lines on out, without their line end, until r ends
// (then it closes out) or quit is closed. A line longer than MaxLineBytes
// is sent as tooLong without its text. A read error is sent last.
func readLines(r io.Reader, out chan<- inputLine, quit <-chan struct{}) {
	br := bufio.NewReaderSize(r, 64<<10)
	send := func(ln inputLine) bool {
		select {
		case out <- ln:
			return true
		case <-quit:
			return false
		}
	}
	for {
		var line []byte
		tooLong, any := false, false
		var err error
		for {
			var frag []byte
			frag, err = br.ReadSlice('\n')
			any = any || len(frag) > 0
			content := bytes.TrimSuffix(frag, []byte("\n"))
			if !tooLong && len(line)+len(content) > MaxLineBytes+1 { // +1: a "\r" before the "\n"
				tooLong, line = true, nil
			}
			if !tooLong {
				line = append(line, content...)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if len(line) > MaxLineBytes && !bytes.HasSuffix(line, []byte("\r")) {
			tooLong, line = true, nil
		}
		if any && !send(inputLine{text: line, tooLong: tooLong}) {
			return
		}
		if err != nil {
			if err != io.EOF && !send(inputLine{err: err}) {
				return
			}
			close(out)
			return
		}
	}
}

// byteBudget bounds the bytes of lines in flight. One line may exceed it
// alone.
type byteBudget struct {
	mu   sync.Mutex
	c    sync.Cond
	used int
}

func (b *byteBudget) acquire(n int) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > maxInFlight {
		b.c.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *byteBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.c.Broadcast()
}
