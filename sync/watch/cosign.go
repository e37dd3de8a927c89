package watch

import (
	"context"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
)

// cosign cosigns the verified checkpoint c of o with the witness key, if
// the watcher has one, no fork of the origin was found, and c is larger
// than every checkpoint of the origin cosigned before; it archives the
// cosigned note and hands it to Options.OnCosigned.
func (w *Watcher) cosign(ctx context.Context, v Verdict, td *trusted, epoch uint32, o *origin, c checkpoint.Checkpoint, note []byte) (Verdict, error) {
	k := w.opts.Witness
	if k == nil || o.forked || c.Size <= o.prog.Cosigned && o.prog.Cosigned > 0 {
		return v, nil
	}
	co, err := k.Cosign(note, w.now())
	if err != nil {
		w.log.Warn("watch: cannot cosign a verified checkpoint", "origin", c.Origin, "size", c.Size, "err", err)
		return v, nil
	}
	if err := w.arc.PutCosigned(ctx, td.Address, epoch, c.Size, co); err != nil {
		return v, err
	}
	o.prog.Cosigned = max(o.prog.Cosigned, c.Size)
	v.Cosigned = true
	if w.opts.OnCosigned != nil {
		w.opts.OnCosigned(ctx, Cosigned{Device: td.Address, Fleet: td.Fleet, Operator: td.operator, Epoch: epoch, Size: c.Size, Note: co})
	}
	return v, nil
}

// cosignLatest cosigns the latest verified checkpoint of o if it should
// have been and was not: its cosignature failed to be archived after the
// checkpoint was.
func (w *Watcher) cosignLatest(ctx context.Context, td *trusted, epoch uint32, o *origin) error {
	if w.opts.Witness == nil || o.forked || o.latest == nil || o.latest.Size <= o.prog.Cosigned {
		return nil
	}
	_, err := w.cosign(ctx, Verdict{}, td, epoch, o, *o.latest, o.latestNote)
	return err
}

// Cosigned returns the largest checkpoint of device's epoch that a watcher
// on the archive cosigned, with its cosignature line, or nil if none.
func (w *Watcher) Cosigned(ctx context.Context, device event.Address, epoch uint32) ([]byte, error) {
	return w.arc.Cosigned(ctx, device, epoch)
}
