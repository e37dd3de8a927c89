// Package postgres runs a real PostgreSQL server (Debian's packages,
// /usr/lib/postgresql/VERSION/bin) for tests: a cluster made by initdb in a
// temporary directory, on a free loopback port, its Unix socket in that
// directory, with fsync and synchronous commit on, since the tests that use
// it are about what survives a crash.
//
// PostgreSQL refuses to run as root: a test running as root runs initdb and
// the server as the unprivileged user nobody (through setpriv), in a
// directory that user owns.
//
// It installs nothing: when the binaries are absent, Start fails the test
// with InstallMessage (`make test-deps` installs the package).
//
// A server outlives a test process that is killed or panics on go test's
// timeout; the next test process's first Start stops such orphans and
// removes their directories.
//
//	s := postgres.Start(t)
//	dsn := s.NewDatabase(t) // an empty database of its own
//	… pgxpool.New(ctx, dsn) …
//	s.Kill()    // SIGKILL to the server and every backend: a crash
//	s.Restart() // the same port and data directory; the WAL is replayed
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallMessage is how Start fails a test when PostgreSQL's binaries are
// not installed.
const InstallMessage = "PostgreSQL's initdb and postgres are not installed in /usr/lib/postgresql/*/bin: `make test-deps` installs Debian's postgresql"

// waitLimit bounds how long Start and Restart wait for the server to accept
// connections, initdb to make the cluster, and Stop for the server to exit
// before it is killed: far beyond what a step takes on a loaded machine.
const waitLimit = 2 * time.Minute

// User is the name of the database superuser of the cluster, who connects
// without a password from the loopback interface.
const User = "postgres"

// installRoot is where Debian installs PostgreSQL, a directory per major
// version.
var installRoot = "/usr/lib/postgresql"

// Binaries returns the directory of the newest installed PostgreSQL's
// programs: the highest /usr/lib/postgresql/VERSION/bin holding initdb and
// postgres.
func Binaries() (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(installRoot, "*", "bin"))
	type version struct {
		n   int
		dir string
	}
	var found []version
	for _, d := range dirs {
		n, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			found = append(found, version{n, d})
		}
	}
	if len(found) == 0 {
		return "", errors.New("postgres: " + InstallMessage)
	}
	return slices.MaxFunc(found, func(a, b version) int { return a.n - b.n }).dir, nil
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Server is a PostgreSQL cluster and its server process, running or
// stopped. Its methods are safe for concurrent use.
type Server struct {
	// Constant after Start.
	t      testing.TB
	bin    string   // directory of initdb and postgres
	dir    string   // the socket directory, data/ and the logs
	asUser []string // setpriv prefix when running as root, else nil
	port   int

	// mu guards the following.
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	dbs    int           // databases made by NewDatabase
}

// Start makes a cluster and starts its server for the test; the server is
// stopped and its directory removed when the test ends. It fails the test
// with InstallMessage when PostgreSQL is not installed, and with the
// server's log when it does not come up.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	reapOnce.Do(reapOrphans)
	s := &Server{t: t, bin: bin}
	if err := s.makeDir(); err != nil {
		if s.dir != "" {
			os.RemoveAll(s.dir)
		}
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(s.dir)
	})
	if err := s.initdb(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	// A port picked free can be taken by someone else before the server
	// binds it; try a few.
	var last error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("postgres: %v", last)
	return nil
}

// dirPrefix names the servers' directories in the temporary directory.
const dirPrefix = "waybill-pg-"

var reapOnce sync.Once

// reapOrphans stops the servers of earlier test processes that ended
// without stopping them (a test binary killed, or panicking on go test's
// timeout): a server in a directory of ours whose owner (the process that
// made it, written in the file "owner") is gone gets an immediate shutdown
// (SIGQUIT), and its directory is removed once it has exited.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil || string(owner) == processID(os.Getpid()) {
			continue
		}
		var ownerPid int
		if _, err := fmt.Sscan(string(owner), &ownerPid); err != nil || processID(ownerPid) == string(owner) {
			continue // not ours, or its owner runs
		}
		b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil || pid <= 1 || !alive(pid) {
			os.RemoveAll(dir)
			continue
		}
		if cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err != nil || !strings.Contains(string(cmd), filepath.Join(dir, "data")) {
			os.RemoveAll(dir) // the pid is another process's now
			continue
		}
		syscall.Kill(pid, syscall.SIGQUIT)
		for deadline := time.Now().Add(waitLimit); alive(pid) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if !alive(pid) {
			os.RemoveAll(dir)
		}
	}
}

// processID identifies process pid across pid reuse: its pid and start
// time (/proc/PID/stat field 22); "" if there is no such process.
func processID(pid int) string {
	f := procStat(pid)
	if len(f) < 20 {
		return ""
	}
	return strconv.Itoa(pid) + " " + f[19]
}

