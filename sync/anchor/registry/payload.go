package registry

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// Payload makes the calldata of an anchor through the registry contract at
// Contract: anchor(device, fleet, epoch, size, root, sig, consistency), with
// the secp256k1 EIP-712 signature taken from the note's line by the
// device's secp256k1 key (selected by key name and key ID, wherever it is
// among the lines; PROTOCOL.md §7) and the consistency proof from the
// previous anchor.
// It implements evmtx.Payload.
type Payload struct {
	Contract common.Address
	Domain   signer.Domain // the device's signing domain (fleet and chain)
	Device   event.Address
}

// PayloadName implements evmtx.Named: anchor.PayloadRegistry.
func (Payload) PayloadName() string { return anchor.PayloadRegistry }

// Calldata implements evmtx.Payload.
func (p Payload) Calldata(_ context.Context, req anchor.Request) (common.Address, []byte, error) {
	args, err := AnchorArgs(req.Note, p.Domain, p.Device)
	if err != nil {
		return common.Address{}, nil, err
	}
	proof := make([][32]byte, len(req.Consistency))
	for i, h := range req.Consistency {
		proof[i] = h
	}
	if req.Prev == nil {
		proof = nil
	}
	data, err := NewWaybillRegistry().TryPackAnchor(common.Address(p.Device), p.Domain.Fleet, args.Epoch, args.Size, args.Root, args.Sig, proof)
	if err != nil {
		return common.Address{}, nil, fmt.Errorf("registry: pack anchor: %w", err)
	}
	return p.Contract, data, nil
}

// Args are the checkpoint's arguments of an anchor call.
type Args struct {
	Epoch uint32
	Size  uint64
	Root  [32]byte
	Sig   []byte // 65 bytes r ‖ s ‖ v
}

// AnchorArgs opens a signed checkpoint note of device in domain d and
// returns what the contract's anchor takes: the epoch of its origin, its size
// and root, and the secp256k1 EIP-712 signature of its line by the device's
// secp256k1 key (selected by key name and key ID, not by position).
func AnchorArgs(note []byte, d signer.Domain, device event.Address) (Args, error) {
	v := signer.NoteVerifier(signer.KeyName(d.Fleet, device), device, d)
	c, n, err := checkpoint.OpenCheckpoint(note, v)
	if err != nil {
		return Args{}, fmt.Errorf("registry: checkpoint note: %w", err)
	}
	var sig []byte
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.KeyID == v.KeyID() {
			sig = s.Sig
		}
	}
	if len(sig) != 65 {
		return Args{}, fmt.Errorf("registry: checkpoint note has no secp256k1 signature line")
	}
	slash := strings.LastIndexByte(c.Origin, '/')
	epoch, err := strconv.ParseUint(c.Origin[slash+1:], 10, 32)
	if err != nil || c.Origin != signer.Origin(d.Fleet, device, uint32(epoch)) {
		return Args{}, fmt.Errorf("registry: checkpoint origin %q is not the device's", c.Origin)
	}
	return Args{Epoch: uint32(epoch), Size: c.Size, Root: c.Root, Sig: sig}, nil
}

// SignedEvent converts a signed event to the contract's struct, for
// verifyEvent.
func SignedEvent(s *event.Signed) WaybillRegistrySignedEvent {
	return WaybillRegistrySignedEvent{Device: common.Address(s.Device), Epoch: s.Epoch, Seq: s.Seq, Time: uint64(s.Time),
		TimeSource: string(s.Source), Kind: string(s.Kind), Payload: s.Payload, Sig: s.Sig[:]}
}
