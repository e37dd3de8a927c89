package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/agent/verify/prove"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/watchbench"
)

func watchCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := Main(context.Background(), args, &out, &errs)
	return code, out.String(), errs.String()
}

// archived fills the archive of configuration c with the agent's events
// 0..n-1 and its checkpoint of size cp, as the watcher verifies them.
func archived(t *testing.T, path string, a *agent, n uint64, note []byte) {
	t.Helper()
	c := loadConfig(t, path)
	arc, closeArc, err := OpenArchive(context.Background(), c.Archive)
	if err != nil {
		t.Fatal(err)
	}
	defer closeArc()
	w, err := watch.New(c.Trust, arc)
	if err != nil {
		t.Fatal(err)
	}
	topics := feed.TopicsFor(testFleet, a.key.Address())
	for seq := range n {
		leaf, err := a.log.Leaf(seq)
		if err != nil {
			t.Fatal(err)
		}
		m := feed.Message{Origin: a.log.Origin(), Seq: seq, Leaf: leaf}
		if v, err := w.Handle(context.Background(), topics.Events, m.Marshal()); err != nil || v.State == watch.StateRejected {
			t.Fatalf("event %d: %+v %v", seq, v, err)
		}
	}
	if v, err := w.Handle(context.Background(), topics.Checkpoints, note); err != nil || v.State != watch.StateVerified {
		t.Fatalf("checkpoint: %+v %v", v, err)
	}
}

