package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

func cmdVerify(ctx context.Context, e *env, args []string) error {
	f := newFlags("verify", e)
	device := f.String("device", "", "require events from this device address")
	fleet := f.String("fleet", "", "require this fleet in the signing domain")
	chainID := f.Uint64("chain-id", 0, "require this chain ID in the signing domain")
	vkey := f.String("vkey", "", "also require the checkpoint's Ed25519 signature by this verifier key (name+hash+key)")
	rpcURL := f.String("rpc", "", "also require the checkpoint to be anchored on the ledger at this JSON-RPC URL")
	contract := f.String("contract", "", "with --rpc: the Waybill registry contract address")
	confs := f.Uint64("confirmations", 1, "with --rpc: the confirmations the anchoring block must have")
	consFile := f.String("consistency", "", "with --rpc: a consistency proof (waybill log consistency) from the bundle's checkpoint to a later, anchored one")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	if (*rpcURL == "") != (*contract == "") {
		return usageError{"verify: --rpc and --contract go together"}
	}
	if *contract != "" && !common.IsHexAddress(*contract) {
		return usageError{fmt.Sprintf("verify: --contract %q is not an address", *contract)}
	}
	if *consFile != "" && *rpcURL == "" {
		return usageError{"verify: --consistency needs --rpc"}
	}
	var o verify.Options
	if *device != "" {
		a, err := event.ParseAddress(*device)
		if err != nil {
			return usageError{fmt.Sprintf("verify: --device: %v", err)}
		}
		o.Device = &a
	}
	o.Fleet, o.ChainID = *fleet, *chainID
	if *vkey != "" {
		v, err := checkpoint.ParseVerifierKey(*vkey)
		if err != nil {
			return usageError{fmt.Sprintf("verify: --vkey: %v", err)}
		}
		o.Verifiers = append(o.Verifiers, v)
	}
	var data []byte
	var err error
	if name := f.Arg(0); name == "-" {
		data, err = io.ReadAll(io.LimitReader(e.stdin, 2<<20))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return exitError{2, fmt.Errorf("verify: %w", err)}
	}
	b, err := verify.ParseBundle(data)
	if err != nil {
		return exitError{1, fmt.Errorf("INVALID: %w", err)}
	}
	if err := b.Verify(o); err != nil {
		return exitError{1, fmt.Errorf("INVALID: %w", err)}
	}
	fmt.Fprintf(e.stdout, "OK: event %d of %s is signed by its device and included in the checkpoint of size %d\n",
		b.Index, b.Checkpoint.Origin, b.Checkpoint.Size)
	if *rpcURL == "" {
		return nil
	}
	size, root := b.Checkpoint.Size, [32]byte(b.Checkpoint.Root)
	if *consFile != "" {
		cb, err := os.ReadFile(*consFile)
		if err != nil {
			return exitError{2, fmt.Errorf("verify: %w", err)}
		}
		c, err := verify.ParseConsistency(cb)
		if err == nil {
			err = c.Verify()
		}
		if err == nil && (c.OldSize != size || c.OldRoot != b.Checkpoint.Root) {
			err = fmt.Errorf("the consistency proof starts at size %d, not at the bundle's checkpoint (size %d)", c.OldSize, size)
		}
		if err != nil {
			return exitError{1, fmt.Errorf("INVALID: consistency: %w", err)}
		}
		size, root = c.NewSize, [32]byte(c.NewRoot)
	}
	client, err := ethclient.DialContext(ctx, *rpcURL)
	if err != nil {
		return exitError{2, fmt.Errorf("verify: --rpc: %w", err)}
	}
	defer client.Close()
	a, err := registry.CheckAnchored(ctx, client, common.HexToAddress(*contract), b.Checkpoint.Origin, size, root, *confs)
	if err != nil {
		if errors.Is(err, registry.ErrNotAnchored) || errors.Is(err, registry.ErrRootDiffers) || errors.Is(err, registry.ErrTooFewConfirmations) {
			return exitError{1, fmt.Errorf("NOT ANCHORED: %w", err)}
		}
		return exitError{2, fmt.Errorf("verify: ledger: %w", err)}
	}
	fmt.Fprintf(e.stdout, "OK: the checkpoint of size %d is anchored in block %d (%s, transaction %s), %d confirmations\n",
		size, a.Block, a.BlockHash.Hex(), a.TxHash.Hex(), a.Confirmations)
	return nil
}
