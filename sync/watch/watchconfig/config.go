// Package watchconfig reads the configuration file of the feed watcher
// (waybill-watch run --config FILE): the devices it trusts, per operator;
// the brokers it subscribes to; the ledger it reads anchors from; its
// archive; its witness key; its HTTP listener; its shard. The format is
// specified in firmware-docs/WATCH-CONFIG.md.
//
// Every problem is reported at once, each naming the file, the line and
// column, the field's path and what is wrong with it, with a suggestion
// for a misspelt field name:
//
//	watch.yaml:14:9: operators[0].devices[1].adress: unknown field "adress" (did you mean "address"?); …
package watchconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/watch"
)

// MaxSize is the largest configuration file read, in bytes.
const MaxSize = 4 << 20

// Config is a watcher configuration.
type Config struct {
	// File is the configuration file's name, as given.
	File string
	// Trust is the allowlist: the operators and their devices.
	Trust watch.Trust
	// Brokers are the MQTT brokers the watcher subscribes to.
	Brokers []Broker
	// Ledger is where the anchors are read; nil when the file has no
	// ledger section (then no event goes beyond checkpointed).
	Ledger *Ledger
	// Archive is where verified events are kept.
	Archive Archive
	// WitnessKey is the file of the watcher's Ed25519 witness key
	// (sync/witness, firmware-docs/WITNESS.md).
	WitnessKey string
	// Listen is the HTTP listener's address (host:port) for /healthz,
	// /metrics and the cosigned checkpoints; "" when the file has no http
	// section.
	Listen string
	// Shard is the share of the devices this watcher verifies.
	Shard Shard
}

// Broker is one MQTT broker (or cluster) the watcher subscribes to.
type Broker struct {
	// Name labels the broker in metrics and logs; default its first URL's
	// host.
	Name string
	// URL is tcp://host:1883 (or mqtt://) in the clear, ssl://host:8883
	// (or tls://, mqtts://) with TLS, ws:// or wss:// over WebSocket.
	URL string
	// CAFile is a PEM CA bundle for TLS; "" means the system roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key (PEM).
	CertFile, KeyFile string
	// ServerName is the name the broker's certificate is checked against;
	// default the URL's host.
	ServerName string
	// Insecure skips the verification of the server's certificate.
	Insecure bool
	// Username and PasswordFile authenticate the client; optional.
	Username, PasswordFile string
	// ClientID is the MQTT client identifier of the persistent session;
	// default derived from the broker's name and the shard.
	ClientID string
	// Fleets are the fleets whose topics the watcher subscribes to on this
	// broker; default every fleet of the trusted devices.
	Fleets []string
	// Publish: the watcher publishes each checkpoint it cosigned on this
	// broker, retained (firmware-docs/WATCH.md).
	Publish bool
}

// Ledger is where the watcher reads the anchors of the devices' roots.
type Ledger struct {
	// RPC is the JSON-RPC URL of a node of the chain (http, https, ws, wss).
	RPC string
	// Registry is the address of the registry contract (CONTRACT.md).
	Registry event.Address
	// ChainID is the chain's EIP-155 ID; the node must report it.
	ChainID uint64
	// Finality is "qbft", "finalized" or "confirmations:K"
	// (ANCHORING.md); default qbft.
	Finality string
	// StartBlock is the block the reading starts from on an empty archive.
	StartBlock uint64
	// Poll is how often the chain is read; default 15s.
	Poll time.Duration
	// EBSI is EBSI's Timestamp contract, for fleets that anchor there; nil
	// when not configured.
	EBSI *EBSI
}

// Confirmations returns K of a "confirmations:K" finality rule, else 0.
func (l *Ledger) Confirmations() uint64 {
	k, _ := strconv.ParseUint(strings.TrimPrefix(l.Finality, "confirmations:"), 10, 64)
	return k
}

// EBSI is where the watcher reads the anchors of fleets that anchor on the
// Timestamp contract of the European Blockchain Services Infrastructure
// (firmware-docs/EBSI.md): a JSON-RPC node of EBSI's chain, whose
// finality is QBFT's.
type EBSI struct {
	// RPC is the JSON-RPC URL of an EBSI node (http, https, ws, wss).
	RPC string
	// Contract is the address of EBSI's Timestamp contract.
	Contract event.Address
	// HashAlgorithmID is EBSI's identifier of sha2-256.
	HashAlgorithmID uint64
	// StartBlock is the block the reading starts from.
	StartBlock uint64
}

