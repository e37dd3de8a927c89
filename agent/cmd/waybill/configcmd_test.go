package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/config"
)

// runConfigCheck runs cmdConfigCheck and returns its output and error.
func runConfigCheck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cmdConfigCheck(context.Background(), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	if errb.Len() > 0 {
		t.Errorf("stderr: %q", errb.String())
	}
	return out.String(), err
}

func TestConfigCheck_Examples(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"van.yaml", "ok (6 sensors, 6 zones)"},
		{"gateway.yaml", "ok (5 sensors, 0 zones)"},
		{"cargo-bike.yaml", "ok (4 sensors, 2 zones)"},
	} {
		// The examples name a device's files (/var/lib/waybill/...).
		path := filepath.Join("..", "..", "..", "configs", tt.file)
		out, err := runConfigCheck(t, "--no-files", path)
		if err != nil || out != path+": "+tt.want+"\n" {
			t.Errorf("config check %s = %q, %v; want %q", path, out, err, path+": "+tt.want)
		}
	}
}

func TestConfigCheck_Invalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "van.yaml")
	data := "version: 1\ndevice:\n  type: truck\n  fleet: brussels-north\n  chain_id: 1337\n  data: log\n  key: k\n" +
		"sensors:\n  - {name: cabin, driver: bme280, bus: I2C1, adress: 0x76, interval: 30s}\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runConfigCheck(t, path)
	want := path + ":3:9: device.type: \"truck\" is not gateway, van or cargo-bike\n" +
		path + ":9:46: sensors[0]: unknown field \"adress\" (did you mean \"address\"?)\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if err == nil || !strings.Contains(err.Error(), "2 problem(s)") {
		t.Errorf("err = %v, want a count of the problems", err)
	}
	var ue usageError
	if errors.As(err, &ue) {
		t.Errorf("an invalid file is not a usage error")
	}
}

// The files a configuration names for the agent to read must be there,
// unless --no-files says the configuration is for another machine.
func TestConfigCheck_Files(t *testing.T) {
	dir, key, _, _ := keyedFleet(t, "check-files")
	path := filepath.Join(dir, "waybill.yaml")
	data := "version: 1\ndevice:\n  type: gateway\n  fleet: check-files\n  chain_id: 1337\n  data: log\n  key: " + key + "\n" +
		"feed:\n  brokers: [tcp://127.0.0.1:1883]\n" +
		"anchor:\n  rpc: http://127.0.0.1:8545\n  contract: \"0x00000000000000000000000000000000000000aa\"\n  key: relayer.key\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args    []string
		relayer bool // relayer.key exists
		want    string
		wantErr string
	}{
		{[]string{path}, false, path + ":13:8: anchor.key: " + filepath.Join(dir, "relayer.key") +
			" does not exist (paths are relative to the configuration file)\n", "1 problem(s)"},
		{[]string{"--no-files", path}, false, path + ": ok (0 sensors, 0 zones)\n", ""},
		{[]string{path}, true, path + ": ok (0 sensors, 0 zones)\n", ""},
	} {
		if tt.relayer {
			if code, _, errs := waybill(t, "", "keygen", "--key", filepath.Join(dir, "relayer.key"), "--fleet", "check-files"); code != 0 {
				t.Fatalf("keygen: %s", errs)
			}
		}
		out, err := runConfigCheck(t, tt.args...)
		if out != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("config check %q = %q, %v; want %q and an error with %q", tt.args, out, err, tt.want, tt.wantErr)
		}
	}
}

func TestConfigCheck_Missing(t *testing.T) {
	out, err := runConfigCheck(t, filepath.Join(t.TempDir(), "none.yaml"))
	if out != "" || !errors.Is(err, config.ErrNoConfig) {
		t.Errorf("config check of a missing file = %q, %v; want ErrNoConfig", out, err)
	}
}

func TestConfigCheck_Usage(t *testing.T) {
	for _, args := range [][]string{nil, {"a.yaml", "b.yaml"}, {"--nope", "a.yaml"}} {
		_, err := runConfigCheck(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("config check %q = %v, want a usage error", args, err)
		}
	}
}
