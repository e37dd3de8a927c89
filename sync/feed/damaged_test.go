package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// TestPublisher_PassesDamagedEvents changes the bytes of three events in
// their segment file, behind the log's back (their stored hashes intact):
// the second, one at a read-ahead chunk's boundary, and the last. The
// publisher publishes every other event in order, passes the damaged ones
// (a gap at exactly their seqs), moves its cursor to the log's end, logs
// each once at error level and reports them in Status; the checkpoint it
// publishes covers them.
func TestPublisher_PassesDamagedEvents(t *testing.T) {
	const n = 600
	damaged := []uint64{1, maxChunk, n - 1}
	b := mosquitto.Start(t, nil)
	k := mustKey(t, testKeyHex)
	id := eventlog.Identity{Device: k.Address(), Fleet: testDomain.Fleet, ChainID: testDomain.ChainID}
	dir := t.TempDir()
	opts := &eventlog.Options{Create: &id, Keys: k, Now: func() time.Time { return testStart }}
	l, err := eventlog.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, n)
	segs, err := l.Segments()
	if err != nil || len(segs) != 1 {
		t.Fatalf("Segments() = %v, %v; want one", segs, err)
	}
	seg := filepath.Join(dir, segs[0].File)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// appendEvents writes "lat":50.8SSSS for event SSSS; 50.9SSSS is no
	// event's.
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range damaged {
		from, to := fmt.Appendf(nil, `"lat":50.8%04d,`, seq), fmt.Appendf(nil, `"lat":50.9%04d,`, seq)
		if !bytes.Contains(raw, from) {
			t.Fatalf("event %d not found in %s", seq, seg)
		}
		raw = bytes.ReplaceAll(raw, from, to)
	}
	if err := os.WriteFile(seg, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	opts.Create = nil
	l, err = eventlog.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, seq := range damaged {
		var d *eventlog.DamageError
		if _, err := l.Leaf(seq); !errors.As(err, &d) || !d.EventOnly() || d.Seq != seq {
			t.Fatalf("Leaf(%d) = %v; want the damage of its bytes alone", seq, err)
		}
	}
	if _, c, err := l.Checkpoint(context.Background()); err != nil || c.Size != n {
		t.Fatalf("Checkpoint = size %d, %v; want %d signed over the damaged events", c.Size, err, n)
	}

	topics := TopicsFor(id.Fleet, id.Device)
	sub := subscribe(t, b.URL(), "consumer", topics.Events)
	fo := testOptions(t, b.URL())
	logs := &lineCounter{t: t, match: "event damaged in the log"}
	fo.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(l, fo)
	if err != nil {
		t.Fatal(err)
	}
	defer runPublisher(t, p)()
	waitCursor(t, p, n)
	st := waitStatus(t, p, "the checkpoint of all events acknowledged", func(st Status) bool { return st.Checkpoint == n })
	if st.DamagedEvents != uint64(len(damaged)) || !slices.Equal(st.DamagedSeqs, damaged) {
		t.Errorf("Status: %d damaged events %v; want %v", st.DamagedEvents, st.DamagedSeqs, damaged)
	}
	want := n - len(damaged)
	sub.waitFor("every event not damaged", func() bool { return len(sub.messages(topics.Events)) >= want })
	var got []uint64
	for i, r := range sub.messages(topics.Events) {
		m, err := ParseMessage(r.payload)
		if err == nil {
			err = Verify(m, testDomain, id.Device)
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got = append(got, m.Seq)
	}
	var expect []uint64
	for seq := range uint64(n) {
		if !slices.Contains(damaged, seq) {
			expect = append(expect, seq)
		}
	}
	if !slices.Equal(got, expect) {
		t.Fatalf("the consumer got %d events; want %d, every event but %v, in order", len(got), len(expect), damaged)
	}
	if c := logs.count(); c != len(damaged) {
		t.Errorf("%d error lines about damaged events; want one for each of %v", c, damaged)
	}
	t.Logf("%d events delivered, %v passed as damaged, cursor %d, checkpoint %d", len(got), st.DamagedSeqs, st.Cursor, st.Checkpoint)
}

// lineCounter logs to t and counts the lines that contain match.
type lineCounter struct {
	t     testing.TB
	match string
	mu    sync.Mutex
	n     int
}

func (w *lineCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	if strings.Contains(string(b), w.match) {
		w.n++
	}
	w.mu.Unlock()
	return tWriter{w.t}.Write(b)
}

func (w *lineCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}