// Archive is where the watcher keeps what it verified: exactly one of a
// bbolt file or a PostgreSQL database.
type Archive struct {
	// Bolt is the path of the embedded archive's bbolt file.
	Bolt string
	// PostgresDSN is a PostgreSQL connection string (URL or key=value);
	// PostgresDSNFile a file holding one, so that the password stays out of
	// the configuration.
	PostgresDSN, PostgresDSNFile string
}

// Shard is this watcher's share of the devices: those whose shard number
// (watch.ShardOf, FEED.md) is Index of Count. One watcher is shard 0 of 1.
type Shard struct {
	Index, Count uint32
}

// Default values.
const (
	DefaultFinality = "qbft"
	DefaultPoll     = 15 * time.Second
	MaxShards       = 1 << 16
)

var (
	topKeys      = []string{"operators", "brokers", "ledger", "archive", "witness", "http", "shard"}
	operatorKeys = []string{"name", "devices"}
	deviceKeys   = []string{"address", "fleet", "chain_id", "note_key"}
	brokerKeys   = []string{"name", "url", "ca_file", "cert_file", "key_file", "server_name", "insecure", "username", "password_file", "client_id", "fleets", "publish"}
	ledgerKeys   = []string{"rpc", "registry", "chain_id", "finality", "start_block", "poll", "ebsi"}
	ebsiKeys     = []string{"rpc", "contract", "hash_algorithm_id", "start_block"}
	archiveKeys  = []string{"bolt", "postgres_dsn", "postgres_dsn_file"}
	witnessKeys  = []string{"key_file"}
	httpKeys     = []string{"listen"}
	shardKeys    = []string{"index", "count"}

	addressRE     = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	finalityRE    = regexp.MustCompile(`^(qbft|finalized|confirmations:[1-9][0-9]{0,3})$`)
	brokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}
	tlsSchemes    = []string{"ssl", "tls", "mqtts", "wss"}
	nameRE        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Load reads and parses the configuration file at path. It does not look
// at the files the configuration names; Check does.
func Load(path string) (*Config, error) {
	c, _, err := load(path)
	return c, err
}

// Check is Load, then a check that each file the watcher reads (the
// witness key, the brokers' CA, certificate, key and password files, the
// DSN file) exists and is readable: each that is not is a FieldError at
// the field that names it.
func Check(path string) (*Config, error) {
	c, inputs, err := load(path)
	if err != nil {
		return nil, err
	}
	var errs Errors
	for _, in := range inputs {
		f, err := os.Open(in.path)
		if err == nil {
			f.Close()
			continue
		}
		msg := fmt.Sprintf("%s cannot be read: %v", in.path, errors.Unwrap(err))
		if errors.Is(err, os.ErrNotExist) {
			msg = in.path + " does not exist"
		}
		errs = append(errs, &FieldError{File: path, Line: in.line, Column: in.column, Field: in.field, Msg: msg})
	}
	if errs != nil {
		return nil, errs
	}
	return c, nil
}

func load(path string) (*Config, []input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("watchconfig: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("watchconfig: %s: %w", path, err)
	}
	return parse(path, data)
}

// Parse parses a configuration named name (for errors; relative paths in
// it resolve against its directory).
func Parse(name string, data []byte) (*Config, error) {
	c, _, err := parse(name, data)
	return c, err
}

