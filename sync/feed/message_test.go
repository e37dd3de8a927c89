package feed

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

// appendMessage writes exactly the RFC 8785 canonical form, which
// ParseMessage reads back to the same message.
func TestMessage_Canonical(t *testing.T) {
	l := newLog(t, 300)
	id := l.Identity()
	err := l.Range(0, 0, func(seq uint64, leaf []byte) error {
		b := appendMessage(nil, l.Origin(), seq, leaf)
		want, err := jcs.Marshal(map[string]any{"v": 1, "origin": l.Origin(), "seq": seq, "leaf": base64.StdEncoding.EncodeToString(leaf)})
		if err != nil {
			return err
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("appendMessage = %s\nwant (jcs)     %s", b, want)
		}
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("ParseMessage(event %d) = %v", seq, err)
		}
		if m.Seq != seq || m.Origin != l.Origin() || !bytes.Equal(m.Leaf, leaf) || m.LeafHash() != merkle.LeafHash(leaf) || !bytes.Equal(m.Marshal(), b) {
			t.Fatalf("event %d: parsed %+v", seq, m)
		}
		if err := Verify(m, testDomain, id.Device); err != nil {
			t.Fatalf("Verify(event %d) = %v", seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Inputs that are not messages, beyond the vectors' list: each is refused
// with ErrMalformed and a message naming what is wrong.
func TestParseMessage_Bad(t *testing.T) {
	l, _ := vecLog(t)
	good := eventMessages(t, l)[0]
	leaf := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	origin := l.Origin()
	for _, tc := range []struct {
		name, in, err string
	}{
		{"empty", "", "not strict JSON"},
		{"null", "null", "not a JSON object"},
		{"number", "1", "not a JSON object"},
		{"empty object", "{}", `no "leaf" member`},
		{"invalid UTF-8", "{\"leaf\":\"\xff\"}", "not strict JSON"},
		{"too large", `{"leaf":"` + strings.Repeat("A", MaxMessage) + `"}`, "more than the limit"},
		{"leaf too long", `{"leaf":"` + strings.Repeat("A", base64.StdEncoding.EncodedLen(event.MaxLeaf)+4) + `","origin":"` + origin + `","seq":0,"v":1}`, "more than a leaf"},
		{"leaf empty", `{"leaf":"","origin":"` + origin + `","seq":0,"v":1}`, "invalid event"},
		{"leaf not JSON", `{"leaf":"` + leaf([]byte("hello")) + `","origin":"` + origin + `","seq":0,"v":1}`, "leaf is not valid JSON"},
		{"leaf a number", `{"leaf":1,"origin":"` + origin + `","seq":0,"v":1}`, `"leaf" is 1, not a string`},
		{"seq as exponent", strings.Replace(string(good), `"seq":0`, `"seq":0e0`, 1), "canonical form"},
		{"seq fraction", strings.Replace(string(good), `"seq":0`, `"seq":0.5`, 1), "not a non-negative integer"},
		{"v as string", strings.Replace(string(good), `"v":1`, `"v":"1"`, 1), `"v" is "1"`},
		{"origin not waybill", strings.Replace(string(good), `"origin":"waybill/`, `"origin":"example/`, 1), "not waybill/<fleet>/<device>/<epoch>"},
		{"origin with a bad fleet", strings.Replace(string(good), `waybill/demo/`, `waybill/Demo/`, 1), `fleet "Demo"`},
		{"origin too long", strings.Replace(string(good), `/0","seq"`, `/0/1","seq"`, 1), "not waybill/<fleet>/<device>/<epoch>"},
		{"origin epoch too large", strings.Replace(string(good), `/0","seq"`, `/4294967296","seq"`, 1), "epoch"},
		{"origin escaped", strings.Replace(string(good), `waybill/demo`, `waybill\/demo`, 1), "canonical form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tc.in))
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMessage = %+v, %v; want ErrMalformed containing %q", m, err, tc.err)
			}
		})
	}
}

func TestVerify_Expectations(t *testing.T) {
	l, _ := vecLog(t)
	m, err := ParseMessage(eventMessages(t, l)[1])
	if err != nil {
		t.Fatal(err)
	}
	dev := l.Identity().Device
	other := mustKey(t, testKeyHex).Address()
	for _, tc := range []struct {
		name   string
		m      *Message
		d      signer.Domain
		device event.Address
		err    string
		sig    bool // signer.ErrSignature is wrapped too
	}{
		{"another device expected", m, vecDomain, other, "is from device", false},
		{"another chain", m, signer.Domain{ChainID: 1, Fleet: "demo"}, dev, "signature does not verify", true},
		{"another fleet", m, signer.Domain{ChainID: 1337, Fleet: "demo2"}, dev, "has origin", false},
		{"invalid domain", m, signer.Domain{ChainID: 0, Fleet: "demo"}, dev, "domain", false},
		{"not parsed", &Message{Origin: m.Origin, Seq: m.Seq, Leaf: m.Leaf}, vecDomain, dev, "no parsed message", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.m, tc.d, tc.device)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) || errors.Is(err, signer.ErrSignature) != tc.sig {
				t.Errorf("Verify = %v, want ErrInvalid containing %q (ErrSignature: %v)", err, tc.err, tc.sig)
			}
		})
	}
	if err := Verify(m, vecDomain, dev); err != nil {
		t.Errorf("Verify = %v", err)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	l, note := vecLog(t)
	dev := l.Identity().Device
	c, epoch, err := VerifyCheckpoint(note, vecDomain, dev)
	if err != nil || c.Size != 5 || epoch != 0 || c.Origin != l.Origin() {
		t.Fatalf("VerifyCheckpoint = %+v, %d, %v", c, epoch, err)
	}
	for _, tc := range []struct {
		name   string
		note   []byte
		d      signer.Domain
		device event.Address
		err    string
	}{
		{"another device", note, vecDomain, mustKey(t, testKeyHex).Address(), "checkpoint"},
		{"another chain", note, signer.Domain{ChainID: 1, Fleet: "demo"}, dev, "checkpoint"},
		{"tampered size", bytes.Replace(note, []byte("\n5\n"), []byte("\n6\n"), 1), vecDomain, dev, "checkpoint"},
		{"not a note", []byte("hello\n"), vecDomain, dev, "checkpoint"},
		{"invalid domain", note, signer.Domain{Fleet: "demo"}, dev, "domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := VerifyCheckpoint(tc.note, tc.d, tc.device); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("VerifyCheckpoint = %v, want ErrInvalid containing %q", err, tc.err)
			}
		})
	}
}

