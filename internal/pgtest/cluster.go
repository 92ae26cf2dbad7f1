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
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
}

// role is the superuser of a throwaway cluster.
const role = "herald"

// Start creates a cluster with initdb and starts its server. With durable
// false the server does not fsync, which is right for tests (they kill
// clients, never the server); benchmarks pass true, to measure commits as
// they cost in production. Call Close to stop it and remove its files.
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
	c := &Cluster{dir: dir, done: make(chan struct{})}
	attr, err := serverUser(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", role,
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w: %s", err, lastLines(out))
	}
	args := []string{"-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "max_connections=300"}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.SysProcAttr = attr
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: postgres: %w", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	if err := c.ready(ctx); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		_ = c.Close()
		return nil, fmt.Errorf("%w: %s", err, lastLines(log))
	}
	return c, nil
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

// Close stops the server (a fast shutdown, then a kill if it lingers) and
// removes the cluster's files.
func (c *Cluster) Close() error {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
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
