package ledger

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/watch"
)

// NewRegistry returns a reader of the Anchored events of the Waybill
// registry contract at contract (CONTRACT.md), through the node c. Its first
// Poll checks that the code at contract is exactly the committed registry's
// (registry.VerifyCode): another contract could emit the same event for
// checkpoints no device signed. It contacts nothing itself.
func NewRegistry(c Caller, contract common.Address, cfg Config) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	devs, err := allowlist(cfg.Devices)
	if err != nil {
		return nil, err
	}
	reg := registry.NewWaybillRegistry()
	return newReader(c, contract, cfg, &registryDecoder{
		reg: reg, contract: contract, devices: devs, topic: reg.GetABI().Events["Anchored"].ID, maxTopics: cfg.MaxTopics,
	})
}

// allowlist indexes the devices by address, refusing a device listed twice
// or with an invalid domain.
func allowlist(ds []watch.Device) (map[event.Address]watch.Device, error) {
	m := make(map[event.Address]watch.Device, len(ds))
	for _, d := range ds {
		if _, dup := m[d.Address]; dup {
			return nil, fmt.Errorf("ledger: device %s is listed twice", d.Address)
		}
		if err := (signer.Domain{ChainID: d.ChainID, Fleet: d.Fleet}).Validate(); err != nil {
			return nil, fmt.Errorf("ledger: device %s: %w", d.Address, err)
		}
		m[d.Address] = d
	}
	return m, nil
}

type registryDecoder struct {
	reg       *registry.WaybillRegistry
	contract  common.Address
	devices   map[event.Address]watch.Device
	topic     common.Hash
	maxTopics int
}

func (*registryDecoder) source() string { return anchor.PayloadRegistry }

func (d *registryDecoder) check(ctx context.Context, c Caller) error {
	if _, err := registry.VerifyCode(ctx, codeReader{c}, d.contract); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// topics asks for the Anchored events whose indexed device is an
// allowlisted one; with more than MaxTopics devices, for every Anchored
// event of the contract (one query rather than many; decode keeps the
// allowlisted devices' ones).
func (d *registryDecoder) topics() [][][]common.Hash {
	if len(d.devices) > d.maxTopics {
		return [][][]common.Hash{{{d.topic}}}
	}
	all := make([]common.Hash, 0, len(d.devices))
	for a := range d.devices {
		all = append(all, common.BytesToHash(a[:]))
	}
	return [][][]common.Hash{{{d.topic}, all}}
}

func (d *registryDecoder) decode(lg *types.Log) ([]found, error) {
	if len(lg.Topics) == 0 || lg.Topics[0] != d.topic {
		return nil, nil
	}
	ev, err := d.reg.UnpackAnchoredEvent(lg)
	if err != nil {
		return nil, fmt.Errorf("event Anchored: %w", err)
	}
	dev, ok := d.devices[event.Address(ev.Device)]
	if !ok {
		return nil, nil
	}
	fleet, device, epoch, err := signer.ParseOrigin(ev.Origin)
	switch {
	case err != nil:
		return nil, fmt.Errorf("event Anchored of %s: origin %q: %v", dev.Address, ev.Origin, err)
	case device != dev.Address:
		return nil, fmt.Errorf("event Anchored of %s names origin %q of another device", dev.Address, ev.Origin)
	case crypto.Keccak256Hash([]byte(ev.Origin)) != ev.LogId:
		return nil, fmt.Errorf("event Anchored of %s: logId %x is not keccak256 of origin %q", dev.Address, ev.LogId, ev.Origin)
	case fleet != dev.Fleet:
		return nil, fmt.Errorf("event Anchored of %s: origin %q is of fleet %q, the allowlist's is %q", dev.Address, ev.Origin, fleet, dev.Fleet)
	}
	return []found{{device: dev.Address, epoch: epoch, size: ev.Size, root: ev.Root}}, nil
}

// codeReader is registry.CodeReader over a Caller: eth_getCode at the
// latest block.
type codeReader struct{ c Caller }

func (r codeReader) CodeAt(ctx context.Context, a common.Address, _ *big.Int) ([]byte, error) {
	var code hexutil.Bytes
	if err := r.c.CallContext(ctx, &code, "eth_getCode", a, "latest"); err != nil {
		return nil, err
	}
	return code, nil
}
