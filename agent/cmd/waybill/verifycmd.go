package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/agent/verify/prove"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/feed"
)

// The artefact forms `waybill verify` checks (--form, or detected).
const (
	formBundle      = "bundle"      // waybill log prove (PROTOCOL.md §8)
	formTlogProof   = "tlog-proof"  // waybill log prove --format tlog-proof (§8)
	formConsistency = "consistency" // waybill log consistency (§9)
	formNote        = "note"        // a signed checkpoint: log checkpoint, the feed's checkpoints topic (§7)
	formEvent       = "event"       // a feed event message (FEED.md §2)
	formShow        = "show"        // a `waybill log show` line
	formDomain      = "domain"      // the feed's domain message (FEED.md §4.1)
	formEvidence    = "evidence"    // anchor evidence: anchor status --evidence, the feed's anchors topic (ANCHORING.md §7)
	formFork        = "fork"        // fork evidence: a watcher's alarm of a device that signed two histories (WATCH.md §8)
)

var forms = []string{formBundle, formTlogProof, formConsistency, formNote, formEvent, formShow, formDomain, formEvidence, formFork}

// maxArtefact bounds what verify reads: every form's own limit is at most
// 1 MiB; the extra lets the parser name the limit.
const maxArtefact = 2 << 20

// verifyOpts are verify's flags, parsed.
type verifyOpts struct {
	form       string
	o          verify.Options // pins and verifier keys
	domainFile string
	oldNote    []byte // --old: the earlier signed checkpoint
	newNote    []byte // --new: the later signed checkpoint
	checkpoint []byte // --checkpoint: a note that binds a domain message
	rpcURL     string
	contract   string
	confs      uint64
	consFile   string
	ebsiHashID uint64
}

