package registry

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// Errors of CheckAnchored, for errors.Is.
var (
	// ErrNotAnchored: the registry holds no root for that size of the log.
	ErrNotAnchored = errors.New("not anchored")
	// ErrRootDiffers: the registry holds another root for that size: the
	// device signed two histories.
	ErrRootDiffers = errors.New("the anchored root differs")
	// ErrTooFewConfirmations: anchored, but not deep enough yet.
	ErrTooFewConfirmations = errors.New("too few confirmations")
)

// anchoredTopic is the Anchored event's signature hash.
var anchoredTopic = crypto.Keccak256Hash([]byte("Anchored(address,bytes32,uint64,bytes32,uint64,string)"))

// Ledger is what CheckAnchored needs of a node: *ethclient.Client has it.
type Ledger interface {
	CallContract(ctx context.Context, call ethereum.CallMsg, block *big.Int) ([]byte, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
	BlockNumber(ctx context.Context) (uint64, error)
}

// Anchoring is where a checkpoint was anchored.
type Anchoring struct {
	Block         uint64
	BlockHash     common.Hash
	TxHash        common.Hash
	Confirmations uint64 // blocks from the anchoring block to the head, both counted
}

// CheckAnchored checks on the ledger that the registry at contract holds
// root for the log origin at size, in a block with at least minConf
// confirmations.
func CheckAnchored(ctx context.Context, l Ledger, contract common.Address, origin string, size uint64, root [32]byte, minConf uint64) (Anchoring, error) {
	var a Anchoring
	reg := NewWaybillRegistry()
	logID := crypto.Keccak256Hash([]byte(origin))
	out, err := l.CallContract(ctx, ethereum.CallMsg{To: &contract, Data: reg.PackRootAt(logID, size)}, nil)
	if err != nil {
		return a, fmt.Errorf("registry %s: rootAt: %w", contract.Hex(), err)
	}
	got, err := reg.UnpackRootAt(out)
	if err != nil {
		return a, fmt.Errorf("registry %s: rootAt: %w (is it the Waybill registry?)", contract.Hex(), err)
	}
	switch {
	case got == [32]byte{}:
		return a, fmt.Errorf("%w: the registry at %s holds no root for %s at size %d", ErrNotAnchored, contract.Hex(), origin, size)
	case got != root:
		return a, fmt.Errorf("%w: the registry at %s holds root %x for %s at size %d, not %x", ErrRootDiffers, contract.Hex(), got, origin, size, root)
	}
	var sizeTopic common.Hash
	new(big.Int).SetUint64(size).FillBytes(sizeTopic[:])
	logs, err := l.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{contract},
		Topics: [][]common.Hash{{anchoredTopic}, nil, {logID}, {sizeTopic}}})
	if err != nil {
		return a, fmt.Errorf("registry %s: Anchored logs: %w", contract.Hex(), err)
	}
	for _, lg := range logs {
		if lg.Removed {
			continue
		}
		ev, err := reg.UnpackAnchoredEvent(&lg)
		if err != nil || ev.Root != root {
			continue
		}
		a = Anchoring{Block: lg.BlockNumber, BlockHash: lg.BlockHash, TxHash: lg.TxHash}
		break
	}
	if a.Block == 0 {
		return a, fmt.Errorf("%w: the registry holds the root but no Anchored event was found for %s at size %d", ErrNotAnchored, origin, size)
	}
	head, err := l.BlockNumber(ctx)
	if err != nil {
		return a, err
	}
	if head >= a.Block {
		a.Confirmations = head - a.Block + 1
	}
	if a.Confirmations < minConf {
		return a, fmt.Errorf("%w: anchored in block %d with %d confirmations, fewer than %d", ErrTooFewConfirmations, a.Block, a.Confirmations, minConf)
	}
	return a, nil
}
