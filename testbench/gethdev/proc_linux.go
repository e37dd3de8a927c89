package gethdev

import "syscall"

// sysProcAttr has the kernel kill geth when the test binary dies, so a
// crashed or killed test leaves no node behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