func cmdVerify(ctx context.Context, e *env, args []string) error {
	f := newFlags("verify", e)
	form := f.String("form", "auto", "the artefact's form: auto, "+strings.Join(forms, ", "))
	device := f.String("device", "", "require the artefact to be of this device address")
	fleet := f.String("fleet", "", "require this fleet in the signing domain")
	chainID := f.Uint64("chain-id", 0, "the chain ID of the signing domain (required for tlog-proof, event, show and note forms unless --domain gives it)")
	domainFile := f.String("domain", "", "a feed domain message (FEED.md §4.1) giving fleet, device and chain ID")
	vkey := f.String("vkey", "", "also require the checkpoint's Ed25519 signature by this verifier key (name+hash+key, as keygen printed it for the same fleet)")
	oldFile := f.String("old", "", "consistency: the signed checkpoint note of the old size; evidence: the previously anchored checkpoint (prev_size)")
	newFile := f.String("new", "", "consistency: the signed checkpoint note of the new size")
	cpFile := f.String("checkpoint", "", "domain: a signed checkpoint note of the device, which the domain must verify")
	rpcURL := f.String("rpc", "", "bundle: also require the checkpoint to be anchored on the ledger at this JSON-RPC URL; evidence: check the block against it")
	contract := f.String("contract", "", "bundle with --rpc: the Waybill registry contract address")
	confs := f.Uint64("confirmations", 1, "with --rpc: the confirmations the anchoring block must have")
	consFile := f.String("consistency", "", "bundle with --rpc: a consistency proof (waybill log consistency) from the bundle's checkpoint to a later, anchored one")
	ebsiHashID := f.Uint64("ebsi-hash-algorithm-id", 1, "evidence of an EBSI anchor: EBSI's id of sha2-256 in the Timestamp contract")
	asJSON := f.Bool("json", false, "print the result as one JSON object: form, result, checks, notes, error (firmware-docs/CLI.md §7)")
	if err := f.parse(args, 1); err != nil {
		return err
	}
	if *form != "auto" && !slices.Contains(forms, *form) {
		return usageError{fmt.Sprintf("verify: --form %q: want auto, %s", *form, strings.Join(forms, ", "))}
	}
	if *contract != "" && *rpcURL == "" {
		return usageError{"verify: --contract needs --rpc"}
	}
	if *contract != "" && !common.IsHexAddress(*contract) {
		return usageError{fmt.Sprintf("verify: --contract %q is not an address", *contract)}
	}
	if *consFile != "" && *rpcURL == "" {
		return usageError{"verify: --consistency needs --rpc"}
	}
	v := verifyOpts{form: *form, domainFile: *domainFile, rpcURL: *rpcURL, contract: *contract, confs: *confs,
		consFile: *consFile, ebsiHashID: *ebsiHashID}
	if *device != "" {
		a, err := event.ParseAddress(*device)
		if err != nil {
			return usageError{fmt.Sprintf("verify: --device: %v", err)}
		}
		v.o.Device = &a
	}
	v.o.Fleet, v.o.ChainID = *fleet, *chainID
	if *vkey != "" {
		k, err := checkpoint.ParseVerifierKey(*vkey)
		if err != nil {
			return usageError{fmt.Sprintf("verify: --vkey: %v", err)}
		}
		v.o.Verifiers = append(v.o.Verifiers, k)
	}
	if *domainFile != "" {
		b, err := readArtefact(e, *domainFile)
		if err != nil {
			return err
		}
		dm, err := feed.ParseDomain(bytes.TrimSuffix(b, []byte("\n")))
		if err != nil {
			return v.report(e, *asJSON, "", nil, invalid(fmt.Sprintf("INVALID: --domain %s", *domainFile), err))
		}
		if err := domainAgrees(*domainFile, dm, v.o); err != nil {
			return err
		}
		v.o.ChainID, v.o.Fleet, v.o.Device = dm.ChainID, dm.Fleet, &dm.Device
	}
	for _, nf := range []struct {
		name string
		into *[]byte
	}{{*oldFile, &v.oldNote}, {*newFile, &v.newNote}, {*cpFile, &v.checkpoint}} {
		if nf.name == "" {
			continue
		}
		b, err := readArtefact(e, nf.name)
		if err != nil {
			return err
		}
		*nf.into = b
	}
	name := f.Arg(0)
	data, err := readArtefact(e, name)
	if err != nil {
		return err
	}
	kind := v.form
	if kind == "auto" {
		if kind, err = detectForm(data); err != nil {
			return v.report(e, *asJSON, "", nil, invalid("INVALID: "+name, fmt.Errorf("%w (give --form to say what it is)", err)))
		}
	}
	msg, err := v.check(ctx, e, kind, data)
	if err != nil {
		var xe exitError
		var ue usageError
		var vd verdict
		switch {
		case errors.As(err, &vd):
		case errors.As(err, &xe), errors.As(err, &ue):
			return err
		default:
			err = invalid(fmt.Sprintf("INVALID %s %s", kind, name), err)
		}
	}
	return v.report(e, *asJSON, kind, msg, err)
}

// The results of verify (firmware-docs/CLI.md §7).
const (
	resultValid       = "valid"
	resultInvalid     = "invalid"
	resultNotAnchored = "not_anchored"
)

// A verdict is verify's finding that the artefact is invalid or not
// anchored: exit status 1.
type verdict struct {
	result string // resultInvalid or resultNotAnchored
	what   string // what the text form says before the reason: "INVALID bundle FILE"
	err    error  // the reason
}

func (v verdict) Error() string { return v.what + ": " + v.err.Error() }
func (v verdict) Unwrap() error { return v.err }

// invalid is the verdict that the artefact is invalid.
func invalid(what string, err error) error { return verdict{resultInvalid, what, err} }

// notAnchored is the verdict that a valid artefact is not anchored.
func notAnchored(err error) error { return verdict{resultNotAnchored, "NOT ANCHORED", err} }

// verifyJSON is verify's --json output (firmware-docs/CLI.md §7).
type verifyJSON struct {
	Form   string   `json:"form"`
	Result string   `json:"result"`
	Checks []string `json:"checks"`
	Notes  []string `json:"notes"`
	Error  string   `json:"error"`
}

