package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// ErrClosed is returned by operations on a closed log.
var ErrClosed = errors.New("eventlog: log is closed")

// ErrReadOnly is returned by Append and Checkpoint on a log opened without keys.
var ErrReadOnly = errors.New("eventlog: log is open read-only (no device key)")

// Keys signs for the log. *devkey.Key implements it.
type Keys interface {
	// Address is the device address; it must match the log's identity.
	Address() event.Address
	// SignEvent signs e in domain d, setting e.Device.
	SignEvent(d signer.Domain, e event.Event) (*event.Signed, error)
	// NoteSigners returns the checkpoint note signers for key name in domain d.
	NoteSigners(name string, d signer.Domain) ([]checkpoint.Signer, error)
}

// Options configures Open. The zero value is usable; nil means zero.
type Options struct {
	// Create, when not nil, creates a new log with this identity if dir holds
	// none. An existing log's identity must equal it.
	Create *Identity
	// Keys signs events and checkpoints. Without keys the log is read-only
	// and Open takes a shared lock, so several readers can open it at once.
	Keys Keys
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started. Default 256 MiB; at most 1 GiB.
	SegmentBytes int64
	// MaxBatch caps how many events share one commit. Default 1024.
	MaxBatch int
	// LockTimeout is how long Open waits for another process to release the
	// log. Default 500 ms.
	LockTimeout time.Duration
	// Logger receives the log's events; default discards.
	Logger *slog.Logger
	// Now is the clock for records such as epoch start times; default time.Now.
	Now func() time.Time
	// OpenFile opens bbolt files; default os.OpenFile (for fault injection in tests).
	OpenFile func(string, int, os.FileMode) (*os.File, error)
	// PruneStep, when not nil, is called after each durable step of pruning
	// a segment ("copied", "renamed", "manifest"; see Prune), for
	// fault-injection tests that stop the process there.
	PruneStep func(step string)
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.SegmentBytes <= 0 {
		r.SegmentBytes = 256 << 20
	}
	if r.SegmentBytes > 1<<30 {
		r.SegmentBytes = 1 << 30
	}
	if r.MaxBatch <= 0 {
		r.MaxBatch = 1024
	}
	if r.LockTimeout <= 0 {
		r.LockTimeout = 500 * time.Millisecond
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

// Log is an open event log. Its methods are safe for concurrent use.
type Log struct {
	// Constant after Open.
	dir      string
	id       Identity
	opts     Options
	writable bool
	lock     *dirLock
	reqs     chan *appendReq
	batches  chan signedBatch
	quit     chan struct{}
	done     chan struct{}
	ckMu     sync.Mutex // serializes Checkpoint

	// mu guards the following.
	mu        sync.Mutex
	man       *Manifest
	epoch     uint32
	origin    string
	active    *bolt.DB
	activeNo  int                // index into man.Segments
	sealed    map[int]*sealedSeg // open segments by index, the active one included
	frontier  *merkle.Frontier   // of the committed tree
	top       map[nodeKey]merkle.Hash
	closed    bool
	alarm     error         // set when the history contradicts a signed checkpoint
	damage    string        // set when Open started a new epoch because of damage
	scrub     uint64        // next leaf the rotating scrub checks
	gen       uint64        // bumped when a commit fails (see signLoop)
	commitErr error         // the last failed commit's error
	found     []DamageError // damage reads have met (see Damaged)
	foundN    int
	seen      map[damageKey]struct{} // the places counted in foundN, up to maxDamageSeen
	// leafDamageN counts the events whose bytes alone are damaged among
	// foundN (see damagedName).
	leafDamageN int

	dmMu sync.Mutex // orders the writes of the damaged-events list
}

// sealedSeg is an open segment file and the readers using it. A segment is
// closed only when no reader holds it, so Close never waits on a reader.
type sealedSeg struct {
	db   *bolt.DB
	refs int
	used time.Time
}

type appendReq struct {
	ctx  context.Context
	ev   event.Event
	st   *Stream // nil outside a stream
	done chan appendResult
}

type appendResult struct {
	s   *event.Signed
	err error
}

// Open opens the log in dir. See Options for creating one and for writing.
// A log that another process holds is refused within Options.LockTimeout
// with an error that wraps ErrLocked and names the holder.
func Open(ctx context.Context, dir string, o *Options) (*Log, error) {
	opts := o.withDefaults()
	l := &Log{dir: dir, opts: opts, writable: opts.Keys != nil, sealed: map[int]*sealedSeg{}}
	if l.writable || opts.Create != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("eventlog: %w", err)
		}
	} else if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("eventlog: no log at %s: %w", dir, err)
	}
	if err := readableDir(dir); err != nil {
		return nil, err
	}
	lk, err := lockDir(dir, l.writable, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	l.lock = lk
	if err := l.open(ctx); err != nil {
		l.closeFiles()
		lk.unlock()
		return nil, err
	}
	if l.writable {
		l.reqs = make(chan *appendReq, opts.MaxBatch)
		l.quit = make(chan struct{})
		l.done = make(chan struct{})
		l.batches = make(chan signedBatch, 4)
		go l.signLoop()
		go l.commitLoop()
	}
	return l, nil
}

