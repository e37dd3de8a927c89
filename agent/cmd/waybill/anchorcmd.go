package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/system"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

// cmdAnchorStatus prints what is anchored, pending and confirmed: from the
// anchor store in the log directory when no agent holds it (it works with
// every remote service gone), else from the running agent, which adds the
// live fields. Both ways print the same form: text, or with --json one
// object (firmware-docs/CLI.md). With --evidence it prints each confirmed
// anchor's evidence (ANCHORING.md) as JSON lines.
func cmdAnchorStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags("anchor status", e)
	f.logFlags()
	evidence := f.Bool("evidence", false, "print each confirmed anchor's full evidence, one JSON line each (the agent must not be running)")
	asJSON := f.Bool("json", false, "print one JSON object (firmware-docs/CLI.md) in place of the text")
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	path := filepath.Join(f.data, system.AnchorStore)
	st, anchors, err := anchor.ReadStore(path)
	running := errors.Is(err, anchor.ErrLocked)
	switch {
	case running && *evidence:
		return fmt.Errorf("anchor status: the running agent holds %s: --evidence reads every anchor from the store, so stop the agent first (the newest confirmed anchor's evidence is also on the feed's anchors topic)", path)
	case running:
		// The running agent holds the store: ask it.
		if st, err = agentAnchorStatus(ctx, f.data); err != nil {
			return fmt.Errorf("anchor status: %s is in use and %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("anchor status: %s has no anchor store: the configuration has no anchor section, or the agent has not run with it", f.data)
	case errors.Is(err, anchor.ErrDamaged):
		return fmt.Errorf("anchor status: %w; the agent moves the file aside (%s.damaged-<time>, kept for inspection) and starts a new store when it next starts", err, path)
	case err != nil:
		return fmt.Errorf("anchor status: %w", err)
	}
	if *evidence {
		for _, a := range anchors {
			if a.State != anchor.StateConfirmed {
				continue
			}
			ev, err := a.Evidence()
			if err != nil {
				return err
			}
			b, err := ev.Format()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		return nil
	}
	out := newAnchorStatusJSON(path, st, running)
	if *asJSON {
		return writeJSONLine(e.stdout, out)
	}
	out.text(e.stdout)
	return nil
}

// agentAnchorStatus asks the agent running on the log in dir for its
// anchoring status.
func agentAnchorStatus(ctx context.Context, dir string) (anchor.Status, error) {
	c, err := localapi.Dial(dir)
	if err != nil {
		return anchor.Status{}, fmt.Errorf("the agent holding it does not answer: %w", err)
	}
	var buf jsonBuf
	if err := c.Do(ctx, "GET", "/v1/status", nil, &buf); err != nil {
		return anchor.Status{}, fmt.Errorf("the agent's status: %w", err)
	}
	var s struct {
		Agent struct {
			Sync *system.SyncStatus `json:"sync"`
		} `json:"agent"`
	}
	if err := json.Unmarshal(buf.b, &s); err != nil {
		return anchor.Status{}, fmt.Errorf("the agent's status: %w", err)
	}
	if s.Agent.Sync == nil || s.Agent.Sync.Anchor == nil {
		return anchor.Status{}, errors.New("the running agent reports no anchoring")
	}
	return *s.Agent.Sync.Anchor, nil
}

// anchorStatusJSON is `anchor status --json` (firmware-docs/CLI.md): the
// same members whether or not the agent runs; live is null when it does
// not.
type anchorStatusJSON struct {
	Store        string          `json:"store"`
	AgentRunning bool            `json:"agent_running"`
	Created      time.Time       `json:"created"`
	NextNonce    uint64          `json:"next_nonce"`
	Confirmed    int             `json:"confirmed"`
	Failed       int             `json:"failed"`
	Last         *anchorJSON     `json:"last"`
	InFlight     *anchorJSON     `json:"in_flight"`
	Queued       *queuedJSON     `json:"queued"`
	Damaged      string          `json:"damaged"`
	Live         *anchorLiveJSON `json:"live"`
}

// anchorJSON is one anchor of anchorStatusJSON.
type anchorJSON struct {
	ID        uint64     `json:"id"`
	State     string     `json:"state"`
	Origin    string     `json:"origin"`
	Size      uint64     `json:"size"`
	Root      string     `json:"root"` // base64, as in the checkpoint note
	Nonce     uint64     `json:"nonce"`
	Attempts  int        `json:"attempts"`
	Tx        string     `json:"tx"`         // the included transaction, else the current one
	Block     uint64     `json:"block"`      // 0 until included
	BlockHash string     `json:"block_hash"` // "" until included
	GasUsed   uint64     `json:"gas_used"`
	Created   time.Time  `json:"created"`
	Confirmed *time.Time `json:"confirmed"` // null until confirmed
}

// queuedJSON is the checkpoint waiting for the ledger.
type queuedJSON struct {
	Origin string    `json:"origin"`
	Size   uint64    `json:"size"`
	Root   string    `json:"root"`
	Since  time.Time `json:"since"`
}

// anchorLiveJSON is what only the running agent knows, as of its last step.
type anchorLiveJSON struct {
	Origin     string     `json:"origin"`
	LogSize    uint64     `json:"log_size"`
	Unanchored uint64     `json:"unanchored"`
	Reachable  bool       `json:"reachable"`
	Head       uint64     `json:"head"`
	Error      string     `json:"error"`
	ErrorAt    *time.Time `json:"error_at"`
}

func newAnchorStatusJSON(path string, st anchor.Status, running bool) anchorStatusJSON {
	out := anchorStatusJSON{Store: path, AgentRunning: running, Created: st.Created.UTC(), NextNonce: st.NextNonce,
		Confirmed: st.Confirmed, Failed: st.Failed, Last: newAnchorJSON(st.Last), InFlight: newAnchorJSON(st.InFlight), Damaged: st.Damaged}
	if q := st.Queued; q != nil {
		out.Queued = &queuedJSON{Origin: q.Origin, Size: q.Size, Root: merkle.Hash(q.Root).String(), Since: q.Since.UTC()}
	}
	if running {
		out.Live = &anchorLiveJSON{Origin: st.Origin, LogSize: st.LogSize, Unanchored: st.Unanchored, Reachable: st.Reachable, Head: st.Head, Error: st.Err}
		if !st.ErrAt.IsZero() {
			t := st.ErrAt.UTC()
			out.Live.ErrorAt = &t
		}
	}
	return out
}

func newAnchorJSON(a *anchor.Anchor) *anchorJSON {
	if a == nil {
		return nil
	}
	out := &anchorJSON{ID: a.ID, State: string(a.State), Origin: a.Origin, Size: a.Size, Root: merkle.Hash(a.Root).String(), Nonce: a.Nonce,
		Attempts: len(a.Attempts), GasUsed: a.GasUsed, Created: a.Created.UTC()}
	switch i := a.Included; {
	case i >= 0 && i < len(a.Attempts):
		out.Tx = a.Attempts[i].Hash.String()
		out.Block, out.BlockHash = a.BlockNumber, a.BlockHash.String()
	case a.Current >= 0 && a.Current < len(a.Attempts):
		out.Tx = a.Attempts[a.Current].Hash.String()
	}
	if !a.Confirmed.IsZero() {
		t := a.Confirmed.UTC()
		out.Confirmed = &t
	}
	return out
}

// text writes s for a person: the same facts as its JSON.
func (s anchorStatusJSON) text(w io.Writer) {
	fmt.Fprintf(w, "anchor store %s (since %s)\n", s.Store, s.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "confirmed %d, failed %d, next nonce %d\n", s.Confirmed, s.Failed, s.NextNonce)
	if s.Damaged != "" {
		fmt.Fprintf(w, "damaged store found at start: %s\n", s.Damaged)
	}
	if a := s.Last; a != nil {
		fmt.Fprintf(w, "last confirmed: %s size %d root %s, block %d %s, tx %s\n", a.Origin, a.Size, a.Root, a.Block, a.BlockHash, a.Tx)
	} else {
		fmt.Fprintln(w, "last confirmed: none")
	}
	if a := s.InFlight; a != nil {
		fmt.Fprintf(w, "in flight: %s size %d, state %s, %d attempt(s), nonce %d, tx %s\n", a.Origin, a.Size, a.State, a.Attempts, a.Nonce, a.Tx)
	} else {
		fmt.Fprintln(w, "in flight: none")
	}
	if q := s.Queued; q != nil {
		fmt.Fprintf(w, "queued (ledger unreachable since %s): %s size %d\n", q.Since.Format(time.RFC3339), q.Origin, q.Size)
	} else {
		fmt.Fprintln(w, "queued: none")
	}
	l := s.Live
	if l == nil {
		fmt.Fprintln(w, "agent: not running (the store was read directly; the live state needs the running agent)")
		return
	}
	ledger := "unreachable"
	if l.Reachable {
		ledger = fmt.Sprintf("reachable, head %d", l.Head)
	}
	fmt.Fprintf(w, "anchoring in the running agent: log %s size %d, %d event(s) not anchored; ledger %s\n", l.Origin, l.LogSize, l.Unanchored, ledger)
	if l.Error != "" && l.ErrorAt != nil {
		fmt.Fprintf(w, "last error (%s): %s\n", l.ErrorAt.Format(time.RFC3339), l.Error)
	}
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// lowerHex is a in the form of CLI.md's JSON: 0x and 40 lower-case hex digits.
func lowerHex(a common.Address) string { return strings.ToLower(a.Hex()) }

type jsonBuf struct{ b []byte }

func (j *jsonBuf) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }

// gweiValue is a --max-fee-gwei flag: a fee per gas in gwei, positive.
type gweiValue struct{ wei *big.Int }

func (v *gweiValue) String() string {
	if v == nil || v.wei == nil {
		return ""
	}
	g, _ := new(big.Float).Quo(new(big.Float).SetInt(v.wei), big.NewFloat(1e9)).Float64()
	return fmt.Sprint(g)
}

func (v *gweiValue) Set(s string) error {
	g, ok := new(big.Float).SetString(s)
	if !ok || g.Sign() <= 0 || g.IsInf() {
		return errors.New("not a positive number of gwei")
	}
	wei, _ := new(big.Float).Mul(g, big.NewFloat(1e9)).Int(nil)
	if wei.Sign() <= 0 {
		return errors.New("below 1 wei")
	}
	v.wei = wei
	return nil
}

// nonceValue is a --nonce flag: a transaction nonce, or not given.
type nonceValue struct {
	n   uint64
	set bool
}

func (v *nonceValue) String() string {
	if v == nil || !v.set {
		return ""
	}
	return strconv.FormatUint(v.n, 10)
}

func (v *nonceValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a decimal nonce")
	}
	v.n, v.set = n, true
	return nil
}

// cmdAnchorDeploy deploys the registry contract: signed with --key and
// sent, or with --print-tx printed unsigned for an offline signer.
func cmdAnchorDeploy(ctx context.Context, e *env, args []string) error {
	f := newFlags("anchor deploy", e)
	f.StringVar(&f.key, "key", "", "keystore of the account that deploys and pays (a key waybill keygen made; it gains no rights over the contract)")
	f.StringVar(&f.passFile, "passphrase-file", "", "file holding the key's passphrase (else $"+devkey.PassphraseEnv+")")
	rpcURL := f.String("rpc", "", "JSON-RPC URL of a node of the chain (http://, https://, ws://, wss://)")
	f.Var((*chainIDValue)(&f.chainID), "chain-id", "EIP-155 chain ID the deployment is for: a node on another chain is refused")
	maxFee := &gweiValue{wei: big.NewInt(100e9)}
	f.Var(maxFee, "max-fee-gwei", "fee cap per gas, in gwei; a base fee above it is refused")
	wait := f.Duration("wait", 5*time.Minute, "how long to wait for the deployment's receipt")
	printTx := f.Bool("print-tx", false, "print the unsigned deployment transaction as JSON and exit, for an offline signer (needs --from, not --key)")
	unsigned := f.Bool("unsigned", false, "the same as --print-tx")
	from := f.String("from", "", "with --print-tx: the 0x address of the account that will sign and pay")
	var nonce nonceValue
	f.Var(&nonce, "nonce", "with --print-tx: the transaction's nonce (default: the account's pending nonce)")
	asJSON := f.Bool("json", false, "print one JSON object (firmware-docs/CLI.md) in place of the text")
	if err := f.parse(args, 0, "rpc"); err != nil {
		return err
	}
	offline := *printTx || *unsigned
	switch {
	case offline && f.key != "":
		return usageError{"anchor deploy: --print-tx takes --from ADDRESS, not --key: the key stays with the offline signer"}
	case offline && !common.IsHexAddress(*from):
		return usageError{fmt.Sprintf("anchor deploy: --print-tx needs --from, the 0x address that signs (got %q)", *from)}
	case !offline && (*from != "" || nonce.set):
		return usageError{"anchor deploy: --from and --nonce go with --print-tx"}
	case !offline && f.key == "":
		return usageError{"anchor deploy: --key is required (or --print-tx --from ADDRESS for an offline signer)"}
	case *wait <= 0:
		return usageError{"anchor deploy: --wait must be positive"}
	}
	o := registry.DeployOptions{MaxFeePerGas: maxFee.wei}
	if f.chainID != 0 {
		o.ChainID = new(big.Int).SetUint64(f.chainID)
	}
	if nonce.set {
		o.Nonce = &nonce.n
	}
	var key *ecdsa.PrivateKey
	if !offline {
		k, err := f.loadKey(ctx)
		if err != nil {
			return fmt.Errorf("anchor deploy: %w", err)
		}
		key = k.ECDSA()
	}
	c, err := ethclient.DialContext(ctx, *rpcURL)
	if err != nil {
		return fmt.Errorf("anchor deploy: dial %s: %w", *rpcURL, err)
	}
	defer c.Close()
	if offline {
		tx, chainID, err := registry.DeployTx(ctx, c, common.HexToAddress(*from), o)
		if err != nil {
			return err
		}
		return writeJSONLine(e.stdout, newDeployTxJSON(common.HexToAddress(*from), tx, chainID))
	}
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	d, err := registry.Deploy(wctx, c, key, o)
	if err != nil {
		return fmt.Errorf("anchor deploy: %w", err)
	}
	if *asJSON {
		return writeJSONLine(e.stdout, deployJSON{Contract: lowerHex(d.Contract), Deployer: lowerHex(d.Deployer), ChainID: d.ChainID.Uint64(),
			Tx: d.TxHash.Hex(), Block: d.Block, BlockHash: d.BlockHash.Hex(), GasUsed: d.GasUsed, CodeHash: d.CodeHash.Hex()})
	}
	fmt.Fprintf(e.stdout, "registry deployed at %s on chain %s by %s\n", d.Contract.Hex(), d.ChainID, d.Deployer.Hex())
	fmt.Fprintf(e.stdout, "transaction %s in block %d %s, gas used %d\n", d.TxHash.Hex(), d.Block, d.BlockHash.Hex(), d.GasUsed)
	fmt.Fprintf(e.stdout, "the deployed code is the committed runtime code (keccak256 %s)\n\n", d.CodeHash.Hex())
	fmt.Fprintf(e.stdout, "Put in the device configuration:\n\nanchor:\n  rpc: %s\n  contract: %q\n", *rpcURL, d.Contract.Hex())
	return nil
}

// deployJSON is `anchor deploy --json` (firmware-docs/CLI.md).
type deployJSON struct {
	Contract  string `json:"contract"`
	Deployer  string `json:"deployer"`
	ChainID   uint64 `json:"chain_id"`
	Tx        string `json:"tx"`
	Block     uint64 `json:"block"`
	BlockHash string `json:"block_hash"`
	GasUsed   uint64 `json:"gas_used"`
	CodeHash  string `json:"code_keccak256"`
}

// deployTxJSON is `anchor deploy --print-tx` (firmware-docs/CLI.md): the
// unsigned transaction in the form of JSON-RPC's transaction arguments
// (eth_signTransaction), the hash to sign, and the address the contract
// will have.
type deployTxJSON struct {
	ChainID     uint64       `json:"chain_id"`
	From        string       `json:"from"`
	Contract    string       `json:"contract"`
	CodeHash    string       `json:"code_keccak256"`
	SigningHash string       `json:"signing_hash"`
	Transaction deployTxArgs `json:"transaction"`
}

// deployTxArgs are the transaction's fields, quantities in 0x hex.
type deployTxArgs struct {
	Type                 hexutil.Uint64 `json:"type"`
	ChainID              *hexutil.Big   `json:"chainId"`
	From                 string         `json:"from"`
	To                   *string        `json:"to"`
	Nonce                hexutil.Uint64 `json:"nonce"`
	Gas                  hexutil.Uint64 `json:"gas"`
	GasPrice             *hexutil.Big   `json:"gasPrice,omitempty"`
	MaxFeePerGas         *hexutil.Big   `json:"maxFeePerGas,omitempty"`
	MaxPriorityFeePerGas *hexutil.Big   `json:"maxPriorityFeePerGas,omitempty"`
	Value                *hexutil.Big   `json:"value"`
	Data                 hexutil.Bytes  `json:"data"`
}

func newDeployTxJSON(from common.Address, tx *types.Transaction, chainID *big.Int) deployTxJSON {
	code, _ := registry.RuntimeCode() // DeployTx succeeded: the code is known
	args := deployTxArgs{Type: hexutil.Uint64(tx.Type()), ChainID: (*hexutil.Big)(chainID), From: lowerHex(from),
		Nonce: hexutil.Uint64(tx.Nonce()), Gas: hexutil.Uint64(tx.Gas()), Value: (*hexutil.Big)(new(big.Int)), Data: tx.Data()}
	if tx.Type() == types.LegacyTxType {
		args.GasPrice = (*hexutil.Big)(tx.GasPrice())
	} else {
		args.MaxFeePerGas, args.MaxPriorityFeePerGas = (*hexutil.Big)(tx.GasFeeCap()), (*hexutil.Big)(tx.GasTipCap())
	}
	return deployTxJSON{ChainID: chainID.Uint64(), From: lowerHex(from), Contract: lowerHex(crypto.CreateAddress(from, tx.Nonce())),
		CodeHash: registry.CodeHash(code).Hex(), SigningHash: types.LatestSignerForChainID(chainID).Hash(tx).Hex(), Transaction: args}
}

// cmdAnchorVerifyContract checks that an address holds exactly the
// committed registry's runtime code: after an offline deployment, or
// before configuring a registry someone else deployed.
func cmdAnchorVerifyContract(ctx context.Context, e *env, args []string) error {
	f := newFlags("anchor verify-contract", e)
	rpcURL := f.String("rpc", "", "JSON-RPC URL of a node of the chain")
	contract := f.String("contract", "", "0x address of the registry to check")
	f.Var((*chainIDValue)(&f.chainID), "chain-id", "EIP-155 chain ID the registry should be on: a node on another chain is refused")
	asJSON := f.Bool("json", false, "print one JSON object (firmware-docs/CLI.md) in place of the text")
	if err := f.parse(args, 0, "rpc", "contract"); err != nil {
		return err
	}
	if !common.IsHexAddress(*contract) {
		return usageError{fmt.Sprintf("anchor verify-contract: --contract %q is not a 0x address", *contract)}
	}
	addr := common.HexToAddress(*contract)
	c, err := ethclient.DialContext(ctx, *rpcURL)
	if err != nil {
		return fmt.Errorf("anchor verify-contract: dial %s: %w", *rpcURL, err)
	}
	defer c.Close()
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("anchor verify-contract: chain ID: %w", err)
	}
	if f.chainID != 0 && chainID.Cmp(new(big.Int).SetUint64(f.chainID)) != 0 {
		return fmt.Errorf("anchor verify-contract: %w: the node reports chain %s, not %d", registry.ErrWrongChain, chainID, f.chainID)
	}
	h, err := registry.VerifyCode(ctx, c, addr)
	if err != nil {
		return fmt.Errorf("anchor verify-contract: %w", err)
	}
	if *asJSON {
		return writeJSONLine(e.stdout, verifyContractJSON{Contract: lowerHex(addr), ChainID: chainID.Uint64(), CodeHash: h.Hex()})
	}
	fmt.Fprintf(e.stdout, "%s on chain %s holds the committed registry runtime code (keccak256 %s)\n", addr.Hex(), chainID, h.Hex())
	return nil
}

// verifyContractJSON is `anchor verify-contract --json`.
type verifyContractJSON struct {
	Contract string `json:"contract"`
	ChainID  uint64 `json:"chain_id"`
	CodeHash string `json:"code_keccak256"`
}