// report prints the checks made on an artefact of form (the "OK: " and
// "NOTE: " lines of msg) and the verdict err, if any: as text, or as
// one JSON object; it returns err, whose exit status is 1.
func (v *verifyOpts) report(e *env, asJSON bool, form string, msg []string, err error) error {
	if !asJSON {
		for _, line := range msg {
			fmt.Fprintln(e.stdout, line)
		}
		return err
	}
	out := verifyJSON{Form: form, Result: resultValid, Checks: []string{}, Notes: []string{}}
	for _, line := range msg {
		if note, ok := strings.CutPrefix(line, "NOTE: "); ok {
			out.Notes = append(out.Notes, note)
		} else {
			out.Checks = append(out.Checks, strings.TrimPrefix(line, "OK: "))
		}
	}
	var vd verdict
	if errors.As(err, &vd) {
		out.Result, out.Error = vd.result, vd.err.Error()
	}
	b, merr := json.Marshal(out)
	if merr != nil {
		return merr
	}
	fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// domainAgrees refuses a --domain message that disagrees with the chain
// ID, fleet or device flags, naming each value that differs.
func domainAgrees(file string, dm *feed.DomainMessage, o verify.Options) error {
	var diff []string
	if o.ChainID != 0 && o.ChainID != dm.ChainID {
		diff = append(diff, fmt.Sprintf("--chain-id %d but --domain %s says chain %d", o.ChainID, file, dm.ChainID))
	}
	if o.Fleet != "" && o.Fleet != dm.Fleet {
		diff = append(diff, fmt.Sprintf("--fleet %s but --domain %s says fleet %s", o.Fleet, file, dm.Fleet))
	}
	if o.Device != nil && *o.Device != dm.Device {
		diff = append(diff, fmt.Sprintf("--device %s but --domain %s says device %s", *o.Device, file, dm.Device))
	}
	if diff != nil {
		return usageError{"verify: " + strings.Join(diff, "; ")}
	}
	return nil
}

// readArtefact reads a file, or standard input for "-", up to maxArtefact
// bytes; a larger input is refused by the form's parser.
func readArtefact(e *env, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, exitError{2, fmt.Errorf("verify: %w", err)}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxArtefact+1))
	if err != nil {
		return nil, exitError{2, fmt.Errorf("verify: %s: %w", name, err)}
	}
	return b, nil
}

