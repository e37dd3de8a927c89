package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
)

// A log's identity is written into every segment it creates, next to the
// origin, so that the manifest can be rebuilt from the segments alone.
// Segments written before these keys existed record only the origin (fleet,
// device and epoch); their chain ID is confirmed from their signatures.
var (
	kChainID = []byte("chain_id") // 8 bytes, big-endian
	kDevice  = []byte("device")   // 20 bytes
	kFleet   = []byte("fleet")
)

// putMetaIdentity records id in the meta bucket of a new segment.
func putMetaIdentity(tx *bolt.Tx, id Identity) error {
	m := tx.Bucket(bMeta)
	if m == nil {
		return errors.New("segment lacks its meta bucket")
	}
	if err := m.Put(kChainID, u64(id.ChainID)); err != nil {
		return err
	}
	if err := m.Put(kDevice, bytes.Clone(id.Device[:])); err != nil {
		return err
	}
	return m.Put(kFleet, []byte(id.Fleet))
}

// copyMetaIdentity copies the identity keys of src's meta bucket, if it has
// them, into dst's.
func copyMetaIdentity(src, dst *bolt.Tx) error {
	s, d := src.Bucket(bMeta), dst.Bucket(bMeta)
	if s == nil || d == nil {
		return errors.New("segment lacks its meta bucket")
	}
	for _, k := range [][]byte{kChainID, kDevice, kFleet} {
		if v := s.Get(k); v != nil {
			if err := d.Put(k, bytes.Clone(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseOrigin splits "waybill/<fleet>/<device>/<epoch>" (signer.ParseOrigin)
// and requires it in the canonical form signer.Origin writes.
func parseOrigin(origin string) (fleet string, dev event.Address, epoch uint32, err error) {
	if fleet, dev, epoch, err = signer.ParseOrigin(origin); err != nil {
		return "", dev, 0, fmt.Errorf("origin %q: %w", origin, err)
	}
	if signer.Origin(fleet, dev, epoch) != origin {
		return "", dev, 0, fmt.Errorf("origin %q is not in canonical form", origin)
	}
	return fleet, dev, epoch, nil
}

// diskSeg is a segment file found on disk and what its meta says.
type diskSeg struct {
	file    string // relative to the log directory
	k       int    // from the name seg-K
	pruned  bool   // named seg-K.pruned.db
	bytes   int64
	meta    segMeta
	chainID uint64 // recorded in the meta; 0 when the segment predates it
	note    []byte // a checkpoint note stored in the segment, if any
	leaf    []byte // an event stored in the segment, if any
	err     error  // why the meta could not be read
}

// diskEpoch is an epoch directory found on disk.
type diskEpoch struct {
	epoch      uint32
	rel        string // epoch-N, or damaged/epoch-N-<time>
	segs       []diskSeg
	checkpoint []byte // the epoch's checkpoint file, if any
}

// inventory is what a log directory holds, read without the manifest.
type inventory struct {
	dir      string
	files    []string     // the log's files and directories found, relative to dir
	live     []*diskEpoch // DIR/epoch-N, by epoch
	moved    []*diskEpoch // DIR/damaged/epoch-N-<time>
	maxEpoch uint32       // highest epoch number named anywhere
	anyEpoch bool
}

var (
	epochDirRE = regexp.MustCompile(`^epoch-(0|[1-9][0-9]{0,9})$`)
	movedDirRE = regexp.MustCompile(`^epoch-(0|[1-9][0-9]{0,9})-.+$`)
	segNameRE  = regexp.MustCompile(`^seg-([0-9]{1,9})(\.pruned)?\.db$`)
)

// ErrUnreadable is wrapped by the errors of Open and Exists when the log
// directory, or a directory inside it, cannot be read: the log may be
// there, so it is neither created nor reported missing.
var ErrUnreadable = errors.New("cannot read the log directory")

// Exists reports whether dir holds any file of a log: a manifest, an epoch
// directory, a segment, damaged/ or salvaged/. A log whose manifest was lost
// still exists. A directory that cannot be read is an error wrapping
// ErrUnreadable, never "no log".
func Exists(dir string) (bool, error) {
	inv, err := scanLog(dir, false)
	if err != nil {
		return false, err
	}
	return len(inv.files) > 0, nil
}

func unreadable(path string, err error) error {
	return fmt.Errorf("eventlog: %w %s: %w (the agent needs read, write and search permission on it and everything in it)", ErrUnreadable, path, err)
}

// scanLog lists the log's files in dir. With metas, it also reads the meta
// of every segment file (read-only, without the manifest).
func scanLog(dir string, metas bool) (*inventory, error) {
	inv := &inventory{dir: dir}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return inv, nil
	}
	if err != nil {
		return nil, unreadable(dir, err)
	}
	see := func(n uint32) {
		if !inv.anyEpoch || n > inv.maxEpoch {
			inv.maxEpoch = n
		}
		inv.anyEpoch = true
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == ManifestFile || strings.HasPrefix(name, "."+ManifestFile+".tmp-") || segNameRE.MatchString(name):
			inv.files = append(inv.files, name)
		case epochDirRE.MatchString(name) && e.IsDir():
			n, _ := strconv.ParseUint(name[len("epoch-"):], 10, 32)
			ep, err := scanEpoch(dir, name, uint32(n), metas)
			if err != nil {
				return nil, err
			}
			if len(ep.segs) == 0 && ep.checkpoint == nil && !ep.others {
				// An empty directory: Open stopped before it wrote a file.
				continue
			}
			see(uint32(n))
			inv.files = append(inv.files, name+"/")
			inv.live = append(inv.live, &ep.diskEpoch)
		case (name == "damaged" || name == "salvaged") && e.IsDir():
			subs, err := os.ReadDir(filepath.Join(dir, name))
			if err != nil {
				return nil, unreadable(filepath.Join(dir, name), err)
			}
			if len(subs) > 0 {
				inv.files = append(inv.files, name+"/")
			}
			for _, s := range subs {
				m := movedDirRE.FindStringSubmatch(s.Name())
				if m == nil {
					m = epochDirRE.FindStringSubmatch(s.Name())
				}
				if m == nil || !s.IsDir() {
					continue
				}
				n, _ := strconv.ParseUint(m[1], 10, 32)
				see(uint32(n))
				if name == "damaged" {
					ep, err := scanEpoch(dir, filepath.Join(name, s.Name()), uint32(n), metas)
					if err != nil {
						return nil, err
					}
					inv.moved = append(inv.moved, &ep.diskEpoch)
				}
			}
		}
	}
	sort.Slice(inv.live, func(i, j int) bool { return inv.live[i].epoch < inv.live[j].epoch })
	return inv, nil
}

// unfinishedCreation reports whether the log directory holds only what
// a creation of the log as id killed before it wrote the manifest leaves
// (Log.create): epoch-0 holding at most its first segment, which is empty,
// or bbolt's empty database, or the segment initialised for id with no
// event and no checkpoint, and perhaps the temporary file of the manifest
// being written. It returns those files, relative to the log directory.
// Anything else is not a creation that stopped: the manifest is then rebuilt from the
// segments, or the damage reported.
func (inv *inventory) unfinishedCreation(id Identity) ([]string, bool) {
	var left []string // a manifest being written when the start was killed
	for _, f := range inv.files {
		switch {
		case f == EpochDir(0)+"/":
		case strings.HasPrefix(f, "."+ManifestFile+".tmp-"):
			left = append(left, f)
		default:
			return nil, false
		}
	}
	if len(inv.moved) != 0 || len(inv.live) != 1 {
		return nil, false
	}
	ep := inv.live[0]
	if ep.epoch != 0 || ep.checkpoint != nil || len(ep.segs) != 1 {
		return nil, false
	}
	ents, err := os.ReadDir(filepath.Join(inv.dir, ep.rel))
	if err != nil || len(ents) != 1 {
		return nil, false
	}
	s := ep.segs[0]
	if s.k != 0 || s.pruned || s.file != segFile(0, 0) {
		return nil, false
	}
	switch {
	case s.bytes == 0:
	case s.err != nil:
		if !emptyBolt(filepath.Join(inv.dir, s.file)) {
			return nil, false
		}
	default:
		if s.meta.origin != id.Origin(0) || s.meta.first != 0 || s.meta.size != 0 || s.note != nil || s.chainID != id.ChainID {
			return nil, false
		}
	}
	return append(left, s.file), true
}

// emptyBolt reports whether path is a bbolt database with no bucket: what
// bbolt writes when it creates a file, before a transaction.
func emptyBolt(path string) (empty bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			empty = false
		}
	}()
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return false
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
	})
	return err == nil && n == 0
}

