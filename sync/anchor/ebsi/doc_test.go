package ebsi_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

type docVector struct {
	NoteFile       string                           `json:"note_file"`
	AlgorithmID    int64                            `json:"hash_algorithm_id"`
	HashValue      string                           `json:"hash_value"`
	TimestampID    string                           `json:"timestamp_id"`
	APITimestampID string                           `json:"api_timestamp_id"`
	APIHash        string                           `json:"api_hash"`
	TimestampData  string                           `json:"timestamp_data"`
	ChainID        int64                            `json:"chain_id"`
	Contract       string                           `json:"contract"`
	Nonce          uint64                           `json:"nonce"`
	GasPrice       int64                            `json:"gas_price"`
	GasLimit       uint64                           `json:"gas_limit"`
	TxHash         string                           `json:"tx_hash"`
	Send           ebsi.SendSignedTransactionParams `json:"send_signed_transaction"`
}

// readDocVector returns the test vector of firmware-docs/EBSI.md.
func readDocVector(t *testing.T) docVector {
	t.Helper()
	doc, err := os.ReadFile("../../../firmware-docs/EBSI.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- ebsi vector -->\n```json\n")
	if !ok {
		t.Fatal("EBSI.md has no ebsi vector block")
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("EBSI.md: ebsi vector block not closed")
	}
	dec := json.NewDecoder(strings.NewReader(block))
	dec.DisallowUnknownFields()
	var v docVector
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("EBSI.md vector: %v", err)
	}
	return v
}

// TestDocVector recomputes EBSI.md §10's vector.
func TestDocVector(t *testing.T) {
	v := readDocVector(t)
	note, err := os.ReadFile("../../../firmware-docs/" + v.NoteFile)
	if err != nil {
		t.Fatal(err)
	}
	h := ebsi.NoteHash(note)
	id := ebsi.TimestampID(h[:])
	data, err := ebsi.TimestampData(note)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"hash_value", hexutil.Encode(h[:]), v.HashValue},
		{"timestamp_id", hexutil.Encode(id[:]), v.TimestampID},
		{"api_timestamp_id", ebsi.FormatTimestampID(id), v.APITimestampID},
		{"api_hash", ebsi.FormatSHA256Hash(h), v.APIHash},
		{"timestamp_data", string(data), v.TimestampData},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, EBSI.md says %s", c.what, c.got, c.want)
		}
	}

	k, err := devkey.FromHex(deviceKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := ebsi.CheckpointHashes(note, big.NewInt(v.AlgorithmID))
	if err != nil {
		t.Fatal(err)
	}
	calldata, err := hs.Calldata()
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress(v.Contract)
	// The stand-in deploys from a fixed key, so the vector's contract is
	// its address.
	dep, _ := crypto.ToECDSA(crypto.Keccak256([]byte("waybill ebsitest deployer")))
	if want := crypto.CreateAddress(crypto.PubkeyToAddress(dep.PublicKey), 0); to != want {
		t.Errorf("contract %s, the stand-in deploys at %s", to, want)
	}
	signer := evmtx.KeySigner(k.ECDSA())
	tx, err := signer.SignTx(types.NewTx(&types.LegacyTx{Nonce: v.Nonce, GasPrice: big.NewInt(v.GasPrice), Gas: v.GasLimit,
		To: &to, Value: new(big.Int), Data: calldata}), big.NewInt(v.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Hash().Hex() != v.TxHash {
		t.Errorf("tx_hash = %s, EBSI.md says %s", tx.Hash().Hex(), v.TxHash)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	be, err := ebsi.New(ebsi.Options{Endpoint: "https://api-pilot.ebsi.eu/timestamp/v4/jsonrpc", APIVersion: "v4",
		Token: ebsi.StaticToken("t", time.Time{}), Signer: signer, HashAlgorithmID: big.NewInt(v.AlgorithmID)})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := be.SendParams(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(p)
	want, _ := json.Marshal(v.Send)
	if !bytes.Equal(got, want) {
		t.Errorf("sendSignedTransaction parameters differ from EBSI.md:\n got %s\nwant %s", got, want)
	}
	if p.UnsignedTransaction.Data != hexutil.Encode(calldata) || p.UnsignedTransaction.From != common.Address(k.Address()).Hex() {
		t.Errorf("unsigned transaction %+v", p.UnsignedTransaction)
	}
}
