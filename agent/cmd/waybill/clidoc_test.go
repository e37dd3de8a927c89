package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/bench"
)

// The test vectors of firmware-docs/CLI.md: its blocks fenced as
// ```json cli:NAME. An output fixed by its input is compared byte for byte
// with the block and with testdata/cli/NAME; one that holds keys,
// signatures or times is compared member by member, in order, with the
// block's JSON types.

// cliDoc returns CLI.md's test vectors by name.
func cliDoc(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "firmware-docs", "CLI.md"))
	if err != nil {
		t.Fatal(err)
	}
	vs := map[string]string{}
	rest := string(b)
	for {
		_, after, ok := strings.Cut(rest, " cli:")
		if !ok {
			return vs
		}
		name, body, ok := strings.Cut(after, "\n")
		if !ok {
			t.Fatalf("CLI.md: the block cli:%s has no body", name)
		}
		body, rest, ok = strings.Cut(body, "```")
		if !ok {
			t.Fatalf("CLI.md: the block cli:%s is not closed", name)
		}
		if _, dup := vs[name]; dup {
			t.Fatalf("CLI.md: two blocks named cli:%s", name)
		}
		vs[name] = body
	}
}

// vector returns CLI.md's vector name.
func vector(t *testing.T, name string) string {
	t.Helper()
	v, ok := cliDoc(t)[name]
	if !ok {
		t.Fatalf("CLI.md has no block cli:%s", name)
	}
	return v
}

// checkGolden checks that got is CLI.md's vector name and
// testdata/cli/name, byte for byte.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	if want := vector(t, name); got != want {
		t.Errorf("output differs from CLI.md's cli:%s:\n got: %s\nwant: %s", name, got, want)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "cli", name))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(b) {
		t.Errorf("output differs from testdata/cli/%s:\n got: %s\nwant: %s", name, got, b)
	}
}

// shape describes a JSON text's structure: the members of each object in
// their order, and every value's JSON type (an array by its first
// element's).
func shape(t *testing.T, text string) string {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var b strings.Builder
	var walk func() error
	walk = func() error {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				b.WriteString("{")
				for d.More() {
					k, err := d.Token()
					if err != nil {
						return err
					}
					fmt.Fprintf(&b, "%s:", k)
					if err := walk(); err != nil {
						return err
					}
					b.WriteString(",")
				}
				b.WriteString("}")
			case '[':
				b.WriteString("[")
				n := 0
				for d.More() {
					mark := b.Len()
					if err := walk(); err != nil {
						return err
					}
					if n++; n > 1 {
						s := b.String()[:mark]
						b.Reset()
						b.WriteString(s)
					}
				}
				b.WriteString("]")
			}
			_, err := d.Token() // the closing delimiter
			return err
		case string:
			b.WriteString("string")
		case json.Number:
			b.WriteString("number")
		case bool:
			b.WriteString("bool")
		case nil:
			b.WriteString("null")
		}
		return nil
	}
	if err := walk(); err != nil {
		t.Fatalf("not JSON: %v: %s", err, text)
	}
	if d.More() {
		t.Fatalf("more than one JSON value: %s", text)
	}
	return b.String()
}

// checkShape checks that got has the members, order and JSON types of
// CLI.md's vector name, and that its line ends in one line feed.
func checkShape(t *testing.T, name, got string) {
	t.Helper()
	want := vector(t, name)
	if !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("cli:%s: output is not one line: %q", name, got)
	}
	if g, w := shape(t, got), shape(t, want); g != w {
		t.Errorf("output has another shape than CLI.md's cli:%s:\n got: %s\nwant: %s\noutput: %s", name, g, w, got)
	}
}

// checkMembers checks that the members of the vector's lines, in the
// order they first appear, are the JSON names of the fields of typ: the
// Go type that prints the output.
func checkMembers(t *testing.T, name string, typ reflect.Type) {
	t.Helper()
	var m []string
	for _, line := range strings.SplitAfter(strings.TrimSuffix(vector(t, name), "\n"), "\n") {
		d := json.NewDecoder(strings.NewReader(line))
		d.Token()
		for d.More() {
			k, _ := d.Token()
			if !slices.Contains(m, k.(string)) {
				m = append(m, k.(string))
			}
			var skip json.RawMessage
			d.Decode(&skip)
		}
	}
	var fields []string
	for i := range typ.NumField() {
		n, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if n == "-" { // not printed
			continue
		}
		fields = append(fields, n)
	}
	if !reflect.DeepEqual(m, fields) {
		t.Errorf("CLI.md's cli:%s has the members %v; %s prints %v", name, m, typ, fields)
	}
}

