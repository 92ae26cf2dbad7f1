package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/heraldhq/herald/sender"
)

// The Queue calls code of the user's from its own goroutines: the Metrics
// (and HoldMetrics) methods, OnDisable, the Logger's handler, and the
// Sender's callbacks inside each Send. A panic there would end the
// process from a goroutine the user cannot guard. As net/http does for
// its handlers, the Queue recovers it, logs it at Error with its stack
// (spaced: see panicEvery), and carries on, with nothing lost or
// miscounted: the panic comes
// either after the outbox recorded the outcome (a Metrics call, a log
// line) or inside the attempt, whose outcome is then a failed attempt.

// panicOut receives the panics of the Logger's own handler, which cannot
// be logged through it; a variable so that a test can read it.
var panicOut io.Writer = os.Stderr

// recovered, deferred, recovers a panic in the user's callback what and
// logs it.
func (q *Queue) recovered(what string) {
	if p := recover(); p != nil {
		q.logPanic(what, p, debug.Stack())
	}
}

// logPanic logs at Error the panic p of the user's callback what with its
// stack: through the Queue's Logger, else slog.Default, either guarded
// so that a handler that panics in turn writes to standard error. It logs
// one panic of each callback in panicEvery (see panicLog).
func (q *Queue) logPanic(what string, p any, stack []byte) {
	log, unlogged := q.panics.due(what, time.Now())
	if !log {
		return
	}
	l := q.log
	if l == nil {
		l = slog.New(guardedHandler{h: slog.Default().Handler()})
	}
	attrs := []slog.Attr{slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(stack))}
	if unlogged > 0 {
		attrs = append(attrs, slog.Int("unlogged", unlogged))
	}
	l.LogAttrs(context.Background(), slog.LevelError, "outbox: panic in "+what+" recovered", attrs...)
}

// panicEvery is how often, at most, the panics of one callback are
// logged. A callback that panics at every call (a Metrics method, a
// Signer) would otherwise write a stack for every delivery, thousands a
// second, and fill a disk with the same lines; the panics in between
// are counted, and the count ("unlogged") given with the next line. A
// variable so that a test can shorten it.
var panicEvery = 10 * time.Second

// panicLog is when the panics of each callback were last logged, and
// how many have not been since. Its zero value is ready to use.
type panicLog struct {
	mu       sync.Mutex
	last     map[string]time.Time
	unlogged map[string]int
}

// due reports whether a panic of what, at now, is to be logged, and if so
// how many were not logged since the last that was; if not, it counts it.
func (pl *panicLog) due(what string, now time.Time) (log bool, unlogged int) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.last == nil {
		pl.last, pl.unlogged = map[string]time.Time{}, map[string]int{}
	}
	if last, ok := pl.last[what]; ok && now.Sub(last) < panicEvery {
		pl.unlogged[what]++
		return false, 0
	}
	unlogged = pl.unlogged[what]
	pl.last[what], pl.unlogged[what] = now, 0
	return true, unlogged
}

// guardedHandler is the Queue's Logger's handler, or slog.Default's,
// with its panics recovered: the line is lost, and the panic written to
// standard error with its stack.
type guardedHandler struct{ h slog.Handler }

// guardLog returns l with its handler guarded, or nil for nil.
func guardLog(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(guardedHandler{h: l.Handler()})
}

// handlerPanicked, deferred, recovers a panic of the handler and writes
// it to panicOut.
func handlerPanicked(method string, failed func()) {
	if p := recover(); p != nil {
		failed()
		fmt.Fprintf(panicOut, "%s ERROR outbox: panic in the Logger's handler (%s) recovered, the line lost: %v\n%s\n",
			time.Now().UTC().Format(time.RFC3339Nano), method, p, debug.Stack())
	}
}

func (g guardedHandler) Enabled(ctx context.Context, l slog.Level) (ok bool) {
	defer handlerPanicked("Enabled", func() { ok = false })
	return g.h.Enabled(ctx, l)
}

func (g guardedHandler) Handle(ctx context.Context, r slog.Record) (err error) {
	defer handlerPanicked("Handle", func() { err = errHandlerPanicked })
	return g.h.Handle(ctx, r)
}

func (g guardedHandler) WithAttrs(as []slog.Attr) (h slog.Handler) {
	defer handlerPanicked("WithAttrs", func() { h = g })
	return guardedHandler{h: g.h.WithAttrs(as)}
}

func (g guardedHandler) WithGroup(name string) (h slog.Handler) {
	defer handlerPanicked("WithGroup", func() { h = g })
	return guardedHandler{h: g.h.WithGroup(name)}
}

// errAttemptPanicked is the error of an attempt that panicked: the panic
// itself, which may hold anything, goes to the log, not to the outbox.
var errAttemptPanicked = errors.New("outbox: the attempt panicked (a callback of the Sender or Destination; see the Error log line)")

// errHandlerPanicked is what a guarded handler's Handle returns after a
// panic; slog's Logger drops it.
var errHandlerPanicked = errors.New("outbox: the log handler panicked")

// guardedMetrics is the user's Metrics with the panics of its methods
// recovered and logged: a sample lost, nothing else.
type guardedMetrics struct {
	q *Queue
	m Metrics
}

func (g guardedMetrics) Observe(s Sample) {
	defer g.q.recovered("Metrics.Observe")
	g.m.Observe(s)
}

func (g guardedMetrics) Depth(s Stats, inFlight int) {
	defer g.q.recovered("Metrics.Depth")
	g.m.Depth(s, inFlight)
}

// guardedHoldMetrics is guardedMetrics for a Metrics that is also a
// [HoldMetrics].
type guardedHoldMetrics struct{ guardedMetrics }

func (g guardedHoldMetrics) Held(destination string, h Hold) {
	defer g.q.recovered("HoldMetrics.Held")
	g.m.(HoldMetrics).Held(destination, h)
}

// guardMetrics returns m guarded, nil for nil.
func (q *Queue) guardMetrics(m Metrics) Metrics {
	switch m.(type) {
	case nil:
		return nil
	case HoldMetrics:
		return guardedHoldMetrics{guardedMetrics{q, m}}
	}
	return guardedMetrics{q, m}
}

// onDisable calls OnDisable, if set, recovering its panic.
func (q *Queue) onDisable(destination, reason string) {
	if q.OnDisable == nil {
		return
	}
	defer q.recovered("OnDisable")
	q.OnDisable(destination, reason)
}

// sendGuarded sends m to d, turning a panic inside Send (a Signer,
// OnAttempt, Logger or provider of the user's) into a failed attempt,
// retryable, so that the delivery follows its schedule, and is
// dead-lettered at its end, rather than being leased for ever or lost.
func (q *Queue) sendGuarded(ctx context.Context, d sender.Destination, m sender.Message) (res sender.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			q.logPanic("the Sender (a Signer, OnAttempt, Logger or provider)", p, debug.Stack())
			res = sender.Result{ID: m.ID, Attempts: 1}
			err = &sender.DeliveryError{ID: m.ID, Destination: d.Name, Retryable: true,
				Err: errAttemptPanicked}
		}
	}()
	return q.sender.Send(ctx, d, m)
}
