// Package onecore runs a measurement on one CPU core, as on a single-core
// device such as a Raspberry Pi Zero.
//
// Pin confines every thread of the process to one core with
// sched_setaffinity (threads created later inherit it) and sets GOMAXPROCS
// to 2, as the agent runs on a single-core device (see agent/cmd/waybill's
// tuneRuntime): the kernel shares the one core between the thread that
// signs and the thread blocked in fsync, rather than the Go scheduler
// waiting for its monitor to notice the blocked system call.
package onecore

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Pin confines the process to one core and returns a function that
// restores the previous affinity and GOMAXPROCS.
func Pin() (restore func(), err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("onecore: %w", err)
	}
	cpu := -1
	for i := 0; i < 1024; i++ {
		if old.IsSet(i) {
			cpu = i
			break
		}
	}
	if cpu < 0 {
		return nil, fmt.Errorf("onecore: no CPU in the affinity mask")
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := setAll(&one); err != nil {
		return nil, err
	}
	prev := runtime.GOMAXPROCS(2)
	return func() {
		runtime.GOMAXPROCS(prev)
		setAll(&old)
	}, nil
}

// setAll sets the affinity of every thread of the process.
func setAll(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("onecore: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("onecore: set affinity of thread %d: %w", tid, err)
		}
	}
	return nil
}
