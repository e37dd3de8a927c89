package ebsitest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/ebsitest"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func start(t *testing.T, c *clock) *ebsitest.Server {
	t.Helper()
	srv, err := ebsitest.Start(ebsitest.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// post sends a JSON-RPC request and returns the status, content type and
// body.
func post(t *testing.T, srv *ebsitest.Server, url, token, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestTimestampAPI_Tokens: refusals carry EBSI's status (401), media type
// (application/problem+json) and messages (its AuthService).
func TestTimestampAPI_Tokens(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	srv := start(t, c)
	good, _ := srv.IssueToken("did:ebsi:zA", ebsitest.Scope, 2*time.Hour)
	expired, _ := srv.IssueToken("did:ebsi:zA", ebsitest.Scope, -time.Second)
	noScope, _ := srv.IssueToken("did:ebsi:zA", "openid didr_write", 2*time.Hour)
	noSub, _ := srv.IssueToken("", ebsitest.Scope, 2*time.Hour)
	other := start(t, c)
	foreign, _ := other.IssueToken("did:ebsi:zA", ebsitest.Scope, 2*time.Hour)
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	body := `{"jsonrpc":"2.0","method":"nosuchmethod","params":[],"id":1}`
	cases := []struct {
		name, token string
		status      int
		detail      string
	}{
		{"missing", "", 401, "Invalid or missing JWT"},
		{"not a JWT", "very.bad.token.123.abc", 401, "Invalid Authorisation Token"},
		{"expired", expired, 401, "Access Token signature validation failed"},
		{"forged signature", forged, 401, "Access Token signature validation failed"},
		{"another issuer's key", foreign, 401, "Couldn't find a public key related to the given kid."},
		{"no timestamp_write", noScope, 401, "Invalid JWT: scp must contain timestamp_write"},
		{"no subject", noSub, 401, "Invalid JWT: empty or missing sub"},
		{"valid", good, 400, ""},
	}
	for _, tc := range cases {
		status, ctype, b := post(t, srv, srv.TimestampURL(), tc.token, body)
		if status != tc.status {
			t.Errorf("%s: HTTP %d, want %d (%s)", tc.name, status, tc.status, b)
			continue
		}
		if tc.status != 401 {
			continue
		}
		var p ebsi.Problem
		if !strings.HasPrefix(ctype, "application/problem+json") || json.Unmarshal(b, &p) != nil ||
			p.Status != 401 || p.Title != "Unauthorized" || p.Type != "about:blank" || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %s %s; want a 401 problem with %q", tc.name, ctype, b, tc.detail)
		}
	}
	c.t = c.t.Add(3 * time.Hour)
	if status, _, _ := post(t, srv, srv.TimestampURL(), good, body); status != 401 {
		t.Errorf("token after its expiry: HTTP %d, want 401", status)
	}
}

// TestTimestampAPI_JSONRPC: JSON-RPC refusals are HTTP 400 with code
// -32600 and EBSI's messages.
func TestTimestampAPI_JSONRPC(t *testing.T) {
	c := &clock{t: time.Now()}
	srv := start(t, c)
	tok, _ := srv.IssueToken("did:ebsi:zA", ebsitest.Scope, time.Hour)
	from := common.HexToAddress("0x00000000000000000000000000000000000000a1").Hex()
	cases := []struct{ body, message string }{
		{`{"jsonrpc":"2.0","method":"insertHashAlgorithm","params":[{}],"id":7}`, "The method 'insertHashAlgorithm' is invalid"},
		{`{}`, `Invalid 'jsonrpc'`},
		{`[]`, "JSON-RPC payload must be an object"},
		{`{"jsonrpc":"2.0","method":"timestampHashes","params":[{"from":"` + from + `","hashAlgorithmIds":[1],"hashValues":["0x01"]}],"id":1}`,
			"is different from the expected length (256 bits)"},
		{`{"jsonrpc":"2.0","method":"timestampHashes","params":[{"from":"` + from + `","hashAlgorithmIds":[9],"hashValues":["0x01"]}],"id":1}`,
			"Can't find hash algorithm with ID: 9"},
		{`{"jsonrpc":"2.0","method":"timestampHashes","params":[{"from":"` + from + `","hashAlgorithmIds":[1],"hashValues":["0x` + strings.Repeat("ab", 32) + `"],"timestampData":["0x6e6f74206a736f6e"]}],"id":1}`,
			"Must be a JSON object encoded in hexadecimal"},
	}
	for _, tc := range cases {
		status, _, b := post(t, srv, srv.TimestampURL(), tok, tc.body)
		var r ebsi.Response
		if status != 400 || json.Unmarshal(b, &r) != nil || r.Error == nil || r.Error.Code != -32600 || !strings.Contains(r.Error.Message, tc.message) {
			t.Errorf("%s: HTTP %d %s; want 400, -32600, %q", tc.body, status, b, tc.message)
		}
	}

	// A valid request builds a legacy transaction with gasPrice 0x0, as
	// EBSI's API does.
	v := "0x" + strings.Repeat("ab", 32)
	status, _, b := post(t, srv, srv.TimestampURL(), tok,
		`{"jsonrpc":"2.0","method":"timestampHashes","params":[{"from":"`+from+`","hashAlgorithmIds":[1],"hashValues":["`+v+`"],"timestampData":["0x7b7d"]}],"id":"x"}`)
	var r struct {
		ID     string                   `json:"id"`
		Result ebsi.UnsignedTransaction `json:"result"`
	}
	if status != 200 || json.Unmarshal(b, &r) != nil || r.ID != "x" {
		t.Fatalf("timestampHashes: HTTP %d %s", status, b)
	}
	u := r.Result
	if u.From != from || u.To != srv.Contract.Hex() || u.Value != "0x0" || u.GasPrice != "0x0" ||
		u.ChainID != ebsi.FormatQuantity(big.NewInt(ebsitest.ChainID)) || u.Nonce != "0x00" {
		t.Errorf("unsigned transaction %+v", u)
	}
	want, err := (ebsi.Hashes{AlgorithmIDs: []*big.Int{big.NewInt(1)}, Values: [][]byte{bytes.Repeat([]byte{0xab}, 32)}, Data: [][]byte{[]byte("{}")}}).Calldata()
	if err != nil {
		t.Fatal(err)
	}
	if u.Data != "0x"+common.Bytes2Hex(want) {
		t.Errorf("data %s, want %x", u.Data, want)
	}
}

// TestLedgerAPI forwards eth_* methods to the chain, refuses others, and
// protects eth_sendRawTransaction and eth_estimateGas with a token.
func TestLedgerAPI(t *testing.T) {
	c := &clock{t: time.Now()}
	srv := start(t, c)
	status, _, b := post(t, srv, srv.LedgerURL(), "", `{"jsonrpc":"2.0","method":"eth_chainId","params":[],"id":1}`)
	var r ebsi.Response
	if status != 200 || json.Unmarshal(b, &r) != nil || string(r.Result) != `"0x539"` {
		t.Errorf("eth_chainId: HTTP %d %s", status, b)
	}
	status, _, b = post(t, srv, srv.LedgerURL(), "", `{"jsonrpc":"2.0","method":"admin_peers","params":[],"id":1}`)
	if json.Unmarshal(b, &r) != nil || r.Error == nil || r.Error.Code != -32601 {
		t.Errorf("admin_peers: HTTP %d %s; want method not found", status, b)
	}
	status, _, b = post(t, srv, srv.LedgerURL(), "", `{"jsonrpc":"2.0","method":"eth_sendRawTransaction","params":["0x00"],"id":1}`)
	if status != 401 {
		t.Errorf("eth_sendRawTransaction without a token: HTTP %d %s; want 401", status, b)
	}
	status, _, b = post(t, srv, srv.LedgerURL(), "", `{"jsonrpc":"2.0","method":"eth_getTransactionReceipt","params":["0x`+strings.Repeat("00", 32)+`"],"id":1}`)
	if status != 200 || json.Unmarshal(b, &r) != nil || string(r.Result) != "null" {
		t.Errorf("eth_getTransactionReceipt of an unknown transaction: HTTP %d %s; want null", status, b)
	}
}
