package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
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
	const workers = 64
	n := cfg.queueN
	name := fmt.Sprintf("queue drain over PostgreSQL, %d deliveries, 64 workers", n)
	srv, s, dest, err := drainTarget()
	if err != nil {
		return []Row{failedRow("pg", name, err)}, err
	}
	defer srv.Close()
	defer s.CloseIdleConnections()
	b := body(1 << 10)

	queueRun := func() (float64, error) {
		if err := pgFill(store, n, b, time.Now()); err != nil {
			return 0, err
		}
		c := new(pgCounter)
		q := &outbox.Queue{
			Outbox: store, Sender: s, Destinations: []sender.Destination{dest},
			Workers: workers, PerDestination: workers, Metrics: c,
		}
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- q.Run(context.Background()) }()
		err := pgDrained(pool, start, c, n)
		elapsed := time.Since(start)
		if serr := q.Shutdown(context.Background()); err == nil {
			err = serr
		}
		if rerr := <-done; err == nil {
			err = rerr
		}
		return float64(n) / elapsed.Seconds(), err
	}
	directRun := func() (float64, error) { return sendDirect(s, dest, n, workers, b) }
	if _, err := directRun(); err != nil { // warm up
		return []Row{failedRow("pg", name, err)}, err
	}
	qm, dm, err := alternate(cfg.loadReps, queueRun, directRun)
	if err != nil {
		return []Row{failedRow("pg", name, err)}, err
	}
	rows := []Row{{
		Section: "pg", Case: name,
		Herald:   fmtRate(qm, "deliveries/s"),
		Baseline: "Sender.Send direct, 64 goroutines",
		BaseFig:  fmtRate(dm, "deliveries/s"),
		Ratio:    qm / dm, Target: "≥ 0.6×", Met: qm/dm >= 0.6,
	}}
	procRows, err := pgProcessRows(cfg, url, pool, store, srv, b)
	return append(rows, procRows...), err
}

// pgFill puts n deliveries of body b due at due, in batches.
func pgFill(store outbox.Store, n int, b []byte, due time.Time) error {
	ds := make([]outbox.Delivery, 0, 1000)
	for i := 0; i < n; i += cap(ds) {
		ds = ds[:0]
		for j := i; j < min(n, i+cap(ds)); j++ {
			ds = append(ds, outbox.Delivery{ID: newID(), Destination: benchDest, Body: b, Due: due, Created: time.Now()})
		}
		if err := store.Put(context.Background(), ds...); err != nil {
			return err
		}
	}
	return nil
}

// pgDrained waits until the bench outbox holds nothing and fails after two
// minutes, on a dead letter, or when c counts a failed attempt. With c (a
// Queue of this process) it waits for c to count every delivery before it
// asks the database; without, it asks every 20 ms, through the due index,
// which skips what the drain deleted (a scan of the table would walk its
// dead rows, and take CPU from the drain it measures).
func pgDrained(pool *pgxpool.Pool, start time.Time, c *pgCounter, n int) error {
	for deadline := start.Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("queue did not drain in two minutes")
		}
		if c != nil {
			if f := c.failed.Load(); f > 0 {
				return fmt.Errorf("%d deliveries failed", f)
			}
			if c.delivered.Load() < int64(n) {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		var pending, dead bool
		err := pool.QueryRow(context.Background(), `SELECT
			EXISTS (SELECT 1 FROM bench_deliveries WHERE destination = $1 AND dead_ns IS NULL ORDER BY destination, due_ns, id),
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

// pgCounter is an outbox.Metrics that counts the deliveries made and the
// attempts that failed.
type pgCounter struct{ delivered, failed atomic.Int64 }

// Observe counts an outcome.
func (c *pgCounter) Observe(e outbox.Sample) {
	switch e.Outcome {
	case outbox.Delivered:
		c.delivered.Add(1)
	case outbox.Released:
	default:
		c.failed.Add(1)
	}
}

// Depth ignores queue depth.
func (*pgCounter) Depth(outbox.Stats, int) {}

// sendDirect sends n deliveries of b with s from workers goroutines and
// returns the rate.
func sendDirect(s *sender.Sender, dest sender.Destination, n, workers int, b []byte) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := s.Send(context.Background(), dest, sender.Message{ID: newID(), Body: b}); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}
