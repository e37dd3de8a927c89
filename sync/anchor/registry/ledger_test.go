package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

func TestCheckAnchored(t *testing.T) {
	ch := newChain(t)
	d := newDeviceLog(t, testKey(t))
	d.grow(40, "")
	a := d.checkpoint()
	origin := signer.Origin(testFleet, event.Address(a.device), 0)
	ctx := context.Background()
	if _, err := registry.CheckAnchored(ctx, ch.client, ch.addr, origin, a.size, a.root, 1); !errors.Is(err, registry.ErrNotAnchored) {
		t.Fatalf("before anchoring: %v, want ErrNotAnchored", err)
	}
	r, _ := ch.mustAnchor(a)
	got, err := registry.CheckAnchored(ctx, ch.client, ch.addr, origin, a.size, a.root, 1)
	if err != nil || got.Block != r.BlockNumber.Uint64() || got.TxHash != r.TxHash || got.Confirmations != 1 {
		t.Fatalf("CheckAnchored = %+v, %v; want block %d tx %x, 1 confirmation", got, err, r.BlockNumber, r.TxHash)
	}
	if _, err := registry.CheckAnchored(ctx, ch.client, ch.addr, origin, a.size, a.root, 3); !errors.Is(err, registry.ErrTooFewConfirmations) {
		t.Errorf("3 confirmations asked after 1: %v", err)
	}
	ch.sim.Commit()
	ch.sim.Commit()
	if got, err := registry.CheckAnchored(ctx, ch.client, ch.addr, origin, a.size, a.root, 3); err != nil || got.Confirmations != 3 {
		t.Errorf("after two more blocks: %+v, %v", got, err)
	}
	other := a.root
	other[0] ^= 1
	if _, err := registry.CheckAnchored(ctx, ch.client, ch.addr, origin, a.size, other, 1); !errors.Is(err, registry.ErrRootDiffers) {
		t.Errorf("another root: %v, want ErrRootDiffers", err)
	}
	if _, err := registry.CheckAnchored(ctx, ch.client, ch.addr, origin, a.size+1, a.root, 1); !errors.Is(err, registry.ErrNotAnchored) {
		t.Errorf("another size: %v, want ErrNotAnchored", err)
	}
}
