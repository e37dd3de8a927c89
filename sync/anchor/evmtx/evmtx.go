// Package evmtx is the EVM side of anchoring's generic transaction parts: an
// anchor.Backend over any Ethereum JSON-RPC node (go-ethereum, Besu, or
// go-ethereum's in-process simulated backend), which builds and signs
// EIP-1559 transactions (legacy ones where the chain has no base fee), sends
// them, and reads blocks and receipts. What an anchor transaction carries (its
// destination and calldata) comes from a Payload: the Waybill registry
// contract's call, or NotePayload, the signed checkpoint note itself as the
// data of a transaction to a fixed address.
//
// VerifyEvidence checks the ledger-specific half of an anchor's evidence
// offline: that the raw transaction is the one the receipt names, on the
// named chain, carrying the checkpoint.
package evmtx

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/sync/anchor"
)

// Client is the part of an Ethereum JSON-RPC client the backend uses.
// *ethclient.Client and the simulated backend's simulated.Client satisfy it.
type Client interface {
	ChainID(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	SuggestGasPrice(ctx context.Context) (*big.Int, error)
	EstimateGas(ctx context.Context, call ethereum.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// Signer holds the sending account's key and signs its transactions.
type Signer interface {
	// Address is the sending account.
	Address() common.Address
	// SignTx signs tx for the chain chainID.
	SignTx(tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
}

// KeySigner returns a Signer over a secp256k1 private key.
func KeySigner(k *ecdsa.PrivateKey) Signer {
	return &keySigner{k: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

type keySigner struct {
	k    *ecdsa.PrivateKey
	addr common.Address
}

func (s *keySigner) Address() common.Address { return s.addr }

func (s *keySigner) SignTx(tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	return types.SignTx(tx, types.LatestSignerForChainID(chainID), s.k)
}

// Payload says what an anchor transaction carries.
type Payload interface {
	// Calldata returns the destination and the calldata of the transaction
	// anchoring req.
	Calldata(ctx context.Context, req anchor.Request) (to common.Address, data []byte, err error)
}

// Named is implemented by payloads that say, in the anchor's evidence, what
// they are (anchor.PayloadNote, anchor.PayloadRegistry, anchor.PayloadEBSI).
// A transaction built with a payload that does not implement it leaves no
// payload name, and its evidence is of version 1.
type Named interface {
	PayloadName() string
}

// PayloadName implements Named: anchor.PayloadNote.
func (NotePayload) PayloadName() string { return anchor.PayloadNote }

// NotePayload is the plain anchor: a zero-value transaction to To whose data
// is the signed checkpoint note, verbatim (firmware-docs/ANCHORING.md). It
// needs no contract; anyone holding the transaction can read the note, and
// the device's signatures on it, back out of the chain.
type NotePayload struct {
	// To is the destination, for example the sending account itself.
	To common.Address
}

// Calldata implements Payload.
func (p NotePayload) Calldata(_ context.Context, req anchor.Request) (common.Address, []byte, error) {
	if len(req.Note) == 0 {
		return common.Address{}, nil, errors.New("evmtx: request has no note")
	}
	return p.To, append([]byte(nil), req.Note...), nil
}

// Options configures a Backend.
type Options struct {
	// Client is the node. Required.
	Client Client
	// Signer holds the sending account. Required.
	Signer Signer
	// Payload makes each anchor's calldata. Required.
	Payload Payload
	// ChainID, if set, pins the chain: the backend refuses a node that
	// reports another. Otherwise it asks the node once.
	ChainID *big.Int
	// GasLimit, if set, is every transaction's gas limit; otherwise the node
	// estimates it and GasMarginPercent is added.
	GasLimit uint64
	// GasMarginPercent is added to the estimate. Default 20.
	GasMarginPercent uint64
}

// Backend is an anchor.Backend on an EVM chain.
type Backend struct {
	// Constant after New.
	c       Client
	signer  Signer
	payload Payload
	opts    Options

	mu      sync.Mutex
	chainID *big.Int // guarded by mu; nil until known
}

// New returns a backend; it does not contact the node.
func New(o Options) (*Backend, error) {
	switch {
	case o.Client == nil:
		return nil, errors.New("evmtx: Options.Client is required")
	case o.Signer == nil:
		return nil, errors.New("evmtx: Options.Signer is required")
	case o.Payload == nil:
		return nil, errors.New("evmtx: Options.Payload is required")
	case o.ChainID != nil && o.ChainID.Sign() <= 0:
		return nil, fmt.Errorf("evmtx: Options.ChainID %s is not positive", o.ChainID)
	}
	if o.GasMarginPercent == 0 {
		o.GasMarginPercent = 20
	}
	return &Backend{c: o.Client, signer: o.Signer, payload: o.Payload, opts: o}, nil
}

// Address returns the sending account.
func (b *Backend) Address() common.Address { return b.signer.Address() }

// ChainID returns the chain's id, asking the node the first time and
// checking it against Options.ChainID.
func (b *Backend) ChainID(ctx context.Context) (*big.Int, error) {
	b.mu.Lock()
	id := b.chainID
	b.mu.Unlock()
	if id != nil {
		return id, nil
	}
	id, err := b.c.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("evmtx: chain id: %w", err)
	}
	if p := b.opts.ChainID; p != nil && p.Cmp(id) != 0 {
		return nil, fmt.Errorf("evmtx: node is on chain %s, configured chain is %s", id, p)
	}
	b.mu.Lock()
	b.chainID = id
	b.mu.Unlock()
	return id, nil
}

// Block implements anchor.Backend.
func (b *Backend) Block(ctx context.Context, ref anchor.BlockRef) (anchor.Block, error) {
	var num *big.Int
	switch ref {
	case anchor.Latest:
	case anchor.Finalized:
		num = big.NewInt(int64(rpc.FinalizedBlockNumber))
	default:
		if ref < 0 {
			return anchor.Block{}, fmt.Errorf("evmtx: unknown block reference %d", ref)
		}
		num = big.NewInt(int64(ref))
	}
	h, err := BlockByNumber(ctx, b.c, num)
	if errors.Is(err, ethereum.NotFound) {
		return anchor.Block{}, fmt.Errorf("evmtx: block %s: %w", ref, anchor.ErrNotFound)
	}
	if err != nil {
		return anchor.Block{}, BlockError("evmtx", ref, err)
	}
	return anchor.Block{Number: h.Number, Hash: anchor.Hash(h.Hash), Time: h.Time}, nil
}

// PendingNonce implements anchor.Backend.
func (b *Backend) PendingNonce(ctx context.Context) (uint64, error) {
	n, err := b.c.PendingNonceAt(ctx, b.signer.Address())
	if err != nil {
		return 0, fmt.Errorf("evmtx: pending nonce of %s: %w", b.signer.Address(), err)
	}
	return n, nil
}

// SuggestFees implements anchor.Backend: on a chain with a base fee, the
// node's suggested tip and a cap of twice the latest base fee plus the tip
// (go-ethereum's bind default); otherwise the suggested gas price for both.
func (b *Backend) SuggestFees(ctx context.Context) (anchor.Fees, error) {
	h, err := b.c.HeaderByNumber(ctx, nil)
	if err != nil {
		return anchor.Fees{}, fmt.Errorf("evmtx: latest header: %w", err)
	}
	if h.BaseFee == nil {
		gp, err := b.c.SuggestGasPrice(ctx)
		if err != nil {
			return anchor.Fees{}, fmt.Errorf("evmtx: gas price: %w", err)
		}
		return anchor.Fees{Tip: gp, Cap: new(big.Int).Set(gp)}, nil
	}
	tip, err := b.c.SuggestGasTipCap(ctx)
	if err != nil {
		return anchor.Fees{}, fmt.Errorf("evmtx: tip: %w", err)
	}
	cap := new(big.Int).Mul(h.BaseFee, big.NewInt(2))
	cap.Add(cap, tip)
	return anchor.Fees{Tip: tip, Cap: cap}, nil
}

// Build implements anchor.Backend. The transaction is EIP-1559 (type 2)
// unless the chain's latest block has no base fee, then legacy with gas
// price fees.Cap.
func (b *Backend) Build(ctx context.Context, req anchor.Request, nonce uint64, fees anchor.Fees) (anchor.Tx, error) {
	chainID, err := b.ChainID(ctx)
	if err != nil {
		return anchor.Tx{}, err
	}
	to, data, err := b.payload.Calldata(ctx, req)
	if err != nil {
		return anchor.Tx{}, fmt.Errorf("evmtx: payload: %w", err)
	}
	h, err := b.c.HeaderByNumber(ctx, nil)
	if err != nil {
		return anchor.Tx{}, fmt.Errorf("evmtx: latest header: %w", err)
	}
	tip, feeCap := fees.Tip, fees.Cap
	if tip == nil || feeCap == nil || tip.Sign() < 0 || tip.Cmp(feeCap) > 0 {
		return anchor.Tx{}, fmt.Errorf("evmtx: fees tip %v cap %v: want 0 <= tip <= cap", tip, feeCap)
	}
	gas := b.opts.GasLimit
	if gas == 0 {
		msg := ethereum.CallMsg{From: b.signer.Address(), To: &to, Data: data}
		est, err := b.c.EstimateGas(ctx, msg)
		if err != nil {
			return anchor.Tx{}, fmt.Errorf("evmtx: estimate gas: %w", err)
		}
		gas = est + est*b.opts.GasMarginPercent/100
	}
	var inner types.TxData
	if h.BaseFee == nil {
		inner = &types.LegacyTx{Nonce: nonce, GasPrice: feeCap, Gas: gas, To: &to, Data: data}
	} else {
		inner = &types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
			Gas: gas, To: &to, Data: data}
	}
	tx, err := b.signer.SignTx(types.NewTx(inner), chainID)
	if err != nil {
		return anchor.Tx{}, fmt.Errorf("evmtx: sign: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return anchor.Tx{}, fmt.Errorf("evmtx: encode: %w", err)
	}
	out := anchor.Tx{
		Hash: anchor.Hash(tx.Hash()), Raw: raw, Ledger: "eip155:" + chainID.String(), Nonce: nonce,
		Fees: anchor.Fees{Tip: new(big.Int).Set(tip), Cap: new(big.Int).Set(feeCap)}, Gas: gas,
	}
	if n, ok := b.payload.(Named); ok {
		out.Payload, out.To = n.PayloadName(), strings.ToLower(to.Hex())
	}
	return out, nil
}

// Send implements anchor.Backend, classifying the node's refusals by the
// messages of go-ethereum's and Besu's transaction pools.
func (b *Backend) Send(ctx context.Context, raw []byte) error {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return fmt.Errorf("evmtx: stored transaction does not decode: %w", err)
	}
	err := b.c.SendTransaction(ctx, &tx)
	if err == nil {
		return nil
	}
	return ClassifySend("evmtx", tx.Hash(), err)
}

// Receipt implements anchor.Backend.
func (b *Backend) Receipt(ctx context.Context, h anchor.Hash) (anchor.Receipt, error) {
	r, err := b.c.TransactionReceipt(ctx, common.Hash(h))
	if errors.Is(err, ethereum.NotFound) || (err == nil && r == nil) {
		return anchor.Receipt{}, fmt.Errorf("evmtx: receipt of %s: %w", h, anchor.ErrNotFound)
	}
	if err != nil {
		return anchor.Receipt{}, ReceiptError("evmtx", h, err)
	}
	if r.BlockNumber == nil || !r.BlockNumber.IsUint64() {
		return anchor.Receipt{}, fmt.Errorf("evmtx: receipt of %s has no valid block number", h)
	}
	js, err := json.Marshal(r)
	if err != nil {
		return anchor.Receipt{}, fmt.Errorf("evmtx: receipt of %s: %w", h, err)
	}
	return anchor.Receipt{
		TxHash: anchor.Hash(r.TxHash), BlockNumber: r.BlockNumber.Uint64(), BlockHash: anchor.Hash(r.BlockHash),
		Success: r.Status == types.ReceiptStatusSuccessful, GasUsed: r.GasUsed, JSON: js,
	}, nil
}

var _ anchor.Backend = (*Backend)(nil)
