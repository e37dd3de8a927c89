// Package watchbench measures what bounds a feed watcher on the machine it
// runs on: the rate at which one core verifies events through the
// watcher's core (sync/watch), against the raw secp256k1 public-key
// recovery rate measured in the same run, the rate with the archive on
// disk, and the watcher's memory per device. `waybill-watch bench` runs it
// and prints its [Result].
//
// The rates are measured with the process pinned to one core
// (agent/onecore) in [Rounds] paired rounds, so that both rates of a round
// see the same machine. Each event is signed by a simulated device with a
// real key (untimed) and handed to (*watch.Watcher).Handle (timed): parsed,
// its signature recovered, written to a bbolt archive, its origin's
// sequence advanced; from [Lanes] goroutines, as the subscriber hands them
// over. For the verification rate the archive is a real bbolt file on a
// memory file system (Options.MemDir), so that what is measured is the
// watcher's work and not the disk's; the durable rate puts it on disk
// (Options.Dir), where the events' commits wait for fsync.
//
// Run changes process-wide state while it measures (the CPU affinity of
// every thread and GOMAXPROCS): run one at a time, in a process doing
// nothing else that matters.
package watchbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/onecore"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/watch"
)

const (
	// Rounds is how many paired rounds Run measures the rates in.
	Rounds = 5
	// MinRound is the shortest Options.Round.
	MinRound = 10 * time.Millisecond
	// MinDevices is the fewest devices Options.Devices may ask for.
	MinDevices = 100

	// rateDevices is how many devices the rate rounds' events come from,
	// in turn; batch is how many events are signed (untimed) before they
	// are handled (timed).
	rateDevices = 64
	batch       = 256
)

// Lanes is how many goroutines hand events to the watcher at once, each
// the events of its own devices in order, as the subscriber's lanes do
// (subscribe.DefaultWorkers): the watcher verifies them concurrently and
// its archive commits their writes together.
const Lanes = 4

// Options says what Run measures and where.
type Options struct {
	// Round is the length of the timed part of each measurement of each
	// paired round, at least MinRound.
	Round time.Duration
	// Devices is how many devices the memory measurement holds, at least
	// MinDevices.
	Devices int
	// Dir is the directory of the archive on disk for the durable rate.
	// Empty means a new temporary directory, removed when Run returns.
	Dir string
	// MemDir is a directory on a memory file system for the archive of
	// the verification rate. Empty means /dev/shm, or, where there is
	// none, the temporary directory (the result then says so).
	MemDir string
	// OnRound, if not nil, is called after each paired round.
	OnRound func(Round)
}

// Round is what one paired round measured, on one core.
type Round struct {
	N              int     // the round, from 1 to Rounds
	RecoversPerSec float64 // raw secp256k1 public-key recoveries a second
	VerifiedPerSec float64 // events verified and archived a second
}

// Result is what Run measured. Its JSON form is what `waybill-watch bench
// --json` prints. Rates are rounded to 0.1, the ratio to 0.001, memory to
// 0.01 MiB.
type Result struct {
	// RecoversPerSec is the median of the rounds' raw recovery rates:
	// crypto.Ecrecover of a signature over a 32-byte digest, the
	// primitive every event's check rests on.
	RecoversPerSec float64 `json:"recovers_per_sec"`
	// VerifiedPerSec is the median of the rounds' rates of events
	// handed to the watcher and concluded verified, with the archive in
	// memory.
	VerifiedPerSec float64 `json:"verified_per_sec"`
	// Ratio is the median of the rounds' VerifiedPerSec/RecoversPerSec.
	Ratio float64 `json:"ratio"`
	// DurablePerSec is the rate of events verified with the archive on
	// disk, one fsync per event, on one core.
	DurablePerSec float64 `json:"durable_per_sec"`
	// HeapMiBPer1000Devices is the Go heap the watcher and its archive
	// hold for 1,000 devices, each with one event and one checkpoint
	// verified, measured after a garbage collection.
	HeapMiBPer1000Devices float64 `json:"heap_mib_per_1000_devices"`
	// Devices is how many devices the memory measurement held.
	Devices int `json:"devices"`
	// Cgo says whether this build recovers with libsecp256k1 (cgo) or
	// with the pure-Go implementation.
	Cgo bool `json:"cgo"`
	// MemDir is where the archive of the verification rate was; it is
	// "" when that is a memory file system (tmpfs).
	MemDir string `json:"mem_dir,omitempty"`
}

