package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/testbench/gethdev"
)

// The agent is killed with SIGKILL while it replays and anchors to a real
// geth node that seals a block a second (so transactions sit pending), then
// started again on the same log and anchor store. Afterwards every anchor is
// confirmed once, sizes only grow, each anchored root is the log's root at
// that size, and the registry's head is the last one.
func TestCLI_AnchorSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the agent against a geth node")
	}
	node := gethdev.Start(t, gethdev.WithPeriod(1))
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
	if _, err := node.Fund(ctx, common.HexToAddress(addr), new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	// The van's configuration with an anchor section, next to its zones.
	van, err := os.ReadFile(vanConfig)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "zones"), 0o755)
	zone, _ := os.ReadFile(filepath.Join(filepath.Dir(vanConfig), "zones", "pentagon.geojson"))
	os.WriteFile(filepath.Join(dir, "zones", "pentagon.geojson"), zone, 0o644)
	cfg := filepath.Join(dir, "van.yaml")
	os.WriteFile(cfg, fmt.Appendf(van, "anchor:\n  rpc: %s\n  contract: %q\n  finality: qbft\n  every_events: 1\n", node.URL(), contract.Hex()), 0o644)
	data := filepath.Join(dir, "log")

	bin := buildWaybill(t)
	start := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"run", "--config", cfg, "--data", data, "--key", key}, args...)...)
		cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for round := range 3 {
		cmd := start("--replay", brusselsRec, "--speed", "300", "--continue")
		time.Sleep(time.Duration(1500+r.IntN(2500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("round %d: killed", round)
	}
	// Restarted without sensors to read, the agent finishes the anchoring.
	cmd := start()
	deadline := time.Now().Add(anchorWait)
	for {
		var st struct {
			Log struct {
				Size uint64 `json:"size"`
			} `json:"log"`
			Agent struct {
				Sync struct {
					Anchor *anchor.Status `json:"anchor"`
				} `json:"sync"`
			} `json:"agent"`
		}
		code, out, _ := waybill(t, "", "status", "--data", data)
		if code == 0 && json.Unmarshal([]byte(out), &st) == nil {
			if a := st.Agent.Sync.Anchor; a != nil && a.InFlight == nil && a.Queued == nil && a.Last != nil && a.Last.Size == st.Log.Size {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("anchoring did not settle within %v after the restart; status:\n%s", anchorWait, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// While the agent holds the store, anchor status asks the agent.
	if code, out, errs := waybill(t, "", "anchor", "status", "--data", data); code != 0 || !bytes.Contains([]byte(out), []byte("anchoring in the running agent")) {
		t.Errorf("anchor status while running = %d:\n%s\n%s", code, out, errs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	st, anchors, err := anchor.ReadStore(filepath.Join(data, system.AnchorStore))
	if err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var last uint64
	for _, a := range anchors {
		if a.State != anchor.StateConfirmed {
			t.Errorf("anchor %d of size %d ended %s", a.ID, a.Size, a.State)
			continue
		}
		if a.Size <= last {
			t.Errorf("anchor %d: size %d after %d", a.ID, a.Size, last)
		}
		last = a.Size
		root, err := l.TreeHash(a.Size)
		if err != nil || root != a.Root {
			t.Errorf("anchor %d: root at size %d is %s in the log, %s anchored (%v)", a.ID, a.Size, root, merkle.Hash(a.Root), err)
		}
	}
	reg := registry.NewWaybillRegistry()
	out, err := node.Client().CallContract(ctx, ethereum.CallMsg{To: &contract, Data: reg.PackHead(crypto.Keccak256Hash([]byte(l.Origin())))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, err := reg.UnpackHead(out)
	if err != nil || head.Size != st.Last.Size || head.Root != st.Last.Root {
		t.Errorf("registry head = %+v (%v), last confirmed anchor size %d", head, err, st.Last.Size)
	}
	t.Logf("%d anchors, last size %d of %d events", len(anchors), st.Last.Size, l.Size())
}
