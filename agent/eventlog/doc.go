// Package eventlog is Waybill's durable, append-only event log: signed events
// in bbolt files, structured as an RFC 9162 Merkle tree whose stored hashes
// make proofs and start-up cost O(log n) reads.
//
// # Files
//
// A log is a directory:
//
//	LOCK                 flock'ed by the process that has the log open; names it
//	manifest.json        identity, current epoch, epoch history, segment list
//	epoch-N/checkpoint   the latest checkpoint signed in epoch N (a signed note)
//	epoch-N/seg-K.db     bbolt segment files of epoch N (seg-K.pruned.db once pruned)
//	damaged/             epochs moved aside after a failed open or check
//	waybill.sock         the running daemon's local API (see agent/localapi)
//
// Every file other than the bbolt segments is written with atomicfile:
// temporary file, fsync, rename, directory fsync.
//
// # Segments
//
// bbolt maps its whole file and never shrinks it, and a 32-bit ARM process can
// map at most 2 GiB. A segment therefore holds events only until its file
// reaches Options.SegmentBytes (256 MiB by default); the next append starts a
// new segment. Each segment stores, for every leaf i it holds, the leaf bytes
// and the hashes of the complete Merkle nodes that leaf completes (levels 0 to
// the number of trailing one bits of i). Nodes at level TopLevel and above
// cover more than one segment's worth of leaves; every new segment carries a
// copy of all of them, so the writer keeps them in memory after reading them
// from the active segment at open. Only the active segment stays mapped;
// sealed segments are opened read-only on demand, a few at a time.
//
// # Crash model
//
// Append returns a sequence number only after the bbolt transaction holding
// the event has committed, which fdatasyncs the data pages and then the meta
// page. Concurrent appends share a transaction (group commit). A crash before
// the commit's meta page is durable leaves the previous state, as bbolt has
// no recovery step: the event was never acknowledged. A failed commit (full
// disk, I/O error) returns its error to every append in the batch and leaves
// the in-memory tree as it was, so later appends continue from the last
// durable state.
//
// # Pruning
//
// Prune removes the leaves of sealed segments, oldest first, and keeps their
// stored hashes, top nodes and checkpoints: roots and proofs need nothing
// else, and an inclusion proof for a pruned event is made from the event
// its holder kept (InclusionProof). A pruned segment is a new file,
// seg-K.pruned.db, that the manifest names instead of seg-K.db (see Prune
// for the crash-safe order of the steps). Retention (agent/retention)
// decides what may be pruned; firmware-docs/RETENTION.md describes it.
//
// # Epochs
//
// A segment that fails to open, or a log whose stored state disagrees with
// itself or with its latest signed checkpoint, is never deleted and never
// retried in a loop: Open moves the epoch's directory aside under damaged/,
// starts epoch N+1 with a new origin, logs it at error level and reports it
// in Log.Epochs. `waybill log salvage` recovers what the damaged files still
// prove; `waybill log check` re-verifies a log completely.
package eventlog