type scannedEpoch struct {
	diskEpoch
	others bool // it holds files other than segments and the checkpoint
}

func scanEpoch(dir, rel string, n uint32, metas bool) (scannedEpoch, error) {
	ep := scannedEpoch{diskEpoch: diskEpoch{epoch: n, rel: rel}}
	ents, err := os.ReadDir(filepath.Join(dir, rel))
	if err != nil {
		return ep, unreadable(filepath.Join(dir, rel), err)
	}
	for _, e := range ents {
		m := segNameRE.FindStringSubmatch(e.Name())
		switch {
		case m != nil && e.Type().IsRegular():
			k, _ := strconv.Atoi(m[1])
			s := diskSeg{file: filepath.Join(rel, e.Name()), k: k, pruned: m[2] != ""}
			if fi, err := e.Info(); err == nil {
				s.bytes = fi.Size()
			}
			if metas {
				readDiskSeg(filepath.Join(dir, s.file), &s)
			}
			ep.segs = append(ep.segs, s)
		case e.Name() == "checkpoint" && e.Type().IsRegular():
			b, err := os.ReadFile(filepath.Join(dir, rel, e.Name()))
			if err != nil {
				return ep, unreadable(filepath.Join(dir, rel, e.Name()), err)
			}
			if b == nil {
				b = []byte{}
			}
			ep.checkpoint = b
		default:
			ep.others = true
		}
	}
	sort.Slice(ep.segs, func(i, j int) bool {
		a, b := ep.segs[i], ep.segs[j]
		return a.k < b.k || a.k == b.k && !a.pruned && b.pruned
	})
	return ep, nil
}

