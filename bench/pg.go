package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// The pg section measures the PostgreSQL outbox on a throwaway cluster
// that fsyncs its commits as in production (or on HERALD_POSTGRES_URL,
// a database the run may fill and empty): the drain of a prefilled outbox
// by one Queue against direct sends, the cost of enqueuing inside a
// transaction against the same transaction without it, and the drain by
// 1 and 3 worker processes sharing the database. A worker process is this
// program again, started with pgWorkerEnv set.

// pgWorkerEnv, set, makes this program a pg worker process (see pgWorker).
const pgWorkerEnv = "HERALD_BENCH_PG_WORKER"

func init() {
	if os.Getenv(pgWorkerEnv) != "" {
		os.Exit(pgWorker())
	}
}

// runPG measures the pg section.
func runPG(cfg config) ([]Row, []error) {
	ctx := context.Background()
	url := os.Getenv(pgtest.EnvURL)
	if url == "" {
		c, err := pgtest.Start(ctx, true)
		if err != nil {
			return []Row{failedRow("pg", "PostgreSQL", err)}, []error{err}
		}
		defer c.Close()
		url = c.URL()
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return []Row{failedRow("pg", "PostgreSQL", err)}, []error{err}
	}
	pcfg.MaxConns = 80
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return []Row{failedRow("pg", "PostgreSQL", err)}, []error{err}
	}
	defer pool.Close()
	store, err := pgstore.Open(ctx, pool, &pgstore.Options{Prefix: "bench_"})
	if err != nil {
		return []Row{failedRow("pg", "PostgreSQL", err)}, []error{err}
	}
	defer store.Close()

	var rows []Row
	var errs []error
	add := func(r []Row, err error) {
		rows = append(rows, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("pg: %w", err))
		}
	}
	add(pgEnqueueRows(cfg, pool, store))
	add(pgDrainRows(cfg, url, pool, store))
	return rows, errs
}

// pgEnqueueRows measures a transaction that inserts a 1 KiB order row and
// enqueues its 1 KiB webhook with pgstore.Enqueue, against the same
// transaction without the webhook, at 1 and 16 clients.
func pgEnqueueRows(cfg config, pool *pgxpool.Pool, store outbox.Store) ([]Row, error) {
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS bench_orders (id text PRIMARY KEY, doc bytea NOT NULL)"); err != nil {
		return []Row{failedRow("pg", "enqueue in a transaction", err)}, err
	}
	q := &outbox.Queue{Outbox: store, Destinations: []sender.Destination{{Name: benchDest, URL: "https://127.0.0.1:1/"}}}
	b := body(1 << 10)
	order := func(ctx context.Context, webhook bool) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
		id := newID()
		if _, err := tx.Exec(ctx, "INSERT INTO bench_orders VALUES ($1, $2)", id, b); err != nil {
			return err
		}
		if webhook {
			if _, err := pgstore.Enqueue(ctx, tx, q, benchDest, sender.Message{ID: id, Body: b}); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	}
	var rows []Row
	for _, conc := range []int{1, 16} {
		name := fmt.Sprintf("order + webhook in one transaction, %d clients", conc)
		stats, err := runLoads(conc, cfg.loadReps, cfg.loadDur, cfg.warm, []loadContender{
			{"herald", func(ctx context.Context) error { return order(ctx, true) }},
			{"the transaction alone", func(ctx context.Context) error { return order(ctx, false) }},
		})
		if err != nil {
			return append(rows, failedRow("pg", name, err)), err
		}
		ratio := stats[1].rate / stats[0].rate // time per transaction, with / without
		rows = append(rows, Row{
			Section: "pg", Case: name,
			Herald:   fmtLoad(stats[0], "tx/s"),
			Baseline: "the order insert alone",
			BaseFig:  fmtLoad(stats[1], "tx/s"),
			Ratio:    ratio, Target: "≤ 1.3× time", Met: ratio <= 1.3,
		})
	}
	_, err := pool.Exec(ctx, "TRUNCATE bench_orders, bench_deliveries CASCADE")
	return rows, err
}

// pgDrainRows measures the drain of n prefilled deliveries by one Queue of
// 64 workers in this process against Sender.Send from 64 goroutines, and
// by 1 and 3 worker processes.
func pgDrainRows(cfg config, url string, pool *pgxpool.Pool, store outbox.Store) ([]Row, error) {
	n := cfg.queueN
	name := fmt.Sprintf("queue drain over PostgreSQL, %d deliveries, %d workers", n, drainWorkers)
	d, err := startDrain()
	if err != nil {
		return []Row{failedRow("pg", name, err)}, err
	}
	defer d.Close()
	b := body(1 << 10)

	queueRun := func() (drainStat, error) {
		return drainOnce(store, d.s, d.dest, n, drainWorkers, b, 0, func(c *drainCounter, start time.Time) error {
			if err := c.wait(start); err != nil {
				return err
			}
			return pgDrained(pool, start)
		})
	}
	// No CPU row: most of this drain's work is PostgreSQL's, in another
	// process.
	row, _, err := d.versusDirect(cfg, "pg", name, 0.6, n, b, queueRun)
	if err != nil {
		return []Row{row}, err
	}
	procRows, err := pgProcessRows(cfg, url, pool, store, d.srv, b)
	return append([]Row{row}, procRows...), err
}

// pgDrained waits until the bench outbox holds nothing and fails after two
// minutes from start or on a dead letter. It asks every 20 ms, through the
// due index, which skips what the drain deleted (a scan of the table would
// walk its dead rows, and take CPU from the drain it measures); the index
// leaves out deliveries held behind the heads of their lines, which the
// bench, putting none with a partition key, never has.
func pgDrained(pool *pgxpool.Pool, start time.Time) error {
	for deadline := start.Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("queue did not drain in two minutes")
		}
		var pending, dead bool
		err := pool.QueryRow(context.Background(), `SELECT
			EXISTS (SELECT 1 FROM bench_deliveries WHERE destination = $1 AND dead_ns IS NULL AND NOT held ORDER BY destination, due_ns, id),
			EXISTS (SELECT 1 FROM bench_deliveries WHERE destination = $1 AND dead_ns IS NOT NULL)`, benchDest).Scan(&pending, &dead)
		switch {
		case err != nil:
			return err
		case dead:
			return errors.New("a delivery became a dead letter")
		case !pending:
			return nil
		}
	}
}
