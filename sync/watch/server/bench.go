package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/waybill-eu/waybill/sync/watch/watchbench"
)

func cmdBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("bench", stdout)
	round := fs.Duration("round", time.Second, "the timed part of each measurement of each paired round (at least 10ms)")
	devices := fs.Int("devices", 1000, "devices the memory measurement holds (at least 100)")
	dir := fs.String("dir", "", "directory of the on-disk archive of the durable rate (default: a temporary one)")
	mem := fs.String("mem-dir", "", "directory on a memory file system for the archive of the verification rate (default /dev/shm)")
	asJSON := fs.Bool("json", false, "print one JSON object (firmware-docs/CLI.md)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *round < watchbench.MinRound {
		return usageError{fmt.Sprintf("bench: --round %s is below %s", *round, watchbench.MinRound)}
	}
	if *devices < watchbench.MinDevices {
		return usageError{fmt.Sprintf("bench: --devices %d is below %d", *devices, watchbench.MinDevices)}
	}
	o := watchbench.Options{Round: *round, Devices: *devices, Dir: *dir, MemDir: *mem}
	if !*asJSON {
		fmt.Fprintf(stdout, "%d paired rounds of %s on one core: raw secp256k1 recovery, then events through the watcher\n", watchbench.Rounds, *round)
		o.OnRound = func(r watchbench.Round) {
			fmt.Fprintf(stdout, "  round %d: %9.1f recoveries/s  %9.1f events verified/s  ratio %.3f\n",
				r.N, r.RecoversPerSec, r.VerifiedPerSec, r.VerifiedPerSec/r.RecoversPerSec)
		}
	}
	r, err := watchbench.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	build := "pure Go"
	if r.Cgo {
		build = "cgo, libsecp256k1"
	}
	fmt.Fprintf(stdout, "raw recovery (%s):      %9.1f /s (median)\n", build, r.RecoversPerSec)
	fmt.Fprintf(stdout, "events verified:        %9.1f /s (median), %.3f of the raw recovery rate\n", r.VerifiedPerSec, r.Ratio)
	fmt.Fprintf(stdout, "events verified, fsync: %9.1f /s, the archive on disk\n", r.DurablePerSec)
	fmt.Fprintf(stdout, "heap per 1,000 devices: %9.2f MiB (%d devices held)\n", r.HeapMiBPer1000Devices, r.Devices)
	if r.MemDir != "" {
		fmt.Fprintf(stdout, "note: %s is not a memory file system: the verification rate includes its writes\n", r.MemDir)
	}
	return nil
}
