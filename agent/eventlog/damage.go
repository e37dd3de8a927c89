package eventlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is wrapped by every *DamageError.
var ErrDamaged = errors.New("damaged")

// errLeafBytes is the damage of one event's bytes: they do not hash to the
// event's stored leaf hash, and are not a genuine signed event of that
// sequence number either. The stored hash still stands for the event, as a
// pruned event's does: the tree the log signs is made of stored hashes, so
// checkpoints go on, while the event is never served and is proven only
// from a copy its holder supplies (InclusionProof).
var errLeafBytes = errors.New("the event does not match its stored hash")

// DamageError reports a segment file whose bytes are not what the log
// wrote: a page bbolt cannot read, a file shorter than its own meta page
// says, or an event that does not match its stored hash. What it names is
// never handed out.
type DamageError struct {
	File   string // the segment file, relative to the log directory when inside it
	Seq    uint64 // the first event affected, when HasSeq
	HasSeq bool
	Err    error // what is wrong
}

func (e *DamageError) Error() string {
	where := e.File
	if e.HasSeq {
		where += fmt.Sprintf(", event %d", e.Seq)
	}
	return fmt.Sprintf("eventlog: %s: %v: %v (%s)", where, ErrDamaged, e.Err, e.next())
}

// next is the operator's next step.
func (e *DamageError) next() string {
	if e.HasSeq && errors.Is(e.Err, errLeafBytes) {
		return fmt.Sprintf("its stored hash is intact, so checkpoints go on; the event is proven from a copy a feed consumer holds: "+
			"waybill log prove --seq %d --leaf FILE; waybill log salvage recovers what the file still proves", e.Seq)
	}
	return "waybill log check names the damage; waybill log salvage recovers what the file still proves"
}

// EventOnly reports whether e is damage of event Seq's bytes alone: its
// stored hash agrees with the tree, so the events after it can be read and
// checkpoints go on, while it is never served.
func (e *DamageError) EventOnly() bool { return e.HasSeq && errors.Is(e.Err, errLeafBytes) }

// Unwrap returns ErrDamaged and the underlying error.
func (e *DamageError) Unwrap() []error { return []error{ErrDamaged, e.Err} }

// guard runs fn and turns a panic or a memory fault inside it into a
// *DamageError about file (and event seq, when hasSeq). bbolt trusts the
// bytes of its file: on a damaged page it panics ("assertion failed",
// index out of range), and a page past the end of a truncated file raises
// SIGBUS when read through the mapping. fn must leave no transaction of
// its own open when it panics (bbolt's View and Update roll back theirs;
// the reader keeps its transactions until release), so that closing the
// file never waits on it.
func guard(file string, seq uint64, hasSeq bool, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &DamageError{File: file, Seq: seq, HasSeq: hasSeq, Err: fmt.Errorf("bbolt cannot read it: %v", p)}
		}
	}()
	return fn()
}

// update runs db.Update(fn) behind guard: a panic inside bbolt becomes
// the transaction's error, and Update rolls the transaction back.
func update(db *bolt.DB, file string, seq uint64, hasSeq bool, fn func(*bolt.Tx) error) error {
	return guard(file, seq, hasSeq, func() error { return db.Update(fn) })
}

// relFile returns path relative to the log directory when it lies inside it.
func (l *Log) relFile(path string) string {
	if r, err := filepath.Rel(l.dir, path); err == nil && filepath.IsLocal(r) {
		return r
	}
	return path
}

// maxDamageKept bounds the damage Damaged reports.
const maxDamageKept = 64

// maxDamageSeen bounds the damaged places noteDamage tells apart; beyond
// it, further ones are neither counted nor logged, and Damaged's count is
// a lower bound.
const maxDamageSeen = 1 << 16

// damageKey is a damaged place: a file and, when hasSeq, an event.
type damageKey struct {
	file   string
	seq    uint64
	hasSeq bool
}

// seenLocked reports whether d was met before, and records it. The caller
// holds l.mu.
func (l *Log) seenLocked(d *DamageError) bool {
	k := damageKey{d.File, d.Seq, d.HasSeq}
	if _, ok := l.seen[k]; ok || len(l.seen) >= maxDamageSeen {
		return true
	}
	if l.seen == nil {
		l.seen = map[damageKey]struct{}{}
	}
	l.seen[k] = struct{}{}
	return false
}

// noteDamage records err if it is damage met by a read, logs it the first
// time it is seen, and returns err. An event whose bytes alone are damaged
// is also recorded in the epoch's list (damagedName) when it enters the
// list Damaged returns, or when their count reaches a power of two.
func (l *Log) noteDamage(err error) error {
	var d *DamageError
	if !errors.As(err, &d) {
		return err
	}
	l.mu.Lock()
	if l.seenLocked(d) {
		l.mu.Unlock()
		return err
	}
	l.foundN++
	listed := len(l.found) < maxDamageKept
	if listed {
		l.found = append(l.found, *d)
	}
	bytesOnly := d.HasSeq && errors.Is(d.Err, errLeafBytes)
	if bytesOnly {
		l.leafDamageN++
	}
	save := bytesOnly && l.writable && (listed || l.leafDamageN&(l.leafDamageN-1) == 0)
	l.mu.Unlock()
	if save {
		l.saveDamaged()
	}
	attrs := []any{"file", d.File}
	if d.HasSeq {
		attrs = append(attrs, "seq", d.Seq)
	}
	attrs = append(attrs, "next", d.next(), "err", err)
	l.opts.Logger.Error("LOG DAMAGED: a read met a damaged segment; the damaged events are not handed out", attrs...)
	return err
}

// Damaged returns the number of distinct damaged places (a file and an
// event) reads and checks have met since Open, with the events of the
// epoch whose bytes alone are damaged recorded before (damagedName), and
// the first maxDamageKept of them. An event named here is refused on
// every read, never served. An event whose bytes alone are damaged (its
// stored hash agrees with the tree) does not stop checkpoints:
// Checkpoint's checks meet it and count it here, and sign the stored tree.
func (l *Log) Damaged() (int, []DamageError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.foundN, append([]DamageError(nil), l.found...)
}
