package event_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
)

var update = flag.Bool("update", false, "rewrite firmware-docs/testdata/input/lines.json and the input table in PROTOCOL.md")

const (
	vectorsFile  = "../../firmware-docs/testdata/input/lines.json"
	protocolFile = "../../firmware-docs/PROTOCOL.md"
)

// inputClock is the clock of lines without a time: unsynced, one hour
// after the epoch.
func inputClock() (int64, event.TimeSource) { return 3_600_000, event.SourceUnsynced }

// deep returns a payload of kind x_deep nested n levels: {"a":{"a":…1…}}.
func deep(n int) string {
	return strings.Repeat(`{"a":`, n-1) + `{"a":1}` + strings.Repeat("}", n-1)
}

// inputCase is one rule of PROTOCOL.md §2.1, as a line and its outcome.
type inputCase struct {
	rule string // the rule, as the table in PROTOCOL.md names it
	line string // the exact input line
	show string // how the table shows the line, if not as itself
	// payload is the canonical payload signed for an accepted line; err,
	// for a refused one, a part of ParseInput's error.
	payload, err string
	note         string // the table's result, if not the payload or err
}

var inputCases = []inputCase{
	{rule: "accepted", line: `{"kind":"manual","payload":{"note":"hi"}}`, payload: `{"note":"hi"}`},
	{rule: "accepted", line: ` { "payload" : { "note" : "hi" , "by" : "ops" } , "kind" : "manual" } `, payload: `{"by":"ops","note":"hi"}`},
	{rule: "accepted", line: `{"kind":"manual","payload":{"note":"hi"},"time":1795766400000,"time_source":"gnss"}`, payload: `{"note":"hi"}`},
	{rule: "accepted", line: `{"kind":"x_esc","payload":{"\u0078_a":"\u00e9\ud83d\ude00\/"}}`, payload: `{"x_a":"é😀/"}`},

	{rule: "duplicate member", line: `{"kind":"delivery","kind":"manual","payload":{"note":"dup"}}`, err: `duplicate key "kind"`},
	{rule: "duplicate member", line: `{"kind":"manual","\u006bind":"manual","payload":{"note":"dup"}}`, err: `duplicate key "kind"`},
	{rule: "duplicate member", line: `{"kind":"x_a","payload":{"x":{"a":1,"a":2}}}`, err: `duplicate key "a"`},
	{rule: "member name case", line: `{"Kind":"manual","PAYLOAD":{"note":"case"}}`, err: `unknown field "Kind": member names are case-sensitive (did you mean "kind"?)`},
	{rule: "member name case", line: `{"kind":"manual","payload":{"note":"hi"},"Time":1795766400000,"time_source":"gnss"}`, err: `unknown field "Time"`},
	{rule: "member name case", line: `{"kind":"manual","payload":{"Note":"hi"}}`, err: `unknown field "Note": field names are case-sensitive (did you mean "note"?)`},
	{rule: "members", line: `{"kind":"manual","payload":{"note":"hi"},"extra":1}`, err: `unknown field "extra"`},
	{rule: "members", line: `{"kind":"manual"}`, err: `missing "payload"`},
	{rule: "members", line: `{"kind":"manual","payload":null}`, err: `missing "payload"`},
	{rule: "members", line: `{"payload":{"note":"hi"}}`, err: `missing "kind"`},
	{rule: "members", line: `{"kind":1,"payload":{"note":"hi"}}`, err: `"kind" is 1, not a string`},
	{rule: "members", line: `{"kind":"x_a","payload":[1]}`, err: `"payload" is not a JSON object`},
	{rule: "members", line: `{"kind":"manual","payload":{"note":"hi"},"time":1795766400000}`, err: `without "time_source"`},
	{rule: "members", line: `{"kind":"manual","payload":{"note":"hi"},"time_source":"gnss"}`, err: `without "time"`},
	{rule: "members", line: `{"kind":"manual","payload":{"note":"hi"},"time":1795766400000.5,"time_source":"gnss"}`, err: `not an integer number of milliseconds`},
	{rule: "members", line: `{"kind":"manual","payload":{"note":"hi"},"time":-1,"time_source":"unsynced"}`, err: `not an integer number of milliseconds`},
	{rule: "members", line: `{"kind":"manual","payload":{"note":"hi"},"time":5,"time_source":"ntp"}`, err: `before the floor`},
	{rule: "members", line: `{"kind":"nope","payload":{}}`, err: `unknown kind "nope"`},
	{rule: "one object", line: `[1,2]`, err: `not a JSON object`},
	{rule: "one object", line: `{"kind":"manual","payload":{"note":"hi"}} {}`, err: `more than one JSON value`},
	{rule: "one object", line: `{"kind":"manual","payload":{"note":"hi"}`, err: `unexpected end of input`},
	{rule: "one object", line: `{"kind":"manual","payload":{"note":"hi"}},`, err: `unexpected "," after the object at offset 41`},

	{rule: "numbers", line: `{"kind":"x_n","payload":{"x_a":5.0,"x_b":5e0,"x_c":-0,"x_d":0.10,"x_e":1E2,"x_f":1e21,"x_g":9007199254740992,"x_h":5e-324}}`,
		payload: `{"x_a":5,"x_b":5,"x_c":0,"x_d":0.1,"x_e":100,"x_f":1e+21,"x_g":9007199254740992,"x_h":5e-324}`},
	{rule: "numbers", line: `{"kind":"x_big","payload":{"x_n":123456789012345678901234567890}}`, err: `payload.x_n: number 123456789012345678901234567890 cannot be signed exactly: its canonical form, the nearest IEEE-754 double, is 1.2345678901234568e+29`},
	{rule: "numbers", line: `{"kind":"x_big","payload":{"x_s":1e-400}}`, err: `payload.x_s: number 1e-400 cannot be signed exactly: its canonical form, the nearest IEEE-754 double, is 0`},
	{rule: "numbers", line: `{"kind":"x_big","payload":{"x":[0,{"y":9007199254740993}]}}`, err: `payload.x[1].y: number 9007199254740993 cannot be signed exactly`},
	{rule: "numbers", line: `{"kind":"position","payload":{"lat":0.30000000000000001,"lon":1}}`, err: `payload.lat: number 0.30000000000000001 cannot be signed exactly: its canonical form, the nearest IEEE-754 double, is 0.3`},
	{rule: "numbers", line: `{"kind":"x_big","payload":{"a b":2.5e-324}}`, err: `payload["a b"]: number 2.5e-324 cannot be signed exactly`},
	{rule: "numbers", line: `{"kind":"x_big","payload":{"x":1e400}}`, err: `number out of range`},

	{rule: "nesting", line: `{"kind":"x_deep","payload":` + deep(event.MaxPayloadDepth) + `}`,
		show: `{"kind":"x_deep","payload":{"a":` + "…62 levels…" + `}}`, payload: deep(event.MaxPayloadDepth)},
	{rule: "nesting", line: `{"kind":"x_deep","payload":` + deep(event.MaxPayloadDepth+1) + `}`,
		show: `{"kind":"x_deep","payload":{"a":` + "…63 levels…" + `}}`, err: `payload nests 63 levels deep, more than the limit of 62`},
	{rule: "nesting", line: `{"kind":"x_deep","payload":` + deep(event.MaxPayloadDepth+2) + `}`,
		show: `{"kind":"x_deep","payload":{"a":` + "…64 levels…" + `}}`, err: `line nests 65 levels deep; a payload may nest at most 62`},
	{rule: "nesting", line: `{"kind":"x_deep","payload":{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`,
		show: `{"kind":"x_deep","payload":{"a":[[[` + "…10000 levels…" + `]]]}}`, err: `line nests 10002 levels deep`},

	{rule: "noncharacters", line: `{"kind":"x_nc","payload":{"a":"\ufffd\ufdcf\ufdf0\ud83f\udffd"}}`, payload: "{\"a\":\"\ufffd\ufdcf\ufdf0\U0001fffd\"}",
		note: "accepted: U+FFFD, U+FDCF, U+FDF0 and U+1FFFD are not noncharacters"},
	{rule: "noncharacters", line: `{"kind":"x_nc","payload":{"a":"\uffff"}}`, err: `noncharacter U+FFFF in string`},
	{rule: "noncharacters", line: "{\"kind\":\"x_nc\",\"payload\":{\"a\":\"\uffff\"}}", show: `{"kind":"x_nc","payload":{"a":"<U+FFFF as UTF-8: EF BF BF>"}}`, err: `noncharacter U+FFFF in string`},
	{rule: "noncharacters", line: `{"kind":"manual","payload":{"note":"\uFDD0"}}`, err: `noncharacter U+FDD0 in string`},
	{rule: "noncharacters", line: `{"kind":"x_nc","payload":{"a":"\ud83f\udfff"}}`, err: `noncharacter U+1FFFF in string`},
	{rule: "noncharacters", line: "{\"kind\":\"x_nc\",\"payload\":{\"a\":\"\U0010fffe\"}}", show: `{"kind":"x_nc","payload":{"a":"<U+10FFFE as UTF-8: F4 8F BF BE>"}}`, err: `noncharacter U+10FFFE in string`},
	{rule: "noncharacters", line: `{"kind":"x_nc","payload":{"\ufdef":1}}`, err: `noncharacter U+FDEF in string`},
	{rule: "noncharacters", line: `{"kind":"x_nc","payload":{"x":[{"\ufffe":1}]}}`, err: `noncharacter U+FFFE in string`},
	{rule: "surrogates", line: `{"kind":"x_s","payload":{"a":"\ud800"}}`, err: `lone surrogate \ud800`},
	{rule: "surrogates", line: `{"kind":"x_s","payload":{"a":"\udc00\ud800"}}`, err: `lone surrogate \udc00`},
	{rule: "surrogates", line: `{"kind":"x_s","payload":{"\ud83d":1}}`, err: `lone surrogate \ud83d`},
	{rule: "UTF-8", line: "{\"kind\":\"x_u\",\"payload\":{\"a\":\"\xff\"}}", show: `{"kind":"x_u","payload":{"a":"<byte FF>"}}`, err: `invalid UTF-8 in string`},
	{rule: "UTF-8", line: "{\"kind\":\"x_u\",\"payload\":{\"\xed\xa0\x80\":1}}", show: `{"kind":"x_u","payload":{"<bytes ED A0 80, a surrogate in UTF-8>":1}}`, err: `invalid UTF-8 in string`},
	{rule: "UTF-8", line: "\xef\xbb\xbf{\"kind\":\"manual\",\"payload\":{\"note\":\"bom\"}}", show: `<bytes EF BB BF, a byte order mark>{"kind":"manual","payload":{"note":"bom"}}`, err: `not a JSON object`},

	{rule: "sizes", line: `{"kind":"x_big","payload":{"a":"` + strings.Repeat("x", event.MaxPayload-8) + `"}}`,
		show: `{"kind":"x_big","payload":{"a":"xxx…"}} (canonical payload 8192 bytes)`, payload: `{"a":"` + strings.Repeat("x", event.MaxPayload-8) + `"}`},
	{rule: "sizes", line: `{"kind":"x_big","payload":{"a":"` + strings.Repeat("x", event.MaxPayload-7) + `"}}`,
		show: `{"kind":"x_big","payload":{"a":"xxx…"}} (canonical payload 8193 bytes)`, err: `payload is 8193 bytes, limit 8192`},
	{rule: "sizes", line: `{"kind":"manual","payload":{"note":"` + strings.Repeat("x", 1025) + `"}}`,
		show: `{"kind":"manual","payload":{"note":"xxx…"}} (1025-byte note)`, err: `string longer than 1024 bytes`},
	{rule: "sizes", line: `{"kind":"manual","payload":{"note":"hi"}}` + strings.Repeat(" ", event.MaxInput),
		show: `{"kind":"manual","payload":{"note":"hi"}}` + "␠… (1 MiB + 41 bytes)", err: `more than the limit of 1048576`},
}

