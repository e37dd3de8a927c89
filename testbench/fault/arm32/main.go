// Command arm32 is run by the event log's 32-bit test (TestLog_Arm32 in
// agent/eventlog) as a GOARCH=arm binary under qemu-arm with a small guest
// address space. It appends events with large payloads to a log until the
// leaf bytes reach -bytes, then prints one line of figures:
//
//	done events=N leafbytes=B segments=S filebytes=F size=N root=HEX
//
// On an append error it prints "error TEXT" and the figures so far and
// exits with status 3.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

func main() {
	dir := flag.String("dir", "", "log directory")
	keyHex := flag.String("key", "", "device key (hex)")
	total := flag.Int64("bytes", 64<<20, "leaf bytes to append")
	files := flag.Int64("file-bytes", 0, "if > 0: stop once the segment files total this many bytes")
	segment := flag.Int64("segment", 1<<20, "Options.SegmentBytes")
	payload := flag.Int("payload", 8000, "payload bytes per event (at most 8 KiB)")
	workers := flag.Int("workers", 4, "concurrent appenders")
	fleet := flag.String("fleet", "test-fleet", "fleet of a new log")
	chain := flag.Uint64("chain", 1337, "chain id of a new log")
	budget := flag.Int("vm-budget", 0, "if > 0: first occupy the whole address space but this many MiB, contiguous")
	flag.Parse()
	if *budget > 0 {
		reserved, err := squeeze(*budget << 20)
		if err != nil {
			fail(err)
		}
		fmt.Printf("squeezed reserved=%d free=%d\n", reserved, *budget<<20)
	}
	k, err := devkey.FromHex(*keyHex)
	if err != nil {
		fail(err)
	}
	l, err := eventlog.Open(context.Background(), *dir, &eventlog.Options{
		Create:       &eventlog.Identity{Device: k.Address(), Fleet: *fleet, ChainID: *chain},
		Keys:         k,
		SegmentBytes: *segment,
	})
	if err != nil {
		fail(err)
	}
	start := time.Now()
	pad := strings.Repeat("a", max(0, *payload-len(`{"n":0000000000,"pad":""}`)))
	var leafBytes, events atomic.Int64
	var once sync.Once
	var appendErr error
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; leafBytes.Load() < *total; i++ {
				n := i**workers + w
				s, err := l.Append(context.Background(), event.Event{
					Time:    time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(n),
					Source:  event.SourceRTC,
					Kind:    "x_bulk",
					Payload: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, n, pad),
				})
				if err != nil {
					once.Do(func() { appendErr = err })
					return
				}
				leaf, err := s.Leaf()
				if err != nil {
					once.Do(func() { appendErr = err })
					return
				}
				leafBytes.Add(int64(len(leaf)))
				if events.Add(1)%64 == 0 && *files > 0 && segmentBytes(*dir) >= *files {
					leafBytes.Store(*total) // stop every worker
				}
			}
		}(w)
	}
	wg.Wait()
	segs, _ := filepath.Glob(filepath.Join(*dir, "epoch-*", "seg-*.db"))
	size, root := l.Root()
	var leafTotal int64
	if err := l.Range(0, 0, func(_ uint64, leaf []byte) error { leafTotal += int64(len(leaf)); return nil }); err != nil && appendErr == nil {
		appendErr = fmt.Errorf("range: %w", err)
	}
	figures := fmt.Sprintf("events=%d leafbytes=%d segments=%d filebytes=%d size=%d root=%s seconds=%.1f",
		events.Load(), leafTotal, len(segs), segmentBytes(*dir), size, hex.EncodeToString(root[:]), time.Since(start).Seconds())
	var ckpt string
	if appendErr == nil {
		// Signing checks every event since the last checkpoint, across
		// all the segments, within the same address space.
		_, c, err := l.Checkpoint(context.Background())
		if err != nil {
			appendErr = fmt.Errorf("checkpoint: %w", err)
		}
		ckpt = fmt.Sprintf(" checkpoint=%d", c.Size)
	}
	figures += ckpt
	if appendErr != nil {
		fmt.Printf("error %v\n", appendErr)
		fmt.Printf("partial %s\n", figures)
		l.Close()
		os.Exit(3)
	}
	if err := l.Close(); err != nil {
		fail(err)
	}
	fmt.Printf("done %s\n", figures)
}

// squeeze maps inaccessible memory over all of the process's free address
// space, then unmaps one contiguous run of budget bytes: from then on the Go
// heap and every bbolt mapping must fit in that run. This stands in for a
// small 32-bit device without writing gigabytes under emulation. It
// returns how many bytes stay reserved.
func squeeze(budget int) (int64, error) {
	const chunk = 4 << 20
	type region struct {
		addr uintptr
		b    []byte
	}
	var big []region
	reserved := int64(0)
	prot, flags := syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE
	for size := chunk; size >= 4096; {
		b, err := syscall.Mmap(-1, 0, size, prot, flags)
		if err != nil {
			size /= 2
			continue
		}
		reserved += int64(size)
		if size == chunk {
			big = append(big, region{uintptr(unsafe.Pointer(&b[0])), b})
		}
	}
	sort.Slice(big, func(i, j int) bool { return big[i].addr < big[j].addr })
	need := (budget + chunk - 1) / chunk
	for i := 0; i+need <= len(big); i++ {
		if big[i+need-1].addr-big[i].addr != uintptr((need-1)*chunk) {
			continue
		}
		for _, r := range big[i : i+need] {
			if err := syscall.Munmap(r.b); err != nil {
				return 0, err
			}
			reserved -= int64(chunk)
		}
		return reserved, nil
	}
	return 0, fmt.Errorf("no %d contiguous free chunks of %d bytes", need, chunk)
}

// segmentBytes returns the total size of the log's segment files.
func segmentBytes(dir string) int64 {
	segs, _ := filepath.Glob(filepath.Join(dir, "epoch-*", "seg-*.db"))
	var n int64
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func fail(err error) {
	fmt.Printf("error %v\n", err)
	os.Exit(3)
}
