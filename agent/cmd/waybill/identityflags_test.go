package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIdentity_FlagsAndLog gives log append and log checkpoint a fleet,
// chain ID or key that is not the existing log's: each is refused, naming
// both values and where each came from, with a key or without one, and
// with the log's manifest lost; flags that agree are taken.
func TestIdentity_FlagsAndLog(t *testing.T) {
	dir, key, _, addr := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key) // fleet cli-test, chain 1337
	other := filepath.Join(dir, "other.key")
	code, out, errs := waybill(t, "", "keygen", "--key", other, "--fleet", "cli-test")
	if code != 0 {
		t.Fatalf("keygen: %s", errs)
	}
	otherAddr := strings.TrimSpace(strings.TrimPrefix(strings.Split(out, "\n")[0], "device address:"))
	line := `{"kind":"manual","payload":{"note":"x"}}`
	for _, tt := range []struct {
		name string
		args []string
		want []string // in stderr; none: the command succeeds
	}{
		{"fleet", []string{"log", "append", "--data", data, "--key", key, "--fleet", "south"},
			[]string{"log append: --fleet south, but the log in " + data + " was created for fleet cli-test (manifest.json)"}},
		{"chain ID", []string{"log", "append", "--data", data, "--key", key, "--chain-id", "5"},
			[]string{"log append: --chain-id 5, but the log in " + data + " was created for chain 1337 (manifest.json)"}},
		{"both", []string{"log", "append", "--data", data, "--key", key, "--fleet", "south", "--chain-id", "5"},
			[]string{"--fleet south, but the log in " + data + " was created for fleet cli-test (manifest.json); --chain-id 5, but the log in " + data + " was created for chain 1337 (manifest.json)"}},
		{"key", []string{"log", "append", "--data", data, "--key", other},
			[]string{"log append: the key in " + other + " is device " + otherAddr + ", but the log in " + data + " is device " + addr + "'s (manifest.json)"}},
		{"no key", []string{"log", "append", "--data", data, "--fleet", "south"},
			[]string{"log append: --fleet south, but the log in " + data + " was created for fleet cli-test (manifest.json)"}},
		{"checkpoint without a key", []string{"log", "checkpoint", "--data", data, "--chain-id", "5"},
			[]string{"log checkpoint: --chain-id 5, but the log in " + data + " was created for chain 1337 (manifest.json)"}},
		{"checkpoint with the key", []string{"log", "checkpoint", "--data", data, "--key", key, "--fleet", "south"},
			[]string{"log checkpoint: --fleet south, but the log in " + data + " was created for fleet cli-test (manifest.json)"}},
		{"agreeing", []string{"log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"}, nil},
	} {
		code, _, errs := waybill(t, line, tt.args...)
		if tt.want == nil {
			if code != 0 {
				t.Errorf("%s: exit %d, stderr %q; want 0", tt.name, code, errs)
			}
			continue
		}
		if code != 1 || !strings.HasPrefix(errs, "waybill: ") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and the reason", tt.name, code, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr %q lacks %q", tt.name, errs, w)
			}
		}
	}
	if n := logSize(t, data); n != 4 {
		t.Errorf("the log holds %d events, want 4: a refused command appended", n)
	}
	// Without the manifest the identity comes from the segments' meta.
	if err := os.Rename(filepath.Join(data, "manifest.json"), filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	code, _, errs = waybill(t, line, "log", "append", "--data", data, "--key", key, "--fleet", "south", "--chain-id", "1337")
	if want := "--fleet south, but the log in " + data + " was created for fleet cli-test (segment meta)"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("without the manifest: exit %d, stderr %q; want 1 and %q", code, errs, want)
	}
}

// TestIdentity_RunConfig gives run a configuration and flags or a log
// that disagree with it: a flag is refused as a usage mistake naming the
// configuration's value; a log of another fleet is refused naming the
// configuration's value and the log's.
func TestIdentity_RunConfig(t *testing.T) {
	dir, key, _, _ := keyed(t)
	cfg := filepath.Join("..", "..", "..", "configs", "van.yaml") // fleet brussels-north, chain 1337
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", "south"}, "run: --fleet south disagrees with device.fleet brussels-north in " + cfg},
		{[]string{"--chain-id", "5"}, "run: --chain-id 5 disagrees with device.chain_id 1337 in " + cfg},
	} {
		args := append([]string{"run", "--config", cfg, "--data", filepath.Join(dir, "none"), "--key", key}, tt.args...)
		code, _, errs := waybill(t, "", args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
			t.Errorf("%v: a refused run created the log", tt.args)
		}
	}
	// The configuration's fleet against an existing log of another.
	data := filepath.Join(dir, "log")
	seedLog(t, data, key) // fleet cli-test
	code, _, errs := waybill(t, "", "run", "--config", cfg, "--data", data, "--key", key)
	if want := "device.fleet brussels-north in " + cfg + ", but the log in " + data + " was created for fleet cli-test (manifest.json)"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("run with a configuration of another fleet than the log's: exit %d, stderr %q; want 1 and %q", code, errs, want)
	}
	// Flags that repeat the configuration are taken (the run then stops
	// at the log of another fleet, past the flags).
	code, _, errs = waybill(t, "", "run", "--config", cfg, "--data", data, "--key", key, "--fleet", "brussels-north", "--chain-id", "1337")
	if code != 1 || strings.Contains(errs, "disagrees") || !strings.Contains(errs, "--fleet brussels-north, but the log in "+data+" was created for fleet cli-test") {
		t.Errorf("run with flags repeating the configuration: exit %d, stderr %q", code, errs)
	}
}

