package pgstore_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// newPool connects to a new database for t, closed when t ends.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return connect(t, pgtest.URL(t))
}

// connect opens a pool on url, closed when t ends.
func connect(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// openSQL opens a database/sql handle on url through pgx's driver (its
// import is in queue_test.go), closed when t ends.
func openSQL(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// open opens an outbox on pool, closed when t ends.
func open(t testing.TB, pool *pgxpool.Pool, o *pgstore.Options) outbox.Store {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return queuetest.Opened(t)(pgstore.Open(c, pool, o))
}
