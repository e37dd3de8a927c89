package ebsi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/ebsitest"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/standin"
)

type idVector struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	Data        string `json:"data"`
	HashValue   string `json:"hash_value"`
	Hash        string `json:"hash"`
	TimestampID string `json:"timestamp_id"`
	Multihash   string `json:"multihash_base64url"`
	APIID       string `json:"api_id"`
}

// TestTimestampID_EBSIExamples checks the timestamp id computation against
// EBSI's documented examples (testdata/timestamp-id.json, sources cited
// there).
func TestTimestampID_EBSIExamples(t *testing.T) {
	b, err := os.ReadFile("testdata/timestamp-id.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []idVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 2 {
		t.Fatalf("%d vectors, want 2", len(f.Vectors))
	}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if v.Source == "" {
				t.Error("vector cites no source")
			}
			hv := hexutil.MustDecode(v.HashValue)
			if v.Data != "" {
				if got := sha256.Sum256(hexutil.MustDecode(v.Data)); !bytes.Equal(got[:], hv) {
					t.Errorf("sha256(data) = %x, want hash_value %x", got, hv)
				}
			}
			if v.Hash != "" {
				if got := ebsi.FormatSHA256Hash([32]byte(hv)); got != v.Hash {
					t.Errorf("FormatSHA256Hash = %s, want %s", got, v.Hash)
				}
			}
			id := ebsi.TimestampID(hv)
			if got := hexutil.Encode(id[:]); got != v.TimestampID {
				t.Errorf("TimestampID = %s, want %s", got, v.TimestampID)
			}
			if got := ebsi.FormatTimestampID(id); got != v.APIID {
				t.Errorf("FormatTimestampID = %s, want EBSI's %s", got, v.APIID)
			}
			if v.Multihash != "" && "u"+v.Multihash != v.APIID {
				t.Errorf("api_id %s is not u + multihash %s", v.APIID, v.Multihash)
			}
			back, err := ebsi.ParseTimestampID(v.APIID)
			if err != nil || back != id {
				t.Errorf("ParseTimestampID(%s) = %x, %v; want %x", v.APIID, back, err, id)
			}
		})
	}
}

// TestTimestampID_Contract: the stand-in contract's id is TimestampID.
func TestTimestampID_Contract(t *testing.T) {
	srv, err := ebsitest.Start(ebsitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	values := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)}
	algs := []*big.Int{big.NewInt(1), big.NewInt(1), big.NewInt(1)}
	ids, err := callTimestampHashes(srv, algs, values, nil)
	if err != nil {
		t.Fatalf("3 hashes: %v", err)
	}
	for i, v := range values {
		if want := ebsi.TimestampID(v); ids[i] != want {
			t.Errorf("contract id %d = %x, want %x", i, ids[i], want)
		}
	}
}

// callTimestampHashes runs timestampHashes on the stand-in contract with
// eth_call and returns its ids.
func callTimestampHashes(srv *ebsitest.Server, algs []*big.Int, values, data [][]byte) ([][32]byte, error) {
	if data == nil {
		data = [][]byte{}
	}
	a := standin.ABI()
	input, err := a.Pack("timestampHashes", algs, values, data)
	if err != nil {
		return nil, err
	}
	out, err := srv.Sim.Client().CallContract(context.Background(), ethereum.CallMsg{To: &srv.Contract, Data: input}, nil)
	if err != nil {
		return nil, err
	}
	res, err := a.Unpack("timestampHashes", out)
	if err != nil {
		return nil, err
	}
	return res[0].([][32]byte), nil
}

