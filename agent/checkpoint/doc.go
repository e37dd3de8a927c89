// Package checkpoint reads and writes transparency-log checkpoints: the
// c2sp.org/tlog-checkpoint note text, wrapped in a c2sp.org/signed-note.
//
// A Waybill device signs a checkpoint of its Merkle event log. On the wire it
// looks like this (the golden test vector in testdata; the signature line
// starts with an em dash, U+2014):
//
//	waybill/demo/0x0000000000000000000000000000000000000001/0
//	5
//	SJA71zF7lvJ34SXCNItkLILV3Q3NUaD47uPMvNkuX2Q=
//
//	— waybill/demo/0x0000000000000000000000000000000000000001
//	  921hTDuSvvZCdcEo/9pr8Uv/23H+XSzcXlCXfUYWvOL5R154HHE2dw6yrtMFNVLuMyRHbe3QWKAIOaTIZUDeOmcN/w0=
//
// (the signature line is wrapped here; on the wire it is one line).
//
// # Checkpoint text (c2sp.org/tlog-checkpoint)
//
// The note text is at least three non-empty lines, each ending in a newline:
// the origin (a unique log identity), the tree size (ASCII decimal, no
// leading zeros except the tree size "0"), and the root hash (standard base64
// of the 32-byte RFC 6962 Merkle root). Any further lines are extension lines,
// opaque and non-empty. This package never writes extension lines but parses
// and keeps them so that a checkpoint re-formats to the exact bytes it was
// parsed from. [ParseCheckpoint] is strict: every accepted text is exactly
// [Checkpoint.Format] of the result.
//
// # Signed note (c2sp.org/signed-note)
//
// A signed note is the note text (ending in a newline), a blank line, and one
// or more signature lines
//
//	— <key name> <base64(4-byte big-endian key ID || signature)>
//
// The whole note is valid UTF-8 with no control characters (Unicode category
// Cc: U+0000–U+001F, U+007F and U+0080–U+009F) other than newline. The text is
// separated from the signatures by the last blank line, so the text may itself
// contain blank lines. Key names are non-empty and contain no "+", no white
// space (unicode.IsSpace) and no control character.
//
// Verification follows the spec: a signature is identified by its (key name,
// key ID) pair. Signatures from unknown pairs are ignored (returned in
// [Note.Unverified]); a signature from a known pair must verify or the whole
// note is rejected with [*InvalidSignatureError]; a note with no verified
// signature is rejected with [*UnverifiedNoteError]. At most 100 signature
// lines are accepted (the spec requires at least 16).
//
// This package is deliberately stricter than the spec in a few places, so that
// every accepted note has exactly one encoding: base64 must be canonical
// (padding bits zero; re-encoding gives the input back), separators are single
// spaces, and a (key name, key ID) pair may appear at most once in a note. See
// [Open] for why repeated keys are rejected.
//
// # Keys
//
// The key ID is SHA-256(key name || 0x0A || signature type || public key)[:4],
// read big-endian (see [KeyID]). Type 0x01 is Ed25519 over the note text;
// other types (for example 0xff, reserved for types without an assigned byte)
// can be plugged in through the [Signer] and [Verifier] interfaces. A verifier
// key is written as "<name>+<8 lowercase hex digits of key ID>+<base64(0x01 ||
// 32-byte public key)>", the same text form golang.org/x/mod/sumdb/note uses.
package checkpoint
