package registry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// Errors of Deploy, DeployTx and VerifyCode, for errors.Is.
var (
	// ErrWrongChain: the node is on another chain than the one asked for.
	ErrWrongChain = errors.New("the node is on another chain")
	// ErrFeeTooHigh: the chain's base fee is above the fee cap given.
	ErrFeeTooHigh = errors.New("the base fee is above the fee cap")
	// ErrReverted: the deployment transaction was included and failed.
	ErrReverted = errors.New("the deployment transaction failed")
	// ErrNoReceipt: the wait for the deployment's receipt ended first.
	ErrNoReceipt = errors.New("no receipt yet")
	// ErrNoCode: the address holds no code (an account, or nothing yet).
	ErrNoCode = errors.New("no code at the address")
	// ErrCodeMismatch: the address holds code other than the registry's.
	ErrCodeMismatch = errors.New("the code is not the registry's")
)

// RuntimeCode returns the code a deployment of the committed creation code
// (WaybillRegistryMetaData.Bin) leaves on chain: the tail of the creation
// code that its constructor returns. solc's constructor of a contract
// without immutables ends in
//
//	PUSH2 len DUP1 PUSH2 offset PUSH1 0 CODECOPY PUSH1 0 RETURN INVALID
//
// and the runtime code is the len bytes at offset, to the end of the
// creation code; RuntimeCode fails if the creation code is not of that
// form. A test checks the result against what a deployment leaves.
func RuntimeCode() ([]byte, error) {
	bin := common.FromHex(WaybillRegistryMetaData.Bin)
	// 61 LLLL 80 61 OOOO 6000 39 6000 f3 fe
	tail := []byte{0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0xfe}
	for i := 0; i+14 <= len(bin); i++ {
		p := bin[i:]
		if p[0] != 0x61 || p[3] != 0x80 || p[4] != 0x61 || !bytes.Equal(p[7:14], tail) {
			continue
		}
		n := int(p[1])<<8 | int(p[2])
		off := int(p[5])<<8 | int(p[6])
		if off != i+14 || off+n != len(bin) {
			continue
		}
		return bin[off:], nil
	}
	return nil, errors.New("registry: the committed creation code does not end in solc's constructor epilogue; cannot tell its runtime code")
}

// CodeHash is keccak256 of code, as eth_getProof's codeHash names it.
func CodeHash(code []byte) common.Hash { return crypto.Keccak256Hash(code) }

// CodeReader is what VerifyCode needs of a node: *ethclient.Client has it.
type CodeReader interface {
	CodeAt(ctx context.Context, account common.Address, block *big.Int) ([]byte, error)
}

// VerifyCode checks that the code at addr, in the latest block, is exactly
// the committed registry's runtime code, and returns its hash. Any other
// code is ErrCodeMismatch, naming both hashes; no code is ErrNoCode.
func VerifyCode(ctx context.Context, c CodeReader, addr common.Address) (common.Hash, error) {
	want, err := RuntimeCode()
	if err != nil {
		return common.Hash{}, err
	}
	got, err := c.CodeAt(ctx, addr, nil)
	if err != nil {
		return common.Hash{}, fmt.Errorf("registry: code at %s: %w", addr.Hex(), err)
	}
	if len(got) == 0 {
		return common.Hash{}, fmt.Errorf("registry: %w %s: it is an account without code, or its deployment is not mined yet", ErrNoCode, addr.Hex())
	}
	if !bytes.Equal(got, want) {
		return common.Hash{}, fmt.Errorf("registry: %w: the code at %s has keccak256 %s (%d bytes), the committed runtime code %s (%d bytes)",
			ErrCodeMismatch, addr.Hex(), CodeHash(got).Hex(), len(got), CodeHash(want).Hex(), len(want))
	}
	return CodeHash(got), nil
}

