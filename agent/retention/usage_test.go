package retention

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/waybill-eu/waybill/testbench/damage"
)

// usageChild, set, makes TestUsage_UnreadableDirectory measure the
// directory it names and print the result: the test runs itself as an
// unprivileged user when it runs as root, whom permissions do not bind.
const usageChild = "WAYBILL_USAGE_DIR"

type usageResult struct {
	Used, Free int64
	Skipped    []string
	Err        string
}

// A directory under the log that cannot be read is skipped and named; the
// rest is measured, and the free space is known: an unreadable (or
// damaged) subdirectory never leaves the Keeper without figures.
func TestUsage_UnreadableDirectory(t *testing.T) {
	if dir := os.Getenv(usageChild); dir != "" {
		used, free, skipped, err := usage(dir)
		r := usageResult{Used: used, Free: free, Skipped: skipped}
		if err != nil {
			r.Err = err.Error()
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "seg.db"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "damaged")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locked, "seg.db"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	var r usageResult
	err := damage.Unreadable(locked)
	switch {
	case err == nil:
		used, free, skipped, err := usage(dir)
		r = usageResult{Used: used, Free: free, Skipped: skipped}
		if err != nil {
			r.Err = err.Error()
		}
	case errors.Is(err, damage.ErrPrivileged):
		r = usageAsNobody(t, dir)
	default:
		t.Fatal(err)
	}
	if r.Err != "" || len(r.Skipped) != 1 || r.Skipped[0] != locked || r.Used < 64<<10 || r.Free <= 0 {
		t.Fatalf("usage = %+v; want no error, %s skipped, the readable file counted and the free space", r, locked)
	}
}

// usageAsNobody runs the test's child as the user nobody (uid 65534).
func usageAsNobody(t *testing.T, dir string) usageResult {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("running as root without setpriv: permissions do not bind this process, and no unprivileged user can be switched to")
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(d, fi.Mode().Perm()|0o755)
		}
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "retention.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(bin)
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", bin, "-test.run=^TestUsage_UnreadableDirectory$")
	cmd.Env = append(os.Environ(), usageChild+"="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	var r usageResult
	for _, line := range bytes.Split(out, []byte("\n")) {
		if json.Unmarshal(line, &r) == nil {
			return r
		}
	}
	t.Fatalf("child printed no result:\n%s", out)
	return r
}
