package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/feed"
)

// HandleAnchor matches an anchor read from a ledger against the archive.
// The anchor is archived first (merged with earlier readings of it), so an
// anchor that arrives before the events it covers waits in the archive,
// and is matched when the last of them arrives (in that event's verdict)
// or when the watcher restarts.
//
// The verdict's State is StateReceived while some event below the anchor's
// size is not archived; StateVerified when the root of the archived leaves
// at its size is the anchored root but the anchor is not final yet (the
// ledger reader hands it over again as it gains confirmations);
// StateAnchored when it matches and is final, and the origin's anchored
// mark is raised to its size; StateRejected with ReasonAnchorMismatch,
// and an alarm with evidence, when the anchored root is not the root of
// the archived leaves; StateRejected with ReasonUnknownDevice for a device
// outside the allowlist, kept apart. An error means the archive failed:
// nothing was concluded, and the anchor must be handed over again.
func (w *Watcher) HandleAnchor(ctx context.Context, a Anchor) (Verdict, error) {
	v := Verdict{Channel: feed.ChannelAnchors, Device: a.Device, Epoch: a.Epoch, Size: a.Size, Topic: "ledger:" + a.Source}
	td := w.devices[a.Device]
	if td == nil {
		return w.reject(ctx, v, a.marshal(), ReasonUnknownDevice, fmt.Errorf("anchor of device %s, which is not in the allowlist", a.Device))
	}
	v.Operator = td.operator
	defer w.lock(a.Device)()
	o, err := w.origin(ctx, nil, a.Device, a.Epoch)
	if err != nil {
		return v, err
	}
	if err := w.arc.PutAnchor(ctx, a); err != nil {
		return v, err
	}
	if a.Size > o.next {
		k := a.Key()
		if old, ok := o.anchors[k]; ok {
			a = old.Merge(a)
		}
		o.anchors[k] = a
		v.State = StateReceived
		return v, nil
	}
	return w.matchAnchor(ctx, v, td, o, a)
}

