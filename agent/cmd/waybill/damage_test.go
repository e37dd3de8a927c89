package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
	"github.com/waybill-eu/waybill/sync/feed/embedded"
	"github.com/waybill-eu/waybill/testbench/damage"
)

// The damage matrix: every file the agent writes, damaged in every way
// storage damages files, under every command that reads the log. Each cell
// is a subtest FILE/DAMAGE/COMMAND on a fresh copy of one genuine log built
// once; the commands run as child processes (this test binary re-executed
// as waybill), as an unprivileged user when the test runs as root, so that
// file permissions bind them as they bind the agent on a device.
//
// Each cell asserts that the command
//   - exits within a generous deadline (a hang fails the cell, naming it);
//   - never panics or dies in the runtime ("panic:", "fatal error:");
//   - either succeeds, or fails with a message that names the damaged file
//     and a next step (a damage that does not concern the command must not
//     make it fail);
//   - prints no event that differs from the genuine one.
//
// `run` is started with a configuration that runs the feed (to an embedded
// broker), anchoring (to an unreachable node) and retention; it is stopped
// with SIGTERM once it serves and has signed a checkpoint of its log (or
// has exited), and `status` is asked while it serves.
//
// After `run` and after `log salvage`, the "kept" cells count the events:
// every event whose leaf bytes are still on the disk is in the live log or
// among what `log salvage` recovers, byte for byte, and every other one is
// named by log salvage as missing.
//
// The matrix is data: the files are the base log's (damagedFile), the
// damages are kinds (damageKind, offsets from each file's size) and the
// reading commands a table (readingCommands); run and status share one
// agent per cell.

// damageChild, set in the environment, makes the test binary act as the
// waybill command (see TestMain).
const damageChild = "WAYBILL_DAMAGE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(damageChild) == "1" {
		tuneRuntime()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

const (
	damagePass  = "damage matrix passphrase"
	damageFleet = "damage-test"
	// damageSegment is the base log's segment size: small, so that the
	// base log has four segments of a few dozen events each.
	damageSegment = 256 << 10
	// cellDeadline bounds every command of a cell: far beyond what any
	// command needs on a loaded machine, so that reaching it means a hang.
	cellDeadline = 2 * time.Minute
	// nobody is the unprivileged user the commands run as under root.
	nobody = 65534
)

// A damagedFile is a file the agent writes, as the matrix names it.
type damagedFile struct {
	name string // in the cell's name
	rel  string // path relative to the cell directory
	// shownAs is what a message about the file must name: its base name.
	shownAs string
	// readers are the commands that read the file; the others must not
	// notice its damage.
	readers []string
	// seg is the segment's index, or -1.
	seg int
}

// A damageKind is one way to damage a file.
type damageKind struct {
	name  string
	apply func(path string) error
}

// The commands of a cell, as the matrix names them.
const (
	cellRun     = "run"
	cellShow    = "log-show"
	cellProve   = "log-prove"
	cellCheck   = "log-check"
	cellSalvage = "log-salvage"
	cellStatus  = "status"
)

// damageBase is the genuine log every cell copies.
type damageBase struct {
	dir    string   // the cell template: device.key, log/
	bin    string   // this test binary, where an unprivileged user may run it
	leaves [][]byte // every event's leaf, by sequence number (epoch 0)
	pruned uint64   // events 0..pruned-1 have their payloads pruned
	segs   []segRange
	broker string // the embedded MQTT broker's URL
	asUser []string
	files  []damagedFile
}

type segRange struct {
	rel        string
	first, end uint64
	pruned     bool
}

// TestDamageMatrix runs the matrix; see the comment above.
func TestDamageMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the damage matrix runs several hundred commands")
	}
	b := damageMatrixBase(t)
	t.Logf("base log: %d events, %d pruned, segments %v", len(b.leaves), b.pruned, b.segs)
	t.Run("intact/none", func(t *testing.T) {
		t.Parallel()
		b.cellGroup(t, damagedFile{name: "intact", seg: -1}, damageKind{name: "none"})
	})
	for _, f := range b.files {
		for _, d := range b.kinds(t, f) {
			t.Run(f.name+"/"+d.name, func(t *testing.T) {
				t.Parallel()
				b.cellGroup(t, f, d)
			})
		}
	}
}

