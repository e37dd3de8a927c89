//go:build !linux

package watchbench

// isTmpfs says whether dir is on a memory file system: unknown here.
func isTmpfs(string) bool { return false }
