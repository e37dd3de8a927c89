package ebsi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// jwt returns an unsigned compact JWT with the given payload; the backend
// reads "exp" without verifying tokens.
func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2lnbmF0dXJl"
}

func TestParseToken(t *testing.T) {
	issued := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	withExp := jwt(`{"sub":"did:ebsi:x","scp":"openid timestamp_write","exp":1795000000}`)
	noExp := jwt(`{"sub":"did:ebsi:x"}`)
	cases := []struct {
		name    string
		in      string
		tok     string
		exp     time.Time
		wantErr bool
	}{
		{"JWT with exp", withExp + "\n", withExp, time.Unix(1795000000, 0).UTC(), false},
		{"JWT without exp", noExp, noExp, time.Time{}, false},
		{"opaque token", "32164be2809b7e8acdaf", "32164be2809b7e8acdaf", time.Time{}, false},
		{"token response, exp claim wins", `{"access_token":"` + withExp + `","token_type":"Bearer","expires_in":7200,"scope":"openid timestamp_write"}`,
			withExp, time.Unix(1795000000, 0).UTC(), false},
		{"token response, expires_in", `{"access_token":"` + noExp + `","token_type":"Bearer","expires_in":7200}`,
			noExp, issued.Add(2 * time.Hour), false},
		{"token response, no expiry", `{"access_token":"abc"}`, "abc", time.Time{}, false},
		{"empty", " \n", "", time.Time{}, true},
		{"two tokens", "abc def", "", time.Time{}, true},
		{"no access_token", `{"token_type":"Bearer"}`, "", time.Time{}, true},
		{"not bearer", `{"access_token":"abc","token_type":"MAC"}`, "", time.Time{}, true},
		{"negative expires_in", `{"access_token":"abc","expires_in":-1}`, "", time.Time{}, true},
		{"bad JSON", `{"access_token":`, "", time.Time{}, true},
	}
	for _, c := range cases {
		tok, exp, err := ebsi.ParseToken([]byte(c.in), issued)
		if (err != nil) != c.wantErr || tok != c.tok || !exp.Equal(c.exp) {
			t.Errorf("%s: ParseToken = %q, %v, %v; want %q, %v, error %v", c.name, tok, exp, err, c.tok, c.exp, c.wantErr)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"access_token":"abc","token_type":"Bearer","expires_in":7200}`))
	f.Add([]byte(jwt(`{"exp":1795000000}`)))
	f.Add([]byte(jwt(`{"exp":1e300}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, _, err := ebsi.ParseToken(b, time.Unix(1, 0))
		if err == nil && (tok == "" || strings.ContainsAny(tok, " \n\t\"")) {
			t.Fatalf("accepted token %q", tok)
		}
	})
}

