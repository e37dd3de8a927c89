package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/watch"
)

// NewEBSI returns a reader of the timestamps of EBSI's Timestamp contract
// at contract (EBSI.md), through c, a JSON-RPC client of EBSI's Ledger API
// (its proxy of the Besu nodes' eth_* methods, for example
// https://api-pilot.ebsi.eu/ledger/v4/blockchains/besu, dialled with
// rpc.DialOptions; reading needs no access token).
// hashAlgorithmID is EBSI's id of sha2-256. cfg.Finality should be QBFT,
// its zero value.
//
// The Timestamp contract is shared by every EBSI user and its event
// indexes nothing, so the reader reads every TimestampedHashes event and
// keeps the timestamps that are Waybill anchors (ebsi.ParseTimestampData)
// whose hash value is the SHA-256 of their checkpoint note (ebsi.NoteHash)
// and whose note verifies (verify.VerifyNote) for an allowlisted device: its
// secp256k1 line in the device's domain and, when the allowlist gives one,
// its Ed25519 note key's line. Whoever sent the transaction, such a
// timestamp anchors the device's checkpoint.
func NewEBSI(c Caller, contract common.Address, hashAlgorithmID *big.Int, cfg Config) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if hashAlgorithmID == nil || hashAlgorithmID.Sign() < 0 {
		return nil, fmt.Errorf("ledger: EBSI hash algorithm id %v: want EBSI's id of sha2-256", hashAlgorithmID)
	}
	devs, err := allowlist(cfg.Devices)
	if err != nil {
		return nil, err
	}
	vs := make(map[event.Address][]checkpoint.Verifier, len(devs))
	for a, d := range devs {
		if d.NoteKey == "" {
			continue
		}
		v, err := checkpoint.ParseVerifierKey(d.NoteKey)
		if err != nil {
			return nil, fmt.Errorf("ledger: device %s: note key: %w", a, err)
		}
		vs[a] = []checkpoint.Verifier{v}
	}
	ev := ebsi.TimestampABI.Events["TimestampedHashes"]
	return newReader(c, contract, cfg, &ebsiDecoder{
		alg: new(big.Int).Set(hashAlgorithmID), devices: devs, verifiers: vs, event: ev.ID,
		unpack: func(data []byte) ([]any, error) { return ev.Inputs.Unpack(data) },
	})
}

type ebsiDecoder struct {
	alg       *big.Int
	devices   map[event.Address]watch.Device
	verifiers map[event.Address][]checkpoint.Verifier
	event     common.Hash
	unpack    func([]byte) ([]any, error)
}

func (*ebsiDecoder) source() string { return anchor.PayloadEBSI }

// check has nothing to check: EBSI's contracts are audited templates that
// the operator names, and every record's note is verified on its own.
func (*ebsiDecoder) check(context.Context, Caller) error { return nil }

func (d *ebsiDecoder) topics() [][][]common.Hash { return [][][]common.Hash{{{d.event}}} }

// decode keeps the log's timestamps that anchor an allowlisted device's
// checkpoint. A timestamp of anything else (EBSI is shared) is skipped
// silently; one that claims an allowlisted device but does not verify is
// reported as an error, naming the device.
func (d *ebsiDecoder) decode(lg *types.Log) ([]found, error) {
	if len(lg.Topics) == 0 || lg.Topics[0] != d.event {
		return nil, nil
	}
	vals, err := d.unpack(lg.Data)
	if err != nil {
		return nil, fmt.Errorf("TimestampedHashes event: %w", err)
	}
	algs, ok1 := vals[1].([]*big.Int)
	values, ok2 := vals[2].([][]byte)
	data, ok3 := vals[3].([][]byte)
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("TimestampedHashes event: unexpected argument types")
	}
	var out []found
	var errs []error
	for i, v := range values {
		if i >= len(algs) || i >= len(data) || algs[i].Cmp(d.alg) != 0 {
			continue
		}
		f, err := d.timestamp(v, data[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("timestamp %d: %w", i, err))
			continue
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out, errors.Join(errs...)
}

// timestamp returns the anchor one timestamp makes, nil if it is not a
// Waybill anchor of an allowlisted device.
func (d *ebsiDecoder) timestamp(value, data []byte) (*found, error) {
	note, err := ebsi.ParseTimestampData(data)
	if err != nil {
		return nil, nil // not a Waybill anchor
	}
	text, _, ok := bytes.Cut(note, []byte("\n\n"))
	if !ok {
		return nil, nil
	}
	c, err := checkpoint.ParseCheckpoint(append(text, '\n'))
	if err != nil {
		return nil, nil
	}
	_, device, _, err := signer.ParseOrigin(c.Origin)
	if err != nil {
		return nil, nil
	}
	dev, ok := d.devices[device]
	if !ok {
		return nil, nil
	}
	if h := ebsi.NoteHash(note); !bytes.Equal(value, h[:]) {
		return nil, fmt.Errorf("device %s: the hash value %x is not the SHA-256 of the note, %x", device, value, h)
	}
	n, err := verify.VerifyNote(note, verify.Options{Device: &dev.Address, Fleet: dev.Fleet, ChainID: dev.ChainID, Verifiers: d.verifiers[device]})
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", device, err)
	}
	return &found{device: n.Device, epoch: n.Epoch, size: n.Checkpoint.Size, root: n.Checkpoint.Root}, nil
}