// kinds returns the damages of file f, with offsets from its size in the
// base log.
func (b *damageBase) kinds(t *testing.T, f damagedFile) []damageKind {
	fi, err := os.Stat(filepath.Join(b.dir, f.rel))
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	page := 4096
	zeroPage := 0
	flips := 8
	if size > 4*int64(page) {
		// A page in the middle: a leaf or branch page of a bbolt file.
		zeroPage = int(size / int64(page) / 2)
		flips = 25
	}
	tail := size - int64(page)
	if tail <= size/2 {
		tail = size - 1
	}
	trunc := func(n int64) damageKind {
		return damageKind{name: fmt.Sprintf("truncated-%d", n), apply: func(p string) error { return damage.Truncate(p, n) }}
	}
	return []damageKind{
		{name: "deleted", apply: damage.Delete},
		trunc(0), trunc(17), trunc(size / 2), trunc(tail),
		{name: fmt.Sprintf("zeroed-page-%d", zeroPage), apply: func(p string) error { return damage.ZeroPage(p, zeroPage, page) }},
		{name: fmt.Sprintf("flipped-%d-bits-seed-1", flips), apply: func(p string) error { _, err := damage.FlipBits(p, 1, flips); return err }},
		{name: "garbage", apply: func(p string) error { return damage.Garbage(p, 1) }},
		{name: "unreadable", apply: func(p string) error {
			if err := damage.Unreadable(p); err != nil && !errors.Is(err, damage.ErrPrivileged) {
				return err
			}
			return nil
		}},
	}
}