func TestParseInput_Table(t *testing.T) {
	for _, c := range inputCases {
		name := c.show
		if name == "" {
			name = c.line
		}
		ev, err := event.ParseInput([]byte(c.line), inputClock)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, event.ErrInvalid) {
				t.Errorf("%s: %.200s\n ParseInput = %v\n want an ErrInvalid containing %q", c.rule, name, err, c.err)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("%s: %.200s: error is not one line: %q", c.rule, name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %.200s\n ParseInput = %v, want accepted", c.rule, name, err)
			continue
		}
		if string(ev.Payload) != c.payload {
			t.Errorf("%s: %.200s\n payload %.200s, want %.200s", c.rule, name, ev.Payload, c.payload)
		}
		if err := prove(t, ev); err != nil {
			t.Errorf("%s: %.200s: accepted but not provable: %v", c.rule, name, err)
		}
	}
}

// TestParseInput_Exactness checks, for every accepted line, that each
// number's value is exactly the value of its canonical form, with exact
// rational arithmetic.
func TestParseInput_Exactness(t *testing.T) {
	for _, c := range inputCases {
		if c.err == "" {
			if err := numbersExact([]byte(c.line)); err != nil {
				t.Errorf("%s: %.100s: %v", c.rule, c.line, err)
			}
		}
	}
}

