package subscribe

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fakeMessage is an mqtt.Message that records its acknowledgement.
type fakeMessage struct {
	id    uint16
	acked *[]uint16
	mu    *sync.Mutex
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return "t" }
func (m fakeMessage) MessageID() uint16 { return m.id }
func (m fakeMessage) Payload() []byte   { return nil }
func (m fakeMessage) Ack() {
	m.mu.Lock()
	*m.acked = append(*m.acked, m.id)
	m.mu.Unlock()
}

// TestAckQueue: messages handled in any order, from several goroutines,
// are acknowledged in the order received; a message never handled holds
// back every acknowledgement after it.
func TestAckQueue(t *testing.T) {
	var mu sync.Mutex
	var acked []uint16
	var q ackQueue
	const n = 1000
	ds := make([]*delivery, n)
	for i := range ds {
		ds[i] = q.add(fakeMessage{id: uint16(i), acked: &acked, mu: &mu})
	}
	const hole = 700 // never handled
	order := rand.New(rand.NewPCG(5, 6)).Perm(n)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range order[w*n/4 : (w+1)*n/4] {
				if i != hole {
					q.done(ds[i])
				}
			}
		}()
	}
	wg.Wait()
	if len(acked) != hole {
		t.Fatalf("%d acknowledged, want the %d before the unhandled one", len(acked), hole)
	}
	for i, id := range acked {
		if int(id) != i {
			t.Fatalf("acknowledgement %d is of message %d", i, id)
		}
	}
	q.done(ds[hole])
	if len(acked) != n || len(q.q) != 0 {
		t.Fatalf("%d acknowledged and %d queued after the last one was handled", len(acked), len(q.q))
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n        int
		min, max time.Duration
		want     time.Duration // before jitter
	}{
		{0, time.Second, time.Minute, time.Second},
		{1, time.Second, time.Minute, 2 * time.Second},
		{5, time.Second, time.Minute, 32 * time.Second},
		{6, time.Second, time.Minute, time.Minute},
		{1000, time.Second, time.Minute, time.Minute},
		{3, time.Second, time.Second, time.Second},
	} {
		for range 100 {
			if d := backoff(c.n, c.min, c.max); d < c.want/2 || d > c.want {
				t.Fatalf("backoff(%d, %v, %v) = %v, want %v to %v", c.n, c.min, c.max, d, c.want/2, c.want)
			}
		}
	}
}
