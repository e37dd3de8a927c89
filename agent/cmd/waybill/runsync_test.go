package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/system"
)

// runSyncDeadline bounds a run whose sync cannot start: far beyond what
// it needs on a loaded machine (deriving the device key, a second's wait
// for the anchor store's lock), so that reaching it means a hang.
const runSyncDeadline = 2 * time.Minute

// syncRunDir writes a device key and a configuration with a feed to a
// broker nobody serves and an anchor section whose relayer key is
// relayer.key in the returned directory, with extra lines appended to the
// anchor section.
func syncRunDir(t *testing.T, anchorExtra string) (dir, cfg string) {
	t.Helper()
	dir, key, _, _ := keyedFleet(t, "run-sync")
	cfg = filepath.Join(dir, "waybill.yaml")
	data := fmt.Sprintf(`version: 1
device:
  type: gateway
  fleet: run-sync
  chain_id: 1337
  data: log
  key: %s
feed:
  brokers: [tcp://127.0.0.1:1]
anchor:
  rpc: http://127.0.0.1:1
  contract: "0x00000000000000000000000000000000000000aa"
  key: relayer.key
%s`, filepath.Base(key), anchorExtra)
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// startRun starts `waybill run --config cfg` as a process of its own (this
// test binary, as the waybill command: see TestMain).
func startRun(t *testing.T, cfg string) (cmd *exec.Cmd, done <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "run", "--config", cfg)
	cmd.Env = append(os.Environ(), damageChild+"=1")
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, ch, stderr
}

// runExit waits for run to exit on its own, and fails the test if it has
// not within runSyncDeadline, or if a SIGTERM does not end it then.
func runExit(t *testing.T, cmd *exec.Cmd, done <-chan error, stderr *bytes.Buffer) int {
	t.Helper()
	select {
	case err := <-done:
		return exitCode(t, err)
	case <-time.After(runSyncDeadline):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		t.Fatalf("run exited only after a SIGTERM (%v), not %v after its start:\n%s", err, runSyncDeadline, stderr)
	case <-time.After(runSyncDeadline):
		t.Fatalf("run has not exited %v after its start nor %v after a SIGTERM:\n%s", runSyncDeadline, runSyncDeadline, stderr)
	}
	return 0
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("run: %v", err)
	}
	return ee.ExitCode()
}

// An anchor that cannot open stops `waybill run` at its start: it exits 1
// with the reason, though its feed has already started.
func TestCLI_RunAnchorCannotOpen(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // in the last line of stderr
	}{
		{"relayer key missing", func(t *testing.T, dir string) {}, "waybill: run: anchor: relayer key: devkey: key file " + "%s/relayer.key does not exist"},
		{"anchor.db locked", func(t *testing.T, dir string) {
			if code, _, errs := waybill(t, "", "keygen", "--key", filepath.Join(dir, "relayer.key"), "--fleet", "run-sync"); code != 0 {
				t.Fatalf("keygen: %s", errs)
			}
			// Another open of the store, by another process as far as
			// the agent can tell, holds its lock.
			if err := os.Mkdir(filepath.Join(dir, "log"), 0o700); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(filepath.Join(dir, "log", "anchor.db"), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, "waybill: run: anchor: store is in use by another process: %s/log/anchor.db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, cfg := syncRunDir(t, "")
			tt.setup(t, dir)
			cmd, done, stderr := startRun(t, cfg)
			code := runExit(t, cmd, done, stderr)
			last := finalLine(stderr.String())
			if want := fmt.Sprintf(tt.want, dir); code != 1 || !strings.HasPrefix(last, want) {
				t.Fatalf("run exited %d with %q; want 1 with %q\n%s", code, last, want, stderr)
			}
			if !strings.Contains(stderr.String(), "feed:") {
				t.Errorf("the feed did not start before the anchor failed: the test does not show what it means to:\n%s", stderr)
			}
		})
	}
}

// A SIGTERM while run waits for the relayer key's passphrase (a FIFO
// nobody writes) ends it.
func TestCLI_RunSIGTERMWhileSyncStarts(t *testing.T) {
	dir, cfg := syncRunDir(t, "  passphrase_file: relayer.pass\n")
	if code, _, errs := waybill(t, "", "keygen", "--key", filepath.Join(dir, "relayer.key"), "--fleet", "run-sync"); code != 0 {
		t.Fatalf("keygen: %s", errs)
	}
	fifo := filepath.Join(dir, "relayer.pass")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	cmd, done, stderr := startRun(t, cfg)
	for deadline := time.Now().Add(runSyncDeadline); !processHolds(cmd.Process.Pid, fifo); {
		select {
		case err := <-done:
			t.Fatalf("run exited (%v) before it waited for the passphrase:\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("run has not opened %s after %v:\n%s", fifo, runSyncDeadline, stderr)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		last := finalLine(stderr.String())
		if code := exitCode(t, err); code != 1 || !strings.Contains(last, "relayer key") || !strings.Contains(last, "interrupted") {
			t.Fatalf("run exited %d with %q after a SIGTERM; want 1, naming the relayer key and the interruption\n%s", code, last, stderr)
		}
	case <-time.After(runSyncDeadline):
		t.Fatalf("run has not exited %v after a SIGTERM:\n%s", runSyncDeadline, stderr)
	}
}

// processHolds reports whether process pid has path open.
func processHolds(pid int, path string) bool {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if to, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && to == path {
			return true
		}
	}
	return false
}

// finalLine is the last non-empty line of s.
func finalLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// runSync runs a System of o over the open log l and the key k, without
// the local API: the feed and anchoring of o.Config, and its sensors if it
// has any. The System closes l when it stops. stop stops it and returns
// Run's and Close's errors; it may be called more than once.
func runSync(ctx context.Context, o system.Options, l *eventlog.Log, k *devkey.Key) (s *system.System, stop func() error, err error) {
	o.Key = func(context.Context) (*devkey.Key, error) { return k, nil }
	o.OpenLog = func(context.Context, *devkey.Key) (*eventlog.Log, error) { return l, nil }
	o.NoLocalAPI = true
	if s, err = system.New(ctx, o); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	return s, func() error {
		once.Do(func() {
			cancel()
			err = errors.Join(<-done, s.Close())
		})
		return err
	}, nil
}