// numbersExact returns an error if a number in the JSON text b has a
// value different from that of its canonical form.
func numbersExact(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		n, ok := tok.(json.Number)
		if !ok || len(n) > 100 {
			continue
		}
		if _, e, ok := strings.Cut(strings.ToLower(string(n)), "e"); ok && len(strings.TrimLeft(e, "+-0")) > 3 {
			continue // big.Rat would compute 10^e; only 0 can be accepted with such an exponent
		}
		c, err := jcs.Canonicalize([]byte(n))
		if err != nil {
			return err
		}
		a, ok1 := new(big.Rat).SetString(string(n))
		z, ok2 := new(big.Rat).SetString(string(c))
		if !ok1 || !ok2 || a.Cmp(z) != 0 {
			return fmt.Errorf("number %s was accepted but is signed as %s", n, c)
		}
	}
}

var (
	testKey = func() *signer.Key {
		priv, err := crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
		if err != nil {
			panic(err)
		}
		return signer.NewKey(priv)
	}()
	testDomain = signer.Domain{ChainID: 1337, Fleet: "demo"}
)

// prove signs ev, checks that its leaf parses back to the same event, and
// proves it as the only event of a log: the bundle that `waybill log
// prove` would print is built, written, read back and verified.
func prove(t testing.TB, ev event.Event) error {
	t.Helper()
	s, err := testKey.SignEvent(testDomain, ev)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	leaf, err := s.Leaf()
	if err != nil {
		return fmt.Errorf("leaf: %w", err)
	}
	back, err := event.Parse(leaf)
	if err != nil {
		return fmt.Errorf("parse leaf: %w", err)
	}
	if !reflect.DeepEqual(back, s) {
		return fmt.Errorf("leaf parses to %+v, signed %+v", back, s)
	}
	if err := signer.VerifyEvent(testDomain, back); err != nil {
		return err
	}
	name := signer.KeyName(testDomain.Fleet, s.Device)
	ns, err := testKey.NoteSigner(name, testDomain)
	if err != nil {
		return err
	}
	note, err := checkpoint.SignCheckpoint(checkpoint.Checkpoint{
		Origin: signer.Origin(testDomain.Fleet, s.Device, s.Epoch), Size: 1, Root: merkle.LeafHash(leaf),
	}, ns)
	if err != nil {
		return err
	}
	b, err := verify.NewBundle(leaf, testDomain, note, nil)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	out, err := b.Marshal()
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	b2, err := verify.ParseBundle(out)
	if err != nil {
		return fmt.Errorf("bundle read back: %w", err)
	}
	return b2.Verify(verify.Options{Fleet: testDomain.Fleet, ChainID: testDomain.ChainID})
}