// damageMatrixBase builds the genuine log once: events in four segments,
// signed checkpoints, a feed cursor the embedded broker acknowledged, an
// anchor store whose anchors a simulated chain confirmed, and the oldest
// segment pruned by retention's rule (delivered and anchored).
// The base, the broker and the copy of the test binary go when the test
// and all its cells have ended.
func damageMatrixBase(t *testing.T) *damageBase {
	root, err := os.MkdirTemp("", "waybill-damage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	b, err := buildDamageBase(t, root)
	if err != nil {
		t.Fatalf("building the base log: %v", err)
	}
	return b
}

func buildDamageBase(t *testing.T, root string) (*damageBase, error) {
	b := &damageBase{dir: filepath.Join(root, "base")}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	if err := b.setUser(root); err != nil {
		return nil, err
	}
	k, err := devkey.FromHex("64616d616765206d617472697820646576696365206b6579202d2d2074657374")
	if err != nil {
		return nil, err
	}
	if err := devkey.Write(filepath.Join(b.dir, "device.key"), k, []byte(damagePass)); err != nil {
		return nil, err
	}
	broker, err := embedded.Start(slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { broker.Close() })
	b.broker = broker.URL() // the agent's feed connects to it in every run cell
	ctx := context.Background()
	data := filepath.Join(b.dir, "log")
	l, err := eventlog.Open(ctx, data, &eventlog.Options{Keys: k, SegmentBytes: damageSegment,
		Create: &eventlog.Identity{Device: k.Address(), Fleet: damageFleet, ChainID: simchain.ChainID}})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli()
	for i := 0; ; i++ {
		ev := event.Event{Time: t0 + int64(i)*1000, Source: event.SourceGNSS, Kind: "delivery",
			Payload: fmt.Appendf(nil, `{"lat":50.8476,"lon":4.3537,"parcel":"P%06d"}`, i)}
		if _, err := l.Append(ctx, ev); err != nil {
			return nil, err
		}
		if i%40 == 39 {
			if _, _, err := l.Checkpoint(ctx); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(filepath.Join(data, "epoch-0", "seg-000003.db")); err == nil && i%40 == 39 {
			break
		}
	}
	if err := l.Range(0, 0, func(_ uint64, leaf []byte) error {
		b.leaves = append(b.leaves, bytes.Clone(leaf))
		return nil
	}); err != nil {
		return nil, err
	}
	// The feed delivers every event to the broker and the chain confirms
	// an anchor of the whole log.
	chain, err := simchain.Start(50*time.Millisecond, common.Address(k.Address()))
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	cfg := &config.Config{Feed: &config.Feed{Brokers: []string{b.broker}, Window: 64},
		Anchor: &config.Anchor{Backend: config.AnchorEVM, Contract: chain.Registry.Hex(), Finality: "qbft",
			EveryEvents: 1, Every: time.Hour, MaxFeeGwei: 100, GasLimitPlus: 20}}
	// The System closes the log when it stops; it is opened again below.
	sy, stop, err := runSync(ctx, system.Options{Config: cfg, Client: chain.Client, AnchorPoll: 50 * time.Millisecond}, l, k)
	if err != nil {
		return nil, err
	}
	size := l.Size()
	deadline := time.Now().Add(3 * time.Minute)
	for sy.Feed().Status().Persisted < size || sy.Anchor().Anchored(l.Origin()) < size {
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("feed persisted %d, anchored %d of %d events after 3 minutes", sy.Feed().Status().Persisted, sy.Anchor().Anchored(l.Origin()), size)
		}
		sy.Notify()
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	if l, err = eventlog.Open(ctx, data, &eventlog.Options{Keys: k, SegmentBytes: damageSegment}); err != nil {
		return nil, err
	}
	defer l.Close()
	var m struct {
		Segments []struct {
			File  string `json:"file"`
			First uint64 `json:"first"`
		} `json:"segments"`
	}
	mb, err := os.ReadFile(filepath.Join(data, "manifest.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, err
	}
	// Retention's rule: prune what is delivered and anchored; the first
	// segment only (the last two are never pruned).
	res, err := l.Prune(ctx, m.Segments[1].First)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	b.pruned = res.Events
	if b.pruned == 0 {
		return nil, errors.New("prune pruned nothing")
	}
	if _, _, err := l.Checkpoint(ctx); err != nil {
		return nil, err
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	if mb, err = os.ReadFile(filepath.Join(data, "manifest.json")); err != nil {
		return nil, err
	}
	var m2 struct {
		Segments []struct {
			File   string `json:"file"`
			First  uint64 `json:"first"`
			Pruned bool   `json:"pruned"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(mb, &m2); err != nil {
		return nil, err
	}
	for i, s := range m2.Segments {
		end := uint64(len(b.leaves))
		if i+1 < len(m2.Segments) {
			end = m2.Segments[i+1].First
		}
		b.segs = append(b.segs, segRange{rel: filepath.Join("log", s.File), first: s.First, end: end, pruned: s.Pruned})
	}
	all := []string{cellRun, cellShow, cellProve, cellCheck, cellSalvage, cellStatus}
	b.files = append(b.files, damagedFile{name: "manifest", rel: "log/manifest.json", shownAs: "manifest.json", readers: all, seg: -1})
	for i, s := range b.segs {
		name := fmt.Sprintf("seg-%d", i)
		switch {
		case s.pruned:
			// Retention keeps no state file of its own: what it did is
			// the pruned segment (and the manifest naming it).
			name += "-pruned-by-retention"
		case i == len(b.segs)-1:
			name += "-active"
		}
		b.files = append(b.files, damagedFile{name: name, rel: s.rel, shownAs: filepath.Base(s.rel), readers: all, seg: i})
	}
	b.files = append(b.files,
		damagedFile{name: "checkpoint", rel: "log/epoch-0/checkpoint", shownAs: "checkpoint", readers: all, seg: -1},
		damagedFile{name: "feed-cursor", rel: "log/" + system.FeedCursorFile, shownAs: system.FeedCursorFile, readers: []string{cellRun, cellStatus}, seg: -1},
		damagedFile{name: "anchor-db", rel: "log/" + system.AnchorStore, shownAs: system.AnchorStore, readers: []string{cellRun, cellStatus}, seg: -1},
		damagedFile{name: "key", rel: "device.key", shownAs: "device.key", readers: []string{cellRun, cellStatus}, seg: -1},
	)
	for _, f := range b.files {
		if _, err := os.Stat(filepath.Join(b.dir, f.rel)); err != nil {
			return nil, fmt.Errorf("the base log lacks %s: %w", f.rel, err)
		}
	}
	return b, nil
}

// setUser decides how the commands run: as the unprivileged user nobody
// (through setpriv) when this process is root, whom permissions do not
// bind; as this process's user otherwise. The test binary is copied where
// that user may run it.
func (b *damageBase) setUser(root string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.bin = self
	if os.Geteuid() != 0 {
		return nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return nil // cells with unreadable files skip, saying why
	}
	for d := root; d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o711); err != nil {
				return err
			}
		}
	}
	bin := filepath.Join(root, "waybill.test")
	in, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.WriteFile(bin, in, 0o755); err != nil {
		return err
	}
	b.bin = bin
	b.asUser = []string{setpriv, "--reuid=" + strconv.Itoa(nobody), "--regid=" + strconv.Itoa(nobody), "--clear-groups", "--"}
	return nil
}

// cell is one damaged copy of the base log.
type cell struct {
	b    *damageBase
	dir  string // holds device.key, config.yaml, log/
	file damagedFile
	kind damageKind
	// salvageOut is what the log-salvage cell printed.
	salvageOut string
}

func (c *cell) log() string { return filepath.Join(c.dir, "log") }

// newCell copies the base log into a new directory and damages the file.
func (b *damageBase) newCell(t *testing.T, f damagedFile, d damageKind, id int) *cell {
	t.Helper()
	c := &cell{b: b, dir: t.TempDir(), file: f, kind: d}
	if err := copyTree(b.dir, c.dir); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: 1
device: {type: van, fleet: %s, chain_id: %d, data: log, key: device.key, checkpoint_every: 1s}
sensors: [{name: gnss, driver: nmea, port: %s, interval: 1s}]  # no receiver: the agent reports a sensor fault and serves
feed: {brokers: [%q], client_id: damage-cell-%d}
anchor: {backend: evm, rpc: "http://127.0.0.1:9", contract: "0x00000000000000000000000000000000000000aa", finality: qbft, every_events: 1}
retention: {max_bytes: 16MiB}
`, damageFleet, simchain.ChainID, "/dev/waybill-no-receiver", b.broker, id)
	if err := os.WriteFile(filepath.Join(c.dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if b.asUser != nil {
		for d := c.dir; d != filepath.Dir(d); d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, fi.Mode().Perm()|0o711)
			}
		}
		if err := filepath.WalkDir(c.dir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, nobody, nobody)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if d.apply != nil {
		if err := d.apply(filepath.Join(c.dir, f.rel)); err != nil {
			t.Fatalf("damaging %s: %v", f.rel, err)
		}
	}
	return c
}

var cellIDs struct {
	sync.Mutex
	n int
}

func nextCellID() int {
	cellIDs.Lock()
	defer cellIDs.Unlock()
	cellIDs.n++
	return cellIDs.n
}

// cellGroup runs the commands of one file × damage pair: the reading
// commands and log salvage on one copy, run and status on another.
func (b *damageBase) cellGroup(t *testing.T, f damagedFile, d damageKind) {
	if d.name == "unreadable" && b.asUser == nil && os.Geteuid() == 0 {
		t.Skip("running as root without setpriv to drop privileges: permissions do not bind the commands, so an unreadable file cannot be tested")
	}
	onDisk := b.leavesOnDisk(t, f, d)
	// The reading commands, then log salvage, one after another on one
	// copy: none of them may change it.
	a := b.newCell(t, f, d, nextCellID())
	for _, rc := range readingCommands {
		t.Run(rc.name, func(t *testing.T) {
			skipKnown(t)
			out := a.expect(t, rc.name, rc.args(a)...)
			if rc.check != nil {
				rc.check(t, a, out)
			}
		})
	}
	t.Run("kept-after-salvage", func(t *testing.T) {
		skipKnown(t)
		a.kept(t, onDisk, false)
	})

	// The agent, and status while it serves.
	r := b.newCell(t, f, d, nextCellID())
	agent := r.start(t)
	t.Run(cellStatus, func(t *testing.T) {
		skipKnown(t)
		if !agent.serving {
			out := r.run(t, "status", "--data", r.log())
			r.judge(t, cellStatus, out, false)
			return
		}
		out := r.expect(t, cellStatus, "status", "--data", r.log())
		if out.code != 0 {
			t.Errorf("status of a serving agent exited %d: %s", out.code, out.stderr)
		}
		if movedAside(r.log(), f.shownAs) && !strings.Contains(out.stdout, f.shownAs) {
			t.Errorf("status does not report the damaged %s the agent moved aside: %s", f.shownAs, out.stdout)
		}
	})
	t.Run(cellRun, func(t *testing.T) {
		out := agent.stop(t)
		skipKnown(t)
		if agent.hung != "" {
			t.Errorf("%s; stderr: %s", agent.hung, tail(out.stderr))
		}
		if agent.serving {
			t.Logf("served; exit %d after SIGTERM", out.code)
		} else {
			t.Logf("refused to start, exit %d: %s", out.code, lastLine(out.stderr))
		}
		if (f.name == "feed-cursor" || f.name == "anchor-db") && !agent.serving {
			t.Errorf("a damaged %s kept the agent from running (exit %d): %s", f.shownAs, out.code, tail(out.stderr))
		}
		r.judge(t, cellRun, out, true)
		if agent.serving && moved(r.log()) && !strings.Contains(out.stderr, "damaged") {
			t.Errorf("run moved files aside without saying so: %s", out.stderr)
		}
	})
	t.Run("kept-after-run", func(t *testing.T) {
		skipKnown(t)
		r.kept(t, onDisk, true)
	})
}

// A readingCommand is a column of the matrix for a command that reads the
// log: its arguments on a cell and what its success must show.
type readingCommand struct {
	name  string
	args  func(c *cell) []string
	check func(t *testing.T, c *cell, out output) // beyond the rules every cell keeps
}

// readingCommands are run in this order on one copy of the damaged log.
var readingCommands = []readingCommand{
	{name: cellShow,
		args: func(c *cell) []string {
			return []string{"log", "show", "--data", c.log(), "--from", strconv.FormatUint(c.b.pruned, 10)}
		},
		check: func(t *testing.T, c *cell, out output) {
			if want := uint64(len(c.b.leaves)) - c.b.pruned; out.code == 0 && out.genuine < want {
				t.Errorf("exit 0 after %d of the %d events from %d", out.genuine, want, c.b.pruned)
			}
		}},
	{name: cellProve,
		args: func(c *cell) []string {
			seq := c.proveSeq()
			args := []string{"log", "prove", "--data", c.log(), "--seq", strconv.FormatUint(seq, 10)}
			if seq < c.b.pruned {
				// A pruned event is proven from the copy its holder kept.
				kept := filepath.Join(c.dir, "kept-event.json")
				os.WriteFile(kept, c.b.leaves[seq], 0o644)
				args = append(args, "--leaf", kept)
			}
			return args
		},
		check: func(t *testing.T, c *cell, out output) {
			if out.code == 0 && out.genuine != 1 {
				t.Errorf("exit 0 without the event's bundle: %q", out.stdout)
			}
		}},
	{name: cellCheck,
		args: func(c *cell) []string { return []string{"log", "check", "--data", c.log()} },
		check: func(t *testing.T, c *cell, out output) {
			if out.code != 0 {
				return
			}
			if !strings.HasPrefix(out.stdout, "OK:") {
				t.Errorf("exit 0 without OK: %q", out.stdout)
			}
			// An OK claims every event is intact: show must print them all.
			shown := c.run(t, "log", "show", "--data", c.log(), "--from", strconv.FormatUint(c.b.pruned, 10))
			if want := uint64(len(c.b.leaves)) - c.b.pruned; shown.code != 0 || shown.genuine != want {
				t.Errorf("log check said OK, but log show printed %d genuine events of %d and exited %d: %s",
					shown.genuine, want, shown.code, shown.stderr)
			}
		}},
	{name: cellSalvage,
		args:  func(c *cell) []string { return []string{"log", "salvage", "--data", c.log(), "--epoch", "0"} },
		check: func(t *testing.T, c *cell, out output) { c.salvageOut = out.stdout }},
}

// proveSeq is the event log prove asks for: one in the middle of the
// damaged segment, else the last.
func (c *cell) proveSeq() uint64 {
	if c.file.seg >= 0 {
		s := c.b.segs[c.file.seg]
		return (s.first + s.end) / 2
	}
	return uint64(len(c.b.leaves)) - 1
}

// movedAside reports whether the file named name was moved aside.
func movedAside(dir, name string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, name+".damaged-*"))
	return len(m) > 0
}

// knownFailing names the cells that fail for a reason outside this test,
// by cell name (FILE/DAMAGE/COMMAND), with the reason. Each is skipped,
// saying why, until the cause is fixed; then its entry goes.
var knownFailing = map[string]string{}

// skipKnown skips the running cell if it is known to fail.
func skipKnown(t *testing.T) {
	t.Helper()
	if why, ok := knownFailing[strings.TrimPrefix(t.Name(), "TestDamageMatrix/")]; ok {
		t.Skip("known failure: " + why)
	}
}

// moved reports whether anything was moved aside in the log directory.
func moved(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "damaged")); err == nil {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.damaged-*"))
	return len(m) > 0
}

// leavesOnDisk returns the sequence numbers whose leaf bytes the damage
// leaves on the disk: all but the pruned ones, less, for a damaged
// segment, those whose exact bytes are no longer in the damaged file.
func (b *damageBase) leavesOnDisk(t *testing.T, f damagedFile, d damageKind) map[uint64]bool {
	keep := map[uint64]bool{}
	for seq := b.pruned; seq < uint64(len(b.leaves)); seq++ {
		keep[seq] = true
	}
	if f.seg < 0 || d.apply == nil || d.name == "unreadable" {
		return keep
	}
	s := b.segs[f.seg]
	if s.pruned {
		return keep
	}
	tmp := filepath.Join(t.TempDir(), "seg")
	if err := copyFile(filepath.Join(b.dir, s.rel), tmp); err != nil {
		t.Fatal(err)
	}
	if err := d.apply(tmp); err != nil {
		t.Fatal(err)
	}
	damaged, _ := os.ReadFile(tmp) // deleted: nothing
	for seq := s.first; seq < s.end; seq++ {
		if !bytes.Contains(damaged, b.leaves[seq]) {
			delete(keep, seq)
		}
	}
	return keep
}

// output is what a command printed and how it ended.
type output struct {
	code           int
	stdout, stderr string
	// genuine counts the epoch-0 events printed that equal the originals.
	genuine uint64
	altered []string // printed events that differ from the originals
}

// command returns the child process running waybill args.
func (c *cell) command(args ...string) *exec.Cmd {
	argv := append(append([]string(nil), c.b.asUser...), c.b.bin)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), damageChild+"=1", devkey.PassphraseEnv+"="+damagePass, "GOTRACEBACK=all")
	cmd.Dir = c.dir
	return cmd
}

