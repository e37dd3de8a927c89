package registry_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

// TestAnchor_Lifecycle anchors three checkpoints of a real log, each after
// the first with its consistency proof, and checks the events and state.
func TestAnchor_Lifecycle(t *testing.T) {
	ch := newChain(t)
	d := newDeviceLog(t, testKey(t))
	d.grow(1000, "")
	a1 := d.checkpoint()
	d.grow(2000, "")
	a2 := d.checkpoint()
	d.grow(3000, "")
	a3 := d.checkpoint()
	id := logID(testFleet, a1.device, 0)
	origin := signer.Origin(testFleet, event.Address(a1.device), 0)

	prev := uint64(0)
	for _, a := range []anchorArgs{a1, a2.withProof(d.consistency(1000, 2000)), a3.withProof(d.consistency(2000, 3000))} {
		r, ev := ch.mustAnchor(a)
		want := registry.WaybillRegistryAnchored{Device: a.device, LogId: id, Size: a.size, Root: a.root,
			PreviousSize: prev, Origin: origin, Raw: ev.Raw}
		if !reflect.DeepEqual(*ev, want) {
			t.Errorf("Anchored event = %+v, want %+v", *ev, want)
		}
		h := ch.head(id)
		if h.Size != a.size || h.Root != a.root || h.BlockNumber != r.BlockNumber.Uint64() || h.Timestamp == 0 {
			t.Errorf("head after anchoring %d = %+v, want size %d root %x block %d", a.size, h, a.size, a.root, r.BlockNumber)
		}
		prev = a.size
	}
	// Every anchored root stays readable; sizes never anchored read zero.
	for _, a := range []anchorArgs{a1, a2, a3} {
		if got := ch.rootAt(id, a.size); got != a.root {
			t.Errorf("rootAt(%d) = %x, want %x", a.size, got, a.root)
		}
	}
	if got := ch.rootAt(id, 1500); got != ([32]byte{}) {
		t.Errorf("rootAt(1500) = %x, want zero", got)
	}
	if got := ch.head(logID(testFleet, a1.device, 1)); got.Size != 0 {
		t.Errorf("head of an unanchored epoch = %+v, want size 0", got)
	}

	// The views agree with the Go implementation of the protocol.
	gotID, err := bind.Call(ch.c, nil, ch.reg.PackLogIdOf(a1.device, testFleet, 0), ch.reg.UnpackLogIdOf)
	if err != nil || gotID != id {
		t.Errorf("logIdOf = %x, %v; want %x", gotID, err, id)
	}
	gotOrigin, err := bind.Call(ch.c, nil, ch.reg.PackOriginOf(a1.device, testFleet, 4294967295), ch.reg.UnpackOriginOf)
	if want := signer.Origin(testFleet, event.Address(a1.device), 4294967295); err != nil || gotOrigin != want {
		t.Errorf("originOf = %q, %v; want %q", gotOrigin, err, want)
	}
	sep, err := bind.Call(ch.c, nil, ch.reg.PackDomainSeparator(testFleet), ch.reg.UnpackDomainSeparator)
	if err != nil || sep != testDomain.Separator() {
		t.Errorf("domainSeparator = %x, %v; want %x", sep, err, testDomain.Separator())
	}
}

