package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// A command is one entry of the command line: `waybill NAME ...`. A name
// of two words ("log prove") is a subcommand of the group its first word
// names. The table below is the one place that names the commands: the
// dispatcher, `waybill help`, group help and each command's -h read it.
type command struct {
	name     string   // "keygen", "log prove"
	synopsis []string // the arguments after the name, one form a line (" …": the line above goes on)
	summary  string   // one line, for the command list of a group
	doc      string   // what the command does, one paragraph
	run      func(ctx context.Context, e *env, args []string) error
}

// groups describes each command group, in the order of `waybill help`.
var groups = []struct{ name, doc string }{
	{"key", "Work with an existing device key."},
	{"config", "Check a device configuration."},
	{"sensors", "Read sensors on this machine or in a recording."},
	{"anchor", "Deploy the registry contract, and see what the agent has anchored on the ledger."},
	{"log", "Read, write, prove and repair the signed event log in a data directory."},
}

// movedCommands names the commands that left this binary, and where they went.
var movedCommands = map[string]string{
	"demo": "the demo is not part of the device binary: run 'make run', or bin/waybill-demo (testbench/cmd/waybill-demo, built by 'make build')",
}

// commandTable returns every command in the order of `waybill help`.
func commandTable() []command {
	return []command{
		{name: "keygen", run: cmdKeygen,
			synopsis: []string{"--key PATH [--fleet NAME] [--passphrase-file FILE] [--json]", "--config FILE [--key PATH] [--passphrase-file FILE] [--json]"},
			summary:  "create a device key",
			doc: `Creates a new device key (an encrypted keystore, mode 0600) and prints its
device address and the verifier key of its checkpoints for the fleet (the
key name is the fleet and the address). Give the fleet the logs will have:
a verifier key verifies the checkpoints of one fleet only. With --config,
the key file, its passphrase file and the fleet are the configuration's.`},
		{name: "key show", run: cmdKeyShow,
			synopsis: []string{"--key PATH --fleet NAME [--passphrase-file FILE] [--json]", "--config FILE [--key PATH] [--passphrase-file FILE] [--json]"},
			summary:  "print the address and verifier key of an existing key",
			doc: `Decrypts an existing device key and prints what keygen printed for it:
the device address and the verifier key of its checkpoints in the fleet.
With --config, the key, its passphrase file and the fleet are the
configuration's (device.key, device.passphrase_file, device.fleet).`},
		{name: "run", run: cmdRun,
			synopsis: []string{
				"--config FILE [--data DIR --key PATH] [--replay RECORDING [--speed N] [--continue] | --record FILE]",
				"--data DIR --key PATH [--passphrase-file FILE] [--fleet NAME --chain-id N] [--checkpoint-every D]",
			},
			summary: "run the agent",
			doc: `Runs the agent: it holds the log, serves the local API on the log's socket
and, with --config, reads the configured sensors (or a recording of them,
with --replay) and logs their events; it signs a checkpoint at an interval
when there are new events, and feeds and anchors them as the configuration
says. It stops on SIGINT or SIGTERM. With --config, --data, --key and
--passphrase-file take the place of the configuration's device.data,
device.key and device.passphrase_file; --fleet and --chain-id may only
repeat its device.fleet and device.chain_id, and must agree with the log's.`},
		{name: "config check", run: cmdConfigCheck,
			synopsis: []string{"[--no-files] [--json] FILE"},
			summary:  "validate a configuration file",
			doc: `Validates a device configuration: it prints "FILE: ok (N sensors, M zones)",
or every problem, one a line as file:line:column: field: message, and
fails. The files the configuration names must exist and be readable by
this process, unless --no-files is given. With --json it prints one JSON
object (firmware-docs/CLI.md).`},
		{name: "sensors decode", run: cmdSensorsDecode,
			synopsis: []string{"(--driver NAME | --sensor NAME) [--config FILE] RECORDING"},
			summary:  "print the values drivers read from a recording",
			doc: `Prints the values drivers read from a recording, one JSON line each. A raw
NMEA file needs no configuration with --driver nmea; a bus recording is
replayed through every configured sensor, as run --replay does.`},
		{name: "sensors probe", run: cmdSensorsProbe,
			synopsis: []string{"--config FILE"},
			summary:  "report which configured chips answer",
			doc:      `Opens every configured bus on this machine and reports which chips answer.`},
		{name: "status", run: cmdStatus,
			synopsis: []string{"--data DIR [--timeout D]"},
			summary:  "the running agent's sensor health and counters",
			doc: `Prints the running agent's status, asked on the log's socket: the log's
size, events by kind, each sensor's health and the bus counters.`},
		{name: "anchor status", run: cmdAnchorStatus,
			synopsis: []string{"--data DIR [--json | --evidence]"},
			summary:  "what is anchored, pending and confirmed",
			doc: `Prints what is anchored, pending and confirmed, from the anchor store in
the log directory, or from the running agent, which adds the live state;
the form is the same both ways (--json: one object, firmware-docs/CLI.md).
It works with every remote service gone. With --evidence it prints each
confirmed anchor's evidence (firmware-docs/ANCHORING.md), one JSON line
each; the agent must be stopped for that.`},
		{name: "anchor deploy", run: cmdAnchorDeploy,
			synopsis: []string{
				"--rpc URL --key PATH [--passphrase-file FILE] [--chain-id N] [--max-fee-gwei G] [--wait D] [--json]",
				"--rpc URL (--print-tx | --unsigned) --from ADDRESS [--nonce N] [--chain-id N] [--max-fee-gwei G]",
			},
			summary: "deploy the registry contract on a chain",
			doc: `Deploys the Waybill registry contract (the committed bytecode,
firmware-docs/CONTRACT.md) with the key's account, which pays: it waits for
the receipt, checks that the code at the new address is exactly the
committed runtime code, and prints the address for the configuration's
anchor section. With --print-tx it prints the unsigned transaction for an
offline signer instead; check the result with anchor verify-contract.`},
		{name: "anchor verify-contract", run: cmdAnchorVerifyContract,
			synopsis: []string{"--rpc URL --contract ADDRESS [--chain-id N] [--json]"},
			summary:  "check that an address holds the registry's code",
			doc: `Checks that the code at --contract is exactly the committed registry
runtime code, and fails naming both code hashes if it is not.`},
		{name: "log append", run: cmdAppend,
			synopsis: []string{"--data DIR [--key PATH [--passphrase-file FILE]] [--fleet NAME --chain-id N] [--timeout D] [--json]   (JSON lines on stdin)"},
			summary:  "append events from stdin",
			doc: `Appends the events of the JSON lines on stdin, through the running agent
if there is one, else directly with the key, and prints one line per input
line: its sequence number or why it was not appended (with --json, a JSON
object; firmware-docs/CLI.md). It fails unless every line was appended.`},
		{name: "log show", run: cmdShow,
			synopsis: []string{"--data DIR [--from N] [--limit K] [--timeout D]"},
			summary:  "print events, one JSON line each",
			doc:      `Prints the log's events from a sequence number on, one JSON line each.`},
		{name: "log checkpoint", run: cmdCheckpoint,
			synopsis: []string{"--data DIR [--key PATH [--passphrase-file FILE]] [--fleet NAME --chain-id N] [--timeout D]"},
			summary:  "sign and print a checkpoint",
			doc: `Signs a checkpoint of the log's current size (through the running agent if
there is one, else with the key) and prints the signed note.`},
		{name: "log prove", run: cmdProve,
			synopsis: []string{"--data DIR --seq N [--size M] [--format json|tlog-proof] [--leaf FILE] [--timeout D]"},
			summary:  "print an event's inclusion proof",
			doc: `Prints the proof that the event at --seq is in a signed checkpoint: a
proof bundle (JSON) or a C2SP tlog-proof. For an event whose payload
retention pruned, --leaf gives the event as its holder has it.`},
		{name: "log consistency", run: cmdConsistency,
			synopsis: []string{"--data DIR --from M --to N [--timeout D]"},
			summary:  "print a consistency proof between two sizes",
			doc:      `Prints the proof that the log of size --to extends the log of size --from.`},
		{name: "log check", run: cmdCheck,
			synopsis: []string{"--data DIR [--json]"},
			summary:  "re-verify the whole log",
			doc: `Re-verifies the whole log (signatures, tree, checkpoints) and reports the
first problem; with --json as one JSON object (firmware-docs/CLI.md).`},
		{name: "log salvage", run: cmdSalvage,
			synopsis: []string{"--data DIR --epoch N [--out DIR] [--from PATH] [--chain-id N]"},
			summary:  "recover what a damaged epoch still proves",
			doc: `Recovers what a damaged epoch of the log still proves into a new log
directory (by default DIR/salvaged/epoch-N), and reports what it could not.`},
		{name: "verify", run: cmdVerify,
			synopsis: []string{
				"[--form F] [--device ADDRESS] [--fleet NAME] [--chain-id N | --domain FILE] [--vkey VKEY]",
				" [--old NOTE --new NOTE] [--checkpoint NOTE]",
				" [--rpc URL [--contract ADDRESS] [--confirmations K] [--consistency FILE]]",
				" [--ebsi-hash-algorithm-id N] [--json] FILE|-",
			},
			summary: "verify an artefact offline or against the ledger",
			doc: `Verifies an artefact offline: a proof bundle, tlog-proof, consistency
proof, checkpoint note, feed event or domain message, log show line or
anchor evidence; the form is detected. With --rpc it also checks the
anchoring on the ledger. It exits 1 when the artefact is invalid.`},
		{name: "bench", run: cmdBench,
			synopsis: []string{"[--events N] [--json] [--round D] [--data DIR]"},
			summary:  "measure signing, append, proof and open on this machine",
			doc: `Measures this machine: the raw signing rate and the signed, durable append
rate on one core, then fills a log to N events and measures inclusion-proof
latency, log-open time and peak resident memory.`},
		{name: "watch", run: cmdWatch,
			synopsis: []string{"[--bin PATH] run|export|keygen|bench ...   (the commands of waybill-watch, firmware-docs/CLI.md)"},
			summary:  "run the feed watcher, bin/waybill-watch",
			doc: `Runs waybill-watch, the feed watcher of a city's traffic team, with the
arguments that follow: the one next to this binary, else the one on PATH.
It is a binary of its own (make build), since it links a database driver
and metrics that a device does not need; without it this command exits 2
and says how to build it.`},
	}
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commandTable() {
		if c.name == name {
			return &c
		}
	}
	return nil
}

