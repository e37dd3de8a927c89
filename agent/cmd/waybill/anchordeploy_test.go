package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/testbench/gethdev"
)

// binRun runs the built waybill binary with the test's passphrase and
// returns its exit code and output. It is bounded by runSyncDeadline.
func binRun(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runSyncDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("waybill %s: not done within %v:\n%s", strings.Join(args, " "), runSyncDeadline, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// `waybill anchor deploy` deploys the registry to a real geth --dev node
// with a key funded there, and `waybill run`, configured with the printed
// address, anchors its log to that registry. A wrong --chain-id deploys
// nothing; verify-contract refuses an account and a contract of other
// code; the unsigned transaction of --print-tx, signed elsewhere, deploys a
// registry verify-contract accepts.
func TestCLI_AnchorDeployOnGeth(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys to and anchors on a geth node")
	}
	node := gethdev.Start(t)
	ctx := context.Background()
	bin := buildWaybill(t)
	dir, deviceKey, _, deviceAddr := keyedFleet(t, "deploy-test")
	deployerKey := filepath.Join(dir, "deployer.key")
	code, out, errs := waybill(t, "", "keygen", "--key", deployerKey, "--fleet", "deploy-test", "--json")
	if code != 0 {
		t.Fatalf("keygen: %s", errs)
	}
	var kj keyJSON
	if err := json.Unmarshal([]byte(out), &kj); err != nil {
		t.Fatal(err)
	}
	deployer := common.HexToAddress(kj.Address)
	ether := new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))
	for _, a := range []common.Address{deployer, common.HexToAddress(deviceAddr)} {
		if _, err := node.Fund(ctx, a, ether); err != nil {
			t.Fatal(err)
		}
	}

	// A node on another chain than --chain-id says: nothing is sent.
	code, _, errs = binRun(t, bin, "anchor", "deploy", "--rpc", node.URL(), "--key", deployerKey, "--chain-id", "1")
	if want := "the node reports chain 1337, not 1"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("deploy with --chain-id 1 = %d %q; want 1 and %q", code, errs, want)
	}
	if n, err := node.Client().PendingNonceAt(ctx, deployer); err != nil || n != 0 {
		t.Fatalf("a refused deployment sent a transaction: nonce %d, %v", n, err)
	}

	// The deployment, as text: the address, the transaction and the
	// configuration lines.
	code, out, errs = binRun(t, bin, "anchor", "deploy", "--rpc", node.URL(), "--key", deployerKey, "--chain-id", "1337")
	if code != 0 {
		t.Fatalf("deploy = %d:\n%s\n%s", code, out, errs)
	}
	contract := crypto.CreateAddress(deployer, 0)
	for _, want := range []string{"registry deployed at " + contract.Hex() + " on chain 1337", "anchor:\n  rpc: " + node.URL() + "\n  contract: \"" + contract.Hex() + "\"\n", "transaction 0x"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	runtime, err := registry.RuntimeCode()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := node.Client().CodeAt(ctx, contract, nil); err != nil || !bytes.Equal(got, runtime) {
		t.Fatalf("code at the printed address: %d bytes (%v); want the %d bytes of the registry", len(got), err, len(runtime))
	}
	code, out, errs = binRun(t, bin, "anchor", "verify-contract", "--rpc", node.URL(), "--contract", contract.Hex(), "--chain-id", "1337", "--json")
	var vj verifyContractJSON
	if code != 0 || json.Unmarshal([]byte(out), &vj) != nil || vj.Contract != strings.ToLower(contract.Hex()) || vj.ChainID != 1337 || vj.CodeHash != registry.CodeHash(runtime).Hex() {
		t.Errorf("verify-contract of the registry = %d %q %s", code, out, errs)
	}

	// verify-contract refuses an account and a contract of other code.
	code, _, errs = binRun(t, bin, "anchor", "verify-contract", "--rpc", node.URL(), "--contract", deployer.Hex())
	if code != 1 || !strings.Contains(errs, "no code at the address "+deployer.Hex()) {
		t.Errorf("verify-contract of an account = %d %q", code, errs)
	}
	tx, err := node.SignDynamicFeeTx(ctx, gethdev.DevKey(), nil, nil, common.FromHex("600160005360016000f3")) // code: 0x01
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Client().SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	r, err := node.WaitReceipt(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deploying other code: %v", err)
	}
	code, _, errs = binRun(t, bin, "anchor", "verify-contract", "--rpc", node.URL(), "--contract", r.ContractAddress.Hex())
	if code != 1 || !strings.Contains(errs, "the code is not the registry's") || !strings.Contains(errs, registry.CodeHash([]byte{1}).Hex()) || !strings.Contains(errs, registry.CodeHash(runtime).Hex()) {
		t.Errorf("verify-contract of other code = %d %q; want both code hashes named", code, errs)
	}

	// --json: CLI.md's members.
	code, out, errs = binRun(t, bin, "anchor", "deploy", "--rpc", node.URL(), "--key", deployerKey, "--json")
	var dj deployJSON
	if code != 0 || json.Unmarshal([]byte(out), &dj) != nil || dj.Contract != strings.ToLower(crypto.CreateAddress(deployer, 1).Hex()) || dj.CodeHash != registry.CodeHash(runtime).Hex() {
		t.Errorf("deploy --json = %d %q %s", code, out, errs)
	} else if got, want := shape(t, out), shape(t, vector(t, "anchor-deploy")); got != want {
		t.Errorf("deploy --json has the shape\n%s\nCLI.md's cli:anchor-deploy\n%s", got, want)
	}
	t.Logf("deployment: %d gas", dj.GasUsed)

	t.Run("print-tx", func(t *testing.T) { offlineDeploy(t, node, bin, deployerKey) })

	// The agent, configured with the printed address, anchors its log there.
	cfg := filepath.Join(dir, "waybill.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `version: 1
device:
  type: gateway
  fleet: deploy-test
  chain_id: 1337
  data: log
  key: %s
anchor:
  rpc: %s
  contract: %q
  finality: qbft
  every_events: 1
  poll: 1s
`, filepath.Base(deviceKey), node.URL(), contract.Hex()), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "log")
	agent := exec.Command(bin, "run", "--config", cfg, "--checkpoint-every", "1s")
	agent.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
	var agentOut lockedBuffer
	agent.Stdout, agent.Stderr = &agentOut, &agentOut
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when run has exited, with its result in runErr.
	exited := make(chan struct{})
	var runErr error
	go func() { runErr = agent.Wait(); close(exited) }()
	t.Cleanup(func() { agent.Process.Kill(); <-exited })

	var st anchorStatusJSON
	var stOut string
	deadline := time.Now().Add(anchorWait)
	for appended := false; ; {
		if !appended { // through the running agent, once its socket answers
			code, _, _ := waybill(t, `{"kind":"manual","payload":{"note":"anchored through a deployed registry"}}`+"\n", "log", "append", "--data", data)
			appended = code == 0
		}
		if appended {
			code, out, _ := waybill(t, "", "anchor", "status", "--data", data, "--json")
			st, stOut = anchorStatusJSON{}, out
			if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Last != nil && st.Live != nil && st.Last.Size == st.Live.LogSize && st.InFlight == nil {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("run exited (%v):\n%s", runErr, agentOut.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not anchored within %v; status %+v\n%s", anchorWait, st, agentOut.String())
		}
	}
	running := st
	if got, want := shape(t, stOut), shape(t, vector(t, "anchor-status")); got != want {
		t.Errorf("anchor status --json has the shape\n%s\nCLI.md's cli:anchor-status\n%s", got, want)
	}
	if !running.AgentRunning || running.Confirmed < 1 {
		t.Errorf("status while the agent runs = %+v", running)
	}
	if code, _, errs := waybill(t, "", "anchor", "status", "--data", data, "--evidence"); code != 1 || !strings.Contains(errs, "stop the agent first") {
		t.Errorf("anchor status --evidence while running = %d %q", code, errs)
	}
	code, text, errs := waybill(t, "", "anchor", "status", "--data", data)
	if code != 0 || !strings.Contains(text, "anchoring in the running agent") || !strings.Contains(text, "last confirmed: "+running.Last.Origin) {
		t.Errorf("anchor status (text) while running = %d:\n%s\n%s", code, text, errs)
	}
	agent.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if runErr != nil {
			t.Fatalf("run after SIGTERM: %v\n%s", runErr, agentOut.String())
		}
	case <-time.After(runSyncDeadline):
		t.Fatalf("run has not exited %v after a SIGTERM", runSyncDeadline)
	}

	// The same members, stopped; the same anchors.
	code, out, errs = waybill(t, "", "anchor", "status", "--data", data, "--json")
	var stopped anchorStatusJSON
	if code != 0 || json.Unmarshal([]byte(out), &stopped) != nil {
		t.Fatalf("anchor status --json, stopped = %d %q %s", code, out, errs)
	}
	if !slices.Equal(jsonMembers(t, out), jsonMembers(t, mustJSON(t, running))) {
		t.Errorf("anchor status members differ: stopped %v, running %v", jsonMembers(t, out), jsonMembers(t, mustJSON(t, running)))
	}
	if stopped.AgentRunning || stopped.Live != nil || stopped.Last == nil || stopped.Last.Size != running.Last.Size || stopped.Last.Root != running.Last.Root || stopped.Last.Tx != running.Last.Tx {
		t.Errorf("status stopped = %+v; running it was %+v", stopped, running)
	}

	// The evidence names the deployed registry, and the registry holds the
	// anchored root.
	code, evs, errs := waybill(t, "", "anchor", "status", "--data", data, "--evidence")
	if code != 0 || !strings.Contains(evs, `"payload":"registry"`) || !strings.Contains(evs, `"to":"`+strings.ToLower(contract.Hex())+`"`) {
		t.Fatalf("evidence = %d:\n%s\n%s", code, evs, errs)
	}
	root, err := base64.StdEncoding.DecodeString(stopped.Last.Root)
	if err != nil || len(root) != 32 {
		t.Fatalf("root %q: %v", stopped.Last.Root, err)
	}
	a, err := registry.CheckAnchored(ctx, node.Client(), contract, stopped.Last.Origin, stopped.Last.Size, [32]byte(root), 1)
	if err != nil {
		t.Fatalf("the deployed registry does not hold the anchored checkpoint: %v", err)
	}
	if a.TxHash.Hex() != stopped.Last.Tx {
		t.Errorf("registry's Anchored event is in %s; the store says %s", a.TxHash.Hex(), stopped.Last.Tx)
	}
}

// offlineDeploy prints the unsigned deployment with --print-tx, signs it
// as an offline signer would (the hash it prints), sends the raw
// transaction and checks the result with verify-contract.
func offlineDeploy(t *testing.T, node *gethdev.Node, bin, keyPath string) {
	ctx := context.Background()
	k, err := devkey.Load(ctx, keyPath, []byte("test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(k.ECDSA().PublicKey)
	if code, _, errs := binRun(t, bin, "anchor", "deploy", "--rpc", node.URL(), "--print-tx", "--key", keyPath); code != 2 || !strings.Contains(errs, "--from") {
		t.Errorf("--print-tx with --key = %d %q; want a usage error", code, errs)
	}
	code, out, errs := binRun(t, bin, "anchor", "deploy", "--rpc", node.URL(), "--print-tx", "--from", from.Hex(), "--chain-id", "1337")
	if code != 0 {
		t.Fatalf("--print-tx = %d %s", code, errs)
	}
	var p deployTxJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("--print-tx output %q: %v", out, err)
	}
	if got, want := shape(t, out), shape(t, vector(t, "anchor-print-tx")); got != want {
		t.Errorf("--print-tx has the shape\n%s\nCLI.md's cli:anchor-print-tx\n%s", got, want)
	}
	nonce, err := node.Client().PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Transaction
	if p.ChainID != 1337 || a.ChainID.ToInt().Int64() != 1337 || a.To != nil || uint64(a.Nonce) != nonce || p.From != strings.ToLower(from.Hex()) ||
		p.Contract != strings.ToLower(crypto.CreateAddress(from, nonce).Hex()) || a.Type != types.DynamicFeeTxType || a.MaxFeePerGas == nil || a.Gas == 0 ||
		!bytes.Equal(a.Data, common.FromHex(registry.WaybillRegistryMetaData.Bin)) {
		t.Fatalf("--print-tx = %s", out)
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: a.ChainID.ToInt(), Nonce: uint64(a.Nonce), GasTipCap: a.MaxPriorityFeePerGas.ToInt(),
		GasFeeCap: a.MaxFeePerGas.ToInt(), Gas: uint64(a.Gas), Value: a.Value.ToInt(), Data: a.Data})
	signer := types.LatestSignerForChainID(big.NewInt(1337))
	if h := signer.Hash(tx).Hex(); h != p.SigningHash {
		t.Fatalf("signing_hash %s; the transaction's is %s", p.SigningHash, h)
	}
	sig, err := crypto.Sign(common.FromHex(p.SigningHash), k.ECDSA())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := tx.WithSignature(signer, sig)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := signed.MarshalBinary()
	if err := node.RPC().CallContext(ctx, nil, "eth_sendRawTransaction", hexutil.Encode(raw)); err != nil {
		t.Fatal(err)
	}
	if _, err := node.WaitReceipt(ctx, signed.Hash()); err != nil {
		t.Fatal(err)
	}
	code, out, errs = binRun(t, bin, "anchor", "verify-contract", "--rpc", node.URL(), "--contract", p.Contract)
	if code != 0 || !strings.Contains(out, common.HexToAddress(p.Contract).Hex()+" on chain 1337 holds the committed registry runtime code") {
		t.Errorf("verify-contract after the offline deployment = %d %q %s", code, out, errs)
	}
	if code, _, errs := binRun(t, bin, "anchor", "verify-contract", "--rpc", node.URL(), "--contract", p.Contract, "--chain-id", "5"); code != 1 || !strings.Contains(errs, "chain 1337, not 5") {
		t.Errorf("verify-contract --chain-id 5 = %d %q", code, errs)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonMembers returns the sorted member names of a JSON object.
func jsonMembers(t *testing.T, s string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// A deployment the chain does not mine (its tip, held down by
// --max-fee-gwei, is below the block builder's minimum) ends when --wait
// does, or on SIGTERM, with an error naming the transaction to look up.
func TestCLI_AnchorDeployUnmined(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a geth node")
	}
	node := gethdev.Start(t, gethdev.WithPeriod(1), gethdev.WithMinTip(big.NewInt(2e9)))
	ctx := context.Background()
	bin := buildWaybill(t)
	dir, _, _, _ := keyedFleet(t, "deploy-test")
	key := filepath.Join(dir, "deployer.key")
	code, out, errs := waybill(t, "", "keygen", "--key", key, "--fleet", "deploy-test", "--json")
	var kj keyJSON
	if code != 0 || json.Unmarshal([]byte(out), &kj) != nil {
		t.Fatalf("keygen: %s", errs)
	}
	deployer := common.HexToAddress(kj.Address)
	if _, err := node.Fund(ctx, deployer, new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	deploy := []string{"anchor", "deploy", "--rpc", node.URL(), "--key", key, "--max-fee-gwei", "1.5"}

	code, _, errs = binRun(t, bin, append(deploy, "--wait", "2s")...)
	last := finalLine(errs)
	for _, want := range []string{"no receipt yet for transaction 0x", "context deadline exceeded", crypto.CreateAddress(deployer, 0).Hex(), "anchor verify-contract"} {
		if code != 1 || !strings.Contains(last, want) {
			t.Errorf("deploy, unmined, --wait 2s = %d %q; want 1 and %q", code, last, want)
		}
	}

	cmd := exec.Command(bin, append(deploy, "--wait", "10m")...)
	cmd.Env = append(os.Environ(), "WAYBILL_PASSPHRASE=test passphrase")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var runErr error
	go func() { runErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	// Its transaction, the second of the account, is in the node's pool.
	for deadline := time.Now().Add(runSyncDeadline); ; {
		if n, err := node.Client().PendingNonceAt(ctx, deployer); err == nil && n == 2 {
			break
		}
		select {
		case <-exited:
			t.Fatalf("deploy exited (%v) before its transaction was sent:\n%s", runErr, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployment was not sent within %v:\n%s", runSyncDeadline, stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(runSyncDeadline):
		t.Fatalf("deploy has not exited %v after a SIGTERM", runSyncDeadline)
	}
	last = finalLine(stderr.String())
	if code := exitCode(t, runErr); code != 1 || !strings.Contains(last, "no receipt yet for transaction 0x") || !strings.Contains(last, "terminated signal received") ||
		!strings.Contains(last, crypto.CreateAddress(deployer, 1).Hex()) {
		t.Errorf("deploy after SIGTERM = %d %q", code, last)
	}
}
