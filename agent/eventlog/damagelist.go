package eventlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/waybill-eu/waybill/agent/atomicfile"
)

// damagedName is the file, in the epoch's directory, listing the events
// whose bytes alone are damaged (errLeafBytes) that the log has met, so
// that Log.Damaged reports them after a restart before a read or the
// rotating scrub meets them again. It is a report, not part of the log:
// the segments stay as they are, and a list that is missing or does not
// parse is only logged. Its content:
//
//	{"count": 1, "events": [{"seq": 10, "file": "epoch-0/seg-000001.db"}]}
//
// count is the number of such events met; events holds the first
// maxDamageKept of them.
const damagedName = "damaged-events.json"

type damagedList struct {
	Count  int            `json:"count"`
	Events []damagedEvent `json:"events"`
}

type damagedEvent struct {
	Seq  uint64 `json:"seq"`
	File string `json:"file"`
}

func (l *Log) damagedPath() string {
	return filepath.Join(l.dir, EpochDir(l.epoch), damagedName)
}

// loadDamaged reads the current epoch's list of damaged events into what
// Damaged reports. Entries that name no segment of the epoch, or an event
// outside it, are dropped. The caller is Open.
func (l *Log) loadDamaged() {
	b, err := os.ReadFile(l.damagedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var dl damagedList
	if err == nil {
		err = json.Unmarshal(b, &dl)
	}
	if err != nil {
		l.opts.Logger.Warn("the list of damaged events is unreadable; events are reported again when a read or a checkpoint meets them",
			"file", l.relFile(l.damagedPath()), "err", err)
		return
	}
	kept := 0
	for _, e := range dl.Events {
		for _, s := range l.man.Segments {
			if d := (DamageError{File: e.File, Seq: e.Seq, HasSeq: true, Err: errLeafBytes}); s.File == e.File && !s.Pruned && e.Seq >= s.First && !l.seenLocked(&d) {
				if len(l.found) < maxDamageKept {
					l.found = append(l.found, d)
				}
				kept++
				break
			}
		}
	}
	// Events beyond the list are counted only; those dropped are not.
	l.leafDamageN = max(kept, dl.Count-(len(dl.Events)-kept))
	l.foundN += l.leafDamageN
	if kept > 0 {
		l.opts.Logger.Error("LOG DAMAGED: events of this log are damaged and are not handed out; checkpoints go on over their stored hashes",
			"count", l.foundN, "events", damagedSeqs(l.found), "next", "waybill log check lists them; waybill log prove --seq N --leaf FILE proves one from a copy a feed consumer holds; waybill log salvage recovers what the files still prove")
	}
}

// saveDamaged writes the list of damaged events Damaged reports. The
// caller holds no lock; dmMu orders the writes.
func (l *Log) saveDamaged() {
	l.dmMu.Lock()
	defer l.dmMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	var dl damagedList
	for _, d := range l.found {
		if d.HasSeq && errors.Is(d.Err, errLeafBytes) {
			dl.Events = append(dl.Events, damagedEvent{Seq: d.Seq, File: d.File})
		}
	}
	dl.Count = l.leafDamageN
	path := l.damagedPath()
	l.mu.Unlock()
	b, err := json.Marshal(dl)
	if err == nil {
		err = atomicfile.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		l.opts.Logger.Warn("the list of damaged events was not stored; a restart reports them again when met", "err", fmt.Errorf("%s: %w", path, err))
	}
}

func damagedSeqs(ds []DamageError) []uint64 {
	var out []uint64
	for _, d := range ds {
		if d.HasSeq {
			out = append(out, d.Seq)
		}
	}
	return out
}
