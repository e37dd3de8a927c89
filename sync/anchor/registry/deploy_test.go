package registry_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
)

// deployWait bounds a deployment's wait on a chain that seals every
// 50 ms: far beyond what it needs on a loaded machine.
const deployWait = 2 * time.Minute

// RuntimeCode is what a deployment of the committed creation code leaves
// on chain.
func TestRuntimeCode(t *testing.T) {
	ch, err := simchain.Start(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	want, err := registry.RuntimeCode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.Client.CodeAt(context.Background(), ch.Registry, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("deployed code (%d bytes, %s) is not RuntimeCode (%d bytes, %s)", len(got), registry.CodeHash(got), len(want), registry.CodeHash(want))
	}
	if h, err := registry.VerifyCode(context.Background(), ch.Client, ch.Registry); err != nil || h != crypto.Keccak256Hash(got) {
		t.Errorf("VerifyCode = %s, %v", h, err)
	}
}

func TestDeploy(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	ch, err := simchain.Start(50*time.Millisecond, from)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), deployWait)
	defer cancel()

	// A wrong chain ID is refused before anything is sent.
	_, err = registry.Deploy(ctx, ch.Client, key, registry.DeployOptions{ChainID: big.NewInt(1)})
	if !errors.Is(err, registry.ErrWrongChain) || !strings.Contains(err.Error(), "chain 1337, not 1") {
		t.Errorf("Deploy on chain 1 = %v; want ErrWrongChain naming both chains", err)
	}
	// A fee cap below the base fee is refused.
	_, err = registry.Deploy(ctx, ch.Client, key, registry.DeployOptions{MaxFeePerGas: big.NewInt(1)})
	if !errors.Is(err, registry.ErrFeeTooHigh) {
		t.Errorf("Deploy with a cap of 1 wei = %v; want ErrFeeTooHigh", err)
	}
	if n, err := ch.Client.PendingNonceAt(ctx, from); err != nil || n != 0 {
		t.Fatalf("refused deployments sent transactions: nonce %d, %v", n, err)
	}

	d, err := registry.Deploy(ctx, ch.Client, key, registry.DeployOptions{ChainID: big.NewInt(simchain.ChainID), Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d.Contract != crypto.CreateAddress(from, 0) || d.Deployer != from || d.ChainID.Int64() != simchain.ChainID || d.Block == 0 || d.GasUsed == 0 {
		t.Errorf("deployment = %+v", d)
	}
	code, err := ch.Client.CodeAt(ctx, d.Contract, nil)
	if err != nil || registry.CodeHash(code) != d.CodeHash {
		t.Errorf("code at %s has hash %s (%v); deployment says %s", d.Contract, registry.CodeHash(code), err, d.CodeHash)
	}
	// The new registry works: it answers a call.
	reg := registry.NewWaybillRegistry()
	if _, err := ch.Client.CallContract(ctx, ethereum.CallMsg{To: &d.Contract, Data: reg.PackLogIdOf(from, "demo", 1)}, nil); err != nil {
		t.Errorf("logIdOf on the deployed registry: %v", err)
	}
}

// VerifyCode refuses an account without code and a contract with other
// code, naming both hashes.
func TestVerifyCode_Refuses(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	sim := simulated.NewBackend(types.GenesisAlloc{from: {Balance: big.NewInt(1e18)}})
	defer sim.Close()
	ctx := context.Background()
	if _, err := registry.VerifyCode(ctx, sim.Client(), from); !errors.Is(err, registry.ErrNoCode) {
		t.Errorf("VerifyCode of an account = %v; want ErrNoCode", err)
	}
	// A contract whose code is the one byte 0x01.
	other := common.FromHex("600160005360016000f3")
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(simchain.ChainID)),
		&types.DynamicFeeTx{ChainID: big.NewInt(simchain.ChainID), Gas: 100000, GasFeeCap: big.NewInt(1e10), GasTipCap: big.NewInt(1e9), Data: other})
	if err := sim.Client().SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	wctx, cancel := context.WithTimeout(ctx, deployWait)
	defer cancel()
	if r, err := registry.WaitReceipt(wctx, sim.Client(), tx.Hash(), 10*time.Millisecond); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deploying other code: %+v, %v", r, err)
	}
	addr := crypto.CreateAddress(from, 0)
	want, _ := registry.RuntimeCode()
	_, err = registry.VerifyCode(ctx, sim.Client(), addr)
	if !errors.Is(err, registry.ErrCodeMismatch) || !strings.Contains(err.Error(), registry.CodeHash([]byte{1}).Hex()) || !strings.Contains(err.Error(), registry.CodeHash(want).Hex()) {
		t.Errorf("VerifyCode of other code = %v; want ErrCodeMismatch naming both hashes", err)
	}
}

// A deployment whose receipt does not come before the context ends fails
// with ErrNoReceipt, naming the transaction and the address.
func TestDeploy_NoReceipt(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	sim := simulated.NewBackend(types.GenesisAlloc{from: {Balance: new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))}})
	defer sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // nothing seals a block
	defer cancel()
	d, err := registry.Deploy(ctx, sim.Client(), key, registry.DeployOptions{Poll: 10 * time.Millisecond})
	if !errors.Is(err, registry.ErrNoReceipt) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deploy without blocks = %v; want ErrNoReceipt", err)
	}
	for _, s := range []string{d.TxHash.Hex(), crypto.CreateAddress(from, 0).Hex(), "verify-contract"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	// Mined later, the deployment verifies.
	sim.Commit()
	if _, err := registry.VerifyCode(context.Background(), sim.Client(), d.Contract); err != nil {
		t.Errorf("VerifyCode once mined: %v", err)
	}
}
