package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

const contractDoc = "../../../firmware-docs/CONTRACT.md"

// gasRow is one measured figure of CONTRACT.md's gas table.
type gasRow struct {
	what     string
	proofLen int    // hashes in the proof, -1 if none applies
	calldata int    // bytes of calldata
	gas      uint64 // gas used (transactions) or estimated (calls)
	exec     uint64 // gas beyond the transaction's intrinsic cost
}

// gasRules are the chain rules the gas table is measured under.
var gasRules = []struct {
	name string
	opts []func(*node.Config, *ethconfig.Config)
}{
	{"paris", []func(*node.Config, *ethconfig.Config){parisConfig}},
	{"osaka", []func(*node.Config, *ethconfig.Config){osakaConfig}},
	{"simulated default", nil},
}

// osakaConfig runs the simulated chain on every fork up to Osaka, the rules
// of Ethereum mainnet since December 2025, without the draft forks the
// simulated backend enables by default.
func osakaConfig(_ *node.Config, c *ethconfig.Config) {
	cfg := *params.AllDevChainProtocolChanges
	cfg.AmsterdamTime, cfg.BogotaTime = nil, nil
	c.Genesis.Config = &cfg
}

// measureGas runs the scenario CONTRACT.md's figures come from: one device
// (the vector key, so that signatures and so calldata are reproducible), a
// real log of 4000 events anchored every 1000 events, and an on-chain
// inclusion check of a delivery event.
func measureGas(t *testing.T, opts ...func(*node.Config, *ethconfig.Config)) []gasRow {
	t.Helper()
	ch := newChainWith(t, nil, opts...)
	ctx := context.Background()
	// The intrinsic cost of a transaction under the paris rules: 21000, 4
	// gas per zero and 16 per other calldata byte (EIP-2028), plus 32000 for
	// a creation.
	intrinsic := func(data []byte, create bool) uint64 {
		g := uint64(21000)
		for _, c := range data {
			if c == 0 {
				g += 4
			} else {
				g += 16
			}
		}
		if create {
			g += 32000
		}
		return g
	}
	var rows []gasRow

	// Deployment.
	code, err := ch.client.CodeAt(ctx, ch.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ch.client.BlockByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var deployTx *types.Transaction
	for _, tx := range blk.Transactions() {
		if tx.To() == nil {
			deployTx = tx
		}
	}
	if deployTx == nil {
		t.Fatal("no deployment transaction in the latest block")
	}
	dr, err := ch.client.TransactionReceipt(ctx, deployTx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	rows = append(rows, gasRow{fmt.Sprintf("deploy (%d bytes of runtime code)", len(code)), -1, len(deployTx.Data()),
		dr.GasUsed, dr.GasUsed - intrinsic(deployTx.Data(), true)})

	d := newDeviceLog(t, testKey(t))
	prev := uint64(0)
	for size := uint64(1000); size <= 4000; size += 1000 {
		d.grow(size, "")
		a := d.checkpoint()
		what := "anchor, first checkpoint of a log (size 1000)"
		if prev > 0 {
			a = a.withProof(d.consistency(prev, size))
			what = fmt.Sprintf("anchor, %d → %d with its consistency proof", prev, size)
		}
		data := a.pack(ch.reg)
		r, _ := ch.mustAnchor(a)
		rows = append(rows, gasRow{what, len(a.proof), len(data), r.GasUsed, r.GasUsed - intrinsic(data, false)})
		prev = size
	}

	const seq, size = 1537, 4000
	ev, proof := d.prove(seq, size)
	data := ch.reg.PackVerifyEvent(testFleet, ev, size, proof)
	ok, err := ch.verifyEvent(testFleet, ev, size, proof)
	if err != nil || !ok {
		t.Fatalf("verifyEvent(%d, %d) = %v, %v", seq, size, ok, err)
	}
	g, err := ch.client.EstimateGas(ctx, ethereum.CallMsg{From: ch.relayer.From, To: &ch.addr, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	rows = append(rows, gasRow{fmt.Sprintf("verifyEvent, a %s event (%d-byte payload), size %d (estimateGas)", ev.Kind, len(ev.Payload), size),
		len(proof), len(data), g, g - intrinsic(data, false)})
	return rows
}

// contractDocSection is the generated part of CONTRACT.md: selectors, the
// vector log ID and the gas table.
func contractDocSection(t *testing.T) string {
	reg := registry.NewWaybillRegistry()
	var b strings.Builder
	a := reg.GetABI()
	b.WriteString("| function | selector |\n|---|---|\n")
	for _, name := range slices.Sorted(maps.Keys(a.Methods)) {
		m := a.Methods[name]
		fmt.Fprintf(&b, "| `%s` | `0x%x` |\n", m.Sig, m.ID[:4])
	}
	b.WriteString("\n| event | topic 0 |\n|---|---|\n")
	for _, name := range slices.Sorted(maps.Keys(a.Events)) {
		e := a.Events[name]
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", e.Sig, e.ID.Hex())
	}
	b.WriteString("\n| error | selector |\n|---|---|\n")
	for _, name := range slices.Sorted(maps.Keys(a.Errors)) {
		e := a.Errors[name]
		fmt.Fprintf(&b, "| `%s` | `0x%x` |\n", e.Sig, e.ID[:4])
	}
	id := vectorLogID(t)
	b.WriteString("\nThe vector checkpoint of PROTOCOL.md §10 (fleet `demo`, chain 1337, size 5):\n\n```\n")
	bnd, _ := vectorBundle(t)
	fmt.Fprintf(&b, "origin  %s\nlogId   0x%x\n```\n", bnd.Checkpoint.Origin, id)

	b.WriteString("\n| operation | proof hashes | calldata bytes |")
	var runs [][]gasRow
	for _, r := range gasRules {
		fmt.Fprintf(&b, " gas, %s |", r.name)
		runs = append(runs, measureGas(t, r.opts...))
	}
	b.WriteString(" execution, paris |\n|---|---|---|---|---|---|---|\n")
	for i, r := range runs[0] {
		p := "–"
		if r.proofLen >= 0 {
			p = fmt.Sprint(r.proofLen)
		}
		fmt.Fprintf(&b, "| %s | %s | %d |", r.what, p, r.calldata)
		for _, run := range runs {
			fmt.Fprintf(&b, " %d |", run[i].gas)
		}
		fmt.Fprintf(&b, " %d |\n", r.exec)
	}
	return b.String()
}

// TestContractDoc checks that CONTRACT.md's generated section (selectors,
// vector log ID, gas figures) is what the committed contract gives now
// (-update rewrites it) and that the page names the pinned compiler and the
// configured evmVersion.
func TestContractDoc(t *testing.T) {
	doc, err := os.ReadFile(contractDoc)
	if err != nil {
		t.Fatal(err)
	}
	const begin = "<!-- BEGIN GENERATED (go test ./sync/anchor/registry -run TestContractDoc -update) -->\n"
	const end = "<!-- END GENERATED -->\n"
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatal("CONTRACT.md has no generated section markers")
	}
	section := contractDocSection(t)
	t.Logf("generated section:\n%s", section)
	if cur := string(doc[i+len(begin) : j]); cur != section {
		if !*update {
			t.Fatal("CONTRACT.md's generated section is out of date; run go test ./sync/anchor/registry -run TestContractDoc -update and review the diff")
		}
		doc = slices.Concat(doc[:i+len(begin)], []byte(section), doc[j:])
		if err := os.WriteFile(contractDoc, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := packageJSON(t)
	sep := testDomain.Separator()
	for _, s := range []string{
		"solc " + p.Dependencies["solc"], "`" + p.Config.EVMVersion + "`", fmt.Sprintf("runs %d", p.Config.OptimizerRuns),
		fmt.Sprintf("0x%x", sep), // the domain separator of fleet demo on chain 1337
	} {
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("CONTRACT.md does not say %q", s)
		}
	}
}
