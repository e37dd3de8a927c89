package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gethmath "github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
)

var update = flag.Bool("update", false, "rewrite firmware-docs/testdata and the generated parts of PROTOCOL.md")

const (
	testdataDir  = "../../firmware-docs/testdata"
	protocolFile = "../../firmware-docs/PROTOCOL.md"
)

// The vector log: fleet "demo" on chain 1337, five events, a checkpoint at
// size 5, the bundle of event 2 and the consistency proof from size 2.
var (
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
	vecBundleIndex        = uint64(2)
	vecConsistencyOldSize = uint64(2)
)

type vecEIP712 struct {
	DomainType         string `json:"domain_type"`
	DomainTypeHash     string `json:"domain_typehash"`
	Name               string `json:"name"`
	Version            string `json:"version"`
	ChainID            uint64 `json:"chain_id"`
	Salt               string `json:"salt"`
	DomainSeparator    string `json:"domain_separator"`
	EventType          string `json:"event_type"`
	EventTypeHash      string `json:"event_typehash"`
	CheckpointType     string `json:"checkpoint_type"`
	CheckpointTypeHash string `json:"checkpoint_typehash"`
}

type vecEvent struct {
	Index      uint64          `json:"index"`
	Event      json.RawMessage `json:"event"`
	EncodeData string          `json:"hash_struct_input"`
	StructHash string          `json:"struct_hash"`
	Digest     string          `json:"digest"`
	Signature  string          `json:"signature"`
	Leaf       string          `json:"leaf"`
	LeafText   string          `json:"leaf_text"`
	LeafHash   string          `json:"leaf_hash"`
}

type vecRoot struct {
	Size    uint64 `json:"size"`
	Root    string `json:"root"`
	RootHex string `json:"root_hex"`
}

type vecCheckpoint struct {
	File               string `json:"file"`
	Origin             string `json:"origin"`
	Size               uint64 `json:"size"`
	Root               string `json:"root"`
	Text               string `json:"text"`
	StructHash         string `json:"struct_hash"`
	EIP712Digest       string `json:"eip712_digest"`
	Secp256k1Signature string `json:"secp256k1_signature"`
	Ed25519Signature   string `json:"ed25519_signature"`
}

type vecKeys struct {
	PrivateKey          string `json:"private_key"`
	Device              string `json:"device"`
	Ed25519Seed         string `json:"ed25519_seed"`
	Ed25519Public       string `json:"ed25519_public"`
	Ed25519KeyID        string `json:"ed25519_key_id"`
	VerifierKey         string `json:"verifier_key"`
	Secp256k1KeyIDInput string `json:"secp256k1_key_id_input"`
	Secp256k1KeyID      string `json:"secp256k1_key_id"`
}

type vectors struct {
	Comment     string        `json:"comment"`
	Fleet       string        `json:"fleet"`
	ChainID     uint64        `json:"chain_id"`
	Epoch       uint32        `json:"epoch"`
	KeyName     string        `json:"key_name"`
	Origin      string        `json:"origin"`
	Keys        vecKeys       `json:"keys"`
	EIP712      vecEIP712     `json:"eip712"`
	Events      []vecEvent    `json:"events"`
	Roots       []vecRoot     `json:"roots"`
	Checkpoint  vecCheckpoint `json:"checkpoint"`
	Bundle      vecFile       `json:"bundle"`
	TlogProof   vecFile       `json:"tlog_proof"`
	Consistency vecFile       `json:"consistency"`
}

type vecFile struct {
	File    string `json:"file"`
	Index   uint64 `json:"index,omitempty"`
	Size    uint64 `json:"size,omitempty"`
	OldSize uint64 `json:"old_size,omitempty"`
	NewSize uint64 `json:"new_size,omitempty"`
}

func hx(b []byte) string { return "0x" + hex.EncodeToString(b) }

// word returns the 32-byte big-endian ABI word of v.
func word(v uint64) []byte {
	w := make([]byte, 32)
	binary.BigEndian.PutUint64(w[24:], v)
	return w
}

