package anchor

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// storeVersion is the version of the store's layout, in meta/version.
const storeVersion = "1"

// The store is one bbolt file with two buckets:
//
//	meta     version     "1"
//	         created     RFC 3339 time the store was created
//	         next_nonce  8-byte big-endian nonce the next new anchor uses
//	         queued      JSON of the Queued checkpoint, absent when none
//	anchors  8-byte big-endian anchor ID → JSON of the Anchor
var (
	bMeta    = []byte("meta")
	bAnchors = []byte("anchors")

	kVersion   = []byte("version")
	kCreated   = []byte("created")
	kNextNonce = []byte("next_nonce")
	kQueued    = []byte("queued")
)

// ErrLocked is returned by Open and ReadStore when another process has the
// store open for writing.
var ErrLocked = errors.New("anchor: store is in use by another process")

type store struct {
	db   *bolt.DB
	path string
}

// persisted is the whole state a store holds.
type persisted struct {
	created time.Time
	next    uint64
	queued  *Queued
	anchors []*Anchor // by ID
}

func openStore(path string, readOnly bool, timeout time.Duration, now time.Time) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("anchor: open store %s: %w", path, err)
	}
	s := &store{db: db, path: path}
	if readOnly {
		return s, nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bAnchors); err != nil {
			return err
		}
		if m.Get(kVersion) != nil {
			return nil
		}
		t, _ := now.UTC().MarshalText()
		if err := m.Put(kCreated, t); err != nil {
			return err
		}
		if err := m.Put(kNextNonce, u64(0)); err != nil {
			return err
		}
		return m.Put(kVersion, []byte(storeVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("anchor: initialize store %s: %w", path, err)
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

// ErrDamaged is wrapped by the error of a store that cannot be opened or
// read: a damaged file (bbolt's own error, a page it cannot parse, a record
// that does not decode, a file shorter than its pages) or one that cannot
// be read at all (permissions).
var ErrDamaged = errors.New("anchor: store damaged")

// openChecked opens the store at path and reads and checks it whole: every
// record, and every page with bbolt's consistency check. An existing file
// is checked read-only first, so that a damaged store is moved aside as it
// was found. bbolt panics (or faults on its memory map) on some damaged
// pages instead of returning an error; both are caught here and returned
// as ErrDamaged, so that a damaged store is found at open rather than by a
// panic in the running anchoring loop. ErrLocked is returned as it is.
func openChecked(path string, readOnly bool, timeout time.Duration, now time.Time) (*store, *persisted, error) {
	if _, err := os.Lstat(path); err == nil || readOnly {
		s, p, err := guarded(path, true, timeout, now)
		if err != nil || readOnly {
			return s, p, err
		}
		s.close()
	}
	return guarded(path, false, timeout, now)
}

// guarded opens, checks and loads the store, turning panics and memory
// faults into ErrDamaged.
func guarded(path string, readOnly bool, timeout time.Duration, now time.Time) (s *store, p *persisted, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			s, p, err = nil, nil, fmt.Errorf("%w: %s: %v", ErrDamaged, path, r)
		}
	}()
	if fi, serr := os.Stat(path); serr == nil && fi.Size() > 0 && fi.Size() < 4*int64(os.Getpagesize()) {
		// bbolt writes two meta pages, a freelist and a root page.
		return nil, nil, fmt.Errorf("%w: %s: %d bytes, shorter than an empty store", ErrDamaged, path, fi.Size())
	}
	s, err = openStore(path, readOnly, timeout, now)
	if errors.Is(err, ErrLocked) || errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err // no store is not a damaged one
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if err := s.check(); err != nil {
		s.close()
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrDamaged, path, err)
	}
	if p, err = s.load(); err != nil {
		s.close()
		return nil, nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return s, p, nil
}

