package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// keysDeadline bounds every wait of these tests: far beyond what a step
// needs on a loaded machine, so that reaching it means a hang.
const keysDeadline = 2 * time.Minute

// TestCLI_BadKeyFiles runs commands that need the key on key and
// passphrase files that are damaged, hostile or too open: each exits 1
// with a message naming the file, what is wrong and the next step.
func TestCLI_BadKeyFiles(t *testing.T) {
	dir, key, _, _ := keyed(t)
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	editKey := func(name string, f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, filepath.Join(dir, name), b, 0o600)
	}
	crypto := func(m map[string]any) map[string]any { return m["crypto"].(map[string]any) }
	pbkdf2 := editKey("pbkdf2.key", func(m map[string]any) {
		crypto(m)["kdf"] = "pbkdf2"
		crypto(m)["kdfparams"] = map[string]any{}
	})
	huge := editKey("huge-n.key", func(m map[string]any) { crypto(m)["kdfparams"].(map[string]any)["n"] = 1 << 30 })
	cut := writeFile(t, filepath.Join(dir, "cut.key"), good[:len(good)/2], 0o600)
	garbage := writeFile(t, filepath.Join(dir, "garbage.key"), bytes.Repeat([]byte{0xde, 0xad}, 200), 0o600)
	open602 := writeFile(t, filepath.Join(dir, "pass-0602"), []byte("test passphrase\n"), 0o602)
	open644 := writeFile(t, filepath.Join(dir, "pass-0644"), []byte("test passphrase\n"), 0o644)
	long := writeFile(t, filepath.Join(dir, "pass-long"), bytes.Repeat([]byte("x"), 1<<20), 0o600)
	data := filepath.Join(dir, "log")
	for _, tc := range []struct {
		name     string
		key      string
		passFile string
		says     []string
	}{
		{"pbkdf2 without parameters", pbkdf2, "", []string{"key file " + pbkdf2, "crypto.kdfparams.dklen: missing", "restore the key file from its backup"}},
		{"scrypt n 2^30", huge, "", []string{"key file " + huge, "crypto.kdfparams.n: 1073741824 is outside the accepted range 1024 to 262144"}},
		{"truncated", cut, "", []string{"key file " + cut, "truncated", "restore the key file from its backup"}},
		{"garbage", garbage, "", []string{"key file " + garbage, "not valid JSON at byte 1", "restore the key file from its backup"}},
		{"deleted", filepath.Join(dir, "gone.key"), "", []string{"key file " + filepath.Join(dir, "gone.key") + " does not exist (create one with: waybill keygen"}},
		{"passphrase /dev/zero", key, "/dev/zero", []string{"passphrase file /dev/zero is a character device, not a regular file or a FIFO"}},
		{"passphrase 1 MiB", key, long, []string{"passphrase file " + long + " holds more than 4098 bytes"}},
		{"passphrase mode 0602", key, open602, []string{"passphrase file " + open602 + ": permissions too open: mode 0602: others can write it; fix with: chmod 600 " + open602}},
		{"passphrase mode 0644", key, open644, []string{"mode 0644: group can read it, others can read it; fix with: chmod 600 " + open644}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"log", "append", "--data", data, "--key", tc.key, "--fleet", "cli-test", "--chain-id", "1337"},
				{"run", "--data", data, "--key", tc.key, "--fleet", "cli-test", "--chain-id", "1337"},
			} {
				if tc.passFile != "" {
					args = append(args, "--passphrase-file", tc.passFile)
				}
				code, _, errs := waybill(t, "", args...)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1: %s", args[0], code, errs)
				}
				for _, s := range tc.says {
					if !strings.Contains(errs, s) {
						t.Errorf("%s: %q does not say %q", args[0], errs, s)
					}
				}
			}
		})
	}
	// keygen reads its passphrase file the same way.
	code, _, errs := waybill(t, "", "keygen", "--key", filepath.Join(dir, "new.key"), "--passphrase-file", open602)
	if code != 1 || !strings.Contains(errs, "others can write it") {
		t.Errorf("keygen with a passphrase file of mode 0602: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keygen wrote a key with a refused passphrase file: %v", err)
	}
}

func writeFile(t *testing.T, p string, b []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

// TestCLI_KeyProcesses runs the waybill binary: the way to send it signals
// and to run it as another user.
func TestCLI_KeyProcesses(t *testing.T) {
	bin := buildWaybill(t)
	t.Run("FIFO passphrase and signals", func(t *testing.T) { testFIFOPassphraseSignal(t, bin) })
	t.Run("unreadable key", func(t *testing.T) { testUnreadableKey(t, bin) })
}

// testFIFOPassphraseSignal starts commands whose passphrase file is a
// FIFO nobody writes to, signals them once they have it open, and checks
// that each exits with a message saying it was interrupted.
func testFIFOPassphraseSignal(t *testing.T, bin string) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"run SIGTERM", syscall.SIGTERM, []string{"run", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"}},
		{"log append SIGINT", syscall.SIGINT, []string{"log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"}},
		{"keygen SIGTERM", syscall.SIGTERM, []string{"keygen", "--key", filepath.Join(dir, "new.key")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "pass.fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(bin, append(tc.args, "--passphrase-file", fifo)...)
			cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=")
			cmd.Stdin = strings.NewReader("")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					<-done
				}
			})
			waitFdOpen(t, cmd.Process.Pid, fifo, done)
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("exit: %v, want status 1; stderr: %s", err, stderr.String())
				}
			case <-time.After(keysDeadline):
				t.Fatalf("still waiting on the FIFO %v after %v", tc.sig, keysDeadline)
			}
			want := "passphrase file " + fifo + ": interrupted while waiting for the FIFO's writer"
			if !strings.Contains(stderr.String(), want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), want)
			}
		})
	}
}

// waitFdOpen waits until process pid has path open (the command waits for
// the FIFO's writer from then on); done reports an early exit.
func waitFdOpen(t *testing.T, pid int, path string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(keysDeadline)
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	for {
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && l == path {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the command exited before opening %s: %v", path, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not opened after %v", path, keysDeadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testUnreadableKey runs a command as a user who may not read the key
// file: as root, whom the kernel lets read any file, the command runs as
// nobody (uid 65534); otherwise the key is made mode 0000.
func testUnreadableKey(t *testing.T, bin string) {
	dir, key, _, _ := keyed(t)
	cmd := exec.Command(bin, "log", "append", "--data", filepath.Join(dir, "log"), "--key", key, "--fleet", "cli-test", "--chain-id", "1337")
	cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
	cmd.Stdin = strings.NewReader("")
	uid := os.Geteuid()
	if uid == 0 {
		uid = 65534
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		// nobody may reach the binary and the key's directory, not the key.
		for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), dir, filepath.Dir(dir)} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	} else if err := os.Chmod(key, 0); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1: %s", err, out)
	}
	want := "key file " + key + " cannot be read: permission denied (run the command as the file's owner, uid " + strconv.Itoa(uid) + " is not allowed to read it)"
	if !strings.Contains(string(out), want) {
		t.Fatalf("%s does not say %q", out, want)
	}
}
