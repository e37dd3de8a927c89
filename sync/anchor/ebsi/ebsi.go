package ebsi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// DefaultMaxGas is the largest gas limit Build accepts from the Timestamp
// API: 0x1000000, the limit EBSI's API itself falls back to when it cannot
// estimate a transaction's gas (its buildTransaction).
const DefaultMaxGas = 0x1000000

// DefaultTimeout bounds each HTTP request of the default client.
const DefaultTimeout = 30 * time.Second

// Options configures a Backend.
type Options struct {
	// Endpoint is the Timestamp API's JSON-RPC URL, for example
	// https://api-pilot.ebsi.eu/timestamp/v4/jsonrpc. Required; it must be
	// https and its path must end in /timestamp/<APIVersion>/jsonrpc.
	Endpoint string
	// APIVersion pins the Timestamp API's major version, for example "v4".
	// Required: EBSI warns that a new major version is not backward
	// compatible, so the agent never follows one by itself.
	APIVersion string
	// Ledger is the Ledger API's JSON-RPC URL (EBSI's proxy of the Besu
	// nodes' eth_* methods), for example
	// https://api-pilot.ebsi.eu/ledger/v4/blockchains/besu. Empty means the
	// Endpoint's host with the path /ledger/<APIVersion>/blockchains/besu.
	// It must be https and its path must carry a version segment (v1, v2…).
	Ledger string
	// LedgerToken sends the access token with ledger calls as well. The
	// backend calls only unprotected ledger methods (block, nonce, gas
	// price, receipt, chain id), so by default it does not.
	LedgerToken bool
	// Token gives the access token with the timestamp_write scope. Required.
	Token TokenSource
	// Signer holds the device's secp256k1 key, which signs each anchor
	// transaction on the device. Required. evmtx.KeySigner(devkey.ECDSA())
	// is one.
	Signer evmtx.Signer
	// ChainID, if set, pins the chain: the backend refuses a ledger, or an
	// unsigned transaction from the API, for another chain. Otherwise the
	// ledger is asked once.
	ChainID *big.Int
	// HashAlgorithmID is the id of sha2-256 in EBSI's Timestamp contract
	// (GET /timestamp/<APIVersion>/hash-algorithms lists them). Required.
	HashAlgorithmID *big.Int
	// Contract, if not zero, pins the Timestamp contract's address: Build
	// refuses an unsigned transaction to any other.
	Contract common.Address
	// MaxGas is the largest gas limit accepted from the API; default
	// DefaultMaxGas.
	MaxGas uint64
	// RefreshBefore is how long before its expiry a token is replaced;
	// default DefaultRefreshBefore.
	RefreshBefore time.Duration
	// HTTPClient makes the requests; default a client with DefaultTimeout.
	HTTPClient *http.Client
	// Logger receives the backend's events; default discards.
	Logger *slog.Logger
	// Now is the clock tokens expire by; default time.Now.
	Now func() time.Time
}

// Backend is an anchor.Backend that anchors through EBSI's Timestamp
// contract and API (firmware-docs/EBSI.md).
type Backend struct {
	// Constant after New.
	opts     Options
	endpoint string
	ledger   string
	rpc      *rpcClient

	mu         sync.Mutex
	tok        string    // the token in use, or ""
	tokExp     time.Time // its expiry, zero if unknown
	refused    string    // the last token the API refused
	authFailed bool      // the last authorised call, or token fetch, failed
	chainID    *big.Int  // nil until known
	apiTo      string    // the "to" of the API's last unsigned transaction, verbatim
	apiChainID string    // its "chainId", verbatim
}

var apiVersionRE = regexp.MustCompile(`^v[1-9][0-9]*$`)

