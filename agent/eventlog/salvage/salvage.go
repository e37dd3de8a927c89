// Package salvage recovers what the files of a damaged epoch of an event
// log still prove (see Recover): it reads every segment file through bbolt,
// by scanning its leaf pages (agent/eventlog/boltpage) and by carving its
// bytes for event JSON, keeps each event whose signature verifies, and
// writes the events recovered without a gap, with every signed checkpoint
// they reproduce, as a new read-only log (eventlog.WriteSalvaged), which it
// then checks (agent/eventlog/logcheck). It is what `waybill log salvage`
// runs.
package salvage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/boltpage"
	"github.com/waybill-eu/waybill/agent/eventlog/logcheck"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Options configures Recover. The zero value is usable when from lies
// inside a log directory (DIR/damaged/epoch-N-<time> or DIR/epoch-N).
type Options struct {
	// LogDir is the log directory whose manifest gives the identity, and
	// under which the default output goes. Default: the nearest parent of
	// from that holds a manifest.json.
	LogDir string
	// Identity is the log's identity; default from LogDir's manifest, or
	// without one from the segments.
	Identity *eventlog.Identity
	// ChainID, if not 0, is the chain ID to confirm against the signatures
	// of segments that do not record theirs, when there is no manifest.
	ChainID uint64
	// Epoch is the epoch of the damaged files. Default: from the directory
	// name (epoch-N or epoch-N-<time>), else from the first valid event.
	Epoch *uint32
	// Workers verify signatures; default runtime.NumCPU().
	Workers int
	// SegmentBytes is the segment size of the output log; default 256 MiB.
	SegmentBytes int64
	// Logger receives warnings (such as two histories); default discards.
	Logger *slog.Logger
	// Now is the clock for the output's epoch record; default time.Now.
	Now func() time.Time
}

// Report says what Recover recovered.
type Report struct {
	From   string
	Out    string // the output log directory ("" if none was written)
	Epoch  uint32
	Origin string
	Files  []File
	// Recovered is the number of distinct validly signed events found.
	Recovered uint64
	// Prefix is the number of events 0..Prefix-1 recovered without a gap:
	// the size of the output log.
	Prefix uint64
	// Root is the Merkle root of the recovered prefix.
	Root merkle.Hash
	// Gaps are the missing sequence numbers below the highest recovered one
	// or the largest size a verified checkpoint signed, whichever is larger.
	Gaps []Range
	// Pruned are the events whose payloads retention removed before the
	// damage (their segment is seg-K.pruned.db): not missing, and not in
	// Gaps. Their hashes are in the pruned segment; their bytes are with
	// whoever received the feed.
	Pruned []Range
	// Unprovable is the number of recovered events after the first gap (or
	// conflict): readable and signed, but not in a contiguous tree. They are
	// written to OUT/epoch-N/unprovable.jsonl, one leaf a line.
	Unprovable uint64
	// Conflicts are sequence numbers for which two different validly signed
	// events were found: the device key signed two histories.
	Conflicts []uint64
	// Rejected counts distinct candidate events that parsed but are not this
	// log's (other device or epoch, bad signature, wrong key); Unparsable
	// counts values that looked like events but did not parse.
	Rejected, Unparsable int
	// RejectReasons holds a few examples of why candidates were rejected.
	RejectReasons []string
	// Checkpoint is the epoch's checkpoint file, if there was one.
	Checkpoint *Checkpoint
	// CheckpointReproduced is true when the checkpoint file verifies and the
	// recovered prefix reproduces its root: every recovered event up to its
	// size is provable against a checkpoint the device signed before the
	// damage.
	CheckpointReproduced bool
	// Checkpoints is the number of distinct verified checkpoint notes found
	// (the file and the segments' checkpoints buckets); ProvenSize is the
	// largest size among those whose root the prefix reproduces (0 if none).
	Checkpoints int
	ProvenSize  uint64
	// Contradicted are sizes of verified checkpoints within the prefix
	// whose signed root the recovered events do not reproduce.
	Contradicted []uint64
	Elapsed      time.Duration
}

