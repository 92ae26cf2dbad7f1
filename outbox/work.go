package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/heraldhq/herald/internal/bodypool"
	"github.com/heraldhq/herald/internal/deadline"
	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/sender"
)

// Dead letter reasons given by a Queue, at the start of DeadLetter.Reason.
const (
	reasonGone      = "gone (410)"
	reasonRejected  = "rejected"
	reasonExhausted = "schedule exhausted"
	reasonUnknown   = "unknown destination"
)

// attempt makes one attempt of a leased delivery and hands its outcome to
// the settler, which writes it to the outbox in the background: a durable
// commit takes about as long as a fast request, and the lease keeps the
// delivery from being taken again meanwhile. At most 16×Workers outcomes
// wait to be written; beyond that the worker waits. With a watch, the
// body's buffer was lent by the outbox (see bodypool), and is given back
// once the watch says that no write of the worker's requests is still
// reading one.
func (q *Queue) attempt(w *deadline.Timer, watch *bodypool.Watch, l Leased, st *destState) {
	s := q.send(w, watch, l, st)
	if watch != nil && watch.Quiet() {
		bodypool.Put(l.Body)
	}
	l.Body = nil // not needed any more: let it go while the outcome waits
	q.results <- resultOf(&l, s)
}

// send makes the attempt, given half the lease by w, its requests counted
// by watch when it is not nil, and decides its outcome.
func (q *Queue) send(w *deadline.Timer, watch *bodypool.Watch, l Leased, st *destState) Settlement {
	start := time.Now()
	ctx := telemetry.WithTraceparent(w.Start(q.sends, start, q.ttl/2), l.TraceParent)
	if watch != nil {
		ctx = watch.Context(ctx)
	}
	if q.tracer != nil || q.sender.Logger != nil {
		ctx = telemetry.WithAttempt(ctx, l.Attempts+1) // for its span and log lines
	}
	n := attemptNumber(l.Attempts)
	res, err := q.sendGuarded(ctx, st.dest, sender.Message{
		ID: l.ID, Topic: l.Topic, Body: l.Body, ContentType: l.ContentType,
		// The queue has the last word on a delivery with attempts left.
		CallerRetries: n < q.Schedule.attempts(),
	})
	timedOut := w.End()
	a := AttemptRecord{At: start, Status: res.Status, Latency: res.Latency, Tries: res.Attempts}
	if a.Latency == 0 || timedOut {
		// Cut at half its lease, counted from start: the Sender's own
		// clock started a little later, and would say a little less.
		a.Latency = time.Since(start)
	}
	s := Settlement{ID: l.ID, Token: l.Token, Attempt: a}
	if err == nil {
		q.breakerResult(st, true, false)
		q.track(st, true, false)
		s.Outcome = Delivered
		return s
	}
	if q.sends.Err() != nil {
		// Shutdown cut the attempt short: give it back unspent.
		s.Outcome = Released
		return s
	}
	return q.failed(st, s, n, res, err, timedOut)
}

// failed decides the outcome s of attempt number n, which failed with
// err (res is what the Sender returned; timedOut says that half the lease
// cut it): retrying at the next step of the Schedule, waiting for a
// disabled destination, or a dead letter with its reason.
func (q *Queue) failed(st *destState, s Settlement, n int, res sender.Result, err error, timedOut bool) Settlement {
	held := q.track(st, false, errors.Is(err, sender.ErrGone))
	cause := err
	var de *sender.DeliveryError
	retryable := false
	if errors.As(err, &de) {
		retryable = de.Retryable
		if de.Err != nil {
			cause = de.Err // without the id and destination prefix
		}
	}
	if timedOut {
		cause = fmt.Errorf("%w: the attempt outlived half its lease (%s)", context.DeadlineExceeded, q.ttl/2)
	}
	s.Attempt.Error = limits.Clip(cause.Error())
	q.breakerResult(st, !retryable, retryable)
	var paused time.Time
	if retryable && res.RetryAfter > 0 {
		paused = q.pause(st, res.RetryAfter)
	}
	s.Outcome = DeadLettered
	switch {
	case held:
		// The destination is disabled: the delivery waits for it.
		s.Outcome, s.Due = Retrying, time.Now()
		return s
	case errors.Is(err, sender.ErrGone):
		s.Reason = reasonGone
		return s
	case !retryable:
		s.Reason = reasonRejected + ": " + s.Attempt.Error
		return s
	}
	delay, ok := q.Schedule.next(n)
	if !ok {
		plural := "s"
		if n == 1 {
			plural = ""
		}
		s.Reason = fmt.Sprintf("%s after %d attempt%s: %s", reasonExhausted, n, plural, s.Attempt.Error)
		return s
	}
	s.Outcome, s.Due = Retrying, time.Now().Add(delay)
	if paused.After(s.Due) {
		s.Due = paused
	}
	return s
}

// attemptNumber returns the number of the attempt after attempts made: at
// least one, and no schedule's when the count is one no store should
// hold (negative, or about to overflow), so that a damaged or hostile
// record ends in a dead letter rather than being retried for ever.
func attemptNumber(attempts int) int {
	if attempts < 0 || attempts == math.MaxInt {
		return math.MaxInt
	}
	return attempts + 1
}

// breakerResult feeds an attempt's result to the destination's breaker:
// alive when the destination gave an answer that retrying cannot change,
// failed when the failure was retryable. When the breaker opens, the
// destination's buffered deliveries are released unattempted.
func (q *Queue) breakerResult(st *destState, alive, failed bool) {
	if alive && st.calm.Load() {
		return // a success changes nothing: spare the lock every worker takes
	}
	q.mu.Lock()
	before := st.circuit.state
	opened := false
	switch {
	case alive:
		st.circuit.succeeded()
	case failed:
		opened = st.circuit.failed(&q.breaker, time.Now())
	}
	after := st.circuit.state
	st.calm.Store(after == breakerClosed && st.circuit.fails == 0)
	var rest []Leased
	if opened {
		rest = q.unbuffer(st)
	}
	q.mu.Unlock()
	changed := opened || before != after
	if len(rest) == 0 && (q.log == nil || !changed) {
		return // the common case, which should cost nothing more
	}
	ctx := q.store
	q.release(ctx, rest)
	if q.log != nil && changed {
		q.log.LogAttrs(ctx, slog.LevelWarn, "destination circuit breaker "+after.String(),
			slog.String("destination", st.dest.Name))
	}
}
