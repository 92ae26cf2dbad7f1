package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// What the drain measurements of the outbox (bbolt) and pg (PostgreSQL)
// sections share: the receiver and Sender, the prefill, the counter of
// outcomes, and the baseline of direct sends.

// drainWorkers is how many deliveries a drain measurement has in flight:
// the Queue's workers, and the goroutines of the direct baseline.
const drainWorkers = 64

// drainRun is the receiver of a drain measurement (a TLS server answering
// 204) with drainSender's Sender and destination for it.
type drainRun struct {
	srv  *tlsServer
	s    *sender.Sender
	dest sender.Destination
}

// startDrain starts the receiver of a drain measurement. Close it when done.
func startDrain() (*drainRun, error) {
	srv := startTLS(http.HandlerFunc(noContent))
	s, dest, err := drainSender(srv.roots, srv.URL+"/hook")
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &drainRun{srv: srv, s: s, dest: dest}, nil
}

// Close drops the Sender's connections and stops the receiver.
func (d *drainRun) Close() {
	d.s.CloseIdleConnections()
	d.srv.Close()
}

// drainStat is what one drain run measured: deliveries per second, and
// the CPU time of the whole process per delivery, in µs.
type drainStat struct{ rate, cpu float64 }

// drainCPU holds the median CPU time per delivery of the queue runs and of
// the direct runs of a drain measurement, in µs.
type drainCPU struct{ queue, direct float64 }

// row returns the row of section that compares c's two figures. The whole
// process is measured: the receiver's share, the same on both sides, is
// in both.
func (c drainCPU) row(section string, n int) Row {
	return Row{
		Section: section, Case: fmt.Sprintf("CPU per delivery, %d deliveries (whole process)", n),
		Herald:   fmt.Sprintf("%.1f µs (Queue)", c.queue),
		Baseline: fmt.Sprintf("Sender.Send direct, %d goroutines", drainWorkers),
		BaseFig:  fmt.Sprintf("%.1f µs", c.direct),
		Ratio:    c.queue / c.direct,
	}
}

// versusDirect measures queueRun against the same n deliveries of body b
// sent directly with Sender.Send from drainWorkers goroutines, in
// cfg.loadReps alternating rounds after a warm-up of the direct sends, and
// returns the row of section named name, met at a ratio of target or more,
// with the median CPU time per delivery of either side.
func (d *drainRun) versusDirect(cfg config, section, name string, target float64, n int, b []byte, queueRun func() (drainStat, error)) (Row, drainCPU, error) {
	var qcpu, dcpu []float64
	rate := func(run func() (drainStat, error), cpu *[]float64) func() (float64, error) {
		return func() (float64, error) {
			st, err := run()
			*cpu = append(*cpu, st.cpu)
			return st.rate, err
		}
	}
	directRun := func() (drainStat, error) { return sendDirect(d.s, d.dest, n, drainWorkers, b) }
	if _, err := directRun(); err != nil {
		return failedRow(section, name, err), drainCPU{}, err
	}
	q, direct, err := alternate(cfg.loadReps, rate(queueRun, &qcpu), rate(directRun, &dcpu))
	if err != nil {
		return failedRow(section, name, err), drainCPU{}, err
	}
	return Row{
		Section: section, Case: name,
		Herald:   fmtRate(q, "deliveries/s"),
		Baseline: fmt.Sprintf("Sender.Send direct, %d goroutines", drainWorkers),
		BaseFig:  fmtRate(direct, "deliveries/s"),
		Ratio:    q / direct,
		Target:   fmt.Sprintf("≥ %.2g×", target), Met: q/direct >= target,
	}, drainCPU{median(qcpu), median(dcpu)}, nil
}

// drainSender returns the Sender of a drain, trusting roots and allowed on
// loopback, and the Standard-signed destination at url: one for the Queue
// in this process and in the pg worker processes alike.
func drainSender(roots *x509.CertPool, url string) (*sender.Sender, sender.Destination, error) {
	secret, err := auth.GenerateStandardSecret()
	if err != nil {
		return nil, sender.Destination{}, err
	}
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		return nil, sender.Destination{}, err
	}
	s := &sender.Sender{TLS: &tls.Config{RootCAs: roots}, AllowNetworks: loopback, Retry: sender.RetryPolicy{MaxAttempts: 2}}
	return s, sender.Destination{Name: benchDest, URL: url, Signer: std}, nil
}