// readDiskSeg reads a segment's meta, one stored checkpoint and one event,
// read-only. A file bbolt cannot open, or that panics or faults while being
// read, sets s.err.
func readDiskSeg(path string, s *diskSeg) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			s.err = fmt.Errorf("reading it failed: %v", p)
		}
	}()
	if s.bytes == 0 {
		s.err = errors.New("the file is empty")
		return
	}
	if err := CheckSegmentPages(path, s.file, false); err != nil {
		s.err = err
		return
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		s.err = err
		return
	}
	defer db.Close()
	s.err = db.View(func(tx *bolt.Tx) error {
		m, err := readSegMeta(tx)
		if err != nil {
			return err
		}
		s.meta = m
		if v := tx.Bucket(bMeta).Get(kChainID); len(v) == 8 {
			s.chainID = binary.BigEndian.Uint64(v)
		}
		if _, v := tx.Bucket(bCheckpoints).Cursor().Last(); v != nil {
			s.note = bytes.Clone(v)
		}
		if !m.pruned && m.size > m.first {
			if v := tx.Bucket(bLeaves).Get(u64(m.first)); v != nil {
				s.leaf = bytes.Clone(v)
			}
		}
		return nil
	})
}

func (inv *inventory) epochs() []*diskEpoch {
	return append(append([]*diskEpoch(nil), inv.live...), inv.moved...)
}