// New returns a backend; it contacts neither the API nor the token source.
func New(o Options) (*Backend, error) {
	switch {
	case !apiVersionRE.MatchString(o.APIVersion):
		return nil, fmt.Errorf("ebsi: Options.APIVersion %q: want a pinned major version such as \"v4\"", o.APIVersion)
	case o.Token == nil:
		return nil, errors.New("ebsi: Options.Token is required")
	case o.Signer == nil:
		return nil, errors.New("ebsi: Options.Signer is required")
	case o.HashAlgorithmID == nil || o.HashAlgorithmID.Sign() < 0:
		return nil, fmt.Errorf("ebsi: Options.HashAlgorithmID %v: want EBSI's id of sha2-256", o.HashAlgorithmID)
	case o.ChainID != nil && o.ChainID.Sign() <= 0:
		return nil, fmt.Errorf("ebsi: Options.ChainID %s is not positive", o.ChainID)
	}
	ep, err := checkURL("Endpoint", o.Endpoint)
	if err != nil {
		return nil, err
	}
	suffix := "/timestamp/" + o.APIVersion + "/jsonrpc"
	prefix, ok := strings.CutSuffix(ep.Path, suffix)
	if !ok {
		return nil, fmt.Errorf("ebsi: Options.Endpoint %s: path %q does not end in %s (the pinned APIVersion %s)", o.Endpoint, ep.Path, suffix, o.APIVersion)
	}
	ledger := o.Ledger
	if ledger == "" {
		l := *ep
		l.Path = prefix + "/ledger/" + o.APIVersion + "/blockchains/besu"
		ledger = l.String()
	}
	lu, err := checkURL("Ledger", ledger)
	if err != nil {
		return nil, err
	}
	if !hasVersionSegment(lu.Path) {
		return nil, fmt.Errorf("ebsi: Options.Ledger %s: path carries no API version (such as /ledger/v4/blockchains/besu)", ledger)
	}
	if o.MaxGas == 0 {
		o.MaxGas = DefaultMaxGas
	}
	if o.RefreshBefore <= 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.HashAlgorithmID = new(big.Int).Set(o.HashAlgorithmID)
	return &Backend{opts: o, endpoint: ep.String(), ledger: lu.String(), rpc: &rpcClient{hc: o.HTTPClient}}, nil
}

// checkURL parses an https URL without credentials, query or fragment.
func checkURL(field, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("ebsi: Options.%s %q: %w", field, s, err)
	case u.Scheme != "https":
		return nil, fmt.Errorf("ebsi: Options.%s %q: want an https URL", field, s)
	case u.Host == "":
		return nil, fmt.Errorf("ebsi: Options.%s %q has no host", field, s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("ebsi: Options.%s %q: want no credentials, query or fragment", field, s)
	}
	return u, nil
}

func hasVersionSegment(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		if apiVersionRE.MatchString(seg) {
			return true
		}
	}
	return false
}

// Address returns the device's account, the sender of its anchors.
func (b *Backend) Address() common.Address { return b.opts.Signer.Address() }

// Endpoint and LedgerURL return the URLs the backend calls.
func (b *Backend) Endpoint() string { return b.endpoint }

// LedgerURL returns the Ledger API URL the backend reads the chain from.
func (b *Backend) LedgerURL() string { return b.ledger }

// Payload returns the payload an anchor of this backend carries, for
// evmtx.VerifyEvidence; its Contract is the pinned one, or else the one
// the API last named (zero before the first Build).
func (b *Backend) Payload() Payload {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.opts.Contract
	if c == (common.Address{}) && common.IsHexAddress(b.apiTo) {
		c = common.HexToAddress(b.apiTo)
	}
	return Payload{Contract: c, HashAlgorithmID: new(big.Int).Set(b.opts.HashAlgorithmID)}
}

// ledgerCall calls an eth_* method on the Ledger API.
func (b *Backend) ledgerCall(ctx context.Context, method string, out any, params ...any) error {
	if b.opts.LedgerToken {
		return b.authCall(ctx, b.ledger, method, out, params...)
	}
	err := b.rpc.call(ctx, b.ledger, "", method, out, params...)
	if isAuth(err) {
		return fmt.Errorf("ebsi: ledger %s: %w: %v (set LedgerToken to send the access token)", method, ErrUnauthorized, err)
	}
	if err != nil {
		return fmt.Errorf("ebsi: ledger: %w", err)
	}
	return nil
}