// detectForm tells the artefact's form from its first bytes and, for JSON,
// its top-level member names.
func detectForm(data []byte) (string, error) {
	if bytes.HasPrefix(data, []byte(verify.TlogProofHeader+"\n")) {
		return formTlogProof, nil
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 {
		return "", errors.New("empty input")
	}
	if t[0] != '{' {
		if bytes.Contains(data, []byte("\n\n\u2014 ")) {
			return formNote, nil
		}
		return "", errors.New("neither JSON, a tlog-proof nor a signed note")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("not a JSON object: %v", err)
	}
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := m[n]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("fork", "origin"):
		return formFork, nil
	case has("checkpoint", "leaf"):
		return formBundle, nil
	case has("consistency", "old_size"):
		return formConsistency, nil
	case has("raw_tx") || has("tx_hash"):
		return formEvidence, nil
	case has("leaf", "origin"):
		return formEvent, nil
	case has("leaf", "sig"):
		return formShow, nil
	case has("chain_id", "device", "fleet"):
		return formDomain, nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	return "", fmt.Errorf("a JSON object with members %s is none of the Waybill artefacts", short(strings.Join(names, ", ")))
}

func short(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// domain returns the signing domain of an artefact of fleet that does not
// carry the chain ID: the chain ID must have been given, and fleet must be
// the pinned one, if any.
func (v *verifyOpts) domain(what, fleet string) (signer.Domain, error) {
	if v.o.ChainID == 0 {
		return signer.Domain{}, usageError{fmt.Sprintf("verify: a %s does not carry the chain ID: give --chain-id or --domain (the feed's domain message)", what)}
	}
	if v.o.Fleet != "" && v.o.Fleet != fleet {
		return signer.Domain{}, fmt.Errorf("--fleet %s, but the %s is of fleet %s", v.o.Fleet, what, fleet)
	}
	return signer.Domain{ChainID: v.o.ChainID, Fleet: fleet}, nil
}

// check verifies data as the artefact form kind and returns the lines to
// print on success.
func (v *verifyOpts) check(ctx context.Context, e *env, kind string, data []byte) ([]string, error) {
	switch kind {
	case formBundle:
		return v.checkBundle(ctx, e, data)
	case formTlogProof:
		p, err := verify.ParseTlogProof(data)
		if err != nil {
			return nil, err
		}
		fleet, err := parseNoteOrigin(p.Note)
		if err != nil {
			return nil, err
		}
		d, err := v.domain("tlog-proof", fleet)
		if err != nil {
			return nil, err
		}
		b, err := p.Bundle(d)
		if err != nil {
			return nil, err
		}
		if err := b.Verify(v.o); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("OK: tlog-proof: event %d of %s is signed by its device and included in the checkpoint of size %d",
			b.Index, b.Checkpoint.Origin, b.Checkpoint.Size)}, nil
	case formConsistency:
		c, err := verify.ParseConsistency(bytes.TrimSuffix(data, []byte("\n")))
		if err != nil {
			return nil, err
		}
		if (v.oldNote == nil) != (v.newNote == nil) {
			return nil, usageError{"verify: a consistency proof is paired with two checkpoints: give both --old and --new"}
		}
		if v.oldNote == nil {
			if err := c.Verify(); err != nil {
				return nil, err
			}
			return []string{
				fmt.Sprintf("OK: consistency: the proof leads from size %d root %s to size %d root %s", c.OldSize, c.OldRoot, c.NewSize, c.NewRoot),
				"NOTE: a proof alone binds neither sizes nor signatures; give --old and --new (the two signed checkpoints) to pair it by size and root",
			}, nil
		}
		if err := c.VerifyBetween(v.oldNote, v.newNote, v.o); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("OK: consistency: the signed checkpoint of size %d extends the signed checkpoint of size %d", c.NewSize, c.OldSize)}, nil
	case formNote:
		n, err := verify.VerifyNote(data, v.o)
		if err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("OK: note: the checkpoint of size %d of %s is signed by %s", n.Checkpoint.Size, n.Checkpoint.Origin, strings.Join(n.Keys, ", "))}, nil
	case formEvent:
		m, err := feed.ParseMessage(data)
		if err != nil {
			return nil, err
		}
		fleet, _, _, err := verify.ParseOrigin(m.Origin)
		if err != nil {
			return nil, err
		}
		return v.checkSigned("feed event message", fleet, m)
	case formShow:
		s, err := parseShowLine(data)
		if err != nil {
			return nil, err
		}
		return v.checkSigned("log show line", v.o.Fleet, &feed.Message{Event: s, Seq: s.Seq})
	case formDomain:
		dm, err := feed.ParseDomain(data)
		if err != nil {
			return nil, err
		}
		if v.checkpoint == nil {
			return nil, usageError{"verify: a domain message is bound only by a checkpoint it verifies: give --checkpoint NOTE (the device's checkpoints topic)"}
		}
		if err := feed.VerifyDomain(dm, dm.Fleet, dm.Device, v.checkpoint); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("OK: domain: device %s of fleet %q signs on chain %d (its checkpoint verifies in this domain)", dm.Device, dm.Fleet, dm.ChainID)}, nil
	case formEvidence:
		return v.checkEvidence(ctx, data)
	case formFork:
		f, err := verify.ParseFork(bytes.TrimSuffix(data, []byte("\n")))
		if err != nil {
			return nil, err
		}
		what, err := f.Verify(v.o)
		if err != nil {
			return nil, err
		}
		return []string{"OK: fork: " + what}, nil
	}
	return nil, fmt.Errorf("unknown form %q", kind)
}

// parseNoteOrigin returns the fleet of a note's origin, checking nothing
// else.
func parseNoteOrigin(note []byte) (string, error) {
	text, _, ok := bytes.Cut(note, []byte("\n"))
	if !ok {
		return "", fmt.Errorf("checkpoint note has no origin line")
	}
	fleet, _, _, err := verify.ParseOrigin(string(text))
	return fleet, err
}

// checkSigned verifies one signed event (a feed message, or a show line
// with no origin): its signature in the domain of fleet recovers its
// device, pinned or not.
func (v *verifyOpts) checkSigned(what, fleet string, m *feed.Message) ([]string, error) {
	s := m.Event
	if fleet == "" {
		return nil, usageError{fmt.Sprintf("verify: a %s does not name the fleet: give --fleet or --domain", what)}
	}
	d, err := v.domain(what, fleet)
	if err != nil {
		return nil, err
	}
	if v.o.Device != nil && s.Device != *v.o.Device {
		return nil, fmt.Errorf("event %d is from device %s, not %s", s.Seq, s.Device, *v.o.Device)
	}
	if m.Origin != "" {
		if err := feed.Verify(m, d, s.Device); err != nil {
			return nil, err
		}
	} else if err := signer.VerifyEvent(d, s); err != nil {
		return nil, fmt.Errorf("event %d: %w", s.Seq, err)
	}
	return []string{fmt.Sprintf("OK: %s: event %d of %s is signed by its device %s on chain %d",
		what, s.Seq, signer.Origin(d.Fleet, s.Device, s.Epoch), s.Device, d.ChainID)}, nil
}

