// Package ledger reads the anchors that devices (or their relayers) made on
// a ledger and turns them into watch.Anchor values for the feed watcher:
// the Anchored events of the Waybill registry contract (CONTRACT.md) on any
// EVM chain, and the TimestampedHashes records of EBSI's Timestamp contract
// (EBSI.md), both read over JSON-RPC (eth_getLogs). firmware-docs/
// ANCHORING.md §9 is the reference; this comment is its summary.
//
// # Reading
//
// A Reader scans the contract's logs from a Cursor, the first block whose
// anchors it has not yet read as final, in ranges of at most
// Config.MaxRange blocks (providers cap eth_getLogs ranges; a node that
// refuses a range as too wide or its answer as too large is asked again
// for half of it). Only the allowlisted devices' anchors are reported:
// the registry's event indexes the device, and the query asks for theirs
// only; EBSI's does not, and each record's checkpoint note is opened and
// its signature checked against the allowlist instead.
//
// # Finality
//
// Each anchor is reported with its confirmations (the head minus its block,
// plus one) and Final by the chain's anchor.Finality, the rule the
// anchoring loop uses: QBFT (the block exists), FinalizedTag (the node's
// "finalized" block has reached it) or Confirmations(K). The cursor moves
// only past final blocks, so every poll reads the unfinalised window again:
// an anchor seen in a block that a reorganisation removes is never reported
// Final, and is reported again, once final, from the block that holds it
// at last. Before anchors are reported Final, the newest final block of
// each answer of the node that holds one is checked by hash against the
// node's canonical chain (a block's hash commits to its ancestors, so one
// lookup an answer suffices). The cursor keeps
// the hash of the last block read as final; a chain that no longer holds
// it was reorganised deeper than its finality rule allows, and Poll fails
// with ErrReorgBeyondFinality rather than go on.
//
// Poll reports anchors that are not final yet again on every poll until
// they are (or vanish); Run hands each over once per block it is seen in,
// and again once final. A consumer merges readings by anchor key, as
// watch.Anchor.Merge does.
//
// # Failures
//
// Poll does one bounded step and returns an error, never a partial result,
// when the node is down or answers wrongly; Run polls until its context
// ends, retrying with jittered exponential backoff, and hands each batch of
// anchors, with the cursor to persist after it, to the caller's function.
package ledger
