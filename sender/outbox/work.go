package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/sender"
)

// Dead letter reasons given by a Queue, at the start of DeadLetter.Reason.
const (
	ReasonGone      = "gone (410)"
	ReasonRejected  = "rejected"
	ReasonExhausted = "schedule exhausted"
	ReasonUnknown   = "unknown destination"
)

// outcome is what to write to the outbox after an attempt.
type outcome struct {
	kind   Outcome
	a      Attempt
	reason string
	due    time.Time
}

// attempt makes one attempt of a leased delivery, frees its slots, and
// writes the outcome to the outbox in the background: a durable commit
// takes about as long as a fast request, and the lease keeps the delivery
// from being taken again meanwhile. At most 16×Workers outcomes wait to be
// written; beyond that the worker waits.
func (q *Queue) attempt(l Leased, st *destState) {
	o := q.send(l, st)
	l.Body = nil // not needed any more: let it go while the outcome waits
	q.settling <- struct{}{}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		// Settling must survive shutdown: losing an ack means a duplicate.
		q.settle(context.WithoutCancel(q.sends), l, o)
		<-q.settling
	}()
}

// send makes the attempt and decides its outcome.
func (q *Queue) send(l Leased, st *destState) outcome {
	sctx, cancel := context.WithTimeout(q.sends, q.ttl/2)
	start := time.Now()
	res, err := q.sender.Send(sctx, st.dest, sender.Message{
		ID: l.ID, Topic: l.Topic, Body: l.Body, ContentType: l.ContentType,
	})
	cancel()
	a := Attempt{At: start, Status: res.Status, Latency: res.Latency, Tries: res.Attempts}
	if a.Latency == 0 {
		a.Latency = time.Since(start)
	}
	if err == nil {
		q.breakerResult(st, true, false)
		return outcome{kind: Delivered, a: a}
	}
	if q.sends.Err() != nil {
		// Shutdown cut the attempt short: give it back unspent.
		return outcome{kind: Released, a: a}
	}
	cause := err
	var de *sender.DeliveryError
	retryable := false
	if errors.As(err, &de) {
		retryable = de.Retryable
		if de.Err != nil {
			cause = de.Err // without the id and destination prefix
		}
	}
	a.Error = ClipText(cause.Error())
	q.breakerResult(st, !retryable, retryable)
	switch {
	case errors.Is(err, sender.ErrGone):
		return outcome{kind: DeadLettered, a: a, reason: ReasonGone}
	case !retryable:
		return outcome{kind: DeadLettered, a: a, reason: ReasonRejected + ": " + a.Error}
	}
	delay, ok := q.Schedule.Next(l.Attempts + 1)
	if !ok {
		reason := fmt.Sprintf("%s after %d attempts: %s", ReasonExhausted, l.Attempts+1, a.Error)
		return outcome{kind: DeadLettered, a: a, reason: reason}
	}
	return outcome{kind: Retrying, a: a, due: time.Now().Add(delay)}
}

// settle records the outcome of an attempt in the outbox and in Metrics.
func (q *Queue) settle(ctx context.Context, l Leased, oc outcome) {
	var err error
	o, a, reason, due := oc.kind, oc.a, oc.reason, oc.due
	number := l.Attempts + 1
	switch o {
	case Delivered:
		err = q.Outbox.Ack(ctx, l.ID, l.Token)
	case Retrying:
		err = q.Outbox.Reschedule(ctx, l.ID, l.Token, due, a)
	case DeadLettered:
		err = q.Outbox.DeadLetter(ctx, l.ID, l.Token, reason, a)
		if err == nil && q.Logger != nil {
			q.Logger.LogAttrs(ctx, slog.LevelWarn, "webhook dead-lettered",
				slog.String("id", l.ID), slog.String("destination", l.Destination),
				slog.Int("attempts", number), slog.String("reason", reason))
		}
	case Released:
		number = 0
		err = q.Outbox.Release(ctx, l.ID, l.Token)
	}
	if err != nil && !errQuiet(err) {
		q.logError(ctx, "outbox update failed", err,
			slog.String("id", l.ID), slog.String("destination", l.Destination), slog.String("outcome", o.String()))
	}
	if q.Metrics != nil {
		q.Metrics.Observe(Event{Destination: l.Destination, Outcome: o, Status: a.Status, Latency: a.Latency, Attempt: number})
	}
}

// breakerResult feeds an attempt's result to the destination's breaker:
// alive when the destination gave an answer that retrying cannot change,
// failed when the failure was retryable. When the breaker opens, the
// destination's buffered deliveries are released unattempted.
func (q *Queue) breakerResult(st *destState, alive, failed bool) {
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
	var rest []Leased
	if opened {
		rest = q.unbuffer(st)
	}
	q.mu.Unlock()
	ctx := context.WithoutCancel(q.sends)
	for _, l := range rest {
		q.settle(ctx, l, outcome{kind: Released})
	}
	if q.Logger != nil && (opened || before != after) {
		q.Logger.LogAttrs(ctx, slog.LevelWarn, "destination circuit breaker "+after.String(),
			slog.String("destination", st.dest.Name))
	}
}
