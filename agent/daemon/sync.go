package daemon

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
	"sync"
	"sync/atomic"
	"time"

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

// Files of the sync subsystems in the log directory.
const (
	FeedCursorFile = "feed.cursor"
	AnchorStore    = "anchor.db"
)

// SyncOptions configures StartSync.
type SyncOptions struct {
	Config *config.Config // its Feed and Anchor sections; nil sections start nothing
	Log    *eventlog.Log
	// Key signs anchor transactions when the configuration names no
	// relayer key: the device pays for its own anchors.
	Key    *ecdsa.PrivateKey
	Logger *slog.Logger
	// Brokers, if set, replace the configured brokers (the demo's
	// in-process broker).
	Brokers []string
	// Client, if set, is the ledger node instead of dialing the configured
	// RPC URL (the demo's in-process chain).
	Client evmtx.Client
	// Payload, if set, makes the anchor calldata instead of the configured
	// backend's.
	Payload evmtx.Payload
	// AnchorPoll, if set, is how often the anchoring loop steps instead of
	// the configuration's anchor.poll; the demo's chain seals a block every
	// 100 ms.
	AnchorPoll time.Duration
}

// Sync is the running feed and anchoring, downstream of the log.
//
// Everything StartSync starts runs under a context the Sync owns, derived
// from the caller's: a start that fails half-way, and Close, cancel it and
// wait for what was started, so that no failure can leave a loop running
// that the caller has no handle to stop.
type Sync struct {
	Feed   *feed.Publisher  // nil without a feed section
	Anchor *anchor.Anchorer // nil without an anchor section

	ctx    context.Context // the subsystems'; done when the caller's is, or on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	// closers release, in reverse order, what the stopped subsystems
	// held: the anchor store, the ledger client.
	closers []func() error
	once    sync.Once
	err     error
}

// StartSync starts the feed and the anchoring loop the configuration asks
// for; they run until ctx is done or Close is called. Wait returns when
// they have stopped. When one of them cannot start (an unreadable relayer
// key, an anchor store another process holds, a ledger that cannot be
// dialled), StartSync stops the ones it started, waits for them and
// returns the error.
func StartSync(ctx context.Context, o SyncOptions) (*Sync, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sync{ctx: ctx, cancel: cancel}
	if err := s.start(o); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Sync) start(o SyncOptions) error {
	var anchorer atomic.Pointer[anchor.Anchorer]
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	dir := o.Log.Dir()
	if c := o.Config.Feed; c != nil {
		fo := feed.Options{Brokers: c.Brokers, ClientID: c.ClientID, Window: c.Window, Username: c.Username,
			CursorFile: filepath.Join(dir, FeedCursorFile), Logger: lg.With("subsystem", "feed"),
			LatestAnchor: func() []byte { return latestAnchorRecord(anchorer.Load()) }}
		if len(o.Brokers) > 0 {
			fo.Brokers = o.Brokers
		}
		if c.PasswordFile != "" {
			b, err := os.ReadFile(c.PasswordFile)
			if err != nil {
				return fmt.Errorf("feed: password_file: %w", err)
			}
			fo.Password = strings.TrimRight(string(b), "\r\n")
		}
		if c.CAFile != "" || c.CertFile != "" || c.Insecure {
			fo.TLS = &feed.TLSOptions{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, InsecureSkipVerify: c.Insecure}
		}
		p, err := feed.New(o.Log, fo) // its errors say "feed: "
		if err != nil {
			return err
		}
		s.Feed = p
		s.run(p.Run)
	}
	if c := o.Config.Anchor; c != nil {
		a, closeClient, err := openAnchor(s.ctx, o, c, filepath.Join(dir, AnchorStore), lg.With("subsystem", "anchor"))
		if err != nil {
			return err
		}
		s.Anchor = a
		s.closers = append(s.closers, func() error { closeClient(); return nil }, a.Close)
		anchorer.Store(a)
		s.run(a.Run)
	}
	return nil
}