// TestFileToken reads the file on each call, so a replaced file gives the
// new token.
func TestFileToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	src := ebsi.FileToken(path)
	if _, _, err := src.Token(context.Background()); err == nil {
		t.Error("Token with no file succeeded")
	}
	first := jwt(`{"exp":1795000000}`)
	if err := os.WriteFile(path, []byte(`{"access_token":"`+first+`","token_type":"Bearer","expires_in":7200}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, exp, err := src.Token(context.Background())
	if err != nil || tok != first || !exp.Equal(time.Unix(1795000000, 0)) {
		t.Errorf("Token = %q, %v, %v", tok, exp, err)
	}
	second := jwt(`{"exp":1795007200}`)
	if err := os.WriteFile(path+".new", []byte(second+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := src.Token(context.Background()); err != nil || tok != second {
		t.Errorf("Token after replacement = %q, %v; want the new token", tok, err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("a", 70<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Token(context.Background()); err == nil {
		t.Error("Token read a 70 KiB file")
	}
}

// TestStaticToken_Expired: a static token past its expiry is not sent;
// the backend reports ErrUnauthorized, which the loop treats as the
// ledger being away.
func TestStaticToken_Expired(t *testing.T) {
	r := newRig(t)
	r.tok.set(ebsi.StaticToken("abc", r.clock.Now().Add(-time.Second)))
	_, err := r.be.Block(context.Background(), anchor.Latest)
	if !errors.Is(err, ebsi.ErrUnauthorized) {
		t.Errorf("Block(Latest) with an expired token = %v, want ErrUnauthorized", err)
	}
	if _, _, err := ebsi.StaticToken("", time.Time{}).Token(context.Background()); err == nil {
		t.Error("an empty static token was given out")
	}
}

// TestNew_Options refuses bad configuration, naming the field.
func TestNew_Options(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := ebsi.Options{
		Endpoint: "https://api-pilot.ebsi.eu/timestamp/v4/jsonrpc", APIVersion: "v4",
		Token: ebsi.StaticToken("t", time.Time{}), Signer: evmtx.KeySigner(key), HashAlgorithmID: big.NewInt(1),
	}
	be, err := ebsi.New(good)
	if err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	if got, want := be.LedgerURL(), "https://api-pilot.ebsi.eu/ledger/v4/blockchains/besu"; got != want {
		t.Errorf("default ledger %s, want %s", got, want)
	}
	cases := []struct {
		name, field string
		edit        func(o *ebsi.Options)
	}{
		{"no version", "APIVersion", func(o *ebsi.Options) { o.APIVersion = "" }},
		{"floating version", "APIVersion", func(o *ebsi.Options) { o.APIVersion = "latest" }},
		{"version mismatch", "Endpoint", func(o *ebsi.Options) { o.APIVersion = "v5" }},
		{"endpoint without version", "Endpoint", func(o *ebsi.Options) { o.Endpoint = "https://api-pilot.ebsi.eu/timestamp/jsonrpc" }},
		{"endpoint of another API", "Endpoint", func(o *ebsi.Options) { o.Endpoint = "https://api-pilot.ebsi.eu/did-registry/v4/jsonrpc" }},
		{"plain http", "Endpoint", func(o *ebsi.Options) { o.Endpoint = "http://api-pilot.ebsi.eu/timestamp/v4/jsonrpc" }},
		{"credentials in URL", "Endpoint", func(o *ebsi.Options) { o.Endpoint = "https://u:p@api-pilot.ebsi.eu/timestamp/v4/jsonrpc" }},
		{"query", "Endpoint", func(o *ebsi.Options) { o.Endpoint = "https://api-pilot.ebsi.eu/timestamp/v4/jsonrpc?x=1" }},
		{"ledger without version", "Ledger", func(o *ebsi.Options) { o.Ledger = "https://api-pilot.ebsi.eu/ledger/blockchains/besu" }},
		{"plain http ledger", "Ledger", func(o *ebsi.Options) { o.Ledger = "http://api-pilot.ebsi.eu/ledger/v4/blockchains/besu" }},
		{"no token source", "Token", func(o *ebsi.Options) { o.Token = nil }},
		{"no signer", "Signer", func(o *ebsi.Options) { o.Signer = nil }},
		{"no hash algorithm", "HashAlgorithmID", func(o *ebsi.Options) { o.HashAlgorithmID = nil }},
		{"negative hash algorithm", "HashAlgorithmID", func(o *ebsi.Options) { o.HashAlgorithmID = big.NewInt(-1) }},
		{"zero chain", "ChainID", func(o *ebsi.Options) { o.ChainID = new(big.Int) }},
	}
	for _, c := range cases {
		o := good
		c.edit(&o)
		_, err := ebsi.New(o)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: New = %v; want an error naming %s", c.name, err, c.field)
		}
	}
}

// TestToken_RenewalFailsBeforeExpiry: a failed renewal inside the refresh
// margin keeps the still valid token; after its expiry the backend is
// unauthorised.
func TestToken_RenewalFailsBeforeExpiry(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.be.Block(ctx, anchor.Latest); err != nil {
		t.Fatal(err)
	}
	r.tok.set(ebsi.TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		return "", time.Time{}, errors.New("authorisation API unreachable")
	}))
	r.clock.Advance(tokenTTL - time.Minute)
	if _, err := r.be.Block(ctx, anchor.Latest); err != nil {
		t.Errorf("Block(Latest) with a valid token and a failing renewal = %v", err)
	}
	r.clock.Advance(2 * time.Minute)
	if _, err := r.be.Block(ctx, anchor.Latest); !errors.Is(err, ebsi.ErrUnauthorized) {
		t.Errorf("Block(Latest) after expiry = %v, want ErrUnauthorized", err)
	}
}
