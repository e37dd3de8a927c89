package evmtx

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

// rpcClient is a Client that also makes raw JSON-RPC calls, such as
// go-ethereum's ethclient.Client.
type rpcClient interface {
	Client() *rpc.Client
}

// NodeBlock is a block as the node reports it.
type NodeBlock struct {
	Number uint64
	Hash   common.Hash // the hash the node reports
	Time   uint64
}

// BlockByNumber returns block num (nil: the latest; or a negative tag
// such as rpc.FinalizedBlockNumber) with the hash the node reports for it.
// That hash is what receipts and logs name. It is not always the hash
// go-ethereum computes from the header's fields: a Besu QBFT or IBFT 2.0
// chain (EBSI's) hashes a block without the commit seals of its extra
// data, so a hash recomputed from the full header names no block of that
// chain. The node's own hash is read whenever c makes raw calls (ethclient
// does); otherwise, as for go-ethereum's simulated backend, it is the
// header's hash, which is then the node's. The error wraps
// ethereum.NotFound when the node has no such block.
func BlockByNumber(ctx context.Context, c Client, num *big.Int) (NodeBlock, error) {
	if rc, ok := c.(rpcClient); ok && rc.Client() != nil {
		var raw json.RawMessage
		if err := rc.Client().CallContext(ctx, &raw, "eth_getBlockByNumber", blockArg(num), false); err != nil {
			return NodeBlock{}, err
		}
		if len(raw) == 0 || string(raw) == "null" {
			return NodeBlock{}, ethereum.NotFound
		}
		var b struct {
			Number    *hexutil.Big    `json:"number"`
			Hash      *common.Hash    `json:"hash"`
			Timestamp *hexutil.Uint64 `json:"timestamp"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return NodeBlock{}, fmt.Errorf("eth_getBlockByNumber: %w", err)
		}
		if b.Number == nil || b.Hash == nil || b.Timestamp == nil || !(*big.Int)(b.Number).IsUint64() {
			return NodeBlock{}, fmt.Errorf("eth_getBlockByNumber: the answer lacks the block's number, hash or timestamp: %.200s", raw)
		}
		return NodeBlock{Number: (*big.Int)(b.Number).Uint64(), Hash: *b.Hash, Time: uint64(*b.Timestamp)}, nil
	}
	h, err := c.HeaderByNumber(ctx, num)
	if err != nil {
		return NodeBlock{}, err
	}
	if h == nil {
		return NodeBlock{}, ethereum.NotFound
	}
	return NodeBlock{Number: h.Number.Uint64(), Hash: h.Hash(), Time: h.Time}, nil
}

// blockArg is num as eth_getBlockByNumber takes it.
func blockArg(num *big.Int) string {
	switch {
	case num == nil:
		return "latest"
	case num.Sign() >= 0:
		return hexutil.EncodeBig(num)
	}
	return rpc.BlockNumber(num.Int64()).String()
}