// TestAnchor_Refused checks every way anchor refuses a checkpoint, each
// with its custom error, and that a refusal leaves the state as it was.
func TestAnchor_Refused(t *testing.T) {
	ch := newChain(t)
	key := testKey(t)
	d := newDeviceLog(t, key)
	d.grow(1000, "")
	a1 := d.checkpoint()
	d.grow(2000, "")
	a2 := d.checkpoint().withProof(d.consistency(1000, 2000))
	d.grow(3000, "")
	a3 := d.checkpoint().withProof(d.consistency(2000, 3000))
	ch.mustAnchor(a1)
	ch.mustAnchor(a2)

	// A fork: the same device key signs a log that agrees up to event 1500
	// and then differs.
	f := newDeviceLog(t, key)
	f.grow(1500, "")
	f.grow(3000, "fork")
	fork3 := f.checkpoint()
	forkProof := f.consistency(2000, 3000)
	fork2root, _, _, err := f.log.ProveConsistency(2000, 3000)
	if err != nil {
		t.Fatal(err)
	}
	fork2 := signCheckpoint(t, key, testDomain, 0, 2000, fork2root)
	if fork2.root == a2.root || fork3.root == a3.root {
		t.Fatal("the forked log has the honest roots")
	}

	other, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	otherSig := signCheckpoint(t, other, testDomain, 0, a3.size, a3.root).sig
	wrongSizeSig := signCheckpoint(t, key, testDomain, 0, a3.size+1, a3.root).sig
	otherFleetSig := signCheckpoint(t, key, signer.Domain{ChainID: simChainID, Fleet: "other"}, 0, a3.size, a3.root).sig
	otherChainSig := signCheckpoint(t, key, signer.Domain{ChainID: 1, Fleet: testFleet}, 0, a3.size, a3.root).sig

	mod := func(a anchorArgs, f func(*anchorArgs)) anchorArgs {
		a.sig = bytes.Clone(a.sig)
		a.proof = append([][32]byte(nil), a.proof...)
		f(&a)
		return a
	}
	badSig := &registry.WaybillRegistryBadSignature{}
	inconsistent := &registry.WaybillRegistryInconsistentRoot{AnchoredSize: 2000, Size: 3000}
	cases := []struct {
		name string
		a    anchorArgs
		want any
	}{
		{"replayed checkpoint", a2, &registry.WaybillRegistryAlreadyAnchored{Size: 2000}},
		{"replayed first checkpoint", a1, &registry.WaybillRegistrySizeBackwards{AnchoredSize: 2000, Size: 1000}},
		{"backwards with a valid proof", a1.withProof(d.consistency(1000, 1000)), &registry.WaybillRegistrySizeBackwards{AnchoredSize: 2000, Size: 1000}},
		{"same size, forked root", fork2, &registry.WaybillRegistryConflictingRoot{Size: 2000, AnchoredRoot: a2.root, Root: fork2.root}},
		{"forked root with its own proof", fork3.withProof(forkProof), inconsistent},
		{"forked root with the honest proof", fork3.withProof(a3.proof), inconsistent},
		{"no consistency proof", a3.withProof(nil), inconsistent},
		{"proof from another size", a3.withProof(d.consistency(1000, 3000)), inconsistent},
		{"proof truncated", mod(a3, func(a *anchorArgs) { a.proof = a.proof[:len(a.proof)-1] }), inconsistent},
		{"proof extended", mod(a3, func(a *anchorArgs) { a.proof = append(a.proof, [32]byte{}) }), inconsistent},
		{"proof of 65 hashes", mod(a3, func(a *anchorArgs) { a.proof = make([][32]byte, 65) }), inconsistent},
		{"signature by another device", mod(a3, func(a *anchorArgs) { a.sig = otherSig }), badSig},
		{"another device claiming the checkpoint", mod(a3, func(a *anchorArgs) { a.device = common.Address(other.Address()) }), badSig},
		{"signature of another size", mod(a3, func(a *anchorArgs) { a.sig = wrongSizeSig }), badSig},
		{"signature in another fleet", mod(a3, func(a *anchorArgs) { a.sig = otherFleetSig }), badSig},
		{"signature on another chain", mod(a3, func(a *anchorArgs) { a.sig = otherChainSig }), badSig},
		{"submitted in another fleet", mod(a3, func(a *anchorArgs) { a.fleet = "other" }), badSig},
		{"submitted for another epoch", mod(a3, func(a *anchorArgs) { a.epoch = 1 }), badSig},
		{"root changed", mod(a3, func(a *anchorArgs) { a.root[31] ^= 1 }), badSig},
		{"size changed", mod(a3, func(a *anchorArgs) { a.size++ }), badSig},
		{"r changed", mod(a3, func(a *anchorArgs) { a.sig[5] ^= 1 }), badSig},
		{"s changed", mod(a3, func(a *anchorArgs) { a.sig[40] ^= 1 }), badSig},
		{"v flipped", mod(a3, func(a *anchorArgs) { a.sig[64] = 27 + 28 - a.sig[64] }), badSig},
		{"v as recovery id", mod(a3, func(a *anchorArgs) { a.sig[64] -= 27 }), badSig},
		{"high-s twin", mod(a3, func(a *anchorArgs) { a.sig = highS(a.sig) }), badSig},
		{"r zero", mod(a3, func(a *anchorArgs) { clear(a.sig[:32]) }), badSig},
		{"s zero", mod(a3, func(a *anchorArgs) { clear(a.sig[32:64]) }), badSig},
		{"signature of 64 bytes", mod(a3, func(a *anchorArgs) { a.sig = a.sig[:64] }), badSig},
		{"signature of 66 bytes", mod(a3, func(a *anchorArgs) { a.sig = append(a.sig, 0) }), badSig},
		{"no signature", mod(a3, func(a *anchorArgs) { a.sig = nil }), badSig},
		{"fleet with capitals", mod(a3, func(a *anchorArgs) { a.fleet = "Demo" }), &registry.WaybillRegistryInvalidFleet{}},
		{"fleet empty", mod(a3, func(a *anchorArgs) { a.fleet = "" }), &registry.WaybillRegistryInvalidFleet{}},
		{"fleet starting with a dot", mod(a3, func(a *anchorArgs) { a.fleet = ".demo" }), &registry.WaybillRegistryInvalidFleet{}},
		{"fleet with a slash", mod(a3, func(a *anchorArgs) { a.fleet = "demo/x" }), &registry.WaybillRegistryInvalidFleet{}},
		{"fleet of 64 characters", mod(a3, func(a *anchorArgs) { a.fleet = string(bytes.Repeat([]byte("a"), 64)) }), &registry.WaybillRegistryInvalidFleet{}},
		{"zero device", mod(a3, func(a *anchorArgs) { a.device = common.Address{} }), &registry.WaybillRegistryZeroDevice{}},
		{"empty tree", signCheckpoint(t, key, testDomain, 0, 0, [32]byte{}), &registry.WaybillRegistryEmptyTree{}},
		{"zero root", signCheckpoint(t, key, testDomain, 0, 4000, [32]byte{}), &registry.WaybillRegistryZeroRoot{}},
	}
	// The high-s twin really is accepted by plain ecrecover: refusing it is
	// the contract's own check.
	if pub, err := crypto.SigToPub(digestOf(a3), vToRecID(highS(a3.sig))); err != nil || crypto.PubkeyToAddress(*pub) != a3.device {
		t.Fatalf("the high-s twin does not recover to the device with plain ecrecover (%v)", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ch.anchor(c.a)
			var re *revertError
			if !errors.As(err, &re) {
				t.Fatalf("anchor = %v, want a revert with %T", err, c.want)
			}
			if !reflect.DeepEqual(re.v, c.want) {
				t.Errorf("anchor reverted with %T%+v, want %T%+v", re.v, re.v, c.want, c.want)
			}
		})
	}
	if h := ch.head(logID(testFleet, a1.device, 0)); h.Size != 2000 || h.Root != a2.root {
		t.Errorf("head after refusals = %+v, want size 2000 root %x", h, a2.root)
	}
	// The honest continuation is still accepted.
	ch.mustAnchor(a3)
}

