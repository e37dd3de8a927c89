package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/testbench/gethdev"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

// duBytes is the disk space the files under dir take, as du counts it.
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil {
			if fi, err := d.Info(); err == nil {
				n += eventlog.DiskBytes(fi)
			}
		}
		return nil
	})
	return n
}

// TestCLI_RetentionBudget runs the agent as an operator would, with a
// 16 MiB budget, a real Mosquitto broker and a real geth node, on a log
// that a long life has nearly filled:
//
//  1. The ledger is unreachable: nothing is anchored, so nothing may be
//     pruned. At the budget the agent refuses position reports and keeps
//     every delivery, door and zone event; it says so in its summary and
//     records the refusals in the log (events_refused).
//  2. The ledger is back: the backlog is anchored, the feed has delivered
//     it, the oldest payloads are pruned and the agent takes every event
//     again. The log still checks, every event is still proven (a pruned
//     one from the copy its holder kept), and the anchored roots are the
//     log's.
func TestCLI_RetentionBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent against Mosquitto and geth")
	}
	const budget = 16 << 20
	ctx := context.Background()
	node := gethdev.Start(t)
	broker := mosquitto.Start(t, nil)
	dev := bind.NewKeyedTransactor(gethdev.DevKey(), big.NewInt(gethdev.ChainID))
	contract, tx, err := bind.DeployContract(dev, common.FromHex(registry.WaybillRegistryMetaData.Bin), node.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.WaitReceipt(ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}
	dir, key, vkey, addr := keyedFleet(t, "brussels-north") // the van's fleet
	if _, err := node.Fund(ctx, common.HexToAddress(addr), new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	van, err := os.ReadFile(vanConfig)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "zones"), 0o755)
	zone, _ := os.ReadFile(filepath.Join(filepath.Dir(vanConfig), "zones", "pentagon.geojson"))
	os.WriteFile(filepath.Join(dir, "zones", "pentagon.geojson"), zone, 0o644)
	writeConfig := func(rpc string) string {
		cfg := filepath.Join(dir, "van.yaml")
		body := fmt.Appendf(bytes.Clone(van), "feed:\n  brokers: [%s]\nanchor:\n  rpc: %s\n  contract: %q\n  every_events: 100\n  every: 1m\nretention:\n  max_bytes: 16MiB\n",
			broker.URL(), rpc, contract.Hex())
		if err := os.WriteFile(cfg, body, 0o644); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := writeConfig("http://127.0.0.1:1") // nothing listens there
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "log")

	// A long life: operator notes until the log is just under its budget,
	// in the segment size the agent uses for that budget.
	k, err := devkey.Load(context.Background(), key, []byte("test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, data, &eventlog.Options{Keys: k, SegmentBytes: retention.SegmentBytes(budget),
		Create: &eventlog.Identity{Device: k.Address(), Fleet: c.Device.Fleet, ChainID: c.Device.ChainID}})
	if err != nil {
		t.Fatal(err)
	}
	note := strings.Repeat("filler ", 140)
	for i := 0; duBytes(t, data) < budget-150<<10; i++ {
		var ps []*eventlog.Pending
		for j := range 200 {
			p, err := l.Enqueue(ctx, event.Event{Time: 1767225600000 + int64(200*i+j), Source: event.SourceNTP, Kind: "manual",
				Payload: fmt.Appendf(nil, `{"note":"%s%d"}`, note, 200*i+j)})
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		for _, p := range ps {
			if _, err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	filled := l.Size()
	l.Close()
	t.Logf("prefilled %d events, %d bytes", filled, duBytes(t, data))

	bin := buildWaybill(t)
	run := func(cfg, speed string) string {
		cmd := exec.Command(bin, "run", "--config", cfg, "--data", data, "--key", key, "--replay", brusselsRec, "--speed", speed, "--continue")
		cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("run: %v\n%s\n%s", err, out.String(), errb.String())
		}
		t.Logf("run took %v", time.Since(start))
		t.Logf("run:\n%s\n%s", out.String(), grepLines(errb.String(), "retention", "anchor", "pruned"))
		return out.String() + errb.String()
	}
	kinds := func(from uint64) map[string]int {
		code, out, errs := waybill(t, "", "log", "show", "--data", data, "--from", strconv.FormatUint(from, 10))
		if code != 0 {
			t.Fatalf("log show: %s", errs)
		}
		n := map[string]int{}
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			var e struct{ Kind string }
			json.Unmarshal([]byte(line), &e)
			n[e.Kind]++
		}
		return n
	}

	// 1. No ledger: positions refused, everything else kept and recorded.
	out := run(cfg, "0")
	m := regexp.MustCompile(`REFUSED at the budget: position (\d+) \(payloads wait for: (anchor|feed)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run 1 refused no position at the budget:\n%s", out)
	}
	refused, _ := strconv.Atoi(m[1])
	got := kinds(filled)
	// What the same replay logs without a budget, into a log of its own.
	code, plainOut, errs := waybill(t, "", "run", "--config", vanConfig, "--replay", brusselsRec, "--data", filepath.Join(dir, "plain"), "--key", key)
	if code != 0 {
		t.Fatalf("replay without a budget: %s", errs)
	}
	plain := summaryCounts(t, plainOut)
	for _, k := range []string{"delivery", "door_opened", "door_closed", "zone_entered", "zone_left", "temperature_excursion", "shock"} {
		if got[k] != plain[k] || plain[k] == 0 {
			t.Errorf("run 1 logged %d %s events; without a budget the replay logs %d", got[k], k, plain[k])
		}
	}
	if got["position"]+refused != plain["position"] || got["events_refused"] != 1 {
		t.Fatalf("run 1 logged %v with %d positions refused; want the %d positions of a replay without a budget less those refused, and one events_refused", got, refused, plain["position"])
	}
	code, show, _ := waybill(t, "", "log", "show", "--data", data, "--from", "5", "--limit", "1")
	if code != 0 {
		t.Fatal("log show 5")
	}
	kept := filepath.Join(dir, "event5.json")
	os.WriteFile(kept, []byte(show), 0o644)

	size1 := logSize(t, data)

	// 2. The ledger is back: anchored, delivered, pruned, accepting. The
	// replay lasts long enough (about 25 s) for the anchoring loop's
	// 15-second poll to see the anchor confirmed.
	out = run(writeConfig(node.URL()), "130")
	m = regexp.MustCompile(`pruned (\d+) segments \((\d+) events`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run 2 pruned nothing:\n%s", out)
	}
	if !strings.Contains(out, "retention: accepting") {
		t.Fatalf("run 2 did not end accepting every event:\n%s", out)
	}
	// Positions refused until the anchor was confirmed and the pruning
	// done, then taken again; the episode is in the log.
	if got := kinds(size1); got["events_refused"] != 1 || got["position"] == 0 || got["delivery"] != plain["delivery"] {
		t.Fatalf("run 2 logged %v; want positions again, every delivery and one events_refused", got)
	}
	code, checked, errs := waybill(t, "", "log", "check", "--data", data)
	if code != 0 || !strings.Contains(checked, "were pruned by retention") {
		t.Fatalf("log check after pruning = %d:\n%s%s", code, checked, errs)
	}
	t.Logf("%s", checked)
	code, _, errs = waybill(t, "", "log", "prove", "--data", data, "--seq", "5")
	if code == 0 || !strings.Contains(errs, "pruned by retention") || !strings.Contains(errs, "--leaf") {
		t.Fatalf("prove of a pruned event without the event = %d: %s", code, errs)
	}
	code, bundle, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "5", "--leaf", kept)
	if code != 0 {
		t.Fatalf("prove of a pruned event from the kept copy: %s", errs)
	}
	bpath := filepath.Join(dir, "bundle5.json")
	os.WriteFile(bpath, []byte(bundle), 0o644)
	if code, vout, errs := waybill(t, "", "verify", "--vkey", vkey, bpath); code != 0 {
		t.Fatalf("verify the pruned event's bundle: %s%s", vout, errs)
	}
	other := filepath.Join(dir, "event6.json")
	_, show6, _ := waybill(t, "", "log", "show", "--data", data, "--from", strconv.FormatUint(filled, 10), "--limit", "1")
	os.WriteFile(other, []byte(show6), 0o644)
	if code, _, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "5", "--leaf", other); code == 0 || !strings.Contains(errs, "is not event 5") {
		t.Fatalf("prove with another event's copy = %d: %s", code, errs)
	}
	if used := duBytes(t, data); used >= budget {
		t.Fatalf("%d bytes used after pruning; budget %d", used, budget)
	}
}

// logSize returns the number of events in the log in dir.
func logSize(t *testing.T, dir string) uint64 {
	t.Helper()
	l, err := eventlog.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Size()
}

// grepLines returns the lines of s that contain any of words.
func grepLines(s string, words ...string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