// ChainID returns the chain's id, asking the ledger the first time and
// checking it against Options.ChainID.
func (b *Backend) ChainID(ctx context.Context) (*big.Int, error) {
	b.mu.Lock()
	id := b.chainID
	b.mu.Unlock()
	if id != nil {
		return id, nil
	}
	var h hexutil.Big
	if err := b.ledgerCall(ctx, "eth_chainId", &h); err != nil {
		return nil, err
	}
	id = (*big.Int)(&h)
	if p := b.opts.ChainID; p != nil && p.Cmp(id) != 0 {
		return nil, fmt.Errorf("ebsi: ledger is on chain %s, configured chain is %s", id, p)
	}
	b.mu.Lock()
	b.chainID = id
	b.mu.Unlock()
	return id, nil
}

// rpcBlock is the part of an eth_getBlockByNumber result the backend reads.
type rpcBlock struct {
	Number    *hexutil.Uint64 `json:"number"`
	Hash      *common.Hash    `json:"hash"`
	Timestamp *hexutil.Uint64 `json:"timestamp"`
}

// Block implements anchor.Backend. Block(ctx, Latest), the loop's
// reachability probe, also makes sure the device can write: it fails with
// ErrUnauthorized while no usable access token can be had, and, after the
// API refused the device's tokens, until the API accepts one again (a
// timestampHashes request, which only builds a transaction, tells).
func (b *Backend) Block(ctx context.Context, ref anchor.BlockRef) (anchor.Block, error) {
	var tag string
	switch ref {
	case anchor.Latest:
		if err := b.writable(ctx); err != nil {
			return anchor.Block{}, err
		}
		tag = "latest"
	case anchor.Finalized:
		tag = "finalized"
	default:
		if ref < 0 {
			return anchor.Block{}, fmt.Errorf("ebsi: unknown block reference %d", ref)
		}
		tag = hexutil.EncodeUint64(uint64(ref))
	}
	var raw json.RawMessage
	err := b.ledgerCall(ctx, "eth_getBlockByNumber", &raw, tag, false)
	if err != nil {
		return anchor.Block{}, evmtx.BlockError("ebsi", ref, err)
	}
	if isNull(raw) {
		return anchor.Block{}, fmt.Errorf("ebsi: block %s: %w", ref, anchor.ErrNotFound)
	}
	var blk rpcBlock
	if err := json.Unmarshal(raw, &blk); err != nil || blk.Number == nil || blk.Hash == nil || blk.Timestamp == nil {
		return anchor.Block{}, fmt.Errorf("ebsi: block %s: malformed result %s", ref, short(string(raw)))
	}
	return anchor.Block{Number: uint64(*blk.Number), Hash: anchor.Hash(*blk.Hash), Time: uint64(*blk.Timestamp)}, nil
}

// probeHash is the hash value of the authorisation probe's timestampHashes
// request; the transaction it builds is never signed.
var probeHash = NoteHash([]byte("waybill: EBSI Timestamp API authorisation probe"))

// writable fails with ErrUnauthorized while the device cannot write.
func (b *Backend) writable(ctx context.Context) error {
	if _, err := b.token(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	failed := b.authFailed
	b.mu.Unlock()
	if !failed {
		return nil
	}
	h := Hashes{AlgorithmIDs: []*big.Int{b.opts.HashAlgorithmID}, Values: [][]byte{probeHash[:]}}
	p, err := h.Params(b.Address())
	if err != nil {
		return err
	}
	var u UnsignedTransaction
	err = b.authCall(ctx, b.endpoint, "timestampHashes", &u, p)
	var rerr *RPCError
	if err != nil && !errors.As(err, &rerr) {
		return fmt.Errorf("ebsi: authorisation probe: %w", err)
	}
	// Accepted (a JSON-RPC refusal of the probe itself comes after the
	// API's token check; Build will report it).
	b.opts.Logger.Info("Timestamp API accepts the access token again")
	return nil
}

func isUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// PendingNonce implements anchor.Backend.
func (b *Backend) PendingNonce(ctx context.Context) (uint64, error) {
	var n hexutil.Uint64
	if err := b.ledgerCall(ctx, "eth_getTransactionCount", &n, b.Address(), "pending"); err != nil {
		return 0, fmt.Errorf("ebsi: pending nonce of %s: %w", b.Address(), err)
	}
	return uint64(n), nil
}

// SuggestFees implements anchor.Backend: the ledger's gas price as both tip
// and cap. EBSI's Besu network charges no gas (its API builds transactions
// with gasPrice 0x0), so there this is zero, and a stuck transaction is
// rebroadcast rather than re-priced.
func (b *Backend) SuggestFees(ctx context.Context) (anchor.Fees, error) {
	var gp hexutil.Big
	if err := b.ledgerCall(ctx, "eth_gasPrice", &gp); err != nil {
		return anchor.Fees{}, fmt.Errorf("ebsi: gas price: %w", err)
	}
	p := (*big.Int)(&gp)
	return anchor.Fees{Tip: p, Cap: new(big.Int).Set(p)}, nil
}

// UnsignedTransaction is the unsigned transaction EBSI's Timestamp API
// returns from its build methods (timestampHashes and the others), and
// takes back in sendSignedTransaction: a legacy (pre-EIP-2718) transaction
// with every number as a 0x-prefixed hex string.
type UnsignedTransaction struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Data     string `json:"data"`
	Value    string `json:"value"`
	Nonce    string `json:"nonce"`
	ChainID  string `json:"chainId"`
	GasLimit string `json:"gasLimit"`
	GasPrice string `json:"gasPrice"`
}