func parse(name string, data []byte) (*Config, []input, error) {
	p := &parser{file: name, dir: filepath.Dir(name)}
	if len(data) > MaxSize {
		p.errorf(nil, "", "the file is larger than %d bytes", MaxSize)
		return nil, nil, p.errs
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "the file is empty: a configuration has operators, brokers and an archive (firmware-docs/WATCH-CONFIG.md)")
		} else {
			p.errorf(nil, "", "not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil, nil, p.errs
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		p.errorf(&more, "", "the file holds more than one YAML document (---): keep one")
		return nil, nil, p.errs
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	p.check(root)
	c := p.config(root)
	if p.errs != nil {
		p.errs.sort()
		return nil, nil, p.errs
	}
	return c, p.inputs, nil
}

func (p *parser) config(root *yaml.Node) *Config {
	c := &Config{File: p.file}
	f := p.mapping(root, "", topKeys)
	if f.n == nil {
		return c
	}
	c.Trust = p.operators(f)
	fleets := map[string]bool{}
	for _, op := range c.Trust.Operators {
		for _, d := range op.Devices {
			fleets[d.Fleet] = true
		}
	}
	bl, path := f.list("brokers", true, "the MQTT brokers to subscribe to, each with a url")
	for i, b := range bl {
		if br, ok := p.broker(b, index(path, i), fleets); ok {
			c.Brokers = append(c.Brokers, br)
		}
	}
	seen := map[string]int{}
	for i, b := range c.Brokers {
		if j, dup := seen[b.Name]; dup {
			p.errorf(bl[i], index(path, i)+".name", "broker name %q is the name of brokers[%d] too: give each a name of its own", b.Name, j)
		}
		seen[b.Name] = i
	}
	if n, _ := f.get("ledger", false); n != nil {
		c.Ledger = p.ledger(n)
	}
	c.Archive = p.archive(f)
	w := p.mapping(f.vals["witness"], "witness", witnessKeys)
	c.WitnessKey = w.file("key_file", true, true)
	if !f.has("witness") {
		p.errorf(root, "witness", "missing required field (witness: key_file: the watcher's witness key, made by waybill-watch keygen)")
	}
	if n, _ := f.get("http", false); n != nil {
		h := p.mapping(n, "http", httpKeys)
		if s, v, ok := h.str("listen", true); ok && s != "" {
			if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
				p.errorf(v, "http.listen", "%q is not host:port (for example 127.0.0.1:9464 or :9464)", s)
			} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
				p.errorf(v, "http.listen", "%q: port %q is not a number 0..65535", s, port)
			} else {
				c.Listen = s
			}
		}
	}
	c.Shard = Shard{Index: 0, Count: 1}
	if n, _ := f.get("shard", false); n != nil {
		s := p.mapping(n, "shard", shardKeys)
		count, okc := s.uint("count", true, 1, 1, MaxShards)
		idx, oki := s.uint("index", true, 0, 0, MaxShards-1)
		if okc && oki {
			if idx >= count {
				v, _ := s.get("index", false)
				p.errorf(v, "shard.index", "%d is not below shard.count %d (shards count from 0)", idx, count)
			} else {
				c.Shard = Shard{Index: uint32(idx), Count: uint32(count)}
			}
		}
	}
	for i := range c.Brokers {
		if b := &c.Brokers[i]; b.ClientID == "" {
			b.ClientID = "waybill-watch-" + b.Name
			if c.Shard.Count > 1 {
				b.ClientID += fmt.Sprintf("-%d-of-%d", c.Shard.Index, c.Shard.Count)
			}
		}
	}
	return c
}

func (p *parser) operators(f *fields) watch.Trust {
	var t watch.Trust
	ol, path := f.list("operators", true, "the operators whose devices the watcher trusts, each with a name and devices")
	names := map[string]int{}
	addrs := map[event.Address]string{}
	for i, on := range ol {
		op := p.mapping(on, index(path, i), operatorKeys)
		if op.n == nil {
			continue
		}
		var o watch.Operator
		if s, v, ok := op.str("name", true); ok && s != "" {
			if j, dup := names[s]; dup {
				p.errorf(v, op.path+".name", "operator %q is named twice (also operators[%d]): list each operator once", s, j)
			}
			names[s] = i
			o.Name = s
		}
		dl, dpath := op.list("devices", true, "the operator's devices, each with address, fleet and chain_id")
		for j, dn := range dl {
			d, ok := p.device(dn, index(dpath, j))
			if !ok {
				continue
			}
			where := index(dpath, j)
			if prev, dup := addrs[d.Address]; dup {
				v, _ := p.mapping(dn, where, deviceKeys).get("address", false)
				p.errorf(v, where+".address", "device %s is listed twice (also %s): list each device once", d.Address, prev)
				continue
			}
			addrs[d.Address] = where
			o.Devices = append(o.Devices, d)
		}
		t.Operators = append(t.Operators, o)
	}
	return t
}

