// Package pgarchive is a watch.Archive (and watch.FrontierStore) in
// PostgreSQL, through pgx, for a city's deployment: several watchers write
// one archive at once, and what they write is idempotent (an event is one
// row per device, epoch and sequence number, whoever stored it first and
// however often it is stored again) and monotonic (the per-origin marks
// and frontiers only move up). Each write is a single statement, so a
// failure leaves nothing half-written.
//
// The schema is versioned: Open applies the migrations this package embeds
// that the database lacks, each in a transaction of its own under an
// advisory lock, and refuses a database migrated by a newer watcher
// (ErrSchemaTooNew). The tables, their keys and what a city's own tools
// may read are specified in firmware-docs/WATCH-ARCHIVE.md.
package pgarchive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/sync/watch"
)

// page is how many rows a listing reads at a time. Listings call their
// function between pages, holding no connection, so that the function
// may use the archive.
const page = 1000

// Archive is a watch.Archive in a PostgreSQL database. Its methods are
// safe for concurrent use, and several Archives (in one process or many)
// may share one database.
type Archive struct {
	pool *pgxpool.Pool
}

// DefaultMaxConns is the size of the pool when the database URL does not
// set pool_max_conns. A watcher handles the messages of different devices
// concurrently (the subscriber's lanes, 4 per broker by default), and the
// ledger readers and HTTP requests read the archive meanwhile; each write
// is a statement committed on its own connection, and concurrent commits
// share the server's WAL flushes. pgxpool's own default, the larger of 4
// and the number of CPUs, would have the lanes wait for connections.
const DefaultMaxConns = 16

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string; pgxpool's pool_* parameters size the pool, of DefaultMaxConns
// connections unless pool_max_conns is set), migrates its schema to
// SchemaVersion and returns the archive. It fails with ErrSchemaTooNew
// when a newer watcher migrated the database further.
func Open(ctx context.Context, dsn string) (*Archive, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgarchive: database URL: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pgarchive: connect to %s: %w", where(cfg), err)
	}
	if _, err := migrate(ctx, pool, embeddedMigrations()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w (%s)", err, where(cfg))
	}
	return &Archive{pool: pool}, nil
}

// where names the database of cfg for errors, without its password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %q on %s:%d as %q", c.Database, c.Host, c.Port, c.User)
}

// Close closes the archive's connections.
func (a *Archive) Close() { a.pool.Close() }

// Ping reports whether the database answers: the watcher's /healthz asks
// it, so that a database that is down shows before a write fails.
func (a *Archive) Ping(ctx context.Context) error {
	if err := a.check(a.pool.Ping(ctx)); err != nil {
		return fmt.Errorf("pgarchive: the database does not answer: %w", err)
	}
	return nil
}

// check returns err, first dropping every connection of the pool when err
// says the server closed a connection (it restarted, or an administrator
// ended the backend): the pool's other connections are likely as dead, and
// the next call should not meet them.
func (a *Archive) check(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || strings.HasPrefix(pe.Code, "57") { // class 57: operator intervention
		a.pool.Reset()
	}
	return err
}

// nz returns b, or an empty slice for nil (nil is SQL NULL).
func nz(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// text returns s as PostgreSQL text holds it: valid UTF-8 without NUL.
func text(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	return strings.ReplaceAll(s, "\x00", string(utf8.RuneError))
}

// PutEvent implements watch.Archive. The event and the origin's count are
// written in one statement: the row is new, or it is another's, stored
// before.
func (a *Archive) PutEvent(ctx context.Context, k watch.Key, leaf []byte) (prev []byte, err error) {
	var stored int
	err = a.pool.QueryRow(ctx, `
WITH ins AS (
	INSERT INTO events (device, epoch, seq, leaf) VALUES ($1, $2, $3, $4)
	ON CONFLICT (device, epoch, seq) DO NOTHING
	RETURNING device, epoch
), counted AS (
	INSERT INTO origins AS o (device, epoch, events) SELECT device, epoch, 1 FROM ins
	ON CONFLICT (device, epoch) DO UPDATE SET events = o.events + 1
)
SELECT count(*) FROM ins`, k.Device[:], k.Epoch, k.Seq, nz(leaf)).Scan(&stored)
	if err == nil && stored == 0 {
		// The row is another's: ON CONFLICT waited for its transaction,
		// so this statement's snapshot sees it.
		err = a.pool.QueryRow(ctx, "SELECT leaf FROM events WHERE device = $1 AND epoch = $2 AND seq = $3",
			k.Device[:], k.Epoch, k.Seq).Scan(&prev)
	}
	if err != nil {
		return nil, fmt.Errorf("pgarchive: archive event %s/%d/%d: %w", k.Device, k.Epoch, k.Seq, a.check(err))
	}
	return prev, nil
}

// Leaves implements watch.Archive.
func (a *Archive) Leaves(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(seq uint64, leaf []byte) bool) error {
	type row struct {
		seq  uint64
		leaf []byte
	}
	for {
		rows, err := a.pool.Query(ctx, "SELECT seq, leaf FROM events WHERE device = $1 AND epoch = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
			device[:], epoch, from, page)
		var rs []row
		if err == nil {
			rs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (x row, err error) {
				err = r.Scan(&x.seq, &x.leaf)
				return x, err
			})
		}
		if err != nil {
			return fmt.Errorf("pgarchive: archived events of %s/%d: %w", device, epoch, a.check(err))
		}
		for _, r := range rs {
			if !fn(r.seq, r.leaf) {
				return nil
			}
		}
		if len(rs) < page || rs[len(rs)-1].seq == math.MaxUint64 {
			return nil
		}
		from = rs[len(rs)-1].seq + 1
	}
}

