package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Environment variables that decide where the tests find PostgreSQL.
const (
	// EnvURL names an existing server for the tests, as a postgres:// URL
	// of a role that may create databases.
	EnvURL = "HERALD_POSTGRES_URL"
	// EnvRequire, set to 1, turns the skip of a test that finds no server
	// into a failure.
	EnvRequire = "HERALD_REQUIRE_POSTGRES"
)

// howTo is the one line a test that finds no server skips with.
const howTo = "no PostgreSQL: set " + EnvURL + "=postgres://user:pass@host/db (a role that may create databases), " +
	"or install the server binaries (apt-get install postgresql) to run this test"

var (
	mainCalled atomic.Bool
	once       sync.Once
	adminURL   string   // where tests create their databases
	cluster    *Cluster // started by this test binary, if any
	startErr   error    // why there is no server
	dbs        atomic.Int64
)

// Main runs the tests of m and then stops the cluster they started, if
// any, and returns the exit code for os.Exit.
func Main(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	if cluster != nil {
		if err := cluster.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping the cluster:", err)
		}
	}
	return code
}

// server finds or starts the server, once per test binary.
func server() (string, error) {
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			adminURL = u
			return
		}
		if !mainCalled.Load() {
			startErr = fmt.Errorf("pgtest: call os.Exit(pgtest.Main(m)) from the package's TestMain, so that its cluster is stopped")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cluster, startErr = Start(ctx, false)
		if startErr == nil {
			adminURL = cluster.URL()
		}
	})
	return adminURL, startErr
}

// URL returns the URL of a new, empty database for t, dropped when t ends.
// Without a server it skips t, or fails it under HERALD_REQUIRE_POSTGRES=1.
func URL(t testing.TB) string {
	t.Helper()
	admin, err := server()
	mustHave(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("herald_t%d_%d", os.Getpid(), dbs.Add(1))
	u, err := CreateDB(ctx, admin, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := DropDB(ctx, admin, name); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return u
}

// NewCluster starts a throwaway cluster of t's own, closed when t ends,
// for a test that stops, restarts or limits its server; it never uses
// HERALD_POSTGRES_URL's server, which is not the test's to stop. Its
// server is not durable (see [Start]): one crashed rather than stopped loses
// the commits it acknowledged last. Without server binaries it skips t, or
// fails it under HERALD_REQUIRE_POSTGRES=1.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, false)
	mustHave(t, err)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgtest: close the cluster: %v", err)
		}
	})
	return c
}

// mustHave ends t unless err, from finding or starting a server, is nil:
// it skips t when the machine has no server binaries (failing it under
// HERALD_REQUIRE_POSTGRES=1), and fails it on any other error.
func mustHave(t testing.TB, err error) {
	t.Helper()
	if err == errNoBinaries {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(howTo + " (" + EnvRequire + "=1)")
		}
		t.Skip(howTo)
	}
	if err != nil {
		t.Fatal(err)
	}
}
