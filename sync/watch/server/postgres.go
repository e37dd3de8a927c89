package server

import (
	"context"
	"fmt"

	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/pgarchive"
	"github.com/waybill-eu/waybill/sync/watch/watchconfig"
)

// openPostgres opens the PostgreSQL archive a configures.
func openPostgres(ctx context.Context, a watchconfig.Archive) (watch.Archive, func() error, error) {
	dsn, err := readDSN(a)
	if err != nil {
		return nil, nil, err
	}
	p, err := pgarchive.Open(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("archive: %w", err)
	}
	return p, func() error { p.Close(); return nil }, nil
}
