package evmtx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// VerifyEvidence checks an anchor's evidence offline, with no node: the
// generic checks of anchor.Evidence.Check; the raw transaction decodes, is
// in its one canonical encoding, hashes to TxHash and is signed for the chain
// Ledger names ("eip155:<chain id>"); the receipt is that transaction's, in
// BlockNumber and BlockHash, with status 1; and, if p is not nil, the
// transaction's destination and data are exactly what p makes for the
// evidence's checkpoint. Evidence of version 2 also names its payload and
// destination: the transaction must go to its "to", p (if it names itself,
// see Named) must be the payload it names, and for the plain note payload
// the data must be the note even when p is nil. It returns the
// transaction's sender.
//
// Evidence shows what the ledger said when the anchor was confirmed; that
// BlockHash is still in the canonical chain is a question for the chain (a
// node, or any source of its block hashes).
func VerifyEvidence(ctx context.Context, e *anchor.Evidence, p Payload) (common.Address, error) {
	var zero common.Address
	if err := e.Check(); err != nil {
		return zero, err
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(e.RawTx); err != nil {
		return zero, fmt.Errorf("evidence: raw_tx: %w", err)
	}
	if again, err := tx.MarshalBinary(); err != nil || !bytes.Equal(again, e.RawTx) {
		return zero, fmt.Errorf("evidence: raw_tx is not in canonical encoding")
	}
	if anchor.Hash(tx.Hash()) != e.TxHash {
		return zero, fmt.Errorf("evidence: raw_tx hashes to %s, tx_hash is %s", tx.Hash(), e.TxHash)
	}
	if !tx.Protected() || tx.ChainId().Sign() <= 0 {
		return zero, fmt.Errorf("evidence: raw_tx is not bound to a chain (no EIP-155 chain id)")
	}
	if want := "eip155:" + tx.ChainId().String(); e.Ledger != want {
		return zero, fmt.Errorf("evidence: ledger is %q, the transaction is for %q", e.Ledger, want)
	}
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), &tx)
	if err != nil {
		return zero, fmt.Errorf("evidence: raw_tx signature: %w", err)
	}
	var r types.Receipt
	if err := json.Unmarshal(e.Receipt, &r); err != nil {
		return zero, fmt.Errorf("evidence: receipt: %w", err)
	}
	switch {
	case anchor.Hash(r.TxHash) != e.TxHash:
		return zero, fmt.Errorf("evidence: receipt is for transaction %s, not %s", r.TxHash, e.TxHash)
	case anchor.Hash(r.BlockHash) != e.BlockHash:
		return zero, fmt.Errorf("evidence: receipt names block %s, not %s", r.BlockHash, e.BlockHash)
	case r.BlockNumber == nil || !r.BlockNumber.IsUint64() || r.BlockNumber.Uint64() != e.BlockNumber:
		return zero, fmt.Errorf("evidence: receipt names block number %v, not %d", r.BlockNumber, e.BlockNumber)
	case r.Status != types.ReceiptStatusSuccessful:
		return zero, fmt.Errorf("evidence: receipt status %d: the transaction failed", r.Status)
	}
	if e.Version >= 2 {
		if tx.To() == nil || strings.ToLower(tx.To().Hex()) != e.To {
			return zero, fmt.Errorf("evidence: the transaction goes to %v, the evidence says %s", tx.To(), e.To)
		}
		if n, ok := p.(Named); ok && n.PayloadName() != e.Payload {
			return zero, fmt.Errorf("evidence: payload is %q, the verifier expects %q", e.Payload, n.PayloadName())
		}
		if p == nil && e.Payload == anchor.PayloadNote && !bytes.Equal(tx.Data(), e.Note) {
			return zero, fmt.Errorf("evidence: payload %q, but the transaction data is not the note", e.Payload)
		}
	}
	if p != nil {
		req := anchor.Request{
			Note:        e.Note,
			Checkpoint:  checkpoint.Checkpoint{Origin: e.Origin, Size: e.Size, Root: e.Root},
			Consistency: e.Consistency,
		}
		if e.PrevSize > 0 {
			req.Prev = &checkpoint.Checkpoint{Origin: e.Origin, Size: e.PrevSize, Root: e.PrevRoot}
		}
		to, data, err := p.Calldata(ctx, req)
		if err != nil {
			return zero, fmt.Errorf("evidence: payload: %w", err)
		}
		if tx.To() == nil || *tx.To() != to {
			return zero, fmt.Errorf("evidence: transaction goes to %v, the payload to %s", tx.To(), to)
		}
		if !bytes.Equal(tx.Data(), data) {
			return zero, fmt.Errorf("evidence: transaction data is not the payload of this checkpoint")
		}
	}
	return from, nil
}
