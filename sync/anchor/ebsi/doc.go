// Package ebsi anchors the event log's checkpoints on EBSI, the European
// Blockchain Services Infrastructure, through EBSI's own Timestamp smart
// contract and Timestamp API: an anchor.Backend for the anchoring loop of
// sync/anchor. firmware-docs/EBSI.md is the reference; this comment is its
// summary.
//
// An operator cannot deploy contracts on EBSI (only audited templates that
// EBSI's support office registers in its Trusted Contracts Registry), so
// the Waybill registry contract (sync/anchor/registry) does not run there.
// Instead each anchor timestamps one hash with the Timestamp contract's
// timestampHashes(uint256[] hashAlgorithmIds, bytes[] hashValues,
// bytes[] timestampData): the SHA-256 of the signed checkpoint note
// (NoteHash), under EBSI's id of sha2-256, with the note itself as the
// timestamp data (TimestampData, JSON as EBSI's API requires). The contract
// stores it under the timestamp id sha256(hashValue) (TimestampID), which
// the API names in multibase base64url form (FormatTimestampID). Nothing on
// chain checks the note's signatures or the log's consistency: detecting a
// rewritten history falls to the consumers of the feed, with consistency
// proofs, and to whoever compares timestamped checkpoints.
//
// # Transactions
//
// Build asks the Timestamp API's JSON-RPC (POST /timestamp/v4/jsonrpc,
// method timestampHashes) for the unsigned transaction, checks that it is
// exactly the call the device means (sender, contract, calldata byte for
// byte, no value, chain, gas bound), sets the loop's nonce and gas price
// (zero on EBSI), and signs it on the device with its secp256k1 key (an
// EIP-155 legacy transaction, the form the API builds). Send submits it
// with the API's sendSignedTransaction. Blocks, the pending nonce, the gas
// price and receipts come from EBSI's Ledger API, its JSON-RPC proxy of the
// Besu nodes' eth_* methods (POST /ledger/v4/blockchains/besu). Besu on
// QBFT has no finalized tag: the loop's finality rule there is anchor.QBFT,
// one block.
//
// # Access tokens
//
// The Timestamp API's JSON-RPC requires an access token with the scope
// "openid timestamp_write", which EBSI's Authorisation API issues, for two
// hours, to an entity that presents a verifiable presentation of its
// credentials. Obtaining it is outside this package: a TokenSource gives
// tokens (StaticToken, FileToken, or the operator's own). The backend holds
// one token, replaces it before it expires, and when the API refuses it
// (HTTP 401 or 403) gets a new one and tries once more; failing that, the
// call fails with ErrUnauthorized. Block(ctx, Latest), the loop's
// reachability probe, fails the same way while no usable token can be had,
// so the loop queues the checkpoint instead of anchoring it, and anchors it
// once a token works: an authorisation failure never drops a checkpoint.
//
// # Versions
//
// Options.APIVersion pins the Timestamp API's major version in the
// endpoint's path; EBSI warns that a new version is not backward
// compatible. sync/anchor/ebsi/ebsitest is a local stand-in of both APIs
// and of the contract (sync/anchor/ebsi/standin) on go-ethereum's simulated
// chain, for tests; what it does not exercise is listed in EBSI.md.
package ebsi