// eventEncodeData is EIP-712 encodeData of a WaybillEvent, written out here
// independently of agent/signer.
func eventEncodeData(e *event.Event) []byte {
	var b []byte
	b = append(b, crypto.Keccak256([]byte("WaybillEvent(address device,uint32 epoch,uint64 seq,uint64 time,string timeSource,string kind,string payload)"))...)
	b = append(b, make([]byte, 12)...)
	b = append(b, e.Device[:]...)
	b = append(b, word(uint64(e.Epoch))...)
	b = append(b, word(e.Seq)...)
	b = append(b, word(uint64(e.Time))...)
	b = append(b, crypto.Keccak256([]byte(e.Source))...)
	b = append(b, crypto.Keccak256([]byte(e.Kind))...)
	b = append(b, crypto.Keccak256(e.Payload)...)
	return b
}

// gethDigest computes the EIP-712 digest of e with go-ethereum's generic
// typed-data encoder, a third implementation to compare against.
func gethDigest(t *testing.T, e *event.Event) []byte {
	t.Helper()
	salt := crypto.Keccak256([]byte(vecDomain.Fleet))
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"}, {Name: "chainId", Type: "uint256"}, {Name: "salt", Type: "bytes32"}},
			"WaybillEvent": {{Name: "device", Type: "address"}, {Name: "epoch", Type: "uint32"}, {Name: "seq", Type: "uint64"}, {Name: "time", Type: "uint64"},
				{Name: "timeSource", Type: "string"}, {Name: "kind", Type: "string"}, {Name: "payload", Type: "string"}},
		},
		PrimaryType: "WaybillEvent",
		Domain: apitypes.TypedDataDomain{Name: "Waybill", Version: "1",
			ChainId: (*gethmath.HexOrDecimal256)(new(big.Int).SetUint64(vecDomain.ChainID)), Salt: hx(salt)},
		Message: apitypes.TypedDataMessage{
			"device": e.Device.String(), "epoch": fmt.Sprint(e.Epoch), "seq": fmt.Sprint(e.Seq), "time": fmt.Sprint(e.Time),
			"timeSource": string(e.Source), "kind": string(e.Kind), "payload": string(e.Payload),
		},
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatalf("apitypes: %v", err)
	}
	return h
}

