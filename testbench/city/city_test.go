package city

import (
	"context"
	"testing"
	"time"
)

// TestCity publishes a small city's feeds through a real Mosquitto into a
// watcher: a few events each, spread over an interval, then an outage of
// the broker during which every device builds a backlog, then the broker
// back. Every event every device signed must be verified exactly once,
// archived byte for byte, and covered by a verified checkpoint; nothing is
// rejected.
func TestCity(t *testing.T) {
	for _, tc := range []struct {
		name     string
		postgres bool
	}{{"bolt", false}, {"postgres", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 20, tc.postgres)
			ctx := context.Background()
			if err := r.city.Drive(ctx, 200*time.Millisecond, 3); err != nil {
				t.Fatal(err)
			}
			r.waitVerified()

			r.broker.Stop()
			if err := r.city.Backlog(ctx, 10, 2); err != nil {
				t.Fatal(err)
			}
			r.broker.Restart()
			r.waitVerified()
			if err := r.city.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			r.waitCheckpointed()
			r.stop()

			if err := r.obs.Check(); err != nil {
				t.Fatal(err)
			}
			if err := r.checkArchive(); err != nil {
				t.Fatal(err)
			}
			c := r.obs.Counts()
			if c.Events != 20*13 || c.Events != r.city.Size() {
				t.Fatalf("%d events verified, %d signed, want %d", c.Events, r.city.Size(), 20*13)
			}
			t.Logf("%+v", c)
		})
	}
}
