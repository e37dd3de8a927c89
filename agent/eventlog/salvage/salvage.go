package eventlog

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

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// SalvageOptions configures Salvage. The zero value is usable when from lies
// inside a log directory (DIR/damaged/epoch-N-<time> or DIR/epoch-N).
type SalvageOptions struct {
	// LogDir is the log directory whose manifest gives the identity, and
	// under which the default output goes. Default: the nearest parent of
	// from that holds a manifest.json.
	LogDir string
	// Identity is the log's identity; default from LogDir's manifest, or
	// without one from the segments.
	Identity *Identity
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

// SalvageReport says what Salvage recovered.
type SalvageReport struct {
	From   string
	Out    string // the output log directory ("" if none was written)
	Epoch  uint32
	Origin string
	Files  []SalvageFile
	// Recovered is the number of distinct validly signed events found.
	Recovered uint64
	// Prefix is the number of events 0..Prefix-1 recovered without a gap:
	// the size of the output log.
	Prefix uint64
	// Root is the Merkle root of the recovered prefix.
	Root merkle.Hash
	// Gaps are the missing sequence numbers below the highest recovered one
	// or the largest size a verified checkpoint signed, whichever is larger.
	Gaps []SeqRange
	// Pruned are the events whose payloads retention removed before the
	// damage (their segment is seg-K.pruned.db): not missing, and not in
	// Gaps. Their hashes are in the pruned segment; their bytes are with
	// whoever received the feed.
	Pruned []SeqRange
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
	Checkpoint *SalvagedCheckpoint
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

// SeqRange is the inclusive range of sequence numbers First..Last.
type SeqRange struct{ First, Last uint64 }

func (r SeqRange) String() string {
	if r.First == r.Last {
		return strconv.FormatUint(r.First, 10)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// SalvageFile is what Salvage read from one segment file.
type SalvageFile struct {
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

// SalvagedCheckpoint is the damaged epoch's checkpoint file.
type SalvagedCheckpoint struct {
	Path       string
	Err        string // why it does not verify, if it does not
	Size       uint64
	Root       merkle.Hash
	Reproduced bool
}

// Summary returns a multi-line human-readable account of the report.
func (r *SalvageReport) Summary() string {
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

// SalvageSource returns the directory holding the files of epoch in the log
// dir: where the manifest says the epoch was moved, else the newest
// dir/damaged/epoch-N-*, else dir/epoch-N.
func SalvageSource(dir string, epoch uint32) (string, error) {
	if m, err := readManifest(dir); err == nil {
		for _, e := range m.Epochs {
			if e.Epoch == epoch && e.MovedTo != "" {
				p := filepath.Join(dir, e.MovedTo)
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
			}
		}
	}
	ds, _ := filepath.Glob(filepath.Join(dir, "damaged", epochDir(epoch)+"-*"))
	if len(ds) > 0 {
		sort.Strings(ds)
		return ds[len(ds)-1], nil
	}
	p := filepath.Join(dir, epochDir(epoch))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("eventlog: salvage: no files of epoch %d in %s", epoch, dir)
	}
	return p, nil
}

var epochNameRE = regexp.MustCompile(`^epoch-([0-9]{1,10})(-.*)?$`)

// Salvage recovers what is still readable and provable of one damaged
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
// the damage. out must not exist. Salvage then runs Check on it.
//
// The report is returned with every error that happens after scanning.
func Salvage(ctx context.Context, from string, out string, opts SalvageOptions) (*SalvageReport, error) {
	start := time.Now()
	rep := &SalvageReport{From: from}
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
			if ok, _ := Exists(d); ok {
				logDir = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	var srcMan *manifest
	manErr := fmt.Errorf("no log directory above %s", from)
	if logDir != "" {
		srcMan, manErr = readManifest(logDir)
	}
	var id Identity
	switch {
	case opts.Identity != nil:
		id = *opts.Identity
	case srcMan != nil:
		if id, err = srcMan.identity(); err != nil {
			return rep, fmt.Errorf("eventlog: salvage: %w", err)
		}
	default:
		// Without a manifest, the segments give the identity.
		if id, err = salvageIdentity(logDir, epochDirPath, files, opts.ChainID); err != nil {
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
		out = filepath.Join(logDir, "salvaged", epochDir(s.epoch))
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
			rep.Gaps = append(rep.Gaps, SeqRange{next, q - 1})
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
		rep.Gaps = append(rep.Gaps, SeqRange{next, signed - 1})
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
	info := EpochInfo{Epoch: s.epoch, Origin: rep.Origin, Started: opts.Now().UTC().Format(time.RFC3339)}
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
	if err := buildLog(ctx, partial, id, s.epoch, info, salvaged, prefix, s.store.get, keep, latest, opts.SegmentBytes, opts.Workers); err != nil {
		return rep, fmt.Errorf("eventlog: salvage: write %s: %w", out, err)
	}
	if rep.Unprovable > 0 {
		if err := s.writeUnprovable(filepath.Join(partial, epochDir(s.epoch), "unprovable.jsonl"), seqs[prefix:]); err != nil {
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
	crep, err := Check(ctx, out, CheckOptions{Workers: opts.Workers})
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
	opts       SalvageOptions
	rep        *SalvageReport
	id         Identity
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
	pruned     []SeqRange
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
	sc := &SalvagedCheckpoint{Path: path}
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
	sf := SalvageFile{Path: path}
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
	pr := newPageReader(f, st.Size())
	sf.PageSize, sf.PageSizeKnown = pr.pageSize, pr.known
	s.counter = &sf.Pages
	if err := pr.scanPages(s.ctx, func(k, v []byte) { s.offer(k, v, false) }); err != nil {
		return fmt.Errorf("eventlog: salvage: read %s: %w", path, err)
	}
	s.flush()
	s.counter = &sf.Carved
	pat := []byte(`{"device":"` + s.id.Device.String() + `"`)
	if err := pr.carve(s.ctx, pat, func(v []byte) { s.offer(nil, v, true) }); err != nil {
		return fmt.Errorf("eventlog: salvage: read %s: %w", path, err)
	}
	s.flush()
	s.rep.Files = append(s.rep.Files, sf)
	return s.ctx.Err()
}

// scanBolt offers the leaves and checkpoints of a segment through bbolt.
// Its pages are checked first (checkSegmentPages): a file that fails is
// left to the page scan and the carving.
func (s *salvager) scanBolt(path string) (err error) {
	if err := checkSegmentPages(path, path, false); err != nil {
		var d *DamageError
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
	db, err := bolt.Open(path, 0o444, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var errs []string
		if b := tx.Bucket(bMeta); b != nil && !s.epochKnown {
			// The origin ends in /<epoch>.
			o := string(b.Get(kOrigin))
			if i := strings.LastIndexByte(o, '/'); i >= 0 && strings.HasPrefix(o, s.id.KeyName()+"/") {
				if e, err := strconv.ParseUint(o[i+1:], 10, 32); err == nil {
					s.epoch, s.epochKnown = uint32(e), true
				}
			}
		}
		if m, err := readSegMeta(tx); err == nil && m.pruned && m.size > m.first {
			s.pruned = append(s.pruned, SeqRange{m.first, m.size - 1})
		}
		if b := tx.Bucket(bLeaves); b != nil {
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				s.offer(k, v, false)
			}
		} else {
			errs = append(errs, "no leaves bucket")
		}
		s.flush()
		if b := tx.Bucket(bCheckpoints); b != nil {
			c := b.Cursor()
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
	})
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

// Raw bbolt page scanning. The layout, from go.etcd.io/bbolt v1.5.0
// internal/common (page.go, meta.go, bucket.go), in the machine's byte
// order (little-endian on every platform Waybill runs on):
//
//	page header, 16 bytes: id uint64, flags uint16, count uint16, overflow uint32
//	flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
//	meta (after the header): magic uint32 0xED0CDAED, version uint32, pageSize uint32, ...
//	leaf element, 16 bytes: flags uint32, pos uint32, ksize uint32, vsize uint32;
//	  the key starts pos bytes after the element's own address, the value follows it
//	element flag 0x01: the value is a bucket header {root uint64, sequence uint64};
//	  root 0 means the bucket's page follows inline in the value
//
// A page with overflow n occupies n+1 contiguous pages.
const (
	rawPageHeader = 16
	rawElemSize   = 16
	rawLeafFlag   = 0x02
	rawBucketFlag = 0x01
	rawMagic      = 0xED0CDAED
	// rawMaxExtent caps how far one page (with its overflow) is read.
	rawMaxExtent = 256 << 10
	rawBlock     = 4 << 20
)

type pageReader struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	known    bool
	order    binary.ByteOrder
}

func newPageReader(r io.ReaderAt, size int64) *pageReader {
	pr := &pageReader{r: r, size: size, pageSize: 4096, order: binary.LittleEndian}
	hdr := make([]byte, min(size, 64<<10+64))
	n, _ := r.ReadAt(hdr, 0)
	hdr = hdr[:n]
	valid := func(ps uint32) bool { return ps >= 512 && ps <= 64<<10 && ps&(ps-1) == 0 }
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		// The first meta page, then the second, which lies one page in.
		if len(hdr) >= 28 && o.Uint32(hdr[16:]) == rawMagic && valid(o.Uint32(hdr[24:])) {
			pr.pageSize, pr.known, pr.order = int(o.Uint32(hdr[24:])), true, o
			return pr
		}
		for ps := 512; ps <= 64<<10; ps *= 2 {
			if len(hdr) >= ps+28 && o.Uint32(hdr[ps+16:]) == rawMagic && int(o.Uint32(hdr[ps+24:])) == ps {
				pr.pageSize, pr.known, pr.order = ps, true, o
				return pr
			}
		}
	}
	if ps := os.Getpagesize(); valid(uint32(ps)) {
		pr.pageSize = ps
	}
	return pr
}

// blocks calls fn for consecutive blocks of the file: buf holds the bytes
// from off, at least rawMaxExtent more than the block's own length n
// where the file has them.
func (pr *pageReader) blocks(ctx context.Context, fn func(off int64, n int, buf []byte)) error {
	buf := make([]byte, rawBlock+rawMaxExtent)
	for off := int64(0); off < pr.size; off += rawBlock {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := min(int64(len(buf)), pr.size-off)
		n, err := pr.r.ReadAt(buf[:want], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		fn(off, int(min(int64(rawBlock), int64(n))), buf[:n])
	}
	return nil
}

// scanPages offers every key/value pair of every leaf page in the file,
// including stale copies in freed pages and pages of inline buckets.
func (pr *pageReader) scanPages(ctx context.Context, emit func(k, v []byte)) error {
	ps := pr.pageSize
	// Without a meta page, step by the smallest page size bbolt uses here
	// but allow overflow extents of the largest.
	extentUnit := ps
	if !pr.known {
		extentUnit = 64 << 10
	}
	return pr.blocks(ctx, func(off int64, n int, buf []byte) {
		for p := 0; p < n; p += ps {
			if p+rawPageHeader > len(buf) {
				break
			}
			overflow := uint64(pr.order.Uint32(buf[p+12:]))
			ext := min((overflow+1)*uint64(extentUnit), uint64(rawMaxExtent), uint64(len(buf)-p))
			pr.leafPage(buf[p:p+int(ext)], 0, emit)
		}
	})
}

// leafPage offers the elements of page p if it is a leaf page.
func (pr *pageReader) leafPage(p []byte, depth int, emit func(k, v []byte)) {
	if len(p) < rawPageHeader || pr.order.Uint16(p[8:]) != rawLeafFlag {
		return
	}
	count := uint64(pr.order.Uint16(p[10:]))
	size := uint64(len(p))
	for i := uint64(0); i < count; i++ {
		e := rawPageHeader + i*rawElemSize
		if e+rawElemSize > size {
			return
		}
		flags := pr.order.Uint32(p[e:])
		pos, ks, vs := uint64(pr.order.Uint32(p[e+4:])), uint64(pr.order.Uint32(p[e+8:])), uint64(pr.order.Uint32(p[e+12:]))
		k0 := e + pos
		if k0+ks+vs > size {
			continue
		}
		key, val := p[k0:k0+ks], p[k0+ks:k0+ks+vs]
		if flags&rawBucketFlag != 0 {
			if depth < 2 && len(val) > 16 && pr.order.Uint64(val) == 0 {
				pr.leafPage(val[16:], depth+1, emit)
			}
			continue
		}
		emit(key, val)
	}
}

// carve finds every occurrence of pat (the start of this device's event
// JSON) in the file and offers the JSON value that starts there.
func (pr *pageReader) carve(ctx context.Context, pat []byte, emit func(v []byte)) error {
	return pr.blocks(ctx, func(off int64, n int, buf []byte) {
		for i := 0; i < n; {
			j := bytes.Index(buf[i:], pat)
			if j < 0 || i+j >= n {
				return
			}
			at := i + j
			win := buf[at:min(len(buf), at+event.MaxLeaf+1)]
			var raw json.RawMessage
			if err := json.NewDecoder(bytes.NewReader(win)).Decode(&raw); err == nil {
				emit(raw)
			}
			i = at + len(pat)
		}
	})
}

// buildLog writes a new log in dir holding the already signed events
// 0..n-1 of epoch, read through leafAt, with the stored hashes and top
// nodes recomputed, the checkpoint notes of notes (by size) in the
// checkpoints bucket of the segment that was active at that size, and
// latest as the epoch's checkpoint file. It verifies every leaf (form,
// sequence number, epoch, device, signature) and every note (signature,
// origin, root) before writing it. The manifest is marked salvaged, so
// that the log cannot be written to.
func buildLog(ctx context.Context, dir string, id Identity, epoch uint32, info EpochInfo, salvaged string,
	n uint64, leafAt func(uint64) ([]byte, error), notes map[uint64][]byte, latest []byte, segBytes int64, workers int) error {
	origin := id.Origin(epoch)
	dom := id.Domain()
	v := signer.NoteVerifier(id.KeyName(), id.Device, dom)
	for size, note := range notes {
		c, _, err := checkpoint.OpenCheckpoint(note, v)
		if err != nil {
			return fmt.Errorf("checkpoint of size %d: %w", size, err)
		}
		if c.Origin != origin || c.Size != size || size > n {
			return fmt.Errorf("checkpoint of size %d is of origin %q, size %d", size, c.Origin, c.Size)
		}
	}
	if latest != nil {
		c, _, err := checkpoint.OpenCheckpoint(latest, v)
		if err != nil || notes[c.Size] == nil || !bytes.Equal(notes[c.Size], latest) {
			return fmt.Errorf("the latest checkpoint is not among the checkpoints written (%v)", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, epochDir(epoch)), 0o755); err != nil {
		return err
	}
	m := &manifest{Version: 1, Device: id.Device.String(), Fleet: id.Fleet, ChainID: id.ChainID, Epoch: epoch,
		Epochs: []EpochInfo{info}, Salvaged: salvaged}
	f, _ := merkle.NewFrontier(0, nil)
	top := map[nodeKey]merkle.Hash{}
	var db *bolt.DB
	putNote := func(tx *bolt.Tx) error {
		note, ok := notes[f.Size()]
		if !ok {
			return nil
		}
		c, _, _ := checkpoint.OpenCheckpoint(note, v)
		if merkle.Hash(c.Root) != f.Root() {
			return fmt.Errorf("checkpoint of size %d signs root %s; the events give %s", c.Size, merkle.Hash(c.Root), f.Root())
		}
		return tx.Bucket(bCheckpoints).Put(u64(f.Size()), note)
	}
	startSeg := func() error {
		seg := segInfo{File: segFile(epoch, len(m.Segments)), First: f.Size()}
		var err error
		db, err = bolt.Open(filepath.Join(dir, seg.File), 0o644, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return err
		}
		m.Segments = append(m.Segments, seg)
		return db.Update(func(tx *bolt.Tx) error {
			if err := initSegment(tx, origin, seg.First, top); err != nil {
				return err
			}
			if err := putMetaIdentity(tx, id); err != nil {
				return err
			}
			if seg.First == 0 {
				return putNote(tx)
			}
			return nil
		})
	}
	endSeg := func() error {
		err := db.Sync()
		if e := db.Close(); err == nil {
			err = e
		}
		db = nil
		return err
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	if err := startSeg(); err != nil {
		return err
	}
	// A batch is one transaction; the segment is sealed between batches once
	// its file has reached segBytes, so a batch holds at most half of that.
	const batch = 4096
	leaves := make([][]byte, 0, batch)
	errs := make([]error, batch)
	for lo := uint64(0); lo < n; lo += uint64(len(leaves)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		leaves = leaves[:0]
		var bytes int64
		for q := lo; q < n && len(leaves) < batch && (len(leaves) == 0 || bytes < segBytes/2); q++ {
			leaf, err := leafAt(q)
			if err != nil {
				return err
			}
			leaves = append(leaves, leaf)
			bytes += int64(len(leaf)) + 32*2
		}
		k := len(leaves)
		hi := lo + uint64(k)
		parallelFor(k, workers, func(i int) { errs[i] = verifyLeaf(dom, id.Device, epoch, lo+uint64(i), leaves[i]) })
		for i := 0; i < k; i++ {
			if errs[i] != nil {
				return fmt.Errorf("event %d: %w", lo+uint64(i), errs[i])
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			lb, tb, topb := tx.Bucket(bLeaves), tx.Bucket(bTree), tx.Bucket(bTop)
			for i := 0; i < k; i++ {
				seq := lo + uint64(i)
				hs := f.Append(merkle.LeafHash(leaves[i]))
				if err := lb.Put(u64(seq), leaves[i]); err != nil {
					return err
				}
				buf := make([]byte, 0, 32*len(hs))
				for lvl, h := range hs {
					buf = append(buf, h[:]...)
					if lvl >= TopLevel {
						nk := nodeKey{uint8(lvl), seq >> lvl}
						top[nk] = h
						if err := topb.Put(topKey(nk.level, nk.index), h[:]); err != nil {
							return err
						}
					}
				}
				if err := tb.Put(u64(seq), buf); err != nil {
					return err
				}
				if err := putNote(tx); err != nil {
					return err
				}
			}
			return tx.Bucket(bMeta).Put(kSize, u64(f.Size()))
		})
		if err != nil {
			return err
		}
		if hi < n {
			if fi, err := os.Stat(db.Path()); err == nil && fi.Size() >= segBytes {
				if err := endSeg(); err != nil {
					return err
				}
				if err := startSeg(); err != nil {
					return err
				}
			}
		}
	}
	if err := endSeg(); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(filepath.Join(dir, epochDir(epoch))); err != nil {
		return err
	}
	if err := writeManifest(dir, m); err != nil {
		return err
	}
	if latest != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, epochDir(epoch), "checkpoint"), latest, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// withoutRanges returns the parts of the sorted, disjoint ranges rs that
// lie outside every range of the sorted ranges cut.
func withoutRanges(rs, cut []SeqRange) []SeqRange {
	var out []SeqRange
	for _, r := range rs {
		first := r.First
		for _, c := range cut {
			if c.Last < first || c.First > r.Last {
				continue
			}
			if c.First > first {
				out = append(out, SeqRange{first, c.First - 1})
			}
			if c.Last >= r.Last {
				first = r.Last + 1
				break
			}
			first = c.Last + 1
		}
		if first <= r.Last {
			out = append(out, SeqRange{first, r.Last})
		}
	}
	return out
}
