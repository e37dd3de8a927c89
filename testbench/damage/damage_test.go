package damage

import (
	"bytes"
	"errors"
	"io/fs"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// file writes n bytes 0x5a… to a new file and returns its path and bytes.
func file(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := bytes.Repeat([]byte{0x5a}, n)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDelete(t *testing.T) {
	p, _ := file(t, 10)
	if err := Delete(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Delete, stat = %v", err)
	}
	if err := Delete(p); err == nil {
		t.Fatal("Delete of a missing file succeeded")
	}
}

func TestTruncate(t *testing.T) {
	p, orig := file(t, 100)
	for _, size := range []int64{100, 101, -1} {
		if err := Truncate(p, size); err == nil {
			t.Errorf("Truncate to %d of a 100-byte file succeeded", size)
		}
	}
	if err := Truncate(p, 17); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); !bytes.Equal(got, orig[:17]) {
		t.Fatalf("after Truncate 17: %d bytes", len(got))
	}
	if err := Truncate(p, 0); err != nil || len(read(t, p)) != 0 {
		t.Fatalf("Truncate 0: %v", err)
	}
}

func TestZeroPage(t *testing.T) {
	p, orig := file(t, 4096*2+100)
	if err := ZeroPage(p, 1, 4096); err != nil {
		t.Fatal(err)
	}
	got := read(t, p)
	want := bytes.Clone(orig)
	clear(want[4096:8192])
	if !bytes.Equal(got, want) {
		t.Fatal("ZeroPage 1 did not zero exactly bytes 4096-8191")
	}
	if err := ZeroPage(p, 2, 4096); err != nil {
		t.Fatal(err)
	}
	clear(want[8192:])
	if got := read(t, p); !bytes.Equal(got, want) {
		t.Fatal("ZeroPage of the partial last page did not zero it to the end, or changed the size")
	}
	if err := ZeroPage(p, 3, 4096); err == nil {
		t.Fatal("ZeroPage beyond the end succeeded")
	}
}

func TestFlipBits(t *testing.T) {
	p, orig := file(t, 1000)
	flips, err := FlipBits(p, 7, 25)
	if err != nil {
		t.Fatal(err)
	}
	got := read(t, p)
	if len(got) != len(orig) || len(flips) != 25 {
		t.Fatalf("size %d, %d flips", len(got), len(flips))
	}
	changed := 0
	for i := range got {
		d := got[i] ^ orig[i]
		changed += bits.OnesCount8(d)
	}
	if changed != 25 {
		t.Fatalf("%d bits differ, want 25", changed)
	}
	for i, f := range flips {
		if got[f.Offset]^orig[f.Offset] != 1<<f.Bit {
			t.Errorf("flip %d (%+v) is not what the file shows", i, f)
		}
		if i > 0 && flips[i-1].Offset >= f.Offset {
			t.Errorf("flips not in strictly increasing offset order at %d", i)
		}
	}
	// The same seed on a file of the same size flips the same bits.
	q, _ := file(t, 1000)
	again, err := FlipBits(q, 7, 25)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, q), got) || len(again) != len(flips) {
		t.Fatal("the same seed flipped other bits")
	}
	other, _ := FlipBits(q, 8, 25)
	if slicesEqual(other, flips) {
		t.Fatal("seeds 7 and 8 flipped the same bits")
	}
	if _, err := FlipBits(q, 1, 1001); err == nil {
		t.Fatal("more flips than bytes accepted")
	}
}

func slicesEqual(a, b []Flip) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGarbage(t *testing.T) {
	p, orig := file(t, 3000)
	if err := Garbage(p, 1); err != nil {
		t.Fatal(err)
	}
	got := read(t, p)
	if len(got) != len(orig) || bytes.Equal(got, orig) {
		t.Fatal("Garbage kept the contents or changed the size")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after Garbage", fi.Mode().Perm())
	}
	q, _ := file(t, 3000)
	Garbage(q, 1)
	if !bytes.Equal(read(t, q), got) {
		t.Fatal("the same seed gave other garbage")
	}
	e, _ := file(t, 0)
	if err := Garbage(e, 1); err != nil || len(read(t, e)) != 1 {
		t.Fatal("Garbage of an empty file did not write a byte")
	}
}

func TestUnreadable(t *testing.T) {
	p, _ := file(t, 10)
	err := Unreadable(p)
	fi, serr := os.Stat(p)
	if serr != nil || fi.Mode().Perm() != 0 {
		t.Fatalf("mode after Unreadable = %v, %v", fi.Mode().Perm(), serr)
	}
	_, rerr := os.ReadFile(p)
	switch {
	case err == nil && !errors.Is(rerr, fs.ErrPermission):
		t.Fatalf("Unreadable returned nil, but the file reads (%v)", rerr)
	case errors.Is(err, ErrPrivileged) && rerr != nil:
		t.Fatalf("Unreadable said privileged, but reading fails: %v", rerr)
	case err != nil && !errors.Is(err, ErrPrivileged):
		t.Fatal(err)
	}
	// As an unprivileged user, the file cannot be read.
	if errors.Is(err, ErrPrivileged) {
		setpriv, lerr := exec.LookPath("setpriv")
		if lerr != nil {
			t.Skip("running with privileges and no setpriv to drop them")
		}
		// The control: a readable file beside it reads (the directories
		// above it are open to the user).
		for d := filepath.Dir(p); d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		ok := filepath.Join(filepath.Dir(p), "readable")
		os.WriteFile(ok, []byte("x"), 0o644)
		as := func(path string) ([]byte, error) {
			return exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "cat", path).CombinedOutput()
		}
		if out, err := as(ok); err != nil {
			t.Fatalf("an unprivileged user cannot read the control file: %v %s", err, out)
		}
		if out, cerr := as(p); cerr == nil {
			t.Fatalf("an unprivileged user read the unreadable file: %q", out)
		}
	}
}