// TestCLIDoc_AppendJSON appends LOCALAPI.md's input vector with --json to
// a log holding one event, directly, and compares the answers with
// CLI.md's.
func TestCLIDoc_AppendJSON(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	if code, _, errs := waybill(t, `{"kind":"manual","payload":{"note":"first"}}`, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 {
		t.Fatalf("append: %s", errs)
	}
	in, _ := docVector(t)
	code, out, errs := waybill(t, in, "log", "append", "--json", "--data", data, "--key", key)
	if code != 1 || !strings.HasSuffix(errs, "waybill: 3 input line(s) not appended, of 5 read (see the error lines above); every other line was appended\n") {
		t.Errorf("append --json: exit %d, stderr %q; want 1 and the count", code, errs)
	}
	checkGolden(t, "append-json", out)
	for _, line := range strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n") {
		var a appendAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil || a.Line == 0 || (a.Status == "appended") != (a.Seq != nil) || (a.Status == "appended") == (a.Error != "") {
			t.Errorf("answer %q: %v", line, err)
		}
	}
	checkMembers(t, "append-json", reflect.TypeOf(appendAnswer{}))
}

// TestCLIDoc_AnswerJSON converts each form of answer line of
// localapi.AppendStream (LOCALAPI.md §2) to its --json line.
func TestCLIDoc_AnswerJSON(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"7\n", `{"line":1,"status":"appended","seq":7}`},
		{"error: line 1: empty line (skipped)\n", `{"line":1,"status":"skipped","error":"empty line"}`},
		{"error: line 1: eventlog: no space left on device (not appended)\n", `{"line":1,"status":"not_appended","error":"eventlog: no space left on device"}`},
		{"error: line 1: not appended: appending stopped at line 3, which was not appended\n", `{"line":1,"status":"not_appended","error":"appending stopped at line 3, which was not appended"}`},
	} {
		var b bytes.Buffer
		w := &answerJSON{w: &b}
		// Written in two pieces: a line's answer waits for its line end.
		if _, err := w.Write([]byte(tt.in[:1])); err != nil || b.Len() != 0 {
			t.Errorf("%q: a partial line wrote %q, %v", tt.in, b.String(), err)
		}
		if _, err := w.Write([]byte(tt.in[1:])); err != nil || b.String() != tt.want+"\n" {
			t.Errorf("%q: got %q, %v; want %s", tt.in, b.String(), err, tt.want)
		}
	}
	w := &answerJSON{w: new(bytes.Buffer)}
	if _, err := w.Write([]byte("not an answer\n")); err == nil {
		t.Error("an answer line of no known form was converted")
	}
}