// parseShowLine parses one `waybill log show` line: the leaf's members and
// "leaf", the base64 of the exact leaf bytes, which must be the line
// without that member (prove.ParseEventLine, beside its writer).
func parseShowLine(data []byte) (*event.Signed, error) { return prove.ParseEventLine(data) }

func (v *verifyOpts) checkBundle(ctx context.Context, e *env, data []byte) ([]string, error) {
	b, err := verify.ParseBundle(data)
	if err != nil {
		return nil, err
	}
	if err := b.Verify(v.o); err != nil {
		return nil, err
	}
	out := []string{fmt.Sprintf("OK: event %d of %s is signed by its device and included in the checkpoint of size %d",
		b.Index, b.Checkpoint.Origin, b.Checkpoint.Size)}
	if v.rpcURL == "" {
		return out, nil
	}
	if v.contract == "" {
		return nil, usageError{"verify: --rpc with a bundle needs --contract"}
	}
	size, root := b.Checkpoint.Size, [32]byte(b.Checkpoint.Root)
	if v.consFile != "" {
		cb, err := os.ReadFile(v.consFile)
		if err != nil {
			return nil, exitError{2, fmt.Errorf("verify: %w", err)}
		}
		c, err := verify.ParseConsistency(cb)
		if err == nil {
			err = c.Verify()
		}
		if err == nil && (c.OldSize != size || c.OldRoot != b.Checkpoint.Root) {
			err = fmt.Errorf("the consistency proof starts at size %d root %s, not at the bundle's checkpoint (size %d root %s)", c.OldSize, c.OldRoot, size, b.Checkpoint.Root)
		}
		if err != nil {
			return nil, invalid("INVALID: consistency", err)
		}
		size, root = c.NewSize, [32]byte(c.NewRoot)
	}
	client, err := ethclient.DialContext(ctx, v.rpcURL)
	if err != nil {
		return nil, exitError{2, fmt.Errorf("verify: --rpc: %w", err)}
	}
	defer client.Close()
	a, err := registry.CheckAnchored(ctx, client, common.HexToAddress(v.contract), b.Checkpoint.Origin, size, root, v.confs)
	if err != nil {
		if errors.Is(err, registry.ErrNotAnchored) || errors.Is(err, registry.ErrRootDiffers) || errors.Is(err, registry.ErrTooFewConfirmations) {
			return out, notAnchored(err)
		}
		return nil, exitError{2, fmt.Errorf("verify: ledger: %w", err)}
	}
	return append(out, fmt.Sprintf("OK: the checkpoint of size %d is anchored in block %d (%s, transaction %s), %d confirmations",
		size, a.Block, a.BlockHash.Hex(), a.TxHash.Hex(), a.Confirmations)), nil
}

