package feed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
)

var update = flag.Bool("update", false, "rewrite firmware-docs/testdata/feed")

const (
	vecDir      = "../../firmware-docs/testdata/feed"
	protocolDir = "../../firmware-docs/testdata" // the protocol vectors, PROTOCOL.md §10
	feedDoc     = "../../firmware-docs/FEED.md"
)

// The vector log is the protocol's (agent/verify/vectors_test.go): the
// well-known example key, fleet "demo" on chain 1337, five events at fixed
// times and the checkpoint of size 5.
var (
	vecKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	vecDomain = signer.Domain{ChainID: 1337, Fleet: "demo"}
	vecStart  = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	vecEvents = []struct {
		after   time.Duration
		kind    event.Kind
		payload string
	}{
		{0, "zone_entered", `{"lat":52.5163,"lon":13.3777,"zone":"berlin-mitte"}`},
		{95 * time.Second, "door_opened", `{"door":"rear","lat":52.5163,"lon":13.3777,"moving":false,"outside_zone":false}`},
		{3*time.Minute + 12*time.Second + 250*time.Millisecond, "delivery", `{"door":"open","lat":52.51641,"lon":13.37795,"parcel":"04a3b2c1d0e9f8","proof":"scan","zone":"berlin-mitte"}`},
		{9 * time.Minute, "position", `{"course_deg":87.5,"hdop":0.9,"lat":52.517,"lon":13.389,"sats":11,"speed_mps":8.25}`},
		{41 * time.Minute, "temperature_excursion", `{"celsius":9.5,"duration_s":300,"max_c":8,"min_c":2,"probe":"28ff641e82160322","state":"start"}`},
	}
)

type vecMessage struct {
	Topic    string `json:"topic"`
	QoS      int    `json:"qos"`
	Retain   bool   `json:"retain"`
	File     string `json:"file"`
	Seq      *int   `json:"seq,omitempty"`
	LeafHash string `json:"leaf_hash,omitempty"`
	Digest   string `json:"digest,omitempty"`
}

type vecInvalid struct {
	Name    string `json:"name"`
	Stage   string `json:"stage"` // "parse": ParseMessage refuses it; "verify": Verify does
	Payload string `json:"payload"`
	Error   string `json:"error"` // the reference implementation's error
}

type vecFeed struct {
	Comment  string       `json:"comment"`
	Fleet    string       `json:"fleet"`
	ChainID  uint64       `json:"chain_id"`
	Device   string       `json:"device"`
	Origin   string       `json:"origin"`
	ClientID string       `json:"client_id"`
	Topics   Topics       `json:"topics"`
	Messages []vecMessage `json:"messages"`
	Invalid  []vecInvalid `json:"invalid"`
	// InvalidDomain are domain messages that must be refused: by
	// ParseDomain ("parse") or by VerifyDomain with the vector checkpoint
	// and the vector device's topic ("verify").
	InvalidDomain []vecInvalid `json:"invalid_domain"`
}

// invalidDomains are the refused variants of the vector domain message.
var invalidDomains = []struct{ name, stage, payload string }{
	{"white space", "parse", `{"chain_id": 1337,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`},
	{"members out of order", "parse", `{"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","chain_id":1337,"fleet":"demo","v":1}`},
	{"chain_id 0", "parse", `{"chain_id":0,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`},
	{"chain_id as a string", "parse", `{"chain_id":"1337","device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`},
	{"chain_id beyond 2^53-1", "parse", `{"chain_id":9007199254740992,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`},
	{"uppercase device", "parse", `{"chain_id":1337,"device":"0x2C7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`},
	{"invalid fleet", "parse", `{"chain_id":1337,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"Demo","v":1}`},
	{"unknown member", "parse", `{"chain_id":1337,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","salt":"x","v":1}`},
	{"no device", "parse", `{"chain_id":1337,"fleet":"demo","v":1}`},
	{"version 2", "parse", `{"chain_id":1337,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":2}`},
	{"another chain", "verify", `{"chain_id":1,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`},
	{"another fleet", "verify", `{"chain_id":1337,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"other","v":1}`},
	{"another device", "verify", `{"chain_id":1337,"device":"0x0000000000000000000000000000000000000001","fleet":"demo","v":1}`},
}

