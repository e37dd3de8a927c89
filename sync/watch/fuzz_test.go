package watch

import (
	"bytes"
	"testing"

	"github.com/waybill-eu/waybill/agent/eventlog/eventlogtest"
	"github.com/waybill-eu/waybill/sync/feed"
)

// FuzzHandle feeds arbitrary payloads on the topics of a trusted device, a
// stranger and a bad topic to one watcher. Handle must not fail or panic,
// its verdict must be coherent, and an event it accepts must be one the
// device signed: byte for byte one of the genuine messages. Run it with
// -fuzzminimizetime 200x: each execution writes to the archive, and the
// default minimization of 60 s per new input stalls a short run.
func FuzzHandle(f *testing.F) {
	d := newDevice(f, eventlogtest.Key(f))
	d.append(0, 6)
	cp := d.checkpoint()
	fork := newDevice(f, eventlogtest.Key(f))
	fork.append(40, 46)
	stranger := newDevice(f, key(f, strangerKeyHex))
	stranger.append(0, 1)
	tp := d.topics()
	topics := []string{tp.Events, tp.Checkpoints, tp.Domain, tp.Status, tp.Anchors, stranger.topics().Events, "waybill/v1/x"}
	var genuine [][]byte
	for seq := range uint64(6) {
		genuine = append(genuine, d.message(seq))
		f.Add(uint8(0), d.message(seq))
		f.Add(uint8(0), fork.message(seq))
	}
	f.Add(uint8(1), cp)
	f.Add(uint8(1), fork.checkpoint())
	f.Add(uint8(2), (&feed.DomainMessage{ChainID: testChainID, Device: d.key.Address(), Fleet: testFleet}).Marshal())
	f.Add(uint8(5), stranger.message(0))
	f.Add(uint8(0), []byte(`{"leaf":"","origin":"waybill/test-fleet/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/0","seq":0,"v":1}`))

	w, a := newWatcher(f)
	a.db.NoSync = true // the fuzzer tests the verification, not the disk
	f.Fuzz(func(t *testing.T, ti uint8, payload []byte) {
		topic := topics[int(ti)%len(topics)]
		v := handle(t, w, topic, payload)
		if topic == tp.Events && v.State != StateRejected {
			ok := false
			for _, g := range genuine {
				ok = ok || bytes.Equal(g, payload)
			}
			if !ok {
				t.Fatalf("accepted an event message the device did not publish: %q (%+v)", payload, v)
			}
		}
	})
}
