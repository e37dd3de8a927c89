package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/agent/config"
)

// filesConfig names every file the agent reads; line and column of each
// value are in filesAt.
const filesConfig = `version: 1
device:
  type: gateway
  fleet: files-test
  chain_id: 1337
  data: log
  key: device.key
  passphrase_file: device.pass
feed:
  brokers: [ssl://broker.example:8883]
  ca_file: ca.pem
  cert_file: client.pem
  key_file: client.key
  username: dock-7
  password_file: broker.pass
anchor:
  backend: ebsi
  rpc: https://api.ebsi.example/timestamp/v4/jsonrpc
  api_version: v4
  hash_algorithm_id: 0
  key: relayer.key
  passphrase_file: relayer.pass
  token_file: ebsi.token
`

// filesAt is where filesConfig names each file.
var filesAt = map[string]string{
	"device.key":   ":7:8: device.key",
	"device.pass":  ":8:20: device.passphrase_file",
	"ca.pem":       ":11:12: feed.ca_file",
	"client.pem":   ":12:14: feed.cert_file",
	"client.key":   ":13:13: feed.key_file",
	"broker.pass":  ":15:18: feed.password_file",
	"relayer.key":  ":21:8: anchor.key",
	"relayer.pass": ":22:20: anchor.passphrase_file",
	"ebsi.token":   ":23:15: anchor.token_file",
}

// writeFiles writes filesConfig in dir with every file it names, then lets
// damage change them; it returns the configuration's path.
func writeFiles(t *testing.T, dir string, damage func(t *testing.T, dir string)) string {
	t.Helper()
	for name := range filesAt {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "waybill.yaml")
	if err := os.WriteFile(path, []byte(filesConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if damage != nil {
		damage(t, dir)
	}
	return path
}

func TestCheckFiles(t *testing.T) {
	remove := func(names ...string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			for _, n := range names {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string // "file: message", in order
	}{
		{"all there", nil, nil},
		{"relayer key missing", remove("relayer.key"),
			[]string{"relayer.key: DIR/relayer.key does not exist (paths are relative to the configuration file)"}},
		{"every file missing", remove("device.key", "device.pass", "ca.pem", "client.pem", "client.key", "broker.pass",
			"relayer.key", "relayer.pass", "ebsi.token"),
			[]string{"device.key", "device.pass", "ca.pem", "client.pem", "client.key", "broker.pass", "relayer.key",
				"relayer.pass", "ebsi.token"}},
		{"a directory", func(t *testing.T, dir string) {
			remove("ca.pem")(t, dir)
			if err := os.Mkdir(filepath.Join(dir, "ca.pem"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"ca.pem: DIR/ca.pem is a directory, not a file"}},
		{"a dangling symbolic link", func(t *testing.T, dir string) {
			remove("broker.pass")(t, dir)
			if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "broker.pass")); err != nil {
				t.Fatal(err)
			}
		}, []string{"broker.pass: DIR/broker.pass does not exist (paths are relative to the configuration file)"}},
		{"a FIFO with no writer", func(t *testing.T, dir string) {
			// Checked without being opened: an open would block.
			remove("relayer.pass")(t, dir)
			if err := unix.Mkfifo(filepath.Join(dir, "relayer.pass"), 0o600); err != nil {
				t.Skipf("no FIFO here: %v", err)
			}
		}, nil},
		{"a FIFO that cannot be read", func(t *testing.T, dir string) {
			skipIfRoot(t)
			remove("device.pass")(t, dir)
			if err := unix.Mkfifo(filepath.Join(dir, "device.pass"), 0o200); err != nil {
				t.Skipf("no FIFO here: %v", err)
			}
		}, []string{"device.pass: DIR/device.pass cannot be read: permission denied"}},
		{"in a directory that cannot be searched", func(t *testing.T, dir string) {
			skipIfRoot(t)
			remove("ebsi.token")(t, dir)
			locked := filepath.Join(dir, "locked")
			if err := os.Mkdir(locked, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(locked, "token"), filepath.Join(dir, "ebsi.token")); err != nil {
				t.Fatal(err)
			}
			os.Chmod(locked, 0)
			t.Cleanup(func() { os.Chmod(locked, 0o700) })
		}, []string{"ebsi.token: DIR/ebsi.token cannot be read: permission denied"}},
		{"unreadable", func(t *testing.T, dir string) {
			skipIfRoot(t)
			os.Chmod(filepath.Join(dir, "device.key"), 0)
		}, []string{"device.key: DIR/device.key cannot be read: permission denied"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFiles(t, dir, tt.damage)
			// Load does not look at the files.
			if _, err := config.Load(path); err != nil {
				t.Fatalf("Load: %v", err)
			}
			c, err := config.Check(path)
			var got []string
			var errs config.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					got = append(got, strings.ReplaceAll(e.Error(), dir, "DIR"))
				}
			} else if err != nil {
				t.Fatalf("Check = %v, not Errors", err)
			}
			if (c == nil) == (err == nil) {
				t.Errorf("Check = %v, %v: want a Config or an error", c, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Check:\n%s\nwant %d problem(s): %q", strings.Join(got, "\n"), len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				name, msg, _ := strings.Cut(w, ": ")
				want := "DIR/waybill.yaml" + filesAt[name] + ": "
				if msg != "" {
					want += msg
				}
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("problem %d = %q, want %q", i, got[i], want)
				}
			}
		})
	}
}

// Paths written absolute are reported as written, with no word of the
// configuration's directory.
func TestCheckFiles_Absolute(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(t.TempDir(), "device.key")
	data := strings.Replace(filesConfig, "key: device.key", "key: "+key, 1)
	data = data[:strings.Index(data, "  passphrase_file: device.pass")] // the device section only
	path := filepath.Join(dir, "waybill.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	want := path + ":7:8: device.key: " + key + " does not exist"
	if _, err := config.Check(path); err == nil || err.Error() != want {
		t.Errorf("Check = %v, want %s", err, want)
	}
}

func skipIfRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
}
