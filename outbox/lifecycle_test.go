package outbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestShutdownBeforeRunStarts: the stop recipe starts Run in a goroutine
// and, on a signal, calls Shutdown and reads Run's result, "nil, or the
// setting for which Run refused to start". A signal that comes at once
// can have Shutdown run before that goroutine does: Run must then return
// nil, not an error that a program (the relay) reports as a failed queue.
// Run called a second time still fails.
func TestShutdownBeforeRunStarts(t *testing.T) {
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: "d", URL: "https://example.com/"}}}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown before Run: %v", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.Background()) }()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after an early Shutdown: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run after Shutdown did not return")
	}
	if err := q.Run(ctx); !errors.Is(err, outbox.ErrQueueStopped) {
		t.Errorf("Run called again: %v, want ErrQueueStopped", err)
	}
}

// TestShutdownAfterRunReturned: Shutdown returns ctx's error only when
// its deadline cut deliveries short. Once Run has returned there is
// nothing left to cut, and a second Shutdown, or one after Run's context
// ended, returns nil even with a context already done, every time (a
// select between the two would pick either).
func TestShutdownAfterRunReturned(t *testing.T) {
	done, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 50 {
		q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: "d", URL: "https://example.com/"}}}
		if err := q.Run(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run with a cancelled context: %v", err)
		}
		if err := q.Shutdown(done); err != nil {
			t.Fatalf("try %d: Shutdown after Run returned: %v, want nil", i, err)
		}
		if err := q.Shutdown(done); err != nil {
			t.Fatalf("try %d: a second Shutdown: %v, want nil", i, err)
		}
	}
}

// slowStats is an outbox whose Stats, once armed, blocks until released,
// as a count of a large PostgreSQL table can take seconds: the Queue's
// leasing loop is then inside a store call when Shutdown comes.
type slowStats struct {
	outbox.Store
	armed   atomic.Bool
	blocked chan struct{} // closed when an armed Stats blocks
	release chan struct{}
	once    sync.Once
}

func (s *slowStats) Stats(ctx context.Context) (outbox.Stats, error) {
	if s.armed.Load() {
		s.once.Do(func() { close(s.blocked) })
		<-s.release
	}
	return s.Store.(outbox.Admin).Stats(ctx)
}

// TestShutdownStartsNoNewAttempt: once Shutdown is called, a worker that
// finishes its delivery does not start another from the deliveries
// leased in advance, even while the leasing loop is still inside a store
// call (a slow Stats) and has not yet seen the stop: "waits for the
// deliveries in flight" are those in flight when it was called. A new
// attempt begun then is one a short deadline cuts off after the receiver
// may have got it, a duplicate at the next start.
func TestShutdownStartsNoNewAttempt(t *testing.T) {
	hold := make(chan struct{})
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			<-hold
		}
	}))
	defer srv.Close()
	ob := &slowStats{Store: outbox.NewMemory(), blocked: make(chan struct{}), release: make(chan struct{})}
	defer func() {
		select {
		case <-ob.release:
		default:
			close(ob.release)
		}
	}()
	var c counter
	q := &outbox.Queue{Outbox: ob, Sender: loopbackSender(t, srv), Workers: 1, PerDestination: 1, Metrics: &c,
		Destinations: []sender.Destination{{Name: "d", URL: srv.URL}}, Poll: 5 * time.Millisecond}
	enqueue(t, q, "d", 2) // one sent, one leased with it and buffered
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.Background()) }()
	queuetest.WaitFor(t, 10*time.Second, "the first request", func() bool { return requests.Load() == 1 })
	ob.armed.Store(true)
	select {
	case <-ob.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the leasing loop never called Stats")
	}
	shut := make(chan error, 1)
	go func() { shut <- q.Shutdown(context.Background()) }()
	queuetest.WaitFor(t, 10*time.Second, "Shutdown to be under way", func() bool { return outbox.Stopping(q) })
	close(hold) // the delivery in flight finishes
	queuetest.WaitFor(t, 10*time.Second, "its outcome", func() bool { return c.get(outbox.Delivered) >= 1 })
	time.Sleep(20 * time.Millisecond) // room for the worker to start another, if it would
	close(ob.release)
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hung")
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: a delivery was started after Shutdown", n)
	}
	if s := stats(t, ob); s.Pending != 1 || s.Leased != 0 {
		t.Errorf("Stats = %+v, want the buffered delivery released, pending", s)
	}
}