func (p *parser) device(n *yaml.Node, path string) (watch.Device, bool) {
	var d watch.Device
	f := p.mapping(n, path, deviceKeys)
	if f.n == nil {
		return d, false
	}
	ok := true
	if s, v := f.text("address", true); v != nil {
		a, err := event.ParseAddress(strings.ToLower(s))
		if !addressRE.MatchString(s) || err != nil {
			p.errorf(v, path+".address", "%q is not a device address (0x and 40 hex digits; quote it)", s)
			ok = false
		}
		d.Address = a
	} else {
		ok = false
	}
	fleet, fv, fok := f.str("fleet", true)
	chain, cok := f.uint("chain_id", true, 0, 1, 1<<53-1)
	ok = ok && fok && cok && fleet != ""
	if ok {
		if err := (signer.Domain{ChainID: chain, Fleet: fleet}).Validate(); err != nil {
			p.errorf(fv, path+".fleet", "%v", err)
			ok = false
		}
	}
	d.Fleet, d.ChainID = fleet, chain
	if s, v := f.text("note_key", false); v != nil {
		vk, err := checkpoint.ParseVerifierKey(s)
		switch {
		case err != nil:
			p.errorf(v, path+".note_key", "not a note verifier key (the vkey waybill keygen prints): %v", err)
			ok = false
		case ok && vk.Name() != signer.KeyName(fleet, d.Address):
			p.errorf(v, path+".note_key", "the key is named %q, the device's is %q: it is another device's or fleet's key", vk.Name(), signer.KeyName(fleet, d.Address))
			ok = false
		default:
			d.NoteKey = s
		}
	}
	return d, ok
}

func (p *parser) broker(n *yaml.Node, path string, fleets map[string]bool) (Broker, bool) {
	var b Broker
	f := p.mapping(n, path, brokerKeys)
	if f.n == nil {
		return b, false
	}
	errs := len(p.errs)
	var scheme string
	if us, v, ok := f.str("url", true); ok && us != "" {
		u, err := url.Parse(us)
		switch {
		case err != nil:
			p.errorf(v, path+".url", "%q is not a URL: %v", us, errors.Unwrap(err))
		case !slices.Contains(brokerSchemes, u.Scheme):
			p.errorf(v, path+".url", "%q: scheme %q is not %s", us, u.Scheme, orList(brokerSchemes))
		case u.Host == "":
			p.errorf(v, path+".url", "%q has no host", us)
		case u.User != nil:
			p.errorf(v, path+".url", "%q holds credentials: give username and password_file instead", u.Redacted())
		default:
			b.URL, scheme = us, u.Scheme
		}
	}
	if s, v, ok := f.str("name", false); ok && s != "" {
		if !nameRE.MatchString(s) {
			p.errorf(v, path+".name", "%q is not a name (letters, digits, '.', '_' and '-', at most 64)", s)
		}
		b.Name = s
	} else if b.URL != "" {
		u, _ := url.Parse(b.URL)
		b.Name = u.Host
	}
	b.CAFile = f.file("ca_file", false, true)
	b.CertFile = f.file("cert_file", false, true)
	b.KeyFile = f.file("key_file", false, true)
	if (b.CertFile == "") != (b.KeyFile == "") {
		k := "cert_file"
		if b.CertFile == "" {
			k = "key_file"
		}
		v, kp := f.get(k, false)
		p.errorf(v, kp, "cert_file and key_file go together")
	}
	b.ServerName, _, _ = f.str("server_name", false)
	b.Insecure = f.boolean("insecure")
	if scheme != "" && !slices.Contains(tlsSchemes, scheme) {
		for _, k := range []string{"ca_file", "cert_file", "key_file", "server_name", "insecure"} {
			if v, kp := f.get(k, false); v != nil {
				p.errorf(v, kp, "only for a TLS broker: the url's scheme %s is not %s", scheme, orList(tlsSchemes))
			}
		}
	}
	b.Username, _, _ = f.str("username", false)
	b.PasswordFile = f.file("password_file", false, true)
	if b.PasswordFile != "" && b.Username == "" {
		v, kp := f.get("password_file", false)
		p.errorf(v, kp, "a password needs a username")
	}
	b.ClientID, _, _ = f.str("client_id", false)
	b.Publish = f.boolean("publish")
	fl, fpath := f.list("fleets", false, "")
	for i, fn := range fl {
		if !p.scalar(fn, index(fpath, i), "a fleet name", "!!str") {
			continue
		}
		if !fleets[fn.Value] {
			known := make([]string, 0, len(fleets))
			for k := range fleets {
				known = append(known, k)
			}
			p.errorf(fn, index(fpath, i), "no trusted device is of fleet %q%s", fn.Value, suggest(fn.Value, known))
			continue
		}
		b.Fleets = append(b.Fleets, fn.Value)
	}
	return b, len(p.errs) == errs
}