// SendSignedTransactionParams are the parameters of the Timestamp API's
// sendSignedTransaction method: protocol "eth", the unsigned transaction,
// the signature's r and s (0x and 64 hex digits) and v (0x1b or 0x1c: 27 +
// the recovery id, as EBSI's v4 validator requires), and the signed raw
// transaction (EIP-155), which must be the unsigned one with that
// signature.
type SendSignedTransactionParams struct {
	Protocol             string              `json:"protocol"`
	UnsignedTransaction  UnsignedTransaction `json:"unsignedTransaction"`
	R                    string              `json:"r"`
	S                    string              `json:"s"`
	V                    string              `json:"v"`
	SignedRawTransaction string              `json:"signedRawTransaction"`
}

// Build implements anchor.Backend: it asks the Timestamp API to build the
// unsigned timestampHashes transaction for the request's note (one hash:
// NoteHash, with TimestampData), checks that the transaction does exactly
// that (from the device, to the Timestamp contract, no value, this chain,
// this calldata byte for byte, a bounded gas limit), sets the loop's nonce
// and gas price (fees.Cap; zero on EBSI), and signs it on the device
// (EIP-155 legacy, as the API expects).
func (b *Backend) Build(ctx context.Context, req anchor.Request, nonce uint64, fees anchor.Fees) (anchor.Tx, error) {
	chainID, err := b.ChainID(ctx)
	if err != nil {
		return anchor.Tx{}, err
	}
	h, err := CheckpointHashes(req.Note, b.opts.HashAlgorithmID)
	if err != nil {
		return anchor.Tx{}, err
	}
	want, err := h.Calldata()
	if err != nil {
		return anchor.Tx{}, err
	}
	params, err := h.Params(b.Address())
	if err != nil {
		return anchor.Tx{}, err
	}
	var u UnsignedTransaction
	if err := b.authCall(ctx, b.endpoint, "timestampHashes", &u, params); err != nil {
		return anchor.Tx{}, err
	}
	to, gas, err := b.checkUnsigned(u, want, chainID)
	if err != nil {
		return anchor.Tx{}, err
	}
	price := fees.Cap
	if price == nil {
		price = new(big.Int)
	}
	if price.Sign() < 0 {
		return anchor.Tx{}, fmt.Errorf("ebsi: gas price %s is negative", price)
	}
	tx, err := b.opts.Signer.SignTx(types.NewTx(&types.LegacyTx{
		Nonce: nonce, GasPrice: new(big.Int).Set(price), Gas: gas, To: &to, Value: new(big.Int), Data: want,
	}), chainID)
	if err != nil {
		return anchor.Tx{}, fmt.Errorf("ebsi: sign: %w", err)
	}
	if !tx.Protected() {
		return anchor.Tx{}, errors.New("ebsi: signer produced a transaction without EIP-155 replay protection")
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return anchor.Tx{}, fmt.Errorf("ebsi: encode: %w", err)
	}
	b.mu.Lock()
	b.apiTo, b.apiChainID = u.To, u.ChainID
	b.mu.Unlock()
	return anchor.Tx{
		Hash: anchor.Hash(tx.Hash()), Raw: raw, Ledger: "eip155:" + chainID.String(), Nonce: nonce,
		Fees: anchor.Fees{Tip: new(big.Int).Set(price), Cap: new(big.Int).Set(price)}, Gas: gas,
		Payload: anchor.PayloadEBSI, To: strings.ToLower(to.Hex()), Endpoint: b.endpoint,
	}, nil
}

