package system

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
	"github.com/waybill-eu/waybill/sync/feed"
)

// Files of the feed and the anchoring in the log directory.
const (
	FeedCursorFile = "feed.cursor"
	AnchorStore    = "anchor.db"
)

// newFeed builds the publisher of the configuration's feed section. It
// connects to nothing: Run does. latest is the anchoring loop's, once
// built. Its errors start with "feed: ".
func newFeed(o *Options, c *config.Feed, l *eventlog.Log, latest *atomic.Pointer[anchor.Anchorer], lg *slog.Logger) (*feed.Publisher, error) {
	fo := feed.Options{Brokers: c.Brokers, ClientID: c.ClientID, Window: c.Window, Username: c.Username,
		CursorFile: filepath.Join(l.Dir(), FeedCursorFile), Logger: lg,
		LatestAnchor: func() []byte { return latestAnchorRecord(latest.Load()) }}
	if len(o.Brokers) > 0 {
		fo.Brokers = o.Brokers
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("feed: password_file: %w", err)
		}
		fo.Password = strings.TrimRight(string(b), "\r\n")
	}
	if c.CAFile != "" || c.CertFile != "" || c.Insecure {
		fo.TLS = &feed.TLSOptions{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, InsecureSkipVerify: c.Insecure}
	}
	return feed.New(l, fo) // its errors say "feed: "
}

// openAnchor opens the anchor store in the log's directory and the ledger
// backend; key signs the transactions unless the section names a relayer
// key. It contacts no ledger but may dial the configured RPC URL (which
// for http:// contacts nothing). Its errors start with "anchor: ", as
// anchor.Open's do; the returned function releases the ledger client.
func openAnchor(ctx context.Context, o *Options, c *config.Anchor, l *eventlog.Log, key *ecdsa.PrivateKey, lg *slog.Logger) (*anchor.Anchorer, func(), error) {
	if c.KeyFile != "" {
		k, err := loadRelayer(ctx, c.KeyFile, c.PassFile)
		if err != nil {
			return nil, nil, fmt.Errorf("anchor: %w", err)
		}
		key = k
	}
	if key == nil {
		return nil, nil, errors.New("anchor: no key to sign anchor transactions")
	}
	be, closeClient, err := anchorBackend(ctx, o, c, l, key, lg)
	if err != nil {
		return nil, nil, fmt.Errorf("anchor: %w", err)
	}
	ao, err := anchorOptions(o, c, l, lg)
	if err != nil {
		closeClient()
		return nil, nil, fmt.Errorf("anchor: %w", err)
	}
	a, err := anchor.Open(filepath.Join(l.Dir(), AnchorStore), l, be, ao)
	if err != nil {
		closeClient()
		return nil, nil, err
	}
	return a, closeClient, nil
}

// anchorOptions maps the configuration's anchor section to the anchoring
// loop's options: its policy, finality, fee cap and timing (o.AnchorPoll,
// if set, instead of the section's poll).
func anchorOptions(o *Options, c *config.Anchor, l *eventlog.Log, lg *slog.Logger) (*anchor.Options, error) {
	fin, err := anchor.ParseFinality(c.Finality)
	if err != nil {
		return nil, err
	}
	gwei := new(big.Float).Mul(big.NewFloat(c.MaxFeeGwei), big.NewFloat(1e9))
	maxFee, _ := gwei.Int(nil)
	poll := c.Poll
	if o.AnchorPoll > 0 {
		poll = o.AnchorPoll
	}
	return &anchor.Options{Every: uint64(c.EveryEvents), Interval: c.Every, Finality: fin, MaxFeePerGas: maxFee,
		Checkpoint: l.Checkpoint, Logger: lg, Poll: poll, StuckAfter: c.StuckAfter}, nil
}

// anchorBackend builds the configured ledger backend and returns a function
// that releases its connection.
func anchorBackend(ctx context.Context, o *Options, c *config.Anchor, l *eventlog.Log, key *ecdsa.PrivateKey, lg *slog.Logger) (anchor.Backend, func(), error) {
	if c.Backend == config.AnchorEBSI {
		eo := ebsi.Options{Endpoint: c.RPC, APIVersion: c.APIVersion, Token: ebsi.FileToken(c.TokenFile),
			Signer: evmtx.KeySigner(key), HashAlgorithmID: big.NewInt(int64(c.HashAlgorithmID)), Logger: lg,
			ChainID: new(big.Int).SetUint64(l.Identity().ChainID)} // as for evmtx below
		if c.Contract != "" {
			eo.Contract = common.HexToAddress(c.Contract)
		}
		be, err := ebsi.New(eo)
		if err != nil {
			return nil, nil, err
		}
		return be, func() {}, nil
	}
	closeClient := func() {}
	client := o.Client
	if client == nil {
		ec, err := ethclient.DialContext(ctx, c.RPC)
		if err != nil {
			return nil, nil, fmt.Errorf("dial %s: %w", c.RPC, err)
		}
		client, closeClient = ec, ec.Close
	}
	payload := o.Payload
	if payload == nil {
		switch c.Backend {
		case config.AnchorEVM:
			id := l.Identity()
			payload = registry.Payload{Contract: common.HexToAddress(c.Contract), Domain: id.Domain(), Device: id.Device}
		case config.AnchorNote:
			payload = evmtx.NotePayload{To: common.HexToAddress(c.Contract)}
		default:
			closeClient()
			return nil, nil, fmt.Errorf("backend %q is not available in this build", c.Backend)
		}
	}
	// The log's chain ID is the one its events and checkpoints are signed
	// for (ANCHORING.md §7): a node on another chain is refused, not used.
	be, err := evmtx.New(evmtx.Options{Client: client, Signer: evmtx.KeySigner(key), Payload: payload,
		GasMarginPercent: uint64(c.GasLimitPlus), ChainID: new(big.Int).SetUint64(l.Identity().ChainID)})
	if err != nil {
		closeClient()
		return nil, nil, err
	}
	return be, closeClient, nil
}

// latestAnchorRecord is the evidence of a's newest confirmed anchor
// (ANCHORING.md §7), as the feed publishes it on the anchors topic, or nil.
func latestAnchorRecord(a *anchor.Anchorer) []byte {
	if a == nil {
		return nil
	}
	last := a.Status().Last
	if last == nil {
		return nil
	}
	ev, err := last.Evidence()
	if err != nil {
		return nil
	}
	b, err := ev.Format()
	if err != nil {
		return nil
	}
	return b
}

// loadRelayer loads the key that pays for anchors in place of the device.
// The key file is read first: a missing or invalid key is reported as such,
// before a passphrase is asked for.
func loadRelayer(ctx context.Context, path, passFile string) (*ecdsa.PrivateKey, error) {
	kf, err := devkey.ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("relayer key: %w", err)
	}
	pass, err := devkey.ReadPassphrase(ctx, passFile)
	if err != nil {
		return nil, fmt.Errorf("relayer key: %w", err)
	}
	k, err := kf.Decrypt(ctx, pass)
	if err != nil {
		return nil, fmt.Errorf("relayer key: %w", err)
	}
	return k.ECDSA(), nil
}
