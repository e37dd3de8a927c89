package signer

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/waybill-eu/waybill/agent/event"
)

const testScalar = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func testKey(t testing.TB) *Key {
	priv, err := crypto.HexToECDSA(testScalar)
	if err != nil {
		t.Fatal(err)
	}
	return NewKey(priv)
}

var dom = Domain{ChainID: 1337, Fleet: "demo"}

func testEvent(k *Key) event.Event {
	return event.Event{Device: k.Address(), Epoch: 1, Seq: 7, Time: 1795766400000, Source: event.SourceGNSS,
		Kind: "delivery", Payload: []byte(`{"parcel":"04A13C2F"}`)}
}

// go-ethereum's EIP-712 implementation is the independent oracle.
func gethTypedData(d Domain, primary string, msg apitypes.TypedDataMessage) apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "salt", Type: "bytes32"}},
			"WaybillEvent": {{Name: "device", Type: "address"}, {Name: "epoch", Type: "uint32"}, {Name: "seq", Type: "uint64"},
				{Name: "time", Type: "uint64"}, {Name: "timeSource", Type: "string"}, {Name: "kind", Type: "string"},
				{Name: "payload", Type: "string"}},
			"WaybillCheckpoint": {{Name: "origin", Type: "string"}, {Name: "size", Type: "uint64"}, {Name: "root", Type: "bytes32"}},
		},
		PrimaryType: primary,
		Domain: apitypes.TypedDataDomain{Name: "Waybill", Version: "1",
			ChainId: (*math.HexOrDecimal256)(new(big.Int).SetUint64(d.ChainID)),
			Salt:    hexutil.Encode(crypto.Keccak256([]byte(d.Fleet)))},
		Message: msg,
	}
}

func TestEventDigest_MatchesGoEthereum(t *testing.T) {
	k := testKey(t)
	e := testEvent(k)
	td := gethTypedData(dom, "WaybillEvent", apitypes.TypedDataMessage{
		"device": common.Address(e.Device).Hex(), "epoch": "1", "seq": "7", "time": "1795766400000",
		"timeSource": "gnss", "kind": "delivery", "payload": string(e.Payload)})
	want, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	if got := EventDigest(dom, &e); common.BytesToHash(got[:]) != common.BytesToHash(want) {
		t.Fatalf("EventDigest = %x, go-ethereum says %x", got, want)
	}
}

func TestCheckpointDigest_MatchesGoEthereum(t *testing.T) {
	root := [32]byte{1, 2, 3}
	td := gethTypedData(dom, "WaybillCheckpoint", apitypes.TypedDataMessage{
		"origin": "waybill/demo/0xabc/0", "size": "162", "root": hexutil.Encode(root[:])})
	want, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	if got := CheckpointDigest(dom, "waybill/demo/0xabc/0", 162, root); common.BytesToHash(got[:]) != common.BytesToHash(want) {
		t.Fatalf("CheckpointDigest = %x, go-ethereum says %x", got, want)
	}
}

func TestSignEvent_RecoverAndReplay(t *testing.T) {
	k := testKey(t)
	s, err := k.SignEvent(dom, testEvent(k))
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Sig[64]; v != 27 && v != 28 {
		t.Fatalf("v = %d", v)
	}
	if err := VerifyEvent(dom, s); err != nil {
		t.Fatalf("VerifyEvent: %v", err)
	}
	replays := map[string]func() (Domain, *event.Signed){
		"other chain": func() (Domain, *event.Signed) { return Domain{ChainID: 1, Fleet: "demo"}, s },
		"other fleet": func() (Domain, *event.Signed) { return Domain{ChainID: 1337, Fleet: "other"}, s },
		"other device": func() (Domain, *event.Signed) {
			c := *s
			c.Device[0] ^= 1
			return dom, &c
		},
		"other seq": func() (Domain, *event.Signed) {
			c := *s
			c.Seq++
			return dom, &c
		},
		"other epoch": func() (Domain, *event.Signed) {
			c := *s
			c.Epoch++
			return dom, &c
		},
		"high s": func() (Domain, *event.Signed) {
			c := *s
			n := crypto.S256().Params().N
			hs := new(big.Int).Sub(n, new(big.Int).SetBytes(c.Sig[32:64]))
			hs.FillBytes(c.Sig[32:64])
			c.Sig[64] ^= 1 // 27 <-> 28: the same signature, malleated
			return dom, &c
		},
		"v 0": func() (Domain, *event.Signed) {
			c := *s
			c.Sig[64] -= 27
			return dom, &c
		},
	}
	for name, f := range replays {
		d, c := f()
		if err := VerifyEvent(d, c); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: VerifyEvent = %v, want ErrSignature", name, err)
		}
	}
}

func TestNoteSigner_Checkpoint(t *testing.T) {
	k := testKey(t)
	name := "waybill/demo/" + k.Address().String()
	ns, err := k.NoteSigner(name, dom)
	if err != nil {
		t.Fatal(err)
	}
	text := []byte(name + "/0\n5\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	sig, err := ns.Sign(text)
	if err != nil {
		t.Fatal(err)
	}
	v := NoteVerifier(name, k.Address(), dom)
	if v.KeyID() != ns.KeyID() || !v.Verify(text, sig) {
		t.Fatal("NoteVerifier rejects the NoteSigner's signature")
	}
	if NoteVerifier(name, k.Address(), Domain{ChainID: 5, Fleet: "demo"}).Verify(text, sig) {
		t.Fatal("signature verified under another chain")
	}
	if _, err := ns.Sign([]byte("not a checkpoint\n")); err == nil {
		t.Fatal("NoteSigner signed a non-checkpoint text")
	}
}

func TestDomain_Validate(t *testing.T) {
	for _, d := range []Domain{{0, "demo"}, {1, ""}, {1, "Demo"}, {1, "-x"}, {1, "a b"}} {
		if d.Validate() == nil {
			t.Errorf("Domain %+v validated", d)
		}
	}
	if err := dom.Validate(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSignEvent(b *testing.B) {
	k := testKey(b)
	e := testEvent(k)
	for b.Loop() {
		if _, err := k.SignEvent(dom, e); err != nil {
			b.Fatal(err)
		}
	}
}
