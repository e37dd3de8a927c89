// Package logcheck re-verifies an event log's files completely, without
// opening the log: the manifest, every segment file's structure and meta,
// every event's leaf and signature, every stored hash and top node, and
// every signed checkpoint (see Check). It is what `waybill log check` runs,
// and what agent/eventlog/salvage runs on the log it writes.
//
// It reads the files through agent/eventlog's inspection surface
// (ReadManifest, ReadLock, CheckSegmentPages, OpenSegmentFile,
// Identity.VerifyLeaf) and writes nothing.
package logcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// ErrFailed is wrapped by every *Problem.
var ErrFailed = errors.New("log check failed")

// Options configures Check. The zero value is usable.
type Options struct {
	// Workers is how many goroutines verify signatures; default runtime.NumCPU().
	Workers int
	// Progress, when not nil, is called with the number of events verified
	// so far every ProgressEvery events, in order, from one goroutine.
	Progress func(verified, total uint64)
	// ProgressEvery defaults to 65536.
	ProgressEvery uint64
	// LockTimeout is how long to wait for the shared lock on the log
	// directory; default 500 ms.
	LockTimeout time.Duration
}

// Report is what Check verified.
type Report struct {
	Dir    string
	Epoch  uint32
	Origin string
	// Size is the log size the segments record (0 if they could not be read).
	Size uint64
	// Events is the number of events whose leaf, signature and stored
	// hashes verified: all Size of them when Problem is nil, otherwise those
	// below the problem's event that are not in Damaged. For a pruned event
	// (see eventlog.Log.Prune) only the stored hashes can be verified: they are
	// counted here and in Pruned.
	Events uint64
	// Pruned is the number of events in pruned segments.
	Pruned uint64
	// Segments is the number of segment files whose structure verified.
	Segments int
	// Checkpoints is the number of distinct signed checkpoint notes (the
	// latest one and those stored in the segments) whose signature and root
	// verified.
	Checkpoints int
	// Damaged lists the first maxDamaged events whose bytes alone are
	// damaged: they are not the signed event and do not hash to its stored
	// leaf hash, while the stored hashes agree with the tree and the signed
	// checkpoints (the log goes on signing over them; see the package
	// documentation). The check goes on past them. DamagedEvents counts
	// them all.
	Damaged       []Problem
	DamagedEvents uint64
	// Problem is the problem that stopped the check or, when none did and
	// events are damaged, one naming the first damaged event and listing
	// them all; nil when the log verified completely.
	Problem *Problem
	Elapsed time.Duration
}

// Problem is a problem Check found: where it is and what is wrong.
// Its message reads, for example,
//
//	epoch 0, epoch-0/seg-000001.db, event 1234: signature does not verify: ...
type Problem struct {
	Epoch  uint32
	File   string // relative to the log directory; "" when not about one file
	Seq    uint64 // the event, when HasSeq
	HasSeq bool
	Err    error

	noEpoch   bool // the manifest could not be read
	leafBytes bool // the event's bytes alone are damaged (Report.Damaged)
}

func (p *Problem) Error() string {
	var parts []string
	if !p.noEpoch {
		parts = append(parts, fmt.Sprintf("epoch %d", p.Epoch))
	}
	if p.File != "" {
		parts = append(parts, p.File)
	}
	if p.HasSeq {
		parts = append(parts, fmt.Sprintf("event %d", p.Seq))
	}
	return strings.Join(parts, ", ") + ": " + p.Err.Error()
}

// Unwrap returns ErrFailed and the underlying error.
func (p *Problem) Unwrap() []error { return []error{ErrFailed, p.Err} }