// Range is the inclusive range of sequence numbers First..Last.
type Range struct{ First, Last uint64 }

func (r Range) String() string {
	if r.First == r.Last {
		return strconv.FormatUint(r.First, 10)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// File is what Recover read from one segment file.
type File struct {
	Path string
	// BoltErr is why bbolt could not open or read the file ("" if it could).
	BoltErr string
	// PageSize is the page size used for the raw scan; PageSizeKnown is
	// false when no meta page gave it.
	PageSize      int
	PageSizeKnown bool
	// New valid events found by each method, in the order tried: through
	// bbolt, by scanning the file's leaf pages, by carving the file's bytes
	// for event JSON.
	Bolt, Pages, Carved uint64
}

// Checkpoint is the damaged epoch's checkpoint file.
type Checkpoint struct {
	Path       string
	Err        string // why it does not verify, if it does not
	Size       uint64
	Root       merkle.Hash
	Reproduced bool
}

// Summary returns a multi-line human-readable account of the report.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "salvaged epoch %d (origin %s) from %s\n", r.Epoch, r.Origin, r.From)
	for _, f := range r.Files {
		how := "bbolt opened it"
		if f.BoltErr != "" {
			how = "bbolt could not read it: " + f.BoltErr
		}
		fmt.Fprintf(&b, "  %s: %s; events found through bbolt %d, in leaf pages %d, by carving %d\n", f.Path, how, f.Bolt, f.Pages, f.Carved)
	}
	fmt.Fprintf(&b, "events recovered: %d; contiguous from 0: %d (root %s)\n", r.Recovered, r.Prefix, r.Root)
	if len(r.Gaps) > 0 {
		var gs []string
		for i, g := range r.Gaps {
			if i == 20 {
				gs = append(gs, fmt.Sprintf("and %d more", len(r.Gaps)-20))
				break
			}
			gs = append(gs, g.String())
		}
		fmt.Fprintf(&b, "missing events: %s\n", strings.Join(gs, ", "))
	}
	if len(r.Pruned) > 0 {
		var ps []string
		for _, p := range r.Pruned {
			ps = append(ps, p.String())
		}
		fmt.Fprintf(&b, "pruned by retention before the damage (payloads removed, hashes kept; not missing): %s\n", strings.Join(ps, ", "))
	}
	if r.Unprovable > 0 {
		fmt.Fprintf(&b, "events after the first gap, readable and signed but not provable: %d\n", r.Unprovable)
	}
	if len(r.Conflicts) > 0 {
		fmt.Fprintf(&b, "WARNING: two different signed events for %d sequence numbers (first %d): the device key signed two histories\n", len(r.Conflicts), r.Conflicts[0])
	}
	if len(r.Contradicted) > 0 {
		fmt.Fprintf(&b, "WARNING: signed checkpoints at sizes %v are not reproduced by the recovered events\n", r.Contradicted)
	}
	if r.Rejected > 0 {
		fmt.Fprintf(&b, "rejected candidate events: %d (%s)\n", r.Rejected, strings.Join(r.RejectReasons, "; "))
	}
	switch c := r.Checkpoint; {
	case c == nil:
		b.WriteString("the epoch has no checkpoint file\n")
	case c.Err != "":
		fmt.Fprintf(&b, "checkpoint file %s does not verify: %s\n", c.Path, c.Err)
	case c.Reproduced:
		fmt.Fprintf(&b, "checkpoint file (size %d) reproduced: events 0-%d are provable against it\n", c.Size, c.Size-1)
	default:
		fmt.Fprintf(&b, "checkpoint file (size %d) NOT reproduced by the %d contiguous events\n", c.Size, r.Prefix)
	}
	if r.ProvenSize > 0 {
		fmt.Fprintf(&b, "largest signed checkpoint reproduced: size %d (of %d verified checkpoints found)\n", r.ProvenSize, r.Checkpoints)
	}
	if r.Out != "" {
		fmt.Fprintf(&b, "written to %s (read-only log; waybill log show/prove --data %s)\n", r.Out, r.Out)
	}
	return b.String()
}

// Source returns the directory holding the files of epoch in the log
// dir: where the manifest says the epoch was moved, else the newest
// dir/damaged/epoch-N-*, else dir/epoch-N.
func Source(dir string, epoch uint32) (string, error) {
	if m, err := eventlog.ReadManifest(dir); err == nil {
		for _, e := range m.Epochs {
			if e.Epoch == epoch && e.MovedTo != "" {
				p := filepath.Join(dir, e.MovedTo)
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
			}
		}
	}
	ds, _ := filepath.Glob(filepath.Join(dir, "damaged", eventlog.EpochDir(epoch)+"-*"))
	if len(ds) > 0 {
		sort.Strings(ds)
		return ds[len(ds)-1], nil
	}
	p := filepath.Join(dir, eventlog.EpochDir(epoch))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("eventlog: salvage: no files of epoch %d in %s", epoch, dir)
	}
	return p, nil
}

