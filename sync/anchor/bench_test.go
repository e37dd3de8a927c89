package anchor_test

import (
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/sync/anchor"
)

// BenchmarkAnchorCostPerEvent measures the gas each event costs when the
// loop anchors at the default batch size (DefaultEvery events per
// transaction) against one transaction per event, both with the plain note
// payload (the signed checkpoint note as calldata) on the simulated chain,
// whose gas accounting is mainnet's at its newest fork. It reports
// gas/event for both and their ratio; the target is a ratio under 1/1000.
func BenchmarkAnchorCostPerEvent(b *testing.B) {
	single := gasPerEvent(b, 1, 16)
	b.ResetTimer()
	batched := gasPerEvent(b, anchor.DefaultEvery, b.N)
	b.StopTimer()
	ratio := batched / single
	b.ReportMetric(batched, "gas/event")
	b.ReportMetric(single, "gas/event-1tx")
	b.ReportMetric(ratio, "ratio")
	if ratio >= 1.0/1000 {
		b.Errorf("gas per event at batch size %d is %.2f, %.2e of one transaction per event (%.0f): want under 1/1000",
			anchor.DefaultEvery, batched, ratio, single)
	}
}

// gasPerEvent anchors rounds batches of every events, one transaction per
// batch, and returns the gas used per event.
func gasPerEvent(b *testing.B, every uint64, rounds int) float64 {
	b.StopTimer()
	key, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	r := &rig{t: b, chain: newChain(b, key), log: openLog(b, filepath.Join(dir, "log")), clock: newClock(),
		path: filepath.Join(dir, "anchor.db"), opts: anchor.Options{Every: every, Logger: discard()}}
	r.open()
	var gas, events uint64
	for range rounds {
		appendEvents(b, r.log, int(every))
		b.StartTimer()
		r.step()
		an := r.confirm()
		b.StopTimer()
		gas += an.GasUsed
		events += an.Size - an.PrevSize
	}
	return float64(gas) / float64(events)
}