// Check re-verifies the current epoch of the log in dir completely and
// reports the first problem it finds, and every event whose bytes alone
// are damaged (Report.Damaged): the manifest; every segment file and
// its meta against the manifest and its neighbours; every event's leaf
// (canonical form, sequence number, epoch, device) and EIP-712 signature;
// every stored hash against the leaves; the top-node copies of every
// segment; the latest checkpoint note and every checkpoint stored in the
// segments (signature, origin, size and root).
//
// Check holds a shared lock on the log, so it runs beside readers but not
// beside a process writing the log. It opens every file read-only.
//
// The report is never nil. When Check finds a problem, it is in
// report.Problem and is also returned as the error (a *Problem, which
// wraps ErrFailed); problems of the same event range are ordered so
// that the one with the lowest sequence number is reported. Other errors
// (the log is locked, ctx ends) are returned with Problem nil.
func Check(ctx context.Context, dir string, opts Options) (*Report, error) {
	start := time.Now()
	rep := &Report{Dir: dir}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.ProgressEvery == 0 {
		opts.ProgressEvery = 1 << 16
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 500 * time.Millisecond
	}
	if _, err := os.Stat(dir); err != nil {
		return rep, fmt.Errorf("eventlog: check: %w", err)
	}
	unlock, err := eventlog.ReadLock(dir, opts.LockTimeout)
	if err != nil {
		return rep, err
	}
	defer unlock()
	c := &checker{ctx: ctx, dir: dir, opts: opts, rep: rep, roots: map[uint64][]noteRef{}, notesOK: map[string]bool{}}
	err = c.run()
	rep.Checkpoints = len(c.notesOK)
	rep.Elapsed = time.Since(start)
	var p *Problem
	if errors.As(err, &p) {
		rep.Problem = p
	}
	return rep, err
}

// noteRef is a checkpoint whose root the event pass compares.
type noteRef struct {
	file string
	note string // the signed note, to count distinct ones
	root merkle.Hash
}

// maxDamaged is how many events with damaged bytes a Report lists.
const maxDamaged = 64

// nodeKey names a Merkle node: its level and its index at that level.
type nodeKey struct {
	level uint8
	index uint64
}

// checkSeg is what the structural pass learned about one segment.
type checkSeg struct {
	file   string
	first  uint64
	size   uint64
	pruned bool
	top    map[nodeKey]merkle.Hash
}

type checker struct {
	ctx   context.Context
	dir   string
	opts  Options
	rep   *Report
	id    eventlog.Identity
	epoch uint32
	segs  []checkSeg
	size  uint64
	// roots maps a tree size to the checkpoints signed at it.
	roots   map[uint64][]noteRef
	notesOK map[string]bool
}

func (c *checker) problem(file string, format string, args ...any) *Problem {
	return &Problem{Epoch: c.epoch, File: file, Err: fmt.Errorf(format, args...)}
}

func (c *checker) eventProblem(file string, seq uint64, err error) *Problem {
	return &Problem{Epoch: c.epoch, File: file, Seq: seq, HasSeq: true, Err: err}
}

func (c *checker) run() error {
	m, err := eventlog.ReadManifest(c.dir)
	if err != nil {
		return &Problem{File: eventlog.ManifestFile, Err: err, noEpoch: true}
	}
	c.epoch = m.Epoch
	c.rep.Epoch = m.Epoch
	if c.id, err = m.Identity(); err != nil {
		return c.problem(eventlog.ManifestFile, "%v", err)
	}
	origin := c.id.Origin(m.Epoch)
	c.rep.Origin = origin
	found := false
	for _, e := range m.Epochs {
		if e.Epoch == m.Epoch {
			if found {
				return c.problem(eventlog.ManifestFile, "epoch %d is recorded twice", m.Epoch)
			}
			found = true
			if e.Origin != origin {
				return c.problem(eventlog.ManifestFile, "epoch %d has origin %q, want %q", m.Epoch, e.Origin, origin)
			}
		}
	}
	if !found {
		return c.problem(eventlog.ManifestFile, "no record of the current epoch %d", m.Epoch)
	}
	if m.Segments[0].First != 0 {
		return c.problem(eventlog.ManifestFile, "first segment starts at event %d, not 0", m.Segments[0].First)
	}
	seen := map[string]bool{}
	for _, s := range m.Segments {
		f := filepath.Clean(s.File)
		if !filepath.IsLocal(f) || filepath.Dir(f) != eventlog.EpochDir(m.Epoch) {
			return c.problem(eventlog.ManifestFile, "segment %q is not a file of %s", s.File, eventlog.EpochDir(m.Epoch))
		}
		if seen[f] {
			return c.problem(eventlog.ManifestFile, "segment %q is listed twice", s.File)
		}
		seen[f] = true
	}
	// Structural pass: every segment opens and its meta, top nodes and
	// stored checkpoints are sane.
	for i, s := range m.Segments {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		cs, p := c.checkSegment(s, origin)
		if p != nil {
			return p
		}
		if i+1 < len(m.Segments) && cs.size != m.Segments[i+1].First {
			return c.problem(s.File, "segment ends at size %d but the next segment, %s, starts at event %d",
				cs.size, m.Segments[i+1].File, m.Segments[i+1].First)
		}
		c.segs = append(c.segs, cs)
		c.rep.Segments = len(c.segs)
	}
	c.size = c.segs[len(c.segs)-1].size
	c.rep.Size = c.size
	// Every stored checkpoint and top node must lie within the log.
	for _, cs := range c.segs {
		for k := range cs.top {
			if last := (k.index+1)<<k.level - 1; k.level < eventlog.TopLevel || last >= cs.size {
				return c.problem(cs.file, "top bucket holds node (%d, %d), which the segment's %d events do not complete", k.level, k.index, cs.size)
			}
		}
	}
	if p := c.checkLatest(origin); p != nil {
		return p
	}
	if refs, ok := c.roots[0]; ok {
		for _, r := range refs {
			if r.root != merkle.EmptyRoot() {
				return c.problem(r.file, "checkpoint of size 0 signs root %s, not the empty tree's", r.root)
			}
			c.notesOK[r.note] = true
		}
	}
	return c.events()
}

