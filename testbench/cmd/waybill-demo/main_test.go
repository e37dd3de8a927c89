package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/testbench/demo"
)

// bins holds the binaries TestMain builds: waybill-demo and the device
// binary waybill, which reads what the demo left.
var bins string

// TestMain builds bin/waybill-demo and bin/waybill into a temporary
// directory; the tests run them as processes.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "waybill-demo-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins = dir
	code := 1
	for pkg, name := range map[string]string{".": "waybill-demo", "../../../agent/cmd/waybill": "waybill"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			goto done
		}
	}
	code = m.Run()
done:
	os.RemoveAll(dir)
	os.Exit(code)
}

// deadline bounds every command of these tests: far beyond what the
// demo takes on a loaded machine, so that reaching it means a hang.
const deadline = 5 * time.Minute

// command runs bin/NAME with args and returns its exit status and output.
func command(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins, name), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s has not finished after %v:\n%s", name, strings.Join(args, " "), deadline, errb.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errb.String()
}

// TestHelp: -h, -help and --help print the usage and every flag with its
// text, and exit 0.
func TestHelp(t *testing.T) {
	var o demo.Options
	f := flagSet(&o)
	for _, arg := range []string{"-h", "-help", "--help"} {
		code, out, errs := command(t, "waybill-demo", arg)
		if code != 0 || errs != "" || !strings.HasPrefix(out, "Usage:\n  waybill-demo ") {
			t.Fatalf("waybill-demo %s = %d, stderr %q:\n%s", arg, code, errs, out)
		}
		n := 0
		f.VisitAll(func(fl *flag.Flag) {
			n++
			name, usage := flag.UnquoteUsage(fl)
			if fl.Usage == "" || !strings.Contains(out, "\n  --"+fl.Name+" "+name+"\n") || !strings.Contains(out, usage) {
				t.Errorf("waybill-demo %s: flag --%s is not listed with its text %q:\n%s", arg, fl.Name, usage, out)
			}
		})
		if n != 4 {
			t.Errorf("%d flags, want the 4 the usage line names (--data, --config, --replay, --speed)", n)
		}
	}
}

// TestBadCommandLine: a bad command line exits 2, names what is wrong and
// where to read the usage, and runs nothing.
func TestBadCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "-bogus"},
		{[]string{"--speed", "fast"}, `"fast"`},
		{[]string{"--speed", "-2"}, "--speed -2: must not be negative"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--data"}, "-data"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errs := command(t, "waybill-demo", c.args...)
			if code != 2 || out != "" || !strings.Contains(errs, c.want) || !strings.Contains(errs, "waybill-demo -h") {
				t.Fatalf("waybill-demo %v = %d, stdout %q, stderr %q; want exit 2 naming %q", c.args, code, out, errs, c.want)
			}
		})
	}
}

// TestDemoSyncAndAnchorStatus runs the demo as a process. It publishes to
// its in-process broker and anchors to its in-process chain; the device
// binary then reads what it left: every event the log holds was received
// by the subscriber and verified on chain, and anchor status reads what
// was anchored from the store. A second run into the same directory is
// refused.
func TestDemoSyncAndAnchorStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo replays a whole round")
	}
	data := filepath.Join(t.TempDir(), "demo")
	code, out, errs := command(t, "waybill-demo", "--data", data)
	if code != 0 {
		t.Fatalf("waybill-demo exit %d: %s", code, errs)
	}
	code, shown, errs := command(t, "waybill", "log", "show", "--data", data, "--limit", "1000000")
	n := strings.Count(shown, "\n")
	if code != 0 || n == 0 {
		t.Fatalf("log show after the demo = %d, %d events: %s", code, n, errs)
	}
	for _, w := range []string{fmt.Sprintf("published %d events", n), fmt.Sprintf("a subscriber received and verified %d of them", n),
		fmt.Sprintf("verified %d/%d events on chain", n, n), fmt.Sprintf("Summary: %d events signed and durable", n)} {
		if !strings.Contains(out, w) {
			t.Errorf("the log holds %d events; demo output lacks %q:\n%s", n, w, out)
		}
	}
	// anchor status --json: firmware-docs/CLI.md §15.
	code, out, errs = command(t, "waybill", "anchor", "status", "--data", data, "--json")
	var st struct {
		Running  bool                `json:"agent_running"`
		Failed   int                 `json:"failed"`
		Last     *struct{ Size int } `json:"last"`
		InFlight json.RawMessage     `json:"in_flight"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("anchor status --json = %d:\n%s\n%s", code, out, errs)
	}
	if st.Running || st.Failed != 0 || st.Last == nil || st.Last.Size != n || string(st.InFlight) != "null" {
		t.Errorf("after the demo, anchor status --json = %s; want the agent stopped, none failed, the last confirmed anchor of size %d and none in flight", out, n)
	}
	code, out, _ = command(t, "waybill", "anchor", "status", "--data", data, "--evidence")
	if code != 0 || !strings.Contains(out, `"ledger":"eip155:1337"`) {
		t.Fatalf("anchor status --evidence = %d:\n%.300s", code, out)
	}
	if code, _, errs := command(t, "waybill", "anchor", "status", "--data", t.TempDir()); code == 0 || !strings.Contains(errs, "has no anchor store") {
		t.Errorf("anchor status without a store: %d %s", code, errs)
	}
	if code, out, errs := command(t, "waybill-demo", "--data", data); code != 2 || out != "" || !strings.Contains(errs, data+" already holds a log") {
		t.Errorf("a second demo into %s = %d, stdout %q, stderr %q; want exit 2 naming the directory", data, code, out, errs)
	}
}
