package registry_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

var update = flag.Bool("update", false, "rewrite the generated section of firmware-docs/CONTRACT.md")

const (
	testFleet = "demo"
	// simChainID is the chain ID ethclient/simulated always runs; it is also
	// the chain of the protocol's test vectors.
	simChainID = 1337
	// testKeyHex is the well-known example key of PROTOCOL.md §10: tests only.
	testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
)

var (
	testStart  = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	testDomain = signer.Domain{ChainID: simChainID, Fleet: testFleet}
	// secp256k1 group order, for building high-s twins of signatures.
	secpN = crypto.S256().Params().N
)

// chain is a simulated chain with the registry deployed by a funded relayer.
type chain struct {
	t       testing.TB
	sim     *simulated.Backend
	client  simulated.Client
	reg     *registry.WaybillRegistry
	c       *bind.BoundContract
	addr    common.Address
	relayer *bind.TransactOpts
}

// newChain starts a simulated chain on the newest forks and deploys the
// committed bytecode.
func newChain(t testing.TB) *chain { return newChainWith(t, nil) }

// newChainWith also funds the given keys, and applies opts to the node.
func newChainWith(t testing.TB, funded []*bind.TransactOpts, opts ...func(*node.Config, *ethconfig.Config)) *chain {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	relayer := bind.NewKeyedTransactor(key, big.NewInt(simChainID))
	balance := new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))
	alloc := types.GenesisAlloc{relayer.From: {Balance: balance}}
	for _, f := range funded {
		alloc[f.From] = types.Account{Balance: balance}
	}
	sim := simulated.NewBackend(alloc, opts...)
	t.Cleanup(func() { sim.Close() })
	ch := &chain{t: t, sim: sim, client: sim.Client(), reg: registry.NewWaybillRegistry(), relayer: relayer}
	addr, tx, err := bind.DeployContract(relayer, common.FromHex(registry.WaybillRegistryMetaData.Bin), ch.client, nil)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	ch.mine(tx)
	ch.addr = addr
	ch.c = ch.reg.Instance(ch.client, addr)
	return ch
}

