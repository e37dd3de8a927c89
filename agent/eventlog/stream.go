package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/waybill-eu/waybill/agent/event"
)

// ErrStreamStopped is wrapped by the error of an event queued on a Stream
// after an event of the same stream that was not appended.
var ErrStreamStopped = errors.New("eventlog: not appended: the stream stopped")

// A Stream queues events whose order matters, such as the lines of one
// input: the events of a stream that are appended are always the ones
// queued first, in order. Once one of its events is not appended (its
// commit failed, its context ended, it could not be signed), every event
// queued on the stream after it is refused with an error wrapping
// ErrStreamStopped, even if the log could append it, so that the log never
// holds a later event of the stream without an earlier one.
//
// Events of other producers may be appended between a stream's events. A
// Stream is used by one goroutine at a time.
type Stream struct {
	l   *Log
	gen uint64 // the commit generation the stream started on

	mu     sync.Mutex
	err    error // why the stream stopped; nil while it runs
	enqErr error // why an Enqueue failed: no later event may be queued
}

// NewStream returns a stream of events to be appended in order.
func (l *Log) NewStream() *Stream {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Stream{l: l, gen: l.gen}
}

// Enqueue queues ev as the stream's next event, like Log.Enqueue.
func (s *Stream) Enqueue(ctx context.Context, ev event.Event) (*Pending, error) {
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStreamStopped, err)
	}
	p, err := s.l.enqueue(ctx, ev, s)
	if err != nil {
		// The events queued before ev may still be appended; none after.
		s.mu.Lock()
		s.enqErr = err
		s.mu.Unlock()
	}
	return p, err
}

// Err returns why the stream stopped: the error of the first of its events
// that was not appended, or nil.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return s.enqErr
}

// stop records err as the reason the stream stopped, unless it already
// has one. s may be nil (an event queued outside a stream).
func (s *Stream) stop(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// admit is called by the sign loop before it signs an event of the stream
// on top of commit generation gen. It refuses the event if the stream has
// stopped or if a commit has failed since the stream started: that commit
// held an earlier event of the stream, or a batch signed before it (the
// stream's events in it are refused as stale), or another producer's
// events only, in which case the storage failed under the stream too.
func (s *Stream) admit(gen uint64, commitErr error) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && gen != s.gen {
		s.err = fmt.Errorf("a commit failed while the stream ran: %w", commitErr)
	}
	if s.err != nil {
		return fmt.Errorf("%w: %v", ErrStreamStopped, s.err)
	}
	return nil
}
