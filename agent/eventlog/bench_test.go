package eventlog

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/onecore"
	"github.com/waybill-eu/waybill/agent/signer"
)

// appendConcurrently appends n events from p producers and returns the rate.
func appendConcurrently(b testing.TB, l *Log, n, p int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	per := n / p
	for w := 0; w < p; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := l.Append(context.Background(), testEvent(w*per+i)); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return float64(per*p) / time.Since(start).Seconds()
}

// BenchmarkAppend_VsSign measures, on one core and in the same run, the raw
// signing rate and the signed+durable append rate with 1024 concurrent
// producers, and reports their ratio (the README's 70% target).
func BenchmarkAppend_VsSign(b *testing.B) {
	restore, err := onecore.Pin()
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	k := testKey(b)
	id := testIdentity(k)
	dom := id.Domain()
	l := openTest(b, b.TempDir(), nil)
	defer l.Close()
	var signRate, appendRate float64
	for b.Loop() {
		const n = 16384
		ev := testEvent(0)
		ev.Device = k.Address()
		start := time.Now()
		for i := 0; i < n; i++ {
			// The raw signing rate: EIP-712 digest and secp256k1 signature.
			ev.Seq = uint64(i)
			if _, err := k.Signer.SignDigest(signer.EventDigest(dom, &ev)); err != nil {
				b.Fatal(err)
			}
		}
		signRate = n / time.Since(start).Seconds()
		appendRate = appendConcurrently(b, l, n, 1024)
	}
	b.ReportMetric(signRate, "signs/s")
	b.ReportMetric(appendRate, "appends/s")
	b.ReportMetric(appendRate/signRate, "ratio")
}

// BenchmarkProveInclusion measures one inclusion proof in a log of 100,000
// events (the 1,000,000-event figure is `waybill bench`'s).
func BenchmarkProveInclusion(b *testing.B) {
	l := openTest(b, b.TempDir(), nil)
	defer l.Close()
	appendConcurrently(b, l, 100_000, 256)
	size := l.Size()
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		if _, _, err := l.ProveInclusion(r.Uint64N(size), size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures opening a log of 100,000 events.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l := openTest(b, dir, nil)
	appendConcurrently(b, l, 100_000, 256)
	l.Close()
	for b.Loop() {
		l := openTest(b, dir, nil)
		l.Close()
	}
}
