package daemon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// startDeadline bounds StartSync and Close: far beyond what they need on a
// loaded machine (the anchor store's lock wait is a second), so that
// reaching it means they wait for something that never ends.
const startDeadline = time.Minute

// Frames of the loops StartSync and StartRetention start.
const (
	feedLoop      = "sync/feed.(*Publisher).Run("
	anchorLoop    = "sync/anchor.(*Anchorer).Run("
	retentionLoop = "agent/retention.(*Keeper).Run("
)

// syncLog opens a new log in a temporary directory with the test key.
func syncLog(t *testing.T) (*eventlog.Log, *devkey.Key) {
	t.Helper()
	k, err := devkey.FromHex(testKey)
	if err != nil {
		t.Fatal(err)
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: "sync-test", ChainID: 1337}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, k
}

// syncConfig is a configuration with a feed to a broker nobody serves
// (the feed retries for ever) and an anchor on a ledger nobody serves
// (dialling an http:// URL contacts nothing).
func syncConfig(keyFile string) *config.Config {
	return &config.Config{
		Feed: &config.Feed{Brokers: []string{"tcp://127.0.0.1:1"}, Window: 64},
		Anchor: &config.Anchor{Backend: config.AnchorEVM, RPC: "http://127.0.0.1:1", Finality: "qbft",
			Contract: "0x00000000000000000000000000000000000000aa", EveryEvents: 1, Every: time.Hour, MaxFeeGwei: 1,
			KeyFile: keyFile},
	}
}

// startSync runs StartSync and fails the test if it has not returned
// within startDeadline.
func startSync(t *testing.T, ctx context.Context, o SyncOptions) (*Sync, error) {
	t.Helper()
	type result struct {
		s   *Sync
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := StartSync(ctx, o)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-time.After(startDeadline):
		t.Fatalf("StartSync has not returned after %v; running: %v", startDeadline, loops())
		return nil, nil
	}
}

// loops returns the loops of the sync subsystems some goroutine is in.
func loops() []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var in []string
	for _, f := range []string{feedLoop, anchorLoop, retentionLoop} {
		if bytes.Contains(buf, []byte(f)) {
			in = append(in, f)
		}
	}
	return in
}

