package evmtx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// Both go-ethereum clients satisfy Client.
var (
	_ Client = (*ethclient.Client)(nil)
	_ Client = simulated.Client(nil)
)

// vectorKeyHex is the relayer scalar of ANCHORING.md §7's vector.
const vectorKeyHex = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"

// docVector returns the evidence vector of firmware-docs/ANCHORING.md.
func docVector(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../../firmware-docs/ANCHORING.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- evidence vector -->\n```json\n")
	if !ok {
		t.Fatal("ANCHORING.md has no evidence vector block")
	}
	v, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("ANCHORING.md: evidence vector block not closed")
	}
	return []byte(v)
}

func TestEvidenceVector(t *testing.T) {
	vec := docVector(t)
	e, err := anchor.ParseEvidence(vec)
	if err != nil {
		t.Fatalf("ParseEvidence(vector) = %v", err)
	}
	again, err := e.Format()
	if err != nil || !bytes.Equal(again, vec) {
		t.Fatalf("Format(ParseEvidence(vector)) differs from the vector (err %v):\n%s", err, again)
	}
	k, err := crypto.HexToECDSA(vectorKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	relayer := crypto.PubkeyToAddress(k.PublicKey)
	from, err := VerifyEvidence(context.Background(), e, NotePayload{To: relayer})
	if err != nil {
		t.Fatalf("VerifyEvidence(vector) = %v", err)
	}
	if from != relayer {
		t.Fatalf("sender = %s, want %s", from, relayer)
	}

	// The vector is built from PROTOCOL.md §10's files.
	note, err := os.ReadFile("../../../firmware-docs/testdata/checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Note, note) {
		t.Error("vector note differs from testdata/checkpoint.note")
	}
	var cons struct {
		Consistency []string `json:"consistency"`
		OldRoot     string   `json:"old_root"`
		OldSize     uint64   `json:"old_size"`
	}
	b, err := os.ReadFile("../../../firmware-docs/testdata/consistency.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cons); err != nil {
		t.Fatal(err)
	}
	if e.PrevSize != cons.OldSize || base64.StdEncoding.EncodeToString(e.PrevRoot[:]) != cons.OldRoot || len(e.Consistency) != len(cons.Consistency) {
		t.Fatal("vector's previous checkpoint and proof differ from testdata/consistency.json")
	}
	for i, h := range e.Consistency {
		if base64.StdEncoding.EncodeToString(h[:]) != cons.Consistency[i] {
			t.Errorf("consistency[%d] differs from testdata/consistency.json", i)
		}
	}
	device := event.Address(common.HexToAddress("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"))
	v := signer.NoteVerifier(signer.KeyName("demo", device), device, signer.Domain{ChainID: 1337, Fleet: "demo"})
	if _, _, err := checkpoint.OpenCheckpoint(e.Note, v); err != nil {
		t.Errorf("vector note does not verify with the device key: %v", err)
	}
	// The raw transaction rebuilds from its parameters: signing is deterministic.
	var tx types.Transaction
	if err := tx.UnmarshalBinary(e.RawTx); err != nil {
		t.Fatal(err)
	}
	rebuilt := types.MustSignNewTx(k, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: 0, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(3e9),
		Gas: 60000, To: &relayer, Data: note,
	})
	if rebuilt.Hash() != tx.Hash() {
		t.Errorf("rebuilt transaction %s, vector has %s", rebuilt.Hash(), tx.Hash())
	}
}

// Every field the evidence binds is checked: a change anywhere is refused.
func TestVerifyEvidence_Tampered(t *testing.T) {
	vec := docVector(t)
	k, _ := crypto.HexToECDSA(vectorKeyHex)
	relayer := crypto.PubkeyToAddress(k.PublicKey)
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}
	setReceipt := func(member, value string) func(*anchor.Evidence) {
		return func(e *anchor.Evidence) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(e.Receipt, &m); err != nil {
				t.Fatal(err)
			}
			m[member] = json.RawMessage(value)
			e.Receipt, _ = json.Marshal(m)
		}
	}
	tests := []struct {
		name    string
		mutate  func(*anchor.Evidence)
		payload Payload
		want    string
	}{
		{"root", func(e *anchor.Evidence) { e.Root[0] ^= 1 }, nil, "note is the checkpoint"},
		{"size", func(e *anchor.Evidence) { e.Size = 6 }, nil, "note is the checkpoint"},
		{"origin", func(e *anchor.Evidence) { e.Origin += "1" }, nil, "note is the checkpoint"},
		{"note byte", func(e *anchor.Evidence) { e.Note = flip(e.Note, 70) }, nil, "note"},
		{"prev root", func(e *anchor.Evidence) { e.PrevRoot[3] ^= 1 }, nil, "consistency"},
		{"prev size", func(e *anchor.Evidence) { e.PrevSize = 3 }, nil, "consistency"},
		{"proof hash", func(e *anchor.Evidence) { e.Consistency[1][0] ^= 1 }, nil, "consistency"},
		{"raw tx signature", func(e *anchor.Evidence) { e.RawTx = flip(e.RawTx, len(e.RawTx)-2) }, nil, ""},
		{"raw tx data", func(e *anchor.Evidence) { e.RawTx = flip(e.RawTx, 100) }, nil, "hashes to"},
		{"tx hash", func(e *anchor.Evidence) { e.TxHash[0] ^= 1 }, nil, "hashes to"},
		{"ledger", func(e *anchor.Evidence) { e.Ledger = "eip155:1" }, nil, "ledger"},
		{"no ledger", func(e *anchor.Evidence) { e.Ledger = "" }, nil, "ledger"},
		{"block hash", func(e *anchor.Evidence) { e.BlockHash[31] ^= 1 }, nil, "names block"},
		{"block number", func(e *anchor.Evidence) { e.BlockNumber = 2 }, nil, "block number"},
		{"receipt status", setReceipt("status", `"0x0"`), nil, "failed"},
		{"receipt transaction", setReceipt("transactionHash", `"0x0000000000000000000000000000000000000000000000000000000000000001"`), nil, "receipt is for"},
		{"receipt not JSON", func(e *anchor.Evidence) { e.Receipt = []byte("{") }, nil, "receipt"},
		{"payload destination", func(*anchor.Evidence) {}, NotePayload{To: common.Address{1}}, "goes to"},
		{"evidence destination", func(e *anchor.Evidence) { e.To = "0x0000000000000000000000000000000000000001" }, nil, "the evidence says"},
		{"evidence chain id", func(e *anchor.Evidence) { e.ChainID = 1 }, nil, "chain_id 1"},
		{"evidence payload name", func(e *anchor.Evidence) { e.Payload = anchor.PayloadRegistry }, nil, "verifier expects"},
		{"note payload, no verifier payload, other data", func(e *anchor.Evidence) {
			// A transaction of the same sender to the same account whose
			// data is not the note, with a receipt to match.
			tx := types.MustSignNewTx(k, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
				ChainID: big.NewInt(1337), Nonce: 0, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(3e9),
				Gas: 60000, To: &relayer, Data: []byte("not the note"),
			})
			e.RawTx, _ = tx.MarshalBinary()
			e.TxHash = anchor.Hash(tx.Hash())
			setReceipt("transactionHash", `"`+tx.Hash().Hex()+`"`)(e)
		}, noPayload{}, "data is not the note"},
		{"payload data", func(*anchor.Evidence) {}, otherPayload{relayer}, "not the payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := anchor.ParseEvidence(vec)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(e)
			p := tt.payload
			switch p.(type) {
			case nil:
				p = NotePayload{To: relayer}
			case noPayload:
				p = nil
			}
			_, err = VerifyEvidence(context.Background(), e, p)
			if err == nil {
				t.Fatal("VerifyEvidence = nil, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyEvidence = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// noPayload asks VerifyEvidence to check without a payload of its own.
type noPayload struct{}

func (noPayload) Calldata(context.Context, anchor.Request) (common.Address, []byte, error) {
	return common.Address{}, nil, errors.New("unused")
}

type otherPayload struct{ to common.Address }

func (p otherPayload) Calldata(context.Context, anchor.Request) (common.Address, []byte, error) {
	return p.to, []byte("another payload"), nil
}

func newSim(t *testing.T) (*simulated.Backend, common.Address, Signer) {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(k.PublicKey)
	sim := simulated.NewBackend(types.GenesisAlloc{addr: {Balance: big.NewInt(1e18)}})
	t.Cleanup(func() { sim.Close() })
	return sim, addr, KeySigner(k)
}

func testRequest(t *testing.T) anchor.Request {
	t.Helper()
	note, err := os.ReadFile("../../../firmware-docs/testdata/checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.ParseCheckpoint([]byte("waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/0\n5\nVltuhpPY1l0nnq+uZOPlsnzmDz5/JfxrhvALcRmxLm4=\n"))
	if err != nil {
		t.Fatal(err)
	}
	return anchor.Request{Note: note, Checkpoint: c}
}

func TestBackend_BlocksNoncesReceipts(t *testing.T) {
	sim, addr, sg := newSim(t)
	b, err := New(Options{Client: sim.Client(), Signer: sg, Payload: NotePayload{To: addr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	head, err := b.Block(ctx, anchor.Latest)
	if err != nil || head.Number != 0 {
		t.Fatalf("Block(latest) = %+v, %v", head, err)
	}
	if _, err := b.Block(ctx, anchor.Number(7)); !errors.Is(err, anchor.ErrNotFound) {
		t.Fatalf("Block(7) on a chain of 1 block = %v, want ErrNotFound", err)
	}
	if fin, err := b.Block(ctx, anchor.Finalized); err != nil || fin.Number != 0 {
		t.Fatalf("Block(finalized) = %+v, %v", fin, err)
	}
	fees, err := b.SuggestFees(ctx)
	if err != nil || fees.Tip.Sign() <= 0 || fees.Cap.Cmp(fees.Tip) <= 0 {
		t.Fatalf("SuggestFees = %v/%v, %v", fees.Tip, fees.Cap, err)
	}
	tx, err := b.Build(ctx, testRequest(t), 0, fees)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Ledger != "eip155:1337" || tx.Nonce != 0 || tx.Gas == 0 {
		t.Fatalf("Build = ledger %q nonce %d gas %d", tx.Ledger, tx.Nonce, tx.Gas)
	}
	if _, err := b.Receipt(ctx, tx.Hash); !errors.Is(err, anchor.ErrNotFound) {
		t.Fatalf("Receipt before sending = %v, want ErrNotFound", err)
	}
	if err := b.Send(ctx, tx.Raw); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, tx.Raw); !errors.Is(err, anchor.ErrKnown) {
		t.Fatalf("second Send = %v, want ErrKnown", err)
	}
	// The pool promotes a sent transaction to pending asynchronously.
	n, err := b.PendingNonce(ctx)
	for deadline := time.Now().Add(time.Minute); err == nil && n != 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		n, err = b.PendingNonce(ctx)
	}
	if err != nil || n != 1 {
		t.Fatalf("PendingNonce = %d, %v; want 1", n, err)
	}
	// A replacement without the 10% bump is refused as underpriced.
	low, err := b.Build(ctx, testRequest(t), 0, anchor.Fees{Tip: new(big.Int).Add(fees.Tip, big.NewInt(1)), Cap: fees.Cap})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, low.Raw); !errors.Is(err, anchor.ErrUnderpriced) {
		t.Fatalf("Send of an underpriced replacement = %v, want ErrUnderpriced", err)
	}
	block := sim.Commit()
	r, err := b.Receipt(ctx, tx.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if r.BlockNumber != 1 || r.BlockHash != anchor.Hash(block) || !r.Success || r.GasUsed == 0 || !json.Valid(r.JSON) {
		t.Fatalf("Receipt = %+v", r)
	}
	if err := b.Send(ctx, low.Raw); !errors.Is(err, anchor.ErrNonceUsed) {
		t.Fatalf("Send after the nonce was mined = %v, want ErrNonceUsed", err)
	}
	got, err := b.Block(ctx, anchor.Number(1))
	if err != nil || got.Hash != anchor.Hash(block) {
		t.Fatalf("Block(1) = %+v, %v; want hash %s", got, err, block)
	}
}

// noBaseFee hides the base fee, as a pre-London chain's node does.
type noBaseFee struct{ simulated.Client }

func (c noBaseFee) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	h, err := c.Client.HeaderByNumber(ctx, n)
	if h != nil {
		h = types.CopyHeader(h)
		h.BaseFee = nil
	}
	return h, err
}

func TestBackend_LegacyChain(t *testing.T) {
	sim, addr, sg := newSim(t)
	b, err := New(Options{Client: noBaseFee{sim.Client()}, Signer: sg, Payload: NotePayload{To: addr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fees, err := b.SuggestFees(ctx)
	if err != nil || fees.Tip.Cmp(fees.Cap) != 0 {
		t.Fatalf("SuggestFees on a legacy chain = %v/%v, %v; want the gas price twice", fees.Tip, fees.Cap, err)
	}
	tx, err := b.Build(ctx, testRequest(t), 0, fees)
	if err != nil {
		t.Fatal(err)
	}
	var decoded types.Transaction
	if err := decoded.UnmarshalBinary(tx.Raw); err != nil || decoded.Type() != types.LegacyTxType || !decoded.Protected() {
		t.Fatalf("legacy chain: type %d protected %v (%v), want an EIP-155 legacy transaction", decoded.Type(), decoded.Protected(), err)
	}
	if err := b.Send(ctx, tx.Raw); err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	if r, err := b.Receipt(ctx, tx.Hash); err != nil || !r.Success {
		t.Fatalf("Receipt = %+v, %v", r, err)
	}
}

func TestBackend_ChainIDPinned(t *testing.T) {
	sim, addr, sg := newSim(t)
	b, err := New(Options{Client: sim.Client(), Signer: sg, Payload: NotePayload{To: addr}, ChainID: big.NewInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Build(context.Background(), testRequest(t), 0, anchor.Fees{Tip: big.NewInt(1), Cap: big.NewInt(1e10)})
	if err == nil || !strings.Contains(err.Error(), "chain 1337") {
		t.Fatalf("Build on the wrong chain = %v, want an error naming both chains", err)
	}
}

func TestNew_Bad(t *testing.T) {
	sim, addr, sg := newSim(t)
	c := sim.Client()
	tests := []struct {
		name string
		o    Options
	}{
		{"no client", Options{Signer: sg, Payload: NotePayload{To: addr}}},
		{"no signer", Options{Client: c, Payload: NotePayload{To: addr}}},
		{"no payload", Options{Client: c, Signer: sg}},
		{"zero chain id", Options{Client: c, Signer: sg, Payload: NotePayload{To: addr}, ChainID: big.NewInt(0)}},
	}
	for _, tt := range tests {
		if _, err := New(tt.o); err == nil {
			t.Errorf("New(%s) = nil error", tt.name)
		}
	}
	b, _ := New(Options{Client: c, Signer: sg, Payload: NotePayload{To: addr}})
	if _, err := b.Build(context.Background(), anchor.Request{}, 0, anchor.Fees{Tip: big.NewInt(1), Cap: big.NewInt(2)}); err == nil {
		t.Error("Build of a request without a note = nil error")
	}
	if _, err := b.Build(context.Background(), testRequest(t), 0, anchor.Fees{Tip: big.NewInt(3), Cap: big.NewInt(2)}); err == nil {
		t.Error("Build with tip above the fee cap = nil error")
	}
	if err := b.Send(context.Background(), []byte{0x02, 0x01}); err == nil {
		t.Error("Send of garbage = nil error")
	}

}
