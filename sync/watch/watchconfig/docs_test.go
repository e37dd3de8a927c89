package watchconfig

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocs parses the example of firmware-docs/WATCH-CONFIG.md, and checks
// that its tables name every field of the schema and no other.
func TestDocs(t *testing.T) {
	data, err := os.ReadFile("../../../firmware-docs/WATCH-CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	_, ex, ok := strings.Cut(doc, "## Example")
	if !ok {
		t.Fatal("WATCH-CONFIG.md has no Example section")
	}
	_, ex, _ = strings.Cut(ex, "```yaml\n")
	ex, _, _ = strings.Cut(ex, "```")
	c, err := Parse("WATCH-CONFIG.md", []byte(ex))
	if err != nil {
		t.Fatalf("the example does not parse:\n%v", err)
	}
	if c.Ledger == nil || c.Ledger.Confirmations() != 2 || c.Listen == "" || c.Archive.Bolt == "" {
		t.Errorf("the example parsed to %+v", c)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)`(?:, `([a-z_]+)`)? \\|").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
		if m[2] != "" {
			documented[m[2]] = true
		}
	}
	for _, m := range regexp.MustCompile("(?m)^### `([a-z_]+)`").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	schema := map[string]bool{}
	for _, k := range slices.Concat(topKeys, deviceKeys, brokerKeys, ledgerKeys, archiveKeys, witnessKeys, httpKeys, shardKeys) {
		if !documented[k] {
			t.Errorf("WATCH-CONFIG.md does not document the field %q", k)
		}
		schema[k] = true
	}
	// Fields documented in prose: the operator's and EBSI's.
	for _, k := range slices.Concat(operatorKeys, ebsiKeys) {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("WATCH-CONFIG.md does not name the field %q", k)
		}
	}
	for k := range documented {
		if schema[k] {
			continue
		}
		t.Errorf("WATCH-CONFIG.md documents %q, which is no field", k)
	}
}
