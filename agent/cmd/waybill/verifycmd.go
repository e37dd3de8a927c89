package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/verify"
)

func cmdVerify(ctx context.Context, e *env, args []string) error {
	f := newFlags("verify", e)
	device := f.String("device", "", "require events from this device address")
	fleet := f.String("fleet", "", "require this fleet in the signing domain")
	chainID := f.Uint64("chain-id", 0, "require this chain ID in the signing domain")
	vkey := f.String("vkey", "", "also require the checkpoint's Ed25519 signature by this verifier key (name+hash+key)")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	var o verify.Options
	if *device != "" {
		a, err := event.ParseAddress(*device)
		if err != nil {
			return usageError{fmt.Sprintf("verify: --device: %v", err)}
		}
		o.Device = &a
	}
	o.Fleet, o.ChainID = *fleet, *chainID
	if *vkey != "" {
		v, err := checkpoint.ParseVerifierKey(*vkey)
		if err != nil {
			return usageError{fmt.Sprintf("verify: --vkey: %v", err)}
		}
		o.Verifiers = append(o.Verifiers, v)
	}
	var data []byte
	var err error
	if name := f.Arg(0); name == "-" {
		data, err = io.ReadAll(io.LimitReader(e.stdin, 2<<20))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return exitError{2, fmt.Errorf("verify: %w", err)}
	}
	b, err := verify.ParseBundle(data)
	if err != nil {
		return exitError{1, fmt.Errorf("INVALID: %w", err)}
	}
	if err := b.Verify(o); err != nil {
		return exitError{1, fmt.Errorf("INVALID: %w", err)}
	}
	fmt.Fprintf(e.stdout, "OK: event %d of %s is signed by its device and included in the checkpoint of size %d\n",
		b.Index, b.Checkpoint.Origin, b.Checkpoint.Size)
	return nil
}
