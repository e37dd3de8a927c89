package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	vanConfig   = "../../../configs/van.yaml"
	brusselsRec = "../../../testbench/recordings/brussels-van.jsonl.gz"
	gpsdLogs    = "../../../../shared/testdata/gpsd"
)

// finalRoot returns the root line of the checkpoint a replay printed.
func finalRoot(t *testing.T, out string) string {
	t.Helper()
	_, note, ok := strings.Cut(out, "final checkpoint:\n")
	lines := strings.Split(note, "\n")
	if !ok || len(lines) < 3 {
		t.Fatalf("no final checkpoint in:\n%s", out)
	}
	return lines[1] + " " + lines[2]
}

func TestCLI_RunReplayTwiceSameRoot(t *testing.T) {
	dir, key, _, _ := keyed(t)
	var roots []string
	for i := range 2 {
		data := filepath.Join(dir, "log", string(rune('a'+i)))
		code, out, errs := waybill(t, "", "run", "--config", vanConfig, "--replay", brusselsRec, "--data", data, "--key", key)
		if code != 0 {
			t.Fatalf("replay exit %d: %s", code, errs)
		}
		for _, want := range []string{"delivery 14", "temperature_excursion 2", "shock 1", "zone_entered 7", "0 sensor faults"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q:\n%s", want, out)
			}
		}
		roots = append(roots, finalRoot(t, out))
		if code, _, errs := waybill(t, "", "log", "check", "--data", data); code != 0 {
			t.Fatalf("log check after the replay: %s", errs)
		}
	}
	if roots[0] != roots[1] {
		t.Errorf("two replays, two roots: %q and %q", roots[0], roots[1])
	}
}

func TestCLI_RunFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--replay", brusselsRec, "--data", "x", "--key", "k"}, "--replay and --record need --config"},
		{[]string{"run", "--config", vanConfig, "--replay", brusselsRec, "--record", "r"}, "cannot be used together"},
		{[]string{"run", "--config", vanConfig, "--speed", "2"}, "--speed needs --replay"},
		{[]string{"run", "--config", "nonexistent.yaml"}, "no configuration"},
		{[]string{"run", "--config", vanConfig, "--replay", "nonexistent.jsonl", "--data", "x", "--key", "k"}, "nonexistent.jsonl"},
		{[]string{"sensors", "decode", "--driver", "bme280", brusselsRec}, "needs --config"},
		{[]string{"sensors", "decode", brusselsRec}, "give --driver or --sensor"},
		{[]string{"sensors", "decode", "--config", vanConfig, "--sensor", "nope", brusselsRec}, `no sensor "nope"`},
		{[]string{"sensors", "probe"}, "--config is required"},
		{[]string{"sensors", "frobnicate"}, `unknown sensors subcommand "frobnicate"`},
		{[]string{"config"}, "config needs a subcommand"},
	} {
		code, _, errs := waybill(t, "", tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error containing %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestCLI_SensorsDecode(t *testing.T) {
	code, out, errs := waybill(t, "", "sensors", "decode", "--config", vanConfig, "--sensor", "tags", brusselsRec)
	if code != 0 || strings.Count(out, "\n") != 14 || !strings.Contains(out, `"uid":"04A13C2F5B6E80"`) {
		t.Fatalf("decode tags = %d:\n%s\n%s", code, out, errs)
	}
	code, out, errs = waybill(t, "", "sensors", "decode", "--config", vanConfig, "--driver", "bme280", brusselsRec)
	if code != 0 || !strings.Contains(out, `"kind":"env"`) || !strings.Contains(out, `"humidity_pct"`) {
		t.Fatalf("decode bme280 = %d:\n%.400s\n%s", code, out, errs)
	}
	log := filepath.Join(gpsdLogs, "mt3339.log")
	if _, err := os.Stat(log); err != nil {
		t.Skipf("shared gpsd logs absent: %v", err)
	}
	code, out, errs = waybill(t, "", "sensors", "decode", "--driver", "nmea", log)
	if code != 0 || strings.Count(out, "\n") != 30 || !strings.Contains(out, `"time":"2015-04-13T20:26:40Z","lat":44.068843333`) {
		t.Fatalf("decode nmea = %d:\n%.400s\n%s", code, out, errs)
	}
}

// runDeadline bounds every wait on a `waybill run` process in these tests:
// far beyond what any step takes, even on a loaded machine, so that only a
// process that hangs fails the wait.
const runDeadline = 2 * time.Minute

// recordingEnd returns the end its header gives the recording at path.
func recordingEnd(t *testing.T, path string) time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		End *time.Time `json:"end"`
	}
	if err := json.NewDecoder(z).Decode(&h); err != nil || h.End == nil {
		t.Fatalf("%s: header without an end (%v)", path, err)
	}
	return *h.End
}

// statusSeen is what the SIGTERM test reads of `waybill status`.
type statusSeen struct {
	Agent struct {
		EventsByKind map[string]int `json:"events_by_kind"`
		Sensors      []struct {
			Sensor string `json:"sensor"`
			State  string `json:"state"`
		} `json:"sensors"`
	} `json:"agent"`
}