// checkSegment opens segment s read-only and checks its meta, top nodes and
// stored checkpoints.
func (c *checker) checkSegment(s eventlog.SegmentInfo, origin string) (cs checkSeg, p *Problem) {
	cs = checkSeg{file: s.File, top: map[nodeKey]merkle.Hash{}}
	path := filepath.Join(c.dir, s.File)
	if _, err := os.Stat(path); err != nil {
		return cs, c.problem(s.File, "segment file: %v", err)
	}
	// The pages are checked before bbolt maps the file (see
	// CheckSegmentPages); what bbolt still panics or faults on is caught.
	if err := eventlog.CheckSegmentPages(path, s.File, true); err != nil {
		var d *eventlog.DamageError
		if errors.As(err, &d) {
			return cs, &Problem{Epoch: c.epoch, File: s.File, Seq: d.Seq, HasSeq: d.HasSeq, Err: d.Err}
		}
		return cs, c.problem(s.File, "%v", err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			p = c.problem(s.File, "reading the segment failed (bbolt: %v)", r)
		}
	}()
	sf, err := eventlog.OpenSegmentFile(path, c.opts.LockTimeout)
	if err != nil {
		return cs, c.problem(s.File, "segment does not open: %v", err)
	}
	defer sf.Close()
	if err := c.readMeta(sf, s, origin, &cs); err != nil {
		return cs, c.problem(s.File, "%v", err)
	}
	return cs, nil
}

// readMeta reads segment s's meta, top nodes and stored checkpoints into cs
// and c.roots.
func (c *checker) readMeta(sf *eventlog.SegmentFile, s eventlog.SegmentInfo, origin string, cs *checkSeg) error {
	meta, err := sf.Meta()
	if err != nil {
		return err
	}
	if meta.Origin != origin {
		return fmt.Errorf("segment is of origin %q, not %q", meta.Origin, origin)
	}
	if meta.First != s.First {
		return fmt.Errorf("segment starts at event %d; the manifest says %d", meta.First, s.First)
	}
	if meta.Pruned != s.Pruned {
		return fmt.Errorf("segment meta says pruned %v; the manifest says %v", meta.Pruned, s.Pruned)
	}
	if k, _ := sf.Leaves().First(); meta.Pruned && k != nil {
		return fmt.Errorf("segment is marked pruned but its leaves bucket holds key %x", k)
	}
	cs.first, cs.size, cs.pruned = meta.First, meta.Size, meta.Pruned
	cur := sf.Top()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(k) != 9 || len(v) != 32 {
			return fmt.Errorf("top bucket holds a malformed entry (key %x, %d-byte value)", k, len(v))
		}
		cs.top[nodeKey{k[0], binary.BigEndian.Uint64(k[1:])}] = merkle.Hash(v)
	}
	cur = sf.Checkpoints()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(k) != 8 {
			return fmt.Errorf("checkpoints bucket holds a malformed key %x", k)
		}
		size := binary.BigEndian.Uint64(k)
		cp, err := c.openNote(v, origin)
		if err != nil {
			return fmt.Errorf("checkpoint stored at size %d: %v", size, err)
		}
		if cp.Size != size {
			return fmt.Errorf("checkpoint stored at size %d is of size %d", size, cp.Size)
		}
		if size < meta.First || size > meta.Size {
			return fmt.Errorf("checkpoint of size %d is stored in a segment of events %d to %d", size, meta.First, meta.Size)
		}
		c.roots[size] = append(c.roots[size], noteRef{file: s.File, note: string(v), root: cp.Root})
	}
	return nil
}

