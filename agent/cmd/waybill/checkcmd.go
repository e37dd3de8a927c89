package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/waybill-eu/waybill/agent/eventlog/logcheck"
	"github.com/waybill-eu/waybill/agent/eventlog/salvage"
)

// cmdCheck re-verifies a whole log and reports the first problem.
func cmdCheck(ctx context.Context, e *env, args []string) error {
	f := newFlags("log check", e)
	f.logFlags()
	asJSON := f.Bool("json", false, "print one JSON object: dir, ok, origin, epoch, size, events, pruned, segments, checkpoints, damaged_events, problem, elapsed_ms (firmware-docs/CLI.md §10)")
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	rep, err := logcheck.Check(ctx, f.data, logcheck.Options{
		Progress: func(done, total uint64) {
			fmt.Fprintf(e.stderr, "\rchecked %d/%d events", done, total)
		},
	})
	if rep != nil && rep.Events > 0 {
		fmt.Fprintln(e.stderr)
	}
	if *asJSON {
		if jerr := printCheckJSON(e, f.data, rep, err); jerr != nil {
			return jerr
		}
	}
	if err != nil && !strings.Contains(err.Error(), "salvage") {
		// The operator's next step, whatever the damage: the agent moves
		// the damaged part aside when it starts, and salvage recovers
		// what the files still prove.
		return fmt.Errorf("%w\nnext: start the agent (waybill run), which moves what is damaged aside and goes on with a new epoch; then waybill log salvage --data %s --epoch N recovers what the damaged files still prove", err, f.data)
	}
	if err != nil || *asJSON {
		return err
	}
	fmt.Fprintf(e.stdout, "OK: %s (origin %s): %d events, every signature and stored hash, %d segment(s) and %d checkpoint(s) verified in %v\n",
		rep.Dir, rep.Origin, rep.Events, rep.Segments, rep.Checkpoints, rep.Elapsed.Round(1e6))
	if rep.Pruned > 0 {
		fmt.Fprintf(e.stdout, "  events 0 to %d were pruned by retention: their stored hashes verified, their payloads and signatures are no longer here\n", rep.Pruned-1)
	}
	return nil
}

// checkJSON is log check's --json output (firmware-docs/CLI.md §10).
type checkJSON struct {
	Dir           string  `json:"dir"`
	OK            bool    `json:"ok"`
	Origin        string  `json:"origin"`
	Epoch         uint32  `json:"epoch"`
	Size          uint64  `json:"size"`
	Events        uint64  `json:"events"`
	Pruned        uint64  `json:"pruned"`
	Segments      int     `json:"segments"`
	Checkpoints   int     `json:"checkpoints"`
	DamagedEvents uint64  `json:"damaged_events"`
	Problem       string  `json:"problem"`
	ElapsedMS     float64 `json:"elapsed_ms"`
}

// printCheckJSON prints the report of checking the log in dir, and the
// problem err the check found, as one JSON object.
func printCheckJSON(e *env, dir string, rep *logcheck.Report, err error) error {
	out := checkJSON{Dir: dir, OK: err == nil}
	if rep != nil {
		out = checkJSON{Dir: rep.Dir, OK: err == nil, Origin: rep.Origin, Epoch: rep.Epoch, Size: rep.Size, Events: rep.Events,
			Pruned: rep.Pruned, Segments: rep.Segments, Checkpoints: rep.Checkpoints, DamagedEvents: rep.DamagedEvents,
			ElapsedMS: float64(rep.Elapsed.Microseconds()) / 1000}
	}
	if err != nil {
		out.Problem = oneLine(err.Error())
	}
	b, merr := json.Marshal(out)
	if merr != nil {
		return merr
	}
	_, werr := fmt.Fprintf(e.stdout, "%s\n", b)
	return werr
}

// cmdSalvage recovers what a damaged epoch still proves.
func cmdSalvage(ctx context.Context, e *env, args []string) error {
	f := newFlags("log salvage", e)
	f.logFlags()
	epoch := f.String("epoch", "", "the damaged epoch to recover (see manifest.json or the agent's warning)")
	out := f.String("out", "", "where to write the recovered log (default DIR/salvaged/epoch-N)")
	from := f.String("from", "", "a damaged epoch directory or segment file to read instead of the one --epoch names")
	f.Var((*chainIDValue)(&f.chainID), "chain-id", "the log's chain ID, needed only without a manifest for segments that do not record it (it is checked against their signatures)")
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	var opts salvage.Options
	opts.LogDir = f.data
	opts.ChainID = f.chainID
	opts.Logger = logger(e)
	src := *from
	if *epoch != "" {
		n, err := strconv.ParseUint(*epoch, 10, 32)
		if err != nil {
			return usageError{fmt.Sprintf("log salvage: --epoch %q is not an epoch number", *epoch)}
		}
		ep := uint32(n)
		opts.Epoch = &ep
		if src == "" {
			if src, err = salvage.Source(f.data, ep); err != nil {
				return err
			}
		}
	}
	if src == "" {
		return usageError{"log salvage: give --epoch N (or --from PATH)"}
	}
	if _, err := os.Stat(src); err != nil {
		return err
	}
	rep, err := salvage.Recover(ctx, src, *out, opts)
	if rep != nil {
		fmt.Fprint(e.stdout, rep.Summary())
	}
	return err
}