// Run measures this machine as opts says: first, in Rounds paired rounds
// with the process pinned to one core, the raw recovery rate and the
// watcher's verification rate; then, still on one core, the rate with the
// archive on disk; then, on every core, the heap held for opts.Devices
// devices. It returns ctx's error if ctx ends first.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Round < MinRound {
		return Result{}, fmt.Errorf("watchbench: a round of %s asked for; at least %s is needed", opts.Round, MinRound)
	}
	if opts.Devices < MinDevices {
		return Result{}, fmt.Errorf("watchbench: %d devices asked for; at least %d are needed", opts.Devices, MinDevices)
	}
	res := Result{Devices: opts.Devices, Cgo: cgo}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "waybill-watchbench-")
		if err != nil {
			return Result{}, fmt.Errorf("watchbench: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	mem, onTmpfs, err := memDir(opts.MemDir)
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(mem)
	if !onTmpfs {
		res.MemDir = mem
	}

	restore, err := onecore.Pin()
	if err != nil {
		return Result{}, fmt.Errorf("watchbench: %w", err)
	}
	defer func() {
		if restore != nil {
			restore()
		}
	}()
	h, err := newHarness(ctx, filepath.Join(mem, "archive.db"), rateDevices)
	if err != nil {
		return Result{}, err
	}
	rec, err := newRecoverer(h.srcs)
	if err != nil {
		h.close()
		return Result{}, err
	}
	var recs, vers, ratios []float64
	for r := 1; r <= Rounds; r++ {
		if err := ctx.Err(); err != nil {
			h.close()
			return Result{}, err
		}
		rr, err := rec.rate(opts.Round)
		if err != nil {
			h.close()
			return Result{}, err
		}
		vr, err := h.rate(ctx, opts.Round)
		if err != nil {
			h.close()
			return Result{}, err
		}
		recs, vers, ratios = append(recs, rr), append(vers, vr), append(ratios, vr/rr)
		if opts.OnRound != nil {
			opts.OnRound(Round{N: r, RecoversPerSec: rr, VerifiedPerSec: vr})
		}
	}
	if err := h.close(); err != nil {
		return Result{}, err
	}
	res.RecoversPerSec, res.VerifiedPerSec, res.Ratio = round1(median(recs)), round1(median(vers)), round3(median(ratios))

	d, err := newHarness(ctx, filepath.Join(dir, "archive.db"), rateDevices)
	if err != nil {
		return Result{}, err
	}
	dr, err := d.rate(ctx, opts.Round)
	if cerr := d.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Result{}, err
	}
	res.DurablePerSec = round1(dr)
	restore()
	restore = nil

	heap, err := heapPerDevice(ctx, filepath.Join(mem, "memory.db"), opts.Devices)
	if err != nil {
		return Result{}, err
	}
	res.HeapMiBPer1000Devices = round2(heap * 1000 / (1 << 20))
	return res, nil
}

// memDir makes a new directory under dir, or under /dev/shm, or under the
// temporary directory, and says whether it is on a memory file system.
func memDir(dir string) (string, bool, error) {
	if dir == "" {
		dir = "/dev/shm"
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			dir = os.TempDir()
		}
	}
	d, err := os.MkdirTemp(dir, "waybill-watchbench-")
	if err != nil {
		return "", false, fmt.Errorf("watchbench: memory directory: %w", err)
	}
	return d, isTmpfs(d), nil
}

// harness is a watcher on a bbolt archive and the devices it trusts.
type harness struct {
	arc  *watch.Bolt
	w    *watch.Watcher
	srcs []*source
	turn int
	msgs [][]byte
	tops []string
	from []int // the device of each message, an index of srcs
}

func newHarness(ctx context.Context, path string, devices int) (*harness, error) {
	arc, err := watch.OpenBolt(path)
	if err != nil {
		return nil, fmt.Errorf("watchbench: %w", err)
	}
	h := &harness{arc: arc}
	op := watch.Operator{Name: "bench"}
	for range devices {
		s, err := newSource()
		if err != nil {
			h.close()
			return nil, fmt.Errorf("watchbench: %w", err)
		}
		d, err := s.trust()
		if err != nil {
			h.close()
			return nil, fmt.Errorf("watchbench: %w", err)
		}
		h.srcs, op.Devices = append(h.srcs, s), append(op.Devices, d)
	}
	if h.w, err = watch.New(watch.Trust{Operators: []watch.Operator{op}}, arc); err != nil {
		h.close()
		return nil, fmt.Errorf("watchbench: %w", err)
	}
	// Each device's first event records its epoch: not what is measured.
	if err := h.sign(len(h.srcs)); err != nil {
		h.close()
		return nil, err
	}
	if err := h.handle(ctx); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *harness) close() error {
	if err := h.arc.Close(); err != nil {
		return fmt.Errorf("watchbench: %w", err)
	}
	return nil
}

// sign signs the next n events of the devices, in turn.
func (h *harness) sign(n int) error {
	h.msgs, h.tops, h.from = h.msgs[:0], h.tops[:0], h.from[:0]
	for range n {
		s := h.srcs[h.turn%len(h.srcs)]
		h.from = append(h.from, h.turn%len(h.srcs))
		h.turn++
		m, err := s.next()
		if err != nil {
			return fmt.Errorf("watchbench: sign: %w", err)
		}
		h.msgs, h.tops = append(h.msgs, m), append(h.tops, s.topics.Events)
	}
	return nil
}

