package outbox_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// records is a slog.Handler that keeps the records it is given, and
// panics in Handle while panics is set.
type records struct {
	mu     sync.Mutex
	rs     []slog.Record
	panics atomic.Bool
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	if h.panics.Load() {
		panic("log handler broken")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rs = append(h.rs, r.Clone())
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// panicLine returns the attributes of the first Error record about a
// recovered panic of what, and whether there is one.
func (h *records) panicLine(what string) (panicked, stack string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rs {
		if r.Level != slog.LevelError || !strings.Contains(r.Message, "panic in "+what) {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "panic":
				panicked = a.Value.String()
			case "stack":
				stack = a.Value.String()
			}
			return true
		})
		return panicked, stack, true
	}
	return "", "", false
}

// count returns how many records at level have msg in their message.
func (h *records) count(level slog.Level, msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.rs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

// panicMetrics counts the samples it is given, then panics.
type panicMetrics struct {
	observed, depths, held atomic.Int64
}

func (m *panicMetrics) Observe(outbox.Sample) { m.observed.Add(1); panic("Observe broken") }
func (m *panicMetrics) Depth(outbox.Stats, int) {
	m.depths.Add(1)
	panic("Depth broken")
}
func (m *panicMetrics) Held(string, outbox.Hold) { m.held.Add(1); panic("Held broken") }

// panicSigner panics in Sign.
type panicSigner struct{}

func (panicSigner) Sign(http.Header, auth.Message) error { panic("Sign broken") }

// TestCallbackPanics: a panic in a callback of the user's that the Queue
// calls from its goroutines is recovered, logged at Error with its
// stack, and the Queue carries on: the process survives, every delivery
// is settled as it would have been (or, for a panic inside the attempt,
// counted a failed attempt and rescheduled), none is left leased, and
// Shutdown returns nil.
func TestCallbackPanics(t *testing.T) {
	const n = 4
	for _, tc := range []struct {
		name string
		what string // the callback named in the log line
		set  func(q *outbox.Queue, r *receiver, m *panicMetrics)
		// check looks at what the run left, once its deliveries settled
		check func(t *testing.T, s outbox.Stats, r *receiver, m *panicMetrics)
		// settled says the run is over
		settled func(s outbox.Stats, r *receiver, m *panicMetrics) bool
	}{
		{name: "Metrics", what: "Metrics.Observe",
			set: func(q *outbox.Queue, r *receiver, m *panicMetrics) { q.Metrics = m },
			settled: func(s outbox.Stats, r *receiver, m *panicMetrics) bool {
				return r.count() == n && s.Pending == 0 && m.observed.Load() >= n && m.depths.Load() >= 2 && m.held.Load() >= 2
			},
			check: func(t *testing.T, s outbox.Stats, r *receiver, m *panicMetrics) {
				if got := m.observed.Load(); got != n {
					t.Errorf("Observe called %d times, want %d: one per outcome", got, n)
				}
			}},
		{name: "OnDisable", what: "OnDisable",
			set: func(q *outbox.Queue, r *receiver, m *panicMetrics) {
				r.gone.Store(true)
				q.OnDisable = func(string, string) { panic("OnDisable broken") }
			},
			settled: func(s outbox.Stats, r *receiver, m *panicMetrics) bool { return s.Pending == n && s.Leased == 0 },
			check: func(t *testing.T, s outbox.Stats, r *receiver, m *panicMetrics) {
				if s.Dead != 0 {
					t.Errorf("Stats = %+v: a 410 disables the destination and holds its deliveries", s)
				}
			}},
		{name: "Signer", what: "the Sender",
			set: func(q *outbox.Queue, r *receiver, m *panicMetrics) {
				q.Destinations[0].Signer = panicSigner{}
			},
			settled: func(s outbox.Stats, r *receiver, m *panicMetrics) bool { return s.Pending == n && s.Leased == 0 },
			check: func(t *testing.T, s outbox.Stats, r *receiver, m *panicMetrics) {
				if r.count() != 0 {
					t.Errorf("%d deliveries sent unsigned", r.count())
				}
			}},
		{name: "OnAttempt", what: "the Sender",
			set: func(q *outbox.Queue, r *receiver, m *panicMetrics) {
				q.Sender.OnAttempt = func(sender.Attempt) { panic("OnAttempt broken") }
			},
			// Delivered, but the attempt panicked after: it is retried
			// (a duplicate, at least once), not lost.
			settled: func(s outbox.Stats, r *receiver, m *panicMetrics) bool {
				return r.count() == n && s.Pending == n && s.Leased == 0
			},
			check: func(t *testing.T, s outbox.Stats, r *receiver, m *panicMetrics) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m panicMetrics
			var logs records
			q, r, ob := panicQueue(t, 2, &logs)
			tc.set(q, r, &m)
			enqueue(t, q, "d", n)
			stop := queuetest.Start(q)
			queuetest.WaitFor(t, 10*time.Second, "the deliveries to settle", func() bool {
				_, _, logged := logs.panicLine(tc.what)
				return logged && tc.settled(stats(t, ob), r, &m)
			})
			shut, run := stop(10 * time.Second)
			if shut != nil || run != nil {
				t.Errorf("Shutdown: %v, Run: %v; want nil, nil", shut, run)
			}
			tc.check(t, stats(t, ob), r, &m)
			p, stack, ok := logs.panicLine(tc.what)
			if !ok {
				t.Fatalf("no Error line for the panic in %s", tc.what)
			}
			if !strings.Contains(p, "broken") || !strings.Contains(stack, "goroutine") {
				t.Errorf("panic line: panic %q, stack %q; want the panic's value and its stack", p, stack)
			}
		})
	}
}

