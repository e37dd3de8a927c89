package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
)

// rulesFile holds one vector per rule of PROTOCOL.md §7–§9 that a verifier
// must apply and that the main vectors do not show: accepted and refused
// variants of the vector artefacts, with the reference implementation's
// verdict and error.
const rulesFile = "../../firmware-docs/testdata/rules/rules.json"

type ruleCase struct {
	Name    string `json:"name"`
	Section string `json:"section"`
	// Form is "bundle", "consistency", "note" or "consistency+notes" (the
	// proof in input, paired with old_note and new_note).
	Form    string `json:"form"`
	Input   string `json:"input"`
	OldNote string `json:"old_note,omitempty"`
	NewNote string `json:"new_note,omitempty"`
	// VerifierKey, when set, is a verifier key the note must be signed by.
	VerifierKey string `json:"verifier_key,omitempty"`
	Accept      bool   `json:"accept"`
	Error       string `json:"error,omitempty"`
}

type ruleVectors struct {
	Comment string     `json:"comment"`
	Fleet   string     `json:"fleet"`
	ChainID uint64     `json:"chain_id"`
	Cases   []ruleCase `json:"cases"`
}

// check applies the reference implementation to c with the vectors'
// domain (fleet "demo", chain 1337).
func (c *ruleCase) check(t *testing.T) error {
	t.Helper()
	o := Options{Fleet: vecDomain.Fleet, ChainID: vecDomain.ChainID}
	if c.VerifierKey != "" {
		v, err := checkpoint.ParseVerifierKey(c.VerifierKey)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		o.Verifiers = append(o.Verifiers, v)
	}
	switch c.Form {
	case "bundle":
		b, err := ParseBundle([]byte(c.Input))
		if err != nil {
			return err
		}
		return b.Verify(o)
	case "note":
		_, err := VerifyNote([]byte(c.Input), o)
		return err
	case "consistency":
		p, err := ParseConsistency([]byte(c.Input))
		if err != nil {
			return err
		}
		return p.Verify()
	case "consistency+notes":
		p, err := ParseConsistency([]byte(c.Input))
		if err != nil {
			return err
		}
		return p.VerifyBetween([]byte(c.OldNote), []byte(c.NewNote), o)
	}
	t.Fatalf("%s: unknown form %q", c.Name, c.Form)
	return nil
}

// vecFixture is the vector log (PROTOCOL.md §10) with three more events
// and a signed checkpoint at every size: its first five leaves, and so its
// roots of sizes 1–5, are the vectors'.
func vecFixture(t *testing.T) *fixture {
	evs := make([]event.Event, 0, 8)
	for _, ve := range vecEvents {
		evs = append(evs, event.Event{Time: vecStart.Add(ve.after).UnixMilli(), Source: event.SourceGNSS, Kind: ve.kind, Payload: []byte(ve.payload)})
	}
	for i := range 3 {
		evs = append(evs, event.Event{Time: vecStart.Add(time.Hour).UnixMilli() + int64(i), Source: event.SourceGNSS, Kind: "manual", Payload: []byte(`{"note":"after the vectors"}`)})
	}
	return newFixture(t, testKeyHex, vecDomain, evs)
}

