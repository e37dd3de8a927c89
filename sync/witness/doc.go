// Package witness is the watcher's witness: it holds an Ed25519 witness key
// and cosigns device checkpoints as c2sp.org/tlog-cosignature (v1) lines, and
// it verifies such cosignatures.
//
// A Waybill device signs a checkpoint of its event log as a
// c2sp.org/signed-note (firmware-docs/PROTOCOL.md §7; package
// agent/checkpoint). A witness adds one more signature line to that note,
// keeping the device's lines as they are:
//
//	— <witness name> base64(key ID || timestamp || Ed25519 signature)
//
// The key ID is SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4],
// read big-endian; the timestamp is 8 bytes, big-endian, in seconds since
// the Unix epoch; and the signature is made over the cosigned message
//
//	cosignature/v1
//	time <timestamp in decimal>
//	<the note text: every line before the blank line, with its newline>
//
// firmware-docs/WITNESS.md specifies the format, the key texts and a test
// vector.
//
// # What a cosignature says
//
// A cosignature/v1 by a witness states that, as of its time, the checkpoint
// is the largest tree head consistent with everything the witness has seen
// of the checkpoint's origin. This package makes and checks the signature;
// it does not and cannot establish that statement. Before it calls
// [Key.Cosign], the caller (the watcher) must have verified the device's
// signatures on the note, recomputed the root from the leaves it holds, and
// checked that the checkpoint is consistent with every earlier checkpoint of
// the same origin; it must never cosign two checkpoints of one origin that
// are not consistent. [Key.Cosign] checks only that the note is a
// well-formed checkpoint.
//
// # Notes this package reads
//
// Notes are read as agent/checkpoint reads them: at most
// [checkpoint.MaxNoteSize] bytes, valid UTF-8, no control character but
// newline, canonical base64, at most 100 signature lines, and a (key name,
// key ID) pair at most once. The text must be a checkpoint
// (c2sp.org/tlog-checkpoint) with no extension lines, as Waybill devices
// write them.
//
// # Keys
//
// A witness key is written as the signed-note private key text
//
//	PRIVATE+KEY+<name>+<key ID, 8 lowercase hex digits>+<base64(0x04 || 32-byte Ed25519 seed)>
//
// and its verifier key as
//
//	<name>+<key ID, 8 lowercase hex digits>+<base64(0x04 || 32-byte Ed25519 public key)>
//
// the forms golang.org/x/mod/sumdb/note uses, with the cosignature type
// 0x04 instead of the note signature type 0x01. A witness key is never a
// device's note key: the two types have different key IDs, and this package
// refuses a type 0x01 key.
package witness