func digestOf(a anchorArgs) []byte {
	d := signer.Domain{ChainID: simChainID, Fleet: a.fleet}
	h := signer.CheckpointDigest(d, signer.Origin(a.fleet, event.Address(a.device), a.epoch), a.size, a.root)
	return h[:]
}

func vToRecID(sig []byte) []byte {
	out := bytes.Clone(sig)
	out[64] -= 27
	return out
}

// TestAnchor_EpochsAndFleets checks that each (fleet, device, epoch) is a
// separate log: anchoring one never constrains another.
func TestAnchor_EpochsAndFleets(t *testing.T) {
	ch := newChain(t)
	key := testKey(t)
	d := newDeviceLog(t, key)
	d.grow(100, "")
	e0 := d.checkpoint()
	ch.mustAnchor(e0)

	root := [32]byte{1, 2, 3}
	e1 := signCheckpoint(t, key, testDomain, 1, 5, root) // a new epoch starts small
	_, ev := ch.mustAnchor(e1)
	if want := logID(testFleet, e1.device, 1); ev.LogId != want || ev.PreviousSize != 0 {
		t.Errorf("epoch 1 anchored as %x after %d, want its own log %x from 0", ev.LogId, ev.PreviousSize, want)
	}
	// A late anchor of an older epoch is still accepted under that epoch's rules.
	d.grow(150, "")
	ch.mustAnchor(d.checkpoint().withProof(d.consistency(100, 150)))
	otherFleet := signCheckpoint(t, key, signer.Domain{ChainID: simChainID, Fleet: "other-fleet.eu"}, 0, 1, root)
	ch.mustAnchor(otherFleet)

	for _, c := range []struct {
		fleet string
		epoch uint32
		size  uint64
	}{{testFleet, 0, 150}, {testFleet, 1, 5}, {"other-fleet.eu", 0, 1}} {
		if h := ch.head(logID(c.fleet, e0.device, c.epoch)); h.Size != c.size {
			t.Errorf("head of %s epoch %d = %+v, want size %d", c.fleet, c.epoch, h, c.size)
		}
	}
}

