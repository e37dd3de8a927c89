package watchbench

import (
	"fmt"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Fleet and ChainID are the signing domain of the benchmark's devices.
const (
	Fleet   = "bench-city"
	ChainID = 1337
)

// source is one simulated device: a real key that signs its events and
// checkpoints as the agent does, and the tree of what it signed, in
// memory.
type source struct {
	key    *devkey.Key
	topics feed.Topics
	origin string
	notes  []checkpoint.Signer
	front  merkle.Frontier
	seq    uint64
}

func newSource() (*source, error) {
	k, err := devkey.Generate()
	if err != nil {
		return nil, err
	}
	name := signer.KeyName(Fleet, k.Address())
	notes, err := k.NoteSigners(name, domain)
	if err != nil {
		return nil, err
	}
	return &source{key: k, topics: feed.TopicsFor(Fleet, k.Address()), origin: signer.Origin(Fleet, k.Address(), 0), notes: notes}, nil
}

var domain = signer.Domain{ChainID: ChainID, Fleet: Fleet}

// trust returns the allowlist entry of s.
func (s *source) trust() (watch.Device, error) {
	vkey, err := s.key.VerifierKey(signer.KeyName(Fleet, s.key.Address()))
	if err != nil {
		return watch.Device{}, err
	}
	return watch.Device{Address: s.key.Address(), Fleet: Fleet, ChainID: ChainID, NoteKey: vkey}, nil
}

// next signs the device's next event and returns its events-topic message.
func (s *source) next() ([]byte, error) {
	e := Event(s.key.Address(), 0, s.seq)
	signed, err := s.key.SignEvent(domain, e)
	if err != nil {
		return nil, err
	}
	leaf, err := signed.Leaf()
	if err != nil {
		return nil, err
	}
	s.front.Append(merkle.LeafHash(leaf))
	m := feed.Message{Origin: s.origin, Seq: s.seq, Leaf: leaf}
	s.seq++
	return m.Marshal(), nil
}

// checkpoint signs a checkpoint of everything s signed so far.
func (s *source) checkpoint() ([]byte, error) {
	return checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: s.origin, Size: s.front.Size(), Root: s.front.Root()}, s.notes...)
}

// Event returns the event seq of device's epoch: a delivery with a payload
// of a typical size, at 10 s intervals.
func Event(device event.Address, epoch uint32, seq uint64) event.Event {
	return event.Event{
		Device: device, Epoch: epoch, Seq: seq,
		Time:   time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC).UnixMilli() + int64(seq)*10_000,
		Source: event.SourceGNSS, Kind: event.KindDelivery,
		Payload: []byte(fmt.Sprintf(`{"door":"open","lat":50.8476,"lon":4.3537,"parcel":"04A1%08X","proof":"scan","zone":"bay-marche-aux-herbes"}`, seq)),
	}
}
