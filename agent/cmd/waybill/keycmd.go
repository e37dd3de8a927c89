package main

import (
	"context"
	"fmt"
	"os"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
)

// cmdKeyShow prints the device address and checkpoint verifier key of an
// existing key for a fleet: what keygen printed when it made the key.
func cmdKeyShow(ctx context.Context, e *env, args []string) error {
	f := newFlags("key show", e)
	f.keyFlags()
	f.StringVar(&f.fleet, "fleet", "", "fleet identifier, as the log has it (part of the checkpoint key name); with --config: device.fleet, which a --fleet given must repeat")
	cfgPath := f.String("config", "", "device configuration `FILE`: the key, its passphrase file and the fleet from its device section")
	asJSON := f.Bool("json", false, "print one JSON object: address, fleet, key_name, verifier_key")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	if err := f.keyFromConfig(*cfgPath); err != nil {
		return err
	}
	if err := f.need("key", "fleet"); err != nil {
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

// keyFromConfig takes the key, its passphrase file and the fleet from the
// device section of the configuration at path, if path is not "": the
// key and passphrase file flags win over the configuration's (another key
// for the same device section); a --fleet that disagrees with the
// configuration's is refused.
func (f *flags) keyFromConfig(path string) error {
	if path == "" {
		return nil
	}
	c, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	if f.fleet != "" && f.fleet != c.Device.Fleet {
		return usageError{fmt.Sprintf("%s: --fleet %s disagrees with device.fleet %s in %s; the configuration names it: leave the flag out", f.Name(), f.fleet, c.Device.Fleet, path)}
	}
	f.fleet, f.fleetFrom = c.Device.Fleet, path
	if f.key == "" {
		f.key = c.Device.Key
		if f.passFile == "" {
			f.passFile = c.Device.PassphraseFile
		}
	}
	return nil
}
