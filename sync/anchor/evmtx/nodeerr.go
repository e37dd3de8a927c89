package evmtx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/sync/anchor"
)

// Call names a JSON-RPC request whose refusals Classify knows.
type Call int

// The requests whose refusals Classify knows.
const (
	// Send is eth_sendRawTransaction, or the EBSI Timestamp API's
	// sendSignedTransaction, which relays the node's refusal in the words
	// of ethers v5, the API's library.
	Send Call = iota + 1
	// Finalized is eth_getBlockByNumber with the "finalized" tag.
	Finalized
	// Lookup is eth_getTransactionReceipt or eth_getTransactionByHash.
	Lookup
)

// A refusal is a node's answer to a call, known by a lower-case part of
// its message, and the anchor sentinel it means.
type refusal struct {
	call  Call
	text  string
	means error
}

// refusals are the messages of go-ethereum (v1.17), Hyperledger Besu
// (RpcErrorType in ethereum/api/.../jsonrpc/internal/response) and ethers
// v5 (as EBSI's Timestamp API relays them), by call. The first that
// matches wins.
var refusals = []refusal{
	// go-ethereum core/txpool/errors.go ErrAlreadyKnown: "already known".
	{Send, "already known", anchor.ErrKnown},
	// Besu ETH_SEND_TX_ALREADY_KNOWN: "Known transaction".
	{Send, "known transaction", anchor.ErrKnown},
	// OpenEthereum: "Transaction with the same hash was already
	// imported."
	{Send, "already imported", anchor.ErrKnown},
	// go-ethereum core/error.go ErrNonceTooLow: "nonce too low: address …,
	// tx: 4 state: 5"; Besu NONCE_TOO_LOW: "Nonce too low".
	{Send, "nonce too low", anchor.ErrNonceUsed},
	// ethers v5 NONCE_EXPIRED: "nonce has already been used".
	{Send, "nonce has already been used", anchor.ErrNonceUsed},
	// go-ethereum ErrReplaceUnderpriced "replacement transaction
	// underpriced" and ErrUnderpriced "transaction underpriced"; Besu
	// ETH_SEND_TX_REPLACEMENT_UNDERPRICED "Replacement transaction
	// underpriced".
	{Send, "underpriced", anchor.ErrUnderpriced},
	// ethers v5 REPLACEMENT_UNDERPRICED: "replacement fee too low".
	{Send, "replacement fee too low", anchor.ErrUnderpriced},
	// go-ethereum core/error.go ErrFeeCapTooLow: "max fee per gas less
	// than block base fee: address …, maxFeePerGas: 1, baseFee: 7".
	{Send, "less than block base fee", anchor.ErrUnderpriced},
	// The same refusal in other words, as other nodes give it: "fee cap
	// less than block base fee".
	{Send, "fee cap less than", anchor.ErrUnderpriced},
	// go-ethereum core/txpool ErrTxGasPriceTooLow: "transaction gas price
	// below minimum: gas tip cap 1, minimum needed 2"; Besu
	// GAS_PRICE_TOO_LOW "Gas price below configured minimum gas price" and
	// GAS_PRICE_BELOW_CURRENT_BASE_FEE "Gas price below current base fee".
	{Send, "gas price below", anchor.ErrUnderpriced},
	// A tip below a node's minimum, as other nodes word it: "… tip too
	// low".
	{Send, "tip too low", anchor.ErrUnderpriced},

	// go-ethereum eth/api_backend.go before the first finalization:
	// "finalized block not found".
	{Finalized, "not found", anchor.ErrNotFound},
	// A node without the tag: go-ethereum before it knew it ("invalid
	// argument 0: hex string without 0x prefix"), Besu UNKNOWN_BLOCK
	// "Unknown block" and INVALID_BLOCK_NUMBER_PARAMS "Invalid block number
	// params", or a message naming the tag.
	{Finalized, "finalized", anchor.ErrNoFinalizedTag},
	{Finalized, "invalid", anchor.ErrNoFinalizedTag},
	{Finalized, "unknown block", anchor.ErrNoFinalizedTag},

	// go-ethereum internal/ethapi TxIndexingError, while it indexes after
	// a start: "transaction indexing is in progress". Not "not found": the
	// transaction may be there.
	{Lookup, "indexing is in progress", anchor.ErrNotIndexed},
}

// rpcError is a JSON-RPC error answer: go-ethereum's rpc.Error, which
// ebsi.RPCError implements too.
type rpcError interface {
	error
	ErrorCode() int
}

// Classify returns the anchor sentinel (ErrKnown, ErrNonceUsed,
// ErrUnderpriced; ErrNotFound, ErrNoFinalizedTag; ErrNotIndexed) that a
// node's refusal err of call means, or nil if err is not a JSON-RPC error
// answer or its message is none Classify knows. Only the node's JSON-RPC
// answer is read, never a transport error, whose text (an HTTP "404 Not
// Found", say) is not the node's word on the request.
func Classify(call Call, err error) error {
	var re rpcError
	if !errors.As(err, &re) {
		return nil
	}
	s := strings.ToLower(re.Error())
	for _, r := range refusals {
		if r.call == call && strings.Contains(s, r.text) {
			return r.means
		}
	}
	return nil
}

// ClassifySend wraps a node's refusal err of transaction h with the anchor
// sentinel Classify(Send, err) gives, keeping the node's words; an error
// it does not know is wrapped as it is. prefix names the backend.
func ClassifySend(prefix string, h common.Hash, err error) error {
	if s := Classify(Send, err); s != nil {
		return fmt.Errorf("%s: send %s: %w: %w", prefix, h, s, err)
	}
	return fmt.Errorf("%s: send %s: %w", prefix, h, err)
}

// BlockError wraps a node's refusal err of block ref. For the finalized
// tag it wraps anchor.ErrNotFound (no block finalized yet) or
// anchor.ErrNoFinalizedTag (the node does not know the tag) as
// Classify(Finalized, err) says, keeping the node's words. prefix names
// the backend.
func BlockError(prefix string, ref anchor.BlockRef, err error) error {
	if ref == anchor.Finalized {
		switch s := Classify(Finalized, err); s {
		case anchor.ErrNotFound:
			return fmt.Errorf("%s: block %s: %w: %w", prefix, ref, s, err)
		case anchor.ErrNoFinalizedTag:
			return fmt.Errorf("%s: %w: %w", prefix, s, err)
		}
	}
	return fmt.Errorf("%s: block %s: %w", prefix, ref, err)
}

// IsIndexing reports whether err is a node's "transaction indexing is in
// progress" answer (go-ethereum after a start or a new block): not "not
// found".
func IsIndexing(err error) bool { return Classify(Lookup, err) == anchor.ErrNotIndexed }

// ReceiptError wraps a node's refusal err of the receipt of h: while the
// node indexes, anchor.ErrNotFound and anchor.ErrNotIndexed, keeping the
// node's words. prefix names the backend.
func ReceiptError(prefix string, h anchor.Hash, err error) error {
	if IsIndexing(err) {
		return fmt.Errorf("%s: receipt of %s: %w: %w: %w", prefix, h, anchor.ErrNotFound, anchor.ErrNotIndexed, err)
	}
	return fmt.Errorf("%s: receipt of %s: %w", prefix, h, err)
}
