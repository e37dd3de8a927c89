package devkey

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxPassphraseLen bounds a passphrase in bytes, from a file (after its
// trailing newline is removed) or from the environment.
const MaxPassphraseLen = 4096

// ErrTooLong is matched (errors.Is) by the error for a passphrase longer
// than MaxPassphraseLen.
var ErrTooLong = errors.New("passphrase too long")

// ReadPassphrase returns the passphrase from file when file is not empty,
// else from the environment variable WAYBILL_PASSPHRASE. One trailing
// newline (\n or \r\n) is removed from a file's content.
//
// The file may be a regular file or a FIFO; like the key file, it is
// refused when group or others can read or write it (ErrPermissions). At
// most MaxPassphraseLen bytes are read (ErrTooLong beyond). Waiting for a
// FIFO's writer ends when ctx does, with ctx's error.
func ReadPassphrase(ctx context.Context, file string) ([]byte, error) {
	if file == "" {
		v, ok := os.LookupEnv(PassphraseEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("no passphrase: give --passphrase-file FILE or set %s", PassphraseEnv)
		}
		if len(v) > MaxPassphraseLen {
			return nil, fmt.Errorf("devkey: %w: $%s holds %d bytes, more than %d", ErrTooLong, PassphraseEnv, len(v), MaxPassphraseLen)
		}
		return []byte(v), nil
	}
	const what = "passphrase file"
	fd, st, err := open(what, file)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	fifo := false
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFIFO:
		fifo = true
	default:
		return nil, fmt.Errorf("devkey: passphrase file %s is %s, not a regular file or a FIFO", file, kind(st.Mode))
	}
	if err := checkMode(what, file, st.Mode); err != nil {
		return nil, err
	}
	// Two more bytes than the limit: room for "\r\n".
	b, err := readAll(ctx, fd, fifo, MaxPassphraseLen+2)
	if errors.Is(err, errLimit) {
		return nil, fmt.Errorf("devkey: %w: passphrase file %s holds more than %d bytes (a passphrase is at most %d bytes and one newline)",
			ErrTooLong, file, MaxPassphraseLen+2, MaxPassphraseLen)
	}
	if err != nil {
		if ctx.Err() != nil && fifo {
			return nil, fmt.Errorf("devkey: passphrase file %s: interrupted while waiting for the FIFO's writer: %w", file, err)
		}
		return nil, fmt.Errorf("devkey: passphrase file %s: %w", file, err)
	}
	if s, ok := strings.CutSuffix(string(b), "\n"); ok {
		b = []byte(strings.TrimSuffix(s, "\r"))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("devkey: passphrase file %s is empty", file)
	}
	if len(b) > MaxPassphraseLen {
		return nil, fmt.Errorf("devkey: %w: passphrase file %s holds %d bytes, more than %d", ErrTooLong, file, len(b), MaxPassphraseLen)
	}
	return b, nil
}

// ReadKeyFile reads and validates the key file at path without decrypting
// it. It refuses anything but a regular file, a file that group or others
// can read or write (ErrPermissions), a file over MaxKeyFileSize and a
// file ParseKeyFile refuses (ErrInvalidKeyFile); each error names the file
// and says what to do.
func ReadKeyFile(path string) (*KeyFile, error) {
	const what = "key file"
	fd, st, err := open(what, path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("devkey: key file %s is %s, not a regular file", path, kind(st.Mode))
	}
	if err := checkMode(what, path, st.Mode); err != nil {
		return nil, err
	}
	if st.Size > MaxKeyFileSize {
		return nil, fmt.Errorf("devkey: key file %s: %w (%s)", path,
			&FormatError{Reason: fmt.Sprintf("%d bytes is larger than a key file can be (%d bytes)", st.Size, MaxKeyFileSize)}, keyFileHint)
	}
	b, err := readAll(context.Background(), fd, false, MaxKeyFileSize)
	if errors.Is(err, errLimit) {
		return nil, fmt.Errorf("devkey: key file %s: %w (%s)", path,
			&FormatError{Reason: fmt.Sprintf("larger than a key file can be (%d bytes)", MaxKeyFileSize)}, keyFileHint)
	}
	if err != nil {
		return nil, fmt.Errorf("devkey: key file %s: %w", path, err)
	}
	kf, err := ParseKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("devkey: key file %s: %w (%s)", path, err, keyFileHint)
	}
	kf.Path = path
	return kf, nil
}