// SIGTERM stops the daemon cleanly in the middle of a replay: it exits 0,
// every event it logged is covered by the checkpoint it signs on the way
// out, and the log checks.
func TestCLI_RunSIGTERM(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	bin := buildWaybill(t)
	cmd := exec.Command(bin, "run", "--config", vanConfig, "--replay", brusselsRec, "--speed", "60", "--data", data, "--key", key)
	cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// Wait until the agent serves its status and has logged an event:
	// the replay is then under way, and at --speed 60 it has most of a
	// minute to go.
	deadline := time.After(runDeadline)
	var st statusSeen
	for logged := 0; logged == 0; {
		select {
		case err := <-done:
			t.Fatalf("run exited (%v) before it logged an event:\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("run has logged no event after %v:\n%s", runDeadline, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		code, out, _ := waybill(t, "", "status", "--data", data)
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			continue
		}
		for _, n := range st.Agent.EventsByKind {
			logged += n
		}
	}
	gnss := false
	for _, s := range st.Agent.Sensors {
		gnss = gnss || s.Sensor == "gnss" && s.State == "ok"
	}
	if !gnss {
		t.Errorf("status of the running agent lacks the gnss sensor in state ok: %+v", st.Agent)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s\n%s", err, stderr.String(), stdout.String())
		}
	case <-time.After(runDeadline):
		t.Fatalf("no exit %v after SIGTERM:\n%s", runDeadline, stderr.String())
	}
	// Stopped in the middle: the replay ended well before the recording.
	m := regexp.MustCompile(`(?m)^replayed \S+ to (\S+):`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no \"replayed FROM to TO:\" line:\n%s", stdout.String())
	}
	reached, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if end := recordingEnd(t, brusselsRec); !reached.Before(end.Add(-time.Minute)) {
		t.Fatalf("the replay reached %v of a recording ending %v: it was not stopped in the middle", reached, end)
	}
	code, out, errs := waybill(t, "", "log", "show", "--data", data, "--limit", "100000")
	if code != 0 {
		t.Fatal(errs)
	}
	n := strings.Count(out, "\n")
	if n == 0 {
		t.Fatalf("no events in the log:\n%s", stdout.String())
	}
	_, note, ok := strings.Cut(stdout.String(), "final checkpoint:\n")
	if lines := strings.Split(note, "\n"); !ok || len(lines) < 2 || lines[1] != strconv.Itoa(n) {
		t.Errorf("the checkpoint signed at shutdown does not cover the %d events logged:\n%s", n, stdout.String())
	}
	if code, _, errs := waybill(t, "", "log", "check", "--data", data); code != 0 {
		t.Fatalf("log check: %s", errs)
	}
}

// A gpsd receiver log replays as it is, through the configuration's GNSS
// sensor alone, on a clock that starts at the log's first fix.
func TestCLI_RunReplayGpsdLog(t *testing.T) {
	log := filepath.Join(gpsdLogs, "ublox-lea-5h.log")
	if _, err := os.Stat(log); err != nil {
		t.Skipf("shared gpsd logs absent: %v", err)
	}
	dir, key, _, _ := keyed(t)
	code, out, errs := waybill(t, "", "run", "--config", vanConfig, "--replay", log, "--data", filepath.Join(dir, "log"), "--key", key)
	if code != 0 || !strings.Contains(out, "replayed 2010-08-21T08:37:23Z") || !strings.Contains(out, "position 1") ||
		strings.Contains(out, "cabin") || !strings.Contains(out, "gnss       ok") {
		t.Fatalf("replay of a gpsd log = %d:\n%s\n%s", code, out, errs)
	}
}

// demoRoot returns the root line the demo prints.
func demoRoot(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Final checkpoint") {
			return l
		}
	}
	t.Fatalf("no final checkpoint in:\n%s", out)
	return ""
}

// The replay gives the same events on a Raspberry Pi's 64-bit ARM as here:
// the rules' floating-point geometry is not allowed to drift between
// architectures (Go may fuse multiply-adds on arm64). The arm64 build runs
// under qemu-user.
func TestCLI_DemoSameRootOnARM64(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds and emulates the demo")
	}
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Skip("qemu-aarch64 missing (make test installs qemu-user)")
	}
	bin := filepath.Join(t.TempDir(), "waybill-arm64")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(qemu, bin, "demo", "--data", filepath.Join(t.TempDir(), "arm")).Output()
	if err != nil {
		t.Fatalf("demo under qemu-aarch64: %v", err)
	}
	code, here, errs := waybill(t, "", "demo", "--data", filepath.Join(t.TempDir(), "here"))
	if code != 0 {
		t.Fatal(errs)
	}
	if a, b := demoRoot(t, string(out)), demoRoot(t, here); a != b {
		t.Errorf("arm64: %s\nhere:  %s", a, b)
	}
}

// The demo publishes to its in-process broker and anchors to its
// in-process chain; anchor status reads what it anchored from the store.
func TestCLI_DemoSyncAndAnchorStatus(t *testing.T) {
	data := filepath.Join(t.TempDir(), "demo")
	code, out, errs := waybill(t, "", "demo", "--data", data)
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, errs)
	}
	for _, w := range []string{"a subscriber received and verified 242 of them", "verified 242/242 events on chain"} {
		if !strings.Contains(out, w) {
			t.Errorf("demo output lacks %q:\n%s", w, out)
		}
	}
	code, out, errs = waybill(t, "", "anchor", "status", "--data", data)
	if code != 0 || !strings.Contains(out, "last confirmed: ") || !strings.Contains(out, " size 242 ") || strings.Contains(out, "in flight") {
		t.Fatalf("anchor status = %d:\n%s\n%s", code, out, errs)
	}
	code, out, _ = waybill(t, "", "anchor", "status", "--data", data, "--evidence")
	if code != 0 || !strings.Contains(out, `"ledger":"eip155:1337"`) {
		t.Fatalf("anchor status --evidence = %d:\n%.300s", code, out)
	}
	if code, _, errs := waybill(t, "", "anchor", "status", "--data", t.TempDir()); code == 0 || !strings.Contains(errs, "has no anchor store") {
		t.Errorf("anchor status without a store: %d %s", code, errs)
	}
}
