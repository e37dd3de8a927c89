package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// waybill runs the CLI in-process and returns its exit code and output.
func waybill(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// keyed creates a key in a temp dir and returns the key path, the verifier
// key and the device address.
func keyed(t *testing.T) (dir, key, vkey, addr string) {
	t.Helper()
	return keyedFleet(t, "cli-test")
}

// keyedFleet is keyed with the verifier key of fleet.
func keyedFleet(t *testing.T, fleet string) (dir, key, vkey, addr string) {
	t.Helper()
	dir = t.TempDir()
	key = filepath.Join(dir, "device.key")
	t.Setenv("WAYBILL_PASSPHRASE", "test passphrase")
	code, out, errs := waybill(t, "", "keygen", "--key", key, "--fleet", fleet)
	if code != 0 {
		t.Fatalf("keygen exit %d: %s", code, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "verifier key:"); ok {
			vkey = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "device address:"); ok {
			addr = strings.TrimSpace(v)
		}
	}
	if vkey == "" || addr == "" {
		t.Fatalf("keygen output lacks the verifier key or address:\n%s", out)
	}
	return dir, key, vkey, addr
}

const events = `{"kind":"delivery","payload":{"parcel":"04A13C2F","lat":50.8476,"lon":4.3537},"time":1795766400000,"time_source":"gnss"}
{"kind":"door_opened","payload":{"door":"rear"}}
this is not json
{"kind":"teleported","payload":{}}
{"kind":"position","payload":{"lat":50.85,"lon":4.35,"speed_mps":3.5}}
`

func TestCLI_KeygenAppendProveVerify(t *testing.T) {
	dir, key, vkey, addr := keyed(t)
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	data := filepath.Join(dir, "log")
	code, out, errs := waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337")
	if code == 0 {
		t.Fatalf("append with two bad lines exited 0")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"0", "1", "error: line 3:", "error: line 4: invalid event: unknown kind \"teleported\"", "2"}
	if len(lines) != len(want) {
		t.Fatalf("append output:\n%s\nstderr: %s", out, errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
	if !strings.Contains(errs, "2 input line(s) not appended") {
		t.Errorf("stderr %q does not report the skipped lines", errs)
	}
	code, cpNote, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key)
	if code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	// Stock tools verify the checkpoint with the verifier key keygen printed.
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("note.NewVerifier(%q): %v", vkey, err)
	}
	n, err := note.Open([]byte(cpNote), note.VerifierList(v))
	if err != nil {
		t.Fatalf("sumdb/note rejects the checkpoint: %v\n%s", err, cpNote)
	}
	if !strings.HasPrefix(n.Text, "waybill/cli-test/"+addr+"/0\n3\n") {
		t.Fatalf("checkpoint text = %q", n.Text)
	}
	code, shown, _ := waybill(t, "", "log", "show", "--data", data, "--from", "1", "--limit", "1")
	if code != 0 || strings.Count(shown, "\n") != 1 || !strings.Contains(shown, `"seq":1`) || !strings.Contains(shown, `"leaf":"`) {
		t.Fatalf("show = %d %q", code, shown)
	}
	code, bundle, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "0")
	if code != 0 {
		t.Fatalf("prove: %s", errs)
	}
	bpath := filepath.Join(dir, "bundle.json")
	os.WriteFile(bpath, []byte(bundle), 0o644)
	if code, out, errs := waybill(t, "", "verify", "--device", addr, "--vkey", vkey, bpath); code != 0 {
		t.Fatalf("verify = %d %s %s", code, out, errs)
	}
	other := "0x" + strings.Repeat("ab", 20)
	if code, _, errs := waybill(t, "", "verify", "--device", other, bpath); code != 1 || strings.Count(errs, "\n") != 1 {
		t.Fatalf("verify for another device = %d, %q; want exit 1 with one line", code, errs)
	}
	os.WriteFile(bpath, []byte(strings.Replace(bundle, `"seq":0`, `"seq":1`, 1)), 0o644)
	if code, _, _ := waybill(t, "", "verify", bpath); code != 1 {
		t.Fatalf("verify of a tampered bundle exited %d", code)
	}
	code, tp, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "2", "--format", "tlog-proof")
	if code != 0 || !strings.HasPrefix(tp, "c2sp.org/tlog-proof@v1\n") {
		t.Fatalf("prove --format tlog-proof = %d %q %s", code, tp, errs)
	}
	code, cons, errs := waybill(t, "", "log", "consistency", "--data", data, "--from", "1", "--to", "3")
	if code != 0 || !strings.Contains(cons, `"old_size":1`) || !strings.Contains(cons, `"consistency":[`) {
		t.Fatalf("consistency = %d %q %s", code, cons, errs)
	}
}