func (l *Log) open(ctx context.Context) error {
	raw, m, err := loadManifest(l.dir)
	if errors.Is(err, errNoLog) && l.opts.Create != nil {
		if !l.writable {
			return fmt.Errorf("eventlog: creating a log needs the device key")
		}
		return l.create(*l.opts.Create, 0, nil)
	}
	if err != nil && !errors.Is(err, errManifest) {
		return err
	}
	// The manifest is checked against the segments it names and the files
	// on disk; a manifest that is lost or disagrees with them is rebuilt
	// from the segments, never used to create a log over them.
	inv, serr := scanLog(l.dir, true)
	if serr != nil {
		return serr
	}
	if errors.Is(err, errManifest) && raw == nil && l.writable && l.opts.Create != nil {
		if left, ok := inv.unfinishedCreation(*l.opts.Create); ok {
			return l.finishCreation(left)
		}
	}
	if err == nil {
		if problem := inv.check(m); problem != "" {
			err = fmt.Errorf("eventlog: %s: %w: %s", filepath.Join(l.dir, ManifestFile), errManifest, problem)
		} else if c := l.opts.Create; c != nil && c.Device == mustAddr(m.Device) && c.Fleet == m.Fleet && c.ChainID != m.ChainID {
			if what, ok, _ := inv.confirm(*c); ok {
				err = fmt.Errorf("eventlog: %s: %w: it says chain ID %d; the signature of %s is made on chain %d", filepath.Join(l.dir, ManifestFile), errManifest, m.ChainID, what, c.ChainID)
			}
		}
	}
	if err != nil {
		if m, err = l.recoverManifest(raw, m, err, inv); err != nil || m == nil {
			return err // m == nil: a new epoch was started
		}
	}
	id, err := m.Identity()
	if err != nil {
		return err
	}
	if err := l.checkIdentity(id); err != nil {
		return err
	}
	if l.writable && m.Salvaged != "" {
		return fmt.Errorf("eventlog: %s is a read-only copy salvaged from %s; appending to it would sign a second history of epoch %d", l.dir, m.Salvaged, m.Epoch)
	}
	l.id, l.man, l.epoch = id, m, m.Epoch
	l.origin = id.Origin(m.Epoch)
	err = l.openChecked()
	if err == nil {
		if l.writable {
			l.removeLeftovers()
			l.mu.Lock()
			l.rollAwayLocked()
			l.mu.Unlock()
		}
		return nil
	}
	if isDamage(err) && !l.writable {
		return fmt.Errorf("%w (a reader changes nothing: waybill log check names the damage, waybill log salvage recovers what the files still prove, and the agent moves the damaged epoch aside when it starts)", err)
	}
	if !isDamage(err) {
		return err
	}
	// The files of this epoch cannot be trusted: keep them, start afresh.
	l.closeFiles()
	return l.moveAside(err)
}

