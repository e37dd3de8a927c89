// Package verify checks Waybill proofs offline: no storage, no network.
//
// A [Bundle] is the self-contained inclusion proof that `waybill log prove`
// prints: one signed event, its leaf bytes, the EIP-712 domain it was signed
// in, the device's signed checkpoint note and the RFC 9162 inclusion proof
// that ties the leaf to the checkpoint's root. [Bundle.Verify] checks all of
// it against nothing but the bundle itself (and, optionally, pins and extra
// note verifier keys given in [Options]).
//
// A [Consistency] is the RFC 9162 consistency proof that `waybill log
// consistency` prints; [Consistency.VerifyBetween] pairs it with the two
// signed checkpoints it connects, by size and by root (a proof alone binds
// neither). [Bundle.TlogProof] writes a bundle's proof in the
// c2sp.org/tlog-proof text form, and [VerifyNote] checks a signed checkpoint
// note on its own.
//
// Every format here has exactly one accepted byte form on output: [Bundle]
// and [Consistency] marshal to their RFC 8785 (JCS) canonical JSON, so their
// members appear in sorted order. Parsing is strict (see [ParseBundle]):
// only white space between tokens and member order are free
// ([CheckSpelling]). The formats and the verification algorithm are
// specified in firmware-docs/PROTOCOL.md §7–§9, with the rule vectors of
// firmware-docs/testdata/rules/rules.json.
//
// Every error this package returns is one line of text naming the first
// thing found wrong; errors from parsing wrap [ErrMalformed] and errors from
// verification wrap [ErrInvalid].
//
// This package must not depend on the event log's storage (bbolt), on MQTT
// or on any Ethereum RPC client; TestDeps enforces that.
package verify