// openNote verifies a signed checkpoint note of this log.
func (c *checker) openNote(note []byte, origin string) (checkpoint.Checkpoint, error) {
	v := signer.NoteVerifier(c.id.KeyName(), c.id.Device, c.id.Domain())
	cp, _, err := checkpoint.OpenCheckpoint(note, v)
	if err != nil {
		return cp, fmt.Errorf("signed note does not verify: %v", err)
	}
	if cp.Origin != origin {
		return cp, fmt.Errorf("checkpoint is for origin %q, not %q", cp.Origin, origin)
	}
	return cp, nil
}

// checkLatest verifies the epoch's latest checkpoint file.
func (c *checker) checkLatest(origin string) *Problem {
	rel := filepath.Join(eventlog.EpochDir(c.epoch), "checkpoint")
	b, err := os.ReadFile(filepath.Join(c.dir, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return c.problem(rel, "%v", err)
	}
	cp, err := c.openNote(b, origin)
	if err != nil {
		return c.problem(rel, "latest checkpoint: %v", err)
	}
	if cp.Size > c.size {
		return c.problem(rel, "latest checkpoint was signed at size %d but the log holds %d events", cp.Size, c.size)
	}
	c.roots[cp.Size] = append(c.roots[cp.Size], noteRef{file: rel, note: string(b), root: cp.Root})
	return nil
}

// checkChunk is a run of consecutive events of one segment on their way
// through the signature workers.
type checkChunk struct {
	file   string
	first  uint64
	leaves [][]byte
	early  []*Problem // per event, found while reading (missing, hashes, checkpoints)
	sig    []error    // per event, from the workers (leaf form, identity, signature)
	wg     sync.WaitGroup
}

type checkJob struct {
	ch     *checkChunk
	lo, hi int
}

const (
	checkChunkSize = 1024
	checkJobSize   = 64
)

// events runs the event pass: one goroutine reads the segments in order and
// checks the stored hashes, workers check leaves and signatures, and a
// collector reports the problem of the lowest sequence number.
func (c *checker) events() error {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	jobs := make(chan checkJob, 4*c.opts.Workers)
	inflight := make(chan *checkChunk, 2*c.opts.Workers+2)
	var workers sync.WaitGroup
	for w := 0; w < c.opts.Workers; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				if ctx.Err() == nil {
					for i := j.lo; i < j.hi; i++ {
						if j.ch.leaves[i] != nil {
							j.ch.sig[i] = c.id.VerifyLeaf(c.epoch, j.ch.first+uint64(i), j.ch.leaves[i])
						}
					}
				}
				j.ch.wg.Done()
			}
		}()
	}
	var found *Problem
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		var verified uint64
		next := c.opts.ProgressEvery
		for ch := range inflight {
			ch.wg.Wait()
			if found != nil || ctx.Err() != nil {
				continue
			}
			for i := range ch.leaves {
				if p := ch.early[i]; p != nil && p.leafBytes {
					c.rep.DamagedEvents++
					if len(c.rep.Damaged) < maxDamaged {
						c.rep.Damaged = append(c.rep.Damaged, *p)
					}
					continue
				}
				if err := ch.sig[i]; err != nil {
					found = c.eventProblem(ch.file, ch.first+uint64(i), err)
				} else if ch.early[i] != nil {
					found = ch.early[i]
				}
				if found != nil {
					cancel()
					break
				}
				verified++
			}
			c.rep.Events = verified
			if c.opts.Progress != nil && verified >= next {
				c.opts.Progress(verified, c.size)
				next = (verified/c.opts.ProgressEvery + 1) * c.opts.ProgressEvery
			}
		}
	}()
	readErr := c.read(ctx, jobs, inflight)
	close(inflight)
	close(jobs)
	workers.Wait()
	<-collected
	if found != nil {
		return found
	}
	if readErr != nil {
		return readErr
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}
	return c.damagedProblem()
}

