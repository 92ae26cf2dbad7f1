package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/outbox"
)

// Options say where the store of [Open] keeps its tables. The zero value
// (or nil) uses tables named herald_outbox_ and deliveries, attempts,
// destinations, vacancies and version (see the package's Layout) in the
// connection's current schema, created if missing.
type Options struct {
	// Schema holds the tables; it is created if missing. Empty means the
	// connection's current schema (the first of its search_path, usually
	// public). At most 63 bytes of UTF-8, without NUL.
	Schema string
	// Prefix starts the tables' names: letters, digits and underscores,
	// at most 40 bytes. Empty means "herald_outbox_".
	Prefix string
	// NoCreate makes Open fail with [outbox.ErrNotFound] when the tables
	// do not exist, rather than create them: for tools that inspect an
	// outbox a relay made.
	NoCreate bool
}

const defaultPrefix = "herald_outbox_"

// store is an [outbox.Outbox] and [outbox.Admin] on a PostgreSQL pool.
// It is safe for concurrent use, by any number of processes at once.
type store struct {
	pool    *pgxpool.Pool
	q       queries
	dst     destQueries
	channel string // the NOTIFY channel
	closed  atomic.Bool

	mu       sync.Mutex
	lastDest string       // the destination Lease served last
	repair   repairCursor // where Lease walks the lines on from (see repair.go)
	repaired atomic.Int64 // the heads the walks released, for the tests

	wake   listener
	notify notifier
}

// Open opens the outbox in the database pool reaches, creating or
// migrating its tables first, and returns its [outbox.Store]. It refuses,
// with [outbox.ErrInvalid], a pool whose transactions do not default to
// READ COMMITTED, PostgreSQL's default, which the store's statements rely
// on, one whose search_path names a schema before pg_catalog, whose
// operators the statements would use, and tables that its role does not own, directly or as a member of
// their owner's role: another role that made them could read them. It
// creates the schema only when it is missing, so CREATE on the schema is
// enough. The pool stays the caller's: Close does not close it, and the caller
// may use it for its own transactions, and enqueue inside them with
// [Enqueue] or [EnqueueSQL].
func Open(ctx context.Context, pool *pgxpool.Pool, o *Options) (outbox.Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: pgstore: nil pool", outbox.ErrInvalid)
	}
	if o == nil {
		o = &Options{}
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	schema := o.Schema
	if schema == "" {
		var current *string
		if err := pool.QueryRow(ctx, "SELECT pg_catalog.current_schema()").Scan(&current); err != nil {
			return nil, dbError(ctx, "connect", err)
		}
		if current == nil {
			return nil, fmt.Errorf("%w: pgstore: no schema of the search_path exists (set Options.Schema)", outbox.ErrInvalid)
		}
		schema = *current
	}
	if err := checkSchema(schema); err != nil {
		return nil, err
	}
	if err := checkIsolation(ctx, pool); err != nil {
		return nil, err
	}
	if err := checkSearchPath(ctx, pool); err != nil {
		return nil, err
	}
	t := names(schema, prefix)
	if err := migrate(ctx, pool, t, o.NoCreate); err != nil {
		return nil, err
	}
	ob := &store{
		pool:    pool,
		q:       prepare(t),
		dst:     prepareDest(t),
		channel: channel(schema, prefix),
	}
	if !o.NoCreate { // an inspecting tool may not write
		if err := ob.repairAll(ctx); err != nil {
			return nil, err
		}
	}
	ob.wake.init(pool, ob.channel)
	ob.notify.init(pool, ob.channel, ob.q)
	return ob, nil
}

// checkIsolation refuses a pool whose transactions do not default to READ
// COMMITTED (a database's, role's or connection's setting): the store's
// statements rely on it, each seeing what committed before it ran. Under
// REPEATABLE READ or SERIALIZABLE its leases fail with serialization
// errors under load, and a settlement could miss the next delivery of a
// line committed after its first statement. A caller's own transaction
// that enqueues may use any level.
func checkIsolation(ctx context.Context, pool *pgxpool.Pool) error {
	var level string
	if err := pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&level); err != nil {
		return dbError(ctx, "connect", err)
	}
	if level != "read committed" {
		return fmt.Errorf("%w: pgstore: transactions default to %q; the outbox needs read committed (default_transaction_isolation of the database, role or connection)",
			outbox.ErrInvalid, level)
	}
	return nil
}

