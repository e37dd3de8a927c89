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
//	epoch-N/damaged-events.json
//	                     the events of epoch N whose bytes alone are damaged
//	                     (see Damage); a report, kept across restarts
//	damaged/             epochs moved aside after a failed open or check,
//	                     damaged manifests (manifest-<time>.json) and segment
//	                     files no manifest named (leftover-<time>-…)
//	salvaged/            read-only copies written by agent/eventlog/salvage
//	waybill.sock         the running daemon's local API (see agent/localapi)
//
// Every file other than the bbolt segments is written with atomicfile:
// temporary file, fsync, rename, directory fsync.
//
// The manifest is a table of contents, not the only record of the log's
// identity: every segment's meta bucket holds its origin
// (waybill/<fleet>/<device>/<epoch>), its first sequence number and, in
// segments written since they were added, the chain ID, device and fleet.
// Open checks the manifest against the segments on disk. A manifest that is
// missing, unparsable or disagrees with them (an epoch or a segment that
// does not exist, segments out of order or missing from it, another
// identity) is rebuilt from the segments: its bytes are kept under damaged/,
// the rebuild is logged at error level and reported by Log.Damage, and the
// log goes on in the same epoch. The chain ID of segments that do not record
// it is taken only from the caller (Options.Create) and only if a signature
// on disk (a checkpoint or an event) verifies with it; otherwise Open fails
// and says so, changing nothing. A reader rebuilds in memory and writes
// nothing. Open never creates a log in a directory holding any of its files
// (Exists), never replaces a segment file, and reports a directory it may
// not read as such (ErrUnreadable), never as empty.
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
// durable state. A checkpoint is stored when Checkpoint returns it: its
// note is written to a temporary file first (a full disk fails there,
// storing nothing), then committed to the active segment, then renamed
// over the epoch's checkpoint file.
//
// # Damage
//
// A segment file's bytes may not be what the log wrote (a failing SD card:
// a page zeroed, bits flipped, the file cut short). bbolt trusts its file,
// so the log checks what bbolt would trust before it maps a file, and
// turns what bbolt still panics or faults on into an error wrapping
// ErrDamaged (a *DamageError naming the file and, where known, the event).
// No damage panics, hangs or crashes the process, and no read leaves a
// transaction open for Close to wait on.
//
// Every segment opened is first read with bounds-checked reads: a valid
// meta page, and every branch page of every bucket well formed (type, id,
// elements within the page, keys in order, children below the high-water
// mark and reached once), so that bbolt can never loop. A writable Open
// checks the active segment in full (bounded by its size, at most
// Options.SegmentBytes): every leaf page too, the bucket headers, the file
// not shorter than its meta page says, and a freelist that frees no page
// in use. It then checks the active segment's last 4,096 events, and every
// one of it after the latest checkpoint, against their stored hashes and
// the nodes they complete, and the stored tree against the latest
// checkpoint's root. Damage found at Open moves the epoch aside (see
// Epochs), except the damage of an event's bytes alone, which is recorded
// (see below); a read-only Open reports it.
//
// Every read that leaves the process checks each event against its stored
// leaf hash (Leaf, Range, ProveInclusion), checks a proof of the current
// size against the root held in memory, and verifies a stored checkpoint's
// signature (CheckpointAt). An event that fails is never handed out: the
// read stops there with a *DamageError, each time it is read; the damage is
// logged once at error level, with the file, the event and the next step,
// and counted by Log.Damaged. Damage in sealed segments does not stop the
// log: appends and the intact events go on.
//
// Two kinds of damage are told apart. Damage of the history — stored
// hashes that do not give the root a checkpoint signed, a node that is not
// the hash of its children, a page bbolt cannot read — makes Checkpoint
// refuse to sign (ErrInconsistent, with ErrDamaged when a read failed) and
// raise the alarm until the log is reopened, and Open move the epoch
// aside when it is in the active segment. Damage of one event's bytes —
// bytes that do not hash to the event's stored leaf hash and are not the
// signed event either, while the stored hashes agree with the nodes above
// them and the signed checkpoints — is not: the tree the log signs is made
// of the stored hashes, so signing over it is safe. Such an event is
// treated like a pruned one whose holder supplies the bytes: never served,
// proven from a copy a feed consumer holds (InclusionProof; waybill log
// prove --leaf), and Checkpoint, Open and the scrub go on over its stored
// hash. It is recorded in the epoch's damaged-events.json, so that
// Log.Damaged reports it after a restart too; Prune refuses its segment,
// whose damaged bytes are evidence. A writer seals the active segment once
// damage is met in it (at Open, or before the next commit) and writes on
// in a new one: bbolt reuses free pages, and a free page of the damaged
// segment may hold the only intact copy of the event, which log salvage
// recovers. Bytes that are the signed event under a
// stored hash that is not their hash are damage of the history.
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
// starts a new epoch with a new origin, logs it at error level and reports
// it in Log.Epochs. So does a rebuild whose segments do not form one log (a
// segment missing, or one not starting where the previous one ends). A new
// epoch's number is above every epoch named in the manifest or on disk
// (epoch-N, damaged/epoch-N-*, salvaged/epoch-N), so no sequence number of
// an epoch is signed twice. `waybill log salvage` recovers what the damaged
// files still prove, with or without a manifest; `waybill log check`
// re-verifies a log completely.
//
// # Tools
//
// Two tools read a log's files without opening it, each in a package of
// its own: agent/eventlog/logcheck re-verifies a log completely, and
// agent/eventlog/salvage recovers what a damaged epoch still proves. They
// read the files through a small surface of this package: ReadManifest,
// ReadLock, CheckSegmentPages and OpenSegmentFile (a segment read-only,
// whose buckets SegmentFile describes), Identity.VerifyLeaf,
// RecoverIdentityOf, and WriteSalvaged, which writes the read-only copy.
// The bbolt page check that every open of a segment runs first, and the
// raw page scan salvage uses, are agent/eventlog/boltpage.
package eventlog