// identity establishes the log's identity from its segments. Candidates
// (the caller's configuration, a damaged manifest) supply a chain ID the
// segments do not record; a candidate is used only when the signatures on
// disk confirm it, or when nothing on disk was signed yet. It never guesses.
func (inv *inventory) identity(cands []Identity) (Identity, string, error) {
	var id Identity
	found := false
	chains := map[uint64]string{}
	for _, ep := range inv.epochs() {
		for _, s := range ep.segs {
			if s.err != nil {
				continue
			}
			fleet, dev, _, err := parseOrigin(s.meta.origin)
			if err != nil {
				return id, "", fmt.Errorf("%s: %w", s.file, err)
			}
			if found && (fleet != id.Fleet || dev != id.Device) {
				return id, "", fmt.Errorf("%s belongs to device %s in fleet %q, other segments to device %s in fleet %q: files of two logs are mixed", s.file, dev, fleet, id.Device, id.Fleet)
			}
			id.Fleet, id.Device, found = fleet, dev, true
			if s.chainID != 0 {
				chains[s.chainID] = s.file
			}
		}
	}
	if !found {
		for _, c := range cands {
			if c.Device != (event.Address{}) && c.Validate() == nil {
				return c, "no segment could be read; the identity given by the caller was used", nil
			}
		}
		return id, "", errors.New("no segment could be read to learn the log's identity (give --fleet and --chain-id, as for creating the log)")
	}
	if len(chains) > 1 {
		return id, "", fmt.Errorf("segments record different chain IDs (%v): files of two logs are mixed", chains)
	}
	for c, file := range chains {
		id.ChainID = c
		return id, "recorded in " + file, id.Validate()
	}
	var tried []string
	for _, c := range cands {
		// A candidate without a device or fleet names only a chain ID.
		if c.Device != (event.Address{}) && c.Device != id.Device || c.Fleet != "" && c.Fleet != id.Fleet || c.ChainID == 0 {
			continue
		}
		try := id
		try.ChainID = c.ChainID
		if try.Validate() != nil {
			continue
		}
		what, ok, signed := inv.confirm(try)
		if ok {
			return try, "confirmed by the signature of " + what, nil
		}
		if !signed {
			return try, "nothing in the log was signed yet; the chain ID given by the caller was used", nil
		}
		tried = append(tried, strconv.FormatUint(c.ChainID, 10))
	}
	if len(tried) > 0 {
		return id, "", fmt.Errorf("the signatures in the log's segments do not verify with chain ID %s; give the chain ID the log was created with (--chain-id)", strings.Join(tried, ", "))
	}
	return id, "", fmt.Errorf("its segments predate recording the chain ID in them; give the chain ID the log was created with (--chain-id N) so that it can be confirmed from their signatures")
}

// confirm checks id against the signed data on disk: checkpoint files,
// stored checkpoints and stored events. ok says one of them verified;
// signed says there was something signed to check.
func (inv *inventory) confirm(id Identity) (what string, ok, signed bool) {
	d := id.Domain()
	v := signer.NoteVerifier(id.KeyName(), id.Device, d)
	note := func(b []byte) bool {
		_, _, err := checkpoint.OpenCheckpoint(b, v)
		return err == nil
	}
	for _, ep := range inv.epochs() {
		if ep.checkpoint != nil {
			signed = true
			if note(ep.checkpoint) {
				return filepath.Join(ep.rel, "checkpoint"), true, true
			}
		}
		for _, s := range ep.segs {
			if s.note != nil {
				signed = true
				if note(s.note) {
					return "a checkpoint stored in " + s.file, true, true
				}
			}
			if s.leaf != nil {
				signed = true
				if e, err := event.Parse(s.leaf); err == nil && e.Device == id.Device && signer.VerifyEvent(d, e) == nil {
					return fmt.Sprintf("event %d in %s", e.Seq, s.file), true, true
				}
			}
			if s.meta.size > s.meta.first {
				signed = true
			}
		}
	}
	return "", false, signed
}

// errUnresolved is wrapped when the segments of the live epoch do not form
// one log.
var errUnresolved = errors.New("the segments of the epoch do not form one log")

