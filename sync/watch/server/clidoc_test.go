package server

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/sync/watch/watchbench"
)

// watchVectors returns the blocks of firmware-docs/CLI.md marked
// watchcli:NAME, by name.
func watchVectors(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../../firmware-docs/CLI.md")
	if err != nil {
		t.Fatal(err)
	}
	vs := map[string]string{}
	rest := string(b)
	for {
		_, after, ok := strings.Cut(rest, " watchcli:")
		if !ok {
			return vs
		}
		name, body, _ := strings.Cut(after, "\n")
		body, rest, _ = strings.Cut(body, "```")
		vs[name] = body
	}
}

// members returns the member names of a JSON object, in order.
func members(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q is not a JSON object", s)
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// TestCLIDoc checks the vectors of CLI.md §17 against what the code
// writes: the CSV header, and the members of /healthz's and bench's JSON.
func TestCLIDoc(t *testing.T) {
	vs := watchVectors(t)
	for _, name := range []string{"healthz", "export-csv-header", "bench"} {
		if _, ok := vs[name]; !ok {
			t.Fatalf("CLI.md has no watchcli:%s", name)
		}
	}
	if got := strings.TrimSpace(vs["export-csv-header"]); got != strings.Join(csvHeader, ",") {
		t.Errorf("CLI.md's CSV header %q, export writes %q", got, strings.Join(csvHeader, ","))
	}
	h := Health{OK: true, Brokers: []BrokerHealth{{Name: "city", Connected: true, Subscribed: true}}}
	b, _ := json.Marshal(h)
	if got, want := strings.TrimSpace(vs["healthz"]), string(b); got != want {
		t.Errorf("CLI.md's /healthz %s, the server writes %s", got, want)
	}
	r := watchbench.Result{}
	b, _ = json.Marshal(r)
	if got, want := members(t, vs["bench"]), members(t, string(b)); !reflect.DeepEqual(got, want) {
		t.Errorf("CLI.md's bench --json has the members %v; Result has %v", got, want)
	}
	var doc watchbench.Result
	if err := json.Unmarshal([]byte(vs["bench"]), &doc); err != nil {
		t.Errorf("CLI.md's bench --json: %v", err)
	}
}

// TestWatchDoc_CosignedTopic checks the topic of WATCH.md §7.1 against
// CosignedTopic.
func TestWatchDoc_CosignedTopic(t *testing.T) {
	doc, err := os.ReadFile("../../../firmware-docs/WATCH.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "    "+CosignedTopicRoot+"/{key ID}/{fleet}/{device}/{epoch}\n") {
		t.Errorf("WATCH.md §7.1 does not give the topic %s/{key ID}/{fleet}/{device}/{epoch}", CosignedTopicRoot)
	}
	var d [20]byte
	d[19] = 0xab
	if got, want := CosignedTopic(0x0102a304, "north", d, 7), "waybill/witness/v1/0102a304/north/0x00000000000000000000000000000000000000ab/7"; got != want {
		t.Errorf("CosignedTopic = %s, want %s", got, want)
	}
}