// Client is what DeployTx and Deploy need of a node: *ethclient.Client and
// the simulated backend's client have it.
type Client interface {
	CodeReader
	ChainID(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	SuggestGasPrice(ctx context.Context) (*big.Int, error)
	EstimateGas(ctx context.Context, call ethereum.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// DeployOptions tunes a deployment. The zero value asks the node for
// everything.
type DeployOptions struct {
	// ChainID, if set, is the chain the deployment is for: a node on
	// another chain is refused (ErrWrongChain) before anything is signed.
	ChainID *big.Int
	// MaxFeePerGas, if set, caps the fee per gas (wei): the fee cap offered
	// is at most this, and a base fee above it is ErrFeeTooHigh.
	MaxFeePerGas *big.Int
	// Nonce, if set, is the transaction's nonce; otherwise the sender's
	// pending nonce.
	Nonce *uint64
	// GasMarginPercent is added to the node's gas estimate. Default 20.
	GasMarginPercent uint64
	// Poll is how often the receipt is asked for. Default 1 s.
	Poll time.Duration
}

// DeployTx builds the unsigned transaction that deploys the committed
// registry from the account from: EIP-1559 where the chain has a base fee,
// legacy otherwise. It returns the transaction and the chain ID to sign it
// for. The contract's address will be crypto.CreateAddress(from, nonce).
func DeployTx(ctx context.Context, c Client, from common.Address, o DeployOptions) (*types.Transaction, *big.Int, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: deploy: chain ID: %w", err)
	}
	if o.ChainID != nil && o.ChainID.Cmp(chainID) != 0 {
		return nil, nil, fmt.Errorf("registry: deploy: %w: the node reports chain %s, not %s", ErrWrongChain, chainID, o.ChainID)
	}
	var nonce uint64
	if o.Nonce != nil {
		nonce = *o.Nonce
	} else if nonce, err = c.PendingNonceAt(ctx, from); err != nil {
		return nil, nil, fmt.Errorf("registry: deploy: pending nonce of %s: %w", from.Hex(), err)
	}
	data := common.FromHex(WaybillRegistryMetaData.Bin)
	est, err := c.EstimateGas(ctx, ethereum.CallMsg{From: from, Data: data})
	if err != nil {
		return nil, nil, fmt.Errorf("registry: deploy: estimate gas: %w", err)
	}
	margin := o.GasMarginPercent
	if margin == 0 {
		margin = 20
	}
	gas := est + est*margin/100
	h, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: deploy: latest header: %w", err)
	}
	if h.BaseFee == nil {
		price, err := c.SuggestGasPrice(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("registry: deploy: gas price: %w", err)
		}
		if o.MaxFeePerGas != nil && price.Cmp(o.MaxFeePerGas) > 0 {
			price = new(big.Int).Set(o.MaxFeePerGas)
		}
		return types.NewTx(&types.LegacyTx{Nonce: nonce, GasPrice: price, Gas: gas, Data: data}), chainID, nil
	}
	tip, err := c.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: deploy: tip: %w", err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(h.BaseFee, big.NewInt(2)), tip)
	if m := o.MaxFeePerGas; m != nil {
		if h.BaseFee.Cmp(m) > 0 {
			return nil, nil, fmt.Errorf("registry: deploy: %w: base fee %s wei, cap %s wei", ErrFeeTooHigh, h.BaseFee, m)
		}
		if feeCap.Cmp(m) > 0 {
			feeCap = new(big.Int).Set(m)
		}
		if tip.Cmp(feeCap) > 0 {
			tip = new(big.Int).Set(feeCap)
		}
	}
	return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, Data: data}), chainID, nil
}

// Deployment is a registry deployed and verified.
type Deployment struct {
	Contract  common.Address
	Deployer  common.Address
	ChainID   *big.Int
	TxHash    common.Hash
	Block     uint64
	BlockHash common.Hash
	GasUsed   uint64
	CodeHash  common.Hash // keccak256 of the code at Contract: the committed runtime code's
}

// Deploy deploys the committed registry with key: it builds the transaction
// (DeployTx), signs and sends it, waits for its receipt until ctx ends
// (ErrNoReceipt, naming the transaction and the address to look up), and
// checks the code at the new address with VerifyCode.
func Deploy(ctx context.Context, c Client, key *ecdsa.PrivateKey, o DeployOptions) (Deployment, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	tx, chainID, err := DeployTx(ctx, c, from, o)
	if err != nil {
		return Deployment{}, err
	}
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), key)
	if err != nil {
		return Deployment{}, fmt.Errorf("registry: deploy: sign: %w", err)
	}
	d := Deployment{Contract: crypto.CreateAddress(from, tx.Nonce()), Deployer: from, ChainID: chainID, TxHash: signed.Hash()}
	if err := c.SendTransaction(ctx, signed); err != nil {
		return d, evmtx.ClassifySend("registry: deploy", signed.Hash(), err)
	}
	r, err := WaitReceipt(ctx, c, signed.Hash(), o.Poll)
	if err != nil {
		return d, fmt.Errorf("registry: deploy: %w; the registry will be at %s once it is mined: check it then with anchor verify-contract", err, d.Contract.Hex())
	}
	d.Block, d.BlockHash, d.GasUsed = r.BlockNumber.Uint64(), r.BlockHash, r.GasUsed
	if r.Status != types.ReceiptStatusSuccessful {
		return d, fmt.Errorf("registry: deploy: %w: transaction %s in block %d used %d of %d gas", ErrReverted, d.TxHash.Hex(), d.Block, r.GasUsed, tx.Gas())
	}
	if r.ContractAddress != d.Contract {
		return d, fmt.Errorf("registry: deploy: the receipt of %s names contract %s, not %s", d.TxHash.Hex(), r.ContractAddress.Hex(), d.Contract.Hex())
	}
	if d.CodeHash, err = VerifyCode(ctx, c, d.Contract); err != nil {
		return d, err
	}
	return d, nil
}

// WaitReceipt asks for the receipt of h every poll (default 1 s) until the
// node has it or ctx ends: then it fails with ErrNoReceipt, naming h and the
// node's last error. A node that does not know the transaction yet, has not
// indexed it, or fails to answer is asked again.
func WaitReceipt(ctx context.Context, c Client, h common.Hash, poll time.Duration) (*types.Receipt, error) {
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var last error
	for {
		r, err := c.TransactionReceipt(ctx, h)
		if err == nil && r != nil && r.BlockNumber != nil {
			return r, nil
		}
		if err != nil && !errors.Is(err, ethereum.NotFound) && !evmtx.IsIndexing(err) && ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return nil, fmt.Errorf("%w for transaction %s: %w (the node's last error: %v)", ErrNoReceipt, h.Hex(), context.Cause(ctx), last)
			}
			return nil, fmt.Errorf("%w for transaction %s: %w", ErrNoReceipt, h.Hex(), context.Cause(ctx))
		case <-t.C:
		}
	}
}
