package pgarchive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/archivetest"
	"github.com/waybill-eu/waybill/testbench/postgres"
)

// waitLimit bounds every wait on the database: far beyond what a step
// takes on a loaded machine, so that only a step that never happens fails.
const waitLimit = 2 * time.Minute

var dev = event.Address{0xd1, 0xce}

func open(t *testing.T, dsn string) *Archive {
	t.Helper()
	a, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func count(t *testing.T, c *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestArchive(t *testing.T) {
	s := postgres.Start(t)

	t.Run("Conformance", func(t *testing.T) {
		archivetest.Run(t, func(t *testing.T) watch.Archive { return open(t, s.NewDatabase(t)) })
	})

	// Two watchers (two archives, two pools) storing the same events at
	// once, each in its own order, leave one row per event; exactly one
	// of them is told each event is new.
	t.Run("TwoWatchers", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		as := []*Archive{open(t, dsn), open(t, dsn)}
		const events, writers = 300, 3
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		told := map[uint64]int{}
		errs := make(chan error, len(as)*writers)
		for i, a := range as {
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(i), uint64(w)))
					for _, s := range r.Perm(events) {
						k := watch.Key{Device: dev, Epoch: 1, Seq: uint64(s)}
						l := fmt.Appendf(nil, "leaf %d", s)
						prev, err := a.PutEvent(ctx, k, l)
						if err != nil {
							errs <- err
							return
						}
						if prev != nil && !bytes.Equal(prev, l) {
							errs <- fmt.Errorf("event %d holds %q, want %q", s, prev, l)
							return
						}
						if prev == nil {
							mu.Lock()
							told[k.Seq]++
							mu.Unlock()
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for s := range uint64(events) {
			if told[s] != 1 {
				t.Errorf("event %d: %d writers were told it was new, want 1", s, told[s])
			}
		}
		c := connect(t, dsn)
		if n := count(t, c, "SELECT count(*) FROM events"); n != events {
			t.Errorf("events table holds %d rows, want %d", n, events)
		}
		if n := count(t, c, "SELECT count(DISTINCT (device, epoch, seq)) FROM events"); n != events {
			t.Errorf("events table holds %d keys, want %d", n, events)
		}
		if p, err := as[1].Progress(ctx, dev, 1); err != nil || p.Events != events {
			t.Errorf("Progress = %+v, %v; want %d events", p, err, events)
		}
	})

	// uint64 values are stored exactly, at both ends of their range.
	t.Run("Uint64", func(t *testing.T) {
		a := open(t, s.NewDatabase(t))
		ctx := context.Background()
		for _, seq := range []uint64{math.MaxUint64, 0, math.MaxInt64 + 1, math.MaxInt64} {
			if _, err := a.PutEvent(ctx, watch.Key{Device: dev, Epoch: math.MaxUint32, Seq: seq}, fmt.Appendf(nil, "%d", seq)); err != nil {
				t.Fatal(err)
			}
		}
		var got []uint64
		err := a.Leaves(ctx, dev, math.MaxUint32, math.MaxInt64, func(seq uint64, l []byte) bool {
			if string(l) != fmt.Sprint(seq) {
				t.Errorf("event %d holds %q", seq, l)
			}
			got = append(got, seq)
			return true
		})
		if err != nil || fmt.Sprint(got) != fmt.Sprint([]uint64{math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}) {
			t.Fatalf("Leaves from 2^63-1 = %v, %v", got, err)
		}
		x := watch.Anchor{Device: dev, Size: math.MaxUint64, ChainID: math.MaxUint64, Block: math.MaxUint64, Confirmations: math.MaxUint64, Final: true}
		if err := a.PutAnchor(ctx, x); err != nil {
			t.Fatal(err)
		}
		var xs []watch.Anchor
		if err := a.Anchors(ctx, dev, 0, math.MaxUint64, func(y watch.Anchor) bool { xs = append(xs, y); return true }); err != nil || len(xs) != 1 || xs[0] != x {
			t.Fatalf("Anchors = %+v, %v; want %+v", xs, err, x)
		}
	})

	// A rejected message is kept verbatim whatever its topic holds (NUL,
	// invalid UTF-8), and an empty payload is kept as such.
	t.Run("VerbatimRecords", func(t *testing.T) {
		a := open(t, s.NewDatabase(t))
		ctx := context.Background()
		r := watch.Record{Time: time.Date(2026, 12, 8, 5, 0, 0, 123456000, time.UTC), Topic: "waybill/\x00/\xff\xfe/events",
			Payload: nil, Reason: watch.ReasonBadTopic, Detail: "bad topic \xff\x00"}
		if err := a.PutRejected(ctx, r); err != nil {
			t.Fatal(err)
		}
		var got []watch.Record
		if err := a.Rejected(ctx, watch.ReasonBadTopic, func(r watch.Record) bool { got = append(got, r); return true }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Topic != r.Topic || len(got[0].Payload) != 0 || !got[0].Time.Equal(r.Time) || got[0].Detail != "bad topic \uFFFD\uFFFD" {
			t.Fatalf("Rejected = %+q, want %+q (its detail as valid text)", got, r)
		}
	})

	// PutAnchor merges in SQL exactly as watch.Anchor.Merge does, whatever
	// the order of the readings.
	t.Run("AnchorMerge", func(t *testing.T) {
		a := open(t, s.NewDatabase(t))
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		for i := range 40 {
			base := watch.Anchor{Device: dev, Epoch: uint32(i), Size: 10, Root: [32]byte{byte(i)}, ChainID: 1, Tx: [32]byte{1}}
			var want watch.Anchor
			for j := range 1 + r.IntN(5) {
				x := base
				x.Block, x.Confirmations, x.Final = uint64(r.IntN(1000)), uint64(r.IntN(4)), r.IntN(4) == 0
				x.Source = fmt.Sprintf("reader %d", j)
				if j == 0 {
					want = x
				} else {
					want = want.Merge(x)
				}
				if err := a.PutAnchor(ctx, x); err != nil {
					t.Fatal(err)
				}
			}
			var got []watch.Anchor
			if err := a.Anchors(ctx, dev, uint32(i), 0, func(x watch.Anchor) bool { got = append(got, x); return true }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("epoch %d: stored %+v, Merge gives %+v", i, got, want)
			}
		}
	})

	// Listings page through more rows than one query reads, and a
	// listing's function may use the archive (no connection is held).
	t.Run("Pages", func(t *testing.T) {
		a := open(t, s.NewDatabase(t))
		ctx := context.Background()
		const n = 2*page + 7
		batch := &pgx.Batch{}
		for i := range n {
			batch.Queue("INSERT INTO events (device, epoch, seq, leaf) VALUES ($1, 0, $2, $3)", dev[:], uint64(i), []byte{byte(i)})
		}
		if err := a.pool.SendBatch(ctx, batch).Close(); err != nil {
			t.Fatal(err)
		}
		next := uint64(0)
		err := a.Leaves(ctx, dev, 0, 0, func(seq uint64, l []byte) bool {
			if seq != next || !bytes.Equal(l, []byte{byte(seq)}) {
				t.Fatalf("Leaves gave %d %x, want %d", seq, l, next)
			}
			next++
			if seq%page == 0 {
				if _, err := a.Progress(ctx, dev, 0); err != nil {
					t.Fatalf("Progress inside Leaves: %v", err)
				}
			}
			return true
		})
		if err != nil || next != n {
			t.Fatalf("Leaves gave %d events, %v; want %d", next, err, n)
		}
	})
}

// blockedWrite starts write, which blocks inside its statement, after
// inserting its row, on the origin's row in origins, which c holds locked
// in a transaction; it returns write's result channel and its backend.
func blockedWrite(t *testing.T, a *Archive, c *pgx.Conn, write func(context.Context, *Archive) error) (<-chan error, int) {
	t.Helper()
	ctx := context.Background()
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, "SELECT 1 FROM origins WHERE device = $1 AND epoch = $2 FOR UPDATE", lostKey.Device[:], lostKey.Epoch); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- write(ctx, a) }()
	// Wait for the write's backend to wait on c's lock.
	deadline := time.Now().Add(waitLimit)
	for {
		var pid int
		err := c.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&pid)
		if err == nil {
			return done, pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the write returned (%v) while the origin's row was locked", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write waiting on the origin's lock after %v", waitLimit)
		}
	}
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("the write did not return within %v of its connection's end", waitLimit)
		return nil
	}
}