// openChecked opens the active segment and checks it: what Open checks is
// listed in the package documentation (Damage). bbolt panics on some
// damaged files instead of returning an error, and reading a mapped page
// past the end of a truncated file raises SIGBUS; the page check and the
// guarded reads turn both into a damage error, so that Open moves the
// epoch aside like any other damage instead of crashing on every start.
func (l *Log) openChecked() error {
	file := l.man.Segments[len(l.man.Segments)-1].File
	l.loadDamaged()
	err := guard(file, 0, false, func() error {
		if err := l.openActive(); err != nil {
			return err
		}
		if err := l.checkAgainstCheckpoint(); err != nil {
			return err
		}
		if l.writable {
			return l.checkRecent()
		}
		return nil
	})
	if err != nil {
		// What was met belongs to the epoch Open is leaving.
		l.found, l.foundN, l.leafDamageN, l.seen = nil, 0, 0, nil
	}
	return err
}

// recentChecked is how many of the active segment's last events a
// writable Open checks against their stored hashes, at least.
const recentChecked = 4096

// checkRecent checks the active segment's last recentChecked events, and
// every event of it after the latest checkpoint, against their stored
// hashes and the nodes they complete.
func (l *Log) checkRecent() error {
	seg := l.man.Segments[l.activeNo]
	size := l.frontier.Size()
	from := seg.First
	if size-from > recentChecked {
		from = size - recentChecked
	}
	if cp, _, err := l.latest(); err == nil && cp != nil && cp.Size < from {
		from = max(cp.Size, seg.First)
	}
	r := l.readerAt(size)
	defer r.release()
	if err := verifyRange(context.Background(), r, from, size, true); err != nil {
		if errors.Is(err, ErrDamaged) {
			return err
		}
		return &DamageError{File: seg.File, Err: err}
	}
	return nil
}

// create writes a new epoch with a first, empty segment and the manifest.
func (l *Log) create(id Identity, epoch uint32, prev *Manifest) error {
	if err := id.Validate(); err != nil {
		return err
	}
	l.id, l.epoch, l.origin = id, epoch, id.Origin(epoch)
	m := &Manifest{Version: 1, Device: id.Device.String(), Fleet: id.Fleet, ChainID: id.ChainID, Epoch: epoch}
	if prev != nil {
		m.Epochs = prev.Epochs
	}
	m.Epochs = append(m.Epochs, EpochInfo{Epoch: epoch, Origin: l.origin, Started: l.opts.Now().UTC().Format(time.RFC3339)})
	m.Segments = []SegmentInfo{{File: segFile(epoch, 0), First: 0}}
	if err := os.MkdirAll(filepath.Join(l.dir, EpochDir(epoch)), 0o755); err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	path := filepath.Join(l.dir, m.Segments[0].File)
	// The epoch is new: no file of it may exist, and none is replaced.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("eventlog: start epoch %d: %w", epoch, err)
	}
	f.Close()
	db, err := l.boltOpen(path, false)
	if err != nil {
		return err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := initSegment(tx, l.origin, 0, nil); err != nil {
			return err
		}
		return putMetaIdentity(tx, id)
	}); err != nil {
		db.Close()
		return fmt.Errorf("eventlog: initialize %s: %w", path, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		db.Close()
		return err
	}
	if err := writeManifest(l.dir, m); err != nil {
		db.Close()
		return err
	}
	l.man, l.active, l.activeNo = m, db, 0
	l.sealed[0] = &sealedSeg{db: db, used: time.Now()}
	l.frontier, _ = merkle.NewFrontier(0, nil)
	l.top = map[nodeKey]merkle.Hash{}
	l.opts.Logger.Info("created log", "dir", l.dir, "origin", l.origin)
	return nil
}

