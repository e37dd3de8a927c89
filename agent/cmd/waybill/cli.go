package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

// env carries the process's streams to a subcommand.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	group string   // the command group named, if any ("log")
	cmd   *command // the command dispatched, once known
	flags *flags   // the command's flag set, once made
}

// usageError is a mistake in the command line; run prints usage with it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code (for verify's "invalid" result).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

// usageNote ends the command list of `waybill help`.
const usageNote = `Commands that use the key read its passphrase from --passphrase-file FILE or
the environment variable WAYBILL_PASSPHRASE; never from a flag value.
--fleet and --chain-id fix a new log's identity: a command that creates the
log needs both (or a configuration that names them); on an existing log
they may be left out. Given, they must agree with the configuration and
the log: a disagreement is an error naming both values.
Exit status: 0 done (verify: valid), 1 failed (verify: invalid or not
anchored), 2 a mistake in the command line. Text is for people; --json
prints what a program reads (firmware-docs/CLI.md).
Run 'waybill COMMAND -h' (or 'waybill help COMMAND') for a command's flags.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	err := dispatch(ctx, e, args)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "waybill: %s\n", ue.msg)
		switch {
		case e.cmd != nil:
			fmt.Fprintf(stderr, "Run 'waybill %s -h' for its usage and flags.\n", e.cmd.name)
		case e.group != "":
			fmt.Fprintf(stderr, "Run 'waybill %s -h' for its subcommands.\n", e.group)
		default:
			fmt.Fprintf(stderr, "\n%s", usage())
		}
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "waybill: %s\n", oneLine(err.Error()))
	return exitStatus(err)
}

// exitStatus is the exit status of a command that failed with err, not a
// usage mistake: an exitError's code, else 1 (firmware-docs/CLI.md §2).
func exitStatus(err error) int {
	var xe exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	return 1
}

// tuneRuntime sets the Go runtime for a small device unless the GOGC,
// GOMEMLIMIT or GOMAXPROCS variables say otherwise:
//   - collect garbage at 200% heap growth (the live heap is a few MiB, and
//     signing allocates briskly), under a soft 48 MiB limit, so that a
//     512 MiB Pi Zero is never crowded;
//   - keep at least two Ps on a single-core device, so that signing goes on
//     while the log's commit waits in fsync: with one P the scheduler only
//     hands the P on once its monitor notices the blocked system call,
//     which can take milliseconds.
func tuneRuntime() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	if isHelp(args[0]) {
		return helpFor(ctx, e, args[1:])
	}
	name := args[0]
	rest := args[1:]
	if subs := subcommands(name); subs != nil {
		e.group = name
		if len(rest) == 0 {
			return usageError{fmt.Sprintf("%s needs a subcommand: %s", name, strings.Join(subs, ", "))}
		}
		if isHelp(rest[0]) {
			groupHelp(e.stdout, name)
			return nil
		}
		name += " " + rest[0]
		rest = rest[1:]
		if lookup(name) == nil {
			return usageError{fmt.Sprintf("unknown %s subcommand %q", e.group, args[1])}
		}
	}
	c := lookup(name)
	if c == nil {
		if where, ok := movedCommands[name]; ok {
			return exitError{2, fmt.Errorf("%s: %s", name, where)}
		}
		return usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	e.cmd = c
	return c.run(ctx, e, rest)
}

// isHelp reports whether arg asks for help in place of a command.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// helpFor is `waybill help [COMMAND]`: the command list, a group's
// subcommands or a command's flags, on stdout.
func helpFor(ctx context.Context, e *env, args []string) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stdout, usage())
		return nil
	case len(args) == 1 && subcommands(args[0]) != nil:
		groupHelp(e.stdout, args[0])
		return nil
	}
	return dispatch(ctx, e, append(append([]string(nil), args...), "-h"))
}

// flags is a subcommand's flag set with the shared key and log flags.
type flags struct {
	*flag.FlagSet
	e                          *env
	data, key, passFile, fleet string
	chainID                    uint64
	segmentBytes               int64 // of a log opened for writing; 0: eventlog's default

	// fleetFrom and chainFrom say where fleet and chainID came from when
	// not from their flags: "device.fleet in van.yaml".
	fleetFrom, chainFrom string
}

func newFlags(name string, e *env) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), e: e}
	f.SetOutput(io.Discard)
	e.flags = f
	return f
}

func (f *flags) logFlags() {
	f.StringVar(&f.data, "data", "", "log directory")
}

func (f *flags) keyFlags() {
	f.StringVar(&f.key, "key", "", "device key file (keystore)")
	f.StringVar(&f.passFile, "passphrase-file", "", "file holding the key's passphrase (else $"+devkey.PassphraseEnv+")")
}

func (f *flags) identityFlags() {
	f.StringVar(&f.fleet, "fleet", "", "fleet identifier, as given to keygen (part of the signing domain and the checkpoint key name); needed to create a log; must agree with the log's and the configuration's device.fleet")
	f.Var((*chainIDValue)(&f.chainID), "chain-id", "EIP-155 chain ID of the ledger the fleet anchors to (part of the signing domain); needed to create a log; must agree with the log's and the configuration's device.chain_id")
}

// fleetName and chainName name the fleet and chain ID the command has, and
// where each came from: "--fleet north", "device.fleet north in van.yaml".
func (f *flags) fleetName() string {
	if f.fleetFrom != "" {
		return fmt.Sprintf("device.fleet %s in %s", f.fleet, f.fleetFrom)
	}
	return "--fleet " + f.fleet
}

func (f *flags) chainName() string {
	if f.chainFrom != "" {
		return fmt.Sprintf("device.chain_id %d in %s", f.chainID, f.chainFrom)
	}
	return fmt.Sprintf("--chain-id %d", f.chainID)
}

// configIdentity takes the fleet and chain ID from the device section of
// the configuration c read from path. A flag may repeat what the
// configuration says; one that says otherwise is refused, naming both.
func (f *flags) configIdentity(c *config.Config, path string) error {
	var diff []string
	if f.fleet != "" && c.Device.Fleet != "" && f.fleet != c.Device.Fleet {
		diff = append(diff, fmt.Sprintf("--fleet %s disagrees with device.fleet %s in %s", f.fleet, c.Device.Fleet, path))
	}
	if f.chainID != 0 && c.Device.ChainID != 0 && f.chainID != c.Device.ChainID {
		diff = append(diff, fmt.Sprintf("--chain-id %d disagrees with device.chain_id %d in %s", f.chainID, c.Device.ChainID, path))
	}
	if diff != nil {
		return usageError{fmt.Sprintf("%s: %s; the configuration names them: leave the flags out", f.Name(), strings.Join(diff, "; "))}
	}
	if f.fleet == "" && c.Device.Fleet != "" {
		f.fleet, f.fleetFrom = c.Device.Fleet, path
	}
	if f.chainID == 0 && c.Device.ChainID != 0 {
		f.chainID, f.chainFrom = c.Device.ChainID, path
	}
	return nil
}

// checkLogIdentity refuses a fleet or chain ID, or the key of a device
// (k, if not nil), that is not the existing log's, naming both values and
// where each came from. Without a log, or without an identity to read,
// it says nothing: creating or opening the log reports that.
func (f *flags) checkLogIdentity(k *devkey.Key) error {
	if f.fleet == "" && f.chainID == 0 && k == nil {
		return nil
	}
	if ok, err := eventlog.Exists(f.data); err != nil || !ok {
		return nil
	}
	id, err := eventlog.ReadIdentity(f.data)
	where := "manifest.json"
	if _, serr := os.Stat(filepath.Join(f.data, "manifest.json")); serr != nil {
		where = "segment meta"
	}
	if err != nil && f.chainID != 0 {
		id, err = eventlog.RecoverIdentity(f.data, f.chainID)
		where = "segment meta"
	}
	if err != nil {
		return nil
	}
	var diff []string
	if f.fleet != "" && f.fleet != id.Fleet {
		diff = append(diff, fmt.Sprintf("%s, but the log in %s was created for fleet %s (%s)", f.fleetName(), f.data, id.Fleet, where))
	}
	if f.chainID != 0 && f.chainID != id.ChainID {
		diff = append(diff, fmt.Sprintf("%s, but the log in %s was created for chain %d (%s)", f.chainName(), f.data, id.ChainID, where))
	}
	if k != nil && k.Address() != id.Device {
		diff = append(diff, fmt.Sprintf("the key in %s is device %s, but the log in %s is device %s's (%s)", f.key, k.Address(), f.data, id.Device, where))
	}
	if diff != nil {
		return fmt.Errorf("%s: %s", f.Name(), strings.Join(diff, "; "))
	}
	return nil
}

// chainIDValue is a --chain-id flag: a decimal EIP-155 chain ID, at least
// 1. Left out, it is 0 (not given); given as 0, it is refused.
type chainIDValue uint64

func (v *chainIDValue) String() string {
	if v == nil || *v == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(*v), 10)
}

func (v *chainIDValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a decimal chain ID")
	}
	if n == 0 {
		return errors.New("0 is not a valid chain ID (EIP-155 chain IDs start at 1; a geth --dev chain is 1337)")
	}
	*v = chainIDValue(n)
	return nil
}

// parse parses args and reports a flag mistake naming the flag: an
// unknown flag, a bad value, a wrong number of arguments, or a missing
// required flag. Asked for help (-h, --help), it prints the command's
// help to stdout and returns flag.ErrHelp, which exits 0.
func (f *flags) parse(args []string, positional int, required ...string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help(f.e.stdout)
			return err
		}
		return usageError{f.Name() + ": " + err.Error()}
	}
	if f.NArg() != positional {
		if positional == 0 {
			return usageError{fmt.Sprintf("%s: unexpected argument %q", f.Name(), f.Arg(0))}
		}
		return usageError{fmt.Sprintf("%s: want %d argument(s), got %d", f.Name(), positional, f.NArg())}
	}
	return f.need(required...)
}

func (f *flags) need(names ...string) error {
	for _, n := range names {
		if fl := f.Lookup(n); fl != nil && fl.Value.String() == "" {
			return usageError{fmt.Sprintf("%s: --%s is required", f.Name(), n)}
		}
	}
	return nil
}

// loadKey reads and validates the key file, then reads its passphrase
// and decrypts it: a damaged key file is reported before anyone is asked
// for a passphrase. Waiting for a passphrase FIFO's writer and deriving
// the key end when ctx does (SIGINT, SIGTERM).
func (f *flags) loadKey(ctx context.Context) (*devkey.Key, error) {
	kf, err := devkey.ReadKeyFile(f.key)
	if err != nil {
		return nil, err
	}
	pass, err := devkey.ReadPassphrase(ctx, f.passFile)
	if err != nil {
		return nil, err
	}
	return kf.Decrypt(ctx, pass)
}

func logger(e *env) *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// logExists reports whether f.data holds any file of a log: a log whose
// manifest is lost is still there. A directory that cannot be read is an
// error, not "no log".
func (f *flags) logExists() (bool, error) {
	ok, err := eventlog.Exists(f.data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return ok, nil
}

// checkCreate refuses to go on when the log must be created and the flags
// that fix its identity are missing; it runs before the key is decrypted.
func (f *flags) checkCreate() error {
	ok, err := f.logExists()
	if err != nil {
		return err
	}
	if !ok && (f.fleet == "" || f.chainID == 0) {
		return usageError{fmt.Sprintf("%s: %s holds no log yet; creating one needs --fleet NAME (as given to keygen) and --chain-id N (the ledger's EIP-155 chain ID, 1337 for a geth --dev chain)", f.Name(), f.data)}
	}
	return nil
}

// openWriter opens (creating if needed) the log for writing with the key.
func (f *flags) openWriter(ctx context.Context, e *env, k *devkey.Key) (*eventlog.Log, error) {
	var id *eventlog.Identity
	if err := f.checkCreate(); err != nil {
		return nil, err
	}
	if err := f.checkLogIdentity(k); err != nil {
		return nil, err
	}
	exists, err := f.logExists()
	if err != nil {
		return nil, err
	}
	switch {
	case !exists || f.fleet != "" && f.chainID != 0:
		// Open creates the log with this identity, or checks that the
		// existing log has it; it also confirms a lost manifest's chain
		// ID against the log's signatures with it.
		id = &eventlog.Identity{Device: k.Address(), Fleet: f.fleet, ChainID: f.chainID}
	case f.fleet != "" || f.chainID != 0:
		// An existing log keeps its identity; flags given must agree with it.
		m, err := eventlog.ReadIdentity(f.data)
		if err != nil && f.chainID != 0 {
			// No usable manifest: the segments' identity, its chain ID
			// confirmed by their signatures.
			if m, err = eventlog.RecoverIdentity(f.data, f.chainID); err != nil {
				return nil, err
			}
			id = &m
		}
		if err == nil && ((f.fleet != "" && f.fleet != m.Fleet) || (f.chainID != 0 && f.chainID != m.ChainID)) {
			return nil, fmt.Errorf("%s is the log of fleet %q on chain %d; --fleet/--chain-id say otherwise", f.data, m.Fleet, m.ChainID)
		}
	}
	l, err := eventlog.Open(ctx, f.data, &eventlog.Options{Create: id, Keys: k, Logger: logger(e), SegmentBytes: f.segmentBytes})
	if err != nil {
		return nil, err
	}
	if d := l.Damage(); d != "" {
		fmt.Fprintf(e.stderr, "waybill: WARNING: %s\n", d)
	}
	return l, nil
}
