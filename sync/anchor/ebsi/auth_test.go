package ebsi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// gateway answers sendSignedTransaction like EBSI's API behind a gateway
// that refuses some tokens with 403 Forbidden.
type gateway struct {
	mu     sync.Mutex
	refuse map[string]bool
	seen   []string
	srv    *httptest.Server
}

func newGateway(t *testing.T, refuse ...string) *gateway {
	g := &gateway{refuse: map[string]bool{}}
	for _, r := range refuse {
		g.refuse[r] = true
	}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		g.mu.Lock()
		g.seen = append(g.seen, tok)
		refused := g.refuse[tok]
		g.mu.Unlock()
		if refused {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"type":"about:blank","title":"Forbidden","status":403,"detail":"token not accepted"}`)
			return
		}
		var req struct {
			ID     json.RawMessage                    `json:"id"`
			Params []ebsi.SendSignedTransactionParams `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Params) != 1 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var tx types.Transaction
		if err := tx.UnmarshalBinary(hexutil.MustDecode(req.Params[0].SignedRawTransaction)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":"%s"}`, req.ID, tx.Hash().Hex())
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// tokens gives "Bearer"-less tokens t1, t2, … in turn.
type tokens struct {
	mu sync.Mutex
	n  int
}

func (s *tokens) Token(context.Context) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return fmt.Sprintf("t%d", s.n), time.Time{}, nil
}

// TestSend_ForbiddenRefreshesOnce: a 403 gets one new token and one retry;
// a second 403 is ErrUnauthorized, with no further request.
func TestSend_ForbiddenRefreshesOnce(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress("0x00000000000000000000000000000000000000cc")
	signer := evmtx.KeySigner(key)
	tx, err := signer.SignTx(types.NewTx(&types.LegacyTx{Gas: 100000, GasPrice: new(big.Int), To: &to, Value: new(big.Int), Data: []byte{1}}), big.NewInt(1337))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tx.MarshalBinary()
	for _, c := range []struct {
		name     string
		refuse   []string
		ok       bool
		requests int
	}{
		{"first token refused", []string{"Bearer t1"}, true, 2},
		{"both tokens refused", []string{"Bearer t1", "Bearer t2"}, false, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGateway(t, c.refuse...)
			src := &tokens{}
			be, err := ebsi.New(ebsi.Options{Endpoint: g.srv.URL + "/timestamp/v4/jsonrpc", APIVersion: "v4", Token: src,
				Signer: signer, HashAlgorithmID: big.NewInt(1), HTTPClient: g.srv.Client(), Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			err = be.Send(context.Background(), raw)
			if c.ok && err != nil {
				t.Errorf("Send = %v, want success after one refresh", err)
			}
			if !c.ok && (!errors.Is(err, ebsi.ErrUnauthorized) || errors.Is(err, anchor.ErrKnown)) {
				t.Errorf("Send = %v, want ErrUnauthorized", err)
			}
			if len(g.seen) != c.requests || src.n != 2 {
				t.Errorf("%d requests with tokens %v, %d tokens fetched; want %d requests, 2 tokens", len(g.seen), g.seen, src.n, c.requests)
			}
		})
	}
}
