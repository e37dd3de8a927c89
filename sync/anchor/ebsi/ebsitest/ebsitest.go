// Package ebsitest is a local stand-in for EBSI's Timestamp and Ledger APIs
// and its Timestamp contract, for testing sync/anchor/ebsi without EBSI:
// an HTTPS server (httptest) exposing the same JSON-RPC methods, shapes,
// status codes and messages as EBSI's v4 APIs as far as EBSI documents and
// publishes them (firmware-docs/EBSI.md), backed by a real EVM chain
// (go-ethereum's simulated backend) running the stand-in contract of
// sync/anchor/ebsi/standin.
//
// Paths, for the pinned version V (default "v4"):
//
//	POST /timestamp/V/jsonrpc            timestampHashes, sendSignedTransaction
//	GET  /timestamp/V/timestamps/{id}    a timestamp by its multibase id
//	POST /ledger/V/blockchains/besu      eth_* forwarded to the chain
//
// The Timestamp API requires a bearer access token on every JSON-RPC
// request, as EBSI's does: an ES256 JWT that IssueToken signs in the
// Authorisation API's place, unexpired on the server's clock, with a
// subject (a DID) and the scope timestamp_write. A missing, malformed,
// expired or insufficient token is refused with HTTP 401 and an RFC 9457
// problem document carrying EBSI's messages. sendSignedTransaction also
// checks, as EBSI's does through its DID Registry, that the token's DID
// controls the signing address (RegisterDID).
//
// The chain seals a block only when Commit is called.
package ebsitest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/standin"
)

// ChainID is the simulated chain's EIP-155 chain id.
const ChainID = 1337

// SHA256AlgorithmID is the stand-in contract's id of sha2-256.
const SHA256AlgorithmID = 1

// Scope is the scope an access token needs for the Timestamp API's write
// methods ("openid timestamp_write" as the Authorisation API issues it).
const Scope = "openid timestamp_write"

// Options configures a Server.
type Options struct {
	// APIVersion is the version in the paths; default "v4".
	APIVersion string
	// Fund lists accounts given 1,000 ether for gas on the simulated chain
	// (EBSI charges no gas; the simulated chain does).
	Fund []common.Address
	// Now is the clock tokens expire by; default time.Now.
	Now func() time.Time
	// Logger receives one line per request; default discards.
	Logger *slog.Logger
}

// Server is a running stand-in.
type Server struct {
	// Constant after Start.
	Sim             *simulated.Backend
	Contract        common.Address // the stand-in Timestamp contract
	ChainID         *big.Int
	HashAlgorithmID *big.Int
	opts            Options
	srv             *httptest.Server
	node            *rpc.Client // the chain's own JSON-RPC, over IPC
	ipcDir          string
	abi             abi.ABI
	key             *ecdsa.PrivateKey // the stand-in Authorisation API's ES256 key
	kid             string

	mu     sync.Mutex
	dids   map[string][]common.Address // DID → controllers
	calls  map[string]int              // JSON-RPC method → requests
	issued int                         // tokens issued
	tamper func(*ebsi.UnsignedTransaction)
	closed bool
}