// noteKind names the checkpoints of each table of notes in errors.
var noteKind = map[string]string{"checkpoints": "verified", "received": "received", "cosigned": "cosigned"}

// putNote stores note in table (checkpoints, received or cosigned) under
// its size unless one is stored, and raises the origin's mark (a column of
// origins; "" for none) to size, in one statement.
func (a *Archive) putNote(ctx context.Context, table, mark string, device event.Address, epoch uint32, size uint64, note []byte) error {
	q := "INSERT INTO " + table + " (device, epoch, size, note) VALUES ($1, $2, $3, $4) ON CONFLICT (device, epoch, size) DO NOTHING"
	if mark != "" {
		q = "WITH ins AS (" + q + `)
INSERT INTO origins AS o (device, epoch, ` + mark + `) VALUES ($1, $2, $3)
ON CONFLICT (device, epoch) DO UPDATE SET ` + mark + ` = GREATEST(o.` + mark + `, excluded.` + mark + `)
WHERE o.` + mark + ` < excluded.` + mark
	}
	if _, err := a.pool.Exec(ctx, q, device[:], epoch, size, nz(note)); err != nil {
		return fmt.Errorf("pgarchive: archive %s checkpoint %d of %s/%d: %w", noteKind[table], size, device, epoch, a.check(err))
	}
	return nil
}

// lastNote returns the note of the largest size of device's epoch in table.
func (a *Archive) lastNote(ctx context.Context, table string, device event.Address, epoch uint32) ([]byte, error) {
	var note []byte
	err := a.pool.QueryRow(ctx, "SELECT note FROM "+table+" WHERE device = $1 AND epoch = $2 ORDER BY size DESC LIMIT 1",
		device[:], epoch).Scan(&note)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgarchive: archived %s checkpoint of %s/%d: %w", noteKind[table], device, epoch, a.check(err))
	}
	return note, nil
}