// checkUnsigned checks the API's unsigned transaction against what the
// device meant to sign, and returns its destination and gas limit.
func (b *Backend) checkUnsigned(u UnsignedTransaction, want []byte, chainID *big.Int) (common.Address, uint64, error) {
	bad := func(format string, args ...any) (common.Address, uint64, error) {
		return common.Address{}, 0, fmt.Errorf("ebsi: Timestamp API's unsigned transaction refused: "+format, args...)
	}
	if !strings.EqualFold(u.From, b.Address().Hex()) {
		return bad("from %q is not the device's %s", short(u.From), b.Address())
	}
	if !common.IsHexAddress(u.To) || !strings.HasPrefix(u.To, "0x") {
		return bad("to %q is not an address", short(u.To))
	}
	to := common.HexToAddress(u.To)
	if c := b.opts.Contract; c != (common.Address{}) && to != c {
		return bad("to %s is not the Timestamp contract %s", to, c)
	}
	data, err := decodeHex(u.Data)
	if err != nil {
		return bad("data: %v", err)
	}
	if !bytes.Equal(data, want) {
		return bad("data is not timestampHashes of this checkpoint")
	}
	value, err := parseQuantity(u.Value)
	if err != nil || value.Sign() != 0 {
		return bad("value %q is not zero", short(u.Value))
	}
	id, err := parseQuantity(u.ChainID)
	if err != nil || id.Cmp(chainID) != 0 {
		return bad("chainId %q is not the ledger's %s", short(u.ChainID), chainID)
	}
	gas, err := parseQuantity(u.GasLimit)
	if err != nil || gas.Sign() <= 0 || !gas.IsUint64() || gas.Uint64() > b.opts.MaxGas {
		return bad("gasLimit %q is not within 1..%d", short(u.GasLimit), b.opts.MaxGas)
	}
	return to, gas.Uint64(), nil
}

// parseQuantity parses a 0x-prefixed hex number, as EBSI's API writes them
// (ethers' toHexString, "0x0" and "0x00" alike).
func parseQuantity(s string) (*big.Int, error) {
	rest, ok := strings.CutPrefix(s, "0x")
	if !ok || rest == "" || len(rest) > 64 {
		return nil, fmt.Errorf("quantity %q is not 0x-prefixed hex", short(s))
	}
	n, ok := new(big.Int).SetString(rest, 16)
	if !ok {
		return nil, fmt.Errorf("quantity %q is not hex", short(s))
	}
	return n, nil
}

// FormatQuantity writes n as ethers v5's BigNumber.toHexString does, the
// form EBSI's API writes chain ids and nonces in: 0x and an even number of
// lowercase hex digits ("0x00", "0x0539").
func FormatQuantity(n *big.Int) string {
	h := n.Text(16)
	if len(h)%2 == 1 {
		h = "0" + h
	}
	return "0x" + h
}

// Send implements anchor.Backend: the Timestamp API's
// sendSignedTransaction with the unsigned transaction, the signature and
// the raw transaction. Refusals are classified by the messages of Besu's
// and go-ethereum's pools, as the API relays them (ethers' reasons:
// "nonce has already been used", "replacement fee too low").
func (b *Backend) Send(ctx context.Context, raw []byte) error {
	p, tx, err := b.SendParams(raw)
	if err != nil {
		return err
	}
	var h common.Hash
	err = b.authCall(ctx, b.endpoint, "sendSignedTransaction", &h, p)
	if err != nil {
		if isUnauthorized(err) {
			return err
		}
		return evmtx.ClassifySend("ebsi", tx.Hash(), err)
	}
	if h != tx.Hash() {
		return fmt.Errorf("ebsi: Timestamp API reports transaction %s for %s", h, tx.Hash())
	}
	return nil
}

