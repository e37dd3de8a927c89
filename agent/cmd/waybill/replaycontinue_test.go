package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A replay into a data directory whose log already holds events refuses,
// naming the directory, its events and --continue, and leaves the log as
// it was; with --continue it appends the recording after them.
func TestCLI_RunReplayRefusesALogWithEvents(t *testing.T) {
	dir, key, _, _ := keyed(t)
	rec := sliceRecording(t, brusselsRec, dir, 3*time.Minute)
	data := filepath.Join(dir, "log")
	replay := func(extra ...string) (int, string, string) {
		return waybill(t, "", append([]string{"run", "--config", vanConfig, "--replay", rec, "--data", data, "--key", key}, extra...)...)
	}

	if code, _, errs := replay(); code != 0 {
		t.Fatalf("replay into a new data directory = %d: %s", code, errs)
	}
	first := logSize(t, data)
	if first == 0 {
		t.Fatal("the first replay logged no event")
	}

	code, out, errs := replay()
	if code != 1 {
		t.Fatalf("a second replay into %s = %d, want 1:\n%s%s", data, code, out, errs)
	}
	for _, want := range []string{data, fmt.Sprintf("%d events", first), "--continue"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, errs)
		}
	}
	if strings.Contains(out, "replayed") {
		t.Errorf("the refused replay replayed:\n%s", out)
	}
	if n := logSize(t, data); n != first {
		t.Fatalf("the refused replay changed the log from %d to %d events", first, n)
	}

	if code, _, errs := replay("--continue"); code != 0 {
		t.Fatalf("replay with --continue = %d: %s", code, errs)
	}
	if n := logSize(t, data); n <= first {
		t.Fatalf("replay with --continue left %d events after the %d of the first; want more", n, first)
	}
	if code, _, errs := waybill(t, "", "log", "check", "--data", data); code != 0 {
		t.Fatalf("log check after the continued replay: %s", errs)
	}
}

// --continue applies to a replay alone.
func TestCLI_RunContinueNeedsReplay(t *testing.T) {
	code, _, errs := waybill(t, "", "run", "--config", vanConfig, "--continue", "--data", "x", "--key", "k")
	if code != 2 || !strings.Contains(errs, "--continue needs --replay") {
		t.Fatalf("run --continue without --replay = %d: %s", code, errs)
	}
}
