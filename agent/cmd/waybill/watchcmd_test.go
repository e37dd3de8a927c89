package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWatch_Absent: without waybill-watch next to the binary or on PATH,
// `waybill watch` exits 2, naming it and how to build it.
func TestWatch_Absent(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, out, errs := waybill(t, "", "watch", "run", "--config", "watch.yaml")
	if code != 2 || out != "" || !strings.Contains(errs, "waybill-watch is not installed") || !strings.Contains(errs, "make build") {
		t.Fatalf("waybill watch = %d, stdout %q, stderr %q; want exit 2 naming waybill-watch and make build", code, out, errs)
	}
	code, _, errs = waybill(t, "", "watch")
	if code != 2 || !strings.Contains(errs, "watch needs a command of waybill-watch") {
		t.Errorf("waybill watch without a command = %d, %q", code, errs)
	}
}

// TestWatch_Runs builds the real waybill-watch and runs it through
// `waybill watch`, on PATH and with --bin: its output, and its exit
// status, are the command's.
func TestWatch_Runs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds waybill-watch")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "waybill-watch")
	build := exec.Command("go", "build", "-o", bin, "github.com/waybill-eu/waybill/sync/watch/cmd/waybill-watch")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build waybill-watch: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	key := filepath.Join(t.TempDir(), "witness.skey")
	code, out, errs := waybill(t, "", "watch", "keygen", "--name", "witness.city.example/waybill", "--out", key)
	if code != 0 || !strings.Contains(out, "verifier key: witness.city.example/waybill+") {
		t.Fatalf("waybill watch keygen = %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("keygen through waybill watch wrote no key: %v", err)
	}
	code, out, errs = waybill(t, "", "watch", "--bin", bin, "run")
	if code != 2 || out != "" || !strings.Contains(errs, "waybill-watch: run: --config is required") {
		t.Errorf("waybill watch --bin … run = %d, stdout %q, stderr %q; want waybill-watch's exit 2 and its reason", code, out, errs)
	}
	code, _, errs = waybill(t, "", "watch", "keygen", "--name", "witness.city.example/waybill", "--out", key)
	if code != 1 || !strings.Contains(errs, "never overwritten") {
		t.Errorf("waybill watch keygen over a key = %d, stderr %q; want waybill-watch's exit 1 and its reason", code, errs)
	}
}
