package pgarchive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill-eu/waybill/testbench/postgres"
)

func pool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

type applied struct {
	version int
	name    string
	sum     string
	at      time.Time
}

func appliedMigrations(t *testing.T, c *pgx.Conn) []applied {
	t.Helper()
	rows, err := c.Query(context.Background(), "SELECT version, name, sha256, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (a applied, err error) {
		err = r.Scan(&a.version, &a.name, &a.sum, &a.at)
		return a, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func tableExists(t *testing.T, c *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigrate(t *testing.T) {
	s := postgres.Start(t)
	ctx := context.Background()
	ms := embeddedMigrations()

	// From an empty database every migration is applied and recorded;
	// opening again applies nothing.
	t.Run("EmptyAndAgain", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		c := connect(t, dsn)
		if tableExists(t, c, "events") {
			t.Fatal("a new database has an events table")
		}
		open(t, dsn).Close()
		first := appliedMigrations(t, c)
		if len(first) != SchemaVersion || first[0].version != 1 || first[0].name != "archive" || first[0].sum != ms[0].sum {
			t.Fatalf("schema_migrations = %+v, want version 1 (archive, %s)", first, ms[0].sum)
		}
		for _, table := range []string{"events", "origins", "epochs", "checkpoints", "received", "cosigned", "anchors", "alarms", "rejected", "unknown"} {
			if !tableExists(t, c, table) {
				t.Errorf("no table %s after migrating", table)
			}
		}
		open(t, dsn).Close()
		if again := appliedMigrations(t, c); len(again) != len(first) || again[0] != first[0] {
			t.Fatalf("opening again changed schema_migrations: %+v, was %+v", again, first)
		}
	})

	// The tables are made in the first schema of the search path the URL
	// gives.
	t.Run("SearchPath", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		c := connect(t, dsn)
		if _, err := c.Exec(ctx, "CREATE SCHEMA city"); err != nil {
			t.Fatal(err)
		}
		a := open(t, dsn+"&search_path=city")
		if _, err := a.AddEpoch(ctx, dev, 1); err != nil {
			t.Fatal(err)
		}
		if !tableExists(t, c, "city.schema_migrations") || !tableExists(t, c, "city.epochs") || tableExists(t, c, "public.epochs") {
			t.Fatal("the archive's tables are not in schema city alone")
		}
		if n := count(t, c, "SELECT count(*) FROM city.epochs"); n != 1 {
			t.Fatalf("city.epochs holds %d rows, want 1", n)
		}
	})

	// Watchers starting at once on an empty database migrate it once
	// between them, and all open.
	t.Run("AtOnce", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		const n = 6
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := Open(ctx, dsn)
				if err == nil {
					a.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if as := appliedMigrations(t, connect(t, dsn)); len(as) != SchemaVersion {
			t.Fatalf("schema_migrations = %+v after %d watchers started at once", as, n)
		}
	})

	// A database a newer watcher migrated is refused, saying which
	// versions; nothing is changed in it.
	t.Run("TooNew", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		open(t, dsn).Close()
		c := connect(t, dsn)
		if _, err := c.Exec(ctx, "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, 'future', 'ff')", SchemaVersion+1); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, dsn)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
		}
		t.Logf("Open: %v", err)
		for _, want := range []string{fmt.Sprintf("version %d (future)", SchemaVersion+1), fmt.Sprintf("versions up to %d", SchemaVersion), "database \"test"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if as := appliedMigrations(t, c); len(as) != SchemaVersion+1 {
			t.Fatalf("schema_migrations = %+v", as)
		}
	})

	// A database whose applied migration is not this package's is refused.
	t.Run("Mismatch", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		open(t, dsn).Close()
		if _, err := connect(t, dsn).Exec(ctx, "UPDATE schema_migrations SET sha256 = 'altered' WHERE version = 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, dsn); !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), "altered") {
			t.Fatalf("Open = %v, want ErrSchemaMismatch naming the applied SHA-256", err)
		}
	})

	// A migration that fails leaves nothing of itself (its transaction is
	// rolled back) and the schema at the version before; fixed, it applies.
	t.Run("FailedMigration", func(t *testing.T) {
		dsn := s.NewDatabase(t)
		p := pool(t, dsn)
		next := len(ms) + 1
		bad := append(ms[:len(ms):len(ms)], migration{version: next, name: "extra", sql: "CREATE TABLE extra (x int); INSERT INTO extra VALUES (1); SELECT 1/0;", sum: "bad"})
		v, err := migrate(ctx, p, bad)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d (extra)", next)) || v != len(ms) {
			t.Fatalf("migrate with a failing migration %d = %d, %v; want version %d and an error naming it", next, v, err, len(ms))
		}
		c := connect(t, dsn)
		if tableExists(t, c, "extra") {
			t.Fatal("the failed migration left its table")
		}
		if as := appliedMigrations(t, c); len(as) != len(ms) {
			t.Fatalf("schema_migrations = %+v, want versions up to %d", as, len(ms))
		}
		good := append(ms[:len(ms):len(ms)], migration{version: next, name: "extra", sql: "CREATE TABLE extra (x int);", sum: "good"})
		if v, err := migrate(ctx, p, good); err != nil || v != next || !tableExists(t, c, "extra") {
			t.Fatalf("migrate with migration %d fixed = %d, %v", next, v, err)
		}
		// This package's migrations alone now meet a newer database.
		if _, err := migrate(ctx, p, ms); !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("migrate = %v, want ErrSchemaTooNew", err)
		}
	})

	// An archive of every earlier version, with data, is brought to the
	// last; what it held stays.
	t.Run("Upgrade", func(t *testing.T) {
		for from := 1; from < len(ms); from++ {
			dsn := s.NewDatabase(t)
			if v, err := migrate(ctx, pool(t, dsn), ms[:from]); err != nil || v != from {
				t.Fatalf("migrate to version %d = %d, %v", from, v, err)
			}
			c := connect(t, dsn)
			if _, err := c.Exec(ctx, "INSERT INTO events (device, epoch, seq, leaf) VALUES ($1, 0, 0, 'kept')", dev[:]); err != nil {
				t.Fatal(err)
			}
			a := open(t, dsn)
			if as := appliedMigrations(t, c); len(as) != len(ms) {
				t.Fatalf("from version %d: schema_migrations = %+v", from, as)
			}
			var got []string
			if err := a.Leaves(ctx, dev, 0, 0, func(_ uint64, l []byte) bool { got = append(got, string(l)); return true }); err != nil || len(got) != 1 || got[0] != "kept" {
				t.Fatalf("from version %d: events after the upgrade = %q, %v", from, got, err)
			}
		}
	})
}

