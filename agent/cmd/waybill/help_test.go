package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelp_EveryCommand asks every command of the table for help, as -h,
// --help and `waybill help NAME`, and checks that the help exits 0 on
// stdout and shows the command's usage, its description and every flag
// its flag set defines, with that flag's text; and that the usage lines
// name every flag.
func TestHelp_EveryCommand(t *testing.T) {
	for _, c := range commandTable() {
		t.Run(c.name, func(t *testing.T) {
			words := strings.Fields(c.name)
			e := &env{stdin: strings.NewReader(""), stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}
			if err := dispatch(context.Background(), e, append(words, "-h")); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("dispatch %s -h = %v, want flag.ErrHelp", c.name, err)
			}
			if e.flags == nil || e.flags.Name() != c.name {
				t.Fatalf("%s made no flag set of its name", c.name)
			}
			help := e.stdout.(*bytes.Buffer).String()
			var usage bytes.Buffer
			synopsis(&usage, "  ", c)
			if !strings.Contains(help, usage.String()) || !strings.Contains(help, c.doc) || c.doc == "" || c.summary == "" {
				t.Errorf("%s -h lacks the usage, or its description is empty:\n%s", c.name, help)
			}
			n := 0
			e.flags.VisitAll(func(fl *flag.Flag) {
				n++
				if fl.Usage == "" {
					t.Errorf("%s: flag --%s has no help text", c.name, fl.Name)
				}
				if !strings.Contains(help, "  --"+fl.Name+" ") && !strings.Contains(help, "  --"+fl.Name+"\n") {
					t.Errorf("%s -h does not list --%s", c.name, fl.Name)
				}
				// The text as flag prints it: a `NAME` in it names the value.
				if _, text := flag.UnquoteUsage(fl); !strings.Contains(help, text) {
					t.Errorf("%s -h lacks the text of --%s: %q", c.name, fl.Name, text)
				}
				if !containsFlag(usage.String(), fl.Name) {
					t.Errorf("the usage of %s does not name --%s:\n%s", c.name, fl.Name, usage.String())
				}
			})
			if n == 0 && c.name != "log check" {
				t.Errorf("%s defines no flag", c.name)
			}
			for _, args := range [][]string{
				append(words, "-h"),
				append(words, "--help"),
				append([]string{"help"}, words...),
			} {
				code, out, errs := waybill(t, "", args...)
				if code != 0 || out != help || errs != "" {
					t.Errorf("waybill %s: exit %d, stderr %q, stdout equal to -h's: %v", strings.Join(args, " "), code, errs, out == help)
				}
			}
		})
	}
}

// containsFlag reports whether the usage text names --name as a flag of
// its own (not the start of a longer name).
func containsFlag(usage, name string) bool {
	for s := usage; ; {
		i := strings.Index(s, "--"+name)
		if i < 0 {
			return false
		}
		s = s[i+2+len(name):]
		if s == "" || !strings.ContainsAny(s[:1], "abcdefghijklmnopqrstuvwxyz0123456789-") {
			return true
		}
	}
}

// TestHelp_Groups checks that every command group has help listing each
// of its subcommands, that the group needs a subcommand, and that an
// unknown one is refused with a pointer to the group's help.
func TestHelp_Groups(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commandTable() {
		if g, _, ok := strings.Cut(c.name, " "); ok {
			seen[g] = true
		}
	}
	if len(seen) != len(groups) {
		t.Errorf("command groups %v; the groups table has %d", seen, len(groups))
	}
	for _, g := range groups {
		subs := subcommands(g.name)
		if len(subs) == 0 {
			t.Errorf("group %s has no subcommands", g.name)
			continue
		}
		var first string
		for _, args := range [][]string{{g.name, "-h"}, {g.name, "--help"}, {g.name, "help"}, {"help", g.name}} {
			code, out, errs := waybill(t, "", args...)
			if code != 0 || errs != "" || !strings.Contains(out, g.doc) {
				t.Errorf("waybill %v: exit %d, stderr %q, stdout %q", args, code, errs, out)
			}
			for _, sub := range subs {
				c := lookup(g.name + " " + sub)
				if !strings.Contains(out, "  "+sub+" ") || !strings.Contains(out, c.summary) {
					t.Errorf("waybill %v does not list %s: %q", args, sub, out)
				}
			}
			if first == "" {
				first = out
			} else if out != first {
				t.Errorf("waybill %v differs from waybill %s -h", args, g.name)
			}
		}
		code, _, errs := waybill(t, "", g.name)
		if code != 2 || !strings.Contains(errs, g.name+" needs a subcommand: "+strings.Join(subs, ", ")) {
			t.Errorf("waybill %s: exit %d, stderr %q", g.name, code, errs)
		}
		code, _, errs = waybill(t, "", g.name, "nonesuch")
		if code != 2 || !strings.Contains(errs, "unknown "+g.name+` subcommand "nonesuch"`) || !strings.Contains(errs, "waybill "+g.name+" -h") {
			t.Errorf("waybill %s nonesuch: exit %d, stderr %q", g.name, code, errs)
		}
	}
}

// TestHelp_Mistakes checks that a flag mistake in any command exits 2 with
// the error and a pointer to the command's help, and that the command
// list names every command.
func TestHelp_Mistakes(t *testing.T) {
	code, out, errs := waybill(t, "", "help")
	if code != 0 || errs != "" {
		t.Fatalf("waybill help: exit %d, stderr %q", code, errs)
	}
	for _, c := range commandTable() {
		if !strings.Contains(out, "  waybill "+c.name+" ") {
			t.Errorf("waybill help does not list %s", c.name)
		}
		args := append(strings.Fields(c.name), "--no-such-flag")
		code, stdout, errs := waybill(t, "", args...)
		if code != 2 || stdout != "" || !strings.Contains(errs, "waybill: "+c.name+": flag provided but not defined: -no-such-flag\n") ||
			!strings.Contains(errs, "Run 'waybill "+c.name+" -h'") {
			t.Errorf("waybill %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, errs)
		}
	}
	for _, args := range [][]string{nil, {"nonesuch"}, {"help", "nonesuch"}} {
		code, _, errs := waybill(t, "", args...)
		if code != 2 || !strings.Contains(errs, "Usage:\n") {
			t.Errorf("waybill %v: exit %d, stderr %q; want 2 and the command list", args, code, errs)
		}
	}
}
