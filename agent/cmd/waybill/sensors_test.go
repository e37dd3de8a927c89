package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// summaryCounts reads the "events:" section of a replay's summary.
func summaryCounts(t *testing.T, out string) map[string]int {
	t.Helper()
	_, sec, ok := strings.Cut(out, "events:\n")
	if !ok {
		t.Fatalf("no events: section in:\n%s", out)
	}
	n := map[string]int{}
	for _, line := range strings.Split(sec, "\n") {
		f := strings.Fields(line)
		if !strings.HasPrefix(line, "  ") || len(f) != 2 {
			break
		}
		c, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("summary line %q: %v", line, err)
		}
		n[f[0]] = c
	}
	return n
}

// excursions counts, from the raw DS18B20 scratchpads of the recording at
// path (the reads of probe rom after a Convert T), the cold-chain
// excursions of a rule [minC, maxC] held for after: how many started and
// how many of those ended. It decodes the recording itself, not through
// the drivers or rules under test.
func excursions(t *testing.T, path, rom string, minC, maxC float64, after time.Duration) (starts, ends int) {
	t.Helper()
	sc := bufio.NewScanner(openRecording(t, path))
	sc.Buffer(nil, 1<<20)
	converted, in := false, false
	var outSince int64 = -1
	for sc.Scan() {
		var op struct {
			T   int64  `json:"t"`
			Bus string `json:"bus"`
			W   string `json:"w"`
			R   string `json:"r"`
		}
		if json.Unmarshal(sc.Bytes(), &op) != nil || op.Bus != "w1" {
			continue
		}
		if op.W == "cc44" {
			converted = true
		}
		if !converted || op.W != "55"+rom+"be" || len(op.R) < 4 {
			continue
		}
		lsb, err1 := strconv.ParseUint(op.R[0:2], 16, 8)
		msb, err2 := strconv.ParseUint(op.R[2:4], 16, 8)
		if err1 != nil || err2 != nil {
			t.Fatalf("scratchpad %q", op.R)
		}
		c := float64(int16(msb<<8|lsb)) / 16
		switch {
		case c >= minC && c <= maxC:
			if in {
				ends++
			}
			in, outSince = false, -1
		case outSince < 0:
			outSince = op.T
		}
		if outSince >= 0 && !in && time.Duration(op.T-outSince)*time.Millisecond >= after {
			in = true
			starts++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return starts, ends
}

// checkReplaySummary checks the events a replay of the Brussels round
// reports against what is derived without the rules under test: a
// delivery per label the tag driver decodes from the recording, an
// excursion start and end per cold-chain excursion in the recording's raw
// DS18B20 readings (configs/van.yaml's rule: box-front, 2–8 °C, 5
// minutes), every door opened closed again, and a round that starts and
// ends in the depot (one zone entered more than left). The one shock is
// the round's one harsh braking (testbench/fleet's Brussels scenario); the
// recording holds no sensor fault.
func checkReplaySummary(t *testing.T, out string) {
	t.Helper()
	n := summaryCounts(t, out)
	code, tags, errs := waybill(t, "", "sensors", "decode", "--config", vanConfig, "--sensor", "tags", brusselsRec)
	if code != 0 {
		t.Fatalf("sensors decode: %s", errs)
	}
	starts, ends := excursions(t, brusselsRec, "28ff4a6b711603f8", 2, 8, 5*time.Minute)
	for _, c := range []struct {
		kind string
		want int
	}{
		{"delivery", strings.Count(tags, "\n")},
		{"temperature_excursion", starts + ends},
		{"door_closed", n["door_opened"]},
		{"zone_entered", n["zone_left"] + 1},
		{"shock", 1},
	} {
		if n[c.kind] != c.want {
			t.Errorf("%s: %d events, want %d:\n%s", c.kind, n[c.kind], c.want, out)
		}
	}
	if n["delivery"] == 0 || starts == 0 || n["door_opened"] == 0 || n["zone_left"] == 0 {
		t.Errorf("the round lacks deliveries, an excursion, door or zone events (%v, %d excursions)", n, starts)
	}
	if !strings.Contains(out, " 0 sensor faults") {
		t.Errorf("summary reports sensor faults:\n%s", out)
	}
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
		checkReplaySummary(t, out)
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

// openRecording opens the gzipped recording at path for the test; it is
// closed when the test ends.
func openRecording(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// recordingEnd returns the end its header gives the recording at path.
func recordingEnd(t *testing.T, path string) time.Time {
	t.Helper()
	z := openRecording(t, path)
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

// sliceRecording writes the first d of the recording at path to a new
// file in dir and returns its path: the header with its end moved to
// start+d, the operations before d, then the drivers' closing operations
// (the trailing operations of the recording's last instant on the buses
// that are closed, all but the door's GPIO line), moved to the slice's last
// instant.
func sliceRecording(t *testing.T, path, dir string, d time.Duration) string {
	t.Helper()
	sc := bufio.NewScanner(openRecording(t, path))
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatalf("%s: no header: %v", path, sc.Err())
	}
	var h map[string]json.RawMessage
	var start time.Time
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || json.Unmarshal(h["start"], &start) != nil {
		t.Fatalf("%s: header %q: %v", path, sc.Bytes(), err)
	}
	h["end"], _ = json.Marshal(start.Add(d))
	type op struct {
		T   int64  `json:"t"`
		Bus string `json:"bus"`
	}
	var kept []string
	var last []op // the operations of the latest instant, in order
	var lastLines []map[string]json.RawMessage
	var keptT int64
	for sc.Scan() {
		var o op
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil || json.Unmarshal(sc.Bytes(), &m) != nil || m["t"] == nil {
			t.Fatalf("%s: operation %q: %v", path, sc.Bytes(), err)
		}
		if o.T < d.Milliseconds() {
			kept, keptT = append(kept, sc.Text()), o.T
		}
		if len(last) > 0 && last[0].T != o.T {
			last, lastLines = last[:0], lastLines[:0]
		}
		last, lastLines = append(last, o), append(lastLines, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	i := len(last)
	for i > 0 && !strings.HasPrefix(last[i-1].Bus, "GPIO") {
		i--
	}
	if i == len(last) {
		t.Fatalf("%s: no closing operations at its last instant", path)
	}
	for _, m := range lastLines[i:] {
		m["t"], _ = json.Marshal(keptT)
		b, _ := json.Marshal(m)
		kept = append(kept, string(b))
	}
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	hb, _ := json.Marshal(h)
	fmt.Fprintf(w, "%s\n%s\n", hb, strings.Join(kept, "\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "slice.jsonl.gz")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("the first %v of %s: %d operations, %d of them closing", d, path, len(kept), len(last)-i)
	return out
}

// qemuDeadline bounds a run under qemu-user: many times what it takes on a
// loaded machine, so that only a hung or runaway emulation fails on it.
const qemuDeadline = 10 * time.Minute

// The replay gives the same events on a Raspberry Pi's 64-bit ARM as here:
// the rules' floating-point geometry is not allowed to drift between
// architectures (Go may fuse multiply-adds on arm64). The arm64 build runs
// under qemu-user, on the first 17 minutes of the Brussels round: zone
// entries and exits (the depot, the Pentagon, two loading bays), the first
// drop's deliveries and doors, a harsh braking and the positions between
// them, at a third of the whole round's cost under emulation.
func TestCLI_ReplaySameRootOnARM64(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds and emulates a replay")
	}
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Skip("qemu-aarch64 missing (make test installs qemu-user)")
	}
	dir, key, _, _ := keyed(t)
	rec := sliceRecording(t, brusselsRec, dir, 17*time.Minute)
	bin := filepath.Join(t.TempDir(), "waybill-arm64")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), qemuDeadline)
	defer cancel()
	arm := exec.CommandContext(ctx, qemu, bin, "run", "--config", vanConfig, "--replay", rec, "--data", filepath.Join(dir, "arm"), "--key", key)
	var aout, aerr bytes.Buffer
	arm.Stdout, arm.Stderr = &aout, &aerr
	if err := arm.Run(); err != nil {
		if ctx.Err() != nil {
			t.Fatalf("the replay under qemu-aarch64 has not finished after %v:\n%s", qemuDeadline, aerr.String())
		}
		t.Fatalf("replay under qemu-aarch64: %v\n%s", err, aerr.String())
	}
	code, here, errs := waybill(t, "", "run", "--config", vanConfig, "--replay", rec, "--data", filepath.Join(dir, "here"), "--key", key)
	if code != 0 {
		t.Fatal(errs)
	}
	if a, b := finalRoot(t, aout.String()), finalRoot(t, here); a != b {
		t.Errorf("arm64: %s\nhere:  %s", a, b)
	}
	if !strings.Contains(here, "zone_entered ") || !strings.Contains(here, "position ") {
		t.Errorf("the slice gave no zone entry or position: it does not exercise the geometry:\n%s", here)
	}
}
