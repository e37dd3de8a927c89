package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"go.etcd.io/bbolt",
		"github.com/eclipse/paho.mqtt.golang",
		"github.com/ethereum/go-ethereum/ethclient",
		"github.com/ethereum/go-ethereum/rpc",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("agent/verify depends on %s", dep)
			}
		}
	}
}

func TestBundle_GoodPath(t *testing.T) {
	f := genericFixture(t, 9)
	vk := f.vkey(t)
	dev := f.key.Address()
	for size := uint64(1); size <= 9; size++ {
		for index := range size {
			b := f.bundle(t, index, size)
			if err := b.Verify(Options{Device: &dev, Fleet: "test-fleet", ChainID: 1337, Verifiers: []checkpoint.Verifier{vk}}); err != nil {
				t.Fatalf("index %d size %d: %v", index, size, err)
			}
			data := mustMarshal(t, b)
			if !json.Valid(data) || bytes.ContainsAny(data, "\n\r\t") {
				t.Fatalf("marshal is not compact JSON: %s", data)
			}
			b2, err := ParseBundle(data)
			if err != nil {
				t.Fatalf("ParseBundle: %v\n%s", err, data)
			}
			if !reflect.DeepEqual(b, b2) {
				t.Fatalf("round trip changed the bundle:\n%+v\n%+v", b, b2)
			}
			if err := b2.Verify(Options{}); err != nil {
				t.Fatal(err)
			}
			// Any white space and member order parse to the same bundle.
			var v any
			json.Unmarshal(data, &v)
			pretty, _ := json.MarshalIndent(v, "", "  ")
			b3, err := ParseBundle(pretty)
			if err != nil || !reflect.DeepEqual(b, b3) {
				t.Fatalf("indented bundle: %v", err)
			}
			// tlog agrees with the inclusion proof.
			th := tlog.Hash(b.Checkpoint.Root)
			rp := make(tlog.RecordProof, len(b.Inclusion))
			for i, h := range b.Inclusion {
				rp[i] = tlog.Hash(h)
			}
			if err := tlog.CheckRecord(rp, int64(size), th, int64(index), tlog.RecordHash(b.Leaf)); err != nil {
				t.Fatalf("tlog.CheckRecord(index %d, size %d): %v", index, size, err)
			}
		}
	}
}

func TestBundle_MemberOrder(t *testing.T) {
	f := genericFixture(t, 2)
	data := string(mustMarshal(t, f.bundle(t, 0, 2)))
	last := -1
	for _, m := range []string{`{"checkpoint":{"note":`, `,"origin":`, `,"root":`, `,"size":`, `},"domain":{"chain_id":`, `,"fleet":`,
		`},"event":{"device":`, `},"inclusion":[`, `],"index":`, `,"leaf":`, `,"signature":"0x`} {
		i := strings.Index(data, m)
		if i <= last {
			t.Fatalf("member %s out of order in %s", m, data)
		}
		last = i
	}
}