func (p *parser) ledger(n *yaml.Node) *Ledger {
	f := p.mapping(n, "ledger", ledgerKeys)
	if f.n == nil {
		return nil
	}
	l := &Ledger{Finality: DefaultFinality}
	l.RPC = p.rpcURL(f, "rpc")
	l.Registry = p.address(f, "registry", "the registry contract's address")
	l.ChainID, _ = f.uint("chain_id", true, 0, 1, 1<<53-1)
	if s, v, ok := f.str("finality", false); ok && s != "" {
		if !finalityRE.MatchString(s) {
			p.errorf(v, "ledger.finality", "%q is not qbft, finalized or confirmations:K (K 1..9999)", s)
		} else {
			l.Finality = s
		}
	}
	l.StartBlock, _ = f.uint("start_block", false, 0, 0, 1<<63-1)
	l.Poll = f.dur("poll", DefaultPoll, 100*time.Millisecond, time.Hour)
	if en, _ := f.get("ebsi", false); en != nil {
		e := p.mapping(en, "ledger.ebsi", ebsiKeys)
		l.EBSI = &EBSI{}
		l.EBSI.RPC = p.rpcURL(e, "rpc")
		l.EBSI.Contract = p.address(e, "contract", "the Timestamp contract's address")
		l.EBSI.StartBlock, _ = e.uint("start_block", false, 0, 0, 1<<63-1)
		l.EBSI.HashAlgorithmID, _ = e.uint("hash_algorithm_id", true, 0, 0, 1<<31)
	}
	return l
}

func (p *parser) archive(f *fields) Archive {
	var a Archive
	n, _ := f.get("archive", true)
	if n == nil {
		return a
	}
	af := p.mapping(n, "archive", archiveKeys)
	if af.n == nil {
		return a
	}
	a.Bolt = af.file("bolt", false, false)
	if s, _, ok := af.str("postgres_dsn", false); ok {
		a.PostgresDSN = s
	}
	a.PostgresDSNFile = af.file("postgres_dsn_file", false, true)
	set := 0
	for _, k := range archiveKeys {
		if af.has(k) {
			set++
		}
	}
	switch {
	case set == 0 && len(af.quiet) == 0:
		p.errorf(n, "archive", "give bolt (a file) or postgres_dsn or postgres_dsn_file")
	case set > 1:
		p.errorf(n, "archive", "give one of bolt, postgres_dsn and postgres_dsn_file, not %d", set)
	}
	return a
}

// rpcURL reads a JSON-RPC URL field: http, https, ws or wss.
func (p *parser) rpcURL(f *fields, key string) string {
	s, v, ok := f.str(key, true)
	if !ok || s == "" {
		return ""
	}
	path := join(f.path, key)
	u, err := url.Parse(s)
	switch {
	case err != nil:
		p.errorf(v, path, "%q is not a URL: %v", s, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss":
		p.errorf(v, path, "%q: scheme %q is not http, https, ws or wss", s, u.Scheme)
	case u.Host == "":
		p.errorf(v, path, "%q has no host", s)
	default:
		return s
	}
	return ""
}

// address reads a required contract address field.
func (p *parser) address(f *fields, key, what string) event.Address {
	s, v := f.text(key, true)
	if v == nil {
		return event.Address{}
	}
	a, err := event.ParseAddress(strings.ToLower(s))
	if !addressRE.MatchString(s) || err != nil {
		p.errorf(v, join(f.path, key), "%q is not %s (0x and 40 hex digits; quote it)", s, what)
	}
	return a
}
