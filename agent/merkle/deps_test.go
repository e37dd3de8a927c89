package merkle

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: the Merkle package links only the standard library, so that
// any verifier can vendor it.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(p, "/")
		if strings.Contains(first, ".") && !strings.HasPrefix(p, "github.com/waybill-eu/waybill/agent/merkle") {
			t.Errorf("agent/merkle links %s, which is not in the standard library", p)
		}
	}
}