func TestCLI_KeyErrors(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	t.Setenv("WAYBILL_PASSPHRASE", "wrong")
	code, _, errs := waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337")
	if code == 0 || !strings.Contains(errs, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %d %q", code, errs)
	}
	t.Setenv("WAYBILL_PASSPHRASE", "test passphrase")
	os.Chmod(key, 0o644)
	code, _, errs = waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337")
	if code == 0 || !strings.Contains(errs, "chmod 600 "+key) {
		t.Fatalf("world-readable key: %d %q", code, errs)
	}
	os.Chmod(key, 0o600)
	code, _, errs = waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test")
	if code != 2 || !strings.Contains(errs, "--chain-id") {
		t.Fatalf("creating a log without --chain-id: %d %q", code, errs)
	}
	if code, _, errs := waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 1 {
		t.Fatalf("append: %d %s", code, errs)
	}
	code, _, errs = waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "other")
	if code != 1 || !strings.Contains(errs, "--fleet other, but the log in "+data+" was created for fleet cli-test") {
		t.Fatalf("append with another fleet: %d %q", code, errs)
	}
	os.Unsetenv("WAYBILL_PASSPHRASE")
	code, _, errs = waybill(t, "", "keygen", "--key", filepath.Join(dir, "k2"))
	if code == 0 || !strings.Contains(errs, "WAYBILL_PASSPHRASE") {
		t.Fatalf("keygen without passphrase: %d %q", code, errs)
	}
	code, _, errs = waybill(t, "", "log", "prove", "--data", data, "--seq", "x")
	if code != 2 || !strings.Contains(errs, "--seq") {
		t.Fatalf("bad --seq: %d %q", code, errs)
	}
	code, _, errs = waybill(t, "", "log", "show", "--data", data, "--frm", "1")
	if code != 2 || !strings.Contains(errs, "frm") {
		t.Fatalf("unknown flag: %d %q", code, errs)
	}
}

// TestCLI_DaemonServesReaders runs the daemon and checks that the read
// commands work through its socket and that a second writer is refused
// without waiting for the lock, with the holder named.
func TestCLI_DaemonServesReaders(t *testing.T) {
	dir, key, vkey, _ := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var derr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"run", "--data", data, "--key", key}, strings.NewReader(""), &bytes.Buffer{}, &derr)
	}()
	sock := filepath.Join(data, "waybill.sock")
	for deadline := time.After(runDeadline); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("daemon exited %d before serving: %s", code, derr.String())
		case <-deadline:
			t.Fatalf("daemon socket has not appeared after %v: %s", runDeadline, derr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	code, out, errs := waybill(t, `{"kind":"manual","payload":{"note":"via socket"}}`+"\n", "log", "append", "--data", data)
	if code != 0 || strings.TrimSpace(out) != "3" {
		t.Fatalf("append through the daemon = %d %q %s", code, out, errs)
	}
	if code, out, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 || !strings.Contains(out, "\n4\n") {
		t.Fatalf("checkpoint through the daemon = %d %q %s", code, out, errs)
	}
	if code, out, _ := waybill(t, "", "log", "show", "--data", data); code != 0 || strings.Count(out, "\n") != 4 {
		t.Fatalf("show through the daemon = %d %q", code, out)
	}
	code, bundle, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "3")
	if code != 0 {
		t.Fatalf("prove through the daemon: %s", errs)
	}
	bpath := filepath.Join(dir, "b.json")
	os.WriteFile(bpath, []byte(bundle), 0o644)
	if code, _, errs := waybill(t, "", "verify", "--vkey", vkey, bpath); code != 0 {
		t.Fatalf("verify: %s", errs)
	}
	// The same bundle from the event as its holder kept it (as for an
	// event whose payload was pruned), through the socket; another
	// event's copy is refused.
	for seq, want := range map[string]string{"3": bundle, "2": ""} {
		_, line, _ := waybill(t, "", "log", "show", "--data", data, "--from", seq, "--limit", "1")
		kept := filepath.Join(dir, "kept"+seq+".json")
		os.WriteFile(kept, []byte(line), 0o644)
		code, got, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "3", "--leaf", kept)
		if want != "" && (code != 0 || got != want) {
			t.Fatalf("prove --leaf through the daemon = %d %s\n%s\nwant\n%s", code, errs, got, want)
		}
		if want == "" && (code == 0 || !strings.Contains(errs, "is not event 3")) {
			t.Fatalf("prove --leaf with event 2's copy = %d %s", code, errs)
		}
	}
	if code, out, _ := waybill(t, "", "log", "consistency", "--data", data, "--from", "3", "--to", "4"); code != 0 || !strings.Contains(out, `"new_size":4`) {
		t.Fatalf("consistency through the daemon = %d %q", code, out)
	}
	// A second writer in another process: refused, holder named, without
	// waiting for the lock (a writer that waits is still running at the
	// deadline).
	bin := buildWaybill(t)
	wctx, wcancel := context.WithTimeout(context.Background(), runDeadline)
	defer wcancel()
	cmd := exec.CommandContext(wctx, bin, "run", "--data", data, "--key", key)
	cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
	outb, err := cmd.CombinedOutput()
	if wctx.Err() != nil {
		t.Fatalf("second writer still running after %v: it waits for the lock instead of refusing: %s", runDeadline, outb)
	}
	if err == nil {
		t.Fatalf("second writer started: %s", outb)
	}
	if !strings.Contains(string(outb), "in use") || !strings.Contains(string(outb), "pid ") {
		t.Fatalf("second writer's error does not name the holder: %s", outb)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("daemon exited %d: %s", code, derr.String())
	}
}