// checkEvidence verifies anchor evidence offline (ANCHORING.md §7 steps
// 1–5) and, with --rpc, step 6 against a node.
func (v *verifyOpts) checkEvidence(ctx context.Context, data []byte) ([]string, error) {
	ev, err := anchor.ParseEvidence(bytes.TrimSuffix(data, []byte("\n")))
	if err != nil {
		return nil, err
	}
	fleet, device, _, err := verify.ParseOrigin(ev.Origin)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	chainID := ev.ChainID
	if ev.Version < 2 {
		id, err := strconv.ParseUint(strings.TrimPrefix(ev.Ledger, "eip155:"), 10, 64)
		if err != nil || !strings.HasPrefix(ev.Ledger, "eip155:") {
			return nil, fmt.Errorf("evidence: ledger %q is not eip155:<chain id>", ev.Ledger)
		}
		chainID = id
	}
	if v.o.ChainID != 0 && v.o.ChainID != chainID {
		return nil, fmt.Errorf("--chain-id %d, but the evidence is of an anchor on chain %d (its chain_id, ledger %s)", v.o.ChainID, chainID, ev.Ledger)
	}
	// Step 1: the note, with the device's key in its domain.
	o := v.o
	o.ChainID = chainID
	n, err := verify.VerifyNote(ev.Note, o)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	// Steps 2–5.
	var p evmtx.Payload
	d := signer.Domain{ChainID: chainID, Fleet: fleet}
	switch ev.Payload {
	case anchor.PayloadRegistry:
		p = registry.Payload{Contract: common.HexToAddress(ev.To), Domain: d, Device: device}
	case anchor.PayloadEBSI:
		p = ebsi.Payload{Contract: common.HexToAddress(ev.To), HashAlgorithmID: new(big.Int).SetUint64(v.ebsiHashID)}
	}
	from, err := evmtx.VerifyEvidence(ctx, ev, p)
	if err != nil {
		return nil, err
	}
	out := []string{fmt.Sprintf("OK: evidence: the checkpoint of size %d of %s (signed by %s) was anchored by transaction %s from %s in block %d (%s) of %s",
		ev.Size, ev.Origin, strings.Join(n.Keys, ", "), ev.TxHash, strings.ToLower(from.Hex()), ev.BlockNumber, ev.BlockHash, ev.Ledger)}
	if ev.Version < 2 {
		out = append(out, "NOTE: version 1 evidence does not name its payload; the transaction's data was not checked against it")
	} else {
		dest := ev.To
		if ev.Endpoint != "" {
			dest += " through " + ev.Endpoint
		}
		out = append(out, fmt.Sprintf("OK: evidence: payload %s to %s, its data checked", ev.Payload, dest))
	}
	if ev.PrevSize > 0 {
		if v.oldNote == nil {
			out = append(out, fmt.Sprintf("NOTE: prev_size %d and prev_root are not signed in the evidence; give --old (that signed checkpoint) to pair the consistency proof with it", ev.PrevSize))
		} else {
			pn, err := verify.VerifyNote(v.oldNote, o)
			if err != nil {
				return nil, fmt.Errorf("--old: %w", err)
			}
			if err := ev.Extends(pn.Checkpoint); err != nil {
				return nil, fmt.Errorf("--old: %w", err)
			}
			out = append(out, fmt.Sprintf("OK: evidence: it extends the signed checkpoint of size %d", ev.PrevSize))
		}
	}
	if v.rpcURL == "" {
		return out, nil
	}
	client, err := ethclient.DialContext(ctx, v.rpcURL)
	if err != nil {
		return nil, exitError{2, fmt.Errorf("verify: --rpc: %w", err)}
	}
	defer client.Close()
	id, err := client.ChainID(ctx)
	if err != nil {
		return nil, exitError{2, fmt.Errorf("verify: ledger: %w", err)}
	}
	if !id.IsUint64() || id.Uint64() != chainID {
		return out, notAnchored(fmt.Errorf("the node at --rpc is on chain %s, the evidence on %d", id, chainID))
	}
	h, err := evmtx.BlockByNumber(ctx, client, new(big.Int).SetUint64(ev.BlockNumber))
	if err != nil {
		return out, notAnchored(fmt.Errorf("block %d: %w", ev.BlockNumber, err))
	}
	if anchor.Hash(h.Hash) != ev.BlockHash {
		return out, notAnchored(fmt.Errorf("block %d is %s on the chain, the evidence says %s (reorganised away)", ev.BlockNumber, h.Hash, ev.BlockHash))
	}
	head, err := client.BlockNumber(ctx)
	if err != nil {
		return nil, exitError{2, fmt.Errorf("verify: ledger: %w", err)}
	}
	if c := head - ev.BlockNumber + 1; head < ev.BlockNumber || c < v.confs {
		return out, notAnchored(fmt.Errorf("block %d has %d confirmations, fewer than %d", ev.BlockNumber, head-ev.BlockNumber+1, v.confs))
	}
	return append(out, fmt.Sprintf("OK: block %d still has hash %s, %d confirmations", ev.BlockNumber, ev.BlockHash, head-ev.BlockNumber+1)), nil
}
