package eventlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is wrapped by the error Open returns when another process has
// the log open. The message names that process.
var ErrLocked = errors.New("log is in use by another process")

// dirLock is an flock on DIR/LOCK. The writer holds it exclusively and
// writes its pid and command line into it; read-only openers hold it shared.
type dirLock struct{ f *os.File }

func lockDir(dir string, exclusive bool, timeout time.Duration) (*dirLock, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("eventlog: open lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("eventlog: lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder := readHolder(path)
			f.Close()
			return nil, fmt.Errorf("eventlog: %w: %s is held by %s", ErrLocked, dir, holder)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if exclusive {
		info := fmt.Sprintf("pid %d (%s), since %s\n", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(info), 0)
		}
	}
	return &dirLock{f: f}, nil
}

func readHolder(path string) string {
	b, err := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if err != nil || s == "" {
		return "another process (it has not written its pid yet, or it opened the log read-only)"
	}
	return s
}

func (l *dirLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
