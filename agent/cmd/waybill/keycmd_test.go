package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

// TestKeyShow checks that key show prints, for an existing key and fleet,
// exactly what keygen printed when it made the key, as text and as JSON,
// and the verifier key of another fleet for another fleet.
func TestKeyShow(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "device.key")
	t.Setenv("WAYBILL_PASSPHRASE", "test passphrase")
	code, made, errs := waybill(t, "", "keygen", "--key", key, "--fleet", "north")
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errs)
	}
	code, shown, errs := waybill(t, "", "key", "show", "--key", key, "--fleet", "north")
	if code != 0 || errs != "" {
		t.Fatalf("key show: exit %d: %s", code, errs)
	}
	if shown != made {
		t.Errorf("key show printed\n%s\nkeygen printed\n%s", shown, made)
	}
	text := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(made), "\n") {
		k, v, _ := strings.Cut(line, ":")
		text[k] = strings.TrimSpace(v)
	}

	code, out, errs := waybill(t, "", "key", "show", "--key", key, "--fleet", "north", "--json")
	if code != 0 {
		t.Fatalf("key show --json: exit %d: %s", code, errs)
	}
	var j keyJSON
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("key show --json printed %q: %v", out, err)
	}
	want := keyJSON{Address: text["device address"], Fleet: "north", KeyName: text["note key name"], VerifierKey: text["verifier key"]}
	if j != want || j.KeyName != eventlog.KeyName("north", mustAddress(t, j.Address)) {
		t.Errorf("key show --json = %+v, want %+v (keygen's text)", j, want)
	}
	if !strings.HasPrefix(j.VerifierKey, j.KeyName+"+") {
		t.Errorf("verifier key %q is not of key name %q", j.VerifierKey, j.KeyName)
	}

	code, other, errs := waybill(t, "", "key", "show", "--key", key, "--fleet", "south", "--json")
	if code != 0 {
		t.Fatalf("key show --fleet south: exit %d: %s", code, errs)
	}
	var o keyJSON
	if err := json.Unmarshal([]byte(other), &o); err != nil {
		t.Fatal(err)
	}
	if o.Address != j.Address || o.Fleet != "south" || o.KeyName == j.KeyName || o.VerifierKey == j.VerifierKey {
		t.Errorf("key show of fleet south = %+v; of north %+v", o, j)
	}
}

