// Command waybill-watch is the feed watcher of a city's traffic team: it
// verifies, witnesses and archives the devices' signed feeds. Run
// `waybill-watch help` for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/waybill-eu/waybill/sync/watch/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
