package anchor

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the anchoring loop ledger-neutral: it links no Ethereum
// client and no MQTT client, so a non-EVM backend brings only its own.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/ethereum/go-ethereum",
		"github.com/eclipse/paho.mqtt.golang",
		"github.com/waybill-eu/waybill/sync/feed",
		"github.com/waybill-eu/waybill/agent/eventlog",
		"github.com/waybill-eu/waybill/agent/system",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("sync/anchor depends on %s", dep)
			}
		}
	}
}
