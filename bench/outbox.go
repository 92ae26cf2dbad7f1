package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// benchDest is the destination name the outbox benchmarks deliver to.
const benchDest = "bench"

// runOutbox measures section 4: durable enqueues per second, queue
// throughput against direct sends, and the heap held with many pending
// deliveries. Files go to a temporary directory, removed at the end.
func runOutbox(cfg config) ([]Row, []error) {
	dir, err := os.MkdirTemp("", "herald-bench-outbox-")
	if err != nil {
		return nil, []error{err}
	}
	defer os.RemoveAll(dir)

	var rows []Row
	var errs []error
	add := func(r []Row, err error) {
		rows = append(rows, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox: %w", err))
		}
	}
	add(enqueueRows(cfg, dir))
	add(queueRows(cfg, dir))
	add(heapRows(cfg, dir))
	return rows, errs
}

// failedRow is the row of a measurement that could not be made.
func failedRow(section, name string, err error) Row {
	return Row{Section: section, Case: name, Ratio: math.NaN(), Note: "FAILED: " + err.Error()}
}

// enqueueRows measures Queue.Enqueue into a bbolt outbox (each call returns
// once its delivery is committed with fsync) from 1 and 64 goroutines,
// against the naive durable baseline: one bbolt Update transaction (and
// fsync) per delivery.
func enqueueRows(cfg config, dir string) ([]Row, error) {
	store, err := boltstore.Open(filepath.Join(dir, "enqueue.db"), nil)
	if err != nil {
		return []Row{failedRow("outbox", "durable enqueue", err)}, err
	}
	defer store.Close()
	q := &outbox.Queue{Outbox: store, Destinations: []sender.Destination{{Name: benchDest, URL: "https://127.0.0.1:1/"}}}
	defer q.Shutdown(context.Background())

	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		return []Row{failedRow("outbox", "durable enqueue", err)}, err
	}
	defer db.Close()
	bucket := []byte("deliveries")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		return []Row{failedRow("outbox", "durable enqueue", err)}, err
	}

	b := body(1 << 10)
	var seq atomic.Uint64
	heraldOp := func(ctx context.Context) error {
		_, err := q.Enqueue(ctx, benchDest, sender.Message{Body: b})
		return err
	}
	rawOp := func(ctx context.Context) error {
		return db.Update(func(tx *bolt.Tx) error {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq.Add(1))
			return tx.Bucket(bucket).Put(k[:], b)
		})
	}
	var rows []Row
	for _, conc := range []int{1, 64} {
		name := fmt.Sprintf("durable enqueue 1 KiB, %d enqueuers", conc)
		stats, err := runLoads(conc, cfg.loadReps, cfg.loadDur, cfg.warm, []loadContender{
			{"herald", heraldOp}, {"bbolt Update per enqueue", rawOp},
		})
		if err != nil {
			return append(rows, failedRow("outbox", name, err)), err
		}
		rows = append(rows, Row{
			Section: "outbox", Case: name,
			Herald:   fmtLoad(stats[0], "enq/s"),
			Baseline: "bbolt Update per enqueue",
			BaseFig:  fmtLoad(stats[1], "enq/s"),
			Ratio:    stats[0].rate / stats[1].rate,
		})
	}
	return rows, nil
}

// queueRows measures how fast a Queue drains a bbolt outbox prefilled with
// cfg.drainN 1 KiB deliveries (lease, signed HTTPS send, ack with fsync)
// against the same deliveries sent directly with Sender.Send, both with 64
// at once.
func queueRows(cfg config, dir string) ([]Row, error) {
	n := cfg.drainN
	name := fmt.Sprintf("queue drain, %d deliveries, %d workers", n, drainWorkers)
	d, err := startDrain()
	if err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}
	defer d.Close()
	store, err := boltstore.Open(filepath.Join(dir, "queue.db"), nil)
	if err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}
	defer store.Close()
	b := body(1 << 10)

	queueRun := func() (drainStat, error) {
		ds, err := drainOnce(store, d.s, d.dest, n, drainWorkers, b, 10*time.Millisecond, (*drainCounter).wait)
		if err != nil {
			return drainStat{}, err
		}
		if st, err := store.Stats(context.Background()); err != nil || st.Pending != 0 {
			return drainStat{}, fmt.Errorf("queue drained with %d pending (%v)", st.Pending, err)
		}
		return ds, nil
	}
	// Warm up the store's pages (versusDirect warms up the connections).
	if _, err := queueRun(); err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}
	row, cpu, err := d.versusDirect(cfg, "outbox", name, 0.85, n, b, queueRun)
	if err != nil {
		return []Row{row}, err
	}
	return []Row{row, cpu.row("outbox", n)}, nil
}

// heapRows measures the Go heap in use with cfg.pendingN pending 4 KiB
// deliveries in a bbolt outbox reopened from disk and served by a running
// (idle: nothing is due yet) Queue, against the same deliveries held in
// outbox.NewMemory; and how long reopening the file takes.
func heapRows(cfg config, dir string) ([]Row, error) {
	n := cfg.pendingN
	name := fmt.Sprintf("heap in use, %s pending 4 KiB deliveries", groupDigits(int64(n)))
	b := body(4 << 10)
	due := time.Now().Add(24 * time.Hour)
	path := filepath.Join(dir, "pending.db")
	store, err := boltstore.Open(path, nil)
	if err == nil {
		err = fill(store, n, b, due)
		if cerr := store.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}

	h0 := heapInUse()
	start := time.Now()
	store, err = boltstore.Open(path, nil)
	if err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}
	openTime := time.Since(start)
	ctx, cancel := context.WithCancel(context.Background())
	q := &outbox.Queue{Outbox: store, Destinations: []sender.Destination{{Name: benchDest, URL: "https://127.0.0.1:1/"}}, Poll: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	st, err := store.Stats(ctx)
	boltHeap := max(heapInUse()-h0, 0) // below zero is noise: nothing held
	cancel()
	<-done
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err == nil && st.Pending != n {
		err = fmt.Errorf("reopened outbox holds %d pending deliveries, want %d", st.Pending, n)
	}
	if err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}

	h0 = heapInUse()
	mem := outbox.NewMemory()
	if err := fill(mem, n, b, due); err != nil {
		return []Row{failedRow("outbox", name, err)}, err
	}
	memHeap := heapInUse() - h0
	runtime.KeepAlive(mem)
	mem.Close()

	return []Row{
		{
			Section: "outbox", Case: name,
			Herald:   fmtBytes(boltHeap) + " (bbolt, queue running)",
			Baseline: "outbox.NewMemory",
			BaseFig:  fmtBytes(memHeap),
			Ratio:    boltHeap / memHeap,
			Target:   "≤ 64 MiB", Met: boltHeap <= 64<<20,
		},
		{
			Section: "outbox", Case: fmt.Sprintf("reopen bbolt file with %s pending", groupDigits(int64(n))),
			Herald: fmtNs(float64(openTime.Nanoseconds())), Ratio: math.NaN(),
		},
	}, nil
}

// heapInUse returns the bytes of live heap objects after two garbage
// collections. (HeapInuse, which counts whole spans, moves with what
// earlier sections left behind, and made differences of a few hundred KiB
// come out negative.)
func heapInUse() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

// idSeq numbers the delivery ids made by newID.
var idSeq atomic.Uint64

// newID returns a delivery id unique within this process run.
func newID() string {
	return fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), idSeq.Add(1))
}