// run runs waybill args to its end, or fails the test at the deadline.
func (c *cell) run(t *testing.T, args ...string) output {
	t.Helper()
	cmd := c.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(cellDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("waybill %s did not exit within %v (hung); stderr: %s", strings.Join(args, " "), cellDeadline, tail(errb.String()))
	}
	o := output{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	c.b.compare(&o)
	return o
}

// expect runs the command of the cell and judges it.
func (c *cell) expect(t *testing.T, name string, args ...string) output {
	t.Helper()
	o := c.run(t, args...)
	c.judge(t, name, o, false)
	return o
}

var (
	crashed = regexp.MustCompile(`(?m)^(panic: |fatal error: |goroutine \d+ \[)`)
	// nextStep matches the ways a message tells the operator what to do.
	nextStep = regexp.MustCompile(`(?i)(waybill (log|run|keygen|anchor)|salvage|restore|chmod|chown|delete it|remove it|mov(e|ed|es|ing) .*aside|rebuil|replace|permission|start the agent)`)
)

// judge applies the cell's rules to a command's output.
func (c *cell) judge(t *testing.T, name string, o output, isRun bool) {
	t.Helper()
	if crashed.MatchString(o.stderr) || crashed.MatchString(o.stdout) {
		t.Errorf("%s crashed (exit %d):\n%s", name, o.code, tail(o.stderr))
		return
	}
	for _, a := range o.altered {
		t.Errorf("%s printed an altered event as valid: %s", name, a)
	}
	reads := c.file.seg >= 0 || slices.Contains(c.file.readers, name)
	if o.code == 0 {
		return
	}
	if isRun && o.code == -1 {
		t.Errorf("%s ended by a signal: %s", name, tail(o.stderr))
		return
	}
	if !reads || c.kind.apply == nil {
		t.Errorf("%s failed (exit %d) though the damage to %s does not concern it: %s", name, o.code, c.file.rel, tail(o.stderr))
		return
	}
	if name == cellStatus && strings.Contains(o.stderr, "no agent is running") {
		return // the agent refused to start: run's cell judges its message
	}
	msg := o.stderr
	if !strings.Contains(msg, c.file.shownAs) {
		t.Errorf("%s failed (exit %d) without naming %s: %s", name, o.code, c.file.shownAs, tail(msg))
	}
	if !nextStep.MatchString(msg) {
		t.Errorf("%s failed (exit %d) without a next step: %s", name, o.code, tail(msg))
	}
}

// compare checks every event the output prints against the originals: the
// lines of log show, a proof bundle's leaf.
func (b *damageBase) compare(o *output) {
	sc := bufio.NewScanner(strings.NewReader(o.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var v struct {
			Seq   *uint64 `json:"seq"`
			Epoch uint32  `json:"epoch"`
			Leaf  []byte  `json:"leaf"`
			Event json.RawMessage
		}
		if json.Unmarshal([]byte(line), &v) != nil || v.Leaf == nil {
			continue
		}
		leaf := v.Leaf
		var ev struct {
			Seq   uint64 `json:"seq"`
			Epoch uint32 `json:"epoch"`
		}
		if err := json.Unmarshal(leaf, &ev); err != nil {
			o.altered = append(o.altered, fmt.Sprintf("unparsable leaf %q", leaf))
			continue
		}
		if ev.Epoch != 0 || ev.Seq >= uint64(len(b.leaves)) {
			continue // an event of a later epoch, or appended by the run
		}
		want := b.leaves[ev.Seq]
		if v.Seq != nil { // a log show line: the leaf's members and the leaf
			exp := string(want[:len(want)-1]) + `,"leaf":"` + base64.StdEncoding.EncodeToString(want) + `"}`
			if line != exp {
				o.altered = append(o.altered, fmt.Sprintf("event %d: %s", ev.Seq, line))
				continue
			}
		} else if !bytes.Equal(leaf, want) || !sameEvent(v.Event, want) {
			o.altered = append(o.altered, fmt.Sprintf("event %d: leaf %s, event %s", ev.Seq, leaf, v.Event))
			continue
		}
		o.genuine++
	}
}

// sameEvent reports whether a proof bundle's event object is the leaf's
// event: its members without the signature.
func sameEvent(ev json.RawMessage, leaf []byte) bool {
	var a, b map[string]any
	if json.Unmarshal(ev, &a) != nil || json.Unmarshal(leaf, &b) != nil {
		return false
	}
	delete(b, "sig")
	return reflect.DeepEqual(a, b)
}

// agentProc is a running `waybill run`.
type agentProc struct {
	cmd      *exec.Cmd
	out, err *lockedBuffer
	done     chan struct{}
	serving  bool
	hung     string // why start gave up waiting, if it did
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start starts the agent on the cell and waits until it serves its local
// API and has signed a checkpoint of its log (or logged why it could not),
// or has exited. A wait beyond the deadline is recorded in hung, for the
// run cell to report.
func (c *cell) start(t *testing.T) *agentProc {
	t.Helper()
	a := &agentProc{cmd: c.command("run", "--config", filepath.Join(c.dir, "config.yaml")),
		out: &lockedBuffer{}, err: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.err
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	deadline := time.After(cellDeadline)
	for {
		select {
		case <-a.done:
			return a
		case <-deadline:
			if a.serving {
				a.hung = fmt.Sprintf("run served but neither signed a checkpoint of its log nor logged why within %v", cellDeadline)
			} else {
				a.hung = fmt.Sprintf("run neither served nor exited within %v", cellDeadline)
			}
			return a
		case <-time.After(50 * time.Millisecond):
		}
		if strings.Contains(a.err.String(), "checkpoint not signed") {
			return a
		}
		st, err := c.get("/v1/status")
		// The local API answers before the sensors and the sync loops
		// have started; the agent serves once its status has them.
		if err != nil || !strings.Contains(st, `"sync"`) {
			continue
		}
		a.serving = true
		var s struct {
			Log struct {
				Size uint64 `json:"size"`
			} `json:"log"`
		}
		json.Unmarshal([]byte(st), &s)
		note, err := c.get("/v1/checkpoint")
		if lines := strings.SplitN(note, "\n", 3); err == nil && len(lines) == 3 && s.Log.Size > 0 && lines[1] == strconv.FormatUint(s.Log.Size, 10) {
			return a
		}
	}
}

// get asks the agent's local API.
func (c *cell) get(path string) (string, error) {
	cl, err := localapi.Dial(c.log())
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b bytes.Buffer
	err = cl.Do(ctx, "GET", path, nil, &b)
	return b.String(), err
}

// stop sends SIGTERM (if the agent still runs) and waits for its end.
func (a *agentProc) stop(t *testing.T) output {
	t.Helper()
	select {
	case <-a.done:
	default:
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(cellDeadline):
			a.cmd.Process.Kill()
			<-a.done
			t.Fatalf("run did not exit within %v of SIGTERM; stderr: %s", cellDeadline, tail(a.err.String()))
		}
	}
	o := output{code: a.cmd.ProcessState.ExitCode(), stdout: a.out.String(), stderr: a.err.String()}
	if a.serving && o.code != 0 {
		// Stopped by SIGTERM after serving: a clean stop is exit 0.
		o.stderr += fmt.Sprintf("\n(exit %d after SIGTERM)", o.code)
	}
	return o
}

// kept counts the events: every event whose leaf bytes are on the disk
// must be in the live log or among what log salvage recovers, and every
// event found must be genuine. afterRun salvages what the agent moved
// aside; otherwise the salvage of the log-salvage cell is read.
func (c *cell) kept(t *testing.T, onDisk map[uint64]bool, afterRun bool) {
	t.Helper()
	if c.kind.name == "unreadable" {
		// The operator's next step: give the file its permissions back,
		// wherever the agent moved it.
		filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil && fi.Mode().Perm() == 0 {
					os.Chmod(p, 0o600)
				}
			}
			return nil
		})
	}
	found := map[uint64]bool{}
	add := func(o output) {
		for _, a := range o.altered {
			t.Errorf("altered event printed as valid: %s", a)
		}
		c.b.collect(o.stdout, found)
	}
	live := c.run(t, "log", "show", "--data", c.log(), "--from", strconv.FormatUint(c.b.pruned, 10))
	if crashed.MatchString(live.stderr) {
		t.Errorf("log show of the live log crashed: %s", tail(live.stderr))
	}
	add(live)
	salvage := c.salvageOut
	if afterRun {
		salvage = ""
		if len(damagedEpochs(c.log())) > 0 || live.code != 0 {
			o := c.run(t, "log", "salvage", "--data", c.log(), "--epoch", "0")
			if crashed.MatchString(o.stderr) {
				t.Errorf("log salvage crashed: %s", tail(o.stderr))
			}
			salvage = o.stdout + o.stderr
		}
	}
	out := filepath.Join(c.log(), "salvaged", "epoch-0")
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err == nil {
		o := c.run(t, "log", "show", "--data", out)
		add(o)
		if o.code != 0 {
			// A salvaged prefix may start after pruned events: show from
			// the first kept one.
			add(c.run(t, "log", "show", "--data", out, "--from", strconv.FormatUint(c.b.pruned, 10)))
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "epoch-0", "unprovable.jsonl")); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var ev struct {
				Seq   uint64 `json:"seq"`
				Epoch uint32 `json:"epoch"`
			}
			if json.Unmarshal(line, &ev) != nil || ev.Epoch != 0 || ev.Seq >= uint64(len(c.b.leaves)) {
				continue
			}
			if !bytes.Equal(line, c.b.leaves[ev.Seq]) {
				t.Errorf("salvage recovered an altered event %d: %s", ev.Seq, line)
				continue
			}
			found[ev.Seq] = true
		}
	}
	var lost []uint64
	for seq := range onDisk {
		if !found[seq] {
			lost = append(lost, seq)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of the %d events whose bytes are on the disk are neither in the live log nor salvaged (first few: %v); live log show exited %d: %s; salvage: %s",
			len(lost), len(onDisk), firstFew(lost), live.code, tail(live.stderr), tail(salvage))
	}
	// The events the damage destroyed are named by log salvage.
	named, more := missingEvents(salvage)
	var unnamed []uint64
	for seq := c.b.pruned; seq < uint64(len(c.b.leaves)); seq++ {
		if !found[seq] && !onDisk[seq] && !named[seq] {
			unnamed = append(unnamed, seq)
		}
	}
	if len(unnamed) > 0 && !more {
		t.Errorf("events %v were destroyed but log salvage does not name them as missing: %s", firstFew(unnamed), tail(salvage))
	}
}

