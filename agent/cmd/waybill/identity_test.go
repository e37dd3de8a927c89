package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLI_ManifestLostKeepsLog is the reproduction of a normal start on a
// log without its manifest.json (and with an emptied one): it used to
// create a new log over the old one, truncating seg-000000.db and signing
// sequence 0 of epoch 0 a second time. Now `log append` and `run` rebuild
// the manifest from the segments, keep every acknowledged event, and the
// next start is a plain one.
func TestCLI_ManifestLostKeepsLog(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	var in strings.Builder
	for i := range 300 {
		fmt.Fprintf(&in, `{"kind":"manual","payload":{"note":"n-%d"}}`+"\n", i)
	}
	id := []string{"--fleet", "cli-test", "--chain-id", "1337"}
	if code, out, errs := waybill(t, in.String(), append([]string{"log", "append", "--data", data, "--key", key}, id...)...); code != 0 || strings.Count(out, "\n") != 300 {
		t.Fatalf("append = %d, %d lines: %s", code, strings.Count(out, "\n"), errs)
	}
	if code, _, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	_, before, _ := waybill(t, "", "log", "show", "--data", data)
	if strings.Count(before, "\n") != 300 {
		t.Fatalf("show: %d lines", strings.Count(before, "\n"))
	}
	showSame := func(want int) {
		t.Helper()
		code, got, errs := waybill(t, "", "log", "show", "--data", data)
		if code != 0 || strings.Count(got, "\n") != want || !strings.HasPrefix(got, before) {
			t.Fatalf("show = %d, %d lines (want %d, the first 300 as before): %s", code, strings.Count(got, "\n"), want, errs)
		}
	}

	// log append, manifest removed. Another chain ID is refused, not used
	// to create a log.
	os.Remove(filepath.Join(data, "manifest.json"))
	code, _, errs := waybill(t, `{"kind":"manual","payload":{"note":"wrong"}}`+"\n", "log", "append", "--data", data, "--key", key, "--chain-id", "1")
	if code != 1 || !strings.Contains(errs, "--chain-id 1, but the log in "+data+" was created for chain 1337 (segment meta)") {
		t.Fatalf("append with another chain ID = %d: %s", code, errs)
	}
	code, out, errs := waybill(t, `{"kind":"manual","payload":{"note":"after"}}`+"\n", append([]string{"log", "append", "--data", data, "--key", key}, id...)...)
	if code != 0 || strings.TrimSpace(out) != "300" || !strings.Contains(errs, "rebuilt from the 1 segment(s) of epoch 0") {
		t.Fatalf("append without the manifest = %d %q: %s", code, out, errs)
	}
	showSame(301)
	code, out, errs = waybill(t, `{"kind":"manual","payload":{"note":"second start"}}`+"\n", "log", "append", "--data", data, "--key", key)
	if code != 0 || strings.TrimSpace(out) != "301" || strings.Contains(errs, "WARNING") {
		t.Fatalf("second start = %d %q: %s", code, out, errs)
	}
	showSame(302)

	// run, manifest emptied: its bytes are kept under damaged/.
	if err := os.Truncate(filepath.Join(data, "manifest.json"), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	derr := &lockedBuffer{}
	go func() {
		done <- run(ctx, append([]string{"run", "--data", data, "--key", key}, id...), strings.NewReader(""), &lockedBuffer{}, derr)
	}()
	waitFor(t, time.Minute, "the agent's socket", func() bool {
		select {
		case code := <-done:
			t.Fatalf("run exited %d: %s", code, derr.String())
		default:
		}
		_, err := os.Stat(filepath.Join(data, "waybill.sock"))
		return err == nil
	})
	if !strings.Contains(derr.String(), "LOG MANIFEST REBUILT") {
		t.Errorf("run did not log the rebuild: %s", derr.String())
	}
	code, out, errs = waybill(t, `{"kind":"manual","payload":{"note":"through run"}}`+"\n", "log", "append", "--data", data)
	if code != 0 || strings.TrimSpace(out) != "302" {
		t.Fatalf("append through run = %d %q: %s", code, out, errs)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run exited %d: %s", code, derr.String())
	}
	showSame(303)
	kept, _ := filepath.Glob(filepath.Join(data, "damaged", "manifest-*.json"))
	if len(kept) != 1 {
		t.Fatalf("kept manifests: %v", kept)
	}
	if code, out, errs := waybill(t, "", "log", "check", "--data", data); code != 0 || !strings.Contains(out, "303 events") {
		t.Fatalf("check = %d %s %s", code, out, errs)
	}
}

// TestCLI_ManifestLostSalvage: log salvage recovers the events of an
// intact segment whose manifest is empty.
func TestCLI_ManifestLostSalvage(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key)
	if err := os.Truncate(filepath.Join(data, "manifest.json"), 0); err != nil {
		t.Fatal(err)
	}
	code, out, errs := waybill(t, "", "log", "salvage", "--data", data, "--epoch", "0")
	if code != 0 || !strings.Contains(out, "events recovered: 3; contiguous from 0: 3") {
		t.Fatalf("salvage = %d %s %s", code, out, errs)
	}
	if code, out, _ := waybill(t, "", "log", "show", "--data", filepath.Join(data, "salvaged", "epoch-0")); code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("show salvaged = %d %q", code, out)
	}
}
