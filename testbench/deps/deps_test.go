package deps

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/waybill-eu/waybill"

// A rule names packages that a set of packages must not depend on, through
// their non-test imports, directly or not.
type rule struct {
	name string
	// from are package patterns (go list); their packages are the roots.
	from []string
	// forbid are import paths: each forbids itself and every package under
	// it.
	forbid []string
	// allow are packages under a forbidden path that may be linked.
	allow []string
}

var rules = []rule{
	{
		// The device binary (bin/waybill, make cross) links no in-process
		// chain, node, database engine or broker: those are the demo's
		// (testbench/cmd/waybill-demo).
		name: "the device binary links no node, chain, database engine or broker",
		from: []string{module + "/agent/cmd/waybill"},
		forbid: []string{
			"github.com/ethereum/go-ethereum/node",
			"github.com/ethereum/go-ethereum/eth",
			"github.com/ethereum/go-ethereum/p2p",
			"github.com/ethereum/go-ethereum/ethdb/pebble",
			"github.com/ethereum/go-ethereum/ethdb/leveldb",
			"github.com/ethereum/go-ethereum/ethclient/simulated",
			"github.com/syndtr/goleveldb",
			"github.com/cockroachdb/pebble", // and pebble/v2
			"github.com/mochi-mqtt",
			module + "/sync/anchor/simchain",
			module + "/sync/feed/embedded",
			module + "/testbench",
			// The feed watcher is a server of its own (bin/waybill-watch,
			// which `waybill watch` runs): its archive's database driver,
			// its metrics and the watcher itself stay out of the device
			// binary.
			"github.com/jackc/pgx",
			"github.com/prometheus",
			module + "/sync/watch",
		},
		allow: []string{
			// go-ethereum's rpc package (under ethclient) imports netutil
			// for its address checks; it is a small package of its own,
			// not the peer-to-peer stack.
			"github.com/ethereum/go-ethereum/p2p/netutil",
		},
	},
	{
		name:   "production code does not import the test bench",
		from:   []string{module + "/agent/...", module + "/drivers/...", module + "/sync/..."},
		forbid: []string{module + "/testbench"},
	},
	{
		name:   "drivers import nothing of the agent or of sync",
		from:   []string{module + "/drivers/..."},
		forbid: []string{module + "/agent", module + "/sync"},
	},
}

// platforms are the builds the rules hold for: this machine's and the
// armv6 Pi's (build tags select other files there).
var platforms = []struct {
	name string
	env  []string
}{
	{"host", nil},
	{"linux/arm/6", []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"}},
}

func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed to list the packages' imports")
	}
	for _, p := range platforms {
		for _, r := range rules {
			t.Run(p.name+"/"+r.name, func(t *testing.T) {
				g := load(t, p.env, r.from)
				if len(g.roots) == 0 {
					t.Fatalf("no package matches %v", r.from)
				}
				for _, v := range violations(g, r) {
					t.Errorf("links %s: %s", v[len(v)-1], strings.Join(v, " imports "))
				}
			})
		}
	}
}

// A graph is the non-test import graph of some packages and their
// dependencies.
type graph struct {
	roots   []string            // the packages the patterns matched, sorted
	imports map[string][]string // each package's imports
}

// load lists the packages patterns match and their dependencies, with go
// list in the environment env.
func load(t *testing.T, env, patterns []string) graph {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.DepOnly}} {{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	g := graph{imports: map[string][]string{}}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("go list printed %q", line)
		}
		g.imports[f[1]] = f[2:]
		if f[0] == "false" {
			g.roots = append(g.roots, f[1])
		}
	}
	slices.Sort(g.roots)
	return g
}

// under reports whether p is path or a package under it.
func under(p, path string) bool { return p == path || strings.HasPrefix(p, path+"/") }

func (r rule) forbids(p string) bool {
	if slices.Contains(r.allow, p) {
		return false
	}
	return slices.ContainsFunc(r.forbid, func(f string) bool { return under(p, f) })
}

// violations returns, for each forbidden package the roots reach without
// passing through another forbidden one, the shortest import chain that
// reaches it from a root: root, ..., forbidden package.
func violations(g graph, r rule) [][]string {
	parent := map[string]string{}
	seen := map[string]bool{}
	var queue, found []string
	for _, root := range g.roots {
		seen[root] = true
		queue = append(queue, root)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if r.forbids(p) {
			found = append(found, p)
			continue
		}
		for _, q := range g.imports[p] {
			if !seen[q] {
				seen[q], parent[q] = true, p
				queue = append(queue, q)
			}
		}
	}
	slices.Sort(found)
	var chains [][]string
	for _, p := range found {
		chain := []string{p}
		for q, ok := parent[p]; ok; q, ok = parent[q] {
			chain = append(chain, q)
		}
		slices.Reverse(chain)
		chains = append(chains, chain)
	}
	return chains
}

// TestViolations checks the search on a small graph: it names the
// shortest chain to each forbidden package, stops at the first forbidden
// package of a chain and lets an allowed one through.
func TestViolations(t *testing.T) {
	g := graph{
		roots: []string{"cmd"},
		imports: map[string][]string{
			"cmd":          {"lib", "rpc"},
			"lib":          {"node", "util"},
			"util":         {"node"},
			"rpc":          {"p2p/netutil"},
			"node":         {"p2p"},
			"p2p/netutil":  {},
			"p2p":          {"p2p/discover"},
			"p2p/discover": {},
		},
	}
	r := rule{forbid: []string{"node", "p2p"}, allow: []string{"p2p/netutil"}}
	got := fmt.Sprint(violations(g, r))
	if want := "[[cmd lib node]]"; got != want {
		t.Errorf("violations = %s, want %s", got, want)
	}
	r.allow = nil
	got = fmt.Sprint(violations(g, r))
	if want := "[[cmd lib node] [cmd rpc p2p/netutil]]"; got != want {
		t.Errorf("without the exception: violations = %s, want %s", got, want)
	}
}