// generateVectors builds the vector log and returns every file of
// firmware-docs/testdata by name.
func generateVectors(t *testing.T) (map[string][]byte, *vectors) {
	k := mustKey(t, testKeyHex)
	ctx := context.Background()
	id := eventlog.Identity{Device: k.Address(), Fleet: vecDomain.Fleet, ChainID: vecDomain.ChainID}
	l, err := eventlog.Open(ctx, t.TempDir(), &eventlog.Options{Create: &id, Keys: k, Now: func() time.Time { return vecStart }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	v := &vectors{
		Comment: "Waybill protocol test vectors (firmware-docs/PROTOCOL.md section 10). The private key is a well-known example key: never use it for a real device. " +
			"Regenerate with: go test ./agent/verify -run TestVectors -update",
		Fleet: vecDomain.Fleet, ChainID: vecDomain.ChainID, Epoch: l.Epoch(),
		KeyName: id.KeyName(), Origin: l.Origin(),
	}
	if v.KeyName != KeyName(vecDomain.Fleet, k.Address()) || v.Origin != Origin(vecDomain.Fleet, k.Address(), v.Epoch) {
		t.Fatalf("verify.KeyName/Origin disagree with eventlog: %s %s", v.KeyName, v.Origin)
	}

	// Keys.
	vkey, err := k.VerifierKey(v.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Ed25519Public()
	secpIDInput := slices.Concat([]byte(v.KeyName), []byte{'\n'}, []byte(signer.NoteType), addrBytes(k.Address()))
	secpHash := sha256.Sum256(secpIDInput)
	secpID := binary.BigEndian.Uint32(secpHash[:4])
	if secpID != signer.NoteKeyID(v.KeyName, k.Address()) {
		t.Fatalf("secp256k1 key ID: independent %08x, signer %08x", secpID, signer.NoteKeyID(v.KeyName, k.Address()))
	}
	edID := sha256.Sum256(slices.Concat([]byte(v.KeyName), []byte{'\n', 0x01}, pub))
	v.Keys = vecKeys{
		PrivateKey: "0x" + testKeyHex, Device: k.Address().String(),
		Ed25519Seed: hx(k.Ed25519.Seed()), Ed25519Public: hx(pub), Ed25519KeyID: hex.EncodeToString(edID[:4]),
		VerifierKey:         vkey,
		Secp256k1KeyIDInput: hx(secpIDInput), Secp256k1KeyID: fmt.Sprintf("%08x", secpID),
	}

	// EIP-712.
	const domainType = "EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)"
	const eventType = "WaybillEvent(address device,uint32 epoch,uint64 seq,uint64 time,string timeSource,string kind,string payload)"
	const checkpointType = "WaybillCheckpoint(string origin,uint64 size,bytes32 root)"
	salt := crypto.Keccak256([]byte(vecDomain.Fleet))
	sep := crypto.Keccak256(crypto.Keccak256([]byte(domainType)), crypto.Keccak256([]byte("Waybill")), crypto.Keccak256([]byte("1")), word(vecDomain.ChainID), salt)
	if s := vecDomain.Separator(); !bytes.Equal(sep, s[:]) {
		t.Fatalf("domain separator: independent %x, signer %x", sep, s)
	}
	v.EIP712 = vecEIP712{
		DomainType: domainType, DomainTypeHash: hx(crypto.Keccak256([]byte(domainType))),
		Name: "Waybill", Version: "1", ChainID: vecDomain.ChainID, Salt: hx(salt), DomainSeparator: hx(sep),
		EventType: eventType, EventTypeHash: hx(crypto.Keccak256([]byte(eventType))),
		CheckpointType: checkpointType, CheckpointTypeHash: hx(crypto.Keccak256([]byte(checkpointType))),
	}

	// Events.
	for i, ve := range vecEvents {
		if !jcs.IsCanonical([]byte(ve.payload)) {
			t.Fatalf("vector payload %d is not canonical", i)
		}
		s, err := l.Append(ctx, event.Event{Time: vecStart.Add(ve.after).UnixMilli(), Source: event.SourceGNSS, Kind: ve.kind, Payload: []byte(ve.payload)})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := s.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		ev, _, err := splitLeaf(leaf)
		if err != nil {
			t.Fatal(err)
		}
		enc := eventEncodeData(&s.Event)
		structHash := crypto.Keccak256(enc)
		digest := crypto.Keccak256([]byte{0x19, 0x01}, sep, structHash)
		if d := signer.EventDigest(vecDomain, &s.Event); !bytes.Equal(d[:], digest) {
			t.Fatalf("event %d digest: independent %x, signer %x", i, digest, d)
		}
		if g := gethDigest(t, &s.Event); !bytes.Equal(g, digest) {
			t.Fatalf("event %d digest: independent %x, go-ethereum apitypes %x", i, digest, g)
		}
		lh := merkle.LeafHash(leaf)
		if tlog.RecordHash(leaf) != tlog.Hash(lh) {
			t.Fatal("leaf hash differs from tlog.RecordHash")
		}
		v.Events = append(v.Events, vecEvent{
			Index: s.Seq, Event: ev, EncodeData: hx(enc), StructHash: hx(structHash), Digest: hx(digest),
			Signature: s.Sig.String(), Leaf: base64.StdEncoding.EncodeToString(leaf), LeafText: string(leaf), LeafHash: hx(lh[:]),
		})
	}
	n := uint64(len(vecEvents))
	for size := uint64(1); size <= n; size++ {
		r, err := l.TreeHash(size)
		if err != nil {
			t.Fatal(err)
		}
		v.Roots = append(v.Roots, vecRoot{Size: size, Root: r.String(), RootHex: hx(r[:])})
	}

	// The checkpoint.
	noteBytes, c, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cpStruct := crypto.Keccak256(crypto.Keccak256([]byte(checkpointType)), crypto.Keccak256([]byte(c.Origin)), word(c.Size), c.Root[:])
	cpDigest := crypto.Keccak256([]byte{0x19, 0x01}, sep, cpStruct)
	if d := signer.CheckpointDigest(vecDomain, c.Origin, c.Size, c.Root); !bytes.Equal(d[:], cpDigest) {
		t.Fatalf("checkpoint digest: independent %x, signer %x", cpDigest, d)
	}
	_, nt, err := checkpoint.OpenCheckpoint(noteBytes, signer.NoteVerifier(v.KeyName, k.Address(), vecDomain), mustVerifier(t, vkey))
	if err != nil || len(nt.Sigs) != 2 {
		t.Fatalf("checkpoint: %v", err)
	}
	v.Checkpoint = vecCheckpoint{File: "checkpoint.note", Origin: c.Origin, Size: c.Size, Root: merkle.Hash(c.Root).String(), Text: nt.Text,
		StructHash: hx(cpStruct), EIP712Digest: hx(cpDigest), Ed25519Signature: hx(nt.Sigs[0].Sig), Secp256k1Signature: hx(nt.Sigs[1].Sig)}

	// Bundle, tlog-proof, consistency.
	leaf, proof, err := l.ProveInclusion(vecBundleIndex, n)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBundle(leaf, vecDomain, noteBytes, proof)
	if err != nil {
		t.Fatal(err)
	}
	bj, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, newRoot, cproof, err := l.ProveConsistency(vecConsistencyOldSize, n)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := (&Consistency{OldSize: vecConsistencyOldSize, NewSize: n, OldRoot: oldRoot, NewRoot: newRoot, Proof: cproof}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v.Bundle = vecFile{File: "bundle.json", Index: vecBundleIndex, Size: n}
	v.TlogProof = vecFile{File: "bundle.tlog-proof", Index: vecBundleIndex, Size: n}
	v.Consistency = vecFile{File: "consistency.json", OldSize: vecConsistencyOldSize, NewSize: n}

	vj, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"vectors.json":      append(vj, '\n'),
		"checkpoint.note":   noteBytes,
		"ed25519.vkey":      []byte(vkey + "\n"),
		"bundle.json":       append(bj, '\n'),
		"bundle.tlog-proof": []byte(b.TlogProof()),
		"consistency.json":  append(cj, '\n'),
	}
	return files, v
}

func mustVerifier(t *testing.T, vkey string) checkpoint.Verifier {
	t.Helper()
	v, err := checkpoint.ParseVerifierKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVectors regenerates firmware-docs/testdata and compares it byte for
// byte (or rewrites it with -update), then checks the files on their own.
func TestVectors(t *testing.T) {
	files, v := generateVectors(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	})
	if *update {
		if err := os.MkdirAll(testdataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(testdataDir, name), files[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Fatalf("%v (run with -update to write the vectors)", err)
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s differs from what the code produces now (if the change is intended, run go test ./agent/verify -run TestVectors -update and review the diff)", name)
		}
	}
	entries, _ := os.ReadDir(testdataDir)
	for _, e := range entries {
		if e.IsDir() {
			continue // other formats' vectors (feed/, ...), checked by their own packages
		}
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("%s/%s is not a generated vector", testdataDir, e.Name())
		}
	}
	if t.Failed() {
		return
	}

	// The files on their own.
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dev, _ := event.ParseAddress(v.Keys.Device)
	edv := mustVerifier(t, strings.TrimSuffix(string(read("ed25519.vkey")), "\n"))
	b, err := ParseBundle(read("bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(Options{Device: &dev, Fleet: "demo", ChainID: 1337, Verifiers: []checkpoint.Verifier{edv}}); err != nil {
		t.Fatalf("bundle vector: %v", err)
	}
	p, err := ParseTlogProof(read("bundle.tlog-proof"))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := p.Bundle(vecDomain)
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.Verify(Options{Device: &dev, Verifiers: []checkpoint.Verifier{edv}}); err != nil {
		t.Fatalf("tlog-proof vector: %v", err)
	}
	c, err := ParseConsistency(read("consistency.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(); err != nil {
		t.Fatalf("consistency vector: %v", err)
	}
	if c.OldRoot.String() != v.Roots[c.OldSize-1].Root || c.NewRoot.String() != v.Roots[c.NewSize-1].Root {
		t.Fatal("consistency roots are not the vector roots")
	}

	// The checkpoint with golang.org/x/mod/sumdb/note and the vkey file.
	nv, err := note.NewVerifier(strings.TrimSuffix(string(read("ed25519.vkey")), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(read("checkpoint.note"), note.VerifierList(nv))
	if err != nil {
		t.Fatalf("sumdb/note: %v", err)
	}
	if n.Text != v.Checkpoint.Text || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("sumdb/note: text %q, %d verified, %d unverified", n.Text, len(n.Sigs), len(n.UnverifiedSigs))
	}
	if got := fmt.Sprintf("%08x", n.UnverifiedSigs[0].Hash); got != v.Keys.Secp256k1KeyID {
		t.Fatalf("secp256k1 line key ID %s, want %s", got, v.Keys.Secp256k1KeyID)
	}
	// The secp256k1 line by plain ecrecover of the EIP-712 digest.
	digest, _ := hex.DecodeString(strings.TrimPrefix(v.Checkpoint.EIP712Digest, "0x"))
	sig, _ := hex.DecodeString(strings.TrimPrefix(v.Checkpoint.Secp256k1Signature, "0x"))
	sig[64] -= 27
	pub, err := crypto.SigToPub(digest, sig)
	if err != nil || crypto.PubkeyToAddress(*pub).Hex() == "" || event.Address(crypto.PubkeyToAddress(*pub)) != dev {
		t.Fatalf("checkpoint secp256k1 signature does not recover to the device (%v)", err)
	}
}

// TestProtocolDoc checks that PROTOCOL.md's generated kinds table is
// current (-update rewrites it) and that its worked examples are the vectors.
func TestProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile(protocolFile)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN GENERATED KINDS TABLE (go test ./agent/verify -run TestProtocolDoc -update) -->\n", "<!-- END GENERATED KINDS TABLE -->\n"
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatal("PROTOCOL.md has no generated kinds table markers")
	}
	table := kindsTable()
	if cur := string(doc[i+len(begin) : j]); cur != table {
		if !*update {
			t.Fatal("PROTOCOL.md kinds table is out of date with agent/event's kinds; run go test ./agent/verify -run TestProtocolDoc -update")
		}
		doc = slices.Concat(doc[:i+len(begin)], []byte(table), doc[j:])
		if err := os.WriteFile(protocolFile, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Worked examples quote the vectors.
	_, v := generateVectors(t)
	for _, s := range []string{
		v.Keys.Device, v.EIP712.Salt, v.EIP712.DomainSeparator, v.EIP712.EventTypeHash, v.EIP712.CheckpointTypeHash,
		v.Events[0].StructHash, v.Events[0].Digest, v.Events[0].Signature, v.Events[0].LeafText, v.Events[0].LeafHash,
		v.Keys.VerifierKey, v.Keys.Secp256k1KeyID, v.Checkpoint.EIP712Digest, v.Roots[len(v.Roots)-1].Root,
		v.Keys.Ed25519Public,
	} {
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("PROTOCOL.md does not quote the vector value %s", s)
		}
	}
}

// kindsTable renders agent/event's registered kinds as Markdown.
func kindsTable() string {
	var b strings.Builder
	for _, name := range event.KnownKinds() {
		k, _ := event.Lookup(name)
		fmt.Fprintf(&b, "#### `%s`\n\n%s.\n\n", name, upperFirst(k.Doc))
		b.WriteString("| field | type | required | range / values | meaning |\n|---|---|---|---|---|\n")
		fields := slices.Sorted(func(yield func(string) bool) {
			for f := range k.Fields {
				if !yield(f) {
					return
				}
			}
		})
		for _, fn := range fields {
			f := k.Fields[fn]
			req := "no"
			if f.Required {
				req = "yes"
			}
			rng := ""
			switch {
			case len(f.Enum) > 0:
				q := make([]string, len(f.Enum))
				for i, e := range f.Enum {
					q[i] = "`\"" + e + "\"`"
				}
				rng = strings.Join(q, ", ")
			case f.Min < f.Max:
				rng = fmt.Sprintf("%s … %s", fmtNum(f.Min), fmtNum(f.Max))
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", fn, f.Type, req, rng, f.Doc)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func fmtNum(x float64) string {
	switch x {
	case event.MaxSeq:
		return "2^53−1"
	case -event.MaxSeq:
		return "−(2^53−1)"
	}
	return strings.Replace(strconv.FormatFloat(x, 'f', -1, 64), "-", "−", 1)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func addrBytes(a event.Address) []byte { return a[:] }
