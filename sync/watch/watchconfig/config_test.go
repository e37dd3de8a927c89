package watchconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	north    = "0xe480537154655baa4d0e1688b754e392293e5e33"
	northKey = "waybill/north/0xe480537154655baa4d0e1688b754e392293e5e33+06ecc0bc+AV13RxRIkJEe30vpZ50K0zhAqxCcMmSxs4iM/mlY0sZc"
	south    = "0x4ee59ddbd379673439a5ac95a471e61c5b9b0908"
	southKey = "waybill/south/0x4ee59ddbd379673439a5ac95a471e61c5b9b0908+4669db88+AaJQhA1ciRQIHh8m7H4lASuYYAqZgzTHxKl7f/wsj/fd"
)

// minimal is the smallest valid configuration; the table below breaks it.
const minimal = `operators:
  - name: north
    devices:
      - address: "` + north + `"
        fleet: north
        chain_id: 1337
        note_key: ` + northKey + `
brokers:
  - url: tcp://127.0.0.1:1883
archive:
  bolt: archive.db
witness:
  key_file: witness.skey
`

func TestParse_Minimal(t *testing.T) {
	c, err := Parse("/etc/w/watch.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Trust.Operators) != 1 || len(c.Trust.Operators[0].Devices) != 1 {
		t.Fatalf("trust = %+v", c.Trust)
	}
	d := c.Trust.Operators[0].Devices[0]
	if d.Address.String() != north || d.Fleet != "north" || d.ChainID != 1337 || d.NoteKey != northKey {
		t.Errorf("device = %+v", d)
	}
	if len(c.Brokers) != 1 || c.Brokers[0].Name != "127.0.0.1:1883" || c.Brokers[0].URL != "tcp://127.0.0.1:1883" {
		t.Errorf("brokers = %+v", c.Brokers)
	}
	if c.Archive.Bolt != "/etc/w/archive.db" || c.WitnessKey != "/etc/w/witness.skey" {
		t.Errorf("relative paths: archive %q, witness %q; want them under /etc/w", c.Archive.Bolt, c.WitnessKey)
	}
	if c.Brokers[0].ClientID != "waybill-watch-127.0.0.1:1883" {
		t.Errorf("client ID %q", c.Brokers[0].ClientID)
	}
	if c.Shard != (Shard{0, 1}) || c.Ledger != nil || c.Listen != "" {
		t.Errorf("defaults: shard %+v, ledger %+v, listen %q", c.Shard, c.Ledger, c.Listen)
	}
}

func TestParse_Full(t *testing.T) {
	c, err := Load("../../../configs/watch/watch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Trust.Operators) != 2 || len(c.Brokers) != 2 || c.Brokers[1].Fleets[0] != "south" || c.Brokers[0].CertFile != "/etc/waybill-watch/watch.crt" {
		t.Errorf("operators %+v, brokers %+v", c.Trust.Operators, c.Brokers)
	}
	l := c.Ledger
	if l == nil || l.RPC != "https://rpc.chain.example" || l.ChainID != 1337 || l.Confirmations() != 12 || l.Poll != 15*time.Second ||
		l.Registry.String() != "0x5fbdb2315678afecb367f032d93f642f64180aa3" {
		t.Errorf("ledger = %+v", l)
	}
	if c.Archive.PostgresDSNFile != "/etc/waybill-watch/archive.dsn" || c.Listen != "127.0.0.1:9464" {
		t.Errorf("archive %+v, listen %q", c.Archive, c.Listen)
	}
}

