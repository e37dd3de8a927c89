package ledger_test

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/ebsitest"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/ledger"
)

// did is the operator's DID in the stand-in's DID registry.
const did = "did:ebsi:zWaybillCityWatchTest"

// ebsiRig is a device anchoring through EBSI's Timestamp API (the
// stand-in), and a forger with a funded account of its own.
type ebsiRig struct {
	t      testing.TB
	srv    *ebsitest.Server
	dev    *device
	forger *ecdsa.PrivateKey
}

func newEBSIRig(t testing.TB) *ebsiRig {
	t.Helper()
	d := newDevice(t)
	forger, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := common.Address(d.address())
	srv, err := ebsitest.Start(ebsitest.Options{Fund: []common.Address{addr, crypto.PubkeyToAddress(forger.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.RegisterDID(did, addr)
	be, err := ebsi.New(ebsi.Options{
		Endpoint: srv.TimestampURL(), APIVersion: "v4", Token: srv.TokenSource(did, ebsitest.Scope, 2*time.Hour),
		Signer: evmtx.KeySigner(d.key.ECDSA()), ChainID: big.NewInt(ebsitest.ChainID),
		HashAlgorithmID: big.NewInt(ebsitest.SHA256AlgorithmID), Contract: srv.Contract, HTTPClient: srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := anchor.Open(filepath.Join(t.TempDir(), "anchor.db"), d.log, be, &anchor.Options{
		Every: 1, Interval: 24 * time.Hour, Finality: anchor.QBFT, Checkpoint: d.log.Checkpoint, Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	d.a = a
	return &ebsiRig{t: t, srv: srv, dev: d, forger: forger}
}

// anchorOnce appends n events and carries their anchor to confirmed.
func (r *ebsiRig) anchorOnce(n int) anchor.Anchor {
	r.t.Helper()
	r.dev.appendEvents(n)
	r.dev.step()
	an := r.dev.inFlight()
	r.srv.Commit()
	r.dev.step()
	for _, got := range anchors(r.t, r.dev) {
		if got.ID == an.ID && got.State == anchor.StateConfirmed {
			return got
		}
	}
	r.t.Fatalf("anchor %d is not confirmed after a block", an.ID)
	return anchor.Anchor{}
}

// timestamp has the forger timestamp note as a Waybill anchor would, in a
// transaction of its own, sealed in a block; it returns the transaction.
func (r *ebsiRig) timestamp(note []byte) common.Hash {
	r.t.Helper()
	ctx := context.Background()
	h, err := ebsi.CheckpointHashes(note, big.NewInt(ebsitest.SHA256AlgorithmID))
	if err != nil {
		r.t.Fatal(err)
	}
	data, err := h.Calldata()
	if err != nil {
		r.t.Fatal(err)
	}
	c := r.srv.Sim.Client()
	from := crypto.PubkeyToAddress(r.forger.PublicKey)
	nonce, err := c.PendingNonceAt(ctx, from)
	if err != nil {
		r.t.Fatal(err)
	}
	price, err := c.SuggestGasPrice(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	to := r.srv.Contract
	tx, err := types.SignTx(types.NewTx(&types.LegacyTx{Nonce: nonce, GasPrice: price, Gas: 2_000_000, To: &to, Data: data}),
		types.LatestSignerForChainID(r.srv.ChainID), r.forger)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.SendTransaction(ctx, tx); err != nil {
		r.t.Fatal(err)
	}
	r.srv.Commit()
	rc, err := c.TransactionReceipt(ctx, tx.Hash())
	if err != nil || rc.Status != types.ReceiptStatusSuccessful {
		r.t.Fatalf("forger's timestamp: %v", err)
	}
	return tx.Hash()
}

// ledgerClient dials the stand-in's Ledger API as a watcher dials EBSI's.
func (r *ebsiRig) ledgerClient() *rpc.Client {
	r.t.Helper()
	c, err := rpc.DialOptions(context.Background(), r.srv.LedgerURL(), rpc.WithHTTPClient(r.srv.HTTPClient()))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(c.Close)
	return c
}

// The device's anchors through EBSI's Timestamp API, read back over the
// Ledger API: reported with the device's checkpoint, final under QBFT. A
// note claiming the device's origin but signed by another key, and a
// valid checkpoint of a device not in the allowlist, are not; the
// device's own note timestamped again by someone else is an anchor of its
// checkpoint too, in that transaction.
func TestEBSI_ReadsTimestamps(t *testing.T) {
	r := newEBSIRig(t)
	d := r.dev
	a1 := r.anchorOnce(3)

	// A forgery: the device's origin and key names, another key.
	fk, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dom := signer.Domain{ChainID: ebsitest.ChainID, Fleet: testFleet}
	signers, err := fk.NoteSigners(signer.KeyName(testFleet, d.address()), dom)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{Origin: signer.Origin(testFleet, d.address(), 0), Size: 99, Root: [32]byte{1}}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	r.timestamp(forged)
	// A genuine checkpoint of a device nobody trusts.
	other, err := eventlog.Open(context.Background(), filepath.Join(t.TempDir(), "other"), &eventlog.Options{
		Keys: fk, Create: &eventlog.Identity{Device: fk.Address(), Fleet: testFleet, ChainID: ebsitest.ChainID}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	(&device{t: t, log: other}).appendEvents(2)
	otherNote, _, err := other.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.timestamp(otherNote)
	// The device's own note, timestamped again by a relayer.
	replay := r.timestamp(a1.Note)
	replayBlock := r.srv.Sim.Client()
	a2 := r.anchorOnce(2)

	noteKey, err := d.key.VerifierKey(signer.KeyName(testFleet, d.address()))
	if err != nil {
		t.Fatal(err)
	}
	trusted := watch.Device{Address: d.address(), Fleet: testFleet, ChainID: ebsitest.ChainID, NoteKey: noteKey}
	rd, err := ledger.NewEBSI(r.ledgerClient(), r.srv.Contract, big.NewInt(ebsitest.SHA256AlgorithmID),
		ledger.Config{Devices: []watch.Device{trusted}, ChainID: ebsitest.ChainID, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rd.Source() != anchor.PayloadEBSI {
		t.Errorf("Source() = %q", rd.Source())
	}
	got, cur := poll(t, rd, ledger.Cursor{})
	head, err := replayBlock.BlockNumber(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := replayBlock.TransactionReceipt(context.Background(), replay)
	if err != nil {
		t.Fatal(err)
	}
	want := func(an anchor.Anchor, block uint64, tx [32]byte) watch.Anchor {
		return watch.Anchor{Device: d.address(), Epoch: 0, Size: an.Size, Root: an.Root, ChainID: ebsitest.ChainID,
			Block: block, Tx: tx, Confirmations: head - block + 1, Final: true, Source: anchor.PayloadEBSI}
	}
	equalAnchors(t, "EBSI", got, []watch.Anchor{
		want(a1, a1.BlockNumber, a1.Attempts[a1.Included].Hash),
		want(a1, rcpt.BlockNumber.Uint64(), replay),
		want(a2, a2.BlockNumber, a2.Attempts[a2.Included].Hash),
	})
	if cur.Next != head+1 {
		t.Errorf("cursor %v, want next %d", cur, head+1)
	}

	// A watcher that has no note key for the device checks the secp256k1
	// line alone, and reads the same.
	trusted.NoteKey = ""
	rd2, err := ledger.NewEBSI(r.ledgerClient(), r.srv.Contract, big.NewInt(ebsitest.SHA256AlgorithmID),
		ledger.Config{Devices: []watch.Device{trusted}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	got2, _ := poll(t, rd2, ledger.Cursor{})
	equalAnchors(t, "without note key", got2, got)

	// With a note key of another device, no note verifies.
	trusted.NoteKey, err = fk.VerifierKey(signer.KeyName(testFleet, d.address()))
	if err != nil {
		t.Fatal(err)
	}
	rd3, err := ledger.NewEBSI(r.ledgerClient(), r.srv.Contract, big.NewInt(ebsitest.SHA256AlgorithmID),
		ledger.Config{Devices: []watch.Device{trusted}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if got3, _ := poll(t, rd3, ledger.Cursor{}); len(got3) != 0 {
		t.Errorf("with another key's note key: %+v", got3)
	}
}

// NewEBSI refuses a missing hash algorithm and a note key that does not
// parse.
func TestEBSI_Errors(t *testing.T) {
	dev := watch.Device{Address: [20]byte{1}, Fleet: testFleet, ChainID: 1}
	contract := common.Address{2}
	if _, err := ledger.NewEBSI(&faultClient{}, contract, nil, ledger.Config{Devices: []watch.Device{dev}}); err == nil {
		t.Error("nil hash algorithm id accepted")
	}
	dev.NoteKey = "not a key"
	if _, err := ledger.NewEBSI(&faultClient{}, contract, big.NewInt(1), ledger.Config{Devices: []watch.Device{dev}}); err == nil {
		t.Error("bad note key accepted")
	} else {
		t.Log(err)
	}
}