// settleAnchors matches the waiting anchors of o whose events have all
// arrived, by increasing size.
func (w *Watcher) settleAnchors(ctx context.Context, td *trusted, epoch uint32, o *origin) ([]Verdict, error) {
	var ready []Anchor
	for _, a := range o.anchors {
		if a.Size <= o.next {
			ready = append(ready, a)
		}
	}
	slices.SortFunc(ready, func(a, b Anchor) int { return cmpUint(a.Size, b.Size) })
	var out []Verdict
	for _, a := range ready {
		v := Verdict{Channel: feed.ChannelAnchors, Device: a.Device, Operator: td.operator, Epoch: epoch, Size: a.Size, Topic: "ledger:" + a.Source}
		v, err := w.matchAnchor(ctx, v, td, o, a)
		if err != nil {
			return out, err
		}
		delete(o.anchors, a.Key())
		out = append(out, v)
	}
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matchAnchor matches an anchor whose events are all archived.
func (w *Watcher) matchAnchor(ctx context.Context, v Verdict, td *trusted, o *origin, a Anchor) (Verdict, error) {
	root, _, err := w.rootAt(ctx, a.Device, a.Epoch, o, a.Size)
	if err != nil {
		return v, err
	}
	if root != merkle.Hash(a.Root) {
		why := fmt.Errorf("anchor of %s/%d at size %d on chain %d (block %d, transaction %x) has root %s, the archived leaves give %s",
			a.Device, a.Epoch, a.Size, a.ChainID, a.Block, a.Tx, merkle.Hash(a.Root), root)
		ev, err := w.anchorEvidence(ctx, td, o, a, root)
		if err != nil {
			return v, err
		}
		if err := w.alarm(ctx, &v, o, ReasonAnchorMismatch, why, ev); err != nil {
			return v, err
		}
		if v.Alarm == nil { // concluded before: the record is kept already
			v.State, v.Reason, v.Err = StateRejected, ReasonAnchorMismatch, why
			return v, nil
		}
		return w.reject(ctx, v, a.marshal(), ReasonAnchorMismatch, why)
	}
	if !a.Final {
		v.State = StateVerified
		return v, nil
	}
	if err := w.arc.RaiseAnchored(ctx, a.Device, a.Epoch, a.Size); err != nil {
		return v, err
	}
	o.prog.Anchored = max(o.prog.Anchored, a.Size)
	v.State = StateAnchored
	return v, nil
}

// anchorJSON form of an anchor in records and evidence (firmware-docs/WATCH.md §8).
func (a Anchor) marshal() []byte {
	b, _ := json.Marshal(anchorJSON{Device: a.Device.String(), Epoch: a.Epoch, Size: a.Size, Root: a.Root[:],
		ChainID: a.ChainID, Block: a.Block, Tx: a.Tx[:], Confirmations: a.Confirmations, Final: a.Final, Source: a.Source})
	return b
}

// anchorEvidenceJSON is the evidence of an anchor_mismatch alarm
// (firmware-docs/WATCH.md §8).
type anchorEvidenceJSON struct {
	Anchor json.RawMessage `json:"anchor"`
	// Checkpoint is the latest verified checkpoint note of the origin,
	// or empty.
	Checkpoint string `json:"checkpoint"`
	// Root is the root of the archived leaves at the anchor's size.
	Root []byte `json:"root"`
	// Proof, when the checkpoint is at least as large as the anchor: the
	// consistency proof from the anchor's size to the checkpoint's,
	// which leads from Root to the checkpoint's root.
	Proof [][]byte `json:"proof"`
	// Leaves, when the anchor is larger than the checkpoint: the signed
	// events from the checkpoint's size up to the anchor's.
	Leaves [][]byte `json:"leaves"`
}

// anchorEvidence builds the evidence of an anchor that mismatches root,
// the root of the archived leaves at its size.
func (w *Watcher) anchorEvidence(ctx context.Context, td *trusted, o *origin, a Anchor, root merkle.Hash) ([]byte, error) {
	e := anchorEvidenceJSON{Anchor: a.marshal(), Root: root[:], Proof: [][]byte{}, Leaves: [][]byte{}}
	if l := o.latest; l != nil {
		e.Checkpoint = string(o.latestNote)
		switch {
		case a.Size < l.Size && a.Size > 0:
			t, err := w.tree(ctx, a.Device, a.Epoch, l.Size)
			if err != nil {
				return nil, err
			}
			p, err := merkle.ProveConsistency(a.Size, l.Size, t)
			if err != nil {
				return nil, fmt.Errorf("watch: consistency proof from the archive: %w", err)
			}
			for _, h := range p {
				e.Proof = append(e.Proof, h[:])
			}
		case a.Size > l.Size:
			ls, err := w.evidenceLeaves(ctx, a.Device, a.Epoch, l.Size, a.Size)
			if err != nil {
				return nil, err
			}
			e.Leaves = ls
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("watch: anchor evidence: %w", err)
	}
	return b, nil
}

// maxEvidenceLeaves bounds the events an evidence file carries, so that it
// stays within the 1 MiB that `waybill verify` reads (an event leaf is at
// most 4096 bytes and usually under 400; base64 adds a third).
const maxEvidenceLeaves = 2048

// evidenceLeaves returns the archived leaves of the origin from lo up to
// hi for evidence, or none if they are more than maxEvidenceLeaves: the
// alarm then stands on the archive, and its evidence does not prove the
// fork offline on its own.
func (w *Watcher) evidenceLeaves(ctx context.Context, device event.Address, epoch uint32, lo, hi uint64) ([][]byte, error) {
	if hi-lo > maxEvidenceLeaves {
		w.log.Warn("watch: fork evidence without its events: too many", "device", device, "epoch", epoch, "from", lo, "to", hi)
		return [][]byte{}, nil
	}
	return w.leaves(ctx, device, epoch, lo, hi)
}

// checkpointFork builds the fork evidence (verify.Fork) of checkpoint c,
// whose root is not the root of the archived leaves at its size, against
// the latest verified checkpoint of o (or the empty log).
func (w *Watcher) checkpointFork(ctx context.Context, td *trusted, epoch uint32, o *origin, c checkpoint.Checkpoint, note []byte) ([]byte, error) {
	f := &verify.Fork{Kind: verify.ForkCheckpoints, Origin: c.Origin, ChainID: td.ChainID, NoteKey: td.NoteKey}
	var lSize uint64
	var lNote []byte
	if o.latest != nil {
		lSize, lNote = o.latest.Size, o.latestNote
	}
	switch {
	case c.Size == 0 || o.latest == nil && c.Size > 0:
		// Against the empty log: every event up to c's size.
		ls, err := w.evidenceLeaves(ctx, td.Address, epoch, 0, c.Size)
		if err != nil {
			return nil, err
		}
		f.B, f.Leaves = note, ls
	case c.Size == lSize:
		f.A, f.B = lNote, note
	case c.Size < lSize:
		// c is not a prefix of the latest: prove what its prefix is.
		t, err := w.tree(ctx, td.Address, epoch, lSize)
		if err != nil {
			return nil, err
		}
		p, err := merkle.ProveConsistency(c.Size, lSize, t)
		if err != nil {
			return nil, fmt.Errorf("watch: consistency proof from the archive: %w", err)
		}
		f.A, f.B, f.PrefixRoot, f.Proof = note, lNote, t.root(c.Size), p
	default:
		// c does not extend the latest by the events the device signed.
		ls, err := w.evidenceLeaves(ctx, td.Address, epoch, lSize, c.Size)
		if err != nil {
			return nil, err
		}
		f.A, f.B, f.Frontier, f.Leaves = lNote, note, o.front.Nodes(), ls
	}
	b, err := f.Marshal()
	if err != nil {
		return nil, fmt.Errorf("watch: fork evidence: %w", err)
	}
	return b, nil
}