var epochNameRE = regexp.MustCompile(`^epoch-([0-9]{1,10})(-.*)?$`)

// Recover recovers what is still readable and provable of one damaged
// epoch: from is the epoch's directory (for example DIR/damaged/epoch-3-<time>)
// or a single segment file of it.
//
// Every segment file is read three ways, so that a file bbolt refuses to
// open still yields its events: through bbolt, read-only; by scanning the
// file's bbolt leaf pages directly; and by carving the bytes for event
// JSON. A value is kept when it parses as a canonical event of this log's
// device and epoch, carries the sequence number it is stored under, and
// its signature verifies. The checkpoint file and the checkpoints stored in
// the segments are verified too.
//
// The events 0..n-1 recovered without a gap are written, verified again,
// with their recomputed Merkle tree and every signed checkpoint whose root
// they reproduce, as a new read-only log in out (default
// LogDir/salvaged/epoch-N) with the same identity, epoch and origin, so
// that its events are provable against checkpoints the device signed before
// the damage. out must not exist. Recover then checks it (logcheck.Check).
//
// The report is returned with every error that happens after scanning.
func Recover(ctx context.Context, from string, out string, opts Options) (*Report, error) {
	start := time.Now()
	rep := &Report{From: from}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	fi, err := os.Stat(from)
	if err != nil {
		return rep, fmt.Errorf("eventlog: salvage: %w", err)
	}
	epochDirPath := from
	var files []string
	if fi.IsDir() {
		files, _ = filepath.Glob(filepath.Join(from, "seg-*.db"))
		sort.Strings(files)
		if len(files) == 0 {
			return rep, fmt.Errorf("eventlog: salvage: no segment files (seg-*.db) in %s", from)
		}
	} else {
		files = []string{from}
		epochDirPath = filepath.Dir(from)
	}

	// Identity and epoch.
	logDir := opts.LogDir
	if logDir == "" && opts.Identity == nil || logDir == "" && out == "" {
		for d := filepath.Dir(epochDirPath); ; d = filepath.Dir(d) {
			if ok, _ := eventlog.Exists(d); ok {
				logDir = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	var srcMan *eventlog.Manifest
	manErr := fmt.Errorf("no log directory above %s", from)
	if logDir != "" {
		srcMan, manErr = eventlog.ReadManifest(logDir)
	}
	var id eventlog.Identity
	switch {
	case opts.Identity != nil:
		id = *opts.Identity
	case srcMan != nil:
		if id, err = srcMan.Identity(); err != nil {
			return rep, fmt.Errorf("eventlog: salvage: %w", err)
		}
	default:
		// Without a manifest, the segments give the identity.
		if id, err = eventlog.RecoverIdentityOf(logDir, epochDirPath, files, opts.ChainID); err != nil {
			return rep, fmt.Errorf("eventlog: salvage: the log's identity: %v; from the segments: %w", manErr, err)
		}
	}
	if err := id.Validate(); err != nil {
		return rep, err
	}
	s := &salvager{ctx: ctx, opts: opts, rep: rep, id: id, dom: id.Domain(),
		seen: map[[16]byte]bool{}, notes: map[string]checkpoint.Checkpoint{}}
	if opts.Epoch != nil {
		s.epoch, s.epochKnown = *opts.Epoch, true
	} else if m := epochNameRE.FindStringSubmatch(filepath.Base(epochDirPath)); m != nil {
		e, _ := strconv.ParseUint(m[1], 10, 32)
		s.epoch, s.epochKnown = uint32(e), true
	}
	if out == "" {
		if logDir == "" || !s.epochKnown {
			return rep, fmt.Errorf("eventlog: salvage: name the output directory")
		}
		out = filepath.Join(logDir, "salvaged", eventlog.EpochDir(s.epoch))
	}
	if _, err := os.Stat(out); err == nil {
		return rep, fmt.Errorf("eventlog: salvage: %s already exists; name another output directory", out)
	}
	partial := out + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return rep, fmt.Errorf("eventlog: salvage: %w", err)
	}
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return rep, fmt.Errorf("eventlog: salvage: %w", err)
	}
	defer os.RemoveAll(partial)
	spill, err := os.Create(filepath.Join(partial, "leaves.spill"))
	if err != nil {
		return rep, fmt.Errorf("eventlog: salvage: %w", err)
	}
	s.store = &leafStore{f: spill, idx: map[uint64]spillRef{}}
	defer spill.Close()

	// Scan.
	for _, f := range files {
		if err := s.scanFile(f); err != nil {
			return rep, err
		}
	}
	if !s.epochKnown {
		return rep, fmt.Errorf("eventlog: salvage: found no valid event of device %s in %s", id.Device, from)
	}
	rep.Epoch = s.epoch
	rep.Origin = id.Origin(s.epoch)
	for _, n := range s.earlyNotes {
		s.offerNote(n[0], n[1])
	}
	s.readCheckpointFile(filepath.Join(epochDirPath, "checkpoint"))
	rep.Checkpoints = len(s.notes)

	// Rebuild.
	seqs := make([]uint64, 0, len(s.store.idx))
	for q := range s.store.idx {
		seqs = append(seqs, q)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	rep.Recovered = uint64(len(seqs))
	var next uint64
	for _, q := range seqs {
		if q > next {
			rep.Gaps = append(rep.Gaps, Range{next, q - 1})
		}
		next = q + 1
	}
	// Events past the last one recovered are missing too when a verified
	// checkpoint says the device signed them.
	var signed uint64
	for _, c := range s.notes {
		signed = max(signed, c.Size)
	}
	if signed > next {
		rep.Gaps = append(rep.Gaps, Range{next, signed - 1})
	}
	sort.Slice(s.pruned, func(i, j int) bool { return s.pruned[i].First < s.pruned[j].First })
	rep.Pruned = s.pruned
	rep.Gaps = withoutRanges(rep.Gaps, s.pruned)
	prefix := uint64(0)
	for prefix < uint64(len(seqs)) && seqs[prefix] == prefix {
		prefix++
	}
	sort.Slice(rep.Conflicts, func(i, j int) bool { return rep.Conflicts[i] < rep.Conflicts[j] })
	if len(rep.Conflicts) > 0 && rep.Conflicts[0] < prefix {
		prefix = rep.Conflicts[0]
	}
	rep.Prefix = prefix
	rep.Unprovable = rep.Recovered - prefix
	f, _ := merkle.NewFrontier(0, nil)
	roots := map[uint64]merkle.Hash{0: merkle.EmptyRoot()}
	for _, c := range s.notes {
		if c.Size <= prefix {
			roots[c.Size] = merkle.Hash{}
		}
	}
	for q := uint64(0); q < prefix; q++ {
		if q%4096 == 0 && ctx.Err() != nil {
			return rep, ctx.Err()
		}
		leaf, err := s.store.get(q)
		if err != nil {
			return rep, err
		}
		f.Append(merkle.LeafHash(leaf))
		if _, ok := roots[f.Size()]; ok {
			roots[f.Size()] = f.Root()
		}
	}
	rep.Root = f.Root()
	keep := map[uint64][]byte{}
	for note, c := range s.notes {
		switch {
		case c.Size > prefix:
		case roots[c.Size] == c.Root:
			keep[c.Size] = []byte(note)
			rep.ProvenSize = max(rep.ProvenSize, c.Size)
		default:
			rep.Contradicted = append(rep.Contradicted, c.Size)
		}
	}
	sort.Slice(rep.Contradicted, func(i, j int) bool { return rep.Contradicted[i] < rep.Contradicted[j] })
	if c := rep.Checkpoint; c != nil && c.Err == "" && c.Size <= prefix && roots[c.Size] == c.Root {
		c.Reproduced = true
		rep.CheckpointReproduced = true
	}
	if len(rep.Conflicts) > 0 || len(rep.Contradicted) > 0 {
		opts.Logger.Error("SALVAGE FOUND TWO HISTORIES: the device key signed different events for the same sequence numbers",
			"from", from, "conflicting_seqs", len(rep.Conflicts), "contradicted_checkpoints", rep.Contradicted)
	}

	// Write the output log.
	var latest []byte
	if rep.ProvenSize > 0 || keep[0] != nil {
		latest = keep[rep.ProvenSize]
	}
	info := eventlog.EpochInfo{Epoch: s.epoch, Origin: rep.Origin, Started: opts.Now().UTC().Format(time.RFC3339)}
	if srcMan != nil {
		for _, e := range srcMan.Epochs {
			if e.Epoch == s.epoch {
				info = e
			}
		}
	}
	info.Ended = opts.Now().UTC().Format(time.RFC3339)
	info.Reason = fmt.Sprintf("salvaged: %d of %d recovered events provable", prefix, rep.Recovered)
	info.MovedTo = ""
	info.Size = prefix
	salvaged := fmt.Sprintf("epoch %d in %s, on %s", s.epoch, from, info.Ended)
	err = eventlog.WriteSalvaged(ctx, partial, eventlog.Salvaged{Identity: id, Epoch: s.epoch, Info: info, From: salvaged,
		Size: prefix, Leaf: s.store.get, Notes: keep, Latest: latest, SegmentBytes: opts.SegmentBytes, Workers: opts.Workers})
	if err != nil {
		return rep, fmt.Errorf("eventlog: salvage: write %s: %w", out, err)
	}
	if rep.Unprovable > 0 {
		if err := s.writeUnprovable(filepath.Join(partial, eventlog.EpochDir(s.epoch), "unprovable.jsonl"), seqs[prefix:]); err != nil {
			return rep, err
		}
	}
	spill.Close()
	os.Remove(spill.Name())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return rep, fmt.Errorf("eventlog: salvage: %w", err)
	}
	if err := os.Rename(partial, out); err != nil {
		return rep, fmt.Errorf("eventlog: salvage: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(out)); err != nil {
		return rep, err
	}
	rep.Out = out
	crep, err := logcheck.Check(ctx, out, logcheck.Options{Workers: opts.Workers})
	if err != nil {
		return rep, fmt.Errorf("eventlog: salvage: the output log fails its check: %w", err)
	}
	if crep.Events != prefix {
		return rep, fmt.Errorf("eventlog: salvage: the output log holds %d events, want %d", crep.Events, prefix)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

type salvager struct {
	ctx        context.Context
	opts       Options
	rep        *Report
	id         eventlog.Identity
	dom        signer.Domain
	epoch      uint32
	epochKnown bool
	store      *leafStore
	// seen holds the leading half of the SHA-256 of every leaf value already
	// judged, so that the many copies bbolt leaves behind are verified once.
	seen map[[16]byte]bool
	// conflicting holds the second versions of conflicting events.
	conflicting [][]byte
	// notes are the verified checkpoint notes of this epoch, by note text.
	notes    map[string]checkpoint.Checkpoint
	noteSeen map[string]bool
	// earlyNotes are notes found before the epoch was known.
	earlyNotes [][2][]byte
	pending    []candidate
	counter    *uint64 // the current file's counter for the current method
	pruned     []Range
}

// candidate is a value that may be a leaf: seq is its bbolt key when it
// came from a leaves bucket or leaf page, and hasSeq is false when carved.
type candidate struct {
	seq     uint64
	hasSeq  bool
	leaf    []byte
	sum     [16]byte
	counter *uint64
	// results of verification
	s   *event.Signed
	err error
	bad bool // err is about the leaf's form (did not parse)
}

const salvageBatch = 2048

// offer queues a key/value pair found in a segment.
func (s *salvager) offer(key, val []byte, carved bool) {
	if len(val) == 0 {
		return
	}
	if val[0] != '{' {
		if len(key) == 8 && bytes.Contains(val, []byte("\n\n\u2014 ")) {
			s.offerNote(key, val)
		}
		return
	}
	if !carved && len(key) != 8 {
		return
	}
	sum := sha256.Sum256(val)
	var h [16]byte
	copy(h[:], sum[:16])
	if s.seen[h] {
		return
	}
	s.seen[h] = true
	c := candidate{leaf: append([]byte(nil), val...), sum: h, counter: s.counter}
	if !carved {
		c.seq, c.hasSeq = binary.BigEndian.Uint64(key), true
	}
	s.pending = append(s.pending, c)
	if len(s.pending) >= salvageBatch {
		s.flush()
	}
}

// flush verifies the queued candidates in parallel and files them in order.
func (s *salvager) flush() {
	p := s.pending
	s.pending = nil
	parallelFor(len(p), s.opts.Workers, func(i int) {
		c := &p[i]
		sg, err := event.Parse(c.leaf)
		if err != nil {
			c.err, c.bad = err, true
			return
		}
		c.s = sg
		if sg.Device != s.id.Device {
			c.err = fmt.Errorf("event %d is of device %s", sg.Seq, sg.Device)
			return
		}
		c.err = signer.VerifyEvent(s.dom, sg)
	})
	rep := s.rep
	reject := func(err error) {
		rep.Rejected++
		if len(rep.RejectReasons) < 5 {
			rep.RejectReasons = append(rep.RejectReasons, err.Error())
		}
	}
	for i := range p {
		c := &p[i]
		if c.bad {
			rep.Unparsable++
			continue
		}
		if c.err != nil {
			reject(c.err)
			continue
		}
		if c.hasSeq && c.s.Seq != c.seq {
			// Not a property of the leaf: another copy may be filed right.
			delete(s.seen, c.sum)
			reject(fmt.Errorf("event %d stored under key %d", c.s.Seq, c.seq))
			continue
		}
		if !s.epochKnown {
			s.epoch, s.epochKnown = c.s.Epoch, true
		}
		if c.s.Epoch != s.epoch {
			reject(fmt.Errorf("event %d is of epoch %d, not %d", c.s.Seq, c.s.Epoch, s.epoch))
			continue
		}
		if old, ok := s.store.idx[c.s.Seq]; ok {
			if old.sum != c.sum {
				s.rep.Conflicts = append(s.rep.Conflicts, c.s.Seq)
				s.conflicting = append(s.conflicting, c.leaf)
				s.opts.Logger.Error("two different signed events with the same sequence number", "seq", c.s.Seq)
			}
			continue
		}
		if err := s.store.put(c.s.Seq, c.leaf, c.sum); err != nil {
			reject(err)
			continue
		}
		*c.counter++
	}
}

func (s *salvager) offerNote(key, note []byte) {
	if !s.epochKnown {
		s.earlyNotes = append(s.earlyNotes, [2][]byte{append([]byte(nil), key...), append([]byte(nil), note...)})
		return
	}
	if s.noteSeen == nil {
		s.noteSeen = map[string]bool{}
	}
	if s.noteSeen[string(note)] {
		return
	}
	s.noteSeen[string(note)] = true
	c, err := s.openNote(note)
	if err != nil || len(key) == 8 && binary.BigEndian.Uint64(key) != c.Size {
		return
	}
	s.notes[string(note)] = c
}

func (s *salvager) openNote(note []byte) (checkpoint.Checkpoint, error) {
	v := signer.NoteVerifier(s.id.KeyName(), s.id.Device, s.dom)
	c, _, err := checkpoint.OpenCheckpoint(note, v)
	if err != nil {
		return c, err
	}
	if !s.epochKnown {
		return c, errors.New("the epoch is not known")
	}
	if c.Origin != s.id.Origin(s.epoch) {
		return c, fmt.Errorf("checkpoint is for origin %q, not %q", c.Origin, s.id.Origin(s.epoch))
	}
	return c, nil
}

func (s *salvager) readCheckpointFile(path string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	sc := &Checkpoint{Path: path}
	s.rep.Checkpoint = sc
	if err != nil {
		sc.Err = err.Error()
		return
	}
	c, err := s.openNote(b)
	if err != nil {
		sc.Err = err.Error()
		return
	}
	sc.Size, sc.Root = c.Size, c.Root
	s.notes[string(b)] = c
}

// scanFile reads one segment file through bbolt, then its leaf pages, then
// its raw bytes.
func (s *salvager) scanFile(path string) error {
	sf := File{Path: path}
	s.counter = &sf.Bolt
	if err := s.scanBolt(path); err != nil {
		sf.BoltErr = err.Error()
	}
	s.flush()
	if err := s.ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("eventlog: salvage: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("eventlog: salvage: %w", err)
	}
	pr := boltpage.NewReader(f, st.Size())
	sf.PageSize, sf.PageSizeKnown = pr.PageSize()
	s.counter = &sf.Pages
	if err := pr.Scan(s.ctx, func(k, v []byte) { s.offer(k, v, false) }); err != nil {
		return fmt.Errorf("eventlog: salvage: read %s: %w", path, err)
	}
	s.flush()
	s.counter = &sf.Carved
	pat := []byte(`{"device":"` + s.id.Device.String() + `"`)
	if err := carve(s.ctx, f, st.Size(), pat, func(v []byte) { s.offer(nil, v, true) }); err != nil {
		return fmt.Errorf("eventlog: salvage: read %s: %w", path, err)
	}
	s.flush()
	s.rep.Files = append(s.rep.Files, sf)
	return s.ctx.Err()
}

// scanBolt offers the leaves and checkpoints of a segment through bbolt.
// Its pages are checked first (eventlog.CheckSegmentPages): a file that
// fails is left to the page scan and the carving.
func (s *salvager) scanBolt(path string) (err error) {
	if err := eventlog.CheckSegmentPages(path, path, false); err != nil {
		var d *eventlog.DamageError
		if errors.As(err, &d) {
			return d.Err
		}
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v", r)
		}
	}()
	sf, err := eventlog.OpenSegmentFile(path, time.Second)
	if err != nil {
		return err
	}
	defer sf.Close()
	var errs []string
	if !s.epochKnown {
		// The origin ends in /<epoch>.
		o := sf.Origin()
		if i := strings.LastIndexByte(o, '/'); i >= 0 && strings.HasPrefix(o, s.id.KeyName()+"/") {
			if e, err := strconv.ParseUint(o[i+1:], 10, 32); err == nil {
				s.epoch, s.epochKnown = uint32(e), true
			}
		}
	}
	if m, err := sf.Meta(); err == nil && m.Pruned && m.Size > m.First {
		s.pruned = append(s.pruned, Range{m.First, m.Size - 1})
	}
	if c := sf.Leaves(); c != nil {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			s.offer(k, v, false)
		}
	} else {
		errs = append(errs, "no leaves bucket")
	}
	s.flush()
	if c := sf.Checkpoints(); c != nil {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) == 8 {
				s.offerNote(k, v)
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (s *salvager) writeUnprovable(path string, seqs []uint64) error {
	var b bytes.Buffer
	for _, q := range seqs {
		leaf, err := s.store.get(q)
		if err != nil {
			return err
		}
		b.Write(leaf)
		b.WriteByte('\n')
	}
	for _, leaf := range s.conflicting {
		b.Write(leaf)
		b.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o444)
}

// leafStore keeps the recovered leaves in a spill file, so that salvaging a
// large epoch does not need its events in memory.
type leafStore struct {
	f   *os.File
	off int64
	idx map[uint64]spillRef
}

type spillRef struct {
	off int64
	n   uint32
	sum [16]byte
}

func (ls *leafStore) put(seq uint64, leaf []byte, sum [16]byte) error {
	if _, err := ls.f.WriteAt(leaf, ls.off); err != nil {
		return fmt.Errorf("eventlog: salvage: spill: %w", err)
	}
	ls.idx[seq] = spillRef{off: ls.off, n: uint32(len(leaf)), sum: sum}
	ls.off += int64(len(leaf))
	return nil
}

func (ls *leafStore) get(seq uint64) ([]byte, error) {
	r, ok := ls.idx[seq]
	if !ok {
		return nil, fmt.Errorf("eventlog: salvage: event %d was not recovered", seq)
	}
	b := make([]byte, r.n)
	if _, err := ls.f.ReadAt(b, r.off); err != nil {
		return nil, fmt.Errorf("eventlog: salvage: spill: %w", err)
	}
	return b, nil
}

// parallelFor calls fn(i) for i in [0, n) on up to workers goroutines.
func parallelFor(n, workers int, fn func(i int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	const step = 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += step
				mu.Unlock()
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+step, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}

const (
	// carveBlock is how much of a file carve reads at a time; each read
	// reaches carveOverlap further, so that an event starting near the end
	// of a block is read whole.
	carveBlock   = 4 << 20
	carveOverlap = 256 << 10
)

// carve finds every occurrence of pat (the start of this device's event
// JSON) in the file held by r, of size bytes, and offers the JSON value
// that starts there.
func carve(ctx context.Context, r io.ReaderAt, size int64, pat []byte, emit func(v []byte)) error {
	buf := make([]byte, carveBlock+carveOverlap)
	for off := int64(0); off < size; off += carveBlock {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := min(int64(len(buf)), size-off)
		nr, err := r.ReadAt(buf[:want], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b := buf[:nr]
		n := int(min(int64(carveBlock), int64(nr)))
		for i := 0; i < n; {
			j := bytes.Index(b[i:], pat)
			if j < 0 || i+j >= n {
				break
			}
			at := i + j
			win := b[at:min(len(b), at+event.MaxLeaf+1)]
			var raw json.RawMessage
			if err := json.NewDecoder(bytes.NewReader(win)).Decode(&raw); err == nil {
				emit(raw)
			}
			i = at + len(pat)
		}
	}
	return nil
}

// withoutRanges returns the parts of the sorted, disjoint ranges rs that
// lie outside every range of the sorted ranges cut.
func withoutRanges(rs, cut []Range) []Range {
	var out []Range
	for _, r := range rs {
		first := r.First
		for _, c := range cut {
			if c.Last < first || c.First > r.Last {
				continue
			}
			if c.First > first {
				out = append(out, Range{first, c.First - 1})
			}
			if c.Last >= r.Last {
				first = r.Last + 1
				break
			}
			first = c.Last + 1
		}
		if first <= r.Last {
			out = append(out, Range{first, r.Last})
		}
	}
	return out
}
