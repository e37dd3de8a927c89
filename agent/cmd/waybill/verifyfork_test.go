package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

// TestVerify_Fork: `waybill verify` detects fork evidence (the watcher's,
// firmware-docs/testdata/fork) and exits 0 when it proves a fork, 1 when it
// does not (artefacts changed, or pinned to another device or chain), 2 on
// a usage mistake.
func TestVerify_Fork(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "firmware-docs", "testdata", "fork")
	for _, name := range []string{"events.json", "not-a-prefix.json", "does-not-extend.json"} {
		path := filepath.Join(dir, name)
		code, out, errs := waybill(t, "", "verify", path)
		if code != 0 || !strings.HasPrefix(out, "OK: fork: device 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23 signed ") {
			t.Errorf("verify %s: exit %d, %q %q; want 0 and the fork", name, code, out, errs)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The same artefact twice proves nothing; an artefact changed
		// anywhere no longer verifies.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m["b"] = m["a"]
		same, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(data)
		i := bytes.Index(flipped, []byte(`"b":"`)) + 40
		flipped[i] ^= 0x01
		for what, in := range map[string]string{"b = a": string(same), "one byte of b changed": string(flipped)} {
			code, out, errs := waybill(t, in, "verify", "--form", "fork", "-")
			if code != 1 || out != "" || !strings.Contains(errs, "INVALID fork -") {
				t.Errorf("%s, %s: exit %d, %q %q; want 1 and INVALID", name, what, code, out, errs)
			}
		}
		for _, pin := range [][]string{{"--chain-id", "5"}, {"--device", "0x0000000000000000000000000000000000000001"}, {"--fleet", "north"}} {
			if code, _, errs := waybill(t, "", append(append([]string{"verify"}, pin...), path)...); code != 1 {
				t.Errorf("%s pinned %v: exit %d, %q; want 1", name, pin, code, errs)
			}
		}
	}
	if code, _, errs := waybill(t, "", "verify", "--device", "nope", filepath.Join(dir, "events.json")); code != 2 {
		t.Errorf("verify --device nope: exit %d, %q; want 2", code, errs)
	}
}

// TestVerify_WatcherForkEvidence: the evidence a watcher keeps when a device
// equivocates or rewrites its history proves the fork to `waybill verify`.
// (The watcher is linked into this test only, never into the binary.)
func TestVerify_WatcherForkEvidence(t *testing.T) {
	ctx := context.Background()
	k := eventlogtest.Key(t)
	logOf := func(first int) *eventlog.Log {
		l := eventlogtest.Open(t, t.TempDir(), nil)
		t.Cleanup(func() { l.Close() })
		for i := first; i < first+6; i++ {
			if _, err := l.Append(ctx, eventlogtest.Event(i)); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	honest, fork := logOf(0), logOf(100)
	message := func(l *eventlog.Log, seq uint64) []byte {
		leaf, err := l.Leaf(seq)
		if err != nil {
			t.Fatal(err)
		}
		return (&feed.Message{Origin: l.Origin(), Seq: seq, Leaf: leaf}).Marshal()
	}
	note := func(l *eventlog.Log) []byte {
		n, _, err := l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	vkey, err := k.VerifierKey(signer.KeyName("test-fleet", k.Address()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := watch.OpenBolt(filepath.Join(t.TempDir(), "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w, err := watch.New(watch.Trust{Operators: []watch.Operator{{Name: "vans", Devices: []watch.Device{
		{Address: k.Address(), Fleet: "test-fleet", ChainID: 1337, NoteKey: vkey}}}}}, a)
	if err != nil {
		t.Fatal(err)
	}
	tp := feed.TopicsFor("test-fleet", k.Address())
	for seq := range uint64(6) {
		if _, err := w.Handle(ctx, tp.Events, message(honest, seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{tp.Checkpoints, string(note(honest))}, {tp.Events, string(message(fork, 2))}, {tp.Checkpoints, string(note(fork))}} {
		if _, err := w.Handle(ctx, m[0], []byte(m[1])); err != nil {
			t.Fatal(err)
		}
	}
	var alarms []watch.Alarm
	if err := a.Alarms(ctx, func(al watch.Alarm) bool { alarms = append(alarms, al); return true }); err != nil {
		t.Fatal(err)
	}
	if len(alarms) != 2 || alarms[0].Reason != watch.ReasonEquivocation || alarms[1].Reason != watch.ReasonInconsistent {
		t.Fatalf("alarms %+v, want equivocation and inconsistent", alarms)
	}
	for _, al := range alarms {
		path := filepath.Join(t.TempDir(), "evidence.json")
		if err := os.WriteFile(path, al.Evidence, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errs := waybill(t, "", "verify", "--device", k.Address().String(), "--vkey", vkey, path)
		if code != 0 || !strings.HasPrefix(out, "OK: fork: ") {
			t.Errorf("verify the %s evidence: exit %d, %q %q", al.Reason, code, out, errs)
		}
		t.Logf("%s: %s", al.Reason, out)
	}
}