// finishCreation creates the log over what a start killed while it
// created the log left (unfinishedCreation): files that hold no event, so
// nothing was acknowledged, and that are removed before creating afresh.
func (l *Log) finishCreation(left []string) error {
	for _, f := range left {
		if err := os.Remove(filepath.Join(l.dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("eventlog: finishing the creation of %s an interrupted start began: %w", l.dir, err)
		}
	}
	l.opts.Logger.Info("finishing the creation of the log an interrupted start began", "dir", l.dir, "removed", left)
	return l.create(*l.opts.Create, 0, nil)
}

// boltOpen opens the segment file at path. An existing file's pages are
// checked first (CheckSegmentPages): fully when it is opened for writing,
// its branch pages when read-only.
func (l *Log) boltOpen(path string, readOnly bool) (*bolt.DB, error) {
	file := l.relFile(path)
	if err := CheckSegmentPages(path, file, !readOnly); err != nil {
		return nil, err
	}
	if readOnly {
		// bbolt initialises an empty file as a new database, which a
		// read-only open cannot do ("bad file descriptor"). A segment
		// that exists is never empty: it lost its content.
		if st, err := os.Stat(path); err == nil && st.Size() == 0 {
			return nil, &DamageError{File: file, Err: errors.New("the file is empty (0 bytes): the events it held are not in it")}
		}
	}
	var db *bolt.DB
	err := guard(file, 0, false, func() error {
		var err error
		db, err = bolt.Open(path, 0o644, &bolt.Options{
			Timeout:      l.opts.LockTimeout,
			ReadOnly:     readOnly,
			OpenFile:     l.opts.OpenFile,
			NoGrowSync:   false,
			FreelistType: bolt.FreelistMapType,
		})
		return err
	})
	if errors.Is(err, ErrDamaged) {
		return nil, err
	}
	if err != nil && strings.Contains(err.Error(), "file size too small") {
		// bbolt reports a file shorter than its two meta pages with a plain
		// error (DB.fileSize in bbolt's db.go), not ErrInvalid. It is damage
		// to the file, not a problem of the environment: mark it so.
		return nil, fmt.Errorf("eventlog: %w: open segment %s: %v", errSegmentCheck, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("eventlog: open segment %s: %w", path, err)
	}
	return db, nil
}

// openActive opens the epoch's last segment and loads the tree's frontier
// and top nodes from it: O(log n) reads, no scan.
func (l *Log) openActive() error {
	n := len(l.man.Segments) - 1
	seg := l.man.Segments[n]
	path := filepath.Join(l.dir, seg.File)
	if st, err := os.Stat(path); err != nil {
		return fmt.Errorf("eventlog: %w: active segment %s: %v", errSegmentCheck, seg.File, err)
	} else if st.Size() == 0 {
		return fmt.Errorf("eventlog: %w: active segment %s is empty (0 bytes): the events it held are not in it", errSegmentCheck, seg.File)
	}
	db, err := l.boltOpen(path, !l.writable)
	if err != nil {
		return err
	}
	l.active, l.activeNo = db, n
	l.sealed[n] = &sealedSeg{db: db, used: time.Now()}
	var meta segMeta
	top := map[nodeKey]merkle.Hash{}
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		if meta, err = readSegMeta(tx); err != nil {
			return err
		}
		c := tx.Bucket(bTop).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 9 || len(v) != 32 {
				return errors.New("malformed top node")
			}
			top[nodeKey{k[0], binary.BigEndian.Uint64(k[1:])}] = merkle.Hash(v)
		}
		if meta.size > meta.first {
			last := meta.size - 1
			leaf := tx.Bucket(bLeaves).Get(u64(last))
			hs := tx.Bucket(bTree).Get(u64(last))
			if leaf == nil || len(hs) != 32*merkle.StoredCount(last) {
				return fmt.Errorf("last event %d or its hashes missing", last)
			}
			// Bytes that are not the signed event are damage of that event
			// alone, which checkRecent records; the signed event under
			// another stored hash is damage of the tree.
			if merkle.LeafHash(leaf) != merkle.Hash(hs[:32]) && l.genuine(l.epoch, last, leaf) {
				return fmt.Errorf("last event %d is the signed event, but its stored hash is not its hash", last)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("eventlog: %w: %s: %v", errSegmentCheck, seg.File, err)
	}
	if meta.first != seg.First || meta.origin != l.origin {
		return fmt.Errorf("eventlog: %w: %s says first event %d of %q; manifest says %d of %q",
			errSegmentCheck, seg.File, meta.first, meta.origin, seg.First, l.origin)
	}
	l.top = top
	r := l.readerAt(meta.size)
	f, err := merkle.LoadFrontier(meta.size, r)
	r.release()
	if err != nil {
		return fmt.Errorf("eventlog: %w: load tree of size %d: %v", errSegmentCheck, meta.size, err)
	}
	l.frontier = f
	return nil
}

// checkAgainstCheckpoint checks the opened tree against the latest signed
// checkpoint of this epoch: the log must not be shorter than what was signed,
// and its stored nodes must reproduce the signed root.
func (l *Log) checkAgainstCheckpoint() error {
	cp, _, err := l.latest()
	if err != nil || cp == nil {
		return err
	}
	size := l.frontier.Size()
	if cp.Size > size {
		return fmt.Errorf("eventlog: %w: the log holds %d events but checkpoint %d was signed; acknowledged events are missing (a segment file lost or cut short, or storage that did not keep an fsync across a power cut)",
			errSegmentCheck, size, cp.Size)
	}
	r := l.readerAt(size)
	defer r.release()
	root, err := merkle.TreeHash(cp.Size, r)
	if err != nil {
		return fmt.Errorf("eventlog: %w: %w", errSegmentCheck, err)
	}
	if root != cp.Root {
		return fmt.Errorf("eventlog: %w: the tree of size %d stored in %s and the segments before it has root %s; checkpoint signed %s",
			errSegmentCheck, cp.Size, l.man.Segments[l.activeNo].File, root, merkle.Hash(cp.Root))
	}
	return nil
}

// moveAside closes the current epoch because of cause, moves its directory to
// damaged/, and starts the next epoch.
func (l *Log) moveAside(cause error) error {
	m := l.man
	now := l.opts.Now().UTC()
	from := filepath.Join(l.dir, EpochDir(m.Epoch))
	rel := filepath.Join("damaged", fmt.Sprintf("%s-%s", EpochDir(m.Epoch), now.Format("20060102T150405Z")))
	to := filepath.Join(l.dir, rel)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("eventlog: move damaged epoch aside: %w (cause: %v)", err, cause)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("eventlog: move damaged epoch aside: %w (cause: %v)", err, cause)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		return err
	}
	for i := range m.Epochs {
		if m.Epochs[i].Epoch == m.Epoch {
			m.Epochs[i].Ended = now.Format(time.RFC3339)
			m.Epochs[i].Reason = cause.Error()
			m.Epochs[i].MovedTo = rel
		}
	}
	l.sealed = map[int]*sealedSeg{}
	next, err := nextEpoch(l.dir, m)
	if err != nil {
		return err
	}
	if err := l.create(l.id, next, m); err != nil {
		return err
	}
	l.damage = fmt.Sprintf("epoch %d failed its checks (%v); its files were moved intact to %s and epoch %d started with origin %s; recover with: waybill log salvage --data %s --epoch %d",
		m.Epoch, cause, rel, next, l.origin, l.dir, m.Epoch)
	l.opts.Logger.Error("LOG DAMAGED: started a new epoch", "dir", l.dir, "damaged_epoch", m.Epoch,
		"moved_to", rel, "new_origin", l.origin, "cause", cause.Error())
	return nil
}

// Damage returns a report when Open found the log damaged and rebuilt its
// manifest or started a new epoch, or "" when it did not.
func (l *Log) Damage() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.damage
}

