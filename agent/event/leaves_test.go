package event_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/signer"
)

const leavesFile = "../../firmware-docs/testdata/input/leaves.json"

// leafCases are events at the edges of PROTOCOL.md §2's payload rules,
// each signed with a valid signature: a verifier accepts the first kind
// and refuses the others whatever their signature.
var leafCases = []struct {
	rule, payload, err string
}{
	{"nesting", deep(event.MaxPayloadDepth), ""},
	{"nesting", deep(event.MaxPayloadDepth + 1), "payload nests 63 levels deep, more than the limit of 62"},
	{"noncharacters", "{\"a\":\"\ufffd\ufdcf\ufdf0\U0001fffd\"}", ""},
	{"noncharacters", "{\"a\":\"\uffff\"}", "noncharacter U+FFFF in string"},
	{"noncharacters", "{\"\ufdd0\":1}", "noncharacter U+FDD0 in string"},
	{"noncharacters", "{\"a\":\"\U0010fffe\"}", "noncharacter U+10FFFE in string"},
	{"numbers", `{"x_f":1e+21,"x_g":9007199254740992,"x_h":5e-324}`, ""},
	{"sizes", `{"a":"` + strings.Repeat("x", event.MaxPayload-8) + `"}`, ""},
	{"sizes", `{"a":"` + strings.Repeat("x", event.MaxPayload-7) + `"}`, "payload is 8193 bytes, limit 8192"},
}

// leafVector is one entry of firmware-docs/testdata/input/leaves.json.
type leafVector struct {
	Rule string `json:"rule"`
	// Leaf is the leaf as text when it is valid UTF-8 without
	// noncharacters; LeafBase64 is always its exact bytes.
	Leaf       string `json:"leaf,omitempty"`
	LeafBase64 string `json:"leaf_base64"`
	Valid      bool   `json:"valid"`
	Error      string `json:"error,omitempty"`
}

// signAnyway signs ev as a device that did not check it would: the
// signature is valid, the event may not be.
func signAnyway(t *testing.T, ev event.Event) []byte {
	t.Helper()
	ev.Device = testKey.Address()
	sig, err := testKey.SignDigest(signer.EventDigest(testDomain, &ev))
	if err != nil {
		t.Fatal(err)
	}
	s := &event.Signed{Event: ev, Sig: sig}
	return s.LeafOfValid()
}

// TestLeafVectors pins firmware-docs/testdata/input/leaves.json: signed
// leaves at the edges of the payload rules, and checks that every reader's
// parser (event.Parse) accepts exactly the valid ones while each signature
// verifies.
func TestLeafVectors(t *testing.T) {
	var vs []leafVector
	for i, c := range leafCases {
		ev := event.Event{Seq: uint64(i), Time: 1795766400000 + int64(i), Source: event.SourceGNSS,
			Kind: "x_edge", Payload: []byte(c.payload)}
		leaf := signAnyway(t, ev)
		v := leafVector{Rule: c.rule, LeafBase64: base64.StdEncoding.EncodeToString(leaf), Valid: c.err == "", Error: c.err}
		if utf8.Valid(leaf) && bytes.IndexFunc(leaf, jcs.IsNoncharacter) < 0 {
			v.Leaf = string(leaf)
		}
		vs = append(vs, v)

		s, err := event.Parse(leaf)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %.80s: Parse = %v, want valid", c.rule, c.payload, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %.80s: Parse = %v, want %q", c.rule, c.payload, err, c.err)
		}
		if c.err == "" {
			if err == nil {
				if err := signer.VerifyEvent(testDomain, s); err != nil {
					t.Errorf("%s: signature: %v", c.rule, err)
				}
			}
			continue
		}
		// The refused leaf's signature is valid: it is refused for what
		// it holds.
		ev.Device = testKey.Address()
		sig, _ := testKey.SignDigest(signer.EventDigest(testDomain, &ev))
		if err := signer.VerifyEvent(testDomain, &event.Signed{Event: ev, Sig: sig}); err != nil {
			t.Errorf("%s: the refused leaf's signature does not verify: %v", c.rule, err)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vs); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(leavesFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(leavesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("%s is out of date; run go test ./agent/event -run TestLeafVectors -update", leavesFile)
	}
}