// PutCheckpoint implements watch.Archive.
func (a *Archive) PutCheckpoint(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error {
	return a.putNote(ctx, "checkpoints", "checkpointed", device, epoch, size, note)
}

// Checkpoint implements watch.Archive.
func (a *Archive) Checkpoint(ctx context.Context, device event.Address, epoch uint32) ([]byte, error) {
	return a.lastNote(ctx, "checkpoints", device, epoch)
}

// PutReceived implements watch.Archive.
func (a *Archive) PutReceived(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error {
	return a.putNote(ctx, "received", "", device, epoch, size, note)
}

// Received implements watch.Archive.
func (a *Archive) Received(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(size uint64, note []byte) bool) error {
	type row struct {
		size uint64
		note []byte
	}
	for {
		rows, err := a.pool.Query(ctx, "SELECT size, note FROM received WHERE device = $1 AND epoch = $2 AND size >= $3 ORDER BY size LIMIT $4",
			device[:], epoch, from, page)
		var rs []row
		if err == nil {
			rs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (x row, err error) {
				err = r.Scan(&x.size, &x.note)
				return x, err
			})
		}
		if err != nil {
			return fmt.Errorf("pgarchive: received checkpoints of %s/%d: %w", device, epoch, a.check(err))
		}
		for _, r := range rs {
			if !fn(r.size, r.note) {
				return nil
			}
		}
		if len(rs) < page || rs[len(rs)-1].size == math.MaxUint64 {
			return nil
		}
		from = rs[len(rs)-1].size + 1
	}
}

// PutCosigned implements watch.Archive.
func (a *Archive) PutCosigned(ctx context.Context, device event.Address, epoch uint32, size uint64, note []byte) error {
	return a.putNote(ctx, "cosigned", "cosigned", device, epoch, size, note)
}

// Cosigned implements watch.Archive.
func (a *Archive) Cosigned(ctx context.Context, device event.Address, epoch uint32) ([]byte, error) {
	return a.lastNote(ctx, "cosigned", device, epoch)
}

// PutAnchor implements watch.Archive. The merge is watch.Anchor.Merge's,
// in SQL: the larger confirmations with the block and source of that
// reading, final if either is.
func (a *Archive) PutAnchor(ctx context.Context, x watch.Anchor) error {
	_, err := a.pool.Exec(ctx, `
INSERT INTO anchors AS a (device, epoch, size, root, chain_id, tx, block, confirmations, final, source)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (device, epoch, size, root, chain_id, tx) DO UPDATE SET
	block = CASE WHEN excluded.confirmations > a.confirmations THEN excluded.block ELSE a.block END,
	source = CASE WHEN excluded.confirmations > a.confirmations THEN excluded.source ELSE a.source END,
	confirmations = GREATEST(a.confirmations, excluded.confirmations),
	final = a.final OR excluded.final
WHERE excluded.confirmations > a.confirmations OR (excluded.final AND NOT a.final)`,
		x.Device[:], x.Epoch, x.Size, x.Root[:], x.ChainID, x.Tx[:], x.Block, x.Confirmations, x.Final, text(x.Source))
	if err != nil {
		return fmt.Errorf("pgarchive: archive anchor of %s/%d at %d: %w", x.Device, x.Epoch, x.Size, a.check(err))
	}
	return nil
}

// Anchors implements watch.Archive: by size, then root, chain ID and
// transaction.
func (a *Archive) Anchors(ctx context.Context, device event.Address, epoch uint32, from uint64, fn func(watch.Anchor) bool) error {
	// After the key of the last anchor read; the first page starts below
	// every key of size from (a root and a transaction are 32 bytes, more
	// than the empty ones).
	size, root, chain, tx := from, []byte{}, uint64(0), []byte{}
	for {
		rows, err := a.pool.Query(ctx, `
SELECT size, root, chain_id, tx, block, confirmations, final, source FROM anchors
WHERE device = $1 AND epoch = $2 AND (size, root, chain_id, tx) > ($3, $4, $5, $6)
ORDER BY size, root, chain_id, tx LIMIT $7`, device[:], epoch, size, root, chain, tx, page)
		var xs []watch.Anchor
		if err == nil {
			xs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (watch.Anchor, error) {
				x := watch.Anchor{Device: device, Epoch: epoch}
				var root, tx []byte
				if err := r.Scan(&x.Size, &root, &x.ChainID, &tx, &x.Block, &x.Confirmations, &x.Final, &x.Source); err != nil {
					return x, err
				}
				if len(root) != 32 || len(tx) != 32 {
					return x, fmt.Errorf("anchor at %d has a root of %d bytes and a transaction of %d", x.Size, len(root), len(tx))
				}
				x.Root, x.Tx = [32]byte(root), [32]byte(tx)
				return x, nil
			})
		}
		if err != nil {
			return fmt.Errorf("pgarchive: archived anchors of %s/%d: %w", device, epoch, a.check(err))
		}
		for _, x := range xs {
			if !fn(x) {
				return nil
			}
		}
		if len(xs) < page {
			return nil
		}
		l := xs[len(xs)-1]
		size, root, chain, tx = l.Size, l.Root[:], l.ChainID, l.Tx[:]
	}
}

// raise raises the mark (a column of origins) of device's epoch to n.
func (a *Archive) raise(ctx context.Context, mark string, device event.Address, epoch uint32, n uint64) error {
	_, err := a.pool.Exec(ctx, `INSERT INTO origins AS o (device, epoch, `+mark+`) VALUES ($1, $2, $3)
ON CONFLICT (device, epoch) DO UPDATE SET `+mark+` = GREATEST(o.`+mark+`, excluded.`+mark+`)
WHERE o.`+mark+` < excluded.`+mark, device[:], epoch, n)
	if err != nil {
		return fmt.Errorf("pgarchive: archive %s mark of %s/%d: %w", mark, device, epoch, a.check(err))
	}
	return nil
}

// RaiseAnchored implements watch.Archive.
func (a *Archive) RaiseAnchored(ctx context.Context, device event.Address, epoch uint32, size uint64) error {
	return a.raise(ctx, "anchored", device, epoch, size)
}