func TestLoadMigrations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  string // error text, "" for none
	}{
		{"ok", []string{"0001_a.sql", "0002_b.sql"}, ""},
		{"gap", []string{"0001_a.sql", "0003_b.sql"}, "0003_b.sql: version 3, want 2"},
		{"from two", []string{"0002_a.sql"}, "version 2, want 1"},
		{"no name", []string{"0001.sql"}, "0001.sql: name is not NNNN_name.sql"},
		{"short number", []string{"1_a.sql"}, "1_a.sql: name is not NNNN_name.sql"},
		{"not a number", []string{"abcd_a.sql"}, "abcd_a.sql: name is not NNNN_name.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"README": {Data: []byte("not a migration")}}
			for _, f := range tc.files {
				fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			ms, err := loadMigrations(fsys)
			if tc.want == "" {
				if err != nil || len(ms) != len(tc.files) || ms[1].name != "b" || ms[1].sum == "" {
					t.Fatalf("loadMigrations = %+v, %v", ms, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loadMigrations = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	// The embedded migrations load, SchemaVersion of them.
	if ms := embeddedMigrations(); len(ms) != SchemaVersion {
		t.Fatalf("%d embedded migrations, SchemaVersion %d", len(ms), SchemaVersion)
	}
}

// Open fails on a bad URL or an unreachable server with an error that
// names the database and never the password.
func TestOpen_Errors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, tc := range []struct {
		dsn, want string
	}{
		{"postgres://watch:s3cret@127.0.0.1:1/city?sslmode=disable&connect_timeout=5", `connect to database "city" on 127.0.0.1:1 as "watch"`},
		{"postgres://watch:s3cret@127.0.0.1:1/city?sslmode=bogus", "database URL"},
	} {
		a, err := Open(ctx, tc.dsn)
		if err == nil {
			a.Close()
			t.Fatalf("Open(%s) succeeded", tc.dsn)
		}
		t.Logf("Open: %v", err)
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%s) = %v, want an error saying %q without the password", tc.dsn, err, tc.want)
		}
	}
}
