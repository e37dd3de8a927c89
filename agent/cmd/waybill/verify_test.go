package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/feed"
)

// TestCLI_VerifyEveryArtefact builds a log with the CLI, takes every
// artefact the agent hands out, checks that `waybill verify` accepts each
// (its form detected), and that it refuses each one with any single byte
// changed: exit 1 and one line naming what failed.
func TestCLI_VerifyEveryArtefact(t *testing.T) {
	dir, key, vkey, addr := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key) // events 0–2
	code, oldNote, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key)
	if code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	more := `{"kind":"manual","payload":{"note":"n","x_extra":null}}` + "\n" + `{"kind":"x_custom","payload":{"A":null}}` + "\n"
	if code, out, errs := waybill(t, more, "log", "append", "--data", data, "--key", key); code != 0 {
		t.Fatalf("append: %s %s", out, errs)
	}
	code, newNote, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key)
	if code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	cli := func(args ...string) string {
		t.Helper()
		code, out, errs := waybill(t, "", args...)
		if code != 0 {
			t.Fatalf("%v = %d: %s", args, code, errs)
		}
		return out
	}
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldPath, newPath := write("old.note", oldNote), write("new.note", newNote)

	// The feed's messages, as the publisher writes them, from the leaf
	// `log show` prints.
	show := cli("log", "show", "--data", data, "--from", "3", "--limit", "1")
	var sl struct {
		Leaf string `json:"leaf"`
	}
	if err := json.Unmarshal([]byte(show), &sl); err != nil {
		t.Fatal(err)
	}
	leaf, _ := base64.StdEncoding.DecodeString(sl.Leaf)
	dev, err := event.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	origin := "waybill/cli-test/" + addr + "/0"
	feedEvent := (&feed.Message{Origin: origin, Seq: 3, Leaf: leaf}).Marshal()
	domain := (&feed.DomainMessage{ChainID: 1337, Device: dev, Fleet: "cli-test"}).Marshal()
	domainPath := write("domain.json", string(domain))

	evidence, err := os.ReadFile("../../../firmware-docs/testdata/anchor/evidence.json")
	if err != nil {
		t.Fatal(err)
	}
	evidenceV1, err := os.ReadFile("../../../firmware-docs/testdata/anchor/evidence-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	vecVkey, err := os.ReadFile("../../../firmware-docs/testdata/ed25519.vkey")
	if err != nil {
		t.Fatal(err)
	}
	// The feed vectors: the bytes a subscriber receives from Mosquitto
	// (sync/feed's TestVectors_OverMQTT).
	const feedDir = "../../../firmware-docs/testdata/feed/"
	feedEvent4, err := os.ReadFile(feedDir + "events-4.json")
	if err != nil {
		t.Fatal(err)
	}
	feedNote, err := os.ReadFile(feedDir + "checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	feedDomain, err := os.ReadFile(feedDir + "domain.json")
	if err != nil {
		t.Fatal(err)
	}

	artefacts := []struct {
		name, form, content string
		args                []string
		skip                func(i int) bool // bytes whose change verify cannot see (documented)
	}{
		{"bundle", "bundle", cli("log", "prove", "--data", data, "--seq", "1"), []string{"--vkey", vkey}, nil},
		{"bundle of an extension payload holding null", "bundle", cli("log", "prove", "--data", data, "--seq", "3"), []string{"--vkey", vkey}, nil},
		{"tlog-proof", "tlog-proof", cli("log", "prove", "--data", data, "--seq", "2", "--format", "tlog-proof"), []string{"--chain-id", "1337", "--vkey", vkey}, nil},
		{"consistency", "consistency", cli("log", "consistency", "--data", data, "--from", "3", "--to", "5"), []string{"--old", oldPath, "--new", newPath, "--chain-id", "1337"}, nil},
		{"checkpoint note", "note", newNote, []string{"--chain-id", "1337", "--vkey", vkey}, nil},
		{"log show line", "show", show, []string{"--domain", domainPath}, nil},
		{"feed event message", "event", string(feedEvent), []string{"--domain", domainPath}, nil},
		{"feed checkpoint message", "note", newNote, []string{"--domain", domainPath, "--vkey", vkey}, nil},
		{"feed domain message", "domain", string(domain), []string{"--checkpoint", newPath}, nil},
		{"feed vector event message", "event", string(feedEvent4), []string{"--domain", feedDir + "domain.json"}, nil},
		{"feed vector checkpoint message", "note", string(feedNote), []string{"--domain", feedDir + "domain.json", "--vkey", strings.TrimSpace(string(vecVkey))}, nil},
		{"feed vector domain message", "domain", string(feedDomain), []string{"--checkpoint", feedDir + "checkpoint.note"}, nil},
		{"anchor evidence", "evidence", string(evidence), []string{"--vkey", strings.TrimSpace(string(vecVkey))}, unboundReceipt(t, evidence)},
		{"anchor evidence, version 1", "evidence", string(evidenceV1), []string{"--vkey", strings.TrimSpace(string(vecVkey))}, unboundReceipt(t, evidenceV1)},
	}
	for _, a := range artefacts {
		t.Run(a.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "artefact")
			verifyFile := func(content []byte) (int, string, string) {
				if err := os.WriteFile(path, content, 0o644); err != nil {
					t.Fatal(err)
				}
				return waybill(t, "", append(append([]string{"verify"}, a.args...), path)...)
			}
			code, out, errs := verifyFile([]byte(a.content))
			if code != 0 || !strings.HasPrefix(out, "OK: ") {
				t.Fatalf("genuine %s: exit %d\n%s%s", a.name, code, out, errs)
			}
			// The same with the form given, and from standard input.
			if code, _, errs := waybill(t, a.content, append(append([]string{"verify", "--form", a.form}, a.args...), "-")...); code != 0 {
				t.Fatalf("genuine %s from stdin with --form %s: exit %d %s", a.name, a.form, code, errs)
			}
			refused := 0
			for i := range len(a.content) {
				if a.skip != nil && a.skip(i) {
					continue
				}
				b := []byte(a.content)
				b[i] ^= 0x01
				code, out, errs := verifyFile(b)
				if code == 0 {
					t.Fatalf("byte %d changed (%q -> %q) and verify accepts it:\n%s", i, a.content[i], b[i], out)
				}
				if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "INVALID") {
					t.Fatalf("byte %d changed: exit %d, stderr %q; want exit 1 and one INVALID line", i, code, errs)
				}
				refused++
			}
			t.Logf("%s: %d one-byte changes, all refused", a.name, refused)
		})
	}

	// Pairing and keys.
	cons := write("cons.json", cli("log", "consistency", "--data", data, "--from", "3", "--to", "5"))
	if code, _, errs := waybill(t, "", "verify", "--old", newPath, "--new", oldPath, "--chain-id", "1337", cons); code != 1 || !strings.Contains(errs, "the proof starts at size 3") {
		t.Errorf("consistency with the checkpoints swapped: exit %d %s", code, errs)
	}
	bundle := write("bundle.json", cli("log", "prove", "--data", data, "--seq", "1"))
	// The verifier key keygen prints for the same key with --fleet other.
	k, err := devkey.Load(context.Background(), key, []byte("test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	wrongFleetVkey, err := k.VerifierKey("waybill/other/" + addr)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := waybill(t, "", "verify", "--vkey", wrongFleetVkey, bundle); code != 1 || !strings.Contains(errs, "no signature by key waybill/other/") {
		t.Errorf("bundle with a verifier key naming another fleet: exit %d %s", code, errs)
	}
	if code, _, errs := waybill(t, "", "verify", write("tp", cli("log", "prove", "--data", data, "--seq", "2", "--format", "tlog-proof"))); code != 2 || !strings.Contains(errs, "--chain-id or --domain") {
		t.Errorf("tlog-proof without a chain ID: exit %d %s", code, errs)
	}
	if code, _, errs := waybill(t, "", "verify", "--chain-id", "1", write("note", newNote)); code != 1 || !strings.Contains(errs, "invalid signature") {
		t.Errorf("note on another chain: exit %d %s", code, errs)
	}
	// Evidence's unsigned prev_size/prev_root, paired with a signed
	// checkpoint: the vector log's size-2 note (from the rule vectors).
	var rules struct {
		Cases []struct {
			Name    string `json:"name"`
			OldNote string `json:"old_note"`
		} `json:"cases"`
	}
	rb, err := os.ReadFile("../../../firmware-docs/testdata/rules/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &rules); err != nil {
		t.Fatal(err)
	}
	var note2 string
	for _, c := range rules.Cases {
		if c.Name == "proof 2→5 with the checkpoints of sizes 2 and 5" {
			note2 = c.OldNote
		}
	}
	if note2 == "" {
		t.Fatal("rules.json has no size-2 note")
	}
	ev := write("evidence.json", string(evidence))
	if code, out, errs := waybill(t, "", "verify", "--old", write("note2", note2), ev); code != 0 || !strings.Contains(out, "extends the signed checkpoint of size 2") {
		t.Errorf("evidence with --old (size 2) = %d\n%s%s", code, out, errs)
	}
	if code, out, _ := waybill(t, "", "verify", ev); code != 0 || !strings.Contains(out, "prev_size 2 and prev_root are not signed") {
		t.Errorf("evidence without --old = %d\n%s", code, out)
	}
	if code, _, errs := waybill(t, "", "verify", "--old", "../../../firmware-docs/testdata/checkpoint.note", ev); code != 1 || !strings.Contains(errs, "are not the checkpoint") {
		t.Errorf("evidence with --old of size 5 = %d %s", code, errs)
	}
	if code, _, errs := waybill(t, "", "verify", write("junk.json", `{"hello":1}`)); code != 1 || !strings.Contains(errs, "none of the Waybill artefacts") {
		t.Errorf("unknown JSON: exit %d %s", code, errs)
	}
	if code, _, errs := waybill(t, "", "verify", "--form", "nonsense", bundle); code != 2 {
		t.Errorf("--form nonsense: exit %d %s", code, errs)
	}
}

