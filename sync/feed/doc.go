// Package feed publishes a device's signed log over MQTT, in sequence
// order, with store-and-forward from the log itself: the bbolt event log is
// the store, and a persisted cursor says how much of it the broker has
// acknowledged. Devices are offline for minutes to weeks; nothing is lost
// meanwhile, because nothing leaves the log until the broker has it.
//
// The byte formats and topics are specified in firmware-docs/FEED.md, with
// test vectors in firmware-docs/testdata/feed that TestVectors regenerates
// and compares byte for byte.
//
// # Topics and messages
//
// Under waybill/v1/{fleet}/{device}/, with the device address as 0x and 40
// lowercase hex digits:
//
//	events       one message per event, QoS 1, in sequence order:
//	             {"leaf":"<base64 leaf bytes>","origin":"waybill/<fleet>/<device>/<epoch>","seq":N,"v":1}
//	checkpoints  retained, QoS 1: the latest signed checkpoint note, verbatim
//	status       retained, QoS 1: "online" once connected; "offline" as the
//	             last will and before a clean disconnect
//	anchors      reserved for anchoring records; nothing is published yet
//
// An event message carries the exact leaf bytes, so a consumer verifies
// each message alone with the protocol (firmware-docs/PROTOCOL.md):
// ParseMessage checks the form and parses the leaf (agent/event), Verify
// checks the device, the origin and the EIP-712 signature (agent/signer),
// and Message.LeafHash is the RFC 9162 leaf hash that inclusion proofs
// against the retained checkpoint start from. Consumers deduplicate by
// (origin, seq).
//
// # Delivery
//
// "Delivered" means the broker's PUBACK for that exact message: QoS 1, and
// every token is awaited with a timeout, in publication order. Paho
// completes tokens on some connection losses without an error, and other
// exporters have counted such messages as sent while the broker was down;
// here a token counts only if it completed without error while the
// connection it was published on is still up. Each connection is a fresh
// paho client with paho's reconnection off, so no token of an earlier
// connection can complete in a later one.
//
// The cursor is the first sequence number not yet acknowledged. It moves
// only past acknowledged events, in order, and is written (at most every
// Options.CursorInterval, with agent/atomicfile: temporary file, fsync,
// rename, directory fsync) to Options.CursorFile as one line of canonical
// JSON: {"next":N,"origin":"…","v":1}. After a connection failure, a crash
// or SIGKILL, publishing restarts at the cursor (the persisted one after a
// crash), so events are never skipped and never reordered; the only
// duplicates are those sent again after a connection loss or crash, which
// consumers drop by seq. A cursor of another origin (the log started a new
// epoch after damage) starts the new epoch from its first event.
//
// The one exception is an event the log holds with its bytes alone damaged
// (eventlog.DamageError.EventOnly: its stored hash agrees with the tree,
// and the log never serves it). Nothing is published for it: the cursor
// passes it in order, once every message before it is acknowledged, and it
// is logged at error level and counted in Status.DamagedEvents. Consumers
// see a gap at its seq, which the checkpoints still cover (FEED.md §2.3).
//
// # Connection
//
// One loop owns the connection: connect (to each broker URL in turn),
// publish "online", drain the backlog with at most Options.Window messages
// awaiting their PUBACK (far below the 65,535 MQTT packet identifiers), then
// follow the log as Notify or the poll (Options.PollInterval) finds it
// grown, and publish the latest checkpoint once the events it covers are
// out. The session is persistent (clean session off) under a client ID
// derived from the device address. When anything fails — a lost
// connection, a PUBACK later than Options.PublishTimeout, the watchdog
// (connected with a backlog and the cursor still for Options.Watchdog) — the
// connection is dropped and made again after an exponential backoff with
// jitter (Options.BackoffMin doubling up to BackoffMax, a random half taken
// off), so that a fleet that lost its broker does not return all at once.
// No failure to connect is fatal: a broker certificate that is "not yet
// valid" because the device booted at 1970 without a real-time clock
// (ErrClockNotSet) is retried like any other, and succeeds once NTP or GNSS
// has set the clock. Paho's callbacks only record what happened; no
// blocking work runs in them. Every wait has a timeout.
//
// # Concurrency
//
// A Publisher is used by one Run at a time; Notify, Status and Wait are
// safe from any goroutine. The publisher only reads the log (the Log
// interface); the daemon calls Notify after appends and checkpoints.
package feed