// TestParse_DepthLimit holds every reader to the one nesting limit: a leaf
// whose payload nests MaxPayloadDepth levels is proven above (the
// "nesting" cases); one level more is refused by Validate, by Parse and so
// by every reader that parses leaves, with the same message.
func TestParse_DepthLimit(t *testing.T) {
	ev := event.Event{Time: 3_600_000, Source: event.SourceUnsynced, Kind: "x_deep", Payload: []byte(deep(event.MaxPayloadDepth + 1))}
	const want = "payload nests 63 levels deep, more than the limit of 62"
	if err := ev.Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v, want %q", err, want)
	}
	if _, err := testKey.SignEvent(testDomain, ev); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("SignEvent = %v, want %q", err, want)
	}
	// A leaf written by an agent that signed it anyway (as earlier
	// versions did) is refused when read.
	s := &event.Signed{Event: ev}
	leaf := s.LeafOfValid()
	if _, err := event.Parse(leaf); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse = %v, want %q", err, want)
	}
	// jcs.MaxDepth is what the bundle needs: two levels above the payload.
	if event.MaxPayloadDepth+2 != jcs.MaxDepth {
		t.Errorf("MaxPayloadDepth %d + 2 != jcs.MaxDepth %d", event.MaxPayloadDepth, jcs.MaxDepth)
	}
}