func TestExport(t *testing.T) {
	van := key(t, eventlogtest.KeyHex)
	a := newAgent(t, van, 12)
	note, _, err := a.log.Latest()
	if err != nil {
		t.Fatal(err)
	}
	a.append(t, 12, 15) // three events beyond the checkpoint the watcher sees
	c := writeConfig(t, "tcp://127.0.0.1:1", van)
	archived(t, c.File, a, 15, note)

	dir := t.TempDir()
	code, out, errs := watchCmd(t, "export", "--config", c.File, "--device", van.Address().String(), "--out", dir)
	if code != 0 || out != "12 bundles in "+dir+"; 3 events are in no verified checkpoint yet\n" {
		t.Fatalf("export bundles: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "epoch-0", "*.json"))
	if len(files) != 12 {
		t.Fatalf("%d bundle files, want 12", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := verify.ParseBundle(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		addr := van.Address()
		if err := b.Verify(verify.Options{Device: &addr, Fleet: testFleet, ChainID: testChainID}); err != nil {
			t.Errorf("%s does not verify: %v", f, err)
		}
	}

	code, out, errs = watchCmd(t, "export", "--config", c.File, "--device", van.Address().String(), "--format", "jsonl")
	lines := strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 15 {
		t.Fatalf("export jsonl: exit %d, %d lines, stderr %q", code, len(lines), errs)
	}
	for i, l := range lines {
		e, err := prove.ParseEventLine([]byte(l))
		if err != nil || e.Seq != uint64(i) {
			t.Errorf("line %d: %v (seq %v)", i, err, e)
		}
	}

	code, out, errs = watchCmd(t, "export", "--config", c.File, "--device", van.Address().String(), "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 16 {
		t.Fatalf("export csv: exit %d, %d rows (%v), stderr %q", code, len(rows), err, errs)
	}
	if h := strings.Join(rows[0], ","); h != "device,fleet,epoch,seq,time,time_source,kind,state,leaf_hash,payload" {
		t.Errorf("csv header %q", h)
	}
	if rows[1][7] != "checkpointed" || rows[15][7] != "verified" || rows[1][0] != van.Address().String() {
		t.Errorf("csv rows: %q, %q", rows[1], rows[15])
	}

	// A time window keeps the events of [from, to).
	e, _ := prove.ParseEventLine([]byte(lines[3]))
	from := e.Time
	code, out, _ = watchCmd(t, "export", "--config", c.File, "--device", van.Address().String(), "--format", "jsonl",
		"--from", timeText(from), "--to", timeText(from+1))
	for _, l := range strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n") {
		e, err := prove.ParseEventLine([]byte(l))
		if code != 0 || err != nil || e.Time != from {
			t.Errorf("export --from --to: exit %d, line %q (%v)", code, l, err)
		}
	}
}

func TestMain_ExitStatus(t *testing.T) {
	van := key(t, eventlogtest.KeyHex)
	c := writeConfig(t, "tcp://127.0.0.1:1", van)
	stranger := key(t, strangerKeyHex).Address().String()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("operators:\n  - name: x\n    devices: []\nbrokers:\n  - url: http://b\narchiv:\n  bolt: a.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		exit int
		args []string
		err  string
	}{
		{0, []string{"help"}, ""},
		{0, []string{"export", "-h"}, ""},
		{2, nil, "no command given"},
		{2, []string{"nope"}, `unknown command "nope"`},
		{2, []string{"run"}, "run: --config is required"},
		{2, []string{"run", "--config", c.File, "--log-level", "loud"}, `--log-level "loud"`},
		{2, []string{"export", "--config", c.File, "--device", "0x12", "--format", "csv"}, `--device "0x12"`},
		{2, []string{"export", "--config", c.File, "--device", stranger}, "give --out DIR"},
		{2, []string{"export", "--config", c.File, "--device", stranger, "--format", "xml"}, `--format "xml"`},
		{2, []string{"export", "--config", c.File, "--device", stranger, "--format", "csv", "--from", "yesterday"}, "RFC 3339"},
		{1, []string{"export", "--config", c.File, "--device", stranger, "--format", "csv"}, "is not in the allowlist"},
		{1, []string{"run", "--config", filepath.Join(t.TempDir(), "absent.yaml")}, "no such file"},
		{2, []string{"keygen", "--name", "w.example/x"}, "--out is required"},
		{1, []string{"run", "--config", bad}, bad + ":3:14: operators[0].devices: must not be empty"},
		{1, []string{"run", "--config", bad}, bad + `:5:10: brokers[0].url: "http://b": scheme "http" is not tcp`},
		{1, []string{"run", "--config", bad}, bad + `:6:1: unknown field "archiv" (did you mean "archive"?)`},
		{1, []string{"export", "--config", bad, "--device", stranger, "--format", "csv"}, `unknown field "archiv"`},
	} {
		code, out, errs := watchCmd(t, tt.args...)
		if code != tt.exit || !strings.Contains(errs, tt.err) {
			t.Errorf("waybill-watch %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, errs, tt.exit, tt.err)
		}
		if code == 0 && out == "" {
			t.Errorf("waybill-watch %s printed nothing", strings.Join(tt.args, " "))
		}
	}
}

func TestKeygen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "w.skey")
	code, stdout, errs := watchCmd(t, "keygen", "--name", "witness.city.example/waybill", "--out", out)
	if code != 0 || !strings.Contains(stdout, "verifier key: witness.city.example/waybill+") {
		t.Fatalf("keygen: exit %d, %q, %q", code, stdout, errs)
	}
	if code, _, errs := watchCmd(t, "keygen", "--name", "witness.city.example/waybill", "--out", out); code != 1 || !strings.Contains(errs, "never overwritten") {
		t.Errorf("keygen over an existing key: exit %d, %q", code, errs)
	}
}

// TestBench runs waybill-watch bench in its shortest form: its JSON is
// the measured Result, the ratio that of its rates.
func TestBench(t *testing.T) {
	code, out, errs := watchCmd(t, "bench", "--round", "10ms", "--devices", "100", "--json")
	if code != 0 {
		t.Fatalf("bench: exit %d, stderr %q", code, errs)
	}
	var r watchbench.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json: %v: %q", err, out)
	}
	if r.RecoversPerSec <= 0 || r.VerifiedPerSec <= 0 || r.Ratio <= 0 || r.DurablePerSec <= 0 || r.Devices != 100 {
		t.Errorf("bench --json = %+v", r)
	}
	if code, _, errs := watchCmd(t, "bench", "--round", "1ms"); code != 2 || !strings.Contains(errs, "--round 1ms is below 10ms") {
		t.Errorf("bench --round 1ms: exit %d, stderr %q", code, errs)
	}
}
