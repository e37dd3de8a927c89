//go:build unix

package config

import "golang.org/x/sys/unix"

// access reports whether this process may read the file at path, without
// opening it.
func access(path string) error {
	return unix.Access(path, unix.R_OK)
}