// An anchor that cannot open fails StartSync at once, with the reason,
// and leaves nothing running: the feed it had started is stopped and
// waited for, though the caller's context is never cancelled.
func TestStartSync_AnchorCannotOpen(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, dir string, c *config.Config)
		want  func(err error) bool
	}{
		{"relayer key missing", func(t *testing.T, dir string, c *config.Config) {
			c.Anchor.KeyFile = filepath.Join(dir, "relayer.key")
		}, func(err error) bool {
			return strings.Contains(err.Error(), "relayer.key does not exist")
		}},
		{"anchor.db locked", func(t *testing.T, dir string, c *config.Config) {
			// Another open of the store holds its lock.
			db, err := bolt.Open(filepath.Join(dir, AnchorStore), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, func(err error) bool {
			return errors.Is(err, anchor.ErrLocked) && strings.Contains(err.Error(), AnchorStore)
		}},
		{"backend not available", func(t *testing.T, dir string, c *config.Config) {
			c.Anchor.Backend = "chain-of-wishes"
		}, func(err error) bool { return strings.Contains(err.Error(), `"chain-of-wishes" is not available`) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, k := syncLog(t)
			cfg := syncConfig("")
			tt.setup(t, l.Dir(), cfg)
			s, err := startSync(t, context.Background(), SyncOptions{Config: cfg, Log: l, Key: k.ECDSA()})
			if err == nil {
				s.Close()
				t.Fatal("StartSync started with an anchor that cannot open")
			}
			if s != nil {
				t.Errorf("StartSync returned a Sync with its error %v", err)
			}
			if !tt.want(err) || !strings.HasPrefix(err.Error(), "anchor: ") {
				t.Errorf("StartSync's error = %v; it does not give the reason", err)
			}
			if in := loops(); len(in) > 0 {
				t.Errorf("after StartSync failed, goroutines are still in %v", in)
			}
		})
	}
}

// Close stops and waits for every loop StartSync and StartRetention
// started, while the caller's context is still live, and releases the
// anchor store: another open of it succeeds.
func TestStartSync_Close(t *testing.T) {
	l, k := syncLog(t)
	cfg := syncConfig("")
	cfg.Retention = &config.Retention{MaxBytes: 64 << 20, HardBytes: 80 << 20, OnFull: config.RetentionRefuseLow, MinFreeBytes: 1}
	s, err := startSync(t, context.Background(), SyncOptions{Config: cfg, Log: l, Key: k.ECDSA()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartRetention(context.Background(), cfg, l, s, nil, nil); err != nil {
		s.Close()
		t.Fatal(err)
	}
	if s.Feed == nil || s.Anchor == nil {
		t.Fatalf("Sync = %+v, want a feed and an anchor", s)
	}
	// The loops run until Close.
	for deadline := time.Now().Add(startDeadline); len(loops()) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("after %v only %v run", startDeadline, loops())
		}
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(startDeadline):
		t.Fatalf("Close has not returned after %v; running: %v", startDeadline, loops())
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after Close, goroutines are still in %v", in)
	}
	if err := s.Wait(); err != nil {
		t.Errorf("Wait after Close: %v", err)
	}
	db, err := bolt.Open(filepath.Join(l.Dir(), AnchorStore), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("the anchor store is still held after Close: %v", err)
	}
	db.Close()
}

// StartRetention needs the Sync its Keeper runs under.
func TestStartRetention_NoSync(t *testing.T) {
	l, _ := syncLog(t)
	cfg := &config.Config{Retention: &config.Retention{MaxBytes: 64 << 20, HardBytes: 80 << 20, OnFull: config.RetentionRefuseLow, MinFreeBytes: 1}}
	if k, err := StartRetention(context.Background(), cfg, l, nil, nil, nil); err == nil || k != nil {
		t.Fatalf("StartRetention without a Sync = %v, %v; want an error", k, err)
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("goroutines are in %v", in)
	}
}

// A relayer key's passphrase FIFO that nobody writes keeps StartSync
// waiting only until its context is cancelled; then it returns, with
// everything it started stopped.
func TestStartSync_CancelledWhileStarting(t *testing.T) {
	l, k := syncLog(t)
	dir := t.TempDir()
	relayer, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, fifo := filepath.Join(dir, "relayer.key"), filepath.Join(dir, "passphrase")
	if err := devkey.Write(keyFile, relayer, []byte("relayer passphrase")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	cfg := syncConfig(keyFile)
	cfg.Anchor.PassFile = fifo
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		s   *Sync
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := StartSync(ctx, SyncOptions{Config: cfg, Log: l, Key: k.ECDSA()})
		done <- result{s, err}
	}()
	// Cancel once StartSync holds the FIFO open, waiting for a writer.
	for deadline := time.Now().Add(startDeadline); !fdOpen(t, fifo); {
		select {
		case r := <-done:
			t.Fatalf("StartSync returned (%v) before it waited for the passphrase", r.err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("StartSync has not opened %s after %v", fifo, startDeadline)
		}
	}
	cancel()
	select {
	case r := <-done:
		if r.err == nil {
			r.s.Close()
			t.Fatal("StartSync succeeded without the relayer's passphrase")
		}
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("StartSync's error = %v, want one wrapping context.Canceled", r.err)
		}
	case <-time.After(startDeadline):
		t.Fatalf("StartSync has not returned %v after its context was cancelled; running: %v", startDeadline, loops())
	}
	if in := loops(); len(in) > 0 {
		t.Errorf("after StartSync failed, goroutines are still in %v", in)
	}
}

// fdOpen reports whether this process has path open.
func fdOpen(t *testing.T, path string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		if to, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && to == path {
			return true
		}
	}
	return false
}
