// Package damage breaks files the way storage breaks them, for tests of
// what the agent does with the damaged files it finds at start: a file
// deleted, cut short, with a page zeroed, with bits flipped, replaced by
// garbage, or made unreadable. Every damage is deterministic (seeded), so
// that a failing test names a damage that can be reproduced.
package damage

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
)

// Delete removes the file at path.
func Delete(path string) error {
	return os.Remove(path)
}

// Truncate cuts the file at path to size bytes. A size at or beyond the
// file's end is an error: it would not damage the file.
func Truncate(path string, size int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if size < 0 || size >= fi.Size() {
		return fmt.Errorf("damage: truncate %s to %d bytes: the file has %d", path, size, fi.Size())
	}
	return os.Truncate(path, size)
}

// ZeroPage overwrites page number page (of pageSize bytes, counted from 0)
// of the file at path with zero bytes; a last page that the file holds
// only in part is zeroed to the file's end. A page beyond the file's end
// is an error.
func ZeroPage(path string, page, pageSize int) error {
	if pageSize <= 0 || page < 0 {
		return fmt.Errorf("damage: zero page %d of %d bytes: out of range", page, pageSize)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	off := int64(page) * int64(pageSize)
	if off >= fi.Size() {
		return fmt.Errorf("damage: zero page %d of %s: the file has %d bytes", page, path, fi.Size())
	}
	n := min(int64(pageSize), fi.Size()-off)
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		return err
	}
	return f.Close()
}

// Flip is one bit flipped by FlipBits: bit Bit (0 the least significant)
// of the byte at Offset.
type Flip struct {
	Offset int64
	Bit    uint
}

// FlipBits flips n bits of the file at path, at offsets drawn from seed:
// n different bytes, one bit each, so that no flip undoes another. The
// same seed and file size give the same flips. It returns them in offset
// order.
func FlipBits(path string, seed uint64, n int) ([]Flip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > len(b) {
		return nil, fmt.Errorf("damage: flip %d bits of %s: the file has %d bytes", n, path, len(b))
	}
	r := rand.New(rand.NewPCG(seed, uint64(len(b))))
	picked := make(map[int64]bool, n)
	flips := make([]Flip, 0, n)
	for len(flips) < n {
		off := r.Int64N(int64(len(b)))
		if picked[off] {
			continue
		}
		picked[off] = true
		flips = append(flips, Flip{Offset: off, Bit: r.UintN(8)})
	}
	slices.SortFunc(flips, func(a, b Flip) int { return int(a.Offset - b.Offset) })
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for _, fl := range flips {
		if _, err := f.WriteAt([]byte{b[fl.Offset] ^ 1<<fl.Bit}, fl.Offset); err != nil {
			return nil, err
		}
	}
	return flips, f.Close()
}

// Garbage replaces the contents of the file at path with as many bytes
// drawn from seed (at least one), keeping its name and mode: what a
// misdirected write or a remapped flash block leaves.
func Garbage(path string, seed uint64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	b := make([]byte, max(fi.Size(), 1))
	r := rand.New(rand.NewPCG(seed, 0x6761726261676520))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return os.WriteFile(path, b, fi.Mode().Perm())
}

// ErrPrivileged is returned by Unreadable when the process could read the
// file anyway: it runs as root (or with CAP_DAC_OVERRIDE), which ignores
// permissions.
var ErrPrivileged = errors.New("damage: this process reads files whatever their permissions")

// Unreadable removes every permission from the file (or directory) at
// path. Permissions bind only processes without CAP_DAC_OVERRIDE: the
// file is damaged for such a process, run as the file's owner or another
// unprivileged user. When this process could still open the file, the
// permissions are changed all the same and ErrPrivileged is returned, so
// that a test can run its command as an unprivileged user, or skip.
func Unreadable(path string) error {
	if err := os.Chmod(path, 0); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	var f *os.File
	if fi.IsDir() {
		f, err = os.Open(path)
	} else {
		f, err = os.OpenFile(path, os.O_RDONLY, 0)
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	if err != nil {
		return err
	}
	f.Close()
	return ErrPrivileged
}