// keyFileHint is the next step for a key file ParseKeyFile refuses.
const keyFileHint = "the file is damaged, or is not a key file as firmware-docs/PROTOCOL.md §5 accepts it: " + restoreHint

// open opens path for reading without blocking on a FIFO (O_NONBLOCK:
// opening a FIFO's read end would wait for a writer) and returns the
// descriptor and the status of what was opened.
func open(what, path string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == unix.ENOENT && what == "key file":
		return -1, st, fmt.Errorf("devkey: key file %s does not exist (create one with: waybill keygen --key %s)", path, path)
	case err == unix.ENOENT:
		return -1, st, fmt.Errorf("devkey: %s %s does not exist", what, path)
	case err == unix.EACCES:
		return -1, st, fmt.Errorf("devkey: %s %s cannot be read: %w (run the command as the file's owner, uid %d is not allowed to read it)",
			what, path, err, os.Geteuid())
	case err != nil:
		return -1, st, fmt.Errorf("devkey: %s %s: %w", what, path, err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, fmt.Errorf("devkey: %s %s: %w", what, path, err)
	}
	return fd, st, nil
}

// checkMode refuses a file that group or others may read, write or
// execute, saying which of them may do what.
func checkMode(what, path string, mode uint32) error {
	perm := mode & 0o777
	if perm&0o077 == 0 {
		return nil
	}
	return fmt.Errorf("devkey: %s %s: %w: mode %04o: %s; fix with: chmod 600 %s",
		what, path, ErrPermissions, perm, openTo(perm), path)
}

// openTo says what group and others may do with a file of mode perm, as in
// "group can read it, others can write it".
func openTo(perm uint32) string {
	var parts []string
	for _, c := range []struct {
		who   string
		shift uint
	}{{"group", 3}, {"others", 0}} {
		var can []string
		bits := perm >> c.shift & 7
		if bits&4 != 0 {
			can = append(can, "read")
		}
		if bits&2 != 0 {
			can = append(can, "write")
		}
		if bits&1 != 0 {
			can = append(can, "execute")
		}
		switch len(can) {
		case 0:
			continue
		case 3:
			parts = append(parts, c.who+" can read, write and execute it")
		default:
			parts = append(parts, c.who+" can "+strings.Join(can, " and ")+" it")
		}
	}
	return strings.Join(parts, ", ")
}

// kind names the type of a file of mode m, with its article.
func kind(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return "a regular file"
}

// errLimit is readAll's error for more bytes than it may read.
var errLimit = errors.New("read limit exceeded")

// readAll reads fd, opened with O_NONBLOCK, to its end; more than max
// bytes is errLimit. For a FIFO it waits before each read until data or
// the end is there (poll), so that it neither spins nor takes "no writer
// yet" for the end, and returns ctx's error as soon as ctx ends.
func readAll(ctx context.Context, fd int, fifo bool, max int) ([]byte, error) {
	var wake [2]int
	if fifo {
		if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			return nil, fmt.Errorf("pipe: %w", err)
		}
		defer unix.Close(wake[0])
		// Closing the pipe's write end wakes the poll below; when ctx
		// never ends, it is closed here instead.
		stop := context.AfterFunc(ctx, func() { unix.Close(wake[1]) })
		defer func() {
			if stop() {
				unix.Close(wake[1])
			}
		}()
	}
	buf := make([]byte, 0, 512)
	chunk := make([]byte, 4096)
	for {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if fifo {
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
			if _, err := unix.Poll(p, -1); err == unix.EINTR {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("poll: %w", err)
			}
			if p[1].Revents != 0 {
				continue // ctx ended: reported above
			}
		}
		n, err := unix.Read(fd, chunk[:min(len(chunk), max+1-len(buf))])
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err != nil:
			return nil, fmt.Errorf("read: %w", err)
		case n == 0:
			return buf, nil
		}
		buf = append(buf, chunk[:n]...)
		if len(buf) > max {
			return nil, errLimit
		}
	}
}
