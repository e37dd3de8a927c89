package onecore

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPin_OneCoreThenRestore(t *testing.T) {
	var before unix.CPUSet
	unix.SchedGetaffinity(0, &before)
	gmp := runtime.GOMAXPROCS(0)
	restore, err := Pin()
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		var s unix.CPUSet
		var tid int
		for _, c := range task.Name() {
			tid = tid*10 + int(c-'0')
		}
		if unix.SchedGetaffinity(tid, &s) == nil && s.Count() != 1 {
			t.Errorf("thread %d may run on %d CPUs", tid, s.Count())
		}
	}
	if runtime.GOMAXPROCS(0) != 2 {
		t.Errorf("GOMAXPROCS = %d, want 2", runtime.GOMAXPROCS(0))
	}
	restore()
	var after unix.CPUSet
	unix.SchedGetaffinity(0, &after)
	if after != before || runtime.GOMAXPROCS(0) != gmp {
		t.Errorf("restore left affinity %v (was %v), GOMAXPROCS %d (was %d)", after.Count(), before.Count(), runtime.GOMAXPROCS(0), gmp)
	}
}
