// Command waybill-demo runs Waybill end to end on one machine: a recorded
// delivery round replayed through the agent's drivers, rules and signed
// log, published to an in-process MQTT broker and anchored to an
// in-process chain, then every event proven and verified (see package
// testbench/demo). `make run` builds and runs it.
//
// It is not the device binary: bin/waybill holds the agent and its
// operator commands and links no broker or chain.
//
// Exit status, as waybill's: 0 done, 1 the demo failed, 2 a bad command
// line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/waybill-eu/waybill/testbench/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage:
  waybill-demo [--data DIR] [--config FILE] [--replay RECORDING] [--speed N]

Replays the recorded sensors of a delivery van's round through central
Brussels through the agent's drivers, rules and signed log, as
'waybill run --config --replay' does; publishes the events to an in-process
MQTT broker, where a subscriber verifies each one, and anchors them to an
in-process chain; then proves and verifies every event offline against the
final checkpoint and on chain against the anchored root. The device key is
a public demo key: its log proves nothing.

Flags:
`

// flagSet returns the command's flags, which set o.
func flagSet(o *demo.Options) *flag.FlagSet {
	f := flag.NewFlagSet("waybill-demo", flag.ContinueOnError)
	f.SetOutput(io.Discard)
	f.StringVar(&o.Data, "data", "", "log directory `DIR`, empty or new (default: a new temporary directory)")
	f.StringVar(&o.Config, "config", "", "device configuration `FILE` (default: the embedded configs/van.yaml)")
	f.StringVar(&o.Replay, "replay", "", "`RECORDING` to replay (default: the embedded Brussels round)")
	f.Float64Var(&o.Speed, "speed", 0, "pace `N`: 1 replays in real time, 10 ten times faster; 0 (the default) as fast as possible")
	return f
}

// run runs the command with args and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o demo.Options
	f := flagSet(&o)
	help := func(w io.Writer) {
		io.WriteString(w, usage)
		var b strings.Builder
		f.SetOutput(&b)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
		// PrintDefaults names a flag -name; the usage line says --name.
		for _, line := range strings.SplitAfter(b.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "  -"); ok {
				line = "  --" + rest
			}
			io.WriteString(w, line)
		}
	}
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		help(stdout)
		return 0
	case err != nil:
		return usageError(stderr, err.Error())
	case f.NArg() > 0:
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", f.Arg(0)))
	case o.Speed < 0:
		return usageError(stderr, fmt.Sprintf("--speed %v: must not be negative", o.Speed))
	}
	o.Out = stdout
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := demo.Run(ctx, o); err != nil {
		fmt.Fprintf(stderr, "waybill-demo: %v\n", err)
		if errors.Is(err, demo.ErrOptions) {
			return 2
		}
		return 1
	}
	return 0
}

func usageError(w io.Writer, msg string) int {
	fmt.Fprintf(w, "waybill-demo: %s\nRun 'waybill-demo -h' for its usage and flags.\n", msg)
	return 2
}
