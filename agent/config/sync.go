package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Feed is the signed MQTT feed (sync/feed); nil when the file has no feed
// section.
type Feed struct {
	Brokers      []string // broker URLs: tcp://host:1883, ssl://host:8883 (or mqtt://, mqtts://)
	CAFile       string   // PEM CA bundle for ssl://; "" means the system roots
	CertFile     string   // client certificate (PEM), with KeyFile; optional
	KeyFile      string
	Insecure     bool   // skip server certificate verification: only when set explicitly
	Username     string // optional
	PasswordFile string // file holding the password; optional
	ClientID     string // default: derived from the device address
	Window       int    // messages in flight, 1..1024; default 64
}

// Anchor is Merkle-root anchoring to a ledger (sync/anchor); nil when the
// file has no anchor section.
type Anchor struct {
	Backend      string        // AnchorEVM (the Waybill registry contract) or AnchorNote (the signed note as calldata)
	RPC          string        // JSON-RPC URL of the ledger node (http://, https://, ws://, wss://)
	Contract     string        // 0x address: the registry contract, or the note's recipient
	Finality     string        // "qbft", "finalized" or "confirmations:K"; default qbft
	EveryEvents  int           // anchor after this many new events, 1..10^9; default 4096
	Every        time.Duration // or after this long, 1m..30 days; default 1h
	MaxFeeGwei   float64       // fee cap per gas, gwei; default 100
	KeyFile      string        // the relayer's keystore; "" means the device key pays
	PassFile     string        // its passphrase file
	GasLimitPlus int           // percent added to the gas estimate, 0..100; default 20
	Poll         time.Duration // how often the anchoring loop steps, 1s..10m; default 15s
	StuckAfter   time.Duration // a sent transaction without a receipt this long is replaced, 10s..24h and at least Poll; default 3m

	// EBSI Timestamp (backend ebsi): RPC is the Timestamp API's JSON-RPC
	// endpoint, Contract optionally pins the Timestamp contract.
	APIVersion      string // pinned API version, e.g. "v4"; required for ebsi
	TokenFile       string // access token file (scope timestamp_write), renewed by the operator's wallet
	HashAlgorithmID int    // EBSI's id of sha2-256; required for ebsi
}

// Defaults of the anchor section's timing, as sync/anchor's.
const (
	DefaultAnchorPoll       = 15 * time.Second // anchor.poll
	DefaultAnchorStuckAfter = 3 * time.Minute  // anchor.stuck_after
)

// Anchor backends.
const (
	AnchorEVM  = "evm"  // the Waybill registry contract on any EVM chain
	AnchorNote = "note" // the signed checkpoint note as calldata of a transaction (any EVM chain)
	AnchorEBSI = "ebsi" // EBSI's Timestamp contract through its Timestamp API
)

var (
	feedKeys   = []string{"brokers", "ca_file", "cert_file", "key_file", "insecure", "username", "password_file", "client_id", "window"}
	anchorKeys = []string{"backend", "rpc", "contract", "finality", "every_events", "every", "max_fee_gwei", "key", "passphrase_file", "gas_margin_pct",
		"poll", "stuck_after", "api_version", "token_file", "hash_algorithm_id"}
	apiVersionRE = regexp.MustCompile(`^v[1-9][0-9]?$`)
	addressRE    = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	finalityRE   = regexp.MustCompile(`^(qbft|finalized|confirmations:[1-9][0-9]{0,3})$`)
)

func (p *parser) feed(n *yaml.Node) *Feed {
	if n == nil {
		return nil
	}
	f := p.mapping(n, "feed", feedKeys, nil)
	if f.n == nil {
		return nil
	}
	c := &Feed{}
	bl, path := f.list("brokers")
	if bl == nil && f.vals["brokers"] == nil {
		p.errorf(n, "feed.brokers", "missing required field (a list of broker URLs such as tcp://broker:1883)")
	}
	for i, b := range bl {
		bp := index(path, i)
		if !p.scalar(b, bp, "a broker URL", "!!str") {
			continue
		}
		u, err := url.Parse(b.Value)
		switch {
		case err != nil:
			p.errorf(b, bp, "%q is not a URL: %v", b.Value, err)
		case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts" && u.Scheme != "tls":
			p.errorf(b, bp, "%q: scheme %q is not tcp, ssl, tls, mqtt or mqtts", b.Value, u.Scheme)
		case u.Host == "":
			p.errorf(b, bp, "%q has no host", b.Value)
		default:
			c.Brokers = append(c.Brokers, b.Value)
		}
	}
	c.CAFile, _ = f.input("ca_file", false)
	c.CertFile, _ = f.input("cert_file", false)
	c.KeyFile, _ = f.input("key_file", false)
	if (c.CertFile == "") != (c.KeyFile == "") {
		v, p2 := f.get("cert_file", false)
		if v == nil {
			v, p2 = f.get("key_file", false)
		}
		p.errorf(v, p2, "cert_file and key_file go together")
	}
	if v, path := f.get("insecure", false); v != nil && p.scalar(v, path, "true or false", "!!bool") {
		c.Insecure = v.Value == "true"
	}
	c.Username, _ = f.str("username", false)
	c.PasswordFile, _ = f.input("password_file", false)
	c.ClientID, _ = f.str("client_id", false)
	if w, ok := f.int("window", false, 64, 1, 1024); ok {
		c.Window = int(w)
	}
	return c
}