// checkSearchPath refuses a pool whose search_path names a schema before
// pg_catalog (PostgreSQL searches pg_catalog first unless it is named
// later): in that schema, another role that may create there could define
// operators, types or functions of the same names and types as
// pg_catalog's, which PostgreSQL would then use in the store's
// statements, running that role's code with the pool's rights. The
// session's temporary schema, which only the session writes, may come
// first.
func checkSearchPath(ctx context.Context, pool *pgxpool.Pool) error {
	var path []string
	if err := pool.QueryRow(ctx, "SELECT pg_catalog.current_schemas(true)::pg_catalog.text[]").Scan(&path); err != nil {
		return dbError(ctx, "connect", err)
	}
	for _, s := range path {
		if s == "pg_catalog" {
			return nil
		}
		if !strings.HasPrefix(s, "pg_temp_") {
			return fmt.Errorf("%w: pgstore: the search_path names %q before pg_catalog, so that the store's statements would use its operators and types in place of PostgreSQL's: name pg_catalog first, or leave it out",
				outbox.ErrInvalid, s)
		}
	}
	return nil
}

// checkSchema refuses a schema name PostgreSQL would not hold as it is:
// empty, longer than an identifier (PostgreSQL would cut it), not UTF-8,
// or with a NUL, which the quoting drops (so that "a\x00b" named the
// tables of "ab").
func checkSchema(s string) error {
	if len(s) > 63 || s == "" {
		return fmt.Errorf("%w: pgstore: schema name of %d bytes (1 to 63)", outbox.ErrInvalid, len(s))
	}
	if !textual(s) {
		return fmt.Errorf("%w: pgstore: schema name %q is not UTF-8 without NULs", outbox.ErrInvalid, s)
	}
	return nil
}

// channel names the NOTIFY channel of the outbox of schema and prefix:
// a hash of both, 128 bits of it, so that no two outboxes of a database
// share one (the CRC-32 it was is easy to collide), in 39 bytes, within
// an identifier's 63. Neither name holds a NUL.
func channel(schema, prefix string) string {
	sum := sha256.Sum256([]byte(schema + "\x00" + prefix))
	return "herald_" + hex.EncodeToString(sum[:16])
}

// checkPrefix refuses a table prefix that is not a plain identifier.
func checkPrefix(p string) error {
	if len(p) > 40 {
		return fmt.Errorf("%w: pgstore: prefix longer than 40 bytes", outbox.ErrInvalid)
	}
	for _, r := range p {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%w: pgstore: prefix %q may hold only letters, digits and underscores", outbox.ErrInvalid, p)
		}
	}
	return nil
}

// tables are the quoted, schema-qualified names of an outbox's tables.
type tables struct {
	schema, deliveries, attempts, version string
	destinations, vacancies               string
	prefix                                string // unquoted, for index names
}

func names(schema, prefix string) tables {
	q := func(name string) string { return pgx.Identifier{schema, prefix + name}.Sanitize() }
	return tables{
		schema: pgx.Identifier{schema}.Sanitize(), prefix: prefix,
		deliveries: q("deliveries"), attempts: q("attempts"), version: q("version"),
		destinations: q("destinations"), vacancies: q("vacancies"),
	}
}

// Close stops listening for wake-ups; later calls fail with
// [outbox.ErrClosed]. Leases die with the process or run out. The pool is
// left open.
func (ob *store) Close() error {
	if ob.closed.Swap(true) {
		return nil
	}
	ob.wake.stop()
	ob.notify.stop()
	return nil
}

// live fails once the outbox is closed.
func (ob *store) live() error {
	if ob.closed.Load() {
		return outbox.ErrClosed
	}
	return nil
}

// collect runs the statement sql with args, once the outbox is known to be
// open, and turns each row into a T with scan. what names the statement in
// errors (see dbError).
func collect[T any](ctx context.Context, ob *store, what, sql string, scan pgx.RowToFunc[T], args ...any) ([]T, error) {
	if err := ob.live(); err != nil {
		return nil, err
	}
	rows, err := ob.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbError(ctx, what, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, dbError(ctx, what, err)
	}
	return out, nil
}

// dbError wraps an error of the database, and gives the context's error
// when the context ended.
func dbError(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("pgstore: %s: %w (%w)", what, cerr, err)
	}
	return fmt.Errorf("pgstore: %s: %w", what, err)
}