// handle hands the signed events to the watcher, from Lanes goroutines
// as the subscriber deals them (each device's on one lane, in order); each
// must verify.
func (h *harness) handle(ctx context.Context) error {
	errs := make([]error, Lanes)
	var wg sync.WaitGroup
	for l := range Lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, m := range h.msgs {
				if h.from[i]%Lanes != l {
					continue
				}
				v, err := h.w.Handle(ctx, h.tops[i], m)
				if err != nil {
					errs[l] = fmt.Errorf("watchbench: archive: %w", err)
					return
				}
				if v.State != watch.StateVerified || v.Duplicate {
					errs[l] = fmt.Errorf("watchbench: event %d of %s: state %s (reason %s, duplicate %t): %v", v.Seq, v.Device, v.State, v.Reason, v.Duplicate, v.Err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rate returns the rate of events handled, timing only Handle, over at
// least d of it.
func (h *harness) rate(ctx context.Context, d time.Duration) (float64, error) {
	var spent time.Duration
	n := 0
	for spent < d {
		if err := h.sign(batch); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if err := h.handle(ctx); err != nil {
			return 0, err
		}
		spent += time.Since(t0)
		n += len(h.msgs)
	}
	return float64(n) / spent.Seconds(), nil
}

// recoverer recovers public keys from a set of real event signatures.
type recoverer struct {
	digests [][32]byte
	sigs    [][]byte
}

func newRecoverer(srcs []*source) (*recoverer, error) {
	r := &recoverer{}
	for i := range batch {
		s := srcs[i%len(srcs)]
		e := Event(s.key.Address(), 0, uint64(1_000_000+i))
		signed, err := s.key.SignEvent(domain, e)
		if err != nil {
			return nil, fmt.Errorf("watchbench: sign: %w", err)
		}
		sig := append([]byte(nil), signed.Sig[:]...)
		sig[64] -= 27
		r.digests, r.sigs = append(r.digests, signer.EventDigest(domain, &e)), append(r.sigs, sig)
	}
	return r, nil
}

// rate returns the rate of raw recoveries over at least d.
func (r *recoverer) rate(d time.Duration) (float64, error) {
	n := 0
	t0 := time.Now()
	// At least one pass: on a loaded machine d may be over before the first.
	for first := true; first || time.Since(t0) < d; first = false {
		for i := range r.sigs {
			if _, err := crypto.Ecrecover(r.digests[i][:], r.sigs[i]); err != nil {
				return 0, fmt.Errorf("watchbench: recover: %w", err)
			}
		}
		n += len(r.sigs)
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// heapPerDevice returns the Go heap, in bytes, that a watcher on a bbolt
// archive at path holds per device once each of n devices has one event
// and one checkpoint verified.
func heapPerDevice(ctx context.Context, path string, n int) (float64, error) {
	srcs := make([]*source, n)
	op := watch.Operator{Name: "bench"}
	type msg struct {
		topic, ck string
		ev, note  []byte
	}
	msgs := make([]msg, n)
	for i := range srcs {
		s, err := newSource()
		if err != nil {
			return 0, fmt.Errorf("watchbench: %w", err)
		}
		d, err := s.trust()
		if err != nil {
			return 0, fmt.Errorf("watchbench: %w", err)
		}
		ev, err := s.next()
		if err != nil {
			return 0, fmt.Errorf("watchbench: sign: %w", err)
		}
		note, err := s.checkpoint()
		if err != nil {
			return 0, fmt.Errorf("watchbench: sign: %w", err)
		}
		srcs[i], op.Devices, msgs[i] = s, append(op.Devices, d), msg{s.topics.Events, s.topics.Checkpoints, ev, note}
	}
	before := heap()
	arc, err := watch.OpenBolt(path)
	if err != nil {
		return 0, fmt.Errorf("watchbench: %w", err)
	}
	defer arc.Close()
	w, err := watch.New(watch.Trust{Operators: []watch.Operator{op}}, arc)
	if err != nil {
		return 0, fmt.Errorf("watchbench: %w", err)
	}
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for _, p := range []struct {
			topic string
			b     []byte
		}{{m.topic, m.ev}, {m.ck, m.note}} {
			v, err := w.Handle(ctx, p.topic, p.b)
			if err != nil {
				return 0, fmt.Errorf("watchbench: archive: %w", err)
			}
			if v.State != watch.StateVerified {
				return 0, fmt.Errorf("watchbench: %s: state %s (reason %s): %v", p.topic, v.State, v.Reason, v.Err)
			}
		}
	}
	after := heap()
	runtime.KeepAlive(w)
	runtime.KeepAlive(msgs)
	runtime.KeepAlive(srcs)
	if after < before {
		return 0, errors.New("watchbench: the heap shrank while the watcher took on its devices")
	}
	return float64(after-before) / float64(n), nil
}

// heap returns the live heap after a garbage collection.
func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// median returns the median of x (the upper one of an even count).
func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
