package ledger

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/watch"
)

const fleet = "city-fleet"

// anchoredLog builds an Anchored event log as the registry emits it.
func anchoredLog(t *testing.T, d *registryDecoder, device event.Address, logID common.Hash, size uint64, root [32]byte, origin string) types.Log {
	t.Helper()
	data, err := d.reg.GetABI().Events["Anchored"].Inputs.NonIndexed().Pack(root, uint64(0), origin)
	if err != nil {
		t.Fatal(err)
	}
	return types.Log{Topics: []common.Hash{d.topic, common.BytesToHash(device[:]), logID, common.BigToHash(new(big.Int).SetUint64(size))}, Data: data}
}

// The registry's events are decoded for allowlisted devices only; an event
// whose origin is not the device's, or of another fleet, or whose logId
// is not its origin's, is an error naming what is wrong.
func TestRegistryDecode(t *testing.T) {
	dev, other := event.Address{0xaa, 1}, event.Address{0xbb, 2}
	r, err := NewRegistry(noCaller{}, common.Address{1}, Config{Devices: []watch.Device{{Address: dev, Fleet: fleet, ChainID: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	d := r.dec.(*registryDecoder)
	origin := signer.Origin(fleet, dev, 7)
	id := crypto.Keccak256Hash([]byte(origin))
	root := [32]byte{9}
	for _, tt := range []struct {
		name    string
		lg      types.Log
		want    []found
		wantErr string
	}{
		{"the device's", anchoredLog(t, d, dev, id, 12, root, origin), []found{{dev, 7, 12, root}}, ""},
		{"another device's", anchoredLog(t, d, other, crypto.Keccak256Hash([]byte(signer.Origin(fleet, other, 0))), 1, root, signer.Origin(fleet, other, 0)), nil, ""},
		{"another event", types.Log{Topics: []common.Hash{{1}}}, nil, ""},
		{"origin of another device", anchoredLog(t, d, dev, id, 12, root, signer.Origin(fleet, other, 7)), nil, "of another device"},
		{"another fleet", anchoredLog(t, d, dev, crypto.Keccak256Hash([]byte(signer.Origin("other", dev, 7))), 12, root, signer.Origin("other", dev, 7)), nil, `fleet "other"`},
		{"logId not the origin's", anchoredLog(t, d, dev, common.Hash{5}, 12, root, origin), nil, "is not keccak256 of origin"},
		{"not an origin", anchoredLog(t, d, dev, id, 12, root, "waybill/x"), nil, "origin"},
		{"data cut", func() types.Log { l := anchoredLog(t, d, dev, id, 12, root, origin); l.Data = l.Data[:40]; return l }(), nil, "event Anchored"},
	} {
		got, err := d.decode(&tt.lg)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
		if len(got) != len(tt.want) || len(got) > 0 && got[0] != tt.want[0] {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// timestampLog builds a TimestampedHashes event log as EBSI's contract
// emits it.
func timestampLog(t *testing.T, d *ebsiDecoder, algs []*big.Int, values, data [][]byte) types.Log {
	t.Helper()
	ids := make([][32]byte, len(values))
	for i, v := range values {
		ids[i] = ebsi.TimestampID(v)
	}
	b, err := ebsi.TimestampABI.Events["TimestampedHashes"].Inputs.Pack(ids, algs, values, data)
	if err != nil {
		t.Fatal(err)
	}
	return types.Log{Topics: []common.Hash{d.event}, Data: b}
}

// Of a TimestampedHashes event, the timestamps that are Waybill anchors of
// an allowlisted device with a verifying note are kept; others of EBSI's
// users are skipped; a note that claims the device and does not verify, or
// a hash value that is not the note's, is an error naming the device.
func TestEBSIDecode(t *testing.T) {
	k, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forger, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dom := signer.Domain{ChainID: 1, Fleet: fleet}
	name := signer.KeyName(fleet, k.Address())
	note := func(signerKey *devkey.Key, size uint64) []byte {
		ss, err := signerKey.NoteSigners(name, dom)
		if err != nil {
			t.Fatal(err)
		}
		n, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: signer.Origin(fleet, k.Address(), 3), Size: size, Root: [32]byte{byte(size)}}, ss...)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	good, forged := note(k, 5), note(forger, 6)
	data := func(n []byte) []byte {
		b, err := ebsi.TimestampData(n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hash := func(n []byte) []byte { h := ebsi.NoteHash(n); return h[:] }
	r, err := NewEBSI(noCaller{}, common.Address{1}, big.NewInt(1), Config{Devices: []watch.Device{{Address: k.Address(), Fleet: fleet, ChainID: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	d := r.dec.(*ebsiDecoder)
	one, two := big.NewInt(1), big.NewInt(2)
	want := found{k.Address(), 3, 5, [32]byte{5}}
	for _, tt := range []struct {
		name    string
		lg      types.Log
		want    []found
		wantErr string
	}{
		{"an anchor", timestampLog(t, d, []*big.Int{one}, [][]byte{hash(good)}, [][]byte{data(good)}), []found{want}, ""},
		{"with others' timestamps", timestampLog(t, d, []*big.Int{one, one, two}, [][]byte{{1, 2}, hash(good), hash(good)}, [][]byte{[]byte(`{"a":1}`), data(good), data(good)}), []found{want}, ""},
		{"another algorithm", timestampLog(t, d, []*big.Int{two}, [][]byte{hash(good)}, [][]byte{data(good)}), nil, ""},
		{"no data", timestampLog(t, d, []*big.Int{one}, [][]byte{hash(good)}, nil), nil, ""},
		{"not a Waybill anchor", timestampLog(t, d, []*big.Int{one}, [][]byte{{7}}, [][]byte{[]byte(`{"note":"x","type":"other"}`)}), nil, ""},
		{"hash of another note", timestampLog(t, d, []*big.Int{one}, [][]byte{hash(forged)}, [][]byte{data(good)}), nil, "is not the SHA-256 of the note"},
		{"forged note", timestampLog(t, d, []*big.Int{one}, [][]byte{hash(forged)}, [][]byte{data(forged)}), nil, "device " + k.Address().String()},
		{"forged beside an anchor", timestampLog(t, d, []*big.Int{one, one}, [][]byte{hash(forged), hash(good)}, [][]byte{data(forged), data(good)}), []found{want}, "timestamp 0"},
		{"data cut", func() types.Log {
			l := timestampLog(t, d, []*big.Int{one}, [][]byte{hash(good)}, [][]byte{data(good)})
			l.Data = l.Data[:100]
			return l
		}(), nil, "TimestampedHashes"},
		{"another event", types.Log{Topics: []common.Hash{{3}}}, nil, ""},
	} {
		got, err := d.decode(&tt.lg)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
		if len(got) != len(tt.want) || len(got) > 0 && got[0] != tt.want[0] {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// noCaller is a node the decoders' tests never call.
type noCaller struct{}

func (noCaller) CallContext(_ context.Context, _ any, method string, _ ...any) error {
	return errors.New("no node: " + method)
}