// subcommands returns the subcommands of group name, or nil if name is not
// a group.
func subcommands(name string) []string {
	var subs []string
	for _, c := range commandTable() {
		if g, sub, ok := strings.Cut(c.name, " "); ok && g == name {
			subs = append(subs, sub)
		}
	}
	return subs
}

// usage is `waybill help`: every command's synopsis.
func usage() string {
	var b strings.Builder
	b.WriteString("waybill: the Waybill edge agent\n\nUsage:\n")
	for _, c := range commandTable() {
		synopsis(&b, "  ", c)
	}
	b.WriteString("\n" + usageNote)
	return b.String()
}

// synopsis writes c's usage lines, each form on a line of its own; a line
// that starts with a space continues the form above it.
func synopsis(w io.Writer, indent string, c command) {
	lead := "waybill " + c.name + " "
	for _, form := range c.synopsis {
		if rest, ok := strings.CutPrefix(form, " "); ok {
			fmt.Fprintf(w, "%s%*s%s\n", indent, len(lead), "", rest)
			continue
		}
		fmt.Fprintf(w, "%s%s%s\n", indent, lead, form)
	}
}

// groupHelp writes the help of a command group: its subcommands.
func groupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: waybill %s SUBCOMMAND [flags]\n\n", group)
	for _, g := range groups {
		if g.name == group {
			fmt.Fprintf(w, "%s\n\n", g.doc)
		}
	}
	fmt.Fprintln(w, "Subcommands:")
	for _, c := range commandTable() {
		if g, sub, ok := strings.Cut(c.name, " "); ok && g == group {
			fmt.Fprintf(w, "  %-15s %s\n", sub, c.summary)
		}
	}
	fmt.Fprintf(w, "\nRun 'waybill %s SUBCOMMAND -h' for a subcommand's flags.\n", group)
}

// help writes the command's help: its usage, what it does and every flag
// with its text.
func (f *flags) help(w io.Writer) {
	fmt.Fprintln(w, "Usage:")
	if c := lookup(f.Name()); c != nil {
		synopsis(w, "  ", *c)
		fmt.Fprintf(w, "\n%s\n", c.doc)
	} else {
		fmt.Fprintf(w, "  waybill %s [flags]\n", f.Name())
	}
	fmt.Fprintln(w, "\nFlags:")
	var b bytes.Buffer
	f.SetOutput(&b)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	// PrintDefaults names a flag -name; the usage lines say --name.
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if strings.HasPrefix(line, "  -") {
			line = "  --" + line[3:]
		}
		io.WriteString(w, line)
	}
}
