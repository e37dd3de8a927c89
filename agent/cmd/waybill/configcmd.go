package main

import (
	"context"
	"encoding/json"
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
	asJSON := f.Bool("json", false, "print one JSON object: file, ok, sensors, zones, problems, error (firmware-docs/CLI.md §9)")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	path := f.Arg(0)
	load := config.Check
	if *noFiles {
		load = config.Load
	}
	c, err := load(path)
	out := configJSON{File: path, Problems: []configProblem{}}
	var errs config.Errors
	switch {
	case errors.As(err, &errs):
		for _, fe := range errs {
			out.Problems = append(out.Problems, configProblem{fe.File, fe.Line, fe.Column, fe.Field, fe.Msg})
		}
		err = fmt.Errorf("config check: %s has %d problem(s)", path, len(errs))
	case err != nil:
		out.Error = err.Error()
		err = fmt.Errorf("config check: %w", err)
	default:
		out.OK, out.Sensors, out.Zones = true, len(c.Sensors), len(c.Zones)
	}
	if *asJSON {
		b, merr := json.Marshal(out)
		if merr != nil {
			return merr
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	for _, fe := range errs {
		fmt.Fprintln(e.stdout, fe)
	}
	if out.OK {
		fmt.Fprintf(e.stdout, "%s: ok (%d sensors, %d zones)\n", path, out.Sensors, out.Zones)
	}
	return err
}

// configJSON is config check's --json output (firmware-docs/CLI.md §9).
type configJSON struct {
	File     string          `json:"file"`
	OK       bool            `json:"ok"`
	Sensors  int             `json:"sensors"`
	Zones    int             `json:"zones"`
	Problems []configProblem `json:"problems"`
	Error    string          `json:"error"`
}

// configProblem is one config.FieldError.
type configProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Field   string `json:"field"`
	Message string `json:"message"`
}
