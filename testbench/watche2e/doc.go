// Package watche2e holds the end-to-end test of the feed watcher
// (firmware-docs/WATCH.md) on real parts that the test starts itself:
// several `waybill run --replay` devices publishing through Mosquitto and
// anchoring on geth --dev, and the `waybill-watch run` binary writing to
// PostgreSQL, killed with SIGKILL mid-stream and started again. It checks
// that every event every device logged ends anchored and witnessed in the
// archive exactly once, that the cosigned checkpoints open with stock
// C2SP verifiers, that the exported proof bundles pass `waybill verify`,
// and that a second watcher on the same archive adds no row.
//
// The test needs mosquitto, PostgreSQL (`make test-deps`) and build/geth
// (`make geth`); it is skipped with -short.
package watche2e