// Start deploys the stand-in contract on a new simulated chain and starts
// serving on a free loopback port.
func Start(o Options) (*Server, error) {
	if o.APIVersion == "" {
		o.APIVersion = "v4"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// A short directory: a unix socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "ebsitest")
	if err != nil {
		return nil, fmt.Errorf("ebsitest: %w", err)
	}
	ipc := filepath.Join(dir, "node.ipc")
	deployer, err := crypto.ToECDSA(crypto.Keccak256([]byte("waybill ebsitest deployer")))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	balance := new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))
	alloc := types.GenesisAlloc{crypto.PubkeyToAddress(deployer.PublicKey): {Balance: balance}}
	for _, a := range o.Fund {
		alloc[a] = types.Account{Balance: balance}
	}
	sim := simulated.NewBackend(alloc, func(n *node.Config, c *ethconfig.Config) {
		n.IPCPath = ipc
		c.Genesis.Config = parisRules()
	})
	s := &Server{Sim: sim, ChainID: big.NewInt(ChainID), HashAlgorithmID: big.NewInt(SHA256AlgorithmID), opts: o,
		ipcDir: dir, abi: standin.ABI(), dids: map[string][]common.Address{}, calls: map[string]int{}}
	fail := func(err error) (*Server, error) {
		sim.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	if s.node, err = rpc.DialIPC(context.Background(), ipc); err != nil {
		return fail(fmt.Errorf("ebsitest: attach to the chain: %w", err))
	}
	opts := bind.NewKeyedTransactor(deployer, s.ChainID)
	addr, tx, err := bind.DeployContract(opts, standin.Bytecode(), sim.Client(), nil)
	if err != nil {
		return fail(fmt.Errorf("ebsitest: deploy the Timestamp stand-in: %w", err))
	}
	sim.Commit()
	r, err := sim.Client().TransactionReceipt(context.Background(), tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		return fail(fmt.Errorf("ebsitest: Timestamp stand-in deployment failed: %v", err))
	}
	s.Contract = addr
	ictx, cancel := context.WithTimeout(context.Background(), IndexTimeout)
	err = waitTxIndexed(ictx, s.node)
	cancel()
	if err != nil {
		return fail(err)
	}
	if s.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return fail(err)
	}
	pub, err := s.key.PublicKey.ECDH()
	if err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(pub.Bytes())
	s.kid = base64.RawURLEncoding.EncodeToString(sum[:])

	mux := http.NewServeMux()
	v := o.APIVersion
	mux.HandleFunc("POST /timestamp/"+v+"/jsonrpc", s.timestampRPC)
	mux.HandleFunc("GET /timestamp/"+v+"/timestamps/{id}", s.getTimestamp)
	mux.HandleFunc("POST /ledger/"+v+"/blockchains/besu", s.ledgerRPC)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "Not Found", "no route "+r.Method+" "+r.URL.Path)
	})
	s.srv = httptest.NewTLSServer(mux)
	return s, nil
}

// IndexTimeout bounds Start's wait for the chain's transaction index: far
// beyond the milliseconds it takes, so that only a chain that never
// indexes fails, also on a loaded machine.
const IndexTimeout = 2 * time.Minute

// waitTxIndexed waits, bounded by ctx, until the chain's transaction
// indexer has caught up with its head, as eth_syncing reports it (false, or
// txIndexRemainingBlocks 0). Until then geth answers a lookup of a
// transaction it does not hold with "transaction indexing is in progress"
// instead of null; the indexer first runs when the first block is sealed,
// and once it has indexed from genesis it keeps up with every new head, so
// Start waits once, after sealing the contract's deployment.
func waitTxIndexed(ctx context.Context, c *rpc.Client) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var p json.RawMessage
		err := c.CallContext(ctx, &p, "eth_syncing")
		if err == nil {
			if string(p) == "false" {
				return nil
			}
			var s struct {
				Remaining *hexutil.Uint64 `json:"txIndexRemainingBlocks"`
			}
			if json.Unmarshal(p, &s) == nil && s.Remaining != nil && *s.Remaining == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ebsitest: the chain's transaction index is not ready (eth_syncing: %s, %v): %w", p, err, ctx.Err())
		case <-tick.C:
		}
	}
}

// parisRules are the chain rules of the stand-in's chain: the merge
// (paris) and nothing later, the EVM version Waybill compiles contracts for
// because permissioned Besu networks may lack later opcodes (PUSH0). The
// simulated backend's default also enables draft forks whose gas schedule
// no deployed chain has.
func parisRules() *params.ChainConfig {
	cfg := *params.AllDevChainProtocolChanges
	cfg.ShanghaiTime, cfg.CancunTime, cfg.PragueTime, cfg.OsakaTime = nil, nil, nil, nil
	cfg.AmsterdamTime, cfg.BogotaTime = nil, nil
	cfg.BlobScheduleConfig = nil
	return &cfg
}

// URL is the server's base URL, https://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// TimestampURL is the Timestamp API's JSON-RPC URL.
func (s *Server) TimestampURL() string {
	return s.srv.URL + "/timestamp/" + s.opts.APIVersion + "/jsonrpc"
}

