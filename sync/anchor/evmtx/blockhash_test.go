package evmtx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/waybill-eu/waybill/sync/anchor"
)

// besuHash is the hash a Besu QBFT node reports for its block 7: the hash
// of the header without the commit seals of its extra data, which is not
// what go-ethereum computes from the fields the node returns.
var besuHash = common.HexToHash("0x5eb1c0ffee000000000000000000000000000000000000000000000000000007")

// besuNode answers eth_getBlockByNumber like a QBFT node: a header whose
// hash member is the node's own.
func besuNode(t *testing.T) (*ethclient.Client, *[]string) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params []any           `json:"params"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request %s: %v", body, err)
			return
		}
		result := "null"
		if req.Method == "eth_getBlockByNumber" {
			asked = append(asked, req.Params[0].(string))
			if req.Params[0] != "0x63" {
				result = `{"number":"0x7","hash":"` + besuHash.Hex() + `","parentHash":"0x` + strings.Repeat("11", 32) + `",` +
					`"sha3Uncles":"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347","miner":"0x0000000000000000000000000000000000000000",` +
					`"stateRoot":"0x` + strings.Repeat("22", 32) + `","transactionsRoot":"0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",` +
					`"receiptsRoot":"0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421","logsBloom":"0x` + strings.Repeat("00", 256) + `",` +
					`"difficulty":"0x1","gasLimit":"0x1c9c380","gasUsed":"0x0","timestamp":"0x6756c0de","extraData":"0xf87aa00000",` +
					`"mixHash":"0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365","nonce":"0x0000000000000000","baseFeePerGas":"0x0"}`
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":`+result+`}`)
	}))
	t.Cleanup(srv.Close)
	c, err := ethclient.Dial(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, &asked
}

func TestBlock_TakesTheHashTheNodeReports(t *testing.T) {
	c, asked := besuNode(t)
	ctx := context.Background()
	h, err := c.HeaderByNumber(ctx, big.NewInt(7))
	if err != nil {
		t.Fatal(err)
	}
	if h.Hash() == besuHash {
		t.Fatal("the test node's header hashes to its reported hash: it does not stand for a QBFT chain")
	}
	key, _ := crypto.GenerateKey()
	be, err := New(Options{Client: c, Signer: KeySigner(key), Payload: NotePayload{}, ChainID: big.NewInt(1337)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref  anchor.BlockRef
		want string
	}{{anchor.Number(7), "0x7"}, {anchor.Latest, "latest"}, {anchor.Finalized, "finalized"}} {
		b, err := be.Block(ctx, tt.ref)
		if err != nil {
			t.Fatalf("Block(%s): %v", tt.ref, err)
		}
		if b.Hash != anchor.Hash(besuHash) || b.Number != 7 || b.Time != 0x6756c0de {
			t.Errorf("Block(%s) = %d %x at %d; want 7 %x at %d", tt.ref, b.Number, b.Hash, b.Time, besuHash, 0x6756c0de)
		}
		if got := (*asked)[len(*asked)-1]; got != tt.want {
			t.Errorf("Block(%s) asked for block %q, want %q", tt.ref, got, tt.want)
		}
	}
	if _, err := be.Block(ctx, anchor.Number(99)); !errors.Is(err, anchor.ErrNotFound) {
		t.Errorf("Block(99) of a node without it = %v; want ErrNotFound", err)
	}
}