// missingEvents parses the "missing events: 3-7, 9, and 4 more" line of log
// salvage's summary; more is true when the list was cut short.
func missingEvents(summary string) (named map[uint64]bool, more bool) {
	named = map[uint64]bool{}
	for _, line := range strings.Split(summary, "\n") {
		list, ok := strings.CutPrefix(line, "missing events: ")
		if !ok {
			continue
		}
		for _, r := range strings.Split(list, ", ") {
			if strings.HasPrefix(r, "and ") {
				more = true
				continue
			}
			lo, hi, _ := strings.Cut(r, "-")
			a, err1 := strconv.ParseUint(lo, 10, 64)
			b, err2 := strconv.ParseUint(hi, 10, 64)
			if hi == "" {
				b, err2 = a, nil
			}
			if err1 != nil || err2 != nil {
				continue
			}
			for seq := a; seq <= b && seq < a+1<<20; seq++ {
				named[seq] = true
			}
		}
	}
	return named, more
}

// collect adds the genuine epoch-0 events of log show output to found.
func (b *damageBase) collect(stdout string, found map[uint64]bool) {
	for _, line := range strings.Split(stdout, "\n") {
		var v struct {
			Seq   uint64 `json:"seq"`
			Epoch uint32 `json:"epoch"`
			Leaf  []byte `json:"leaf"`
		}
		if json.Unmarshal([]byte(line), &v) != nil || v.Epoch != 0 || v.Seq >= uint64(len(b.leaves)) {
			continue
		}
		if bytes.Equal(v.Leaf, b.leaves[v.Seq]) {
			found[v.Seq] = true
		}
	}
}