// TestAnchor_ByDevice checks that a device holding funds submits its own
// checkpoint just as a relayer does: the sender plays no part.
func TestAnchor_ByDevice(t *testing.T) {
	key := testKey(t)
	priv, err := crypto.HexToECDSA(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	self := bind.NewKeyedTransactor(priv, big.NewInt(simChainID))
	ch := newChainWith(t, []*bind.TransactOpts{self})
	d := newDeviceLog(t, key)
	d.grow(10, "")
	if _, err := ch.anchorFrom(self, d.checkpoint()); err != nil {
		t.Fatalf("device-submitted anchor: %v", err)
	}
	d.grow(20, "")
	if _, err := ch.anchor(d.checkpoint().withProof(d.consistency(10, 20))); err != nil {
		t.Fatalf("relayed anchor after a device-submitted one: %v", err)
	}
}

// TestVerifyEvent checks that verifyEvent accepts real events of a real log
// against every anchored root, and returns false, without reverting, for
// every field, proof hash or size changed.
func TestVerifyEvent(t *testing.T) {
	ch := newChain(t)
	d := newDeviceLog(t, testKey(t))
	d.grow(1000, "")
	a1 := d.checkpoint()
	d.grow(2000, "")
	a2 := d.checkpoint().withProof(d.consistency(1000, 2000))
	d.grow(2100, "") // events beyond the anchored tree

	// Not anchored yet: false.
	ev, proof := d.prove(7, 1000)
	if ok, err := ch.verifyEvent(testFleet, ev, 1000, proof); err != nil || ok {
		t.Fatalf("verifyEvent before any anchor = %v, %v; want false", ok, err)
	}
	ch.mustAnchor(a1)
	ch.mustAnchor(a2)

	for _, c := range []struct{ seq, size uint64 }{
		{0, 1000}, {7, 1000}, {999, 1000}, {0, 2000}, {7, 2000}, {1000, 2000}, {1536, 2000}, {1999, 2000},
	} {
		ev, proof := d.prove(c.seq, c.size)
		if ok, err := ch.verifyEvent(testFleet, ev, c.size, proof); err != nil || !ok {
			t.Errorf("verifyEvent(seq %d, size %d) = %v, %v; want true", c.seq, c.size, ok, err)
		}
	}
	// An event of the log beyond the anchored size has no anchored proof.
	ev, proof = d.prove(2050, 2100)
	if ok, err := ch.verifyEvent(testFleet, ev, 2100, proof); err != nil || ok {
		t.Errorf("verifyEvent of an event past the anchored size = %v, %v; want false", ok, err)
	}

	const seq, size = 1537, 2000 // a delivery event
	ev, proof = d.prove(seq, size)
	if ev.Kind != "delivery" {
		t.Fatalf("event %d is %s, want a delivery", seq, ev.Kind)
	}
	// Event 7 is in both anchored trees; each proof holds for its own size only.
	ev7, proof7at1000 := d.prove(7, 1000)
	_, proof7at2000 := d.prove(7, 2000)
	for _, c := range []struct {
		size  uint64
		proof [][32]byte
	}{{1000, proof7at2000}, {2000, proof7at1000}} {
		if ok, err := ch.verifyEvent(testFleet, ev7, c.size, c.proof); err != nil || ok {
			t.Errorf("verifyEvent(seq 7, size %d) with the other size's proof = %v, %v; want false", c.size, ok, err)
		}
	}
	type input struct {
		fleet string
		ev    registry.WaybillRegistrySignedEvent
		size  uint64
		proof [][32]byte
	}
	other, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*input)
	}{
		{"fleet", func(in *input) { in.fleet = "other" }},
		{"fleet invalid", func(in *input) { in.fleet = "Demo" }},
		{"device", func(in *input) { in.ev.Device = common.Address(other.Address()) }},
		{"device zero", func(in *input) { in.ev.Device = common.Address{} }},
		{"epoch", func(in *input) { in.ev.Epoch++ }},
		{"seq", func(in *input) { in.ev.Seq++ }},
		{"seq at size", func(in *input) { in.ev.Seq = size }},
		{"time", func(in *input) { in.ev.Time++ }},
		{"time past 2^53", func(in *input) { in.ev.Time += 1 << 53 }},
		{"time source", func(in *input) { in.ev.TimeSource = "ntp" }},
		{"time source unknown", func(in *input) { in.ev.TimeSource = "GNSS" }},
		{"kind", func(in *input) { in.ev.Kind = "door_opened" }},
		{"kind malformed", func(in *input) { in.ev.Kind = "delivery\"" }},
		{"kind empty", func(in *input) { in.ev.Kind = "" }},
		{"payload byte", func(in *input) { in.ev.Payload[len(in.ev.Payload)/2] ^= 1 }},
		{"payload extended", func(in *input) { in.ev.Payload = append(in.ev.Payload, ' ') }},
		{"payload empty", func(in *input) { in.ev.Payload = nil }},
		{"payload too large", func(in *input) { in.ev.Payload = bytes.Repeat([]byte(" "), 8193) }},
		{"sig r", func(in *input) { in.ev.Sig[3] ^= 1 }},
		{"sig s", func(in *input) { in.ev.Sig[50] ^= 1 }},
		{"sig v flipped", func(in *input) { in.ev.Sig[64] = 27 + 28 - in.ev.Sig[64] }},
		{"sig v as recovery id", func(in *input) { in.ev.Sig[64] -= 27 }},
		{"sig high-s twin", func(in *input) { in.ev.Sig = highS(in.ev.Sig) }},
		{"sig short", func(in *input) { in.ev.Sig = in.ev.Sig[:64] }},
		{"sig long", func(in *input) { in.ev.Sig = append(in.ev.Sig, 0) }},
		{"sig empty", func(in *input) { in.ev.Sig = nil }},
		{"size not anchored", func(in *input) { in.size = 2001 }},
		{"size zero", func(in *input) { in.size = 0 }},
		{"proof of another event", func(in *input) { _, in.proof = d.prove(seq-1, size) }},
		{"proof empty", func(in *input) { in.proof = nil }},
		{"proof truncated", func(in *input) { in.proof = in.proof[:len(in.proof)-1] }},
		{"proof extended", func(in *input) { in.proof = append(in.proof, [32]byte{}) }},
		{"proof of 65 hashes", func(in *input) { in.proof = make([][32]byte, 65) }},
		{"proof reversed", func(in *input) {
			for i, j := 0, len(in.proof)-1; i < j; i, j = i+1, j-1 {
				in.proof[i], in.proof[j] = in.proof[j], in.proof[i]
			}
		}},
	}
	for i := range proof {
		cases = append(cases, struct {
			name string
			mod  func(*input)
		}{fmt.Sprintf("proof hash %d", i), func(in *input) { in.proof[i][i%32] ^= 0x80 }})
	}
	fresh := func() input {
		e := ev
		e.Payload, e.Sig = bytes.Clone(ev.Payload), bytes.Clone(ev.Sig)
		return input{testFleet, e, size, append([][32]byte(nil), proof...)}
	}
	in := fresh()
	if ok, err := ch.verifyEvent(in.fleet, in.ev, in.size, in.proof); err != nil || !ok {
		t.Fatalf("verifyEvent of the untampered event = %v, %v; want true", ok, err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := fresh()
			c.mod(&in)
			ok, err := ch.verifyEvent(in.fleet, in.ev, in.size, in.proof)
			if err != nil {
				t.Fatalf("verifyEvent reverted or failed: %v", err)
			}
			if ok {
				t.Errorf("verifyEvent = true, want false")
			}
		})
	}
}