func generateRules(t *testing.T) *ruleVectors {
	f := vecFixture(t)
	vectorNote, err := os.ReadFile(filepath.Join(testdataDir, "checkpoint.note"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.notes[5], vectorNote) {
		t.Fatal("the extended vector log's checkpoint of size 5 is not testdata/checkpoint.note")
	}
	bundle := string(mustMarshal(t, f.bundle(t, 2, 5)))
	rep := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in %q", old, s)
		}
		return strings.Replace(s, old, new, 1)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(bundle), "", "  "); err != nil {
		t.Fatal(err)
	}
	var reordered bytes.Buffer // members in reverse order, at the top level
	{
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(bundle), &m); err != nil {
			t.Fatal(err)
		}
		reordered.WriteString("{")
		for i, k := range bundleMembers {
			k = bundleMembers[len(bundleMembers)-1-i]
			if i > 0 {
				reordered.WriteString(",")
			}
			reordered.WriteString(`"` + k + `":`)
			reordered.Write(m[k])
		}
		reordered.WriteString("}")
	}

	// Extension payloads: null and any member names are theirs to hold.
	ext := newFixture(t, testKeyHex, vecDomain, []event.Event{
		{Time: vecStart.UnixMilli(), Source: event.SourceGNSS, Kind: "manual", Payload: []byte(`{"note":"n","x_meta":{"Any":null,"list":[null,1]}}`)},
		{Time: vecStart.UnixMilli(), Source: event.SourceGNSS, Kind: "x_custom", Payload: []byte(`{"A":null,"b":{"":null}}`)},
	})
	extBundle0 := string(mustMarshal(t, ext.bundle(t, 0, 2)))
	extBundle1 := string(mustMarshal(t, ext.bundle(t, 1, 2)))

	// Notes: the vector note's lines, reordered and with other keys' lines.
	i := strings.Index(string(vectorNote), "\n\n")
	text, sigs := string(vectorNote[:i+2]), strings.SplitAfter(string(vectorNote[i+2:]), "\n")
	edLine, secpLine := sigs[0], sigs[1]
	witness := func(name string) string {
		return "— " + name + " " + base64.StdEncoding.EncodeToString(append([]byte{1, 2, 3, 4}, make([]byte, 64)...)) + "\n"
	}
	vkey, err := f.key.VerifierKey(KeyName("demo", f.key.Address()))
	if err != nil {
		t.Fatal(err)
	}
	otherVkey, err := f.key.VerifierKey(KeyName("other", f.key.Address()))
	if err != nil {
		t.Fatal(err)
	}

	// Consistency: the 2→5 proof, and the same hashes and roots relabelled.
	cons25 := string(mustConsistency(t, f.consistency(t, 2, 5)))
	relabel := func(n string) string { return rep(cons25, `"new_size":5`, `"new_size":`+n) }

	s7, s8, s9 := "PROTOCOL.md §7", "PROTOCOL.md §8", "PROTOCOL.md §9"
	cases := []ruleCase{
		// §8: strictness applies to the bundle's own members; the event's
		// payload follows §3.
		{Name: "extension field holding null and members of any name", Section: s8, Form: "bundle", Input: extBundle0, Accept: true},
		{Name: "extension kind whose payload holds null", Section: s8, Form: "bundle", Input: extBundle1, Accept: true},
		{Name: "null bundle member", Section: s8, Form: "bundle", Input: rep(bundle, `"index":2`, `"index":null`)},
		{Name: "unknown checkpoint member", Section: s8, Form: "bundle", Input: rep(bundle, `"size":5}`, `"size":5,"x_size":5}`)},
		// §8: only white space and member order are free.
		{Name: "indented", Section: s8, Form: "bundle", Input: pretty.String() + "\n", Accept: true},
		{Name: "members in reverse order", Section: s8, Form: "bundle", Input: reordered.String(), Accept: true},
		{Name: "white space around a colon", Section: s8, Form: "bundle", Input: rep(bundle, `"index":2`, "\"index\" :\t2"), Accept: true},
		{Name: "number with a fraction", Section: s8, Form: "bundle", Input: rep(bundle, `"index":2`, `"index":2.0`)},
		{Name: "number with an exponent", Section: s8, Form: "bundle", Input: rep(bundle, `"index":2`, `"index":2e0`)},
		{Name: "payload number respelled", Section: s8, Form: "bundle", Input: rep(bundle, `"lat":52.51641`, `"lat":5.251641e1`)},
		{Name: "escaped letter in a member name", Section: s8, Form: "bundle", Input: rep(bundle, `"index":2`, `"\u0069ndex":2`)},
		{Name: "escaped solidus", Section: s8, Form: "bundle", Input: rep(bundle, `"origin":"waybill/demo/`, `"origin":"waybill\/demo/`)},
		{Name: "escaped non-ASCII letter", Section: s8, Form: "bundle", Input: rep(bundle, `"fleet":"demo"`, `"fleet":"d\u0065mo"`)},
		{Name: "uppercase hex in an escape", Section: s8, Form: "bundle", Input: rep(bundle, `\n`, `\u000A`)},
		// §7: characters of notes and key names.
		{Name: "vector note", Section: s7, Form: "note", Input: string(vectorNote), Accept: true},
		{Name: "line by another key, name with non-ASCII letters", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness.example/é"), Accept: true},
		{Name: "DEL in a key name", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness\x7f")},
		{Name: "C1 control U+0085 in a key name", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness\u0085")},
		{Name: "C1 control U+0080 in a key name", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness\u0080")},
		{Name: "no-break space U+00A0 in a key name", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness\u00a0x")},
		{Name: "ideographic space U+3000 in a key name", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness\u3000x")},
		{Name: "plus in a key name", Section: s7, Form: "note", Input: text + edLine + secpLine + witness("witness+x")},
		{Name: "DEL in the text", Section: s7, Form: "note", Input: rep(string(vectorNote), "/0\n", "/0\x7f\n")},
		{Name: "C1 control in the text", Section: s7, Form: "note", Input: rep(string(vectorNote), "/0\n", "/0\u009b\n")},
		{Name: "tab in the text", Section: s7, Form: "note", Input: rep(string(vectorNote), "/0\n", "/0\t\n")},
		// §7, CONTRACT.md: lines are selected by key name and key ID, not position.
		{Name: "signature lines swapped", Section: s7, Form: "note", Input: text + secpLine + edLine, VerifierKey: vkey, Accept: true},
		{Name: "another key's line first", Section: s7, Form: "note", Input: text + witness("witness.example/w") + secpLine + edLine, VerifierKey: vkey, Accept: true},
		// §7: a verifier key names the fleet.
		{Name: "verifier key of the fleet", Section: s7, Form: "note", Input: string(vectorNote), VerifierKey: vkey, Accept: true},
		{Name: "verifier key printed for another fleet", Section: s7, Form: "note", Input: string(vectorNote), VerifierKey: otherVkey},
		// §9: a proof alone does not bind its sizes; pair by size and root.
		{Name: "proof 2→5", Section: s9, Form: "consistency", Input: cons25, Accept: true},
		{Name: "proof 2→5 relabelled 2→6: the proof alone checks", Section: s9, Form: "consistency", Input: relabel("6"), Accept: true},
		{Name: "proof 2→5 relabelled 2→7: the proof alone checks", Section: s9, Form: "consistency", Input: relabel("7"), Accept: true},
		{Name: "proof 2→5 relabelled 2→8: the proof alone checks", Section: s9, Form: "consistency", Input: relabel("8"), Accept: true},
		{Name: "proof 2→5 with the checkpoints of sizes 2 and 5", Section: s9, Form: "consistency+notes", Input: cons25, OldNote: string(f.notes[2]), NewNote: string(f.notes[5]), Accept: true},
		{Name: "proof 2→5 relabelled 2→6 with the checkpoints of sizes 2 and 6", Section: s9, Form: "consistency+notes", Input: relabel("6"), OldNote: string(f.notes[2]), NewNote: string(f.notes[6])},
		{Name: "proof 2→5 relabelled 2→6 with the checkpoints of sizes 2 and 5", Section: s9, Form: "consistency+notes", Input: relabel("6"), OldNote: string(f.notes[2]), NewNote: string(f.notes[5])},
		{Name: "proof 2→5 with the checkpoints swapped", Section: s9, Form: "consistency+notes", Input: cons25, OldNote: string(f.notes[5]), NewNote: string(f.notes[2])},
	}
	for i := range cases {
		c := &cases[i]
		err := c.check(t)
		if (err == nil) != c.Accept {
			t.Errorf("%s: accept %v, got %v", c.Name, c.Accept, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v wraps neither ErrMalformed nor ErrInvalid", c.Name, err)
			}
			c.Error = err.Error()
		}
	}
	return &ruleVectors{
		Comment: "Waybill verifier rules (firmware-docs/PROTOCOL.md §7-§9): accepted and refused variants of the vector artefacts in the vectors' domain, " +
			"with the reference implementation's error. The key is the vectors' well-known example key: never use it for a real device. " +
			"Regenerate with: go test ./agent/verify -run TestRuleVectors -update",
		Fleet: vecDomain.Fleet, ChainID: vecDomain.ChainID, Cases: cases,
	}
}

func mustConsistency(t *testing.T, c *Consistency) []byte {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRuleVectors regenerates firmware-docs/testdata/rules/rules.json and
// compares it byte for byte (or rewrites it with -update), then replays
// the file itself: a verifier written from the pages can do the same.
func TestRuleVectors(t *testing.T) {
	v := generateRules(t)
	if t.Failed() {
		return
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(rulesFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rulesFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatalf("%v (run go test ./agent/verify -run TestRuleVectors -update)", err)
	}
	if !bytes.Equal(got, out) {
		t.Fatalf("%s differs from what the code produces now (if intended, rerun with -update and review the diff)", rulesFile)
	}
	var file ruleVectors
	if err := json.Unmarshal(got, &file); err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Cases {
		if err := c.check(t); (err == nil) != c.Accept {
			t.Errorf("%s (from the file): accept %v, got %v", c.Name, c.Accept, err)
		}
	}
}