// rebuild returns the manifest the files on disk describe: the highest live
// epoch and its segments, in order, with the history from prev (a damaged
// manifest that still parsed, or nil) completed from damaged/. It returns
// a nil manifest when no live epoch holds a segment. When the live epoch's
// segments do not form one log, it returns the manifest (for moving the
// epoch aside) with an error wrapping errUnresolved.
func (inv *inventory) rebuild(id Identity, prev *Manifest) (m *Manifest, live bool, err error) {
	m = &Manifest{Version: 1, Device: id.Device.String(), Fleet: id.Fleet, ChainID: id.ChainID}
	hist := map[uint32]EpochInfo{}
	if prev != nil {
		for _, e := range prev.Epochs {
			if e.Origin == id.Origin(e.Epoch) {
				hist[e.Epoch] = e
			}
		}
	}
	for _, ep := range inv.moved {
		e, ok := hist[ep.epoch]
		if !ok || e.MovedTo == "" || !inv.exists(e.MovedTo) {
			if !ok {
				e = EpochInfo{Epoch: ep.epoch, Origin: id.Origin(ep.epoch), Reason: "moved aside (found under damaged/ when the manifest was rebuilt)"}
			}
			e.MovedTo = ep.rel
			hist[ep.epoch] = e
		}
	}
	var cur *diskEpoch
	for _, ep := range inv.live {
		if len(ep.segs) > 0 {
			cur = ep
		}
	}
	if cur != nil {
		m.Epoch = cur.epoch
		if _, ok := hist[cur.epoch]; !ok {
			hist[cur.epoch] = EpochInfo{Epoch: cur.epoch, Origin: id.Origin(cur.epoch)}
		}
		e := hist[cur.epoch]
		e.Ended, e.Reason, e.MovedTo, e.Size = "", "", "", 0
		hist[cur.epoch] = e
		m.Segments, err = chainSegments(cur, id.Origin(cur.epoch))
	}
	for _, e := range hist {
		if cur == nil || e.Epoch <= cur.epoch {
			m.Epochs = append(m.Epochs, e)
		}
	}
	sort.Slice(m.Epochs, func(i, j int) bool { return m.Epochs[i].Epoch < m.Epochs[j].Epoch })
	return m, cur != nil, err
}

func (inv *inventory) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(inv.dir, rel))
	return err == nil
}

// chainSegments orders the segments of ep into the log they form: seg-0
// starts at event 0, each next one where the previous one ends. Of a
// segment found both whole and pruned, the whole file is taken.
func chainSegments(ep *diskEpoch, origin string) ([]SegmentInfo, error) {
	var segs []SegmentInfo
	var next uint64
	known := true // next is known
	for i := 0; i < len(ep.segs); i++ {
		s := ep.segs[i]
		if i > 0 && ep.segs[i-1].k == s.k {
			continue // the pruned copy of the segment just taken
		}
		if s.k != len(segs) {
			return segs, fmt.Errorf("eventlog: %w: %s: segment %d is missing", errUnresolved, ep.rel, len(segs))
		}
		if s.err != nil && i+1 < len(ep.segs) && ep.segs[i+1].k == s.k && ep.segs[i+1].err == nil {
			s = ep.segs[i+1] // the whole file is damaged, its pruned copy is not
		}
		if s.err != nil {
			// Opening the epoch reports the damage and moves it aside.
			if !known {
				return segs, fmt.Errorf("eventlog: %w: %s: where %s starts is unknown (%v)", errUnresolved, ep.rel, s.file, s.err)
			}
			segs = append(segs, SegmentInfo{File: s.file, First: next, Pruned: s.pruned})
			known = false
			continue
		}
		if s.meta.origin != origin {
			return segs, fmt.Errorf("eventlog: %w: %s is of origin %q, not %q", errUnresolved, s.file, s.meta.origin, origin)
		}
		if s.meta.pruned != s.pruned {
			return segs, fmt.Errorf("eventlog: %w: %s: its meta says pruned %v", errUnresolved, s.file, s.meta.pruned)
		}
		if known && s.meta.first != next {
			return segs, fmt.Errorf("eventlog: %w: %s starts at event %d; the segment before it ends at %d", errUnresolved, s.file, s.meta.first, next)
		}
		segs = append(segs, SegmentInfo{File: s.file, First: s.meta.first, Pruned: s.pruned})
		next, known = s.meta.size, true
	}
	return segs, nil
}

