package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/outbox"
)

// migrations are the schema's versions: migrations[i] takes the tables
// from version i to i+1. A new field of a delivery is a new entry that
// adds a column (with a default, so that rows stored before read back as
// the zero value); an entry is never changed once released. {d}, {a} and
// {p} stand for the deliveries and attempts tables and the index name
// prefix.
var migrations = []string{
	// 1: deliveries, pending and dead, and their attempts.
	`CREATE TABLE {d} (
		id             text COLLATE "C" PRIMARY KEY,
		destination    text COLLATE "C" NOT NULL,
		event_id       text NOT NULL DEFAULT '',
		topic          bytea NOT NULL DEFAULT '',
		content_type   bytea NOT NULL DEFAULT '',
		body           bytea NOT NULL,
		due_ns         bigint NOT NULL,
		created_ns     bigint NOT NULL,
		attempts       integer NOT NULL DEFAULT 0,
		lease_token    text,
		lease_until_ns bigint,
		dead_ns        bigint,
		reason         bytea
	) WITH (fillfactor = 80);
	CREATE INDEX "{p}due" ON {d} (destination, due_ns, id) WHERE dead_ns IS NULL;
	CREATE INDEX "{p}dead" ON {d} (destination, id) WHERE dead_ns IS NOT NULL;
	CREATE TABLE {a} (
		seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		delivery_id text COLLATE "C" NOT NULL REFERENCES {d} (id) ON DELETE CASCADE,
		at_ns       bigint NOT NULL,
		status      integer NOT NULL,
		latency_ns  bigint NOT NULL,
		tries       integer NOT NULL,
		error       bytea NOT NULL
	);
	CREATE INDEX "{p}attempts_delivery" ON {a} (delivery_id, seq);`,
}

// migrate brings the tables to the latest version, in one transaction
// under an advisory lock named after them, so that processes opening the
// same outbox at once migrate it once and the others wait, then find it
// done. With noCreate, missing tables are an error.
func migrate(ctx context.Context, pool *pgxpool.Pool, t tables, noCreate bool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return dbError(ctx, "open", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "herald outbox "+t.version); err != nil {
		return dbError(ctx, "lock the schema", err)
	}
	have, exists, err := version(ctx, tx, t)
	if err != nil {
		return err
	}
	if !exists {
		if noCreate {
			return fmt.Errorf("pgstore: no outbox tables %s: %w", t.deliveries, outbox.ErrNotFound)
		}
		for _, stmt := range []string{
			"CREATE SCHEMA IF NOT EXISTS " + t.schema,
			"CREATE TABLE " + t.version + " (version integer NOT NULL)",
			"INSERT INTO " + t.version + " VALUES (0)",
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return dbError(ctx, "create the schema", err)
			}
		}
	}
	switch {
	case have > len(migrations):
		return fmt.Errorf("%w: pgstore: the outbox tables are at version %d, newer than this herald knows (%d): upgrade herald", outbox.ErrCorrupt, have, len(migrations))
	case have == len(migrations):
		return nil // nothing to write: roll back
	case have == 0 && noCreate:
		return fmt.Errorf("pgstore: the outbox tables %s are not created yet: %w", t.deliveries, outbox.ErrNotFound)
	}
	r := strings.NewReplacer("{d}", t.deliveries, "{a}", t.attempts, "{p}", t.prefix) // a plain identifier: see checkPrefix
	for v := have; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, r.Replace(migrations[v])); err != nil {
			return dbError(ctx, fmt.Sprintf("migrate to version %d", v+1), err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE "+t.version+" SET version = $1", len(migrations)); err != nil {
		return dbError(ctx, "record the schema version", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(ctx, "commit the migration", err)
	}
	return nil
}

// version returns the tables' version, and whether the version table
// exists.
func version(ctx context.Context, tx pgx.Tx, t tables) (int, bool, error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t.version).Scan(&exists); err != nil {
		return 0, false, dbError(ctx, "read the schema version", err)
	}
	if !exists {
		return 0, false, nil
	}
	var v int
	err := tx.QueryRow(ctx, "SELECT version FROM "+t.version).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, true, fmt.Errorf("%w: pgstore: %s is empty", outbox.ErrCorrupt, t.version)
	}
	if err != nil {
		return 0, true, dbError(ctx, "read the schema version", err)
	}
	return v, true, nil
}
