// Package anchor anchors the event log's Merkle root to a ledger: it decides
// when to anchor (the policy) and carries each anchor's transaction from
// signing to finality (the lifecycle), durably, behind a small Backend
// interface that an EVM chain (sync/anchor/evmtx) or EBSI's Timestamp API
// implements. firmware-docs/ANCHORING.md is the reference; this comment is
// its summary.
//
// # Policy
//
// The loop anchors the log's newest checkpoint once Options.Every events are
// not anchored yet, or once Options.Interval has passed since the last anchor
// and at least one event is not, whichever comes first, and only when the
// ledger answers. One transaction covers every event since the last anchor:
// only the newest checkpoint is anchored, with the consistency proof from the
// previous anchored one. When the log's latest checkpoint is older than its
// events, the loop asks Options.Checkpoint (the daemon's) for a fresh one.
// While the ledger is unreachable the newest checkpoint is queued (Queued);
// the log keeps every event, so days offline lose nothing and end in one
// anchor.
//
// # Lifecycle
//
// At most one anchor is in flight. Its states (State) are signed → sent →
// mined → confirmed (or failed, for a transaction that was included and
// reverted). One loop owns the sending account's nonce: it is stored, and
// before each new anchor reconciled with the node's pending nonce. A
// transaction without a receipt after Options.StuckAfter is replaced with the
// same nonce and both tip and fee cap raised by at least PriceBump percent
// (go-ethereum's and Besu's replacement rule), up to Options.FeeCeiling; at
// the ceiling it is rebroadcast. A mined anchor is final by the chain's
// Finality rule: QBFT (the including block exists: Besu on EBSI, which has no
// safe or finalized tag), FinalizedTag (the node's "finalized" block has
// reached it: proof-of-stake chains), or Confirmations(K). On every step
// until then, and once more at finality, the block at the receipt's number
// must still have the receipt's hash; if it does not, the loop takes the
// transaction's new inclusion, or sends the same signed transaction again
// when the reorg dropped it (signing anew, with a new nonce, only if another
// transaction took the nonce).
//
// # Crash model
//
// The store is a bbolt file of its own (Open's path, DIR/anchor.db beside the
// log); every state change is one bbolt transaction, committed (fdatasync)
// before the next call to the ledger. The signed transaction is committed
// before it is first sent, together with the advanced nonce: a crash between
// signing and sending resends the very same bytes (same hash) on the next
// start, so there is never a nonce gap nor a second anchor for one
// checkpoint. A crash before that commit leaves no trace, and the next
// start signs again with the same nonce.
//
// # Evidence
//
// Every anchor stays in the store. A confirmed one holds the full evidence
// (Anchor.Evidence): the checkpoint and its signed note, the consistency
// proof from the previous anchor, the raw signed transaction, its hash, the
// block number and hash, and the ledger's receipt, so that a proof bundle
// remains verifiable against the anchor when every remote service is gone.
// Status and Anchors report them; ReadStore reads them without a ledger.
package anchor
