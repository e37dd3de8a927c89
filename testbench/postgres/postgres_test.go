package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// A committed row survives a kill of the server and every backend (the
// WAL is synced at commit and replayed at the restart); a transaction in
// progress at the kill is gone; the server comes back on the same port.
func TestServer_KillKeepsCommitted(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.DSN(), "postgres://postgres@127.0.0.1:") {
		t.Fatalf("DSN() = %s", s.DSN())
	}
	ctx := context.Background()
	dsn := s.NewDatabase(t)
	if dsn == s.DSN() || dsn == s.NewDatabase(t) {
		t.Fatalf("NewDatabase returned %s, not a database of its own", dsn)
	}
	c := connect(t, dsn)
	var fsync string
	if err := c.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "on" {
		t.Fatalf("SHOW fsync = %q, %v; want on", fsync, err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE kept (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	open := connect(t, dsn)
	tx, err := open.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO kept VALUES (2)"); err != nil {
		t.Fatal(err)
	}

	s.Kill()
	if s.Running() {
		t.Fatal("Running() = true after Kill")
	}
	if err := tx.Commit(ctx); err == nil {
		t.Fatal("a transaction commits on a killed server")
	}
	s.Restart()
	if !s.Running() {
		t.Fatal("Running() = false after Restart")
	}
	var ns []int32
	rows, err := connect(t, dsn).Query(ctx, "SELECT n FROM kept ORDER BY n")
	if err != nil {
		t.Fatalf("query after restart: %v\n%s", err, s.Logs())
	}
	ns, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0] != 1 {
		t.Errorf("rows after kill and restart = %v, want [1]", ns)
	}
	if !strings.Contains(s.Logs(), "database system was interrupted") {
		t.Errorf("the restart did not recover from the kill; log:\n%s", s.Logs())
	}

	s.Stop()
	if s.Running() {
		t.Error("Running() = true after Stop")
	}
	s.Stop() // a second Stop does nothing
	if fi, err := os.Stat(s.DataDir()); err != nil || !fi.IsDir() {
		t.Errorf("data directory %s: %v", s.DataDir(), err)
	}
}

// Two servers run side by side on their own ports and directories.
func TestServer_TwoAtOnce(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Port() == b.Port() || a.Dir() == b.Dir() {
		t.Fatalf("two servers share port %d / %d or directory %s / %s", a.Port(), b.Port(), a.Dir(), b.Dir())
	}
	ctx := context.Background()
	for _, s := range []*Server{a, b} {
		var port int
		if err := connect(t, s.DSN()).QueryRow(ctx, "SELECT current_setting('port')::int").Scan(&port); err != nil || port != s.Port() {
			t.Errorf("server on %d answers port %d, %v", s.Port(), port, err)
		}
	}
}

// Binaries picks the highest version with both programs, and without one
// says that make test-deps installs them.
func TestBinaries(t *testing.T) {
	defer func(r string) { installRoot = r }(installRoot)
	installRoot = t.TempDir()
	if _, err := Binaries(); err == nil || !strings.Contains(err.Error(), "`make test-deps` installs Debian's postgresql") {
		t.Fatalf("Binaries with nothing installed = %v, want an error naming make test-deps", err)
	}
	for _, f := range []string{"9/bin/initdb", "9/bin/postgres", "15/bin/initdb", "15/bin/postgres", "16/bin/initdb", "x/bin/initdb", "x/bin/postgres"} {
		p := filepath.Join(installRoot, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if dir, err := Binaries(); err != nil || dir != filepath.Join(installRoot, "15", "bin") {
		t.Fatalf("Binaries = %s, %v; want version 15's (16 lacks postgres)", dir, err)
	}
}

// TestOrphanHelper is the child of TestReapOrphans: it starts a server,
// prints its directory and waits to be killed.
func TestOrphanHelper(t *testing.T) {
	if os.Getenv("WAYBILL_PG_ORPHAN") != "1" {
		t.Skip("the child process of TestReapOrphans")
	}
	s := Start(t)
	fmt.Printf("dir %s\n", s.Dir())
	select {}
}

// A server whose test process was killed is stopped, and its directory
// removed, by the next test process's first Start.
func TestReapOrphans(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanHelper$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "WAYBILL_PG_ORPHAN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "dir "); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Fatalf("the child started no server (%v)", sc.Err())
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !alive(pid) {
		t.Fatalf("the server %d died with its test process; nothing to reap", pid)
	}
	reapOrphans()
	if alive(pid) {
		t.Fatalf("server %d of the killed test process still runs (stat %v)", pid, procStat(pid))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory %s of the orphan: %v", dir, err)
	}
}
