package main

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/testbench/gethdev"
)

// anchorWait bounds a wait for anchoring on geth --dev to settle: the
// anchoring loop steps every 15 s and a confirmation takes a few steps, so
// a few minutes is far beyond what it needs on a loaded machine.
const anchorWait = 3 * time.Minute

// Anchoring against a real geth --dev node over JSON-RPC: the device's log
// is anchored through the registry contract by the agent's own loop, and
// `waybill verify --rpc --contract` confirms a bundle's checkpoint on the
// ledger, or refuses it.
func TestCLI_AnchorOnGethAndVerifyRPC(t *testing.T) {
	node := gethdev.Start(t)
	ctx := context.Background()
	dev := bind.NewKeyedTransactor(gethdev.DevKey(), big.NewInt(gethdev.ChainID))
	contract, tx, err := bind.DeployContract(dev, common.FromHex(registry.WaybillRegistryMetaData.Bin), node.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.WaitReceipt(ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}

	dir, key, _, addr := keyed(t)
	data := filepath.Join(dir, "log")
	code, _, errs := waybill(t, events, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337")
	if code == 0 || !strings.Contains(errs, "2 input line(s) not appended") {
		t.Fatalf("append: %d %s", code, errs)
	}
	if code, _, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 {
		t.Fatal(errs)
	}
	if _, err := node.Fund(ctx, common.HexToAddress(addr), new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}

	// The agent's anchoring loop, configured as a device would be.
	k, err := devkey.Load(context.Background(), key, []byte("test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, data, &eventlog.Options{Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Anchor: &config.Anchor{Backend: config.AnchorEVM, RPC: node.URL(), Contract: contract.Hex(),
		Finality: "qbft", EveryEvents: 1, Every: time.Hour, MaxFeeGwei: 100, GasLimitPlus: 20}}
	sy, stop, err := runSync(ctx, system.Options{Config: cfg, AnchorPoll: 100 * time.Millisecond}, l, k)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(anchorWait)
	for {
		st := sy.Anchor().Status()
		if st.Last != nil && st.Last.Size == l.Size() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not anchored within %v: %+v", anchorWait, st)
		}
		sy.Notify()
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	code, bundle, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "1")
	if code != 0 {
		t.Fatal(errs)
	}
	bpath := filepath.Join(dir, "bundle.json")
	os.WriteFile(bpath, []byte(bundle), 0o644)
	code, out, errs := waybill(t, "", "verify", "--rpc", node.URL(), "--contract", contract.Hex(), bpath)
	if code != 0 || !strings.Contains(out, "is anchored in block") {
		t.Fatalf("verify --rpc = %d:\n%s\n%s", code, out, errs)
	}
	code, _, errs = waybill(t, "", "verify", "--rpc", node.URL(), "--contract", contract.Hex(), "--confirmations", "1000", bpath)
	if code != 1 || !strings.Contains(errs, "NOT ANCHORED") || !strings.Contains(errs, "fewer than 1000") {
		t.Errorf("verify asking 1000 confirmations = %d %s", code, errs)
	}
	code, _, errs = waybill(t, "", "verify", "--rpc", node.URL(), "--contract", common.HexToAddress("0x1234").Hex(), bpath)
	if code == 0 {
		t.Errorf("verify against an address without the registry succeeded: %s", errs)
	}
	code, out, errs = waybill(t, "", "anchor", "status", "--data", data)
	if code != 0 || !strings.Contains(out, "last confirmed") {
		t.Errorf("anchor status = %d:\n%s\n%s", code, out, errs)
	}

	// The anchor's evidence names the registry payload, the contract and
	// the chain, and verify checks it offline and against the node.
	code, evs, errs := waybill(t, "", "anchor", "status", "--data", data, "--evidence")
	if code != 0 || strings.Count(evs, "\n") != 1 {
		t.Fatalf("anchor status --evidence = %d:\n%s\n%s", code, evs, errs)
	}
	for _, m := range []string{`"payload":"registry"`, `"to":"` + strings.ToLower(contract.Hex()) + `"`, `"chain_id":1337`, `"v":2`} {
		if !strings.Contains(evs, m) {
			t.Errorf("evidence lacks %s: %s", m, evs)
		}
	}
	epath := filepath.Join(dir, "evidence.json")
	os.WriteFile(epath, []byte(evs), 0o644)
	if code, out, errs := waybill(t, "", "verify", epath); code != 0 || !strings.Contains(out, "payload registry to "+strings.ToLower(contract.Hex())) {
		t.Errorf("verify evidence = %d:\n%s\n%s", code, out, errs)
	}
	if code, out, errs := waybill(t, "", "verify", "--rpc", node.URL(), epath); code != 0 || !strings.Contains(out, "still has hash") {
		t.Errorf("verify --rpc evidence = %d:\n%s\n%s", code, out, errs)
	}
	if code, _, errs := waybill(t, "", "verify", "--rpc", node.URL(), "--confirmations", "1000", epath); code != 1 || !strings.Contains(errs, "fewer than 1000") {
		t.Errorf("verify --rpc evidence, 1000 confirmations = %d %s", code, errs)
	}
	other := strings.Replace(evs, `"to":"`+strings.ToLower(contract.Hex()), `"to":"0x00000000000000000000000000000000000012`+strings.ToLower(contract.Hex())[40:], 1)
	os.WriteFile(epath, []byte(other), 0o644)
	if code, _, errs := waybill(t, "", "verify", epath); code != 1 || !strings.Contains(errs, "INVALID evidence") {
		t.Errorf("verify evidence naming another contract = %d %s", code, errs)
	}

	// The chain node restarts while the device's log grows: the anchoring
	// loop, restarted over the same store, anchors the new checkpoint with
	// a consistency proof from the anchored one.
	node.Restart(t)
	l, err = eventlog.Open(ctx, data, &eventlog.Options{Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 5; i++ {
		if _, err := l.Append(ctx, event.Event{Time: 1795766400000 + int64(i), Source: event.SourceNTP, Kind: "manual",
			Payload: []byte(`{"note":"after the restart"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	sy, stop, err = runSync(ctx, system.Options{Config: cfg, AnchorPoll: 100 * time.Millisecond}, l, k)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	deadline = time.Now().Add(anchorWait)
	for {
		st := sy.Anchor().Status()
		if st.Last != nil && st.Last.Size == l.Size() {
			if st.Last.PrevSize != 3 || len(st.Last.Consistency) == 0 || st.Confirmed != 2 {
				t.Errorf("second anchor: prev %d, %d proof hashes, %d confirmed", st.Last.PrevSize, len(st.Last.Consistency), st.Confirmed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not anchored after the node's restart within %v: %+v", anchorWait, st)
		}
		sy.Notify()
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