// TestCLIDoc_ShowAndCheck checks a log show line and the log check --json
// object against CLI.md's vectors, and the key --json object.
func TestCLIDoc_ShowAndCheck(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	if code, _, errs := waybill(t, `{"kind":"manual","payload":{"note":"zero"}}`, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 {
		t.Fatalf("append: %s", errs)
	}
	if code, _, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	code, out, errs := waybill(t, "", "log", "show", "--data", data)
	if code != 0 {
		t.Fatalf("log show: exit %d: %s", code, errs)
	}
	checkShape(t, "show-line", out)
	// Without its leaf member the line is the leaf.
	line := strings.TrimSuffix(vector(t, "show-line"), "\n")
	i := strings.LastIndex(line, `,"leaf":"`)
	leaf, err := base64.StdEncoding.DecodeString(line[i+len(`,"leaf":"`) : len(line)-2])
	if err != nil || string(leaf) != line[:i]+"}" {
		t.Errorf("CLI.md's cli:show-line without its leaf member is not its leaf (%v)", err)
	}

	code, out, errs = waybill(t, "", "log", "check", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("log check --json: exit %d: %s", code, errs)
	}
	checkShape(t, "check", out)
	checkMembers(t, "check", reflect.TypeOf(checkJSON{}))
	var c checkJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil || !c.OK || c.Dir != data || c.Size != 1 || c.Events != 1 || c.Checkpoints != 1 || c.Problem != "" {
		t.Errorf("log check --json = %s (%v)", out, err)
	}

	code, out, errs = waybill(t, "", "key", "show", "--json", "--key", key, "--fleet", "brussels-north")
	if code != 0 {
		t.Fatalf("key show --json: exit %d: %s", code, errs)
	}
	checkShape(t, "key", out)
	checkMembers(t, "key", reflect.TypeOf(keyJSON{}))
}

// TestCLIDoc_CheckFindsProblem checks that log check --json reports a
// damaged log as one object with ok false and the problem, exit 1.
func TestCLIDoc_CheckFindsProblem(t *testing.T) {
	dir, key, _, _ := keyed(t)
	data := filepath.Join(dir, "log")
	seedLog(t, data, key)
	if err := os.WriteFile(filepath.Join(data, "manifest.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := waybill(t, "", "log", "check", "--json", "--data", data)
	var c checkJSON
	if err := json.Unmarshal([]byte(out), &c); code != 1 || err != nil || c.OK || c.Problem == "" {
		t.Errorf("log check --json of a damaged log: exit %d, %s (%v); want 1 and a problem", code, out, err)
	}
	if shape(t, out) != shape(t, vector(t, "check")) {
		t.Errorf("log check --json of a damaged log has another shape: %s", out)
	}
}

// TestCLIDoc_Verify checks verify --json on PROTOCOL.md's vectors against
// CLI.md's.
func TestCLIDoc_Verify(t *testing.T) {
	td := filepath.Join("..", "..", "..", "firmware-docs", "testdata")
	for _, tt := range []struct {
		name string
		exit int
		args []string
	}{
		{"verify-bundle", 0, []string{filepath.Join(td, "bundle.json")}},
		{"verify-invalid", 1, []string{"--device", "0x0000000000000000000000000000000000000001", filepath.Join(td, "bundle.json")}},
		{"verify-consistency", 0, []string{filepath.Join(td, "consistency.json")}},
		{"verify-fork", 0, []string{filepath.Join(td, "fork", "events.json")}},
	} {
		code, out, errs := waybill(t, "", append([]string{"verify", "--json"}, tt.args...)...)
		if code != tt.exit {
			t.Errorf("%s: exit %d, want %d; stderr %q", tt.name, code, tt.exit, errs)
		}
		checkGolden(t, tt.name, out)
		checkMembers(t, tt.name, reflect.TypeOf(verifyJSON{}))
	}
	// A file that is none of the forms: invalid, form "".
	code, out, _ := waybill(t, `{"a":1}`, "verify", "--json", "-")
	var v verifyJSON
	if err := json.Unmarshal([]byte(out), &v); code != 1 || err != nil || v.Form != "" || v.Result != resultInvalid || v.Error == "" {
		t.Errorf("verify --json of an unknown object: exit %d, %q", code, out)
	}
	// Exit 2: nothing to read, no object printed.
	code, out, errs := waybill(t, "", "verify", "--json", filepath.Join(t.TempDir(), "absent.json"))
	if code != 2 || out != "" || !strings.Contains(errs, "absent.json") {
		t.Errorf("verify --json of a missing file: exit %d, stdout %q, stderr %q; want 2, nothing, the file", code, out, errs)
	}
}

// TestCLIDoc_ConfigCheck checks config check --json against CLI.md's
// vectors.
func TestCLIDoc_ConfigCheck(t *testing.T) {
	code, out, _ := waybill(t, "", "config", "check", "--json", "testdata/cli/bad.yaml")
	if code != 1 {
		t.Errorf("config check --json of a bad file: exit %d, want 1", code)
	}
	checkGolden(t, "config-invalid", out)
	checkMembers(t, "config-invalid", reflect.TypeOf(configJSON{}))
	// config-ok names configs/van.yaml from the repository's root.
	want := vector(t, "config-ok")
	t.Chdir(filepath.Join("..", "..", ".."))
	code, out, errs := waybill(t, "", "config", "check", "--json", "--no-files", "configs/van.yaml")
	if code != 0 || out != want {
		t.Errorf("config check --json configs/van.yaml: exit %d, stderr %q\n got: %s\nwant: %s", code, errs, out, want)
	}
	// A missing file: an object with the error.
	code, out, _ = waybill(t, "", "config", "check", "--json", "absent.yaml")
	var c configJSON
	if err := json.Unmarshal([]byte(out), &c); code != 1 || err != nil || c.OK || c.Error == "" || len(c.Problems) != 0 {
		t.Errorf("config check --json of a missing file: exit %d, %q", code, out)
	}
}

// TestCLIDoc_Bench checks that CLI.md's bench vector has the members
// bench --json prints (TestCLI_Bench runs it).
func TestCLIDoc_Bench(t *testing.T) {
	checkMembers(t, "bench", reflect.TypeOf(bench.Result{}))
	b, err := json.Marshal(bench.Result{})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := shape(t, string(b)), shape(t, vector(t, "bench")); g != w {
		t.Errorf("bench --json has another shape than CLI.md's:\n got: %s\nwant: %s", g, w)
	}
}

// TestCLIDoc_ExitStatus checks CLI.md §2 for each kind of outcome.
func TestCLIDoc_ExitStatus(t *testing.T) {
	td := filepath.Join("..", "..", "..", "firmware-docs", "testdata")
	for _, tt := range []struct {
		exit int
		args []string
	}{
		{0, []string{"verify", filepath.Join(td, "bundle.json")}},
		{0, []string{"log", "show", "-h"}},
		{0, []string{"help", "verify"}},
		{1, []string{"verify", "--device", "0x0000000000000000000000000000000000000001", filepath.Join(td, "bundle.json")}},
		{1, []string{"config", "check", "testdata/cli/bad.yaml"}},
		{1, []string{"log", "show", "--data", t.TempDir()}},
		{2, []string{"log", "show"}},
		{2, []string{"log", "show", "--data", "x", "--nope"}},
		{2, []string{"nope"}},
		{2, []string{"verify", filepath.Join(t.TempDir(), "absent.json")}},
	} {
		code, _, errs := waybill(t, "", tt.args...)
		if code != tt.exit {
			t.Errorf("waybill %s: exit %d, want %d (stderr %q)", strings.Join(tt.args, " "), code, tt.exit, errs)
		}
		if code != 0 && !strings.HasPrefix(errs, "waybill: ") {
			t.Errorf("waybill %s: stderr %q does not start with the reason", strings.Join(tt.args, " "), errs)
		}
	}
}

// TestCLIDoc_SensorsDecode decodes drivers/nmea's test recording and
// compares the fixes with CLI.md's.
func TestCLIDoc_SensorsDecode(t *testing.T) {
	code, out, errs := waybill(t, "", "sensors", "decode", "--driver", "nmea", filepath.Join("..", "..", "..", "drivers", "nmea", "testdata", "decode.nmea"))
	if code != 0 || !strings.Contains(errs, "3 fixes from 8 sentences (1 bad checksums, 0 parse errors)") {
		t.Errorf("sensors decode: exit %d, stderr %q", code, errs)
	}
	checkGolden(t, "sensors-decode-nmea", out)
}

// TestCLIDoc_EveryVectorChecked checks that a test of this package names
// each of CLI.md's vectors: none is an example nothing checks.
func TestCLIDoc_EveryVectorChecked(t *testing.T) {
	tests, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, f := range tests {
		if f == "clidoc_test.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	self, err := os.ReadFile("clidoc_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// This file's uses: the name as an argument, not in this test.
	own, _, _ := strings.Cut(string(self), "func TestCLIDoc_EveryVectorChecked")
	src.WriteString(own)
	for name := range cliDoc(t) {
		if !strings.Contains(src.String(), `"`+name+`"`) {
			t.Errorf("CLI.md's cli:%s is checked by no test", name)
		}
	}
}