// Identity returns the log's identity.
func (l *Log) Identity() Identity { return l.id }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Origin returns the checkpoint origin of the current epoch.
func (l *Log) Origin() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.origin
}

// Epoch returns the current epoch.
func (l *Log) Epoch() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

// Epochs returns the history of epochs, oldest first.
func (l *Log) Epochs() []EpochInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]EpochInfo(nil), l.man.Epochs...)
}

// Size returns the number of durable events in the current epoch.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frontier.Size()
}

// Root returns the Merkle root of the durable events.
func (l *Log) Root() (uint64, merkle.Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frontier.Size(), l.frontier.Root()
}

// Append signs ev as the next event and returns it once it is durable. The
// log sets ev's device, epoch and sequence number. Concurrent calls share
// commits. An error means the event was not appended.
func (l *Log) Append(ctx context.Context, ev event.Event) (*event.Signed, error) {
	p, err := l.Enqueue(ctx, ev)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Pending is an event queued by Enqueue.
type Pending struct {
	l *Log
	r *appendReq
}

// Enqueue queues ev for appending and returns without waiting for it to be
// durable. Events enqueued one after another by one goroutine get increasing
// sequence numbers in that order, and share commits; Wait tells the outcome.
func (l *Log) Enqueue(ctx context.Context, ev event.Event) (*Pending, error) {
	return l.enqueue(ctx, ev, nil)
}

func (l *Log) enqueue(ctx context.Context, ev event.Event, st *Stream) (*Pending, error) {
	if !l.writable {
		return nil, ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &appendReq{ctx: ctx, ev: ev, st: st, done: make(chan appendResult, 1)}
	select {
	case l.reqs <- r:
		return &Pending{l: l, r: r}, nil
	case <-l.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Wait returns the signed event once it is durable, or why it was not
// appended. It waits even if the Enqueue context ends: once queued, the
// event may already be durable and the caller must learn its number.
func (p *Pending) Wait() (*event.Signed, error) {
	select {
	case res := <-p.r.done:
		return res.s, res.err
	case <-p.l.done:
		select {
		case res := <-p.r.done:
			return res.s, res.err
		default:
			return nil, ErrClosed
		}
	}
}

// The write path is a two-stage pipeline so that signing the next batch
// overlaps the fsync of the current one:
//
//	Enqueue → l.reqs → signLoop (assigns sequence numbers, signs, hashes)
//	        → l.batches → commitLoop (bbolt transaction, fsync, publish, answer)
//
// signLoop signs on top of a pending frontier that runs ahead of the
// committed one. If a commit fails, commitLoop bumps l.gen; batches signed on
// the old generation are then refused unwritten, and signLoop restarts from
// the committed frontier, so sequence numbers stay contiguous on disk.

// item is one signed event on its way to the disk.
type item struct {
	r      *appendReq
	s      *event.Signed
	leaf   []byte
	hashes []merkle.Hash
}

// signedBatch is a batch signed on top of generation gen; f is the
// frontier after it.
type signedBatch struct {
	items []item
	f     *merkle.Frontier
	gen   uint64
}

func (l *Log) signLoop() {
	defer close(l.batches)
	var pend *merkle.Frontier
	var gen uint64
	batch := make([]*appendReq, 0, l.opts.MaxBatch)
	gather := func() {
		for len(batch) < l.opts.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				return
			}
		}
	}
	for {
		select {
		case r := <-l.reqs:
			batch = append(batch[:0], r)
			// Let producers that are ready to run enqueue before the batch
			// is cut: on one core they would otherwise never get the CPU
			// between this receive and the signing, and batches would be
			// a single event each.
			runtime.Gosched()
			gather()
		case <-l.quit:
			// Serve what was queued before Close, then stop.
			for {
				batch = batch[:0]
				gather()
				if len(batch) == 0 {
					return
				}
				l.signBatch(batch, &pend, &gen)
			}
		}
		l.signBatch(batch, &pend, &gen)
	}
}

// signBatch signs batch on top of *pend and hands it to the commit loop.
func (l *Log) signBatch(batch []*appendReq, pend **merkle.Frontier, gen *uint64) {
	l.mu.Lock()
	closed := l.closed
	if *pend == nil || *gen != l.gen {
		*pend, *gen = l.frontier.Clone(), l.gen
	}
	epoch, commitErr := l.epoch, l.commitErr
	l.mu.Unlock()
	if closed {
		for _, r := range batch {
			r.done <- appendResult{err: ErrClosed}
		}
		return
	}
	f := *pend
	dom := l.id.Domain()
	items := make([]item, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.st.stop(err)
			r.done <- appendResult{err: err}
			continue
		}
		if err := r.st.admit(*gen, commitErr); err != nil {
			r.done <- appendResult{err: err}
			continue
		}
		ev := r.ev
		ev.Epoch, ev.Seq = epoch, f.Size()
		s, err := l.opts.Keys.SignEvent(dom, ev)
		if err != nil {
			err = fmt.Errorf("eventlog: append: %w", err)
			r.st.stop(err)
			r.done <- appendResult{err: err}
			continue
		}
		leaf := s.LeafOfValid() // SignEvent validated it
		items = append(items, item{r: r, s: s, leaf: leaf, hashes: f.Append(merkle.LeafHash(leaf))})
	}
	if len(items) > 0 {
		l.batches <- signedBatch{items: items, f: f.Clone(), gen: *gen}
	}
}

// commitLoop commits signed batches; whatever has queued up while the
// previous commit was syncing goes into one transaction (group commit).
func (l *Log) commitLoop() {
	defer close(l.done)
	var next *signedBatch
	for {
		var b signedBatch
		if next != nil {
			b, next = *next, nil
		} else {
			var ok bool
			if b, ok = <-l.batches; !ok {
				return
			}
		}
	merge:
		for len(b.items) < 4*l.opts.MaxBatch {
			select {
			case m, ok := <-l.batches:
				if !ok {
					break merge
				}
				if m.gen != b.gen {
					next = &m
					break merge
				}
				b.items = append(b.items, m.items...)
				b.f = m.f
			default:
				break merge
			}
		}
		l.commit(b)
	}
}

// commit stores and fsyncs one signed batch, publishes the new tree and
// answers each request.
//
// Only the commit loop changes the committed frontier, the active segment
// and the manifest (Close waits for the loop to end), so it works without
// holding l.mu, and readers are not held up by the fsync.
func (l *Log) commit(b signedBatch) {
	l.mu.Lock()
	if !l.closed && l.commitErr == nil {
		l.rollAwayLocked()
	}
	closed, stale, lastErr := l.closed, b.gen != l.gen, l.commitErr
	active, segName := l.active, l.man.Segments[l.activeNo].File
	l.mu.Unlock()
	fail := func(err error) {
		for _, it := range b.items {
			it.r.done <- appendResult{err: err}
		}
	}
	switch {
	case closed:
		fail(ErrClosed)
		return
	case stale:
		fail(fmt.Errorf("eventlog: append: not written because the commit before it failed: %w", lastErr))
		return
	}
	newTop := map[nodeKey]merkle.Hash{}
	// A damaged page on the segment's write path makes bbolt panic; the
	// guard turns it into this commit's error (Update rolls back).
	err := update(active, segName, b.items[0].s.Seq, true, func(tx *bolt.Tx) error {
		leaves, tree, top := tx.Bucket(bLeaves), tx.Bucket(bTree), tx.Bucket(bTop)
		// One buffer holds every stored-hash value of the batch: bbolt
		// keeps the slices it is given until the commit.
		n := 0
		for _, it := range b.items {
			n += 32 * len(it.hashes)
		}
		all := make([]byte, 0, n)
		for _, it := range b.items {
			seq := it.s.Seq
			if err := leaves.Put(u64(seq), it.leaf); err != nil {
				return err
			}
			start := len(all)
			for lvl, h := range it.hashes {
				all = append(all, h[:]...)
				if lvl >= TopLevel {
					k := nodeKey{uint8(lvl), seq >> lvl}
					newTop[k] = h
					if err := top.Put(topKey(k.level, k.index), h[:]); err != nil {
						return err
					}
				}
			}
			if err := tree.Put(u64(seq), all[start:len(all):len(all)]); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kSize, u64(b.f.Size()))
	})
	if err != nil {
		err = fmt.Errorf("eventlog: append: commit to %s: %w", segName, keepErrno(err))
		l.opts.Logger.Error("append failed; nothing in the batch was acknowledged", "events", len(b.items), "err", err)
		l.mu.Lock()
		l.gen++
		l.commitErr = err
		l.mu.Unlock()
		fail(err)
		return
	}
	l.mu.Lock()
	l.frontier = b.f
	for k, h := range newTop {
		l.top[k] = h
	}
	if err := l.maybeRollLocked(); err != nil {
		l.opts.Logger.Error("could not start a new segment; continuing in the current one", "err", err)
	}
	l.mu.Unlock()
	for _, it := range b.items {
		it.r.done <- appendResult{s: it.s}
	}
}

// keepErrno returns err, made to also wrap the errno its text ends with if
// it wraps none. bbolt formats the errors of growing a file with %s ("file
// resize error: truncate …: file too large", "file sync error: …"; DB.grow in
// bbolt's db.go), which drops the errno: without this, a full disk or a file
// size limit met while the segment grows would not satisfy errors.Is(err,
// syscall.ENOSPC / EFBIG), while the same condition met while writing a page
// would. Only the errnos a caller acts on (disk full, failing storage) are
// recovered. The text is unchanged.
func keepErrno(err error) error {
	var e syscall.Errno
	if err == nil || errors.As(err, &e) {
		return err
	}
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, syscall.EIO, syscall.EROFS} {
		if strings.HasSuffix(err.Error(), ": "+e.Error()) {
			return &errnoError{err: err, errno: e}
		}
	}
	return err
}