// TestParse_Noncharacters: a leaf holding a noncharacter, as earlier
// versions signed, is refused by every reader.
func TestParse_Noncharacters(t *testing.T) {
	ev := event.Event{Time: 3_600_000, Source: event.SourceUnsynced, Kind: "x_nc", Payload: []byte("{\"a\":\"\uffff\"}")}
	s := &event.Signed{Event: ev}
	if _, err := event.Parse(s.LeafOfValid()); err == nil || !strings.Contains(err.Error(), "noncharacter U+FFFF") {
		t.Errorf("Parse = %v, want a noncharacter error", err)
	}
	if err := ev.Validate(); err == nil || !strings.Contains(err.Error(), "noncharacter U+FFFF") {
		t.Errorf("Validate = %v, want a noncharacter error", err)
	}
}

// maxVectorLine is the longest line the vectors file holds.
const maxVectorLine = 16 << 10

// inputVector is one entry of firmware-docs/testdata/input/lines.json.
type inputVector struct {
	Rule string `json:"rule"`
	// Line is the input line as text, when it is valid UTF-8 without
	// noncharacters; LineBase64 is always its exact bytes.
	Line       string `json:"line,omitempty"`
	LineBase64 string `json:"line_base64"`
	Accepted   bool   `json:"accepted"`
	Payload    string `json:"payload,omitempty"`
	Error      string `json:"error,omitempty"`
}