// check compares a manifest that parsed with the files on disk and returns
// what disagrees, or "" when it agrees. Damage to a segment's own content
// is not the manifest's: Open's checks report it.
func (inv *inventory) check(m *Manifest) string {
	var live *diskEpoch
	for _, ep := range inv.live {
		if ep.epoch == m.Epoch {
			live = ep
		} else if ep.epoch > m.Epoch && len(ep.segs) > 0 {
			return fmt.Sprintf("it names epoch %d, but %s holds segments", m.Epoch, ep.rel)
		}
	}
	if live == nil {
		return fmt.Sprintf("it names epoch %d, whose directory %s is missing", m.Epoch, EpochDir(m.Epoch))
	}
	origin := signer.Origin(m.Fleet, mustAddr(m.Device), m.Epoch)
	onDisk := map[string]*diskSeg{}
	for i := range live.segs {
		onDisk[live.segs[i].file] = &live.segs[i]
	}
	named := map[int]bool{}
	var next uint64
	known := true
	for i, s := range m.Segments {
		d := onDisk[filepath.Clean(s.File)]
		want := segFile(m.Epoch, i)
		if s.Pruned {
			want = strings.TrimSuffix(want, ".db") + ".pruned.db"
		}
		if filepath.Clean(s.File) != want {
			return fmt.Sprintf("segment %d is named %q, not %q", i, s.File, want)
		}
		if d == nil {
			return fmt.Sprintf("it names %s, which does not exist", s.File)
		}
		named[i] = true
		if d.err != nil {
			known = false
			continue
		}
		switch {
		case d.meta.origin != origin:
			return fmt.Sprintf("%s is of origin %q; the manifest says %q", s.File, d.meta.origin, origin)
		case d.meta.first != s.First:
			return fmt.Sprintf("%s starts at event %d; the manifest says %d", s.File, d.meta.first, s.First)
		case known && d.meta.first != next:
			return fmt.Sprintf("%s starts at event %d; the segment before it ends at %d", s.File, d.meta.first, next)
		case d.meta.pruned != s.Pruned:
			return fmt.Sprintf("%s: pruned is %v in its meta, %v in the manifest", s.File, d.meta.pruned, s.Pruned)
		case d.chainID != 0 && d.chainID != m.ChainID:
			return fmt.Sprintf("%s records chain ID %d; the manifest says %d", s.File, d.chainID, m.ChainID)
		}
		next, known = d.meta.size, true
	}
	for _, d := range live.segs {
		if named[d.k] || d.err != nil {
			continue // a copy of a named segment, or a leftover that held nothing readable
		}
		if d.meta.size > d.meta.first {
			return fmt.Sprintf("%s holds events %d to %d, which it does not name", d.file, d.meta.first, d.meta.size-1)
		}
	}
	return ""
}

func mustAddr(s string) event.Address {
	a, _ := event.ParseAddress(s)
	return a
}

// checkIdentity refuses a log that is not the one the caller asked for.
func (l *Log) checkIdentity(id Identity) error {
	if c := l.opts.Create; c != nil && *c != id {
		return fmt.Errorf("eventlog: %s belongs to device %s in fleet %q on chain %d, not device %s in fleet %q on chain %d",
			l.dir, id.Device, id.Fleet, id.ChainID, c.Device, c.Fleet, c.ChainID)
	}
	if k := l.opts.Keys; k != nil && k.Address() != id.Device {
		return fmt.Errorf("eventlog: %s is the log of device %s; the key given is device %s", l.dir, id.Device, k.Address())
	}
	return nil
}