// invalidDomainVectors checks invalidDomains with the reference
// implementation and records its verdicts.
func invalidDomainVectors(t testing.TB, note []byte, device event.Address) []vecInvalid {
	t.Helper()
	var out []vecInvalid
	for _, c := range invalidDomains {
		m, err := ParseDomain([]byte(c.payload))
		stage, want := "parse", ErrMalformed
		if err == nil {
			stage, want = "verify", ErrInvalid
			err = VerifyDomain(m, vecDomain.Fleet, device, note)
		}
		if err == nil {
			t.Fatalf("invalid domain message %q is accepted", c.name)
		}
		if stage != c.stage || !errors.Is(err, want) {
			t.Fatalf("invalid domain message %q is refused by %s (%v), want %s", c.name, stage, err, c.stage)
		}
		out = append(out, vecInvalid{Name: c.name, Stage: stage, Payload: c.payload, Error: err.Error()})
	}
	return out
}

// vecLog builds the vector log and returns it with its checkpoint note.
func vecLog(t testing.TB) (*eventlog.Log, []byte) {
	t.Helper()
	ctx := context.Background()
	k := mustKey(t, vecKeyHex)
	id := eventlog.Identity{Device: k.Address(), Fleet: vecDomain.Fleet, ChainID: vecDomain.ChainID}
	l, err := eventlog.Open(ctx, t.TempDir(), &eventlog.Options{Create: &id, Keys: k, Now: func() time.Time { return vecStart }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, ve := range vecEvents {
		if _, err := l.Append(ctx, event.Event{Time: vecStart.Add(ve.after).UnixMilli(), Source: event.SourceGNSS, Kind: ve.kind, Payload: []byte(ve.payload)}); err != nil {
			t.Fatal(err)
		}
	}
	note, _, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return l, note
}

// eventMessages returns the events-topic payloads of l, as the publisher
// builds them.
func eventMessages(t testing.TB, l *eventlog.Log) [][]byte {
	t.Helper()
	var out [][]byte
	if err := l.Range(0, 0, func(seq uint64, leaf []byte) error {
		out = append(out, appendMessage(nil, l.Origin(), seq, leaf))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// mutation is one invalid message, derived from event 0's message m.
type mutation struct {
	name, stage string
	make        func(m map[string]any, leaf string) map[string]any // edits the decoded message
	raw         func(msg string) string                            // or edits the bytes
}

func setMember(k string, v any) func(map[string]any, string) map[string]any {
	return func(m map[string]any, _ string) map[string]any { m[k] = v; return m }
}

func leafEdit(from, to string) func(map[string]any, string) map[string]any {
	return func(m map[string]any, leaf string) map[string]any {
		m["leaf"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(leaf, from, to, 1)))
		return m
	}
}

var invalidMessages = []mutation{
	{name: "white space", stage: "parse", raw: func(s string) string { return strings.Replace(s, `{"leaf"`, `{ "leaf"`, 1) }},
	{name: "members out of order", stage: "parse", raw: func(s string) string {
		i := strings.Index(s, `,"origin"`)
		return `{"origin"` + s[i+len(`,"origin"`):len(s)-1] + "," + s[1:i] + "}"
	}},
	{name: "duplicate member", stage: "parse", raw: func(s string) string { return strings.Replace(s, `,"v":1}`, `,"v":1,"v":1}`, 1) }},
	{name: "not an object", stage: "parse", raw: func(s string) string { return "[" + s + "]" }},
	{name: "trailing newline", stage: "parse", raw: func(s string) string { return s + "\n" }},
	{name: "unknown member", stage: "parse", make: setMember("leaf_hash", "x")},
	{name: "missing seq", stage: "parse", make: func(m map[string]any, _ string) map[string]any { delete(m, "seq"); return m }},
	{name: "null origin", stage: "parse", make: setMember("origin", nil)},
	{name: "version 2", stage: "parse", make: setMember("v", 2)},
	{name: "seq as a string", stage: "parse", make: setMember("seq", "0")},
	{name: "seq negative", stage: "parse", make: setMember("seq", -1)},
	{name: "seq beyond 2^53-1", stage: "parse", make: setMember("seq", 9007199254740992)},
	{name: "seq not the leaf's", stage: "parse", make: setMember("seq", 1)},
	{name: "origin of another epoch", stage: "parse", make: func(m map[string]any, _ string) map[string]any {
		m["origin"] = strings.TrimSuffix(m["origin"].(string), "/0") + "/1"
		return m
	}},
	{name: "origin with uppercase hex", stage: "parse", make: func(m map[string]any, _ string) map[string]any {
		m["origin"] = strings.Replace(m["origin"].(string), "c23/", "C23/", 1)
		return m
	}},
	{name: "origin epoch with a leading zero", stage: "parse", make: func(m map[string]any, _ string) map[string]any {
		m["origin"] = strings.TrimSuffix(m["origin"].(string), "/0") + "/00"
		return m
	}},
	{name: "leaf base64 with a set unused bit", stage: "parse", make: func(m map[string]any, _ string) map[string]any {
		s := m["leaf"].(string)
		i := strings.IndexByte(s, '=') - 1 // event 0's leaf is 1 mod 3 bytes: "X==" with 4 unused bits
		m["leaf"] = s[:i] + string(s[i]+1) + s[i+1:]
		return m
	}},
	{name: "leaf base64 without padding", stage: "parse", make: func(m map[string]any, _ string) map[string]any {
		m["leaf"] = strings.TrimRight(m["leaf"].(string), "=")
		return m
	}},
	{name: "leaf base64 with a line break", stage: "parse", make: func(m map[string]any, _ string) map[string]any {
		s := m["leaf"].(string)
		m["leaf"] = s[:76] + "\n" + s[76:]
		return m
	}},
	{name: "leaf not canonical", stage: "parse", make: leafEdit(`,"epoch":0`, `, "epoch":0`)},
	{name: "leaf with an unknown member", stage: "parse", make: leafEdit(`"epoch":0,`, `"epoch":0,"extra":1,`)},
	{name: "leaf of version 2", stage: "parse", make: leafEdit(`"v":1}`, `"v":2}`)},
	{name: "leaf payload changed", stage: "verify", make: leafEdit(`52.5163`, `52.5164`)},
	{name: "leaf time changed", stage: "verify", make: leafEdit(`1772438400000`, `1772438400001`)},
	{name: "leaf signature changed", stage: "verify", make: leafEdit(`"sig":"0x9c4b`, `"sig":"0x9c4c`)},
	{name: "another fleet", stage: "verify", make: func(m map[string]any, _ string) map[string]any {
		m["origin"] = strings.Replace(m["origin"].(string), "/demo/", "/other/", 1)
		return m
	}},
}

// invalidVectors builds the invalid cases from event 0's message and the
// reference implementation's verdicts.
func invalidVectors(t testing.TB, msg0 []byte, device event.Address) []vecInvalid {
	t.Helper()
	var m0 map[string]any
	if err := json.Unmarshal(msg0, &m0); err != nil {
		t.Fatal(err)
	}
	leaf0, _ := base64.StdEncoding.DecodeString(m0["leaf"].(string))
	var out []vecInvalid
	for _, mu := range invalidMessages {
		var payload []byte
		if mu.raw != nil {
			payload = []byte(mu.raw(string(msg0)))
		} else {
			m := map[string]any{}
			for k, v := range m0 {
				m[k] = v
			}
			var err error
			if payload, err = jcs.Marshal(mu.make(m, string(leaf0))); err != nil {
				t.Fatal(err)
			}
		}
		m, err := ParseMessage(payload)
		stage := "parse"
		if err == nil {
			stage = "verify"
			err = Verify(m, vecDomain, device)
		}
		if err == nil {
			t.Fatalf("invalid message %q is accepted: %s", mu.name, payload)
		}
		if stage != mu.stage {
			t.Fatalf("invalid message %q is refused by %s, want %s: %v", mu.name, stage, mu.stage, err)
		}
		want := ErrMalformed
		if stage == "verify" {
			want = ErrInvalid
		}
		if !errors.Is(err, want) {
			t.Fatalf("invalid message %q: %v does not wrap %v", mu.name, err, want)
		}
		out = append(out, vecInvalid{Name: mu.name, Stage: stage, Payload: string(payload), Error: err.Error()})
	}
	return out
}

func generateFeedVectors(t *testing.T) (map[string][]byte, *vecFeed) {
	l, note := vecLog(t)
	id := l.Identity()
	topics := TopicsFor(id.Fleet, id.Device)
	v := &vecFeed{
		Comment: "Waybill MQTT feed test vectors (firmware-docs/FEED.md). The device is the protocol vectors' (../vectors.json), whose key is a well-known example key: never use it for a real device. " +
			"Regenerate with: go test ./sync/feed -run TestVectors -update",
		Fleet: id.Fleet, ChainID: id.ChainID, Device: id.Device.String(), Origin: l.Origin(),
		ClientID: "waybill-" + strings.TrimPrefix(id.Device.String(), "0x"), Topics: topics,
	}
	files := map[string][]byte{}
	msgs := eventMessages(t, l)
	for i, msg := range msgs {
		m, err := ParseMessage(msg)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := Verify(m, vecDomain, id.Device); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		name := fmt.Sprintf("events-%d.json", i)
		files[name] = msg
		seq := i
		lh := m.LeafHash()
		d := signer.EventDigest(vecDomain, &m.Event.Event)
		v.Messages = append(v.Messages, vecMessage{Topic: topics.Events, QoS: 1, File: name, Seq: &seq,
			LeafHash: fmt.Sprintf("0x%x", lh[:]), Digest: fmt.Sprintf("0x%x", d[:])})
	}
	files["checkpoint.note"] = note
	v.Messages = append(v.Messages, vecMessage{Topic: topics.Checkpoints, QoS: 1, Retain: true, File: "checkpoint.note"})
	dm := (&DomainMessage{ChainID: id.ChainID, Device: id.Device, Fleet: id.Fleet}).Marshal()
	if m, err := ParseDomain(dm); err != nil || VerifyDomain(m, id.Fleet, id.Device, note) != nil {
		t.Fatalf("domain message %s: %v", dm, err)
	}
	files["domain.json"] = dm
	v.Messages = append(v.Messages, vecMessage{Topic: topics.Domain, QoS: 1, Retain: true, File: "domain.json"})
	files["status-online"] = []byte(StatusOnline)
	files["status-offline"] = []byte(StatusOffline)
	v.Messages = append(v.Messages,
		vecMessage{Topic: topics.Status, QoS: 1, Retain: true, File: "status-online"},
		vecMessage{Topic: topics.Status, QoS: 1, Retain: true, File: "status-offline"})
	v.Invalid = invalidVectors(t, msgs[0], id.Device)
	v.InvalidDomain = invalidDomainVectors(t, note, id.Device)
	vj, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files["vectors.json"] = append(vj, '\n')
	return files, v
}

// TestVectors regenerates firmware-docs/testdata/feed and compares it byte
// for byte (or rewrites it with -update), then checks the files against
// the protocol vectors and on their own.
func TestVectors(t *testing.T) {
	files, v := generateFeedVectors(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	})
	if *update {
		if err := os.MkdirAll(vecDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(vecDir, name), files[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(vecDir, name))
		if err != nil {
			t.Fatalf("%v (run go test ./sync/feed -run TestVectors -update to write the vectors)", err)
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s differs from what the code produces now (if the change is intended, run go test ./sync/feed -run TestVectors -update and review the diff)", name)
		}
	}
	entries, _ := os.ReadDir(vecDir)
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("%s/%s is not a generated vector", vecDir, e.Name())
		}
	}
	if t.Failed() {
		return
	}

	// Against the protocol vectors: the same leaves, the same note.
	var pv struct {
		Device string `json:"device"`
		Origin string `json:"origin"`
		Events []struct {
			Leaf     string `json:"leaf"`
			LeafHash string `json:"leaf_hash"`
			Digest   string `json:"digest"`
		} `json:"events"`
	}
	pj, err := os.ReadFile(filepath.Join(protocolDir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(pj, &pv); err != nil {
		t.Fatal(err)
	}
	if pv.Origin != v.Origin || len(pv.Events) != len(vecEvents) {
		t.Fatalf("protocol vectors: origin %s, %d events; feed vectors: %s, %d", pv.Origin, len(pv.Events), v.Origin, len(vecEvents))
	}
	for i, pe := range pv.Events {
		var m struct {
			Leaf string `json:"leaf"`
		}
		if err := json.Unmarshal(files[v.Messages[i].File], &m); err != nil {
			t.Fatal(err)
		}
		if m.Leaf != pe.Leaf || v.Messages[i].LeafHash != pe.LeafHash || v.Messages[i].Digest != pe.Digest {
			t.Errorf("event %d: the feed message's leaf, leaf hash or digest differs from the protocol vectors", i)
		}
	}
	pnote, err := os.ReadFile(filepath.Join(protocolDir, "checkpoint.note"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pnote, files["checkpoint.note"]) {
		t.Error("checkpoint.note differs from the protocol vectors' checkpoint.note")
	}
	dev, err := event.ParseAddress(v.Device)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range v.Messages {
		fleet, d, ch, err := ParseTopic(m.Topic)
		if err != nil || fleet != v.Fleet || d != dev {
			t.Errorf("topic %s: %s %s %s %v", m.Topic, fleet, d, ch, err)
		}
	}
	if _, _, err := VerifyCheckpoint(files["checkpoint.note"], vecDomain, dev); err != nil {
		t.Errorf("checkpoint vector: %v", err)
	}

	// FEED.md quotes the vectors.
	doc, err := os.ReadFile(feedDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, quoted := range []string{string(files["events-0.json"]), string(files["domain.json"]), v.Messages[0].LeafHash, v.ClientID,
		v.Topics.Events, v.Topics.Checkpoints, v.Topics.Status, v.Topics.Anchors, v.Topics.Domain} {
		if !bytes.Contains(doc, []byte(quoted)) {
			t.Errorf("%s does not quote the vector %q", feedDoc, quoted)
		}
	}
}

// The vectors are what a consumer receives from a real broker: the vector
// log published through the Publisher to Mosquitto.
func TestVectors_OverMQTT(t *testing.T) {
	files, v := generateFeedVectors(t)
	b := mosquitto.Start(t, nil)
	l, _ := vecLog(t)
	sub := subscribe(t, b.URL(), "consumer", v.Topics.Events, v.Topics.Checkpoints, v.Topics.Status, v.Topics.Domain)
	p, err := New(l, testOptions(t, b.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientID() != v.ClientID {
		t.Errorf("ClientID() = %s, want %s", p.ClientID(), v.ClientID)
	}
	stop := runPublisher(t, p)
	waitCursor(t, p, 5)
	sub.waitFor("the checkpoint", func() bool { return len(sub.messages(v.Topics.Checkpoints)) > 0 })
	sub.waitFor("5 events", func() bool { return len(sub.messages(v.Topics.Events)) >= 5 })
	stop()
	sub.waitFor("offline", func() bool { return len(sub.messages(v.Topics.Status)) >= 2 })
	got := map[string][][]byte{}
	sub.waitFor("the domain message", func() bool { return len(sub.messages(v.Topics.Domain)) > 0 })
	for _, topic := range []string{v.Topics.Events, v.Topics.Checkpoints, v.Topics.Status, v.Topics.Domain} {
		for _, r := range sub.messages(topic) {
			got[topic] = append(got[topic], r.payload)
		}
	}
	var want = map[string][][]byte{}
	for _, m := range v.Messages {
		want[m.Topic] = append(want[m.Topic], files[m.File])
	}
	for topic, w := range want {
		if !slices.EqualFunc(got[topic], w, bytes.Equal) {
			t.Errorf("%s: received %q, want the vectors %q", topic, got[topic], w)
		}
	}
}
