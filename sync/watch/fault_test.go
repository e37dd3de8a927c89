package watch

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
)

var errFault = errors.New("injected archive fault")

// faulty is an archive whose named write fails once.
type faulty struct {
	Archive
	fail string
}

func (f *faulty) fault(name string) error {
	if f.fail == name {
		f.fail = ""
		return errFault
	}
	return nil
}

func (f *faulty) PutAnchor(ctx context.Context, a Anchor) error {
	if err := f.fault("PutAnchor"); err != nil {
		return err
	}
	return f.Archive.PutAnchor(ctx, a)
}

func (f *faulty) RaiseAnchored(ctx context.Context, d event.Address, e uint32, size uint64) error {
	if err := f.fault("RaiseAnchored"); err != nil {
		return err
	}
	return f.Archive.RaiseAnchored(ctx, d, e, size)
}

func (f *faulty) PutCosigned(ctx context.Context, d event.Address, e uint32, size uint64, note []byte) error {
	if err := f.fault("PutCosigned"); err != nil {
		return err
	}
	return f.Archive.PutCosigned(ctx, d, e, size, note)
}

func (f *faulty) PutReceived(ctx context.Context, d event.Address, e uint32, size uint64, note []byte) error {
	if err := f.fault("PutReceived"); err != nil {
		return err
	}
	return f.Archive.PutReceived(ctx, d, e, size, note)
}

func (f *faulty) PutAlarm(ctx context.Context, a Alarm) (bool, error) {
	if err := f.fault("PutAlarm"); err != nil {
		return false, err
	}
	return f.Archive.PutAlarm(ctx, a)
}

// TestWatcher_WriteFaults: when any write of an anchor, a cosignature, a
// received checkpoint or an alarm fails, the call returns the error and
// concludes nothing; a watcher restarted on the archive and handed the same
// input again ends every event witnessed, or raises the alarm once.
func TestWatcher_WriteFaults(t *testing.T) {
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 6)
	cp := d.checkpoint()
	fork := newDevice(t, eventlogtest.Key(t))
	fork.append(50, 56)
	tp, addr := d.topics(), d.key.Address()
	for _, fail := range []string{"PutAnchor", "RaiseAnchored", "PutCosigned", "PutReceived", "PutAlarm"} {
		t.Run(fail, func(t *testing.T) {
			ctx := context.Background()
			bolt := openBolt(t, filepath.Join(t.TempDir(), "archive.db"))
			f := &faulty{Archive: bolt, fail: fail}
			w, _ := witnessing(t, f)
			inputs := []func(w *Watcher) (Verdict, error){
				func(w *Watcher) (Verdict, error) { return w.Handle(ctx, tp.Checkpoints, cp) },
			}
			for seq := range uint64(6) {
				inputs = append(inputs, func(w *Watcher) (Verdict, error) { return w.Handle(ctx, tp.Events, d.message(seq)) })
			}
			inputs = append(inputs,
				func(w *Watcher) (Verdict, error) { return w.HandleAnchor(ctx, anchorOf(t, cp, addr)) },
				func(w *Watcher) (Verdict, error) { return w.Handle(ctx, tp.Events, fork.message(2)) })
			failed := -1
			for i, in := range inputs {
				if _, err := in(w); err != nil {
					if !errors.Is(err, errFault) || failed >= 0 {
						t.Fatalf("input %d: %v", i, err)
					}
					failed = i
					break
				}
			}
			if failed < 0 {
				t.Fatalf("no write of %s was made", fail)
			}
			// Restart and hand over everything from the failed input on.
			w, _ = witnessing(t, bolt)
			for _, in := range inputs[failed:] {
				if _, err := in(w); err != nil {
					t.Fatal(err)
				}
			}
			p, err := bolt.Progress(ctx, addr, 0)
			if want := (Progress{Events: 6, Checkpointed: 6, Anchored: 6, Cosigned: 6}); err != nil || p != want {
				t.Fatalf("Progress = %+v, %v, want %+v", p, err, want)
			}
			var alarms int
			bolt.Alarms(ctx, func(a Alarm) bool { alarms++; return a.Reason == ReasonEquivocation })
			if alarms != 1 {
				t.Fatalf("%d alarms, want the equivocation once", alarms)
			}
		})
	}
}

// TestWatcher_TwoOnOneArchive: two watchers on one archive, each handed the
// whole feed at once, archive each event once and end every event
// witnessed.
func TestWatcher_TwoOnOneArchive(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t, eventlogtest.Key(t))
	d.append(0, 20)
	cp := d.checkpoint()
	tp, addr := d.topics(), d.key.Address()
	a := openBolt(t, filepath.Join(t.TempDir(), "archive.db"))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		w, _ := witnessing(t, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range uint64(20) {
				seq := j
				if i == 1 {
					seq = 19 - j // the other in reverse order
				}
				v, err := w.Handle(ctx, tp.Events, d.message(seq))
				if err == nil && v.State == StateRejected {
					err = v.Err
				}
				if err != nil {
					errs <- err
					return
				}
			}
			for _, in := range []func() (Verdict, error){
				func() (Verdict, error) { return w.Handle(ctx, tp.Checkpoints, cp) },
				func() (Verdict, error) { return w.HandleAnchor(ctx, anchorOf(t, cp, addr)) },
			} {
				if v, err := in(); err != nil || v.State == StateRejected {
					errs <- errors.Join(err, v.Err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, err := a.Progress(ctx, addr, 0)
	if want := (Progress{Events: 20, Checkpointed: 20, Anchored: 20, Cosigned: 20}); err != nil || p != want {
		t.Fatalf("Progress = %+v, %v, want %+v", p, err, want)
	}
	if n := countLeaves(t, a, addr, 0); n != 20 {
		t.Fatalf("%d events archived, want 20", n)
	}
}