// Progress implements watch.Archive.
func (a *Archive) Progress(ctx context.Context, device event.Address, epoch uint32) (watch.Progress, error) {
	var p watch.Progress
	err := a.pool.QueryRow(ctx, "SELECT events, checkpointed, anchored, cosigned FROM origins WHERE device = $1 AND epoch = $2",
		device[:], epoch).Scan(&p.Events, &p.Checkpointed, &p.Anchored, &p.Cosigned)
	if errors.Is(err, pgx.ErrNoRows) {
		return watch.Progress{}, nil
	}
	if err != nil {
		return watch.Progress{}, fmt.Errorf("pgarchive: progress of %s/%d: %w", device, epoch, a.check(err))
	}
	return p, nil
}

// Origins implements watch.Archive.
func (a *Archive) Origins(ctx context.Context, fn func(watch.Origin) bool) error {
	afterDev, afterEpoch := []byte{}, int64(-1) // below every origin
	for {
		rows, err := a.pool.Query(ctx, `
SELECT device, epoch, events, checkpointed, anchored, cosigned FROM origins
WHERE events > 0 AND (device, epoch) > ($1, $2) ORDER BY device, epoch LIMIT $3`, afterDev, afterEpoch, page)
		var os []watch.Origin
		if err == nil {
			os, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (watch.Origin, error) {
				var o watch.Origin
				var dev []byte
				p := &o.Progress
				if err := r.Scan(&dev, &o.Epoch, &p.Events, &p.Checkpointed, &p.Anchored, &p.Cosigned); err != nil {
					return o, err
				}
				if len(dev) != len(o.Device) {
					return o, fmt.Errorf("origin with a device of %d bytes", len(dev))
				}
				o.Device = event.Address(dev)
				return o, nil
			})
		}
		if err != nil {
			return fmt.Errorf("pgarchive: origins: %w", a.check(err))
		}
		for _, o := range os {
			if !fn(o) {
				return nil
			}
		}
		if len(os) < page {
			return nil
		}
		l := os[len(os)-1]
		afterDev, afterEpoch = l.Device[:], int64(l.Epoch)
	}
}

// PutFrontier implements watch.FrontierStore.
func (a *Archive) PutFrontier(ctx context.Context, device event.Address, epoch uint32, size uint64, nodes []merkle.Hash) error {
	b := make([]byte, 0, len(nodes)*len(merkle.Hash{}))
	for _, h := range nodes {
		b = append(b, h[:]...)
	}
	_, err := a.pool.Exec(ctx, `INSERT INTO frontiers AS f (device, epoch, size, nodes) VALUES ($1, $2, $3, $4)
ON CONFLICT (device, epoch) DO UPDATE SET size = excluded.size, nodes = excluded.nodes, updated_at = now()
WHERE f.size < excluded.size`, device[:], epoch, size, b)
	if err != nil {
		return fmt.Errorf("pgarchive: archive frontier of %s/%d at %d: %w", device, epoch, size, a.check(err))
	}
	return nil
}