func buildWaybill(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "waybill")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDeps: the binary never links the testing package.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "testing" || strings.HasPrefix(p, "net/http/httptest") {
			t.Errorf("waybill links %s", p)
		}
	}
}

// TestCLI_DemoMoved: the demo is not in the device binary; asking for it
// names where it is.
func TestCLI_DemoMoved(t *testing.T) {
	code, out, errs := waybill(t, "", "demo", "--data", t.TempDir())
	if code != 2 || out != "" || !strings.Contains(errs, "make run") || !strings.Contains(errs, "bin/waybill-demo") {
		t.Fatalf("waybill demo = %d, stdout %q, stderr %q; want exit 2 naming make run and bin/waybill-demo", code, out, errs)
	}
	if code, out, _ := waybill(t, "", "help"); code != 0 || strings.Contains(out, "waybill demo") {
		t.Errorf("waybill help = %d, lists demo:\n%s", code, out)
	}
}

// TestCLI_Bench runs a short bench twice. The JSON holds exactly the
// fields operators script against, with the log filled to --events. The
// text run shows its five paired rounds (the signing baseline and the
// append rate measured beside it), and its figures are computed from them:
// each rate is the median of its rounds, the ratio the median of the
// rounds' append/sign ratios. No figure is held to a speed: speed belongs
// to benchmarks.
func TestCLI_Bench(t *testing.T) {
	code, out, errs := waybill(t, "", "bench", "--events", "2000", "--round", "50ms", "--json")
	if code != 0 {
		t.Fatalf("bench exit %d: %s", code, errs)
	}
	var r map[string]float64
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	fields := []string{"appends_per_sec", "signs_per_sec", "ratio", "proof_ms", "open_ms", "events", "peak_rss_mib", "peak_anon_mib"}
	for _, k := range fields {
		if v, ok := r[k]; !ok || v <= 0 {
			t.Errorf("bench field %s = %v (present %v)", k, v, ok)
		}
	}
	if len(r) != len(fields) {
		t.Errorf("bench --json has %d fields, want %d (%v): %s", len(r), len(fields), fields, out)
	}
	if r["events"] < 2000 || r["events"] != math.Trunc(r["events"]) {
		t.Errorf("events = %v, want a whole number of at least 2000", r["events"])
	}

	code, out, errs = waybill(t, "", "bench", "--events", "2000", "--round", "50ms")
	if code != 0 {
		t.Fatalf("bench exit %d: %s", code, errs)
	}
	rounds := regexp.MustCompile(`round (\d+): (\d+) signatures/s, (\d+) signed\+durable appends/s`).FindAllStringSubmatch(errs, -1)
	if len(rounds) != 5 {
		t.Fatalf("bench printed %d rounds, want 5:\n%s", len(rounds), errs)
	}
	var signs, appends, ratios []float64
	ratioTol := 0.001 // the printed ratio's three decimals, and each round's whole rates:
	for i, m := range rounds {
		s, _ := strconv.ParseFloat(m[2], 64)
		a, _ := strconv.ParseFloat(m[3], 64)
		if m[1] != strconv.Itoa(i+1) || s <= 0 || a <= 0 {
			t.Fatalf("round line %q: want round %d with both rates above 0", m[0], i+1)
		}
		signs, appends, ratios = append(signs, s), append(appends, a), append(ratios, a/s)
		ratioTol = max(ratioTol, 0.001+a/s*(1/a+1/s))
	}
	got := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				got[f[0]] = v
			}
		}
	}
	// The rounds print whole rates; the summary's figures may differ from
	// the medians of those by that rounding.
	for _, c := range []struct {
		field string
		want  float64
		tol   float64
	}{
		{"signs_per_sec", median(signs), 1},
		{"appends_per_sec", median(appends), 1},
		{"ratio", median(ratios), ratioTol},
	} {
		if v, ok := got[c.field]; !ok || math.Abs(v-c.want) > c.tol {
			t.Errorf("%s = %v (printed %v), want %v ± %v from the rounds:\n%s\n%s", c.field, v, ok, c.want, c.tol, errs, out)
		}
	}
	if code, _, errs := waybill(t, "", "bench", "--events", "10"); code != 2 || !strings.Contains(errs, "--events") {
		t.Errorf("bench --events 10 = %d %q", code, errs)
	}
}

// median is the median of x as agent/bench takes it: the upper one of an
// even count.
func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestCLI_StaleSocket: a socket file left by an agent that died does not
// stop the read commands.
func TestCLI_StaleSocket(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key)
	os.WriteFile(filepath.Join(data, "waybill.sock"), nil, 0o600)
	if code, out, errs := waybill(t, "", "log", "show", "--data", data); code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("show with a stale socket = %d %q %s", code, out, errs)
	}
}

// seedLog creates the log in data from the events fixture: three appended,
// two bad lines reported (exit 1).
func seedLog(t *testing.T, data, key string) {
	t.Helper()
	if code, _, errs := waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 1 {
		t.Fatalf("seed append = %d: %s", code, errs)
	}
}