func TestBundle_Pins(t *testing.T) {
	f := genericFixture(t, 3)
	b := f.bundle(t, 1, 3)
	dev := f.key.Address()
	other := mustKey(t, otherKeyHex).Address()
	good := []Options{{}, {Device: &dev}, {Fleet: "test-fleet"}, {ChainID: 1337}, {Device: &dev, Fleet: "test-fleet", ChainID: 1337}}
	for _, o := range good {
		if err := b.Verify(o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := map[string]Options{
		"event is from device":                     {Device: &other},
		`domain fleet is "test-fleet", not "demo"`: {Fleet: "demo"},
		"domain chain_id is 1337, not 1":           {ChainID: 1},
	}
	for want, o := range bad {
		err := b.Verify(o)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want %q", o, err, want)
		}
	}
}

func TestBundle_Ed25519Verifier(t *testing.T) {
	f := genericFixture(t, 4)
	b := f.bundle(t, 2, 4)
	if err := b.Verify(Options{Verifiers: []checkpoint.Verifier{f.vkey(t)}}); err != nil {
		t.Fatal(err)
	}
	// The same name with another device's Ed25519 key.
	other := mustKey(t, otherKeyHex)
	s, err := other.VerifierKey(KeyName(f.dom.Fleet, f.key.Address()))
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := checkpoint.ParseVerifierKey(s)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Verify(Options{Verifiers: []checkpoint.Verifier{wrong}})
	if err == nil || !strings.Contains(err.Error(), "checkpoint note: no signature by key") {
		t.Fatalf("wrong vkey: %v", err)
	}
	// The right key under another name.
	s, _ = f.key.VerifierKey("waybill/test-fleet/elsewhere")
	wrong, _ = checkpoint.ParseVerifierKey(s)
	if err := b.Verify(Options{Verifiers: []checkpoint.Verifier{wrong}}); err == nil {
		t.Fatal("vkey under another name accepted")
	}
}

// tamperValues are the replacements tried at every byte.
func tamperVariants(c byte) []byte {
	var out []byte
	for _, v := range []byte{c ^ 0x01, c ^ 0x20, '0', 'A'} {
		if v != c && !bytes.Contains(out, []byte{v}) {
			out = append(out, v)
		}
	}
	return out
}

func TestBundle_Tamper(t *testing.T) {
	f := genericFixture(t, 7)
	vk := f.vkey(t)
	for _, c := range []struct{ index, size uint64 }{{5, 7}, {0, 1}} {
		b := f.bundle(t, c.index, c.size)
		data := mustMarshal(t, b)
		// Without the Ed25519 key, the Ed25519 signature line of the note
		// is by an unknown key and is ignored, as c2sp.org/signed-note
		// says: only changes inside it may pass.
		edLine := strings.Index(string(data), "\u2014 ")
		edEnd := edLine + strings.Index(string(data[edLine:]), `\n`)
		if edLine < 0 || edEnd < edLine {
			t.Fatal("no signature line found")
		}
		tried, passedNoVkey := 0, 0
		for i := range data {
			for _, v := range tamperVariants(data[i]) {
				mut := bytes.Clone(data)
				mut[i] = v
				tried++
				tb, err := ParseBundle(mut)
				if err != nil {
					if !errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), "\n") {
						t.Fatalf("byte %d -> %q: bad parse error %q", i, v, err)
					}
					continue
				}
				err = tb.Verify(Options{Verifiers: []checkpoint.Verifier{vk}})
				if err == nil {
					t.Fatalf("byte %d (%q -> %q) changed and the bundle still verifies:\n%s", i, data[i], v, mut)
				}
				if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("byte %d: bad verify error %q", i, err)
				}
				if tb.Verify(Options{}) == nil {
					passedNoVkey++
					if i < edLine || i >= edEnd {
						t.Fatalf("byte %d (%q -> %q), outside the Ed25519 line, passes without the vkey", i, data[i], v)
					}
				}
			}
		}
		t.Logf("index %d size %d: %d bytes, %d variants all refused; %d pass without the vkey (inside the Ed25519 line)", c.index, c.size, len(data), tried, passedNoVkey)
	}
}

// paddingVariant changes the unused low bits of the last base64 character
// before the padding, if s has padding.
func paddingVariant(t *testing.T, s string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(s, '=') - 1
	if i < 0 {
		t.Fatalf("%q has no padding", s)
	}
	v := strings.IndexByte(alphabet, s[i])
	out := s[:i] + string(alphabet[v^1]) + s[i+1:]
	if b, err := base64.StdEncoding.DecodeString(out); err != nil || base64.StdEncoding.EncodeToString(b) != s {
		t.Fatalf("padding variant %q of %q does not decode to the same bytes", out, s)
	}
	return out
}

// expectFail checks that data fails ParseBundle or Verify with a message
// containing want.
func expectFail(t *testing.T, name string, data []byte, o Options, want string) {
	t.Helper()
	b, err := ParseBundle(data)
	if err == nil {
		err = b.Verify(o)
	}
	if err == nil {
		t.Errorf("%s: accepted", name)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %q does not mention %q", name, err, want)
	}
}