// openAnchor opens the anchor store at path and the ledger backend. Its
// errors start with "anchor: ", as anchor.Open's do.
func openAnchor(ctx context.Context, o SyncOptions, c *config.Anchor, path string, lg *slog.Logger) (*anchor.Anchorer, func(), error) {
	key := o.Key
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
	be, closeClient, err := anchorBackend(ctx, o, c, key, lg)
	if err != nil {
		return nil, nil, fmt.Errorf("anchor: %w", err)
	}
	ao, err := anchorOptions(o, c, lg)
	if err != nil {
		closeClient()
		return nil, nil, err
	}
	a, err := anchor.Open(path, o.Log, be, ao)
	if err != nil {
		closeClient()
		return nil, nil, err
	}
	return a, closeClient, nil
}

// anchorOptions maps the configuration's anchor section to the anchoring
// loop's options: its policy, finality, fee cap and timing (o.AnchorPoll,
// if set, instead of the section's poll).
func anchorOptions(o SyncOptions, c *config.Anchor, lg *slog.Logger) (*anchor.Options, error) {
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
		Checkpoint: o.Log.Checkpoint, Logger: lg, Poll: poll, StuckAfter: c.StuckAfter}, nil
}

// anchorBackend builds the configured ledger backend and returns a function
// that releases its connection.
func anchorBackend(ctx context.Context, o SyncOptions, c *config.Anchor, key *ecdsa.PrivateKey, lg *slog.Logger) (anchor.Backend, func(), error) {
	if c.Backend == config.AnchorEBSI {
		eo := ebsi.Options{Endpoint: c.RPC, APIVersion: c.APIVersion, Token: ebsi.FileToken(c.TokenFile),
			Signer: evmtx.KeySigner(key), HashAlgorithmID: big.NewInt(int64(c.HashAlgorithmID)), Logger: lg}
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
			id := o.Log.Identity()
			payload = registry.Payload{Contract: common.HexToAddress(c.Contract), Domain: id.Domain(), Device: id.Device}
		case config.AnchorNote:
			payload = evmtx.NotePayload{To: common.HexToAddress(c.Contract)}
		default:
			closeClient()
			return nil, nil, fmt.Errorf("backend %q is not available in this build", c.Backend)
		}
	}
	be, err := evmtx.New(evmtx.Options{Client: client, Signer: evmtx.KeySigner(key), Payload: payload,
		GasMarginPercent: uint64(c.GasLimitPlus)})
	if err != nil {
		closeClient()
		return nil, nil, err
	}
	return be, closeClient, nil
}

// run runs f in a goroutine of its own under the Sync's context, which f
// must heed. Wait waits for it and returns its error with the others
// before it releases the anchor store and the ledger client, so f may use
// them. Only StartSync and StartRetention call it, before Wait.
func (s *Sync) run(f func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(s.ctx); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
	}()
}

// Notify tells the feed and the anchoring loop that the log has grown.
func (s *Sync) Notify() {
	if s == nil {
		return
	}
	if s.Feed != nil {
		s.Feed.Notify()
	}
	if s.Anchor != nil {
		s.Anchor.Notify()
	}
}

// Wait waits for the feed and anchoring loops to stop (the context given
// to StartSync done, or Close called), releases the anchor store and the
// ledger client, and returns their errors. It may be called more than
// once, and on a nil Sync.
func (s *Sync) Wait() error {
	if s == nil {
		return nil
	}
	s.wg.Wait()
	s.once.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				s.errs = append(s.errs, err)
			}
		}
		s.cancel()
		s.err = errors.Join(s.errs...)
	})
	return s.err
}

// Close stops the feed and the anchoring loop and returns Wait's result.
func (s *Sync) Close() error {
	if s == nil {
		return nil
	}
	s.cancel()
	return s.Wait()
}

// Status returns the feed's and the anchoring's status for `waybill status`.
func (s *Sync) Status() map[string]any {
	out := map[string]any{}
	if s == nil {
		return out
	}
	if s.Feed != nil {
		out["feed"] = s.Feed.Status()
	}
	if s.Anchor != nil {
		out["anchor"] = s.Anchor.Status()
	}
	return out
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
