package evmtx

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/sync/anchor"
)

// nodeError is a JSON-RPC error answer as go-ethereum's rpc client returns
// it (an rpc.Error).
type nodeError struct {
	code int
	msg  string
}

func (e *nodeError) Error() string  { return e.msg }
func (e *nodeError) ErrorCode() int { return e.code }

var _ rpc.Error = (*nodeError)(nil)

// TestClassify: the messages the nodes send, each as the node words it.
func TestClassify(t *testing.T) {
	tests := []struct {
		node string
		call Call
		code int
		msg  string
		want error
	}{
		// go-ethereum v1.17: core/txpool/errors.go, core/error.go,
		// core/txpool/validation.go, eth/api_backend.go,
		// internal/ethapi/errors.go.
		{"geth", Send, -32000, "already known", anchor.ErrKnown},
		{"geth", Send, -32000, "nonce too low: address 0x71562b71999873DB5b286dF957af199Ec94617F7, tx: 4 state: 5", anchor.ErrNonceUsed},
		{"geth", Send, -32000, "replacement transaction underpriced", anchor.ErrUnderpriced},
		{"geth", Send, -32000, "transaction underpriced", anchor.ErrUnderpriced},
		{"geth", Send, -32000, "max fee per gas less than block base fee: address 0x71562b71999873DB5b286dF957af199Ec94617F7, maxFeePerGas: 1, baseFee: 7", anchor.ErrUnderpriced},
		{"geth", Send, -32000, "transaction gas price below minimum: gas tip cap 1, minimum needed 2", anchor.ErrUnderpriced},
		{"geth", Send, -32000, "insufficient funds for gas * price + value: address 0x71562b71999873DB5b286dF957af199Ec94617F7 have 0 want 21000", nil},
		{"geth", Send, -32000, "exceeds block gas limit", nil},
		{"geth", Finalized, -32000, "finalized block not found", anchor.ErrNotFound},
		{"geth before the tag", Finalized, -32602, "invalid argument 0: hex string without 0x prefix", anchor.ErrNoFinalizedTag},
		{"geth", Lookup, -32000, "transaction indexing is in progress", anchor.ErrNotIndexed},
		{"geth", Lookup, -32000, "not found", nil},
		// Hyperledger Besu: RpcErrorType.
		{"besu", Send, -32000, "Known transaction", anchor.ErrKnown},
		{"besu", Send, -32001, "Nonce too low", anchor.ErrNonceUsed},
		{"besu", Send, -32000, "Replacement transaction underpriced", anchor.ErrUnderpriced},
		{"besu", Send, -32009, "Gas price below configured minimum gas price", anchor.ErrUnderpriced},
		{"besu", Send, -32009, "Gas price below current base fee", anchor.ErrUnderpriced},
		{"besu", Send, -32004, "Upfront cost exceeds account balance", nil},
		{"besu", Send, -32006, "Nonce too high", nil},
		{"besu", Finalized, -39001, "Unknown block", anchor.ErrNoFinalizedTag},
		{"besu", Finalized, -32602, "Invalid block number params", anchor.ErrNoFinalizedTag},
		// ethers v5's reasons, as EBSI's Timestamp API relays them.
		{"ebsi", Send, -32600, "nonce has already been used", anchor.ErrNonceUsed},
		{"ebsi", Send, -32600, "replacement fee too low", anchor.ErrUnderpriced},
		{"ebsi", Send, -32600, "insufficient funds for intrinsic transaction cost", nil},
		// Other clients.
		{"openethereum", Send, -32010, "Transaction with the same hash was already imported.", anchor.ErrKnown},
		// A message of one call means nothing for another.
		{"geth", Send, -32000, "transaction indexing is in progress", nil},
		{"geth", Lookup, -32000, "already known", nil},
		{"geth", Finalized, -32000, "nonce too low", nil},
	}
	for _, tt := range tests {
		err := fmt.Errorf("call: %w", &nodeError{tt.code, tt.msg})
		if got := Classify(tt.call, err); got != tt.want {
			t.Errorf("%s: Classify(%d, %q) = %v, want %v", tt.node, tt.call, tt.msg, got, tt.want)
		}
	}
}

// TestClassify_Transport: the text of an error that is not the node's
// JSON-RPC answer is not classified, whatever it says.
func TestClassify_Transport(t *testing.T) {
	for _, err := range []error{
		rpc.HTTPError{StatusCode: 404, Status: "404 Not Found", Body: []byte("finalized block not found")},
		errors.New("dial tcp 127.0.0.1:8545: connect: connection refused"),
		errors.New("already known"),
		nil,
	} {
		for _, c := range []Call{Send, Finalized, Lookup} {
			if got := Classify(c, err); got != nil {
				t.Errorf("Classify(%d, %v) = %v, want nil", c, err, got)
			}
		}
	}
}

// TestWrap: the wrappers keep the node's words and wrap the sentinel.
func TestWrap(t *testing.T) {
	h := common.HexToHash("0x01")
	tests := []struct {
		err  error
		want []error
		not  []error
	}{
		{ClassifySend("evmtx", h, &nodeError{-32000, "already known"}), []error{anchor.ErrKnown}, []error{anchor.ErrNonceUsed}},
		{ClassifySend("ebsi", h, &nodeError{-32600, "exceeds block gas limit"}), nil, []error{anchor.ErrKnown, anchor.ErrNonceUsed, anchor.ErrUnderpriced}},
		{BlockError("evmtx", anchor.Finalized, &nodeError{-32000, "finalized block not found"}), []error{anchor.ErrNotFound}, []error{anchor.ErrNoFinalizedTag}},
		{BlockError("evmtx", anchor.Finalized, &nodeError{-39001, "Unknown block"}), []error{anchor.ErrNoFinalizedTag}, []error{anchor.ErrNotFound}},
		{BlockError("evmtx", anchor.Latest, &nodeError{-32000, "finalized block not found"}), nil, []error{anchor.ErrNotFound, anchor.ErrNoFinalizedTag}},
		{ReceiptError("ebsi", anchor.Hash(h), &nodeError{-32000, "transaction indexing is in progress"}), []error{anchor.ErrNotFound, anchor.ErrNotIndexed}, nil},
		{ReceiptError("ebsi", anchor.Hash(h), &nodeError{-32000, "header not found"}), nil, []error{anchor.ErrNotFound, anchor.ErrNotIndexed}},
	}
	for _, tt := range tests {
		var ne *nodeError
		if !errors.As(tt.err, &ne) || !strings.Contains(tt.err.Error(), ne.msg) {
			t.Errorf("%v: lost the node's error", tt.err)
		}
		for _, s := range tt.want {
			if !errors.Is(tt.err, s) {
				t.Errorf("%v: does not wrap %v", tt.err, s)
			}
		}
		for _, s := range tt.not {
			if errors.Is(tt.err, s) {
				t.Errorf("%v: wraps %v", tt.err, s)
			}
		}
	}
}