// mine commits a block and returns tx's receipt, failing the test unless the
// transaction succeeded.
func (ch *chain) mine(tx *types.Transaction) *types.Receipt {
	ch.t.Helper()
	ch.sim.Commit()
	r, err := ch.client.TransactionReceipt(context.Background(), tx.Hash())
	if err != nil {
		ch.t.Fatalf("receipt of %s: %v", tx.Hash(), err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		ch.t.Fatalf("transaction %s failed (gas used %d)", tx.Hash(), r.GasUsed)
	}
	return r
}

// revertError is a call the contract refused, with its decoded custom error
// (one of the *registry.WaybillRegistry<Error> types).
type revertError struct{ v any }

func (e *revertError) Error() string { return fmt.Sprintf("reverted with %T%+v", e.v, e.v) }

// call runs data with eth_call from the relayer; a revert comes back as a
// *revertError.
func (ch *chain) call(data []byte) ([]byte, error) {
	out, err := ch.client.CallContract(context.Background(), ethereum.CallMsg{From: ch.relayer.From, To: &ch.addr, Data: data}, nil)
	if err != nil {
		if raw, ok := ethclient.RevertErrorData(err); ok {
			v, uerr := ch.reg.UnpackError(raw)
			if uerr != nil {
				return nil, fmt.Errorf("revert data %x does not decode: %v", raw, uerr)
			}
			return nil, &revertError{v}
		}
		return nil, err
	}
	return out, nil
}

// anchorArgs are the arguments of WaybillRegistry.anchor.
type anchorArgs struct {
	device common.Address
	fleet  string
	epoch  uint32
	size   uint64
	root   [32]byte
	sig    []byte
	proof  [][32]byte
}

func (a anchorArgs) pack(reg *registry.WaybillRegistry) []byte {
	return reg.PackAnchor(a.device, a.fleet, a.epoch, a.size, a.root, a.sig, a.proof)
}

// withProof returns a copy of a carrying proof.
func (a anchorArgs) withProof(proof [][32]byte) anchorArgs {
	a.proof = proof
	return a
}

// anchor submits a from the relayer after checking with eth_call that it
// does not revert; it returns the receipt, or the revert as *revertError.
func (ch *chain) anchor(a anchorArgs) (*types.Receipt, error) {
	return ch.anchorFrom(ch.relayer, a)
}

func (ch *chain) anchorFrom(from *bind.TransactOpts, a anchorArgs) (*types.Receipt, error) {
	data := a.pack(ch.reg)
	if _, err := ch.call(data); err != nil {
		return nil, err
	}
	tx, err := bind.Transact(ch.c, from, data)
	if err != nil {
		return nil, err
	}
	return ch.mine(tx), nil
}

// mustAnchor anchors a and returns the receipt and the Anchored event.
func (ch *chain) mustAnchor(a anchorArgs) (*types.Receipt, *registry.WaybillRegistryAnchored) {
	ch.t.Helper()
	r, err := ch.anchor(a)
	if err != nil {
		ch.t.Fatalf("anchor size %d: %v", a.size, err)
	}
	if len(r.Logs) != 1 {
		ch.t.Fatalf("anchor size %d: %d logs, want 1", a.size, len(r.Logs))
	}
	ev, err := ch.reg.UnpackAnchoredEvent(r.Logs[0])
	if err != nil {
		ch.t.Fatalf("anchor size %d: Anchored event: %v", a.size, err)
	}
	return r, ev
}

func (ch *chain) head(logID [32]byte) registry.HeadOutput {
	ch.t.Helper()
	out, err := bind.Call(ch.c, nil, ch.reg.PackHead(logID), ch.reg.UnpackHead)
	if err != nil {
		ch.t.Fatalf("head: %v", err)
	}
	return out
}

func (ch *chain) rootAt(logID [32]byte, size uint64) [32]byte {
	ch.t.Helper()
	out, err := bind.Call(ch.c, nil, ch.reg.PackRootAt(logID, size), ch.reg.UnpackRootAt)
	if err != nil {
		ch.t.Fatalf("rootAt: %v", err)
	}
	return out
}

// verifyEvent calls verifyEvent; any revert is an error.
func (ch *chain) verifyEvent(fleet string, ev registry.WaybillRegistrySignedEvent, size uint64, proof [][32]byte) (bool, error) {
	out, err := ch.call(ch.reg.PackVerifyEvent(fleet, ev, size, proof))
	if err != nil {
		return false, err
	}
	return ch.reg.UnpackVerifyEvent(out)
}

// logID is keccak256 of the origin "waybill/<fleet>/<device>/<epoch>",
// computed in Go.
func logID(fleet string, device common.Address, epoch uint32) [32]byte {
	return crypto.Keccak256Hash([]byte(signer.Origin(fleet, event.Address(device), epoch)))
}

// testKey is the device key of the protocol vectors, so that every figure
// the tests measure is reproducible.
func testKey(t testing.TB) *devkey.Key {
	t.Helper()
	k, err := devkey.FromHex(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// deviceLog is a device's real event log in a temporary directory.
type deviceLog struct {
	t   testing.TB
	key *devkey.Key
	log *eventlog.Log
}

func newDeviceLog(t testing.TB, key *devkey.Key) *deviceLog {
	t.Helper()
	id := eventlog.Identity{Device: key.Address(), Fleet: testFleet, ChainID: simChainID}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{
		Create: &id, Keys: key, Now: func() time.Time { return testStart },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &deviceLog{t: t, key: key, log: l}
}

// grow appends testEvent(i, variant) for every i from the log's size up to n.
func (d *deviceLog) grow(n uint64, variant string) {
	d.t.Helper()
	var pend []*eventlog.Pending
	for i := d.log.Size(); i < n; i++ {
		p, err := d.log.Enqueue(context.Background(), testEvent(i, variant))
		if err != nil {
			d.t.Fatal(err)
		}
		pend = append(pend, p)
	}
	for _, p := range pend {
		if _, err := p.Wait(); err != nil {
			d.t.Fatal(err)
		}
	}
}

// checkpoint signs a checkpoint of the log's current tree and returns it as
// anchor arguments.
func (d *deviceLog) checkpoint() anchorArgs {
	d.t.Helper()
	note, _, err := d.log.Checkpoint(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return argsFromNote(d.t, note, testDomain, d.key.Address())
}

// consistency returns the log's RFC 9162 consistency proof from old to new.
func (d *deviceLog) consistency(old, new uint64) [][32]byte {
	d.t.Helper()
	_, _, proof, err := d.log.ProveConsistency(old, new)
	if err != nil {
		d.t.Fatal(err)
	}
	return hashes(proof)
}

// prove returns event seq as the contract takes it and its inclusion proof
// in the tree of size leaves.
func (d *deviceLog) prove(seq, size uint64) (registry.WaybillRegistrySignedEvent, [][32]byte) {
	d.t.Helper()
	leaf, proof, err := d.log.ProveInclusion(seq, size)
	if err != nil {
		d.t.Fatal(err)
	}
	s, err := event.Parse(leaf)
	if err != nil {
		d.t.Fatal(err)
	}
	return contractEvent(s), hashes(proof)
}

// argsFromNote returns the anchor arguments of a signed checkpoint note: its
// origin, size and root, and the secp256k1 EIP-712 signature of its second
// signature line (PROTOCOL.md §7).
func argsFromNote(t testing.TB, note []byte, d signer.Domain, device event.Address) anchorArgs {
	t.Helper()
	v := signer.NoteVerifier(signer.KeyName(d.Fleet, device), device, d)
	c, n, err := checkpoint.OpenCheckpoint(note, v)
	if err != nil {
		t.Fatalf("checkpoint note: %v", err)
	}
	var sig []byte
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.KeyID == v.KeyID() {
			sig = s.Sig
		}
	}
	if len(sig) != 65 {
		t.Fatalf("checkpoint note has no secp256k1 signature line")
	}
	slash := strings.LastIndexByte(c.Origin, '/')
	epoch, err := strconv.ParseUint(c.Origin[slash+1:], 10, 32)
	if err != nil || c.Origin != signer.Origin(d.Fleet, device, uint32(epoch)) {
		t.Fatalf("checkpoint origin %q is not the device's", c.Origin)
	}
	return anchorArgs{device: common.Address(device), fleet: d.Fleet, epoch: uint32(epoch),
		size: c.Size, root: c.Root, sig: sig}
}

// signCheckpoint signs (origin of epoch, size, root) directly with the key,
// for checkpoints no log of this test holds (other epochs and fleets).
func signCheckpoint(t testing.TB, k *devkey.Key, d signer.Domain, epoch uint32, size uint64, root [32]byte) anchorArgs {
	t.Helper()
	origin := signer.Origin(d.Fleet, k.Address(), epoch)
	sig, err := k.Signer.SignDigest(signer.CheckpointDigest(d, origin, size, root))
	if err != nil {
		t.Fatal(err)
	}
	return anchorArgs{device: common.Address(k.Address()), fleet: d.Fleet, epoch: epoch, size: size, root: root, sig: sig[:]}
}

func contractEvent(s *event.Signed) registry.WaybillRegistrySignedEvent {
	return registry.WaybillRegistrySignedEvent{
		Device: common.Address(s.Device), Epoch: s.Epoch, Seq: s.Seq, Time: uint64(s.Time),
		TimeSource: string(s.Source), Kind: string(s.Kind),
		Payload: bytes.Clone(s.Payload), Sig: bytes.Clone(s.Sig[:]),
	}
}

func hashes(p []merkle.Hash) [][32]byte {
	out := make([][32]byte, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out
}

// highS returns the twin (r, n−s, v flipped) of a low-s signature: plain
// ecrecover recovers the same key from it, PROTOCOL.md §4.4 refuses it.
func highS(sig []byte) []byte {
	out := bytes.Clone(sig)
	s := new(big.Int).SetBytes(sig[32:64])
	new(big.Int).Sub(secpN, s).FillBytes(out[32:64])
	out[64] = 27 + 28 - sig[64]
	return out
}

// testEvent is event i of the test logs: a van's round of positions, door
// openings, deliveries and a temperature probe, at fixed times. A non-empty
// variant adds an extension field, so that logs with different variants
// fork from the first event they write with it.
func testEvent(i uint64, variant string) event.Event {
	lat := 50.8467 + float64(i%97)/10000
	lon := 4.3525 + float64(i%89)/10000
	var kind event.Kind
	var payload string
	switch i % 5 {
	case 0:
		kind, payload = "position", fmt.Sprintf(`{"lat":%v,"lon":%v,"sats":%d,"speed_mps":%v}`, lat, lon, 6+i%7, float64(i%23)/2)
	case 1:
		kind, payload = "door_opened", fmt.Sprintf(`{"door":"rear","lat":%v,"lon":%v}`, lat, lon)
	case 2:
		kind, payload = "delivery", fmt.Sprintf(`{"door":"open","lat":%v,"lon":%v,"parcel":"BE%09d","proof":"scan","zone":"bruxelles-centre"}`, lat, lon, 413000000+i)
	case 3:
		kind, payload = "door_closed", fmt.Sprintf(`{"door":"rear","open_ms":%d}`, 20000+37*(i%101))
	case 4:
		kind, payload = "temperature_excursion", fmt.Sprintf(`{"celsius":%v,"max_c":8,"min_c":2,"probe":"28ff4a1c05000021","state":"start"}`, 8+float64(i%9)/4)
	}
	if variant != "" {
		payload = payload[:len(payload)-1] + `,"x_variant":"` + variant + `"}`
	}
	canon, err := jcs.Canonicalize([]byte(payload))
	if err != nil {
		panic(fmt.Sprintf("test event %d: %v", i, err))
	}
	return event.Event{
		Time:    testStart.Add(time.Duration(i) * 7 * time.Second).UnixMilli(),
		Source:  event.SourceGNSS,
		Kind:    kind,
		Payload: canon,
	}
}
