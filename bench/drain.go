package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
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

// versusDirect measures queueRun against the same n deliveries of body b
// sent directly with Sender.Send from drainWorkers goroutines, in
// cfg.loadReps alternating rounds after a warm-up of the direct sends, and
// returns the row of section named name, met at a ratio of target or more.
func (d *drainRun) versusDirect(cfg config, section, name string, target float64, n int, b []byte, queueRun func() (float64, error)) (Row, error) {
	directRun := func() (float64, error) { return sendDirect(d.s, d.dest, n, drainWorkers, b) }
	if _, err := directRun(); err != nil {
		return failedRow(section, name, err), err
	}
	q, direct, err := alternate(cfg.loadReps, queueRun, directRun)
	if err != nil {
		return failedRow(section, name, err), err
	}
	return Row{
		Section: section, Case: name,
		Herald:   fmtRate(q, "deliveries/s"),
		Baseline: fmt.Sprintf("Sender.Send direct, %d goroutines", drainWorkers),
		BaseFig:  fmtRate(direct, "deliveries/s"),
		Ratio:    q / direct,
		Target:   fmt.Sprintf("≥ %.2g×", target), Met: q/direct >= target,
	}, nil
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

// drainOnce fills store with n deliveries of b, due now, and returns the
// rate at which a Queue of workers workers (and as many per destination,
// polling every poll) sends them with s to dest, until drained, given the
// Queue's counter and the start, says they are all delivered.
func drainOnce(store outbox.Outbox, s *sender.Sender, dest sender.Destination, n, workers int, b []byte,
	poll time.Duration, drained func(c *drainCounter, start time.Time) error) (float64, error) {
	if err := fill(store, n, b, time.Now()); err != nil {
		return 0, err
	}
	c := newDrainCounter(n)
	q := &outbox.Queue{
		Outbox: store, Sender: s, Destinations: []sender.Destination{dest},
		Workers: workers, PerDestination: workers, Poll: poll, Metrics: c,
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background()) }()
	err := drained(c, start)
	elapsed := time.Since(start)
	if serr := q.Shutdown(context.Background()); err == nil {
		err = serr
	}
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

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