func inputVectors() []byte {
	var vs []inputVector
	for _, c := range inputCases {
		if len(c.line) > maxVectorLine {
			continue // in the table of PROTOCOL.md only, described
		}
		v := inputVector{Rule: c.rule, LineBase64: base64.StdEncoding.EncodeToString([]byte(c.line)),
			Accepted: c.err == "", Payload: c.payload, Error: c.err}
		if utf8.ValidString(c.line) && strings.IndexFunc(c.line, jcs.IsNoncharacter) < 0 {
			v.Line = c.line
		}
		vs = append(vs, v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vs); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// TestInputVectors pins firmware-docs/testdata/input/lines.json to the table
// above, so that what PROTOCOL.md §2.1 lists is what ParseInput does.
func TestInputVectors(t *testing.T) {
	want := inputVectors()
	if *update {
		if err := os.WriteFile(vectorsFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date; run go test ./agent/event -run TestInputVectors -update", vectorsFile)
	}
	// The file is read back as an outside party would: every line, from
	// its base64, gives the listed outcome.
	var vs []inputVector
	if err := json.Unmarshal(got, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		line, err := base64.StdEncoding.DecodeString(v.LineBase64)
		if err != nil {
			t.Fatal(err)
		}
		if v.Line != "" && v.Line != string(line) {
			t.Errorf("line %q and its base64 differ", v.Line)
		}
		ev, err := event.ParseInput(line, inputClock)
		if (err == nil) != v.Accepted || err == nil && string(ev.Payload) != v.Payload || err != nil && !strings.Contains(err.Error(), v.Error) {
			t.Errorf("%.100s: ParseInput = %v, %v; the vector says accepted=%v %q %q", line, ev.Payload, err, v.Accepted, v.Payload, v.Error)
		}
	}
}

const (
	tableBegin = "<!-- BEGIN GENERATED INPUT TABLE (go test ./agent/event -run TestInputTable -update) -->\n"
	tableEnd   = "<!-- END GENERATED INPUT TABLE -->\n"
)

// inputTable is the table of PROTOCOL.md §2.1.
func inputTable() string {
	var b strings.Builder
	b.WriteString("| rule | input line | result |\n|---|---|---|\n")
	for _, c := range inputCases {
		line := c.show
		if line == "" {
			line = c.line
		}
		result := "accepted, payload `" + c.payload + "`"
		switch {
		case c.note != "":
			result = c.note
		case c.err != "":
			result = "refused: " + c.err
		case len(c.payload) > 120:
			result = "accepted"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.rule, mdCode(line), mdText(result))
	}
	return b.String()
}

// mdCode writes s as a Markdown code span in a table cell.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

func mdText(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// TestInputTable keeps the table in PROTOCOL.md §2.1 generated from the
// cases above.
func TestInputTable(t *testing.T) {
	doc, err := os.ReadFile(protocolFile)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), tableBegin)
	_, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no generated input table (markers %q … %q)", protocolFile, tableBegin, tableEnd)
	}
	want := before + tableBegin + inputTable() + tableEnd + after
	if *update {
		if err := os.WriteFile(protocolFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(doc) {
		t.Errorf("the input table in %s is out of date; run go test ./agent/event -run TestInputTable -update", protocolFile)
	}
}

// FuzzParseInput: every line is either refused with an ErrInvalid error of
// one line, or parsed into an event that keeps every number's value, whose
// leaf round-trips and that can be proven.
func FuzzParseInput(f *testing.F) {
	for _, c := range inputCases {
		if len(c.line) < 4096 {
			f.Add([]byte(c.line))
		}
	}
	f.Add([]byte(`{"kind":"position","payload":{"lat":1,"lon":2,"sats":3},"time":1795766400000,"time_source":"gnss"}`))
	f.Add([]byte(`{"kind":"x_y","payload":{"a":[1,{"b":null,"c":true,"d":-1.5e-7}]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := event.ParseInput(line, inputClock)
		if err != nil {
			if !errors.Is(err, event.ErrInvalid) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("ParseInput(%q) = %q: not a one-line ErrInvalid", line, err)
			}
			return
		}
		if err := numbersExact(line); err != nil {
			t.Fatalf("ParseInput(%q): %v", line, err)
		}
		if err := prove(t, ev); err != nil {
			t.Fatalf("ParseInput(%q) accepted an event that cannot be proven: %v", line, err)
		}
	})
}