// makeDir makes the server's directory, owned by the user the server runs
// as. t.TempDir is not used: its parents are closed to other users.
func (s *Server) makeDir() error {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return err
	}
	s.dir = dir
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(processID(os.Getpid())), 0o644); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return errors.New("running as root, whom PostgreSQL refuses, and no setpriv to run it as nobody")
	}
	uid, gid := 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	for d := filepath.Dir(dir); d != filepath.Dir(d); d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the user nobody, who runs PostgreSQL here, cannot enter %s to reach %s: set TMPDIR to a directory every user may enter, such as /tmp", d, dir)
		}
	}
	s.asUser = []string{setpriv, "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--"}
	return nil
}

// command runs prog of the PostgreSQL binaries as the server's user.
func (s *Server) command(prog string, args ...string) *exec.Cmd {
	argv := append(slices.Clone(s.asUser), filepath.Join(s.bin, prog))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	return cmd
}

// initdb makes the cluster in dir/data. The cluster's files are not synced
// by initdb (--no-sync): they are written before any test runs, and a
// killed server keeps what the kernel holds; the server itself syncs every
// commit.
func (s *Server) initdb() error {
	cmd := s.command("initdb", "--pgdata", s.DataDir(), "--username", User, "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if cmd.Process != nil {
				cmd.Process.Kill()
			}
		case <-done:
		}
	}()
	out, err := cmd.CombinedOutput()
	close(done)
	if err != nil {
		return fmt.Errorf("initdb: %w:\n%s", err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postgres: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server and waits until it answers a query.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	cmd := s.command("postgres", "-D", s.DataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "full_page_writes=on",
		"-c", "shared_buffers=16MB",
		"-c", "max_connections=100",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
		"-c", "log_connections=off",
	)
	// A group of its own: a terminal's interrupt meant for the test does
	// not reach the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(waitLimit)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("server exited before accepting connections on port %d (%s):\n%s", s.port, cmd.ProcessState, s.logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked(syscall.SIGKILL)
			return fmt.Errorf("server not accepting connections on port %d after %v (%v):\n%s", s.port, waitLimit, err, s.logs())
		}
	}
}

// ping connects and runs a query.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var one int
	return c.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// DSN is the URL of the cluster's database "postgres" as its superuser,
// over TCP on the loopback interface.
func (s *Server) DSN() string { return s.dsn("postgres") }

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.port, db)
}

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir is the server's directory: its Unix socket, data/ and postgres.log.
func (s *Server) Dir() string { return s.dir }

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// NewDatabase creates an empty database on the server and returns its DSN.
// It fails the test if the server refuses.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := "test" + strconv.Itoa(s.dbs)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatalf("postgres: connect to create database %s: %v", name, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("postgres: create database %s: %v", name, err)
	}
	return s.dsn(name)
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Stop stops the server with a fast shutdown (SIGINT: transactions in
// progress are rolled back, a checkpoint is written) and waits for it to
// exit, killing it if it has not after a while. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(syscall.SIGINT)
}

// Kill kills the server and all its backends (SIGKILL), as a crash of the database machine would: transactions
// in progress are lost, committed ones are in the WAL, which the next
// start replays.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(syscall.SIGKILL)
}

func (s *Server) stopLocked(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	if sig == syscall.SIGKILL {
		s.killLocked()
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(waitLimit):
		s.t.Errorf("postgres: server did not exit on %v within %v; killing it", sig, waitLimit)
		s.killLocked()
	}
	s.cmd = nil
}

// killLocked kills the server and every process it started. Each backend
// is the leader of a session of its own (PostgreSQL calls setsid), so a
// signal to the server's group does not reach them: the server is stopped
// first (SIGSTOP) so that it starts no other, its children are listed and
// killed with their groups, then the server; Kill returns once none is
// left, so that none holds the shared memory against a restart.
func (s *Server) killLocked() {
	pid := s.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP)
	kids := children(pid)
	for _, k := range kids {
		syscall.Kill(-k, syscall.SIGKILL)
		syscall.Kill(k, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(waitLimit):
		s.t.Errorf("postgres: server %d did not exit on SIGKILL within %v", pid, waitLimit)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		live := slices.DeleteFunc(slices.Clone(kids), func(k int) bool { return !alive(k) })
		if len(live) == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.t.Errorf("postgres: backends %v still running %v after SIGKILL", live, waitLimit)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd = nil
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, …
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// alive reports whether pid is a process that is not a zombie (a zombie
// holds no memory).
func alive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// children returns the processes whose parent is pid.
func children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, p := range stats {
		k, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if f := procStat(k); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, k)
		}
	}
	return kids
}

// Restart stops the server if it runs (fast shutdown) and starts it again
// on the same port and data directory. It fails the test if the server
// does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("postgres: restart: %v", err)
	}
}

// Logs returns what the server wrote to its log.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs()
}

func (s *Server) logs() string {
	d, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return strings.TrimSpace(string(d))
}