// unboundReceipt returns the byte offsets of the receipt members (names and
// values) that evidence does not bind offline (ANCHORING.md §7: only transactionHash,
// blockHash, blockNumber and status are checked without a node).
func unboundReceipt(t *testing.T, evidence []byte) func(int) bool {
	t.Helper()
	start := bytes.Index(evidence, []byte(`"receipt":{`))
	end := bytes.Index(evidence[start:], []byte("}")) + start
	if start < 0 || end < start {
		t.Fatal("evidence has no receipt")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(evidence[start+len(`"receipt":`):end+1], &m); err != nil {
		t.Fatal(err)
	}
	type span struct{ from, to int }
	var spans []span
	for k, v := range m {
		switch k {
		case "transactionHash", "blockHash", "blockNumber", "status":
			continue
		}
		member := `"` + k + `":` + string(v)
		i := bytes.Index(evidence[start:end], []byte(member))
		if i < 0 {
			t.Fatalf("receipt member %s not found", k)
		}
		spans = append(spans, span{start + i, start + i + len(member)})
	}
	return func(i int) bool {
		for _, s := range spans {
			if i >= s.from && i < s.to {
				return true
			}
		}
		return false
	}
}

// FuzzDetectAndParseShowLine: form detection and the show-line parser never
// panic, and an accepted show line is exactly the leaf with its base64.
func FuzzDetectAndParseShowLine(f *testing.F) {
	f.Add([]byte(`{"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","leaf":"e30="}`))
	f.Add([]byte("c2sp.org/tlog-proof@v1\n"))
	f.Add([]byte("a\n\n\u2014 b c\n"))
	f.Add([]byte(`{"leaf":"","sig":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = detectForm(data)
		s, err := parseShowLine(data)
		if err != nil {
			return
		}
		leaf, err := s.Leaf()
		if err != nil {
			t.Fatalf("accepted show line whose event has no leaf: %v", err)
		}
		want := string(leaf[:len(leaf)-1]) + `,"leaf":"` + base64.StdEncoding.EncodeToString(leaf) + `"}`
		if got := strings.TrimSuffix(string(data), "\n"); got != want {
			t.Fatalf("accepted %q, which is not the show line %q", got, want)
		}
	})
}

// TestVerify_JSONResults checks verify's --json object for each result:
// the checks and notes made, the verdict and its reason, and the exit
// status the verdict gives (CLI.md §7).
func TestVerify_JSONResults(t *testing.T) {
	msg := []string{"OK: event 1 of o is signed", "NOTE: prev_size is not signed"}
	for _, tt := range []struct {
		err  error
		want string
		exit int
	}{
		{nil, `{"form":"bundle","result":"valid","checks":["event 1 of o is signed"],"notes":["prev_size is not signed"],"error":""}`, 0},
		{notAnchored(errors.New("block 3 has 2 confirmations, fewer than 1000")),
			`{"form":"bundle","result":"not_anchored","checks":["event 1 of o is signed"],"notes":["prev_size is not signed"],"error":"block 3 has 2 confirmations, fewer than 1000"}`, 1},
		{invalid("INVALID bundle b.json", errors.New("root differs")),
			`{"form":"bundle","result":"invalid","checks":["event 1 of o is signed"],"notes":["prev_size is not signed"],"error":"root differs"}`, 1},
	} {
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb}
		err := (&verifyOpts{}).report(e, true, "bundle", msg, tt.err)
		if out.String() != tt.want+"\n" || err != tt.err {
			t.Errorf("report(%v) printed %s, returned %v; want %s", tt.err, out.String(), err, tt.want)
		}
		// The text form prints the same lines, and the verdict on stderr.
		out.Reset()
		if err := (&verifyOpts{}).report(e, false, "bundle", msg, tt.err); out.String() != strings.Join(msg, "\n")+"\n" || err != tt.err {
			t.Errorf("report(%v) as text printed %q, returned %v", tt.err, out.String(), err)
		}
		code := 0
		if tt.err != nil {
			code = exitStatus(tt.err) // run's exit status for the verdict
		}
		if code != tt.exit {
			t.Errorf("verdict %v exits %d, want %d", tt.err, code, tt.exit)
		}
	}
	if got := notAnchored(errors.New("x")).Error(); got != "NOT ANCHORED: x" {
		t.Errorf("the not-anchored verdict reads %q", got)
	}
	if got := invalid("INVALID bundle b.json", errors.New("x")).Error(); got != "INVALID bundle b.json: x" {
		t.Errorf("the invalid verdict reads %q", got)
	}
}