// damagedProblem returns the problem naming the first damaged event and
// listing them all, or nil when none is damaged.
func (c *checker) damagedProblem() error {
	ds := c.rep.Damaged
	if len(ds) == 0 {
		return nil
	}
	var list []string
	for _, d := range ds {
		list = append(list, fmt.Sprintf("%d (%s)", d.Seq, d.File))
	}
	if more := c.rep.DamagedEvents - uint64(len(ds)); more > 0 {
		list = append(list, fmt.Sprintf("and %d more", more))
	}
	p := ds[0]
	p.Err = fmt.Errorf("%w; %d event(s) have damaged bytes: %s. Their stored hashes agree with the tree and the signed checkpoints, so the log goes on signing over them; "+
		"prove one from a copy a feed consumer holds with waybill log prove --seq N --leaf FILE; waybill log salvage recovers what the files still prove",
		p.Err, c.rep.DamagedEvents, strings.Join(list, ", "))
	return &p
}

// read walks the segments' leaves and tree buckets in order, checks every
// stored hash against the tree computed from the leaves, and hands the
// leaves to the workers. It stops after the first problem it finds itself
// (which it puts in its chunk) or when ctx ends.
func (c *checker) read(ctx context.Context, jobs chan<- checkJob, inflight chan<- *checkChunk) error {
	f, _ := merkle.NewFrontier(0, nil)
	for j, s := range c.segs {
		stop, err := c.readSegment(ctx, j, s, f, jobs, inflight)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

func (c *checker) readSegment(ctx context.Context, j int, s checkSeg, f *merkle.Frontier,
	jobs chan<- checkJob, inflight chan<- *checkChunk) (stop bool, err error) {
	var ch *checkChunk
	dispatch := func() {
		if ch == nil || len(ch.leaves) == 0 {
			return
		}
		n := len(ch.leaves)
		ch.sig = make([]error, n)
		ch.wg.Add((n + checkJobSize - 1) / checkJobSize)
		inflight <- ch
		for lo := 0; lo < n; lo += checkJobSize {
			jobs <- checkJob{ch, lo, min(lo+checkJobSize, n)}
		}
		ch = nil
	}
	add := func(seq uint64, leaf []byte, p *Problem) {
		if ch == nil {
			ch = &checkChunk{file: s.file, first: seq}
		}
		ch.leaves = append(ch.leaves, leaf)
		ch.early = append(ch.early, p)
		if len(ch.leaves) == checkChunkSize {
			dispatch()
		}
	}
	// fail records a problem not tied to a leaf read: it becomes the early
	// problem of event seq, after every event before it.
	fail := func(seq uint64, p *Problem) {
		add(seq, nil, p)
		stop = true
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			next := s.first
			if ch != nil {
				next = ch.first + uint64(len(ch.leaves))
			} else if f.Size() > next {
				next = f.Size()
			}
			fail(next, c.eventProblem(s.file, next, fmt.Errorf("reading the segment failed (bbolt: %v)", r)))
		}
		dispatch()
	}()
	sf, err := eventlog.OpenSegmentFile(filepath.Join(c.dir, s.file), c.opts.LockTimeout)
	if err != nil {
		fail(s.first, c.eventProblem(s.file, s.first, fmt.Errorf("segment does not open: %v", err)))
		return true, nil
	}
	defer sf.Close()
	lc, tc := sf.Leaves(), sf.Tree()
	lk, lv := lc.First()
	tk, tv := tc.First()
	if lk != nil && bytes.Compare(lk, u64(s.first)) < 0 {
		fail(s.first, c.eventProblem(s.file, s.first, fmt.Errorf("leaves bucket holds key %x before the segment's first event", lk)))
		return true, nil
	}
	if tk != nil && bytes.Compare(tk, u64(s.first)) < 0 {
		fail(s.first, c.eventProblem(s.file, s.first, fmt.Errorf("tree bucket holds key %x before the segment's first event", tk)))
		return true, nil
	}
	for seq := s.first; seq < s.size; seq++ {
		if seq%4096 == 0 && ctx.Err() != nil {
			return true, nil
		}
		key := u64(seq)
		if !s.pruned && !bytes.Equal(lk, key) {
			fail(seq, c.eventProblem(s.file, seq, fmt.Errorf("event is missing from the leaves bucket")))
			return true, nil
		}
		if !bytes.Equal(tk, key) {
			fail(seq, c.eventProblem(s.file, seq, fmt.Errorf("stored hashes are missing from the tree bucket")))
			return true, nil
		}
		// A pruned event's stored leaf hash stands for its leaf: the nodes
		// above it and the checkpoints are still checked against it.
		var leaf []byte
		var lh merkle.Hash
		var bad *Problem
		if s.pruned {
			if len(tv) < 32 {
				fail(seq, c.eventProblem(s.file, seq, fmt.Errorf("%d bytes of stored hashes", len(tv))))
				return true, nil
			}
			lh = merkle.Hash(tv[:32])
			c.rep.Pruned++
		} else {
			leaf = append([]byte(nil), lv...)
			lh = merkle.LeafHash(leaf)
			// Bytes that do not hash to the stored leaf hash and are not
			// the signed event are damage of that event alone: its stored
			// hash stands for it, as a pruned event's does, and is checked
			// with the nodes above it. The signed event under another
			// stored hash is damage of the tree, found below.
			if len(tv) >= 32 && lh != merkle.Hash(tv[:32]) {
				if err := c.id.VerifyLeaf(c.epoch, seq, leaf); err != nil {
					bad = &Problem{Epoch: c.epoch, File: s.file, Seq: seq, HasSeq: true, leafBytes: true,
						Err: fmt.Errorf("its bytes are damaged: they do not hash to its stored leaf hash and are not the signed event (%w)", err)}
					leaf, lh = nil, merkle.Hash(tv[:32])
				}
			}
		}
		computed := f.Append(lh)
		p := c.checkHashes(j, s.file, seq, tv, computed)
		if p == nil {
			if refs, ok := c.roots[f.Size()]; ok {
				root := f.Root()
				for _, r := range refs {
					if r.root != root {
						p = c.eventProblem(r.file, seq, fmt.Errorf("checkpoint of size %d signs root %s; the tree of the first %d events has root %s",
							f.Size(), r.root, f.Size(), root))
						break
					}
					c.notesOK[r.note] = true
				}
			}
		}
		if p == nil && bad != nil {
			add(seq, nil, bad)
		} else {
			add(seq, leaf, p)
		}
		if p != nil {
			return true, nil
		}
		if !s.pruned {
			lk, lv = lc.Next()
		}
		tk, tv = tc.Next()
	}
	if lk != nil {
		fail(s.size, c.eventProblem(s.file, s.size, fmt.Errorf("leaves bucket holds key %x beyond the segment's recorded size %d", lk, s.size)))
		return true, nil
	}
	if tk != nil {
		fail(s.size, c.eventProblem(s.file, s.size, fmt.Errorf("tree bucket holds key %x beyond the segment's recorded size %d", tk, s.size)))
		return true, nil
	}
	return false, nil
}

// checkHashes compares the hashes stored for leaf seq with those computed
// from the leaves, and the top nodes among them with every segment's copy.
func (c *checker) checkHashes(j int, file string, seq uint64, stored []byte, computed []merkle.Hash) *Problem {
	if len(stored) != 32*len(computed) {
		return c.eventProblem(file, seq, fmt.Errorf("%d bytes of stored hashes, want %d (levels 0 to %d)", len(stored), 32*len(computed), len(computed)-1))
	}
	for lvl, h := range computed {
		if merkle.Hash(stored[32*lvl:32*lvl+32]) != h {
			if lvl == 0 {
				return c.eventProblem(file, seq, fmt.Errorf("stored leaf hash %s is not the hash of the leaf (%s)", merkle.Hash(stored[:32]), h))
			}
			return c.eventProblem(file, seq, fmt.Errorf("stored node (%d, %d) is %s; its children hash to %s",
				lvl, seq>>lvl, merkle.Hash(stored[32*lvl:32*lvl+32]), h))
		}
		if lvl < eventlog.TopLevel {
			continue
		}
		k := nodeKey{uint8(lvl), seq >> lvl}
		for _, cs := range c.segs[j:] {
			if cs.size <= seq {
				continue
			}
			t, ok := cs.top[k]
			if !ok {
				return c.eventProblem(cs.file, seq, fmt.Errorf("top node (%d, %d) that event completes is missing from the segment's top bucket", k.level, k.index))
			}
			if t != h {
				return c.eventProblem(cs.file, seq, fmt.Errorf("top node (%d, %d) is %s in the segment's top bucket, but %s in the tree", k.level, k.index, t, h))
			}
		}
	}
	return nil
}

// u64 is v as a big-endian key, as the segments store sequence numbers.
func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}