func expectVerifyFail(t *testing.T, name string, b *Bundle, want string) {
	t.Helper()
	expectFail(t, name, mustMarshal(t, b), Options{}, want)
	if err := b.Verify(Options{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s (in memory): %v, want %q", name, err, want)
	}
}

func TestBundle_TargetedTamper(t *testing.T) {
	f := genericFixture(t, 6)
	b := f.bundle(t, 3, 6)
	data := string(mustMarshal(t, b))
	root := b.Checkpoint.Root.String()
	incl := b.Inclusion[0].String()

	rootMember := `"root":"` + root
	expectFail(t, "root padding bits", []byte(strings.Replace(data, rootMember, `"root":"`+paddingVariant(t, root), 1)), Options{}, "not canonical standard base64")
	expectFail(t, "inclusion padding bits", []byte(strings.Replace(data, incl, paddingVariant(t, incl), 1)), Options{}, "not canonical standard base64")
	leaf64 := base64.StdEncoding.EncodeToString(b.Leaf)
	if strings.Contains(leaf64, "=") {
		expectFail(t, "leaf padding bits", []byte(strings.Replace(data, leaf64, paddingVariant(t, leaf64), 1)), Options{}, "not canonical standard base64")
	}
	expectFail(t, "leaf without padding", []byte(strings.Replace(data, leaf64, strings.TrimRight(leaf64, "="), 1)), Options{}, "base64")
	expectFail(t, "root url-safe base64", []byte(strings.Replace(data, rootMember, `"root":"`+strings.NewReplacer("+", "-", "/", "_").Replace(root)+"-", 1)), Options{}, "base64")
	sig := b.Signature.String()
	expectFail(t, "uppercase signature", []byte(strings.Replace(data, sig, "0x"+strings.ToUpper(sig[2:]), 1)), Options{}, "not lowercase hex")
	expectFail(t, "uppercase 0X", []byte(strings.Replace(data, sig, "0X"+sig[2:], 1)), Options{}, "0x")

	// High s: s' = n - s, v flipped, in both the signature and the leaf.
	{
		n := crypto.S256().Params().N
		hs := b.Signature
		s := new(big.Int).SetBytes(hs[32:64])
		new(big.Int).Sub(n, s).FillBytes(hs[32:64])
		hs[64] ^= 27 ^ 28
		mod := resign(t, b, hs)
		expectVerifyFail(t, "high s", mod, "upper half")
		// Sanity: the high-s form recovers to the same key by plain ecrecover.
		raw := bytes.Clone(hs[:])
		raw[64] -= 27
		s0, _ := event.Parse(b.Leaf)
		d := signer.EventDigest(b.Domain, &s0.Event)
		if pub, err := crypto.SigToPub(d[:], raw); err != nil || event.Address(crypto.PubkeyToAddress(*pub)) != f.key.Address() {
			t.Fatalf("high-s variant does not recover to the device (%v); the test is wrong", err)
		}
	}
	// v = 0/1 instead of 27/28.
	{
		vs := b.Signature
		vs[64] -= 27
		expectVerifyFail(t, "v not 27/28", resign(t, b, vs), "v is")
	}

	// The same event signed for another fleet, chain and device.
	s0, _ := event.Parse(b.Leaf)
	for name, dom := range map[string]signer.Domain{
		"other fleet": {ChainID: 1337, Fleet: "other-fleet"},
		"other chain": {ChainID: 1, Fleet: "test-fleet"},
	} {
		sig, err := f.key.Signer.SignDigest(signer.EventDigest(dom, &s0.Event))
		if err != nil {
			t.Fatal(err)
		}
		expectVerifyFail(t, name, resign(t, b, sig), "event signature: signed by 0x")
	}
	{
		other := mustKey(t, otherKeyHex)
		sig, _ := other.Signer.SignDigest(signer.EventDigest(b.Domain, &s0.Event))
		expectVerifyFail(t, "other device", resign(t, b, sig), "not by device "+f.key.Address().String())
	}
	// The domain changed under a correct signature.
	{
		m := *b
		m.Domain.Fleet = "other-fleet"
		expectVerifyFail(t, "domain fleet changed", &m, "event signature: signed by")
		m = *b
		m.Domain.ChainID = 1
		expectVerifyFail(t, "domain chain changed", &m, "event signature: signed by")
	}

	// A leaf (with its event and signature) from another event.
	{
		o := f.bundle(t, 4, 6)
		m := *b
		m.Leaf, m.Event, m.Signature = o.Leaf, o.Event, o.Signature
		expectVerifyFail(t, "other leaf", &m, "index 3 is not the event's seq 4")
		m.Index = 4
		expectVerifyFail(t, "other leaf, index fixed", &m, "inclusion proof does not lead to the checkpoint root")
		m = *b
		m.Leaf = o.Leaf
		expectVerifyFail(t, "other leaf only", &m, "leaf does not match the event and signature")
		m = *b
		m.Event = o.Event
		expectVerifyFail(t, "other event only", &m, "leaf does not match the event and signature")
	}
	// A proof for another index.
	{
		o := f.bundle(t, 2, 6)
		m := *b
		m.Inclusion = o.Inclusion
		expectVerifyFail(t, "proof for another index", &m, "inclusion proof does not lead to the checkpoint root")
		m.Inclusion = append(append([]merkle.Hash{}, b.Inclusion...), b.Inclusion[0])
		expectVerifyFail(t, "proof too long", &m, "inclusion proof does not lead")
		m.Inclusion = b.Inclusion[:len(b.Inclusion)-1]
		expectVerifyFail(t, "proof too short", &m, "inclusion proof does not lead")
	}
	// A checkpoint of another size.
	{
		o := f.bundle(t, 3, 5)
		m := *b
		m.Checkpoint = o.Checkpoint
		expectVerifyFail(t, "checkpoint of another size", &m, "inclusion proof does not lead")
		m = *b
		m.Checkpoint.Note = o.Checkpoint.Note
		expectVerifyFail(t, "note of another size", &m, "checkpoint note says")
		m = *b
		m.Checkpoint.Size = 7
		expectVerifyFail(t, "size field", &m, "checkpoint note says")
		m = *b
		m.Checkpoint.Origin = Origin("test-fleet", f.key.Address(), 1)
		expectVerifyFail(t, "origin of another epoch", &m, "does not belong to device")
		m = *b
		m.Index = 6
		expectVerifyFail(t, "index beyond size", &m, "index 6 is not the event's seq 3")
	}
	// A note with an extension line, its secp256k1 signature still valid.
	{
		c := checkpoint.Checkpoint{Origin: b.Checkpoint.Origin, Size: b.Checkpoint.Size, Root: b.Checkpoint.Root, Extensions: []string{"extra line"}}
		// The device refuses to sign this; forge the secp256k1 line by hand.
		name := KeyName(f.dom.Fleet, f.key.Address())
		ed, err := checkpoint.NewEd25519Signer(name, f.key.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.key.Signer.NoteSigner(name, f.dom); err != nil {
			t.Fatal(err)
		}
		secp := digestSigner{name: name, id: signer.NoteKeyID(name, f.key.Address()), sign: func() ([]byte, error) {
			sig, err := f.key.Signer.SignDigest(signer.CheckpointDigest(f.dom, c.Origin, c.Size, c.Root))
			return sig[:], err
		}}
		note, err := checkpoint.SignCheckpoint(c, ed, secp)
		if err != nil {
			t.Fatal(err)
		}
		m := *b
		m.Checkpoint.Note = string(note)
		expectVerifyFail(t, "extension line", &m, "invalid signature")

		// Splice the extension into the original note: the secp256k1 line
		// does not cover it (see the report on signer.NoteVerifier).
		orig := b.Checkpoint.Note
		i := strings.Index(orig, "\n\n")
		secpLine := orig[strings.LastIndex(orig[:len(orig)-1], "\n")+1:]
		forged := orig[:i+1] + "extra line\n\n" + secpLine
		_, err = checkpoint.Open([]byte(forged), signer.NoteVerifier(KeyName(f.dom.Fleet, f.key.Address()), f.key.Address(), f.dom))
		if err == nil {
			t.Error("signer.NoteVerifier accepted a note with a spliced-in extension line")
		}
		m.Checkpoint.Note = forged
		expectVerifyFail(t, "spliced extension line", &m, "invalid signature")
	}
}

// resign returns a copy of b whose signature, in the leaf and the bundle,
// is sig.
func resign(t *testing.T, b *Bundle, sig event.Signature) *Bundle {
	t.Helper()
	s, err := event.Parse(b.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	s.Sig = sig
	leaf, err := s.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	m := *b
	m.Leaf, m.Signature = leaf, sig
	return &m
}

func TestParseBundle_Strict(t *testing.T) {
	f := genericFixture(t, 3)
	b := f.bundle(t, 1, 3)
	data := string(mustMarshal(t, b))
	repl := func(old, new string) []byte {
		if !strings.Contains(data, old) {
			t.Fatalf("%q not in bundle", old)
		}
		return []byte(strings.Replace(data, old, new, 1))
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown member", repl(`{"checkpoint":`, `{"x":1,"checkpoint":`), `unknown member "x"`},
		{"case variant member", repl(`"index":`, `"Index":1,"index":`), `unknown member "Index"`},
		{"duplicate member", repl(`"index":`, `"index":1,"index":`), "duplicate"},
		{"missing member", repl(`"index":1,`, ``), `no "index" member`},
		{"null member", repl(`"index":1,`, `"index":null,`), `"index" is null`},
		{"unknown checkpoint member", repl(`"size":3}`, `"size":3,"sizes":3}`), `unknown member "sizes"`},
		{"unknown domain member", repl(`"fleet":"test-fleet"`, `"fleet":"test-fleet","salt":"x"`), `unknown member "salt"`},
		{"unknown event member", repl(`"time_source":"gnss"`, `"time_source":"gnss","sig":"0x"`), `unknown member "sig"`},
		{"negative index", repl(`"index":1,`, `"index":-1,`), "not a non-negative integer"},
		{"fractional index", repl(`"index":1,`, `"index":1.5,`), "not a non-negative integer"},
		{"huge index", repl(`"index":1,`, `"index":9007199254740992,`), "out of range"},
		{"string index", repl(`"index":1,`, `"index":"1",`), "not a non-negative integer"},
		{"trailing data", []byte(data + "x"), "not strict JSON"},
		{"two values", []byte(data + "{}"), "not strict JSON"},
		{"invalid utf-8", repl(`"fleet":"test-fleet"`, "\"fleet\":\"test-fleet\xff\""), "not strict JSON"},
		{"lone surrogate", repl(`"fleet":"test-fleet"`, `"fleet":"test-fleet\ud800"`), "not strict JSON"},
		{"too big", []byte(data + strings.Repeat(" ", MaxSize)), "limit"},
		{"short signature", repl(b.Signature.String(), b.Signature.String()[:20]), "hex digits"},
		{"root too short", repl(`"root":"`+b.Checkpoint.Root.String(), `"root":"AAAA`), "3 bytes, want 32"},
		{"array", []byte(`[` + data + `]`), "not a JSON object"},
	}
	for _, c := range cases {
		_, err := ParseBundle(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	// White space between tokens and member order are free.
	reordered := `{"signature":` + data[strings.Index(data, `"signature":`)+len(`"signature":`):len(data)-1] + "," +
		data[1:strings.Index(data, `,"signature":`)] + "}"
	for _, in := range [][]byte{[]byte(" \n" + data + "\n"), repl(`"index":1,`, "\"index\" :\t1 ,"), []byte(reordered)} {
		b2, err := ParseBundle(in)
		if err != nil || !reflect.DeepEqual(b, b2) {
			t.Errorf("%s: %v", in[:20], err)
		}
	}
	// Other spellings of the same values are not (PROTOCOL.md §8).
	for name, in := range map[string][]byte{
		"1e0":           repl(`"index":1,`, `"index":1e0,`),
		"1.0":           repl(`"index":1,`, `"index":1.0,`),
		"escaped name":  repl(`"index":1,`, `"\u0069ndex":1,`),
		"escaped slash": repl(`"fleet":"test-fleet"`, `"fleet":"test\/fleet"`),
		"uppercase \\u": repl(`"fleet":"test-fleet"`, `"fleet":"test\u002Dfleet"`),
	} {
		_, err := ParseBundle(in)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "not spelled as RFC 8785 writes it") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// TestBundle_LeafWithCaseVariantMember: event.Parse accepts a leaf that has
// an extra member whose name differs from a real one only in case (see the
// report); Verify must refuse it because it is not the canonical leaf of the
// event.
func TestBundle_LeafWithCaseVariantMember(t *testing.T) {
	f := genericFixture(t, 2)
	b := f.bundle(t, 1, 2)
	m := *b
	m.Leaf = bytes.Replace(b.Leaf, []byte(`{"device"`), []byte(`{"Seq":5,"V":2,"device"`), 1)
	if _, err := event.Parse(m.Leaf); err == nil {
		t.Log("event.Parse accepts a leaf with the extra members \"Seq\" and \"V\" (known bug)")
	}
	expectVerifyFail(t, "case-variant member in leaf", &m, "leaf")
}

func TestNewBundle_Refuses(t *testing.T) {
	f := genericFixture(t, 4)
	leaf, p := f.proof(t, 1, 4)
	if _, err := NewBundle(leaf, f.dom, f.notes[3], p); err == nil {
		t.Error("note of another size accepted")
	}
	if _, err := NewBundle(leaf, signer.Domain{ChainID: 1, Fleet: "test-fleet"}, f.notes[4], p); err == nil {
		t.Error("wrong domain accepted")
	}
	if _, err := NewBundle(leaf, f.dom, f.notes[4], p[1:]); err == nil {
		t.Error("short proof accepted")
	}
	if _, err := NewBundle(leaf[1:], f.dom, f.notes[4], p); err == nil {
		t.Error("bad leaf accepted")
	}
}

// digestSigner is a checkpoint.Signer returning a fixed signature.
type digestSigner struct {
	name string
	id   uint32
	sign func() ([]byte, error)
}

func (s digestSigner) Name() string                { return s.name }
func (s digestSigner) KeyID() uint32               { return s.id }
func (s digestSigner) Sign([]byte) ([]byte, error) { return s.sign() }