// LedgerURL is the Ledger API's JSON-RPC URL.
func (s *Server) LedgerURL() string {
	return s.srv.URL + "/ledger/" + s.opts.APIVersion + "/blockchains/besu"
}

// HTTPClient returns a client that trusts the server's certificate.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// Commit seals the pending transactions into a block.
func (s *Server) Commit() common.Hash { return s.Sim.Commit() }

// Close stops the server and the chain.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.srv.Close()
	s.node.Close()
	err := s.Sim.Close()
	os.RemoveAll(s.ipcDir)
	return err
}

// RegisterDID records that did is controlled by the given addresses, as
// EBSI's DID Registry would.
func (s *Server) RegisterDID(did string, controllers ...common.Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dids[did] = append(s.dids[did], controllers...)
}

// SetTamper installs f to alter each unsigned transaction the Timestamp
// API builds before it is returned (nil removes it): a compromised or
// faulty API, for tests.
func (s *Server) SetTamper(f func(*ebsi.UnsignedTransaction)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = f
}

// Calls returns how many JSON-RPC requests for method reached the
// Timestamp API past its token check.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Issued returns how many tokens IssueToken has signed.
func (s *Server) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// IssueToken signs an access token for did with scope, valid for ttl from
// the server's clock, in the Authorisation API's place, and returns it with
// its expiry. EBSI's tokens last two hours (expires_in 7200).
func (s *Server) IssueToken(did, scope string, ttl time.Duration) (string, time.Time) {
	now := s.opts.Now()
	exp := now.Add(ttl)
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": s.kid})
	claims, _ := json.Marshal(map[string]any{"iss": s.srv.URL + "/authorisation/" + s.opts.APIVersion,
		"sub": did, "scp": scope, "iat": now.Unix(), "exp": exp.Unix()})
	input := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(input))
	r, sg, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		panic("ebsitest: sign token: " + err.Error())
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	s.mu.Lock()
	s.issued++
	s.mu.Unlock()
	return input + "." + b64(sig), time.Unix(exp.Unix(), 0)
}