// TestIdentity_VerifyDomain gives verify flags that disagree with its
// --domain message: refused, naming each flag and the message's value.
func TestIdentity_VerifyDomain(t *testing.T) {
	td := filepath.Join("..", "..", "..", "firmware-docs", "testdata")
	domain := filepath.Join(td, "feed", "domain.json") // chain 1337, fleet demo, device 0x2c75…
	bundle := filepath.Join(td, "bundle.json")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", "south"}, "--fleet south but --domain " + domain + " says fleet demo"},
		{[]string{"--chain-id", "5"}, "--chain-id 5 but --domain " + domain + " says chain 1337"},
		{[]string{"--device", "0x0000000000000000000000000000000000000001"}, "--device 0x0000000000000000000000000000000000000001 but --domain " + domain + " says device 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"},
	} {
		code, _, errs := waybill(t, "", append(append([]string{"verify", "--domain", domain}, tt.args...), bundle)...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("verify %v: exit %d, stderr %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	if code, _, errs := waybill(t, "", "verify", "--domain", domain, "--fleet", "demo", "--chain-id", "1337", bundle); code != 0 {
		t.Errorf("verify with flags that agree with --domain: exit %d, stderr %q", code, errs)
	}
}

// TestIdentity_ThroughAgent gives log append and log checkpoint, with a
// key and without, a fleet that is not the log's while a running agent
// holds the log: refused before the agent is asked. It also checks
// log append --json through the agent, and the agent's status against
// CLI.md's cli:status.
func TestIdentity_ThroughAgent(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key)
	a := startAgent(t, data, key)
	defer a.stop()
	want := "--fleet south, but the log in " + data + " was created for fleet cli-test (manifest.json)"
	for _, args := range [][]string{
		{"log", "append", "--data", data, "--fleet", "south"},
		{"log", "append", "--data", data, "--key", key, "--fleet", "south"},
		{"log", "checkpoint", "--data", data, "--fleet", "south"},
	} {
		code, _, errs := waybill(t, `{"kind":"manual","payload":{"note":"x"}}`, args...)
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", args, code, errs, want)
		}
	}
	if code, out, errs := waybill(t, `{"kind":"manual","payload":{"note":"x"}}`, "log", "append", "--data", data, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 || out != "3\n" {
		t.Errorf("append through the agent with the log's fleet: exit %d, %q, %q", code, out, errs)
	}
	// log append --json through the agent: the same objects as directly.
	if code, out, errs := waybill(t, "{\"kind\":\"manual\",\"payload\":{\"note\":\"y\"}}\n\n", "log", "append", "--json", "--data", data); code != 1 ||
		out != `{"line":1,"status":"appended","seq":4}`+"\n"+`{"line":2,"status":"skipped","error":"empty line"}`+"\n" {
		t.Errorf("append --json through the agent: exit %d, %q, %q", code, out, errs)
	}
	code, out, errs := waybill(t, "", "status", "--data", data)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	if g, w := shape(t, out), shape(t, vector(t, "status")); g != w {
		t.Errorf("status has another shape than CLI.md's cli:status:\n got: %s\nwant: %s\noutput: %s", g, w, out)
	}
	var st struct {
		Log struct {
			Dir  string `json:"dir"`
			Size uint64 `json:"size"`
		} `json:"log"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Log.Dir != data || st.Log.Size != 5 {
		t.Errorf("status = %s (%v); want the log in %s of 5 events", out, err, data)
	}
}

// TestIdentity_VerifyArtefact pins verify to a fleet or chain ID that is
// not the artefact's: invalid, naming the flag and the artefact's value.
func TestIdentity_VerifyArtefact(t *testing.T) {
	td := filepath.Join("..", "..", "..", "firmware-docs", "testdata")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", "south", "--chain-id", "1337", filepath.Join(td, "bundle.tlog-proof")}, "--fleet south, but the tlog-proof is of fleet demo"},
		{[]string{"--chain-id", "5", filepath.Join(td, "anchor", "evidence.json")}, "--chain-id 5, but the evidence is of an anchor on chain 1337 (its chain_id, ledger eip155:1337)"},
	} {
		code, _, errs := waybill(t, "", append([]string{"verify"}, tt.args...)...)
		if code != 1 || !strings.Contains(errs, tt.want) {
			t.Errorf("verify %v: exit %d, stderr %q; want 1 and %q", tt.args, code, errs, tt.want)
		}
	}
}
