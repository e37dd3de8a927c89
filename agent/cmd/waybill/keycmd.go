package main

import (
	"context"
	"fmt"
	"os"

	"github.com/waybill-eu/waybill/agent/devkey"
)

// cmdKeyShow prints the device address and checkpoint verifier key of an
// existing key for a fleet: what keygen printed when it made the key.
func cmdKeyShow(ctx context.Context, e *env, args []string) error {
	f := newFlags("key show", e)
	f.keyFlags()
	f.StringVar(&f.fleet, "fleet", "", "fleet identifier, as the log has it (part of the checkpoint key name)")
	asJSON := f.Bool("json", false, "print one JSON object: address, fleet, key_name, verifier_key")
	if err := f.parse(args, 0, "key", "fleet"); err != nil {
		return err
	}
	if err := checkFleet(f); err != nil {
		return err
	}
	kf, err := devkey.ReadKeyFile(f.key)
	if err != nil {
		return err
	}
	pass, err := devkey.ReadPassphrase(ctx, f.passFile)
	if err != nil {
		return err
	}
	k, err := kf.Decrypt(ctx, pass)
	if err != nil {
		return err
	}
	st, err := os.Stat(f.key)
	if err != nil {
		return err
	}
	return printKey(e.stdout, f.key, fmt.Sprintf("mode %04o; %s", st.Mode().Perm(), kf.KDF), f.fleet, k, *asJSON)
}
