package config

import (
	"strings"
	"testing"
	"time"
)

const syncBase = `version: 1
device: {type: gateway, fleet: f, chain_id: 1337, data: /d, key: /k}
`

func TestParse_FeedAnchor(t *testing.T) {
	c, err := Parse("s.yaml", []byte(syncBase+`feed:
  brokers: [tcp://127.0.0.1:1883, ssl://broker.example:8883]
  ca_file: /etc/ssl/ca.pem
  username: van17
  password_file: /etc/waybill/mqtt.pass
anchor:
  rpc: http://127.0.0.1:8545
  contract: 0x5FbDB2315678afecb367f032d93F642f64180aa3
  finality: confirmations:3
  every_events: 1000
  every: 10m
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, a := c.Feed, c.Anchor
	if f == nil || len(f.Brokers) != 2 || f.CAFile != "/etc/ssl/ca.pem" || f.Window != 64 || f.Insecure {
		t.Errorf("feed = %+v", f)
	}
	if a == nil || a.Backend != AnchorEVM || a.Contract != "0x5fbdb2315678afecb367f032d93f642f64180aa3" || a.Finality != "confirmations:3" ||
		a.EveryEvents != 1000 || a.Every != 10*time.Minute || a.MaxFeeGwei != 100 || a.GasLimitPlus != 20 {
		t.Errorf("anchor = %+v", a)
	}
	c, err = Parse("s.yaml", []byte(syncBase), nil)
	if err != nil || c.Feed != nil || c.Anchor != nil {
		t.Errorf("no sections: %+v %+v %v", c.Feed, c.Anchor, err)
	}
}

func TestParse_FeedAnchorErrors(t *testing.T) {
	_, err := Parse("s.yaml", []byte(syncBase+`feed:
  brokers: [http://broker:1883, tcp://]
  cert_file: /c.pem
  window: 70000
  insecur: true
anchor:
  rpc: ftp://node
  contract: 0x1234
  finality: safe
  every: 1s
`), nil)
	if err == nil {
		t.Fatal("bad sections accepted")
	}
	for _, want := range []string{
		`s.yaml:4:13: feed.brokers[0]: "http://broker:1883": scheme "http" is not tcp`,
		`feed.brokers[1]: "tcp://" has no host`,
		`cert_file and key_file go together`,
		`feed.window`,
		`unknown field "insecur" (did you mean "insecure"?)`,
		`anchor.rpc: "ftp://node": scheme "ftp"`,
		`anchor.contract: "0x1234" is not an address`,
		`anchor.finality: "safe" is not qbft, finalized or confirmations:K`,
		`anchor.every`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestParse_AnchorEBSI(t *testing.T) {
	c, err := Parse("s.yaml", []byte(syncBase+`anchor:
  backend: ebsi
  rpc: https://api-pilot.ebsi.eu/timestamp/v4/jsonrpc
  api_version: v4
  token_file: /var/lib/waybill/ebsi-token.json
  hash_algorithm_id: 1
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Anchor; a.Backend != AnchorEBSI || a.APIVersion != "v4" || a.TokenFile != "/var/lib/waybill/ebsi-token.json" || a.HashAlgorithmID != 1 || a.Contract != "" {
		t.Errorf("anchor = %+v", a)
	}
	_, err = Parse("s.yaml", []byte(syncBase+`anchor:
  backend: ebsi
  rpc: https://api-pilot.ebsi.eu/timestamp/v4/jsonrpc
  api_version: "4"
anchor2: 1
`), nil)
	for _, want := range []string{`anchor.api_version: "4" is not an API version`, "anchor.token_file", "anchor.hash_algorithm_id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	_, err = Parse("s.yaml", []byte(syncBase+`anchor:
  rpc: http://127.0.0.1:8545
  contract: "0x5fbdb2315678afecb367f032d93f642f64180aa3"
  token_file: /t
`), nil)
	if err == nil || !strings.Contains(err.Error(), "anchor.token_file: only for backend ebsi") {
		t.Errorf("token_file on evm: %v", err)
	}
}