// lostKey is the origin and event of TestArchive_ConnectionLost.
var lostKey = watch.Key{Device: dev, Epoch: 3, Seq: 7}

// A write whose connection ends in the middle of its statement (the
// backend terminated, or the server killed) returns an error and leaves
// nothing: not its row, not the origin's count or mark; written again, it
// is stored once. Each write that touches two tables is cut between them.
func TestArchive_ConnectionLost(t *testing.T) {
	s := postgres.Start(t)
	ctx := context.Background()
	k := lostKey
	writes := []struct {
		name        string
		write       func(context.Context, *Archive) error
		rows, mark  string // queries: the write's rows; the origin's count or mark
		before, aft int    // the mark before and after the write
	}{
		{"PutEvent", func(ctx context.Context, a *Archive) error {
			prev, err := a.PutEvent(ctx, k, []byte("leaf"))
			if err == nil && prev != nil {
				err = fmt.Errorf("PutEvent found %q stored", prev)
			}
			return err
		}, "SELECT count(*) FROM events WHERE seq = 7", "SELECT events::int FROM origins", 1, 2},
		{"PutCheckpoint", func(ctx context.Context, a *Archive) error {
			return a.PutCheckpoint(ctx, k.Device, k.Epoch, 9, []byte("cp9"))
		}, "SELECT count(*) FROM checkpoints WHERE size = 9", "SELECT checkpointed::int FROM origins", 0, 9},
		{"PutCosigned", func(ctx context.Context, a *Archive) error {
			return a.PutCosigned(ctx, k.Device, k.Epoch, 9, []byte("co9"))
		}, "SELECT count(*) FROM cosigned WHERE size = 9", "SELECT cosigned::int FROM origins", 0, 9},
	}
	ends := []struct {
		name string
		end  func(t *testing.T, c *pgx.Conn, pid int)
	}{
		{"Terminated", func(t *testing.T, c *pgx.Conn, pid int) {
			var ok bool
			if err := c.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
				t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
			}
		}},
		{"ServerKilled", func(t *testing.T, c *pgx.Conn, pid int) {
			s.Kill()
			s.Restart()
		}},
	}
	for _, w := range writes {
		for _, e := range ends {
			t.Run(w.name+"/"+e.name, func(t *testing.T) {
				dsn := s.NewDatabase(t)
				a := open(t, dsn)
				// The origin's row exists, with one event.
				if _, err := a.PutEvent(ctx, watch.Key{Device: k.Device, Epoch: k.Epoch, Seq: 1000}, []byte("before")); err != nil {
					t.Fatal(err)
				}
				blocker := connect(t, dsn)
				done, pid := blockedWrite(t, a, blocker, w.write)
				e.end(t, blocker, pid)
				if err := wait(t, done); err == nil {
					t.Fatal("the write returned no error when its connection ended")
				} else {
					t.Logf("%s: %v", w.name, err)
				}
				c := connect(t, dsn)
				// End the blocker's transaction (the server's kill ended it already).
				if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"); err != nil {
					t.Fatal(err)
				}
				if n := count(t, c, w.rows); n != 0 {
					t.Fatalf("the interrupted write left %d rows", n)
				}
				if n := count(t, c, w.mark); n != w.before {
					t.Fatalf("the interrupted write left the origin at %d, want %d", n, w.before)
				}
				if err := w.write(ctx, a); err != nil {
					t.Fatalf("the write again: %v", err)
				}
				if n := count(t, c, w.rows); n != 1 {
					t.Fatalf("%d rows after the write again, want 1", n)
				}
				if n := count(t, c, w.mark); n != w.aft {
					t.Fatalf("the origin at %d after the write again, want %d", n, w.aft)
				}
			})
		}
	}
}

// Ping answers while the server runs and fails while it is down, with no
// write needed to find out; it answers again once the server is back.
func TestArchive_Ping(t *testing.T) {
	s := postgres.Start(t)
	a := open(t, s.NewDatabase(t))
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatalf("Ping of a running server: %v", err)
	}
	s.Kill()
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := a.Ping(pctx)
	cancel()
	if err == nil {
		t.Fatal("Ping of a killed server returned nil")
	}
	t.Logf("server killed: %v", err)
	s.Restart()
	deadline := time.Now().Add(2 * time.Minute)
	for err := a.Ping(ctx); err != nil; err = a.Ping(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
