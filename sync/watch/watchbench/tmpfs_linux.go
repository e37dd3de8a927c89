package watchbench

import "golang.org/x/sys/unix"

// isTmpfs says whether dir is on a memory file system.
func isTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}