// TestPanicLogsAreSpaced: a callback that panics at every delivery is
// logged once in panicEvery, not once a delivery, and every delivery is
// still made and settled.
func TestPanicLogsAreSpaced(t *testing.T) {
	defer outbox.SetPanicEvery(time.Hour)()
	const n = 30
	var m panicMetrics
	var logs records
	q, r, ob := panicQueue(t, 4, &logs)
	q.Metrics = &m
	enqueue(t, q, "d", n)
	stop := queuetest.Start(q)
	queuetest.WaitFor(t, 10*time.Second, "the deliveries to settle", func() bool {
		return r.count() == n && stats(t, ob).Pending == 0 && m.observed.Load() == n
	})
	if shut, run := stop(10 * time.Second); shut != nil || run != nil {
		t.Errorf("Shutdown: %v, Run: %v; want nil, nil", shut, run)
	}
	if got := logs.count(slog.LevelError, "panic in Metrics.Observe"); got != 1 {
		t.Errorf("%d Error lines for %d panics of Metrics.Observe; want 1 within panicEvery", got, n)
	}
}

// panicQueue returns a Queue of workers workers over a memory outbox,
// delivering to destination "d", a receiver of its own, and logging to
// logs; the test sets the callback that panics.
func panicQueue(t *testing.T, workers int, logs *records) (*outbox.Queue, *receiver, outbox.Store) {
	r := newReceiver(t)
	ob := outbox.NewMemory()
	q := &outbox.Queue{Outbox: ob, Sender: loopbackSender(t, r.srv),
		Destinations: []sender.Destination{{Name: "d", URL: r.srv.URL}},
		Workers:      workers, Poll: 5 * time.Millisecond, Logger: slog.New(logs)}
	return q, r, ob
}

// TestLoggerPanics: a Logger whose handler panics loses its lines, which
// go to standard error with the stack, and the Queue carries on.
func TestLoggerPanics(t *testing.T) {
	var out syncbuf.Buffer
	defer outbox.SetPanicOut(&out)()
	r := newReceiver(t)
	r.reject = "d-0000" // dead-lettered, with a Warn line
	logs := &records{}
	logs.panics.Store(true)
	ob := outbox.NewMemory()
	q := &outbox.Queue{Outbox: ob, Sender: loopbackSender(t, r.srv),
		Destinations: []sender.Destination{{Name: "d", URL: r.srv.URL}},
		Poll:         5 * time.Millisecond, Logger: slog.New(logs)}
	enqueue(t, q, "d", 3)
	stop := queuetest.Start(q)
	queuetest.WaitFor(t, 10*time.Second, "the deliveries to settle", func() bool {
		s := stats(t, ob)
		return r.count() == 2 && s.Pending == 0 && s.Dead == 1
	})
	if shut, run := stop(10 * time.Second); shut != nil || run != nil {
		t.Errorf("Shutdown: %v, Run: %v; want nil, nil", shut, run)
	}
	if s := out.String(); !strings.Contains(s, "panic in the Logger's handler") || !strings.Contains(s, "log handler broken") || !strings.Contains(s, "goroutine") {
		t.Errorf("standard error got %q, want the panic and its stack", s)
	}
}