// check verifies that the file holds every page its meta page counts and
// runs bbolt's consistency check of every page.
func (s *store) check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(s.path)
		if err != nil {
			return err
		}
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%d bytes, shorter than the %d its pages take", fi.Size(), tx.Size())
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// moveAside renames the store at path (and nothing else) to
// PATH.damaged-<UTC time> and returns the new path. The file is kept: it
// holds the signed transactions and evidence of past anchors.
func moveAside(path string, now time.Time) (string, error) {
	to := path + ".damaged-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	return to, nil
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// load reads the whole store, checking every record.
func (s *store) load() (*persisted, error) {
	p := &persisted{}
	err := s.db.View(func(tx *bolt.Tx) error {
		m, as := tx.Bucket(bMeta), tx.Bucket(bAnchors)
		if m == nil || as == nil {
			return errors.New("not an anchor store (missing buckets)")
		}
		if v := m.Get(kVersion); string(v) != storeVersion {
			return fmt.Errorf("store version %q, want %q", v, storeVersion)
		}
		if err := p.created.UnmarshalText(m.Get(kCreated)); err != nil {
			return fmt.Errorf("meta/created: %w", err)
		}
		n := m.Get(kNextNonce)
		if len(n) != 8 {
			return fmt.Errorf("meta/next_nonce is %d bytes, want 8", len(n))
		}
		p.next = binary.BigEndian.Uint64(n)
		if q := m.Get(kQueued); q != nil {
			p.queued = new(Queued)
			if err := json.Unmarshal(q, p.queued); err != nil {
				return fmt.Errorf("meta/queued: %w", err)
			}
		}
		var last, flying uint64
		return as.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("anchors: key of %d bytes", len(k))
			}
			id := binary.BigEndian.Uint64(k)
			an := new(Anchor)
			if err := json.Unmarshal(v, an); err != nil {
				return fmt.Errorf("anchors/%d: %w", id, err)
			}
			if an.ID != id || id <= last {
				return fmt.Errorf("anchors/%d: record says id %d", id, an.ID)
			}
			if an.State != StateConfirmed && an.State != StateFailed {
				if flying != 0 {
					return fmt.Errorf("anchors/%d: anchors %d and %d are both in flight", id, flying, id)
				}
				flying = id
			}
			last = id
			p.anchors = append(p.anchors, an)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("anchor: store %s: %w", s.path, err)
	}
	return p, nil
}

// update is one durable change: an anchor record written, optionally the
// next nonce, and optionally the queued checkpoint set or (q == nil with
// setQueued) cleared. bbolt commits it with fdatasync before returning.
type update struct {
	anchor    *Anchor
	next      *uint64
	setQueued bool
	queued    *Queued
}

func (s *store) apply(u update) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if u.anchor != nil {
			b, err := json.Marshal(u.anchor)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bAnchors).Put(u64(u.anchor.ID), b); err != nil {
				return err
			}
		}
		if u.next != nil {
			if err := m.Put(kNextNonce, u64(*u.next)); err != nil {
				return err
			}
		}
		if u.setQueued {
			if u.queued == nil {
				return m.Delete(kQueued)
			}
			b, err := json.Marshal(u.queued)
			if err != nil {
				return err
			}
			return m.Put(kQueued, b)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("anchor: store %s: %w", s.path, err)
	}
	return nil
}

// ReadStore reads an anchor store without a ledger or a log, as `waybill
// anchor status` does: its persisted status (the live fields are zero) and
// every anchor, oldest first. It fails with ErrLocked if the daemon holds
// the store open.
func ReadStore(path string) (Status, []Anchor, error) {
	s, p, err := openChecked(path, true, 500*time.Millisecond, time.Time{})
	if err != nil {
		return Status{}, nil, err
	}
	defer s.close()
	st := persistedStatus(p)
	out := make([]Anchor, len(p.anchors))
	for i, an := range p.anchors {
		out[i] = *an
	}
	return st, out, nil
}

// persistedStatus returns the persisted part of the status.
func persistedStatus(p *persisted) Status {
	st := Status{NextNonce: p.next, Created: p.created}
	if p.queued != nil {
		q := *p.queued
		st.Queued = &q
	}
	for _, an := range p.anchors {
		switch {
		case an.State == StateConfirmed:
			st.Confirmed++
			st.Last = an.Clone()
		case an.State == StateFailed:
			st.Failed++
		case an.State.inFlight():
			st.InFlight = an.Clone()
		}
	}
	return st
}
