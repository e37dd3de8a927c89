package pgarchive

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the version of the newest schema this package knows:
// the number of its last migration.
const SchemaVersion = 2

// ErrSchemaTooNew is the error (under errors.Is) of opening an archive
// whose schema a newer version of the watcher migrated past SchemaVersion.
var ErrSchemaTooNew = errors.New("pgarchive: the archive's schema is newer than this watcher knows")

// ErrSchemaMismatch is the error (under errors.Is) of opening an archive
// in which a migration of a known version was applied with other SQL than
// this package's.
var ErrSchemaMismatch = errors.New("pgarchive: an applied migration differs from this watcher's")

// lockKey is the key of the advisory lock under which migrations run, so
// that watchers starting at once on one database migrate it one at a time:
// the first 8 bytes of SHA-256("waybill watch archive migrations") read as
// a signed big-endian integer.
var lockKey = func() int64 {
	h := sha256.Sum256([]byte("waybill watch archive migrations"))
	var k int64
	for _, b := range h[:8] {
		k = k<<8 | int64(b)
	}
	return k
}()

// migration is one numbered SQL file of migrations/: NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
	sum     string // hex SHA-256 of sql
}

// loadMigrations reads the migrations of fsys (its *.sql files, at the
// top), which must be numbered 1, 2, … without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for i, n := range names { // fs.Glob returns sorted names
		num, name, ok := strings.Cut(strings.TrimSuffix(path.Base(n), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("pgarchive: migration %s: name is not NNNN_name.sql", n)
		}
		if v != i+1 {
			return nil, fmt.Errorf("pgarchive: migration %s: version %d, want %d", n, v, i+1)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, sql: string(b), sum: hex.EncodeToString(sum[:])})
	}
	return ms, nil
}

func embeddedMigrations() []migration {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	ms, err := loadMigrations(sub)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	if len(ms) != SchemaVersion {
		panic(fmt.Sprintf("pgarchive: %d migrations embedded, SchemaVersion is %d", len(ms), SchemaVersion))
	}
	return ms
}

// migrate brings the database's schema to the last of ms: each migration
// not yet applied is applied in a transaction of its own, which also
// records it in schema_migrations, under the advisory lock lockKey. It
// refuses a database whose schema is newer than ms (ErrSchemaTooNew) or
// whose applied migrations differ from ms (ErrSchemaMismatch), and returns
// the schema version it leaves.
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) (int, error) {
	for {
		v, done, err := migrateStep(ctx, pool, ms)
		if err != nil || done {
			return v, err
		}
	}
}

// migrateStep applies the first migration of ms not yet applied, in one
// transaction; done is set when there was none.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, ms []migration) (version int, done bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("pgarchive: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		return 0, false, fmt.Errorf("pgarchive: migrate: lock: %w", err)
	}
	_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	sha256     text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`)
	if err != nil {
		return 0, false, fmt.Errorf("pgarchive: migrate: create schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT version, name, sha256 FROM schema_migrations ORDER BY version")
	if err != nil {
		return 0, false, fmt.Errorf("pgarchive: migrate: read schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (migration, error) {
		var m migration
		err := r.Scan(&m.version, &m.name, &m.sum)
		return m, err
	})
	if err != nil {
		return 0, false, fmt.Errorf("pgarchive: migrate: read schema_migrations: %w", err)
	}
	for i, a := range applied {
		if a.version > len(ms) {
			return a.version, false, fmt.Errorf("%w: schema_migrations holds version %d (%s), this watcher knows versions up to %d: run a watcher at least as new as the one that migrated the archive",
				ErrSchemaTooNew, a.version, a.name, len(ms))
		}
		if a.version != i+1 || a.sum != ms[i].sum {
			return a.version, false, fmt.Errorf("%w: schema_migrations version %d (%s, SHA-256 %s) is not this watcher's migration %d (%s, SHA-256 %s)",
				ErrSchemaMismatch, a.version, a.name, a.sum, ms[i].version, ms[i].name, ms[i].sum)
		}
	}
	if len(applied) == len(ms) {
		return len(ms), true, tx.Commit(ctx)
	}
	m := ms[len(applied)]
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return len(applied), false, fmt.Errorf("pgarchive: migration %d (%s): %w", m.version, m.name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)", m.version, m.name, m.sum); err != nil {
		return len(applied), false, fmt.Errorf("pgarchive: migration %d (%s): record it: %w", m.version, m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return len(applied), false, fmt.Errorf("pgarchive: migration %d (%s): commit: %w", m.version, m.name, err)
	}
	return m.version, false, nil
}