// Frontier implements watch.FrontierStore.
func (a *Archive) Frontier(ctx context.Context, device event.Address, epoch uint32) (size uint64, nodes []merkle.Hash, err error) {
	var b []byte
	err = a.pool.QueryRow(ctx, "SELECT size, nodes FROM frontiers WHERE device = $1 AND epoch = $2", device[:], epoch).Scan(&size, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err == nil && len(b)%len(merkle.Hash{}) != 0 {
		err = fmt.Errorf("stored frontier is %d bytes", len(b))
	}
	if err != nil {
		return 0, nil, fmt.Errorf("pgarchive: archived frontier of %s/%d: %w", device, epoch, a.check(err))
	}
	for i := 0; i < len(b); i += len(merkle.Hash{}) {
		nodes = append(nodes, merkle.Hash(b[i:i+len(merkle.Hash{})]))
	}
	return size, nodes, nil
}

// AddEpoch implements watch.Archive.
func (a *Archive) AddEpoch(ctx context.Context, device event.Address, epoch uint32) (bool, error) {
	tag, err := a.pool.Exec(ctx, "INSERT INTO epochs (device, epoch) VALUES ($1, $2) ON CONFLICT (device, epoch) DO NOTHING", device[:], epoch)
	if err != nil {
		return false, fmt.Errorf("pgarchive: archive epoch %d of %s: %w", epoch, device, a.check(err))
	}
	return tag.RowsAffected() == 1, nil
}

// Epochs implements watch.Archive.
func (a *Archive) Epochs(ctx context.Context, device event.Address) ([]uint32, error) {
	rows, err := a.pool.Query(ctx, "SELECT epoch FROM epochs WHERE device = $1 ORDER BY epoch", device[:])
	var es []uint32
	if err == nil {
		es, err = pgx.CollectRows(rows, pgx.RowTo[uint32])
	}
	if err != nil {
		return nil, fmt.Errorf("pgarchive: epochs of %s: %w", device, a.check(err))
	}
	return es, nil
}

// PutAlarm implements watch.Archive.
func (a *Archive) PutAlarm(ctx context.Context, x watch.Alarm) (bool, error) {
	id := x.ID()
	tag, err := a.pool.Exec(ctx, `INSERT INTO alarms (id, time, device, epoch, reason, detail, evidence)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		id[:], x.Time.UTC(), x.Device[:], x.Epoch, text(string(x.Reason)), text(x.Detail), x.Evidence)
	if err != nil {
		return false, fmt.Errorf("pgarchive: archive %s alarm of %s/%d: %w", x.Reason, x.Device, x.Epoch, a.check(err))
	}
	return tag.RowsAffected() == 1, nil
}

// Alarms implements watch.Archive.
func (a *Archive) Alarms(ctx context.Context, fn func(watch.Alarm) bool) error {
	type row struct {
		n int64
		watch.Alarm
	}
	var after int64
	for {
		rows, err := a.pool.Query(ctx, "SELECT n, time, device, epoch, reason, detail, evidence FROM alarms WHERE n > $1 ORDER BY n LIMIT $2", after, page)
		var rs []row
		if err == nil {
			rs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (x row, err error) {
				var dev []byte
				if err := r.Scan(&x.n, &x.Time, &dev, &x.Epoch, &x.Reason, &x.Detail, &x.Evidence); err != nil {
					return x, err
				}
				if len(dev) != len(x.Device) {
					return x, fmt.Errorf("alarm %d has a device of %d bytes", x.n, len(dev))
				}
				x.Device, x.Time = event.Address(dev), x.Time.UTC()
				return x, nil
			})
		}
		if err != nil {
			return fmt.Errorf("pgarchive: alarms: %w", a.check(err))
		}
		for _, r := range rs {
			if !fn(r.Alarm) {
				return nil
			}
		}
		if len(rs) < page {
			return nil
		}
		after = rs[len(rs)-1].n
	}
}

// rejectedTable is where records of reason r are kept: unknown_device
// apart from the others.
func rejectedTable(r watch.Reason) string {
	if r == watch.ReasonUnknownDevice {
		return "unknown"
	}
	return "rejected"
}

// PutRejected implements watch.Archive.
func (a *Archive) PutRejected(ctx context.Context, r watch.Record) error {
	_, err := a.pool.Exec(ctx, "INSERT INTO "+rejectedTable(r.Reason)+" (time, topic, payload, reason, detail) VALUES ($1, $2, $3, $4, $5)",
		r.Time.UTC(), []byte(r.Topic), nz(r.Payload), text(string(r.Reason)), text(r.Detail))
	if err != nil {
		return fmt.Errorf("pgarchive: archive %s message: %w", r.Reason, a.check(err))
	}
	return nil
}

// Rejected implements watch.Archive.
func (a *Archive) Rejected(ctx context.Context, reason watch.Reason, fn func(watch.Record) bool) error {
	type row struct {
		n int64
		watch.Record
	}
	var after int64
	for {
		rows, err := a.pool.Query(ctx, "SELECT n, time, topic, payload, reason, detail FROM "+rejectedTable(reason)+
			" WHERE reason = $1 AND n > $2 ORDER BY n LIMIT $3", text(string(reason)), after, page)
		var rs []row
		if err == nil {
			rs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (x row, err error) {
				var topic []byte
				if err := r.Scan(&x.n, &x.Time, &topic, &x.Payload, &x.Reason, &x.Detail); err != nil {
					return x, err
				}
				x.Topic, x.Time = string(topic), x.Time.UTC()
				return x, nil
			})
		}
		if err != nil {
			return fmt.Errorf("pgarchive: %s messages: %w", reason, a.check(err))
		}
		for _, r := range rs {
			if !fn(r.Record) {
				return nil
			}
		}
		if len(rs) < page {
			return nil
		}
		after = rs[len(rs)-1].n
	}
}

var (
	_ watch.Archive       = (*Archive)(nil)
	_ watch.FrontierStore = (*Archive)(nil)
)