// recoverManifest handles a manifest that is missing, cannot be parsed or
// disagrees with the files (cause). It establishes the identity from the
// segments and rebuilds the manifest from them. A writer keeps the old
// manifest's bytes under damaged/ and writes the rebuilt one; when the live
// epoch's segments do not form one log it moves the epoch aside, and when
// there is no live epoch it starts a new one (then it returns nil, nil with
// the log set up). A reader only uses the rebuilt manifest in memory.
func (l *Log) recoverManifest(raw []byte, parsed *Manifest, cause error, inv *inventory) (*Manifest, error) {
	var cands []Identity
	if c := l.opts.Create; c != nil {
		cands = append(cands, *c)
	}
	if parsed != nil {
		if id, err := parsed.Identity(); err == nil {
			cands = append(cands, id)
		}
	}
	id, how, err := inv.identity(cands)
	if err != nil {
		return nil, fmt.Errorf("%w; the log's identity cannot be recovered from its segments: %v", cause, err)
	}
	if err := l.checkIdentity(id); err != nil {
		return nil, fmt.Errorf("%w (%v)", err, cause)
	}
	m, live, uerr := inv.rebuild(id, parsed)
	if parsed != nil {
		m.Salvaged = parsed.Salvaged
	}
	if !l.writable {
		if !live || uerr != nil {
			return nil, fmt.Errorf("%w; repairing it needs the device key (start the agent, which moves what cannot be used aside): %v", cause, uerr)
		}
		l.opts.Logger.Warn("manifest missing or damaged: reading the log as its segments describe it", "dir", l.dir, "cause", cause.Error())
		return m, nil
	}
	kept := ""
	if raw != nil {
		if kept, err = keepManifest(l.dir, raw, l.opts.Now()); err != nil {
			return nil, fmt.Errorf("%w; keeping its bytes: %v", cause, err)
		}
	}
	where := "it was missing"
	if kept != "" {
		where = "its bytes were kept in " + kept
	}
	switch {
	case live && uerr == nil:
		if err := writeManifest(l.dir, m); err != nil {
			return nil, fmt.Errorf("%w; writing the rebuilt manifest: %v", cause, err)
		}
		l.damage = fmt.Sprintf("%v; the manifest was rebuilt from the %d segment(s) of epoch %d (%s; identity %s) and the log goes on",
			cause, len(m.Segments), m.Epoch, where, how)
		l.opts.Logger.Error("LOG MANIFEST REBUILT from the segments", "dir", l.dir, "epoch", m.Epoch,
			"segments", len(m.Segments), "identity", how, "old_manifest", where, "cause", cause.Error())
		return m, nil
	case live:
		// The files disagree: keep them all, start afresh.
		l.id, l.man, l.epoch, l.origin = id, m, m.Epoch, id.Origin(m.Epoch)
		return nil, l.moveAside(fmt.Errorf("%v (%s): %w", cause, where, uerr))
	default:
		next, err := nextEpoch(l.dir, m)
		if err != nil {
			return nil, err
		}
		if err := l.create(id, next, m); err != nil {
			return nil, err
		}
		l.damage = fmt.Sprintf("%v (%s); no epoch directory holds a segment, so epoch %d was started with origin %s; earlier epochs: %s",
			cause, where, next, l.origin, epochList(m))
		l.opts.Logger.Error("LOG DAMAGED: no live epoch found; started a new epoch", "dir", l.dir, "new_origin", l.origin, "cause", cause.Error())
		return nil, nil
	}
}

func epochList(m *Manifest) string {
	var s []string
	for _, e := range m.Epochs {
		if e.MovedTo != "" {
			s = append(s, fmt.Sprintf("%d in %s", e.Epoch, e.MovedTo))
		} else {
			s = append(s, strconv.FormatUint(uint64(e.Epoch), 10))
		}
	}
	if len(s) == 0 {
		return "none recorded"
	}
	return strings.Join(s, ", ")
}

