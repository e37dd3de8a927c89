package ebsi_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the backend lean: the agent binary that links it links no
// test machinery, no simulated chain, no stand-in and no log.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"testing",
		"net/http/httptest",
		"github.com/ethereum/go-ethereum/ethclient/simulated",
		"github.com/eclipse/paho.mqtt.golang",
		"github.com/waybill-eu/waybill/sync/anchor/ebsi/ebsitest",
		"github.com/waybill-eu/waybill/sync/anchor/ebsi/standin",
		"github.com/waybill-eu/waybill/agent/eventlog",
		"github.com/waybill-eu/waybill/agent/system",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("sync/anchor/ebsi depends on %s", dep)
			}
		}
	}
}
