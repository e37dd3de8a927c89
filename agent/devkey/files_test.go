package devkey

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitDeadline bounds every wait in these tests: far beyond what any step
// needs on a loaded machine, so that reaching it means a hang.
const waitDeadline = time.Minute

// TestFiles_Modes checks that the key file and the passphrase file are
// refused alike when group or others have any access, and that the error
// says exactly who may do what. The mode bits are checked, not access: as
// root, whom the kernel lets read any file, the tests hold the same.
func TestFiles_Modes(t *testing.T) {
	dir := t.TempDir()
	keyBytes, _ := cheapKeyFile(t)
	key := filepath.Join(dir, "k.key")
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(key, keyBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pass, []byte(testPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		says string // "" for accepted
	}{
		{0o600, ""},
		{0o400, ""},
		{0o700, ""},
		{0o602, "mode 0602: others can write it;"},
		{0o604, "mode 0604: others can read it;"},
		{0o601, "mode 0601: others can execute it;"},
		{0o640, "mode 0640: group can read it;"},
		{0o620, "mode 0620: group can write it;"},
		{0o660, "mode 0660: group can read and write it;"},
		{0o644, "mode 0644: group can read it, others can read it;"},
		{0o666, "mode 0666: group can read and write it, others can read and write it;"},
		{0o777, "mode 0777: group can read, write and execute it, others can read, write and execute it;"},
	} {
		for _, f := range []struct{ what, path string }{{"key file", key}, {"passphrase file", pass}} {
			if err := os.Chmod(f.path, tc.mode); err != nil {
				t.Fatal(err)
			}
			var err error
			if f.path == key {
				_, err = ReadKeyFile(key)
			} else {
				_, err = ReadPassphrase(context.Background(), pass)
			}
			if tc.says == "" {
				if err != nil {
					t.Errorf("%s mode %04o: %v", f.what, tc.mode, err)
				}
				continue
			}
			want := f.what + " " + f.path + ": permissions too open: " + tc.says + " fix with: chmod 600 " + f.path
			if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s mode %04o: %v\nwant %q", f.what, tc.mode, err, want)
			}
		}
		os.Chmod(key, 0o600)
		os.Chmod(pass, 0o600)
	}
}

func TestReadKeyFile_NotAKeyFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil { // sparse: nothing is read
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte{0xa5, 0x00, 0x7b}, 300), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, says string
		is         error
	}{
		{filepath.Join(dir, "missing"), "does not exist (create one with: waybill keygen --key " + filepath.Join(dir, "missing") + ")", nil},
		{dir, "is a directory, not a regular file", nil},
		{fifo, "is a FIFO, not a regular file", nil}, // and does not wait for a writer
		{"/dev/zero", "is a character device, not a regular file", nil},
		{big, "1073741824 bytes is larger than a key file can be (65536 bytes)", ErrInvalidKeyFile},
		{empty, "the file is empty (the file is damaged, or is not a key file", ErrInvalidKeyFile},
		{garbage, "not valid UTF-8", ErrInvalidKeyFile},
	} {
		_, err := ReadKeyFile(tc.path)
		if err == nil || !strings.Contains(err.Error(), "key file "+tc.path) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ReadKeyFile(%s) = %v, want it to say %q", tc.path, err, tc.says)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("ReadKeyFile(%s) = %v, want %v", tc.path, err, tc.is)
		}
	}
}

func TestReadPassphrase_Bounded(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	max := strings.Repeat("p", MaxPassphraseLen)
	for _, tc := range []struct {
		name, content, want, says string
	}{
		{"line", "secret\n", "secret", ""},
		{"crlf", "secret\r\n", "secret", ""},
		{"no newline", "secret", "secret", ""},
		{"two newlines", "secret\n\n", "secret\n", ""},
		{"longest", max + "\r\n", max, ""},
		{"one byte over", max + "p", "", "holds 4097 bytes, more than 4096"},
		{"one byte over with newline", max + "p\n", "", "holds 4097 bytes, more than 4096"},
		{"far over", strings.Repeat("x", 1<<20), "", "holds more than 4098 bytes"},
		{"empty", "", "", "is empty"},
		{"only a newline", "\n", "", "is empty"},
	} {
		p := write(tc.name, tc.content)
		got, err := ReadPassphrase(context.Background(), p)
		if tc.says == "" {
			if err != nil || string(got) != tc.want {
				t.Errorf("%s: ReadPassphrase = %q, %v; want %q", tc.name, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "passphrase file "+p) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: ReadPassphrase = %q, %v; want an error saying %q", tc.name, got, err, tc.says)
		}
		if strings.Contains(tc.says, "more than") && !errors.Is(err, ErrTooLong) {
			t.Errorf("%s: %v is not ErrTooLong", tc.name, err)
		}
	}
	// /dev/zero, which once made the agent read 24 GB, is refused at once.
	if _, err := ReadPassphrase(context.Background(), "/dev/zero"); err == nil || !strings.Contains(err.Error(), "passphrase file /dev/zero is a character device, not a regular file or a FIFO") {
		t.Errorf("ReadPassphrase(/dev/zero) = %v", err)
	}
	if _, err := ReadPassphrase(context.Background(), filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing passphrase file: %v", err)
	}
	t.Setenv(PassphraseEnv, max)
	if got, err := ReadPassphrase(context.Background(), ""); err != nil || string(got) != max {
		t.Errorf("longest passphrase from the environment: %v", err)
	}
	t.Setenv(PassphraseEnv, max+"p")
	if _, err := ReadPassphrase(context.Background(), ""); !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "$"+PassphraseEnv) {
		t.Errorf("passphrase over the limit from the environment: %v", err)
	}
}

