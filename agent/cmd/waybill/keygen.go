package main

import (
	"context"
	"fmt"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/signer"
)

func cmdKeygen(ctx context.Context, e *env, args []string) error {
	f := newFlags("keygen", e)
	f.keyFlags()
	f.StringVar(&f.fleet, "fleet", "default", "fleet identifier, part of the checkpoint key name")
	if err := f.parse(args, 0, "key"); err != nil {
		return err
	}
	if !signer.ValidFleet(f.fleet) {
		return usageError{fmt.Sprintf("keygen: --fleet %q is not valid (1-63 of a-z 0-9 . _ -)", f.fleet)}
	}
	pass, err := devkey.ReadPassphrase(ctx, f.passFile)
	if err != nil {
		return err
	}
	k, err := devkey.Create(f.key, pass)
	if err != nil {
		return err
	}
	name := eventlog.KeyName(f.fleet, k.Address())
	vkey, err := k.VerifierKey(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "device address: %s\n", k.Address())
	fmt.Fprintf(e.stdout, "key file:       %s (mode 0600; scrypt N=%d r=8 p=%d)\n", f.key, devkey.ScryptN, devkey.ScryptP)
	fmt.Fprintf(e.stdout, "note key name:  %s\n", name)
	fmt.Fprintf(e.stdout, "verifier key:   %s\n", vkey)
	return nil
}
