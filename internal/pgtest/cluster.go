// Package pgtest gives herald's tests, examples and benchmarks a real
// PostgreSQL server: the one HERALD_POSTGRES_URL names when it is set, or
// else a throwaway cluster that it starts from the server binaries of the
// machine (initdb, then postgres on a unix socket in a temporary directory)
// and removes afterwards. Each test gets a database of its own.
//
// A test package that uses it calls [Main] from its TestMain, so that the
// cluster it may start is stopped when its tests end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// then [URL] in each test. Without a server or binaries the tests skip,
// with one line saying how to run them, unless HERALD_REQUIRE_POSTGRES=1
// (as .ci/run sets), which makes them fail instead.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a throwaway PostgreSQL cluster in a temporary directory,
// reachable only through the unix socket in that directory.
type Cluster struct {
	dir  string
	bin  string   // the server binaries' directory
	args []string // the server's command line
	// fileLimit caps the size of the files the server writes, in 512-byte
	// blocks; zero means no cap.
	fileLimit uint64
	attr      *syscall.SysProcAttr
	cmd       *exec.Cmd
	done      chan struct{} // closed when the server process has exited
	frozen    []int         // the processes Freeze stopped
}

// role is the superuser of a throwaway cluster.
const role = "herald"

// Start creates a cluster with initdb and starts its server. With durable
// false the server does not fsync, nor wait at a commit for its WAL to be
// written (synchronous_commit off), which is right for tests that kill
// clients, or stop the server cleanly (Stop), never the server itself nor
// the machine: a crash of the server (pg_ctl -m immediate, a SIGQUIT or
// SIGKILL of postgres) loses the last commits it acknowledged, the
// caller's rows with them. Benchmarks pass true, to measure commits as
// they cost in production, and so do tests that crash the server and count
// on what it acknowledged. Call Close to stop it and remove its files.
func Start(ctx context.Context, durable bool) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	// A short path: the socket's must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	c.attr, err = serverUser(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", role,
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = c.attr
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w: %s", err, lastLines(out))
	}
	c.args = []string{"-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "max_connections=300"}
	if !durable {
		c.args = append(c.args, "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	}
	if err := c.start(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// start starts the server on the cluster's files and waits until it
// accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(c.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(c.bin, "postgres"), c.args...)
	if c.fileLimit > 0 {
		// The server ignores SIGXFSZ, so a write past the cap fails with
		// EFBIG, which it reports as it reports a full disk.
		c.cmd = exec.Command("/bin/sh", append([]string{"-c", `ulimit -f "$1" && shift && exec "$@"`, "sh",
			strconv.FormatUint(c.fileLimit, 10), c.cmd.Path}, c.args...)...)
	}
	c.cmd.SysProcAttr = c.attr
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		c.cmd = nil
		return fmt.Errorf("pgtest: postgres: %w", err)
	}
	done := make(chan struct{})
	c.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(c.cmd)
	if err := c.ready(ctx); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("%w: %s", err, lastLines(log))
	}
	return nil
}

// Stop stops the server (a fast shutdown, then a kill if it lingers) and
// keeps the cluster's files, for Restart: a database server going away
// under its clients, as in a failover or an upgrade.
func (c *Cluster) Stop() {
	c.Thaw()
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// Freeze stops every process of the server with SIGSTOP, the postmaster
// and each backend: a server that hangs, as a frozen machine or a network
// partition leaves its clients, whose calls neither answer nor fail.
// [Cluster.Thaw], or Stop, continues them.
func (c *Cluster) Freeze(ctx context.Context) error {
	if c.cmd == nil || c.cmd.Process == nil {
		return errors.New("pgtest: the server is not running")
	}
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	rows, _ := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("pgtest: list the backends: %w", err)
	}
	c.frozen = append(c.frozen, c.cmd.Process.Pid) // postgres itself: the shell of LimitFiles execs it
	for _, pid := range pids {
		c.frozen = append(c.frozen, int(pid))
	}
	for _, pid := range c.frozen {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			c.Thaw()
			return fmt.Errorf("pgtest: SIGSTOP %d: %w", pid, err)
		}
	}
	return nil
}

// Thaw continues the processes Freeze stopped.
func (c *Cluster) Thaw() {
	for _, pid := range c.frozen {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	c.frozen = nil
}

// Restart starts the server again on the cluster's files, stopping it
// first if it runs.
func (c *Cluster) Restart(ctx context.Context) error {
	c.Stop()
	return c.start(ctx)
}

// LimitFiles restarts the server with every file it writes capped at n
// bytes (rounded down to 512), as a full disk would stop it: a write past
// the cap fails with "File too large". Zero lifts the cap.
func (c *Cluster) LimitFiles(ctx context.Context, n uint64) error {
	c.fileLimit = n / 512
	if n > 0 && c.fileLimit == 0 {
		c.fileLimit = 1
	}
	return c.Restart(ctx)
}

// ready waits until the server accepts connections, or has exited.
func (c *Cluster) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL())
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.done:
			return errors.New("pgtest: postgres exited at start")
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the cluster's maintenance database, as its superuser.
func (c *Cluster) URL() string {
	return "postgres://" + role + "@/postgres?sslmode=disable&host=" + url.QueryEscape(c.dir)
}

// Close stops the server and removes the cluster's files.
func (c *Cluster) Close() error {
	c.Stop()
	return os.RemoveAll(c.dir)
}

// CreateDB creates a database named name on the server that adminURL
// reaches (as a role that may create databases) and returns adminURL with
// that database in its path.
func CreateDB(ctx context.Context, adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", errors.New("pgtest: the server URL does not parse")
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDB drops the database named name, closing its connections.
func DropDB(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// binDir finds the directory of initdb and postgres: pg_config --bindir,
// then PATH, then Debian's versioned folders, newest first.
func binDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && isExec(filepath.Join(filepath.Dir(p), "postgres")) {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestVersion && isExec(filepath.Join(d, "initdb")) {
			best, bestVersion = d, v
		}
	}
	if best == "" {
		return "", errNoBinaries
	}
	return best, nil
}

// errNoBinaries: the machine has no PostgreSQL server binaries.
var errNoBinaries = errors.New("pgtest: no PostgreSQL server binaries (initdb, postgres) found")

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// serverUser returns how to run the server: as the postgres user when
// this process is root (the server refuses root), owning dir; else as
// this process.
func serverUser(dir string) (*syscall.SysProcAttr, error) {
	if os.Geteuid() != 0 {
		return procAttr(nil), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and no postgres user to run the server as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return procAttr(&syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}), nil
}

// lastLines returns the last few lines of a command's output, for an error.
func lastLines(out []byte) string {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-5):], []byte(" | ")))
}
