//go:build !linux

package gethdev

import "syscall"

// sysProcAttr is the default elsewhere: only Linux can tie geth's life to the
// test binary's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