// TestProtocolVectors anchors the checkpoint of firmware-docs/testdata
// (PROTOCOL.md §10; chain 1337 is the simulated backend's) and verifies the
// vector bundle's event on chain.
func TestProtocolVectors(t *testing.T) {
	ch := newChain(t)
	b, ch2 := vectorBundle(t)
	a := argsFromNote(t, []byte(b.Checkpoint.Note), b.Domain, ch2)
	_, ev := ch.mustAnchor(a)
	if ev.LogId != vectorLogID(t) {
		t.Errorf("vector log ID %x, want %x", ev.LogId, vectorLogID(t))
	}
	s, err := event.Parse(b.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := ch.verifyEvent(b.Domain.Fleet, contractEvent(s), b.Checkpoint.Size, hashes(b.Inclusion))
	if err != nil || !ok {
		t.Errorf("verifyEvent(vector bundle) = %v, %v; want true", ok, err)
	}
}

const testdataDir = "../../../firmware-docs/testdata"

func vectorBundle(t testing.TB) (*verify.Bundle, event.Address) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdataDir, "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := verify.ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := event.Parse(b.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	return b, s.Device
}

// vectorLogID is keccak256 of the vector checkpoint's origin.
func vectorLogID(t testing.TB) [32]byte {
	b, _ := vectorBundle(t)
	return crypto.Keccak256Hash([]byte(b.Checkpoint.Origin))
}