func (p *parser) anchor(n *yaml.Node) *Anchor {
	if n == nil {
		return nil
	}
	f := p.mapping(n, "anchor", anchorKeys, nil)
	if f.n == nil {
		return nil
	}
	a := &Anchor{}
	a.Backend, _ = f.oneOf("backend", false, AnchorEVM, AnchorEVM, AnchorNote, AnchorEBSI)
	if s, ok := f.str("rpc", true); ok {
		v, path := f.get("rpc", false)
		u, err := url.Parse(s)
		switch {
		case err != nil:
			p.errorf(v, path, "%q is not a URL: %v", s, err)
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss":
			p.errorf(v, path, "%q: scheme %q is not http, https, ws or wss", s, u.Scheme)
		default:
			a.RPC = s
		}
	}
	// YAML reads an unquoted 0x… as a hexadecimal integer; an address is
	// taken as written either way.
	if v, path := f.get("contract", a.Backend != AnchorEBSI); v != nil {
		switch {
		case v.Kind != yaml.ScalarNode:
			p.errorf(v, path, "want an address (0x and 40 hex digits)")
		case !addressRE.MatchString(v.Value):
			p.errorf(v, path, "%q is not an address (0x and 40 hex digits)", v.Value)
		default:
			a.Contract = strings.ToLower(v.Value)
		}
	}
	a.Finality = "qbft"
	if s, ok := f.str("finality", false); ok && s != "" {
		if v, path := f.get("finality", false); !finalityRE.MatchString(s) {
			p.errorf(v, path, "%q is not qbft, finalized or confirmations:K (K 1..9999)", s)
		} else {
			a.Finality = s
		}
	}
	if e, ok := f.int("every_events", false, 4096, 1, 1_000_000_000); ok {
		a.EveryEvents = int(e)
	}
	a.Every, _ = f.dur("every", false, time.Hour, time.Minute, 30*24*time.Hour)
	a.MaxFeeGwei, _ = f.float("max_fee_gwei", false, 100, 0.000001, 1e6)
	a.KeyFile, _ = f.input("key", false)
	a.PassFile, _ = f.input("passphrase_file", false)
	if m, ok := f.int("gas_margin_pct", false, 20, 0, 100); ok {
		a.GasLimitPlus = int(m)
	}
	// The loop looks for a receipt once a step: a transaction counts as
	// stuck no sooner than one step after it was sent.
	var pollOK bool
	a.Poll, pollOK = f.dur("poll", false, DefaultAnchorPoll, time.Second, 10*time.Minute)
	if d, ok := f.dur("stuck_after", false, DefaultAnchorStuckAfter, 10*time.Second, 24*time.Hour); ok {
		if v, path := f.get("stuck_after", false); pollOK && d < a.Poll {
			if v == nil {
				v, path = f.get("poll", false)
			}
			p.errorf(v, path, "stuck_after %s is below poll %s: the loop looks for a receipt once a step", fmtDur(d), fmtDur(a.Poll))
		} else {
			a.StuckAfter = d
		}
	}
	ebsi := a.Backend == AnchorEBSI
	if s, ok := f.str("api_version", ebsi); ok && s != "" {
		if v, path := f.get("api_version", false); !apiVersionRE.MatchString(s) {
			p.errorf(v, path, "%q is not an API version such as v4", s)
		} else {
			a.APIVersion = s
		}
	}
	a.TokenFile, _ = f.input("token_file", ebsi)
	if id, ok := f.int("hash_algorithm_id", ebsi, 0, 0, 1<<31); ok {
		a.HashAlgorithmID = int(id)
	}
	if !ebsi {
		for _, k := range []string{"api_version", "token_file", "hash_algorithm_id"} {
			if v, path := f.get(k, false); v != nil {
				p.errorf(v, path, "only for backend %s", AnchorEBSI)
			}
		}
	}
	return a
}

// String describes the anchor target in one line, for logs.
func (a *Anchor) String() string {
	return fmt.Sprintf("%s %s at %s (finality %s)", a.Backend, a.Contract, a.RPC, a.Finality)
}
