package anchor

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

// docVector returns the evidence vector of firmware-docs/ANCHORING.md.
func docVector(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../firmware-docs/ANCHORING.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- evidence vector -->\n```json\n")
	if !ok {
		t.Fatal("ANCHORING.md has no evidence vector block")
	}
	v, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("ANCHORING.md: evidence vector block not closed")
	}
	return []byte(v)
}

func TestParseEvidence_Vector(t *testing.T) {
	vec := docVector(t)
	e, err := ParseEvidence(vec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Check(); err != nil {
		t.Fatalf("Check(vector) = %v", err)
	}
	if e.Size != 5 || e.PrevSize != 2 || e.BlockNumber != 1 || e.Ledger != "eip155:1337" {
		t.Fatalf("vector parsed as size %d prev %d block %d ledger %q", e.Size, e.PrevSize, e.BlockNumber, e.Ledger)
	}
	// White space and member order are free; the form written is canonical.
	if e.Version != 2 || e.ChainID != 1337 || e.Payload != PayloadNote || e.To != "0x71562b71999873db5b286df957af199ec94617f7" || e.Endpoint != "" {
		t.Fatalf("vector parsed as version %d chain %d payload %q to %q endpoint %q", e.Version, e.ChainID, e.Payload, e.To, e.Endpoint)
	}
	// The files in testdata/anchor: the same vector, and version 1.
	if f, err := os.ReadFile("../../firmware-docs/testdata/anchor/evidence.json"); err != nil || !bytes.Equal(f, append(vec, '\n')) {
		t.Fatalf("testdata/anchor/evidence.json is not ANCHORING.md's vector (%v)", err)
	}
	v1, err := os.ReadFile("../../firmware-docs/testdata/anchor/evidence-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	e1, err := ParseEvidence(bytes.TrimSuffix(v1, []byte("\n")))
	if err != nil {
		t.Fatalf("version 1 evidence: %v", err)
	}
	if err := e1.Check(); err != nil || e1.Version != 1 || e1.Payload != "" {
		t.Fatalf("version 1 evidence: %v, version %d, payload %q", err, e1.Version, e1.Payload)
	}
	if out, _ := e1.Format(); !bytes.Equal(append(out, '\n'), v1) {
		t.Fatal("version 1 evidence does not format back to itself")
	}
	loose := bytes.Replace(vec, []byte(`{"block_hash"`), []byte("{\n  \"v\": 2, \"block_hash\""), 1)
	loose = bytes.Replace(loose, []byte(`,"v":2}`), []byte("}\n"), 1)
	e2, err := ParseEvidence(loose)
	if err != nil {
		t.Fatalf("ParseEvidence(reordered) = %v", err)
	}
	if out, _ := e2.Format(); !bytes.Equal(out, vec) {
		t.Fatal("reordered vector does not format back to the vector")
	}
}

func TestParseEvidence_Bad(t *testing.T) {
	vec := string(docVector(t))
	repl := func(old, new string) string {
		if !strings.Contains(vec, old) {
			t.Fatalf("vector lacks %q", old)
		}
		return strings.Replace(vec, old, new, 1)
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "evidence"},
		{"not an object", "[]", "evidence"},
		{"trailing data", vec + "{}", "evidence"},
		{"duplicate member", repl(`"v":2}`, `"v":2,"v":2}`), "duplicate"},
		{"unknown member", repl(`"v":2}`, `"v":2,"w":2}`), `unknown member "w"`},
		{"missing member", repl(`"size":5,`, ``), `"size"`},
		{"null member", repl(`"size":5,`, `"size":null,`), `"size"`},
		{"wrong version", repl(`"v":2}`, `"v":3}`), "version 3"},
		{"version 1 with chain_id", repl(`"v":2}`, `"v":1}`), `"chain_id" is not part of version 1`},
		{"no chain_id", repl(`"chain_id":1337,`, ``), `"chain_id"`},
		{"no payload", repl(`"payload":"note",`, ``), `"payload"`},
		{"no to", repl(`"to":"0x71562b71999873db5b286df957af199ec94617f7",`, ``), `"to"`},
		{"chain_id not the ledger's", repl(`"chain_id":1337,`, `"chain_id":1,`), "chain_id 1"},
		{"unknown payload", repl(`"payload":"note"`, `"payload":"notes"`), `payload "notes"`},
		{"to in uppercase", repl(`"to":"0x71562b71999873db5b286df957af199ec94617f7"`, `"to":"0x71562B71999873db5b286df957af199ec94617f7"`), "lowercase"},
		{"endpoint with the note payload", repl(`"ledger"`, `"endpoint":"https://api.example/timestamp/v4","ledger"`), "endpoint"},
		{"ebsi without endpoint", repl(`"payload":"note"`, `"payload":"ebsi"`), "endpoint"},
		{"size spelled 5.0", repl(`"size":5,`, `"size":5.0,`), "RFC 8785"},
		{"escaped member name", repl(`"size":5,`, `"\u0073ize":5,`), "RFC 8785"},
		{"string size", repl(`"size":5,`, `"size":"5",`), "size"},
		{"negative size", repl(`"size":5,`, `"size":-5,`), "size"},
		{"size past 2^53", repl(`"size":5,`, `"size":9007199254740992,`), "2^53"},
		{"uppercase hex", repl(`"tx_hash":"0xd2e8`, `"tx_hash":"0xD2E8`), "lowercase"},
		{"hex without 0x", repl(`"tx_hash":"0xd2e8`, `"tx_hash":"d2e8`), "0x"},
		{"short hash", repl(`"tx_hash":"0xd2e8`, `"tx_hash":"0xd2`), "tx_hash"},
		{"non-canonical base64", repl(`xLm4="`, `xLm5="`), "base64"},
		{"receipt not an object", strings.Replace(repl(`"receipt":{`, `"receipt":[{`), `"type":"0x2"}`, `"type":"0x2"}]`, 1), "receipt"},
		{"prev_root without prev_size", repl(`"prev_size":2`, `"prev_size":0`), "prev_size"},
		{"no prev_root with prev_size", repl(`"prev_root":"MbkAWFxpqnWEzd361LJIfE+TdpJeLnZ9ErlJhCC2DvI=",`, ``), "prev_size"},
		{"over 1 MiB", vec[:len(vec)-1] + `,"x":"` + strings.Repeat("a", MaxEvidenceSize) + `"}`, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEvidence([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseEvidence = %+v, want an error", e)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseEvidence = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParseEvidence(f *testing.F) {
	f.Add(docVector(f))
	f.Add([]byte(`{"v":1}`))
	if v1, err := os.ReadFile("../../firmware-docs/testdata/anchor/evidence-v1.json"); err == nil {
		f.Add(v1)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvidence(b)
		if err != nil {
			return
		}
		out, err := e.Format()
		if err != nil {
			t.Fatalf("Format of parsed evidence: %v", err)
		}
		e2, err := ParseEvidence(out)
		if err != nil {
			t.Fatalf("ParseEvidence(Format(e)) = %v", err)
		}
		out2, _ := e2.Format()
		if !bytes.Equal(out, out2) {
			t.Fatal("Format is not stable")
		}
		_ = e.Check() // must not panic
	})
}

// prev_size and prev_root are unsigned: Extends pairs them with a verified
// checkpoint by size and by root.
func TestEvidence_Extends(t *testing.T) {
	e, err := ParseEvidence(docVector(t))
	if err != nil {
		t.Fatal(err)
	}
	prev := checkpoint.Checkpoint{Origin: e.Origin, Size: e.PrevSize, Root: e.PrevRoot}
	if err := e.Extends(prev); err != nil {
		t.Fatalf("Extends(the size-2 checkpoint) = %v", err)
	}
	for name, c := range map[string]checkpoint.Checkpoint{
		"another size, same root": {Origin: e.Origin, Size: 3, Root: e.PrevRoot},
		"another root":            {Origin: e.Origin, Size: 2, Root: e.Root},
		"another origin":          {Origin: e.Origin + "1", Size: 2, Root: e.PrevRoot},
	} {
		if err := e.Extends(c); err == nil || !strings.Contains(err.Error(), "are not the checkpoint") {
			t.Errorf("%s: Extends = %v", name, err)
		}
	}
	// Relabelled: the evidence claims prev_size 3 for the same root and
	// proof; the proof may even check, but no signed checkpoint of size 3
	// has that root.
	m := *e
	m.PrevSize = 3
	if err := m.Extends(prev); err == nil {
		t.Error("evidence relabelled to prev_size 3 extends the size-2 checkpoint")
	}
	first := *e
	first.PrevSize = 0
	if err := first.Extends(prev); err == nil {
		t.Error("a first anchor extends something")
	}
}
