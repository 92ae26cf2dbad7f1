package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// Environment of a pg worker process, besides pgWorkerEnv (the database).
const (
	pgDestEnv = "HERALD_BENCH_PG_DEST" // the receiver's URL
	pgCAEnv   = "HERALD_BENCH_PG_CA"   // the receiver's certificate, PEM
)

// pgProcessRows measures the drain of n deliveries by 1 and by 3 worker
// processes of 64 workers each, sharing the outbox.
func pgProcessRows(cfg config, url string, pool *pgxpool.Pool, store outbox.Store, srv *tlsServer, b []byte) ([]Row, error) {
	n := cfg.queueN
	counts := []int{1, 3}
	rates := make([][]float64, len(counts))
	for r := range max(cfg.loadReps-2, 1) {
		for k := range counts {
			i := (k + r) % len(counts)
			rate, err := pgProcessRun(counts[i], n, url, pool, store, srv, b)
			if err != nil {
				return []Row{failedRow("pg", fmt.Sprintf("drain by %d worker processes", counts[i]), err)}, err
			}
			rates[i] = append(rates[i], rate)
		}
	}
	one, three := median(rates[0]), median(rates[1])
	return []Row{
		{Section: "pg", Case: fmt.Sprintf("drain of %d by 1 worker process (64 workers)", n), Herald: fmtRate(one, "deliveries/s"), Ratio: math.NaN()},
		{
			Section: "pg", Case: fmt.Sprintf("drain of %d by 3 worker processes (64 workers each)", n),
			Herald: fmtRate(three, "deliveries/s"), Baseline: "1 worker process", BaseFig: fmtRate(one, "deliveries/s"),
			Ratio: three / one,
		},
	}, nil
}

// pgProcessRun fills the outbox with n deliveries due in an hour, starts
// procs worker processes, makes the deliveries due at once and wakes the
// workers, and returns the rate at which they drain it.
func pgProcessRun(procs, n int, url string, pool *pgxpool.Pool, store outbox.Store, srv *tlsServer, b []byte) (float64, error) {
	ctx := context.Background()
	if err := fill(store, n, b, time.Now().Add(time.Hour)); err != nil {
		return 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	var cmds []*exec.Cmd
	var stdins []io.WriteCloser
	defer func() {
		for i, c := range cmds {
			stdins[i].Close() // the worker shuts down
			_ = c.Wait()
		}
	}()
	for range procs {
		c := exec.Command(exe)
		c.Env = append(os.Environ(), pgWorkerEnv+"="+url, pgDestEnv+"="+srv.URL+"/hook", pgCAEnv+"="+string(caPEM))
		c.Stderr = os.Stderr
		in, err := c.StdinPipe()
		if err != nil {
			return 0, err
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return 0, err
		}
		if err := c.Start(); err != nil {
			return 0, err
		}
		cmds, stdins = append(cmds, c), append(stdins, in)
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
			return 0, fmt.Errorf("a worker process said %q: %v", line, err)
		}
	}
	start := time.Now()
	if _, err := pool.Exec(ctx, "UPDATE bench_deliveries SET due_ns = $1", start.UnixNano()); err != nil {
		return 0, err
	}
	// One more delivery, due now: its Put notifies the idle workers.
	if err := fill(store, 1, b, start); err != nil {
		return 0, err
	}
	if err := pgDrained(pool, start); err != nil {
		return 0, err
	}
	return float64(n+1) / time.Since(start).Seconds(), nil
}

// pgWorker is a worker process: a Queue of 64 workers over the outbox of
// the database pgWorkerEnv names, delivering to pgDestEnv, until its
// standard input closes. It prints "ready" once it runs.
func pgWorker() int {
	if err := pgWorkerRun(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: pg worker:", err)
		return 1
	}
	return 0
}

func pgWorkerRun() error {
	ctx := context.Background()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(os.Getenv(pgCAEnv))) {
		return errors.New("no receiver certificate in " + pgCAEnv)
	}
	pool, err := pgxpool.New(ctx, os.Getenv(pgWorkerEnv))
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := pgstore.Open(ctx, pool, &pgstore.Options{Prefix: "bench_"})
	if err != nil {
		return err
	}
	defer store.Close()
	s, dest, err := drainSender(roots, os.Getenv(pgDestEnv))
	if err != nil {
		return err
	}
	q := &outbox.Queue{Outbox: store, Sender: s, Workers: 64, PerDestination: 64, Destinations: []sender.Destination{dest}}
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	time.Sleep(300 * time.Millisecond) // leasing, and listening for wake-ups
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := q.Shutdown(ctx); err != nil {
		return err
	}
	return <-done
}
