package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// watchBinary is the feed watcher's own binary (sync/watch/cmd/waybill-watch):
// the watcher links a database driver, metrics and the verification of
// every device's feed, which the device binary does not carry.
const watchBinary = "waybill-watch"

// cmdWatch runs waybill-watch with the arguments that follow, as git runs
// its git-NAME commands: the one next to this binary, else the one on PATH.
func cmdWatch(ctx context.Context, e *env, args []string) error {
	f := newFlags("watch", e)
	bin := f.String("bin", "", "run the waybill-watch binary at `PATH` (default: the one next to this binary, else the one on PATH)")
	// Flags end at the watcher's command: what follows is its own.
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help(e.stdout)
			return err
		}
		return usageError{f.Name() + ": " + err.Error()}
	}
	if f.NArg() == 0 {
		return usageError{"watch needs a command of waybill-watch: run, export, keygen or bench"}
	}
	path := *bin
	if path == "" {
		var err error
		if path, err = findWatch(); err != nil {
			return exitError{2, err}
		}
	}
	cmd := exec.CommandContext(ctx, path, f.Args()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	// A stopping waybill (SIGINT, SIGTERM) stops the watcher as
	// waybill-watch expects to be stopped, and waits for it to drain.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	var xe *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &xe) && xe.ExitCode() > 0:
		return exitError{xe.ExitCode(), fmt.Errorf("watch: %s exited with status %d", path, xe.ExitCode())}
	}
	return fmt.Errorf("watch: %w", err)
}

// findWatch returns the path of waybill-watch: next to this binary, else
// on PATH.
func findWatch() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), watchBinary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(watchBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("watch: %s is not installed: it is neither next to this binary nor on PATH; "+
		"build it with 'make build' (bin/%s, from sync/watch/cmd/%s) and install it beside waybill", watchBinary, watchBinary, watchBinary)
}
