package witness

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the stock note implementations out of the witness (and so
// out of every binary that links it): they are for tests only.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"testing",
		"github.com/transparency-dev",
		"filippo.io",
		"golang.org/x/mod/sumdb/note",
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("sync/witness depends on %s", dep)
			}
		}
	}
}