type errnoError struct {
	err   error
	errno syscall.Errno
}

func (e *errnoError) Error() string   { return e.err.Error() }
func (e *errnoError) Unwrap() []error { return []error{e.err, e.errno} }

// maybeRollLocked seals the active segment when its file has reached
// SegmentBytes and starts the next one.
func (l *Log) maybeRollLocked() error {
	fi, err := os.Stat(l.active.Path())
	if err != nil || fi.Size() < l.opts.SegmentBytes {
		return err
	}
	return l.rollLocked()
}

// activeDamagedLocked reports whether damage was met in an event of the
// active segment. Such a segment is sealed before anything more is written
// to it (rollAwayLocked): bbolt writes new pages over its free pages, and a
// free page may hold the only intact copy of a damaged event, which log
// salvage recovers.
func (l *Log) activeDamagedLocked() bool {
	seg := l.man.Segments[l.activeNo]
	if l.frontier.Size() == seg.First {
		return false
	}
	for _, d := range l.found {
		if d.File == seg.File {
			return true
		}
	}
	return false
}

// rollAwayLocked seals the active segment if damage was met in it
// (activeDamagedLocked). The caller is Open, before the log's goroutines
// start, or the commit loop before it writes a batch.
func (l *Log) rollAwayLocked() {
	if !l.activeDamagedLocked() {
		return
	}
	file := l.man.Segments[l.activeNo].File
	if err := l.rollLocked(); err != nil {
		l.opts.Logger.Error("could not seal the damaged active segment; writing on in it may overwrite intact copies of its damaged events", "segment", file, "err", err)
		return
	}
	l.opts.Logger.Warn("sealed the active segment, which holds damaged events, so that nothing more is written over its pages", "segment", file)
}

