package anchor

import (
	"context"
	"errors"
	"math/big"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// Backend is a ledger as the anchoring loop sees it: blocks, one sending
// account with its nonce, fees, and anchor transactions that it builds and
// signs, sends and looks up. The loop owns the lifecycle (when to anchor,
// which nonce, which fees, when a transaction is stuck, when it is final);
// a backend owns the ledger's encodings and its key.
//
// sync/anchor/evmtx implements it for any EVM JSON-RPC node, with the
// transaction's destination and calldata supplied by a payload (the Waybill
// registry contract, or the note itself as data). An EBSI Timestamp backend
// fits the same shape: Build asks the Timestamp API's JSON-RPC to build the
// unsigned timestampHashes transaction, sets the nonce the loop gives it and
// signs it on the device; Send is the ledger's sendRawTransaction; fees are
// zero there. A backend that needs an access token refreshes it inside its
// calls; a call that fails for want of one returns an error like any other,
// and the loop retries later without dropping anything.
//
// Every method may be called with a context that is cancelled; errors other
// than those documented below are treated as "the ledger is unreachable now",
// and the loop retries on its next step. The loop calls a backend from one
// goroutine at a time.
type Backend interface {
	// Block returns the block at ref: a block number, Latest or Finalized.
	// It returns an error wrapping ErrNotFound when the ledger has no such
	// block (a number beyond the head, or no finalized block yet), and one
	// wrapping ErrNoFinalizedTag when ref is Finalized and the ledger has no
	// notion of it. Block(ctx, Latest) is the loop's reachability probe.
	Block(ctx context.Context, ref BlockRef) (Block, error)
	// PendingNonce returns the sending account's next nonce, counting the
	// transactions in the node's pool.
	PendingNonce(ctx context.Context) (uint64, error)
	// SuggestFees returns the fees the ledger suggests now. For EIP-1559
	// chains Cap is typically twice the base fee plus Tip; for legacy chains
	// Tip and Cap are both the gas price; for ledgers without fees both are
	// zero. The loop applies its caps afterwards.
	SuggestFees(ctx context.Context) (Fees, error)
	// Build returns the signed transaction that anchors req with the given
	// nonce and fees. It does not send it, and must not have side effects
	// on the ledger: the loop stores the transaction durably before Send.
	Build(ctx context.Context, req Request, nonce uint64, fees Fees) (Tx, error)
	// Send submits a signed raw transaction, as built by Build. It returns
	// nil or an error wrapping ErrKnown when the node already has it, one
	// wrapping ErrNonceUsed when the ledger has already included another
	// transaction with its nonce, and one wrapping ErrUnderpriced when the
	// node refuses its fees (too low, or a replacement not raised enough).
	Send(ctx context.Context, raw []byte) error
	// Receipt returns the receipt of the transaction with hash h from the
	// ledger's canonical chain, or an error wrapping ErrNotFound while it
	// is in no block. When the node cannot tell yet (go-ethereum's
	// "transaction indexing is in progress"), the error wraps both
	// ErrNotFound and ErrNotIndexed: the loop then treats the transaction
	// as not included, but never signs for a new nonce on that basis.
	Receipt(ctx context.Context, h Hash) (Receipt, error)
}

var (
	// ErrNotFound is wrapped by Backend.Block and Backend.Receipt when the
	// ledger has no such block or receipt.
	ErrNotFound = errors.New("anchor: not found on the ledger")
	// ErrNotIndexed is wrapped, with ErrNotFound, by Backend.Receipt when
	// the node's transaction index is incomplete, so that "not found" may
	// be wrong.
	ErrNotIndexed = errors.New("anchor: ledger's transaction index is incomplete")
	// ErrNoFinalizedTag is wrapped by Backend.Block when the ledger does not
	// know the finalized tag (Hyperledger Besu on QBFT, for one).
	ErrNoFinalizedTag = errors.New("anchor: ledger has no finalized block tag")
	// ErrKnown is wrapped by Backend.Send when the node already holds the
	// transaction; the loop treats it as a successful send.
	ErrKnown = errors.New("anchor: transaction already known")
	// ErrNonceUsed is wrapped by Backend.Send when the ledger already
	// included a transaction with the same nonce.
	ErrNonceUsed = errors.New("anchor: nonce already used")
	// ErrUnderpriced is wrapped by Backend.Send when the node refuses the
	// transaction's fees.
	ErrUnderpriced = errors.New("anchor: transaction underpriced")
)

// BlockRef names a block for Backend.Block: a block number (0 or more), or
// one of Latest and Finalized.
type BlockRef int64

const (
	// Latest is the head of the ledger's canonical chain.
	Latest BlockRef = -2
	// Finalized is the newest block the ledger reports as finalized (the
	// JSON-RPC "finalized" tag of proof-of-stake chains).
	Finalized BlockRef = -3
)

// Number returns the reference to block number n.
func Number(n uint64) BlockRef {
	if n > 1<<62 {
		panic("anchor: block number out of range")
	}
	return BlockRef(n)
}

// String returns "latest", "finalized" or the decimal block number.
func (r BlockRef) String() string {
	switch r {
	case Latest:
		return "latest"
	case Finalized:
		return "finalized"
	}
	return big.NewInt(int64(r)).String()
}

// Block is a block of the ledger.
type Block struct {
	// Number is the block number (height).
	Number uint64
	// Hash is the block hash.
	Hash Hash
	// Time is the block's timestamp in seconds since the Unix epoch.
	Time uint64
}

// Fees are the per-gas fees of a transaction, in the ledger's smallest unit
// (wei on EVM chains): the priority fee (tip) and the fee cap of EIP-1559,
// or, on a legacy chain, the gas price twice. Zero fees mean a ledger without
// fees, such as EBSI.
type Fees struct {
	// Tip is the maxPriorityFeePerGas; never more than Cap.
	Tip *big.Int
	// Cap is the maxFeePerGas.
	Cap *big.Int
}

// IsZero reports whether both fees are nil or zero.
func (f Fees) IsZero() bool {
	return (f.Tip == nil || f.Tip.Sign() == 0) && (f.Cap == nil || f.Cap.Sign() == 0)
}

// Request is what an anchor transaction commits to: the newest signed
// checkpoint and, when the same log was anchored before, that checkpoint and
// the consistency proof from it.
type Request struct {
	// Note is the signed checkpoint note (PROTOCOL.md §7), verbatim.
	Note []byte
	// Checkpoint is the checkpoint the note signs.
	Checkpoint checkpoint.Checkpoint
	// Prev is the newest confirmed anchor's checkpoint of the same origin,
	// or nil if this origin was never anchored.
	Prev *checkpoint.Checkpoint
	// Consistency is the RFC 9162 §2.1.4 proof from Prev to Checkpoint;
	// empty when Prev is nil or of the same size.
	Consistency []merkle.Hash
}

// Tx is a signed anchor transaction.
type Tx struct {
	// Hash is the transaction hash, as the ledger names it.
	Hash Hash
	// Raw is the signed transaction in the ledger's wire encoding (EIP-2718
	// bytes on EVM chains): exactly what Send submits.
	Raw []byte
	// Ledger names the ledger the transaction is valid on, as a CAIP-2
	// chain id (for example "eip155:1337").
	Ledger string
	// Nonce is the sending account's nonce the transaction uses.
	Nonce uint64
	// Fees are the fees it offers.
	Fees Fees
	// Gas is its gas limit.
	Gas uint64
	// Payload names what the transaction carries, as its evidence states it
	// (ANCHORING.md §7): PayloadNote, PayloadRegistry or PayloadEBSI; ""
	// when the backend does not say (the evidence is then of version 1).
	Payload string
	// To is the transaction's destination, the contract or account it is
	// addressed to: 0x and 40 lowercase hex digits.
	To string
	// Endpoint is the API the transaction was built through (the EBSI
	// Timestamp API's URL), or "" when it was built on the device alone.
	Endpoint string
}

// What an anchor transaction carries: the names of Tx.Payload and of the
// evidence's "payload" member.
const (
	// PayloadNote is the plain note: a transaction whose data is the signed
	// checkpoint note (ANCHORING.md §6).
	PayloadNote = "note"
	// PayloadRegistry is the Waybill registry contract's anchor call
	// (CONTRACT.md).
	PayloadRegistry = "registry"
	// PayloadEBSI is an EBSI Timestamp transaction built by the Timestamp
	// API (EBSI.md).
	PayloadEBSI = "ebsi"
)

// Receipt is the ledger's record that a transaction was included.
type Receipt struct {
	// TxHash is the transaction's hash.
	TxHash Hash
	// BlockNumber and BlockHash name the block that includes it.
	BlockNumber uint64
	BlockHash   Hash
	// Success is false when the transaction was included but failed (an
	// EVM revert): the anchor then did not take effect.
	Success bool
	// GasUsed is the gas the transaction used.
	GasUsed uint64
	// JSON is the receipt as the ledger's JSON-RPC returns it, kept as
	// evidence.
	JSON []byte
}