// TestHashes_AtMostThree: more than three hashes are refused before any
// request, and the contract reverts them too.
func TestHashes_AtMostThree(t *testing.T) {
	v := bytes.Repeat([]byte{7}, 32)
	one := big.NewInt(1)
	four := ebsi.Hashes{AlgorithmIDs: []*big.Int{one, one, one, one}, Values: [][]byte{v, v, v, v}}
	if err := four.Check(); !errors.Is(err, ebsi.ErrTooManyHashes) {
		t.Errorf("Check(4 hashes) = %v, want ErrTooManyHashes", err)
	}
	if _, err := four.Calldata(); !errors.Is(err, ebsi.ErrTooManyHashes) {
		t.Errorf("Calldata(4 hashes) = %v, want ErrTooManyHashes", err)
	}
	if _, err := four.Params(common.Address{}); !errors.Is(err, ebsi.ErrTooManyHashes) {
		t.Errorf("Params(4 hashes) = %v, want ErrTooManyHashes", err)
	}
	fourData := ebsi.Hashes{AlgorithmIDs: []*big.Int{one}, Values: [][]byte{v}, Data: [][]byte{{'1'}, {'2'}, {'3'}, {'4'}}}
	if err := fourData.Check(); !errors.Is(err, ebsi.ErrTooManyHashes) {
		t.Errorf("Check(4 data) = %v, want ErrTooManyHashes", err)
	}
	three := ebsi.Hashes{AlgorithmIDs: []*big.Int{one, one, one}, Values: [][]byte{v, v, v}}
	if err := three.Check(); err != nil {
		t.Errorf("Check(3 hashes) = %v", err)
	}

	srv, err := ebsitest.Start(ebsitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := callTimestampHashes(srv, four.AlgorithmIDs, four.Values, nil); err == nil || !strings.Contains(err.Error(), "hashAlgorithmIds>3") {
		t.Errorf("contract with 4 hashes: %v; want revert hashAlgorithmIds>3", err)
	}
	if _, err := callTimestampHashes(srv, three.AlgorithmIDs, three.Values, [][]byte{{1}, {2}, {3}, {4}}); err == nil || !strings.Contains(err.Error(), "timestampData>3") {
		t.Errorf("contract with 4 data: %v; want revert timestampData>3", err)
	}
	if _, err := callTimestampHashes(srv, three.AlgorithmIDs, three.Values, nil); err != nil {
		t.Errorf("contract with 3 hashes: %v", err)
	}
}

// TestHashes_Check refuses what the contract would revert.
func TestHashes_Check(t *testing.T) {
	v := bytes.Repeat([]byte{7}, 32)
	one := big.NewInt(1)
	cases := []struct {
		name string
		h    ebsi.Hashes
	}{
		{"none", ebsi.Hashes{}},
		{"algorithms without values", ebsi.Hashes{AlgorithmIDs: []*big.Int{one, one}, Values: [][]byte{v}}},
		{"empty value", ebsi.Hashes{AlgorithmIDs: []*big.Int{one}, Values: [][]byte{{}}}},
		{"nil algorithm", ebsi.Hashes{AlgorithmIDs: []*big.Int{nil}, Values: [][]byte{v}}},
		{"negative algorithm", ebsi.Hashes{AlgorithmIDs: []*big.Int{big.NewInt(-1)}, Values: [][]byte{v}}},
	}
	for _, c := range cases {
		if err := c.h.Check(); err == nil {
			t.Errorf("%s: Check = nil, want an error", c.name)
		}
	}
}

// TestParams_RoundTrip: the JSON-RPC parameters decode to what they
// encode, and malformed parameters are refused.
func TestParams_RoundTrip(t *testing.T) {
	note, err := os.ReadFile("../../../firmware-docs/testdata/checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ebsi.CheckpointHashes(note, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	from := common.HexToAddress("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
	p, err := h.Params(from)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back ebsi.TimestampHashesParams
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := back.Hashes()
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := h.Calldata()
	c2, _ := got.Calldata()
	if !bytes.Equal(c1, c2) {
		t.Errorf("params do not round-trip: %s", b)
	}
	for _, bad := range []string{
		`{"from":"0x00","hashAlgorithmIds":["x"],"hashValues":["0x00"]}`,
		`{"from":"0x00","hashAlgorithmIds":[1],"hashValues":["00"]}`,
		`{"from":"0x00","hashAlgorithmIds":[1],"hashValues":["0xzz"]}`,
		`{"from":"0x00","hashAlgorithmIds":[1],"hashValues":["0x00"],"timestampData":["7b7d"]}`,
		`{"from":"0x00","hashAlgorithmIds":[1,1,1,1],"hashValues":["0x01","0x01","0x01","0x01"]}`,
	} {
		var p ebsi.TimestampHashesParams
		if err := json.Unmarshal([]byte(bad), &p); err != nil {
			continue
		}
		if _, err := p.Hashes(); err == nil {
			t.Errorf("Hashes(%s) = nil error", bad)
		}
	}
}

// TestTimestampData round-trips the note and refuses anything else.
func TestTimestampData(t *testing.T) {
	note, err := os.ReadFile("../../../firmware-docs/testdata/checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ebsi.TimestampData(note)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(d) {
		t.Fatalf("timestamp data is not JSON: %s", d)
	}
	back, err := ebsi.ParseTimestampData(d)
	if err != nil || !bytes.Equal(back, note) {
		t.Fatalf("ParseTimestampData = %q, %v", back, err)
	}
	if _, err := ebsi.TimestampData([]byte{0xff, 0xfe}); err == nil {
		t.Error("TimestampData accepted a note that is not UTF-8")
	}
	for _, bad := range []string{
		``,
		`{}`,
		`{"note":"x"}`,
		`{"type":"waybill.checkpoint.v1"}`,
		`{"note":"","type":"waybill.checkpoint.v1"}`,
		`{"note":"x","type":"waybill.checkpoint.v2"}`,
		`{"type":"waybill.checkpoint.v1","note":"x"}`,  // not canonical: member order
		`{"note": "x","type":"waybill.checkpoint.v1"}`, // not canonical: white space
		`{"extra":1,"note":"x","type":"waybill.checkpoint.v1"}`,
		`{"note":"x","type":"waybill.checkpoint.v1"}x`,
		`{"note":"x","tYpe":"waybill.checkpoint.v1"}`, // member names are exact
		`{"Note":"x","type":"waybill.checkpoint.v1"}`,
		`["note","x"]`,
		`{"note":"x","note":"y","type":"waybill.checkpoint.v1"}`,
		`{"note":"\u0078","type":"waybill.checkpoint.v1"}`, // not canonical: escape
		`{"note":"` + strings.Repeat("x", ebsi.MaxDataSize) + `","type":"waybill.checkpoint.v1"}`,
	} {
		if n, err := ebsi.ParseTimestampData([]byte(bad)); err == nil {
			t.Errorf("ParseTimestampData(%.60q) = %q, want an error", bad, n)
		}
	}
}

func FuzzParseTimestampData(f *testing.F) {
	f.Add([]byte(`{"note":"x","type":"waybill.checkpoint.v1"}`))
	f.Add([]byte(`{"note":"a\nb","type":"waybill.checkpoint.v1"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		note, err := ebsi.ParseTimestampData(b)
		if err != nil {
			return
		}
		again, err := ebsi.TimestampData(note)
		if err != nil {
			t.Fatalf("parsed note does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted %q, which re-encodes as %q", b, again)
		}
	})
}

// TestParseTimestampID refuses every other form.
func TestParseTimestampID(t *testing.T) {
	good := "uEiCPQS4deZG8y1FXlG9sW1vDfMbpulXYTkn0HWj2OWd61A"
	for _, bad := range []string{
		"",
		"u",
		good[1:],           // no multibase prefix
		"m" + good[1:],     // base64, not base64url
		"z" + good[1:],     // base58btc
		good + "=",         // padded
		good[:len(good)-1], // short
		good + "AA",        // long
		"uEyCPQS4deZG8y1FXlG9sW1vDfMbpulXYTkn0HWj2OWd61A", // multihash code 0x13
		"uEiGPQS4deZG8y1FXlG9sW1vDfMbpulXYTkn0HWj2OWd61A", // length 0x21
		"uEiCPQS4deZG8y1FXlG9sW1vDfMbpulXYTkn0HWj2OWd61B", // non-zero trailing bits
		"uEiCPQS4deZG8y1FXlG9sW1vDfMbpulXYTkn0HWj2OWd6+A", // base64 alphabet
	} {
		if id, err := ebsi.ParseTimestampID(bad); err == nil {
			t.Errorf("ParseTimestampID(%q) = %x, want an error", bad, id)
		}
	}
}

func FuzzParseTimestampID(f *testing.F) {
	f.Add("uEiCPQS4deZG8y1FXlG9sW1vDfMbpulXYTkn0HWj2OWd61A")
	f.Add("uEiAQjTSfJoekQZpuNe43jEm11_VFCSNagLOqsk81Tnf-aQ")
	f.Add("mEiCFEY+9nffGmiCIEU1angy1JvIkLayCumzH2TfYLqCLDw")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ebsi.ParseTimestampID(s)
		if err != nil {
			return
		}
		if ebsi.FormatTimestampID(id) != s {
			t.Fatalf("accepted %q, which formats as %q", s, ebsi.FormatTimestampID(id))
		}
	})
}

// TestPayload_MatchesAPI: the calldata the backend expects is what the
// stand-in API, like EBSI's, encodes with its own ABI.
func TestPayload_MatchesAPI(t *testing.T) {
	if got, want := ebsi.TimestampABI.Methods["timestampHashes"].ID, standin.ABI().Methods["timestampHashes"].ID; !bytes.Equal(got, want) {
		t.Errorf("timestampHashes selector %x, stand-in's %x", got, want)
	}
	if got, want := ebsi.TimestampABI.Events["TimestampedHashes"].ID, standin.ABI().Events["TimestampedHashes"].ID; got != want {
		t.Errorf("TimestampedHashes topic %s, stand-in's %s", got, want)
	}
	note, err := os.ReadFile("../../../firmware-docs/testdata/checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ebsi.CheckpointHashes(note, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := h.Calldata()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := standin.ABI().Pack("timestampHashes", h.AlgorithmIDs, h.Values, h.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mine, theirs) {
		t.Error("calldata differs from the stand-in ABI's encoding")
	}
}