// rollLocked seals the active segment and starts the next one. Only Open
// and the commit loop call it.
func (l *Log) rollLocked() error {
	k := len(l.man.Segments)
	seg := SegmentInfo{File: segFile(l.epoch, k), First: l.frontier.Size()}
	path := filepath.Join(l.dir, seg.File)
	if _, err := os.Lstat(path); err == nil {
		// A leftover from a crash before the manifest named it: removed
		// only if it provably holds nothing.
		if l.emptySegment(path) {
			os.Remove(path)
		} else {
			l.keepLeftover(seg.File)
		}
	}
	db, err := l.boltOpen(path, false)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initSegment(tx, l.origin, seg.First, l.top); err != nil {
			return err
		}
		return putMetaIdentity(tx, l.id)
	})
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	if err == nil {
		m := *l.man
		m.Segments = append(append([]SegmentInfo(nil), l.man.Segments...), seg)
		if err = writeManifest(l.dir, &m); err == nil {
			l.man = &m
		}
	}
	if err != nil {
		db.Close()
		os.Remove(path)
		return fmt.Errorf("eventlog: start segment %s: %w", seg.File, err)
	}
	// The old segment stays open until no reader holds it.
	l.active, l.activeNo = db, k
	l.sealed[k] = &sealedSeg{db: db, used: time.Now()}
	// Segments sealed earlier are closed here too, not only when a reader
	// finishes: a writer that only appends would otherwise keep every
	// sealed segment mapped, and a 32-bit process would run out of address
	// space after 2 GiB of segments, the very limit segments exist to
	// avoid. The segment just sealed is kept: a Checkpoint may be about to
	// store its note in it.
	l.evictLocked(k - 1)
	l.opts.Logger.Info("sealed segment and started the next", "segment", seg.File, "first", seg.First)
	return nil
}

// Close waits for queued appends, then closes the files. It is idempotent.
func (l *Log) Close() error {
	if l.writable {
		l.mu.Lock()
		already := l.closed
		l.mu.Unlock()
		if !already {
			select {
			case <-l.quit:
			default:
				close(l.quit)
			}
			<-l.done
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	err := l.closeFiles()
	l.lock.unlock()
	return err
}

// closeFiles closes every open segment. bbolt's Close waits for open read
// transactions, so it runs without l.mu, which readers need to finish.
func (l *Log) closeFiles() error {
	l.mu.Lock()
	segs := l.sealed
	l.sealed = map[int]*sealedSeg{}
	l.active = nil
	l.mu.Unlock()
	var err error
	for _, s := range segs {
		if e := s.db.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}
