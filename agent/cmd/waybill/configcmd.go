package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/waybill-eu/waybill/agent/config"
)

// cmdConfigCheck validates a configuration file: `waybill config check
// FILE` prints "FILE: ok (N sensors, M zones)", or every problem, one per
// line as file:line:column: field: message, and fails. The files the
// configuration names for the agent to read (keys, passphrase, password,
// TLS and token files) must exist and be readable by this process, unless
// --no-files says the configuration is for another machine.
func cmdConfigCheck(ctx context.Context, e *env, args []string) error {
	f := newFlags("config check", e)
	noFiles := f.Bool("no-files", false, "check the configuration alone, not the files it names (a configuration for another machine)")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	path := f.Arg(0)
	load := config.Check
	if *noFiles {
		load = config.Load
	}
	c, err := load(path)
	var errs config.Errors
	switch {
	case errors.As(err, &errs):
		for _, fe := range errs {
			fmt.Fprintln(e.stdout, fe)
		}
		return fmt.Errorf("config check: %s has %d problem(s)", path, len(errs))
	case err != nil:
		return fmt.Errorf("config check: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d sensors, %d zones)\n", path, len(c.Sensors), len(c.Zones))
	return nil
}
