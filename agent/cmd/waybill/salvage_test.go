package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_DamageSalvageCheck walks an operator through a damaged SD card:
// the agent moves the damaged epoch aside and carries on, log salvage
// recovers the old events, and the recovered events still prove against
// the checkpoint signed before the damage.
func TestCLI_DamageSalvageCheck(t *testing.T) {
	dir, key, vkey, addr := keyed(t)
	data := filepath.Join(dir, "log")
	var in strings.Builder
	for i := 0; i < 40; i++ {
		in.WriteString(`{"kind":"manual","payload":{"note":"event ` + strings.Repeat("x", i%7) + `"}}` + "\n")
	}
	if code, _, errs := waybill(t, in.String(), "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 {
		t.Fatalf("append: %s", errs)
	}
	if code, _, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	if code, out, errs := waybill(t, "", "log", "check", "--data", data); code != 0 || !strings.HasPrefix(out, "OK:") || !strings.Contains(out, "40 events") {
		t.Fatalf("check of a good log = %d %q %s", code, out, errs)
	}
	// The SD card loses both bbolt meta pages.
	seg := filepath.Join(data, "epoch-0", "seg-000000.db")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 8192)
	for i := range junk {
		junk[i] = 0x5a
	}
	f.WriteAt(junk, 0)
	f.Close()
	if code, _, errs := waybill(t, "", "log", "check", "--data", data); code == 0 || !strings.Contains(errs, "seg-000000.db") {
		t.Fatalf("check of a damaged log = %d %q", code, errs)
	}
	code, out, errs := waybill(t, `{"kind":"manual","payload":{"note":"after the damage"}}`+"\n", "log", "append", "--data", data, "--key", key)
	if code != 0 || strings.TrimSpace(out) != "0" || !strings.Contains(errs, "WARNING") || !strings.Contains(errs, "salvage") {
		t.Fatalf("append after damage = %d %q %q; want seq 0 of a new epoch and a warning", code, out, errs)
	}
	code, out, errs = waybill(t, "", "log", "salvage", "--data", data, "--epoch", "0")
	if code != 0 {
		t.Fatalf("salvage = %d %s %s", code, out, errs)
	}
	recovered := filepath.Join(data, "salvaged", "epoch-0")
	code, bundle, errs := waybill(t, "", "log", "prove", "--data", recovered, "--seq", "39")
	if code != 0 {
		t.Fatalf("prove from the salvaged log: %s\nsalvage said:\n%s", errs, out)
	}
	b := filepath.Join(dir, "b.json")
	os.WriteFile(b, []byte(bundle), 0o644)
	if code, _, errs := waybill(t, "", "verify", "--device", addr, "--vkey", vkey, b); code != 0 {
		t.Fatalf("verify salvaged event: %s", errs)
	}
	if !strings.Contains(bundle, "/0\\n40\\n") {
		t.Fatalf("bundle is not against the pre-damage checkpoint of size 40: %s", bundle)
	}
}
