package watche2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// archive reads the watchers' PostgreSQL archive directly, by the schema
// of firmware-docs/WATCH-ARCHIVE.md, as a city's own tools would.
type archive struct {
	db *pgxpool.Pool
}

func openArchive(t *testing.T, dsn string) *archive {
	t.Helper()
	db, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(db.Close)
	return &archive{db: db}
}

// tables are the archive's tables whose rows the test counts.
var tables = []string{"events", "origins", "epochs", "checkpoints", "received", "cosigned", "anchors", "alarms", "rejected", "unknown"}

// counts returns the number of rows of each table; a table the watcher
// has not created yet counts -1.
func (a *archive) counts(ctx context.Context) (map[string]int64, error) {
	n := map[string]int64{}
	for _, tb := range tables {
		var c int64
		if err := a.db.QueryRow(ctx, "SELECT count(*) FROM "+tb).Scan(&c); err != nil {
			if strings.Contains(err.Error(), "does not exist") {
				n[tb] = -1
				continue
			}
			return nil, fmt.Errorf("count %s: %w", tb, err)
		}
		n[tb] = c
	}
	return n, nil
}

// count returns the rows of one table, or -1 while it does not exist.
func (a *archive) count(ctx context.Context, table string) int64 {
	var c int64
	if err := a.db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&c); err != nil {
		return -1
	}
	return c
}

// origin is one row of origins.
type origin struct {
	Events, Checkpointed, Anchored, Cosigned int64
}

func (o origin) String() string {
	return fmt.Sprintf("events %d, checkpointed %d, anchored %d, cosigned %d", o.Events, o.Checkpointed, o.Anchored, o.Cosigned)
}

// origins returns the origins row of each device's epoch 0, by address.
func (a *archive) origins(ctx context.Context) (map[string]origin, error) {
	rows, err := a.db.Query(ctx, `SELECT '0x' || encode(device, 'hex'), events::bigint, checkpointed::bigint, anchored::bigint, cosigned::bigint
		FROM origins WHERE epoch = 0`)
	if err != nil {
		return nil, err
	}
	m := map[string]origin{}
	for rows.Next() {
		var addr string
		var o origin
		if err := rows.Scan(&addr, &o.Events, &o.Checkpointed, &o.Anchored, &o.Cosigned); err != nil {
			return nil, err
		}
		m[addr] = o
	}
	return m, rows.Err()
}

// states returns, for one device, how many archived events are in each
// state (the view event_states).
func (a *archive) states(ctx context.Context, addr string) (map[string]int64, error) {
	rows, err := a.db.Query(ctx, `SELECT state, count(*) FROM event_states WHERE address = $1 GROUP BY state`, addr)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		m[s] = n
	}
	return m, rows.Err()
}

// leaves returns the archived leaves of one device's epoch by seq, and
// fails on a key held twice.
func (a *archive) leaves(ctx context.Context, addr string, epoch int64) (map[int64][]byte, error) {
	rows, err := a.db.Query(ctx, `SELECT seq::bigint, leaf FROM events WHERE device = $1 AND epoch = $2 ORDER BY seq`, device(addr), epoch)
	if err != nil {
		return nil, err
	}
	m := map[int64][]byte{}
	for rows.Next() {
		var seq int64
		var leaf []byte
		if err := rows.Scan(&seq, &leaf); err != nil {
			return nil, err
		}
		if _, ok := m[seq]; ok {
			return nil, fmt.Errorf("event (%s, %d, %d) is archived twice", addr, epoch, seq)
		}
		m[seq] = leaf
	}
	return m, rows.Err()
}

// notes returns the notes of a checkpoint table (checkpoints, cosigned)
// of one device's epoch 0, by size.
func (a *archive) notes(ctx context.Context, table, addr string) (map[int64][]byte, error) {
	rows, err := a.db.Query(ctx, `SELECT size::bigint, note FROM `+table+` WHERE device = $1 AND epoch = 0 ORDER BY size`, device(addr))
	if err != nil {
		return nil, err
	}
	m := map[int64][]byte{}
	for rows.Next() {
		var size int64
		var note []byte
		if err := rows.Scan(&size, &note); err != nil {
			return nil, err
		}
		m[size] = note
	}
	return m, rows.Err()
}

// anchorRow is one row of anchors.
type anchorRow struct {
	Size    int64
	Root    []byte
	ChainID int64
	Tx      []byte
	Final   bool
}

// anchors returns the archived anchors of one device's epoch 0.
func (a *archive) anchors(ctx context.Context, addr string) ([]anchorRow, error) {
	rows, err := a.db.Query(ctx, `SELECT size::bigint, root, chain_id::bigint, tx, final FROM anchors
		WHERE device = $1 AND epoch = 0 ORDER BY size, tx`, device(addr))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (anchorRow, error) {
		var x anchorRow
		err := r.Scan(&x.Size, &x.Root, &x.ChainID, &x.Tx, &x.Final)
		return x, err
	})
}

// problems returns the alarms, rejected and unknown records, one line
// each, for a failure message.
func (a *archive) problems(ctx context.Context) ([]string, error) {
	var out []string
	for _, q := range []string{
		`SELECT 'alarm ' || reason || ': ' || detail FROM alarms ORDER BY n`,
		`SELECT 'rejected ' || reason || ' on ' || convert_from(topic, 'UTF8') || ': ' || detail FROM rejected ORDER BY n`,
		`SELECT 'unknown ' || reason || ' on ' || convert_from(topic, 'UTF8') || ': ' || detail FROM unknown ORDER BY n`,
	} {
		rows, err := a.db.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		s, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// device returns the 20 bytes of a 0x address.
func device(addr string) []byte {
	b, _ := hex.DecodeString(strings.TrimPrefix(addr, "0x"))
	return b
}

// missing returns the sequence numbers below size that the archive does
// not hold of one device's epoch 0.
func (a *archive) missing(ctx context.Context, addr string, size int64) ([]int64, error) {
	rows, err := a.db.Query(ctx, `SELECT s FROM generate_series(0, $2::bigint - 1) AS s
		WHERE NOT EXISTS (SELECT 1 FROM events WHERE device = $1 AND epoch = 0 AND seq = s) ORDER BY s`, device(addr), size)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
