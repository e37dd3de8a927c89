package system

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/sync/anchor/simchain"
)

// TestAnchor_NodeOnAnotherChain runs a System whose log signs for chain 5
// against a ledger node on chain 1337: the anchoring refuses the node,
// naming both chain IDs, and sends nothing; the log goes on.
func TestAnchor_NodeOnAnotherChain(t *testing.T) {
	k, err := devkey.FromHex(testKey)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := simchain.Start(50*time.Millisecond, common.Address(k.Address()))
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	cfg := &config.Config{Anchor: &config.Anchor{Backend: config.AnchorEVM, Contract: chain.Registry.Hex(), Finality: "qbft",
		EveryEvents: 1, Every: time.Hour, MaxFeeGwei: 100}}
	id := eventlog.Identity{Device: k.Address(), Fleet: "system-test", ChainID: 5}
	dir := t.TempDir()
	o := Options{Config: cfg, NoLocalAPI: true, Client: chain.Client, AnchorPoll: 50 * time.Millisecond,
		Key: func(context.Context) (*devkey.Key, error) { return k, nil },
		OpenLog: func(ctx context.Context, _ *devkey.Key) (*eventlog.Log, error) {
			return eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: k})
		}}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	appendManual(t, s.Log(), 2)
	want := "node is on chain 1337, configured chain is 5"
	waitUntil(t, "the anchoring reports the node's chain", func() bool {
		s.Notify()
		return strings.Contains(s.Anchor().Status().Err, want)
	})
	if n := s.Anchor().Anchored(s.Log().Origin()); n != 0 {
		t.Errorf("anchored %d events on a chain the log does not sign for", n)
	}
	if st := s.Anchor().Status(); st.Confirmed != 0 || st.InFlight != nil {
		t.Errorf("anchor status = %+v; want nothing sent", st)
	}
	cancel()
	within(t, "Run", func() error { return <-done })
}