// TokenSource returns a token source that has a new token issued for did,
// with scope, valid for ttl, on each call.
func (s *Server) TokenSource(did, scope string, ttl time.Duration) ebsi.TokenSource {
	return ebsi.TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		tok, exp := s.IssueToken(did, scope, ttl)
		return tok, exp, nil
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// subject is a verified token's subject and scope.
type subject struct{ sub, scp string }

// authenticate checks the bearer token as EBSI's Timestamp API v4 does
// (its AuthService.validateToken), with its messages.
func (s *Server) authenticate(r *http.Request, needScope bool) (subject, string) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return subject{}, "Invalid or missing JWT"
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return subject{}, "Invalid Authorisation Token: Invalid JWT"
	}
	var header struct {
		Alg, Kid string
	}
	var claims struct {
		Sub string  `json:"sub"`
		Scp string  `json:"scp"`
		Exp float64 `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return subject{}, "Invalid Authorisation Token: Invalid JWT"
	}
	if header.Kid == "" {
		return subject{}, "Invalid JWT: empty or missing kid"
	}
	if header.Kid != s.kid {
		return subject{}, "Invalid Access Token. Couldn't find a public key related to the given kid."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || header.Alg != "ES256" || len(sig) != 64 ||
		!ecdsa.Verify(&s.key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return subject{}, "Access Token signature validation failed"
	}
	// jose's jwtVerify, which EBSI uses, refuses an expired token with the
	// same message as a bad signature.
	if claims.Exp == 0 || float64(s.opts.Now().Unix()) >= claims.Exp {
		return subject{}, "Access Token signature validation failed"
	}
	if claims.Sub == "" {
		return subject{}, "Invalid JWT: empty or missing sub"
	}
	if needScope {
		if claims.Scp == "" {
			return subject{}, "Invalid JWT: empty or missing scp"
		}
		if !strings.Contains(claims.Scp, "timestamp_write") {
			return subject{}, "Invalid JWT: scp must contain timestamp_write"
		}
	}
	return subject{sub: claims.Sub, scp: claims.Scp}, ""
}

// problem writes an RFC 9457 problem document, as EBSI's APIs do.
func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ebsi.Problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
}

// rpcErr is a JSON-RPC refusal with its HTTP status.
type rpcErr struct {
	status  int
	code    int
	message string
}

func (e *rpcErr) Error() string { return e.message }

// invalid is EBSI's InvalidRequestJsonRpcError: HTTP 400, code -32600.
func invalid(format string, args ...any) *rpcErr {
	return &rpcErr{status: http.StatusBadRequest, code: -32600, message: fmt.Sprintf(format, args...)}
}

func writeRPC(w http.ResponseWriter, id json.RawMessage, result any, err error) {
	if id == nil {
		id = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	resp := ebsi.Response{JSONRPC: "2.0", ID: id}
	status := http.StatusOK
	if err != nil {
		var re *rpcErr
		if !errors.As(err, &re) {
			re = &rpcErr{status: http.StatusInternalServerError, code: -32603, message: err.Error()}
		}
		status = re.status
		resp.Error = &ebsi.RPCError{Code: re.code, Message: re.message}
	} else {
		b, merr := json.Marshal(result)
		if merr != nil {
			status, resp.Error = http.StatusInternalServerError, &ebsi.RPCError{Code: -32603, Message: merr.Error()}
		} else {
			resp.Result = b
		}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
}

// readRPC reads a JSON-RPC request body.
func readRPC(r *http.Request) (ebsi.Request, error) {
	var req ebsi.Request
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return req, invalid("JSON-RPC payload must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, invalid("JSON-RPC payload must be an object")
	}
	var msgs []string
	if req.JSONRPC != "2.0" {
		msgs = append(msgs, `Invalid 'jsonrpc': Invalid literal value, expected "2.0"`)
	}
	if req.Method == "" {
		msgs = append(msgs, "Invalid 'method': Required")
	}
	if req.Params == nil {
		msgs = append(msgs, "Invalid 'params': Required")
	}
	if msgs != nil {
		return req, invalid("%s", strings.Join(msgs, "\n"))
	}
	return req, nil
}

// timestampRPC serves POST /timestamp/V/jsonrpc.
func (s *Server) timestampRPC(w http.ResponseWriter, r *http.Request) {
	sub, refusal := s.authenticate(r, true)
	if refusal != "" {
		s.opts.Logger.Info("timestamp API: 401", "detail", refusal)
		problem(w, http.StatusUnauthorized, "Unauthorized", refusal)
		return
	}
	req, err := readRPC(r)
	if err != nil {
		writeRPC(w, nil, nil, err)
		return
	}
	s.mu.Lock()
	s.calls[req.Method]++
	s.mu.Unlock()
	var result any
	switch req.Method {
	case "timestampHashes":
		result, err = s.buildTimestampHashes(r.Context(), req.Params)
	case "sendSignedTransaction":
		result, err = s.sendSignedTransaction(r.Context(), sub, req.Params)
	default:
		err = invalid("The method '%s' is invalid", req.Method)
	}
	s.opts.Logger.Info("timestamp API", "method", req.Method, "err", err)
	writeRPC(w, req.ID, result, err)
}

// oneParam decodes params, an array of exactly one object, strictly.
func oneParam(params json.RawMessage, v any) error {
	var list []json.RawMessage
	if err := json.Unmarshal(params, &list); err != nil || len(list) != 1 {
		return invalid("Invalid 'params': expected an array of one object")
	}
	dec := json.NewDecoder(bytes.NewReader(list[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("Invalid 'params[0]': %v", err)
	}
	return nil
}

// isHex is EBSI's isHexadecimal: 0x and hex digits.
func isHex(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, "0x")
	if !ok || rest == "" {
		return nil, false
	}
	if len(rest)%2 == 1 {
		rest = "0" + rest
	}
	b, err := hex.DecodeString(rest)
	return b, err == nil
}

// buildTimestampHashes mirrors EBSI's buildTransactionTimestampHashes:
// validate, check the hashes' lengths against their algorithms, encode the
// call, and build the unsigned transaction (buildTransaction).
func (s *Server) buildTimestampHashes(ctx context.Context, params json.RawMessage) (*ebsi.UnsignedTransaction, error) {
	var p ebsi.TimestampHashesParams
	if err := oneParam(params, &p); err != nil {
		return nil, err
	}
	if !common.IsHexAddress(p.From) || !strings.HasPrefix(p.From, "0x") {
		return nil, invalid("Invalid 'from': must be an Ethereum address")
	}
	algs, values, data, err := s.parseHashes(p.HashAlgorithmIDs, p.HashValues, p.TimestampData, true)
	if err != nil {
		return nil, err
	}
	if err := s.checkHashes(ctx, algs, values); err != nil {
		return nil, err
	}
	calldata, err := s.abi.Pack("timestampHashes", algs, values, data)
	if err != nil {
		return nil, invalid("%v", err)
	}
	from := common.HexToAddress(p.From)
	nonce, err := s.Sim.Client().NonceAt(ctx, from, nil)
	if err != nil {
		return nil, invalid("%v", err)
	}
	u := &ebsi.UnsignedTransaction{
		From: p.From, To: s.Contract.Hex(), Data: hexutil.Encode(calldata), Value: "0x0",
		Nonce: ebsi.FormatQuantity(new(big.Int).SetUint64(nonce)), ChainID: ebsi.FormatQuantity(s.ChainID),
		GasLimit: "0x1000000", GasPrice: "0x0",
	}
	// EBSI's API estimates gas and adds 40 %, or falls back to 0x1000000.
	if est, err := s.Sim.Client().EstimateGas(ctx, ethereum.CallMsg{From: from, To: &s.Contract, Data: calldata}); err == nil {
		u.GasLimit = ebsi.FormatQuantity(new(big.Int).SetUint64((est*14 + 9) / 10))
	}
	s.mu.Lock()
	tamper := s.tamper
	s.mu.Unlock()
	if tamper != nil {
		tamper(u)
	}
	return u, nil
}

// parseHashes decodes the hash arguments as EBSI's validators do; it does
// not limit their number (the contract does).
func (s *Server) parseHashes(ids []json.Number, hashValues, timestampData []string, jsonData bool) ([]*big.Int, [][]byte, [][]byte, error) {
	algs := make([]*big.Int, len(ids))
	for i, n := range ids {
		v, ok := new(big.Int).SetString(string(n), 10)
		if !ok || v.Sign() < 0 {
			return nil, nil, nil, invalid("Invalid 'hashAlgorithmIds[%d]': Number must be greater than or equal to 0", i)
		}
		algs[i] = v
	}
	values := make([][]byte, len(hashValues))
	for i, h := range hashValues {
		b, ok := isHex(h)
		if !ok {
			return nil, nil, nil, invalid("Invalid 'hashValues[%d]': Must be hexadecimal", i)
		}
		values[i] = b
	}
	data := make([][]byte, len(timestampData))
	for i, d := range timestampData {
		b, ok := isHex(d)
		switch {
		case !ok:
			return nil, nil, nil, invalid("Invalid 'timestampData[%d]': Must be hexadecimal", i)
		case len(d)%2 != 0:
			return nil, nil, nil, invalid("Invalid 'timestampData[%d]': Length must be even", i)
		case jsonData && !json.Valid(b):
			return nil, nil, nil, invalid("Invalid 'timestampData[%d]': Must be a JSON object encoded in hexadecimal", i)
		}
		data[i] = b
	}
	return algs, values, data, nil
}

// checkHashes mirrors EBSI's checkHashes: as many algorithms as values,
// each algorithm known, each value of its algorithm's output length.
func (s *Server) checkHashes(ctx context.Context, algs []*big.Int, values [][]byte) error {
	if len(algs) != len(values) {
		return invalid("hashAlgorithmIds and hashValues don't have the same length")
	}
	for i, id := range algs {
		out, err := s.call(ctx, "getHashAlgorithmById", id)
		if err != nil {
			return invalid("Can't find hash algorithm with ID: %s", id)
		}
		alg := *abi.ConvertType(out[0], new(struct {
			OutputLength *big.Int
			IanaName     string
			Oid          string
			Status       uint8
			MultiHash    string
		})).(*struct {
			OutputLength *big.Int
			IanaName     string
			Oid          string
			Status       uint8
			MultiHash    string
		})
		if bits := int64(len(values[i]) * 8); alg.OutputLength.Cmp(big.NewInt(bits)) != 0 {
			return invalid("Hash 0x%x's length (%d bits) is different from the expected length (%s bits)", values[i], bits, alg.OutputLength)
		}
	}
	return nil
}

// call runs a read-only call of the stand-in contract.
func (s *Server) call(ctx context.Context, method string, args ...any) ([]any, error) {
	data, err := s.abi.Pack(method, args...)
	if err != nil {
		return nil, err
	}
	out, err := s.Sim.Client().CallContract(ctx, ethereum.CallMsg{To: &s.Contract, Data: data}, nil)
	if err != nil {
		return nil, err
	}
	return s.abi.Unpack(method, out)
}

// sendSignedTransaction mirrors EBSI's sendTransaction: the signed raw
// transaction must be the unsigned one with the signature, signed by its
// from, for this chain (chainId compared as a string, as EBSI does), to the
// Timestamp contract (compared as a string: EIP-55), calling
// timestampHashes with valid hashes; the token's DID must control the
// signer. Then it goes to the chain; the result is its hash.
func (s *Server) sendSignedTransaction(ctx context.Context, sub subject, params json.RawMessage) (string, error) {
	var p ebsi.SendSignedTransactionParams
	if err := oneParam(params, &p); err != nil {
		return "", err
	}
	u := p.UnsignedTransaction
	if p.Protocol != "eth" {
		return "", invalid("Invalid 'protocol': Invalid literal value, expected \"eth\"")
	}
	for name, v := range map[string]string{"r": p.R, "s": p.S, "v": p.V, "signedRawTransaction": p.SignedRawTransaction} {
		if !strings.HasPrefix(v, "0x") {
			return "", invalid("Invalid '%s': Invalid", name)
		}
	}
	v, ok := new(big.Int).SetString(strings.TrimPrefix(p.V, "0x"), 16)
	if !ok || (v.Int64() != 27 && v.Int64() != 28) {
		return "", invalid("Invalid 'v': Invalid input")
	}
	num := func(field, s string) (*big.Int, error) {
		n, ok := new(big.Int).SetString(strings.TrimPrefix(s, "0x"), 16)
		if !ok || !strings.HasPrefix(s, "0x") {
			return nil, invalid("Invalid 'unsignedTransaction.%s'", field)
		}
		return n, nil
	}
	chainID, err := num("chainId", u.ChainID)
	if err != nil {
		return "", err
	}
	nonce, err := num("nonce", u.Nonce)
	if err != nil {
		return "", err
	}
	gas, err := num("gasLimit", u.GasLimit)
	if err != nil {
		return "", err
	}
	price, err := num("gasPrice", u.GasPrice)
	if err != nil {
		return "", err
	}
	value, err := num("value", u.Value)
	if err != nil {
		return "", err
	}
	data, ok := isHex(u.Data)
	if !ok || !common.IsHexAddress(u.To) {
		return "", invalid("Invalid 'unsignedTransaction'")
	}
	r, ok1 := new(big.Int).SetString(strings.TrimPrefix(p.R, "0x"), 16)
	sv, ok2 := new(big.Int).SetString(strings.TrimPrefix(p.S, "0x"), 16)
	if !ok1 || !ok2 || !nonce.IsUint64() || !gas.IsUint64() {
		return "", invalid("Invalid signature")
	}
	to := common.HexToAddress(u.To)
	// EIP-155: v = 35 + 2 chainId + recovery id.
	v155 := new(big.Int).Add(new(big.Int).Lsh(chainID, 1), big.NewInt(35+v.Int64()-27))
	rebuilt := types.NewTx(&types.LegacyTx{Nonce: nonce.Uint64(), GasPrice: price, Gas: gas.Uint64(), To: &to, Value: value,
		Data: data, V: v155, R: r, S: sv})
	rawRebuilt, err := rebuilt.MarshalBinary()
	if err != nil {
		return "", invalid("%v", err)
	}
	if !strings.EqualFold(hexutil.Encode(rawRebuilt), p.SignedRawTransaction) {
		return "", invalid("The unsigned transaction + signature (%s) does not match with the signedRawTransaction (%s)",
			hexutil.Encode(rawRebuilt), p.SignedRawTransaction)
	}
	signer, err := types.Sender(types.NewEIP155Signer(chainID), rebuilt)
	if err != nil {
		return "", invalid("%v", err)
	}
	if !strings.EqualFold(signer.Hex(), u.From) {
		return "", invalid("The signer of the transaction (%s) does not match with unsignedTransaction.from (%s) ",
			strings.ToLower(signer.Hex()), u.From)
	}
	if want := ebsi.FormatQuantity(s.ChainID); u.ChainID != want {
		return "", invalid("Invalid unsignedTransaction.chainId. Expected %s. Received %s", want, u.ChainID)
	}
	if u.To != s.Contract.Hex() {
		return "", invalid("Invalid unsignedTransaction.to. Expected %s. Received %s", s.Contract.Hex(), u.To)
	}
	if len(data) < 4 {
		return "", invalid("no function in unsignedTransaction.data")
	}
	m, err := s.abi.MethodById(data[:4])
	if err != nil || m.Name != "timestampHashes" {
		return "", invalid("The function name %v can not be used in this context", methodName(m))
	}
	args, err := m.Inputs.Unpack(data[4:])
	if err != nil {
		return "", invalid("%v", err)
	}
	algs := args[0].([]*big.Int)
	values := args[1].([][]byte)
	if err := s.checkHashes(ctx, algs, values); err != nil {
		return "", err
	}
	s.mu.Lock()
	ctrl, known := s.dids[sub.sub]
	s.mu.Unlock()
	switch {
	case !known:
		return "", invalid("The DID %s does not exist", sub.sub)
	case !slices.Contains(ctrl, signer):
		return "", invalid("The DID %s is not controlled by the address %s", sub.sub, strings.ToLower(signer.Hex()))
	}
	if err := s.Sim.Client().SendTransaction(ctx, rebuilt); err != nil {
		return "", invalid("%s", ethersReason(err))
	}
	return rebuilt.Hash().Hex(), nil
}

func methodName(m *abi.Method) string {
	if m == nil {
		return "unknown"
	}
	return m.Name
}

// ethersReason is the reason ethers v5 (EBSI's API's library) gives for a
// node's refusal, which the API relays as the JSON-RPC message.
func ethersReason(err error) string {
	s := strings.ToLower(err.Error())
	switch {
	case strings.Contains(s, "nonce too low"):
		return "nonce has already been used"
	case strings.Contains(s, "replacement transaction underpriced"):
		return "replacement fee too low"
	case strings.Contains(s, "insufficient funds"):
		return "insufficient funds for intrinsic transaction cost"
	}
	return err.Error()
}

// ledgerMethods are the eth_* methods the stand-in Ledger API forwards;
// protected ones need a valid token, as on EBSI's Ledger API.
var ledgerMethods = map[string]bool{
	"eth_blockNumber": false, "eth_chainId": false, "eth_gasPrice": false, "eth_getBlockByNumber": false,
	"eth_getBlockByHash": false, "eth_getTransactionByHash": false, "eth_getTransactionCount": false,
	"eth_getTransactionReceipt": false, "eth_call": false, "eth_getLogs": false, "eth_getCode": false,
	"net_version": false, "eth_estimateGas": true, "eth_sendRawTransaction": true,
}

// ledgerRPC serves POST /ledger/V/blockchains/besu: the chain's JSON-RPC.
func (s *Server) ledgerRPC(w http.ResponseWriter, r *http.Request) {
	req, err := readRPC(r)
	if err != nil {
		writeRPC(w, nil, nil, err)
		return
	}
	protected, ok := ledgerMethods[req.Method]
	if !ok {
		writeRPC(w, req.ID, nil, &rpcErr{status: http.StatusOK, code: -32601, message: "Method not found"})
		return
	}
	if protected {
		if _, refusal := s.authenticate(r, false); refusal != "" {
			problem(w, http.StatusUnauthorized, "Unauthorized", refusal)
			return
		}
	}
	var params []json.RawMessage
	if err := json.Unmarshal(req.Params, &params); err != nil {
		writeRPC(w, req.ID, nil, &rpcErr{status: http.StatusBadRequest, code: -32602, message: "Invalid params"})
		return
	}
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p
	}
	var result json.RawMessage
	err = s.node.CallContext(r.Context(), &result, req.Method, args...)
	var re rpc.Error
	if errors.As(err, &re) {
		err = &rpcErr{status: http.StatusOK, code: re.ErrorCode(), message: re.Error()}
	}
	writeRPC(w, req.ID, result, err)
}

// TimestampJSON is the Timestamp API's GET /timestamps/{id} response.
type TimestampJSON struct {
	Hash            string `json:"hash"`
	TimestampedBy   string `json:"timestampedBy"`
	BlockNumber     uint64 `json:"blockNumber"`
	Timestamp       string `json:"timestamp"`
	TransactionHash string `json:"transactionHash"`
	Data            string `json:"data"`
}

// Timestamp is a timestamp as the contract stores it.
type Timestamp struct {
	HashAlgorithmID *big.Int
	HashValue       []byte
	TimestampedBy   common.Address
	BlockNumber     uint64
	Data            []byte
}

// Timestamp reads the timestamp with id from the contract.
func (s *Server) Timestamp(ctx context.Context, id [32]byte) (Timestamp, error) {
	out, err := s.call(ctx, "getTimestampById", id)
	if err != nil {
		return Timestamp{}, fmt.Errorf("ebsitest: getTimestampById(%x): %w", id, err)
	}
	h := *abi.ConvertType(out[0], new(struct {
		Algorithm *big.Int
		Value     []byte
	})).(*struct {
		Algorithm *big.Int
		Value     []byte
	})
	return Timestamp{HashAlgorithmID: h.Algorithm, HashValue: h.Value, TimestampedBy: out[1].(common.Address),
		BlockNumber: out[2].(*big.Int).Uint64(), Data: out[3].([]byte)}, nil
}

// getTimestamp serves GET /timestamp/V/timestamps/{id}, from the contract
// and its TimestampedHashes events (EBSI serves it from an index).
func (s *Server) getTimestamp(w http.ResponseWriter, r *http.Request) {
	id, err := ebsi.ParseTimestampID(r.PathValue("id"))
	if err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", "Invalid timestampId: "+err.Error())
		return
	}
	ts, err := s.Timestamp(r.Context(), id)
	if err != nil {
		problem(w, http.StatusNotFound, "Not Found", "Timestamp "+r.PathValue("id")+" not found")
		return
	}
	n := new(big.Int).SetUint64(ts.BlockNumber)
	logs, err := s.Sim.Client().FilterLogs(r.Context(), ethereum.FilterQuery{FromBlock: n, ToBlock: n, Addresses: []common.Address{s.Contract}})
	if err != nil {
		problem(w, http.StatusInternalServerError, "Internal Server Error", err.Error())
		return
	}
	var txHash common.Hash
	ev := s.abi.Events["TimestampedHashes"]
	for _, l := range logs {
		if len(l.Topics) == 0 || l.Topics[0] != ev.ID {
			continue
		}
		vals, err := ev.Inputs.Unpack(l.Data)
		if err == nil && slices.Contains(vals[0].([][32]byte), id) {
			txHash = l.TxHash
			break
		}
	}
	hdr, err := s.Sim.Client().HeaderByNumber(r.Context(), n)
	if err != nil {
		problem(w, http.StatusInternalServerError, "Internal Server Error", err.Error())
		return
	}
	var hash string
	if len(ts.HashValue) == 32 && ts.HashAlgorithmID.Int64() == SHA256AlgorithmID {
		hash = ebsi.FormatSHA256Hash([32]byte(ts.HashValue))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(TimestampJSON{
		Hash: hash, TimestampedBy: ts.TimestampedBy.Hex(), BlockNumber: ts.BlockNumber,
		Timestamp:       time.Unix(int64(hdr.Time), 0).UTC().Format("2006-01-02T15:04:05.000Z"),
		TransactionHash: txHash.Hex(), Data: hexutil.Encode(ts.Data),
	})
}
