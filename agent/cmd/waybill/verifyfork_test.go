package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