// damagedEpochs lists the epoch directories moved aside under damaged/.
func damagedEpochs(log string) []string {
	m, _ := filepath.Glob(filepath.Join(log, "damaged", "epoch-*"))
	return m
}

func firstFew(s []uint64) []uint64 {
	slices.Sort(s)
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// lastLine returns the last line of s that is not empty.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// tail returns the end of a long output, progress lines unfolded.
func tail(s string) string {
	s = strings.ReplaceAll(s, "\r", "\n")
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

// copyTree copies the directory from into to, keeping file modes.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if d.Type()&fs.ModeSocket != 0 || rel == "log/LOCK" {
			return nil
		}
		return copyFile(p, dst)
	})
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, fi.Mode().Perm())
}

// With no agent running, status names what an agent moved aside after
// finding it damaged.
func TestCLI_StatusNamesDamagedParts(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "damaged", "epoch-0-20261207T101010Z"), 0o755)
	os.WriteFile(filepath.Join(dir, "feed.cursor.damaged-20261207T101010.000000000Z"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "anchor.db.damaged-20261207T101011.000000000Z"), nil, 0o644)
	code, _, errs := waybill(t, "", "status", "--data", dir)
	for _, want := range []string{"no agent is running", "damaged/epoch-0-20261207T101010Z", "feed.cursor.damaged-", "anchor.db.damaged-"} {
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("status = %d %q; want %q", code, errs, want)
		}
	}
}