// TestKeyShow_Errors checks key show's refusals: each exits non-zero and
// says what is wrong.
func TestKeyShow_Errors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "device.key")
	t.Setenv("WAYBILL_PASSPHRASE", "test passphrase")
	if code, _, errs := waybill(t, "", "keygen", "--key", key, "--fleet", "north"); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errs)
	}
	for _, tc := range []struct {
		args []string
		pass string
		code int
		want string
	}{
		{[]string{"--key", key}, "test passphrase", 2, "--fleet is required"},
		{[]string{"--fleet", "north"}, "test passphrase", 2, "--key is required"},
		{[]string{"--key", key, "--fleet", "North!"}, "test passphrase", 2, `--fleet "North!" is not valid`},
		{[]string{"--key", key, "--fleet", "north"}, "wrong", 1, "wrong passphrase"},
		{[]string{"--key", filepath.Join(dir, "none"), "--fleet", "north"}, "test passphrase", 1, "none"},
	} {
		t.Setenv("WAYBILL_PASSPHRASE", tc.pass)
		code, out, errs := waybill(t, "", append([]string{"key", "show"}, tc.args...)...)
		if code != tc.code || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("key show %v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	os.Chmod(key, 0o644)
	t.Setenv("WAYBILL_PASSPHRASE", "test passphrase")
	if code, _, errs := waybill(t, "", "key", "show", "--key", key, "--fleet", "north"); code != 1 || !strings.Contains(errs, "chmod 600 "+key) {
		t.Errorf("key show of a world-readable key: exit %d, stderr %q", code, errs)
	}
}

func mustAddress(t *testing.T, s string) event.Address {
	t.Helper()
	a, err := event.ParseAddress(s)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return a
}

// TestKeyShow_Documented checks that PROTOCOL.md §7 names every member of
// the JSON that keygen and key show print.
func TestKeyShow_Documented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "firmware-docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, _ := strings.Cut(string(b), "\n## 7. ")
	sec, _, _ = strings.Cut(sec, "\n## ")
	sec = strings.Join(strings.Fields(sec), " ")
	typ := reflect.TypeOf(keyJSON{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(sec, `"`+name+`":`) {
			t.Errorf("PROTOCOL.md §7 does not name the member %q of key show --json", name)
		}
	}
	if !strings.Contains(sec, "waybill key show --key PATH --fleet F") {
		t.Error("PROTOCOL.md §7 does not name waybill key show")
	}
}

// TestKeygen_DefaultFleetWarns checks that keygen without --fleet says
// that the verifier key it prints is the default fleet's, and how to print
// another's, and that with --fleet it says nothing on stderr.
func TestKeygen_DefaultFleetWarns(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WAYBILL_PASSPHRASE", "test passphrase")
	key := filepath.Join(dir, "a.key")
	code, out, errs := waybill(t, "", "keygen", "--key", key)
	if code != 0 || !strings.Contains(out, "waybill/default/") ||
		!strings.Contains(errs, `no --fleet given: the verifier key below is for fleet "default"`) || !strings.Contains(errs, "waybill key show --key "+key+" --fleet NAME") {
		t.Errorf("keygen without --fleet: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, errs := waybill(t, "", "keygen", "--key", filepath.Join(dir, "b.key"), "--fleet", "default"); code != 0 || errs != "" {
		t.Errorf("keygen --fleet default: exit %d, stderr %q", code, errs)
	}
}

// TestKeyShow_Config checks that key show --config takes the key, its
// passphrase file and the fleet from the configuration's device section,
// and refuses a --fleet that disagrees with it, naming both.
func TestKeyShow_Config(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "device.key")
	pass := filepath.Join(dir, "pass")
	writeFile(t, pass, []byte("config passphrase\n"), 0o600)
	code, made, errs := waybill(t, "", "keygen", "--key", key, "--fleet", "brussels-north", "--passphrase-file", pass)
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errs)
	}
	cfg := filepath.Join(dir, "device.yaml")
	writeFile(t, cfg, []byte("version: 1\ndevice:\n  type: gateway\n  fleet: brussels-north\n  chain_id: 1337\n  data: log\n  key: device.key\n  passphrase_file: pass\n"), 0o644)
	t.Setenv("WAYBILL_PASSPHRASE", "not this one")
	code, shown, errs := waybill(t, "", "key", "show", "--config", cfg)
	if code != 0 || shown != made {
		t.Errorf("key show --config: exit %d, stderr %q\n%s\nkeygen printed\n%s", code, errs, shown, made)
	}
	if code, _, errs := waybill(t, "", "key", "show", "--config", cfg, "--fleet", "brussels-north"); code != 0 {
		t.Errorf("key show --config with the configuration's --fleet: exit %d, stderr %q", code, errs)
	}
	code, _, errs = waybill(t, "", "key", "show", "--config", cfg, "--fleet", "south")
	if want := "key show: --fleet south disagrees with device.fleet brussels-north in " + cfg; code != 2 || !strings.Contains(errs, want) {
		t.Errorf("key show --config --fleet south: exit %d, stderr %q; want 2 and %q", code, errs, want)
	}
	if code, _, errs := waybill(t, "", "key", "show", "--key", key); code != 2 || !strings.Contains(errs, "--fleet is required") {
		t.Errorf("key show without --fleet or --config: exit %d, stderr %q", code, errs)
	}
}

// TestKeygen_Config checks that keygen --config writes the configuration's
// device.key with its passphrase file for its device.fleet, without the
// default-fleet warning, and refuses a --fleet that disagrees with it.
func TestKeygen_Config(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pass"), []byte("config passphrase\n"), 0o600)
	cfg := filepath.Join(dir, "device.yaml")
	writeFile(t, cfg, []byte("version: 1\ndevice:\n  type: gateway\n  fleet: brussels-north\n  chain_id: 1337\n  data: log\n  key: device.key\n  passphrase_file: pass\n"), 0o644)
	t.Setenv("WAYBILL_PASSPHRASE", "")
	code, _, errs := waybill(t, "", "keygen", "--config", cfg, "--fleet", "south")
	if want := "keygen: --fleet south disagrees with device.fleet brussels-north in " + cfg; code != 2 || !strings.Contains(errs, want) {
		t.Errorf("keygen --config --fleet south: exit %d, stderr %q; want 2 and %q", code, errs, want)
	}
	code, made, errs := waybill(t, "", "keygen", "--config", cfg)
	if code != 0 || errs != "" || !strings.Contains(made, "waybill/brussels-north/") {
		t.Fatalf("keygen --config: exit %d, stdout %q, stderr %q", code, made, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "device.key")); err != nil {
		t.Fatalf("keygen --config did not write device.key: %v", err)
	}
	if code, shown, errs := waybill(t, "", "key", "show", "--config", cfg); code != 0 || shown != made {
		t.Errorf("key show --config after keygen --config: exit %d, stderr %q\n%s\nkeygen printed\n%s", code, errs, shown, made)
	}
}