// TestParse_Errors breaks the minimal configuration one way at a time: each
// error names the file, the line and column, the field and what is wrong.
func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name      string
		old, new_ string // replace old by new_ in minimal
		want      []string
	}{
		{"misspelt key", "        fleet: north", "        flet: north",
			[]string{`w.yaml:5:9: operators[0].devices[0]: unknown field "flet" (did you mean "fleet"?)`}},
		{"misspelt section", "archive:", "archiv:",
			[]string{`w.yaml:10:1: unknown field "archiv" (did you mean "archive"?)`}},
		{"bad address", north + `"`, `0x12"`,
			[]string{`w.yaml:4:18: operators[0].devices[0].address: "0x12" is not a device address`}},
		{"unquoted address", `"` + north + `"`, north,
			[]string{}}, // taken as written
		{"note key of another device", northKey, southKey,
			[]string{`w.yaml:7:19: operators[0].devices[0].note_key: the key is named "waybill/south/` + south + `", the device's is "waybill/north/` + north + `"`}},
		{"note key garbage", northKey, "abc",
			[]string{`w.yaml:7:19: operators[0].devices[0].note_key: not a note verifier key`}},
		{"chain id text", "chain_id: 1337", "chain_id: one",
			[]string{`w.yaml:6:19: operators[0].devices[0].chain_id: want an integer, got the string "one"`}},
		{"chain id zero", "chain_id: 1337", "chain_id: 0",
			[]string{`operators[0].devices[0].chain_id: 0 is out of range 1..9007199254740991`}},
		{"missing fleet", "        fleet: north\n", "",
			[]string{`w.yaml:4:9: operators[0].devices[0].fleet: missing required field`}},
		{"duplicate device", "brokers:", "      - address: \"" + north + "\"\n        fleet: north\n        chain_id: 1\nbrokers:",
			[]string{`w.yaml:8:18: operators[0].devices[1].address: device ` + north + ` is listed twice (also operators[0].devices[0])`}},
		{"broker scheme", "tcp://127.0.0.1:1883", "http://127.0.0.1:1883",
			[]string{`w.yaml:9:10: brokers[0].url: "http://127.0.0.1:1883": scheme "http" is not tcp, mqtt, ssl, tls, mqtts, ws or wss`}},
		{"tls option in the clear", "  - url: tcp://127.0.0.1:1883", "  - url: tcp://127.0.0.1:1883\n    ca_file: ca.pem",
			[]string{`w.yaml:10:14: brokers[0].ca_file: only for a TLS broker: the url's scheme tcp is not ssl, tls, mqtts or wss`}},
		{"broker credentials", "tcp://127.0.0.1:1883", "tcp://u:secret@127.0.0.1:1883",
			[]string{`holds credentials: give username and password_file instead`}},
		{"no brokers", "brokers:\n  - url: tcp://127.0.0.1:1883\n", "",
			[]string{`w.yaml:1:1: brokers: missing required field (the MQTT brokers to subscribe to, each with a url)`}},
		{"broker fleet unknown", "  - url: tcp://127.0.0.1:1883", "  - url: tcp://127.0.0.1:1883\n    fleets: [nort]",
			[]string{`brokers[0].fleets[0]: no trusted device is of fleet "nort" (did you mean "north"?)`}},
		{"cert without key", "  - url: tcp://127.0.0.1:1883", "  - url: ssl://127.0.0.1:8883\n    cert_file: c.pem",
			[]string{`brokers[0].cert_file: cert_file and key_file go together`}},
		{"two archives", "  bolt: archive.db", "  bolt: archive.db\n  postgres_dsn: postgres://x/y",
			[]string{`w.yaml:11:3: archive: give one of bolt, postgres_dsn and postgres_dsn_file, not 2`}},
		{"no archive", "archive:\n  bolt: archive.db\n", "",
			[]string{`w.yaml:1:1: archive: missing required field`}},
		{"no witness", "witness:\n  key_file: witness.skey\n", "",
			[]string{`w.yaml:1:1: witness: missing required field`}},
		{"shard index", "witness:", "shard:\n  index: 4\n  count: 4\nwitness:",
			[]string{`w.yaml:13:10: shard.index: 4 is not below shard.count 4`}},
		{"listen", "witness:", "http:\n  listen: localhost\nwitness:",
			[]string{`w.yaml:13:11: http.listen: "localhost" is not host:port`}},
		{"finality", "witness:", "ledger:\n  rpc: http://127.0.0.1:8545\n  registry: \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\n  chain_id: 1337\n  finality: soon\nwitness:",
			[]string{`w.yaml:16:13: ledger.finality: "soon" is not qbft, finalized or confirmations:K`}},
		{"ledger missing registry", "witness:", "ledger:\n  rpc: http://127.0.0.1:8545\n  chain_id: 1337\nwitness:",
			[]string{`w.yaml:13:3: ledger.registry: missing required field`}},
		{"poll without unit", "witness:", "ledger:\n  rpc: http://127.0.0.1:8545\n  registry: \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\n  chain_id: 1\n  poll: 15\nwitness:",
			[]string{`ledger.poll: want a duration like 30s, got the number 15 (add a unit: ms, s, m or h)`}},
		{"ebsi without its contract", "witness:", "ledger:\n  rpc: http://127.0.0.1:8545\n  registry: \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\n  chain_id: 1\n  ebsi:\n    rpc: https://api.ebsi.example\n    hash_algorithm_id: 0\nwitness:",
			[]string{`w.yaml:17:5: ledger.ebsi.contract: missing required field`}},
		{"publish not a boolean", "  - url: tcp://127.0.0.1:1883", "  - url: tcp://127.0.0.1:1883\n    publish: yes please",
			[]string{`w.yaml:10:14: brokers[0].publish: want true or false, got the string "yes please"`}},
		{"alias", "chain_id: 1337\n        note_key: " + northKey, "chain_id: &c 1337\n        note_key: *c",
			[]string{`aliases (*c) are not supported`}},
		{"not yaml", "operators:", "operators: [",
			[]string{`w.yaml: not YAML:`}},
		{"two documents", "witness:", "---\nwitness:",
			[]string{`more than one YAML document`}},
		{"several problems at once", "chain_id: 1337", "chain_id: -1\n        colour: red",
			[]string{`operators[0].devices[0].chain_id: -1 is out of range`, `unknown field "colour"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(minimal, tt.old) {
				t.Fatalf("minimal has no %q", tt.old)
			}
			src := strings.Replace(minimal, tt.old, tt.new_, 1)
			_, err := Parse("w.yaml", []byte(src))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse = %v, want Errors\n%s", err, src)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nlacks %q", err, w)
				}
			}
			if len(es) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%v", len(es), len(tt.want), err)
			}
		})
	}
}

func TestParse_Empty(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "[]", "42"} {
		if _, err := Parse("w.yaml", []byte(src)); err == nil {
			t.Errorf("Parse(%q) accepted it", src)
		}
	}
}

func TestCheck_Files(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "watch.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("Load: %v", err)
	}
	_, err := Check(path)
	want := path + ":13:13: witness.key_file: " + filepath.Join(dir, "witness.skey") + " does not exist"
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v\nwant %s", err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "witness.skey"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(path); err != nil {
		t.Fatalf("Check with the key file: %v", err)
	}
}
