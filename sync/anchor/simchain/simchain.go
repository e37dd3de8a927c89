// Package simchain runs an in-process EVM chain (go-ethereum's simulated
// backend) with the Waybill registry contract deployed, sealing a block at a
// fixed interval: the ledger of the demo (testbench/demo). It runs the
// Osaka rules, as a current proof-of-stake chain does; anchoring to a real
// chain goes through its JSON-RPC node.
package simchain

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

// ChainID is the simulated chain's EIP-155 chain ID.
const ChainID = 1337

// Chain is a running simulated chain.
type Chain struct {
	Backend  *simulated.Backend
	Client   simulated.Client
	Registry common.Address // the deployed registry contract

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start starts a chain that funds the given accounts with 1,000 ether each,
// deploys the registry contract and seals a block every period.
func Start(period time.Duration, fund ...common.Address) (*Chain, error) {
	// A fixed deployer, so the registry has the same address at every run.
	deployer, err := crypto.ToECDSA(crypto.Keccak256([]byte("waybill simchain deployer")))
	if err != nil {
		return nil, err
	}
	balance := new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))
	alloc := types.GenesisAlloc{crypto.PubkeyToAddress(deployer.PublicKey): {Balance: balance}}
	for _, a := range fund {
		alloc[a] = types.Account{Balance: balance}
	}
	sim := simulated.NewBackend(alloc, osaka)
	c := &Chain{Backend: sim, Client: sim.Client(), stop: make(chan struct{})}
	addr, err := deploy(sim, deployer)
	if err != nil {
		sim.Close()
		return nil, err
	}
	c.Registry = addr
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sim.Commit()
			case <-c.stop:
				return
			}
		}
	}()
	return c, nil
}

// osaka configures the current mainnet rules rather than the simulated
// backend's default drafts, so that gas figures are realistic.
func osaka(_ *node.Config, c *ethconfig.Config) {
	cfg := *params.AllDevChainProtocolChanges
	cfg.AmsterdamTime, cfg.BogotaTime = nil, nil
	c.Genesis.Config = &cfg
}

func deploy(sim *simulated.Backend, key *ecdsa.PrivateKey) (common.Address, error) {
	opts := bind.NewKeyedTransactor(key, big.NewInt(ChainID))
	addr, tx, err := bind.DeployContract(opts, common.FromHex(registry.WaybillRegistryMetaData.Bin), sim.Client(), nil)
	if err != nil {
		return common.Address{}, fmt.Errorf("simchain: deploy the registry: %w", err)
	}
	sim.Commit()
	r, err := sim.Client().TransactionReceipt(context.Background(), tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		return common.Address{}, fmt.Errorf("simchain: registry deployment failed: %v", err)
	}
	return addr, nil
}

// Call runs a read-only call of the registry contract.
func (c *Chain) Call(ctx context.Context, data []byte) ([]byte, error) {
	return c.Client.CallContract(ctx, ethereumCall(c.Registry, data), nil)
}

// Close stops sealing and the chain.
func (c *Chain) Close() error {
	close(c.stop)
	c.wg.Wait()
	return c.Backend.Close()
}