// fill puts n deliveries of body b due at due into store, in batches, as
// the Queue would (Due and Created set).
func fill(store outbox.Outbox, n int, b []byte, due time.Time) error {
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

// drainCounter is an outbox.Metrics that counts the deliveries made and the
// attempts that did not end in one, so that a failing drain is reported
// rather than timed, and closes done when want deliveries have been
// acknowledged (Metrics see an outcome after the store committed it).
type drainCounter struct {
	delivered, failed atomic.Int64
	want              int64
	done              chan struct{}
}

// newDrainCounter returns a counter for a drain of want deliveries.
func newDrainCounter(want int) *drainCounter {
	return &drainCounter{want: int64(want), done: make(chan struct{})}
}

// Observe counts every outcome other than Delivered and Released as a
// failure, and Delivered ones towards want.
func (c *drainCounter) Observe(e outbox.Sample) {
	switch e.Outcome {
	case outbox.Delivered:
		if c.delivered.Add(1) == c.want {
			close(c.done)
		}
	case outbox.Released:
	default:
		c.failed.Add(1)
	}
}

// Depth ignores queue depth.
func (*drainCounter) Depth(outbox.Stats, int) {}

// wait waits until want deliveries have been acknowledged, and fails when
// an attempt fails or two minutes after start. It learns of the end from
// the Metrics, not by polling the store: a poll every millisecond would
// take a read transaction from the settler it measures.
func (c *drainCounter) wait(start time.Time) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := start.Add(2 * time.Minute)
	for {
		select {
		case <-c.done:
			return nil
		case <-tick.C:
		}
		if f := c.failed.Load(); f > 0 {
			return fmt.Errorf("%d deliveries failed", f)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue did not drain: %d of %d delivered", c.delivered.Load(), c.want)
		}
	}
}

// drainOnce fills store with n deliveries of b, due now, and measures a
// Queue of workers workers (and as many per destination, polling every
// poll) sending them with s to dest, until drained, given the Queue's
// counter and the start, says they are all delivered. The fill is not
// measured.
func drainOnce(store outbox.Outbox, s *sender.Sender, dest sender.Destination, n, workers int, b []byte,
	poll time.Duration, drained func(c *drainCounter, start time.Time) error) (drainStat, error) {
	if err := fill(store, n, b, time.Now()); err != nil {
		return drainStat{}, err
	}
	c := newDrainCounter(n)
	q := &outbox.Queue{
		Outbox: store, Sender: s, Destinations: []sender.Destination{dest},
		Workers: workers, PerDestination: workers, Poll: poll, Metrics: c,
	}
	m, err := startMeasure()
	if err != nil {
		return drainStat{}, err
	}
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background()) }()
	err = drained(c, m.start)
	st, merr := m.end(n)
	if serr := q.Shutdown(context.Background()); err == nil {
		err = serr
	}
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err == nil {
		err = merr
	}
	if err != nil {
		return drainStat{}, err
	}
	return st, nil
}

// sendDirect sends n deliveries of b with s from workers goroutines and
// measures it.
func sendDirect(s *sender.Sender, dest sender.Destination, n, workers int, b []byte) (drainStat, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	m, err := startMeasure()
	if err != nil {
		return drainStat{}, err
	}
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
	st, err := m.end(n)
	close(errc)
	if serr := <-errc; serr != nil {
		return drainStat{}, serr
	}
	return st, err
}

// measure is a drain run being measured: when it started, and the CPU time
// the process had used by then.
type measure struct {
	start time.Time
	cpu   time.Duration
}

// startMeasure starts measuring a run, after a garbage collection, as
// testing.B does before each run: the garbage of the run's set-up (the
// prefill of a queue run writes 10 MB through bbolt) is not the run's to
// collect, and left in the heap it was collected during the queue run
// that followed it, which made the queue pay for its own set-up.
func startMeasure() (measure, error) {
	runtime.GC()
	cpu, err := cpuTime()
	return measure{start: time.Now(), cpu: cpu}, err
}

// end returns the figures of the run of n deliveries that m measured.
func (m measure) end(n int) (drainStat, error) {
	elapsed := time.Since(m.start)
	cpu, err := cpuTime()
	return drainStat{
		rate: float64(n) / elapsed.Seconds(),
		cpu:  float64((cpu - m.cpu).Nanoseconds()) / 1e3 / float64(n),
	}, err
}
