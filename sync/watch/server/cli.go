package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/sync/watch/watchconfig"
	"github.com/waybill-eu/waybill/sync/witness"
)

// Usage is the text of `waybill-watch help`.
const Usage = `waybill-watch: the feed watcher of a city's traffic team

Usage:
  waybill-watch run --config FILE [--log-level debug|info|warn|error]
  waybill-watch export --config FILE --device ADDRESS [--from TIME] [--to TIME]
                       [--format bundle|jsonl|csv] [--out DIR]
  waybill-watch keygen --name NAME --out FILE
  waybill-watch bench [--round D] [--devices N] [--dir DIR] [--mem-dir DIR] [--json]

run      verifies, witnesses and archives the feeds the configuration names
         (firmware-docs/WATCH-CONFIG.md) until SIGINT or SIGTERM, serving
         /healthz, /metrics and /v1/checkpoints/{device}/{epoch}.
export   writes one device's archived events: proof bundles that 'waybill
         verify' checks offline (bundle, the default, into --out DIR), or the
         lines of 'waybill log show' (jsonl) or CSV rows with their state (csv)
         on standard output or into --out FILE. --from and --to (RFC 3339)
         keep the events of [from, to).
keygen   creates the watcher's Ed25519 witness key (WITNESS.md) and prints
         its verifier key.
bench    measures events verified per second on one core against the raw
         secp256k1 recovery rate, both in this run, the rate with the
         archive on disk, and the heap per 1,000 devices.

'waybill watch ...' in the device binary runs this command.
Exit status: 0 done, 1 failed, 2 a mistake in the command line.
Run 'waybill-watch COMMAND -h' for a command's flags.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Main runs the waybill-watch command line args and returns its exit
// status: 0 done, 1 failed, 2 a mistake in the command line.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "waybill-watch: %s\n", ue.msg)
		fmt.Fprintln(stderr, "Run 'waybill-watch help' for the usage.")
		return 2
	}
	fmt.Fprintf(stderr, "waybill-watch: %s\n", strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "\n  "))
	return 1
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command given: run, export, keygen or bench"}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, Usage)
		return nil
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdExport(ctx, args[1:], stdout)
	case "keygen":
		return cmdKeygen(args[1:], stdout)
	case "bench":
		return cmdBench(ctx, args[1:], stdout)
	}
	return usageError{fmt.Sprintf("unknown command %q: run, export, keygen or bench", args[0])}
}

// newFlags returns a flag set whose -h prints its flags on stdout.
func newFlags(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: waybill-watch %s [flags]\n\nFlags:\n", name)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args, reporting a mistake as a usage error; required flags
// must be set.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	for _, r := range required {
		if f := fs.Lookup(r); f != nil && f.Value.String() == "" {
			return usageError{fmt.Sprintf("%s: --%s is required", fs.Name(), r)}
		}
	}
	return nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stdout)
	path := fs.String("config", "", "the watcher's configuration file (firmware-docs/WATCH-CONFIG.md)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parse(fs, args, "config"); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageError{fmt.Sprintf("run: --log-level %q is not debug, info, warn or error", *level)}
	}
	c, err := watchconfig.Check(*path)
	if err != nil {
		return err
	}
	lg := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	s, err := New(ctx, Options{Config: c, Logger: lg})
	if err != nil {
		return err
	}
	err = s.Run(ctx)
	return errors.Join(err, s.Close())
}

func cmdExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("export", stdout)
	path := fs.String("config", "", "the watcher's configuration file: its archive and allowlist")
	dev := fs.String("device", "", "the device address (0x and 40 hex digits)")
	from := fs.String("from", "", "keep events at or after this time (RFC 3339)")
	to := fs.String("to", "", "keep events before this time (RFC 3339)")
	format := fs.String("format", FormatBundle, "bundle, jsonl or csv")
	out := fs.String("out", "", "bundle: the directory to write into (required); jsonl, csv: a file instead of standard output")
	if err := parse(fs, args, "config", "device"); err != nil {
		return err
	}
	o := ExportOptions{Format: *format}
	switch *format {
	case FormatBundle:
		if *out == "" {
			return usageError{"export: --format bundle writes one file per event: give --out DIR"}
		}
	case FormatJSONL, FormatCSV:
	default:
		return usageError{fmt.Sprintf("export: --format %q is not bundle, jsonl or csv", *format)}
	}
	var err error
	if o.Device, err = device(*dev); err != nil {
		return usageError{fmt.Sprintf("export: --device %q: %v", *dev, err)}
	}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"from", *from, &o.From}, {"to", *to, &o.To}} {
		if t.v == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339, t.v); err != nil {
			return usageError{fmt.Sprintf("export: --%s %q is not an RFC 3339 time such as 2026-12-01T00:00:00Z", t.flag, t.v)}
		}
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return usageError{fmt.Sprintf("export: --from %s is not before --to %s", *from, *to)}
	}
	c, err := watchconfig.Load(*path)
	if err != nil {
		return err
	}
	found := false
	for _, op := range c.Trust.Operators {
		for _, d := range op.Devices {
			if d.Address == o.Device {
				o.Fleet, o.ChainID, found = d.Fleet, d.ChainID, true
			}
		}
	}
	if !found {
		return fmt.Errorf("export: device %s is not in the allowlist of %s", o.Device, *path)
	}
	arc, closeArc, err := OpenArchive(ctx, c.Archive)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	defer closeArc()
	o.Out = *out
	if *format != FormatBundle {
		o.W = stdout
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer f.Close()
			o.W = f
		}
	}
	res, err := Export(ctx, arc, o)
	if err != nil {
		return err
	}
	if f, ok := o.W.(*os.File); ok && f != os.Stdout {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if *format == FormatBundle {
		fmt.Fprintf(stdout, "%d bundles in %s", res.Events, *out)
		if res.Skipped > 0 {
			fmt.Fprintf(stdout, "; %d events are in no verified checkpoint yet", res.Skipped)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func cmdKeygen(args []string, stdout io.Writer) error {
	fs := newFlags("keygen", stdout)
	name := fs.String("name", "", "the witness's name, a schema-less URL such as witness.city.example/waybill")
	out := fs.String("out", "", "the key file to create (mode 0600)")
	if err := parse(fs, args, "name", "out"); err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("keygen: %s exists: a witness key is never overwritten", *out)
	}
	k, err := witness.GenerateKey(*name, nil)
	if err != nil {
		return usageError{fmt.Sprintf("keygen: --name: %v", err)}
	}
	if err := k.Save(*out); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "witness key:  %s (mode 0600)\nverifier key: %s\n", *out, k.VerifierKey())
	return nil
}