func TestParseTopic(t *testing.T) {
	dev, _ := event.ParseAddress("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23")
	tp := TopicsFor("demo", dev)
	if tp.Events != "waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/events" ||
		tp.Checkpoints != "waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/checkpoints" ||
		tp.Status != "waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/status" ||
		tp.Anchors != "waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/anchors" ||
		tp.Domain != "waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/domain" {
		t.Fatalf("TopicsFor = %+v", tp)
	}
	for _, tc := range []struct {
		topic, channel, err string
	}{
		{tp.Events, ChannelEvents, ""},
		{tp.Checkpoints, ChannelCheckpoints, ""},
		{tp.Status, ChannelStatus, ""},
		{tp.Anchors, ChannelAnchors, ""},
		{tp.Domain, ChannelDomain, ""},
		{"waybill/v2/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/events", "", "is not waybill/v1"},
		{"waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/events/x", "", "is not waybill/v1"},
		{"waybill/v1/demo/0x2C7536e3605d9c16a7a3d7b1898e529396a65c23/events", "", "not lowercase hex"},
		{"waybill/v1/demo/2c7536e3605d9c16a7a3d7b1898e529396a65c23/events", "", "does not start with 0x"},
		{"waybill/v1/+/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/events", "", "not a valid fleet"},
		{"waybill/v1/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/#", "", "unknown channel"},
	} {
		fleet, d, ch, err := ParseTopic(tc.topic)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTopic(%s) = %v, want an error containing %q", tc.topic, err, tc.err)
			}
			continue
		}
		if err != nil || fleet != "demo" || d != dev || ch != tc.channel {
			t.Errorf("ParseTopic(%s) = %s %s %s %v", tc.topic, fleet, d, ch, err)
		}
	}
}

func FuzzParseDomain(f *testing.F) {
	f.Add([]byte(`{"chain_id":1337,"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","fleet":"demo","v":1}`))
	f.Add([]byte(`{"chain_id":0,"device":"","fleet":"","v":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseDomain(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if out := m.Marshal(); string(out) != string(data) {
			t.Fatalf("accepted %q, which marshals back as %q", data, out)
		}
	})
}