// keepManifest writes the bytes of a damaged manifest to a new file under
// dir/damaged/ and returns its path relative to dir.
func keepManifest(dir string, raw []byte, now time.Time) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "damaged"), 0o755); err != nil {
		return "", err
	}
	base := "manifest-" + now.UTC().Format("20060102T150405Z")
	for i := 0; ; i++ {
		rel := filepath.Join("damaged", base+".json")
		if i > 0 {
			rel = filepath.Join("damaged", fmt.Sprintf("%s-%d.json", base, i))
		}
		f, err := os.OpenFile(filepath.Join(dir, rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(raw)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		return rel, atomicfile.SyncDir(filepath.Join(dir, "damaged"))
	}
}

// nextEpoch returns the number for a new epoch: above every epoch named in
// m and in dir (live, damaged or salvaged), so that no epoch's sequence
// numbers are ever signed twice.
func nextEpoch(dir string, m *Manifest) (uint32, error) {
	inv, err := scanLog(dir, false)
	if err != nil {
		return 0, err
	}
	n := m.Epoch
	for _, e := range m.Epochs {
		n = max(n, e.Epoch)
	}
	if inv.anyEpoch {
		n = max(n, inv.maxEpoch)
	}
	if n == ^uint32(0) {
		return 0, errors.New("eventlog: no epoch number is left")
	}
	return n + 1, nil
}

// readableDir reports a directory the process cannot list as unreadable.
func readableDir(dir string) error {
	f, err := os.Open(dir)
	if err == nil {
		_, err = f.Readdirnames(1)
		f.Close()
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		return unreadable(dir, err)
	}
	return nil
}

// segBase returns "seg-K" of a segment file name.
func segBase(name string) string {
	name = strings.TrimSuffix(name, ".tmp")
	name = strings.TrimSuffix(name, ".db")
	return strings.TrimSuffix(name, ".pruned")
}

// emptySegment reports whether the segment file at path provably holds no
// event and no checkpoint.
func (l *Log) emptySegment(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	s := diskSeg{bytes: fi.Size()}
	if strings.HasSuffix(path, ".tmp") {
		return false
	}
	readDiskSeg(path, &s)
	return s.err == nil && s.meta.size == s.meta.first && s.note == nil
}

// keepLeftover moves an unnamed segment file that may hold events to
// damaged/, where log salvage --from finds it.
func (l *Log) keepLeftover(rel string) {
	to := filepath.Join("damaged", fmt.Sprintf("leftover-%s-%s", l.opts.Now().UTC().Format("20060102T150405Z"), strings.ReplaceAll(rel, string(filepath.Separator), "-")))
	err := os.MkdirAll(filepath.Join(l.dir, "damaged"), 0o755)
	if err == nil {
		err = os.Rename(filepath.Join(l.dir, rel), filepath.Join(l.dir, to))
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Join(l.dir, "damaged"))
	}
	if err != nil {
		l.opts.Logger.Error("a segment file no manifest names could not be moved aside; it is left in place", "file", rel, "err", err)
		return
	}
	l.opts.Logger.Error("moved a segment file no manifest names, which may hold events, aside", "file", rel, "moved_to", to,
		"recover_with", "waybill log salvage --data "+l.dir+" --from "+filepath.Join(l.dir, to))
}

// RecoverIdentityOf returns the identity that the segment files, of the
// epoch whose directory is epochPath (its files moved aside, or copied out
// of a log), and the log in logDir ("" if unknown) record, without a
// manifest, as RecoverIdentity does for a whole log. chainID, if not 0, is
// confirmed against their signatures when they do not record it.
func RecoverIdentityOf(logDir, epochPath string, files []string, chainID uint64) (Identity, error) {
	inv := &inventory{}
	if logDir != "" {
		var err error
		if inv, err = scanLog(logDir, true); err != nil {
			return Identity{}, err
		}
	}
	ep := &diskEpoch{rel: epochPath}
	for _, f := range files {
		s := diskSeg{file: f}
		if fi, err := os.Stat(f); err == nil {
			s.bytes = fi.Size()
		}
		readDiskSeg(f, &s)
		ep.segs = append(ep.segs, s)
	}
	if b, err := os.ReadFile(filepath.Join(epochPath, "checkpoint")); err == nil {
		ep.checkpoint = b
	}
	inv.moved = append(inv.moved, ep)
	var cands []Identity
	if chainID != 0 {
		cands = append(cands, Identity{ChainID: chainID})
	}
	id, _, err := inv.identity(cands)
	return id, err
}
