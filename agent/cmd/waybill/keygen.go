package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/signer"
)

func cmdKeygen(ctx context.Context, e *env, args []string) error {
	f := newFlags("keygen", e)
	f.keyFlags()
	f.StringVar(&f.fleet, "fleet", "default", "fleet identifier, part of the checkpoint key name: give the fleet the logs will have; with --config: device.fleet, which a --fleet given must repeat")
	cfgPath := f.String("config", "", "device configuration `FILE`: write the key to its device.key (passphrase from device.passphrase_file) for its device.fleet")
	asJSON := f.Bool("json", false, "print one JSON object: address, fleet, key_name, verifier_key")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	named := f.given("fleet") || *cfgPath != ""
	if *cfgPath != "" && !f.given("fleet") {
		f.fleet = ""
	}
	if err := f.keyFromConfig(*cfgPath); err != nil {
		return err
	}
	if err := f.need("key"); err != nil {
		return err
	}
	if err := checkFleet(f); err != nil {
		return err
	}
	pass, err := devkey.ReadPassphrase(ctx, f.passFile)
	if err != nil {
		return err
	}
	k, err := devkey.Create(f.key, pass)
	if err != nil {
		return err
	}
	if !named {
		fmt.Fprintf(e.stderr, "waybill: WARNING: keygen: no --fleet given: the verifier key below is for fleet %q and verifies no checkpoint of another fleet; "+
			"print the key of the fleet the device runs in with: waybill key show --key %s --fleet NAME\n", f.fleet, f.key)
	}
	kdf := devkey.KDF{Name: "scrypt", N: devkey.ScryptN, R: 8, P: devkey.ScryptP}
	return printKey(e.stdout, f.key, fmt.Sprintf("mode 0600; %s", kdf), f.fleet, k, *asJSON)
}

// given reports whether the flag name was set on the command line.
func (f *flags) given(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// checkFleet refuses a --fleet that cannot be part of a key name.
func checkFleet(f *flags) error {
	if !signer.ValidFleet(f.fleet) {
		return usageError{fmt.Sprintf("%s: --fleet %q is not valid (1-63 of a-z 0-9 . _ -)", f.Name(), f.fleet)}
	}
	return nil
}

// keyJSON is the --json output of keygen and key show
// (firmware-docs/PROTOCOL.md §5).
type keyJSON struct {
	Address     string `json:"address"`
	Fleet       string `json:"fleet"`
	KeyName     string `json:"key_name"`
	VerifierKey string `json:"verifier_key"`
}

// printKey prints what an operator needs of key k in fleet: its device
// address, the key file (path, with what of it fileInfo says), the
// checkpoint key name and the verifier key; with asJSON, one JSON object
// without the key file.
func printKey(w io.Writer, path, fileInfo, fleet string, k *devkey.Key, asJSON bool) error {
	name := eventlog.KeyName(fleet, k.Address())
	vkey, err := k.VerifierKey(name)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := json.Marshal(keyJSON{Address: k.Address().String(), Fleet: fleet, KeyName: name, VerifierKey: vkey})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "device address: %s\n", k.Address())
	fmt.Fprintf(w, "key file:       %s (%s)\n", path, fileInfo)
	fmt.Fprintf(w, "note key name:  %s\n", name)
	_, err = fmt.Fprintf(w, "verifier key:   %s\n", vkey)
	return err
}
