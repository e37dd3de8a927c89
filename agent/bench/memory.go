package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory is the process's resident memory at one moment, as
// /proc/self/status reports it; 0 where it is not reported.
type Memory struct {
	AnonKiB float64 // RssAnon: heap, stacks
	FileKiB float64 // RssFile: mapped files, the log's included
}

// resident reads the process's resident memory now.
func resident() Memory {
	return Memory{AnonKiB: statusKiB("RssAnon:"), FileKiB: statusKiB("RssFile:")}
}

// sampleAnon samples RssAnon every 10 ms until the returned function is
// called, which returns the peak in MiB.
func sampleAnon() (stop func() float64) {
	done := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		var max float64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v := statusKiB("RssAnon:") / 1024; v > max {
				max = v
			}
			select {
			case <-t.C:
			case <-done:
				peak <- max
				return
			}
		}
	}()
	return func() float64 { close(done); return <-peak }
}

// statusKiB reads one "kB" field of /proc/self/status, or 0 if it cannot.
func statusKiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	return 0
}