// SendParams returns the sendSignedTransaction parameters for a raw signed
// transaction as Build makes it, and the decoded transaction.
func (b *Backend) SendParams(raw []byte) (SendSignedTransactionParams, *types.Transaction, error) {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return SendSignedTransactionParams{}, nil, fmt.Errorf("ebsi: stored transaction does not decode: %w", err)
	}
	if tx.Type() != types.LegacyTxType || !tx.Protected() || tx.To() == nil {
		return SendSignedTransactionParams{}, nil, errors.New("ebsi: stored transaction is not an EIP-155 legacy call")
	}
	chainID := tx.ChainId()
	from, err := types.Sender(types.NewEIP155Signer(chainID), &tx)
	if err != nil {
		return SendSignedTransactionParams{}, nil, fmt.Errorf("ebsi: stored transaction's signature: %w", err)
	}
	v, r, s := tx.RawSignatureValues()
	recid := new(big.Int).Sub(v, new(big.Int).Add(new(big.Int).Lsh(chainID, 1), big.NewInt(35)))
	if !recid.IsInt64() || recid.Int64() < 0 || recid.Int64() > 1 {
		return SendSignedTransactionParams{}, nil, fmt.Errorf("ebsi: stored transaction's v %s does not match chain %s", v, chainID)
	}
	b.mu.Lock()
	toStr, idStr := b.apiTo, b.apiChainID
	b.mu.Unlock()
	if !strings.EqualFold(toStr, tx.To().Hex()) {
		toStr = tx.To().Hex() // EIP-55, as EBSI configures its contract address
	}
	if id, err := parseQuantity(idStr); err != nil || id.Cmp(chainID) != 0 {
		idStr = FormatQuantity(chainID)
	}
	u := UnsignedTransaction{
		From: from.Hex(), To: toStr, Data: hexutil.Encode(tx.Data()), Value: FormatQuantity(tx.Value()),
		Nonce: FormatQuantity(new(big.Int).SetUint64(tx.Nonce())), ChainID: idStr,
		GasLimit: FormatQuantity(new(big.Int).SetUint64(tx.Gas())), GasPrice: FormatQuantity(tx.GasPrice()),
	}
	return SendSignedTransactionParams{
		Protocol: "eth", UnsignedTransaction: u,
		R: fmt.Sprintf("0x%064x", r), S: fmt.Sprintf("0x%064x", s), V: fmt.Sprintf("0x%x", 27+recid.Int64()),
		SignedRawTransaction: hexutil.Encode(raw),
	}, &tx, nil
}

// Receipt implements anchor.Backend, from the ledger's
// eth_getTransactionReceipt; Receipt.JSON is the ledger's answer.
func (b *Backend) Receipt(ctx context.Context, h anchor.Hash) (anchor.Receipt, error) {
	var raw json.RawMessage
	err := b.ledgerCall(ctx, "eth_getTransactionReceipt", &raw, common.Hash(h))
	if err != nil {
		return anchor.Receipt{}, evmtx.ReceiptError("ebsi", h, err)
	}
	if isNull(raw) {
		return anchor.Receipt{}, fmt.Errorf("ebsi: receipt of %s: %w", h, anchor.ErrNotFound)
	}
	var r types.Receipt
	if err := json.Unmarshal(raw, &r); err != nil {
		return anchor.Receipt{}, fmt.Errorf("ebsi: receipt of %s: %w", h, err)
	}
	if r.BlockNumber == nil || !r.BlockNumber.IsUint64() {
		return anchor.Receipt{}, fmt.Errorf("ebsi: receipt of %s has no valid block number", h)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return anchor.Receipt{}, fmt.Errorf("ebsi: receipt of %s: %w", h, err)
	}
	return anchor.Receipt{
		TxHash: anchor.Hash(r.TxHash), BlockNumber: r.BlockNumber.Uint64(), BlockHash: anchor.Hash(r.BlockHash),
		Success: r.Status == types.ReceiptStatusSuccessful, GasUsed: r.GasUsed, JSON: compact.Bytes(),
	}, nil
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

var _ anchor.Backend = (*Backend)(nil)