// mkfifo makes a FIFO of mode 0600 in a new directory.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pass.fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

type readResult struct {
	pass []byte
	err  error
}

func readAsync(ctx context.Context, p string) <-chan readResult {
	c := make(chan readResult, 1)
	go func() {
		b, err := ReadPassphrase(ctx, p)
		c <- readResult{b, err}
	}()
	return c
}

func await(t *testing.T, c <-chan readResult, what string) readResult {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(waitDeadline):
		t.Fatalf("%s: ReadPassphrase has not returned after %v", what, waitDeadline)
		return readResult{}
	}
}

func TestReadPassphrase_FIFO(t *testing.T) {
	t.Run("writer", func(t *testing.T) {
		p := mkfifo(t)
		c := readAsync(context.Background(), p)
		w, err := os.OpenFile(p, os.O_WRONLY, 0) // waits for the reader
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("fifo "))
		w.Write([]byte("secret\n"))
		w.Close()
		if r := await(t, c, "writer"); r.err != nil || string(r.pass) != "fifo secret" {
			t.Fatalf("ReadPassphrase = %q, %v", r.pass, r.err)
		}
	})
	t.Run("writer writes nothing", func(t *testing.T) {
		p := mkfifo(t)
		c := readAsync(context.Background(), p)
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if r := await(t, c, "empty writer"); r.err == nil || !strings.Contains(r.err.Error(), "is empty") {
			t.Fatalf("ReadPassphrase = %q, %v", r.pass, r.err)
		}
	})
	t.Run("endless writer", func(t *testing.T) {
		// A FIFO fed without end, as /dev/zero would be: at most
		// MaxPassphraseLen+2 bytes are read, then it is refused.
		p := mkfifo(t)
		c := readAsync(context.Background(), p)
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		written := make(chan int64, 1)
		go func() {
			var n int64
			chunk := bytes.Repeat([]byte("z"), 512)
			for {
				m, err := w.Write(chunk)
				n += int64(m)
				if err != nil { // EPIPE once the reader is gone
					written <- n
					return
				}
			}
		}()
		r := await(t, c, "endless writer")
		if !errors.Is(r.err, ErrTooLong) || !strings.Contains(r.err.Error(), "holds more than 4098 bytes") {
			t.Fatalf("ReadPassphrase = %d bytes, %v", len(r.pass), r.err)
		}
		select {
		case n := <-written:
			t.Logf("the writer wrote %d bytes before the reader left", n)
		case <-time.After(waitDeadline):
			t.Fatal("the writer is still writing: the FIFO was not closed")
		}
	})
	t.Run("no writer, cancelled", func(t *testing.T) {
		p := mkfifo(t)
		ctx, cancel := context.WithCancel(context.Background())
		c := readAsync(ctx, p)
		// The reader opens the FIFO without waiting; wait for that, so
		// that the cancellation reaches it while it waits for a writer.
		waitOpened(t, p)
		select {
		case r := <-c:
			t.Fatalf("ReadPassphrase returned without a writer: %q, %v", r.pass, r.err)
		default:
		}
		cancel()
		r := await(t, c, "cancelled")
		if !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "interrupted while waiting for the FIFO's writer") {
			t.Fatalf("ReadPassphrase = %q, %v", r.pass, r.err)
		}
	})
	t.Run("writer stalls, cancelled", func(t *testing.T) {
		p := mkfifo(t)
		ctx, cancel := context.WithCancel(context.Background())
		c := readAsync(ctx, p)
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		w.Write([]byte("half a pass"))
		cancel()
		if r := await(t, c, "stalled writer"); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("ReadPassphrase = %q, %v", r.pass, r.err)
		}
	})
}

// waitOpened waits until this process has path open.
func waitOpened(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && l == path {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not opened after %v", path, waitDeadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProtocolDoc_KeyLimits checks that PROTOCOL.md §5 states the limits
// this package enforces.
func TestProtocolDoc_KeyLimits(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "firmware-docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## 5. Device keys")
	end := strings.Index(doc, "## 6. ")
	if start < 0 || end < start {
		t.Fatal("PROTOCOL.md has no §5")
	}
	doc = doc[start:end]
	log2 := func(n int) string {
		for i := 0; i < 63; i++ {
			if 1<<i == n {
				return "2^" + strconv.Itoa(i)
			}
		}
		t.Fatalf("%d is not a power of two", n)
		return ""
	}
	thousands := func(n int) string {
		s := strconv.Itoa(n)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	}
	for _, want := range []string{
		"at most " + thousands(MaxKeyFileSize) + " bytes",
		"`n` a power of two from " + log2(MinScryptN) + " to " + log2(MaxScryptN),
		"`r` from 1 to " + strconv.Itoa(MaxScryptR),
		"`p` from 1 to " + strconv.Itoa(MaxScryptP),
		"n·r·p ≤ " + log2(MaxScryptWork),
		"`c` from " + log2(MinPBKDF2C) + " to " + log2(MaxPBKDF2C),
		"`salt`, " + strconv.Itoa(MinSaltLen) + " to " + strconv.Itoa(MaxSaltLen) + " bytes in hex",
		"caps it at " + strconv.Itoa(128*MaxScryptR*MaxScryptN>>20) + " MiB",
		"at most " + thousands(MaxPassphraseLen) + " bytes",
		"no more than " + thousands(MaxPassphraseLen+2) + " bytes",
		"others can write it",
		"`chmod 600 FILE`",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("PROTOCOL.md §5 does not say %q", want)
		}
	}
}
