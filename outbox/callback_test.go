package outbox_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// blocker is a user callback that, once armed, blocks every call until
// released: a metrics exporter stuck on a full channel, a log handler
// writing to a pipe nobody reads.
type blocker struct {
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{} // closed when an armed call first blocks
	release chan struct{}
	relOnce sync.Once
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) block() {
	if !b.armed.Load() {
		return
	}
	b.once.Do(func() { close(b.entered) })
	<-b.release
}

func (b *blocker) unblock() { b.relOnce.Do(func() { close(b.release) }) }

// blockingMetrics blocks in Observe or in Depth.
type blockingMetrics struct {
	*blocker
	inDepth bool
}

func (m *blockingMetrics) Observe(outbox.Sample) {
	if !m.inDepth {
		m.block()
	}
}

func (m *blockingMetrics) Depth(outbox.Stats, int) {
	if m.inDepth {
		m.block()
	}
}

// blockingHandler is a slog.Handler that blocks in Handle.
type blockingHandler struct{ *blocker }

func (h blockingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h blockingHandler) Handle(context.Context, slog.Record) error { h.block(); return nil }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h blockingHandler) WithGroup(string) slog.Handler             { return h }

// receiver is an HTTPS receiver that records the ids it accepted, and
// answers 410 while gone is set, and 400 for the id reject.
type receiver struct {
	srv    *httptest.Server
	gone   atomic.Bool
	reject string
	mu     sync.Mutex
	got    map[string]bool
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string]bool{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("webhook-id")
		switch {
		case r.gone.Load():
			w.WriteHeader(http.StatusGone)
			return
		case id == r.reject:
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got[id] = true
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// queueGoroutines counts the goroutines running a Queue's code.
func queueGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	c := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "herald/outbox.(*Queue)") {
			c++
		}
	}
	return c
}

// TestShutdownWithBlockedCallback: a Metrics method, the OnDisable hook
// or the Logger's handler that blocks for ever must not hold Shutdown
// past its context (and the second an outbox is given to record what
// the cut-off sends leave): Shutdown returns an error wrapping the
// context's, Run returns, and nothing is lost: once the callback
// returns, the Queue's goroutines end, and a later Run on the same
// store delivers every delivery that was not settled.
func TestShutdownWithBlockedCallback(t *testing.T) {
	const n = 5
	for _, tc := range []struct {
		name string
		// set arms q with a callback that blocks through b
		set func(q *outbox.Queue, r *receiver, b *blocker)
		// dead is how many dead letters the run leaves
		dead int
	}{
		{name: "Metrics.Observe", set: func(q *outbox.Queue, r *receiver, b *blocker) {
			q.Metrics = &blockingMetrics{blocker: b}
		}},
		{name: "Metrics.Depth", set: func(q *outbox.Queue, r *receiver, b *blocker) {
			q.Metrics = &blockingMetrics{blocker: b, inDepth: true}
		}},
		{name: "OnDisable", set: func(q *outbox.Queue, r *receiver, b *blocker) {
			r.gone.Store(true)
			q.OnDisable = func(string, string) { b.block() }
		}},
		{name: "Logger", set: func(q *outbox.Queue, r *receiver, b *blocker) {
			r.reject = "d-0000" // dead-lettered, with a Warn line
			q.Logger = slog.New(blockingHandler{b})
		}, dead: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := queueGoroutines()
			path := filepath.Join(t.TempDir(), "outbox.db")
			ob, err := boltstore.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := newReceiver(t)
			b := newBlocker()
			defer b.unblock()
			dests := []sender.Destination{{Name: "d", URL: r.srv.URL}}
			q := &outbox.Queue{Outbox: ob, Sender: loopbackSender(t, r.srv), Destinations: dests,
				Workers: 2, LeaseTTL: time.Second, Poll: 10 * time.Millisecond}
			tc.set(q, r, b)
			b.armed.Store(true)
			enqueue(t, q, "d", n)
			ran := make(chan error, 1)
			go func() { ran <- q.Run(context.Background()) }()
			select {
			case <-b.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the callback was never called")
			}

			const wait = 200 * time.Millisecond
			sctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			start := time.Now()
			shut := make(chan error, 1)
			go func() { shut <- q.Shutdown(sctx) }()
			limit := wait + outbox.AbandonGrace + time.Second
			select {
			case err := <-shut:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown: %v, want one wrapping context.DeadlineExceeded", err)
				}
				if took := time.Since(start); took > limit {
					t.Errorf("Shutdown took %s, want at most %s", took, limit)
				}
			case <-time.After(limit + 5*time.Second):
				t.Fatalf("Shutdown still waiting %s after its context ended", limit+5*time.Second-wait)
			}
			select {
			case err := <-ran:
				if err != nil {
					t.Errorf("Run after Shutdown: %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after Shutdown did")
			}

			b.unblock() // the callback returns at last: the Queue's goroutines must end
			queuetest.WaitFor(t, 10*time.Second, "the Queue's goroutines to end", func() bool { return queueGoroutines() <= before })
			if err := ob.Close(); err != nil {
				t.Fatal(err)
			}

			// A later Run on the same file delivers what was left.
			r.gone.Store(false)
			ob = queuetest.Opened(t)(boltstore.Open(path, nil))
			q2 := &outbox.Queue{Outbox: ob, Sender: loopbackSender(t, r.srv), Destinations: dests,
				LeaseTTL: time.Second, Poll: 10 * time.Millisecond}
			if err := q2.Enable(ctx, "d"); err != nil { // OnDisable's case disabled it
				t.Fatal(err)
			}
			queuetest.Run(t, q2)
			queuetest.WaitFor(t, 15*time.Second, "every delivery", func() bool {
				s := stats(t, ob)
				return r.count() == n-tc.dead && s.Pending == 0 && s.Leased == 0
			})
			if s := stats(t, ob); s.Dead != tc.dead {
				t.Errorf("Stats = %+v, want %d dead", s, tc.dead)
			}
		})
	}
}
