// Package deadline bounds a run of calls made one after another, each with
// its own time limit, as a context.WithTimeout per call would, at a fraction
// of the cost. The sender uses one per pooled delivery for its attempts,
// the outbox queue one per worker for its sends.
//
// A context with a deadline per call costs net/http a context, a
// cancellation registration and a channel of its own for every request;
// on the hot paths that was several percent of the throughput. A Timer
// instead hands consecutive calls the same cancellable context and keeps
// one time.Timer: when a call outlives its limit the timer cancels the
// context, with [context.DeadlineExceeded] as its cause, and the next call
// gets a fresh one. The timer is armed once per period, not per call: a
// timer left pending by an earlier call fires early and re-arms itself for
// the rest.
package deadline

import (
	"context"
	"sync"
	"time"
)

// Timer bounds calls made one at a time. Its zero value is ready to use;
// it must not be copied after first use. Call Start before each call and
// End after it; Release when the parent context is done with; Stop when
// the Timer is.
type Timer struct {
	mu       sync.Mutex
	t        *time.Timer // runs fire
	ctx      context.Context
	cancel   context.CancelCauseFunc
	deadline time.Time // of the call in progress; zero between calls
	pending  bool      // whether t is set to fire
	fired    bool      // whether t cancelled the call in progress
}

// Start begins a call that may last d from now and returns its context: a
// child of parent, the same as the last call's unless that one timed out or
// was released. Call Release before a Start with another parent.
func (w *Timer) Start(parent context.Context, now time.Time, d time.Duration) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t == nil {
		w.t = time.AfterFunc(time.Hour, w.fire)
		w.t.Stop()
	}
	if w.ctx == nil || w.ctx.Err() != nil {
		if w.cancel != nil {
			w.cancel(nil)
		}
		w.ctx, w.cancel = context.WithCancelCause(parent)
	}
	w.deadline, w.fired = now.Add(d), false
	// A timer still pending from an earlier call fires no later than
	// this deadline when every call has the same limit, and fire then
	// re-arms it for the rest: one Reset per period rather than a Reset
	// and a Stop per call.
	if !w.pending || d <= 0 {
		w.pending = true
		w.t.Reset(time.Until(w.deadline))
	}
	return w.ctx
}

// End ends the call in progress and reports whether it ran out of time.
// The timer may still fire, to no effect.
func (w *Timer) End() (timedOut bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = time.Time{}
	return w.fired
}

// TimedOut reports whether the timer cancelled the call in progress (or the
// last one, after End).
func (w *Timer) TimedOut() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// Release ends the call in progress and cancels the context calls share,
// so that the next Start makes a new one and nothing keeps parent.
func (w *Timer) Release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = time.Time{}
	if w.cancel != nil {
		w.cancel(nil)
	}
	w.ctx, w.cancel = nil, nil
}

// Stop releases the context and stops the timer.
func (w *Timer) Stop() {
	w.Release()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t != nil {
		w.t.Stop()
		w.pending = false
	}
}

// fire runs when the timer goes off: it cancels the call in progress if its
// time is up, and re-arms the timer for the rest if not.
func (w *Timer) fire() {
	w.mu.Lock()
	w.pending = false
	if w.deadline.IsZero() {
		w.mu.Unlock()
		return
	}
	if rest := time.Until(w.deadline); rest > 0 {
		w.pending = true
		w.t.Reset(rest)
		w.mu.Unlock()
		return
	}
	w.deadline, w.fired = time.Time{}, true
	// Cancel before unlocking: unlocked first, the call could end and the
	// next Start take the context, not yet cancelled, for its own, and
	// this cancel would cut short the next call, another delivery's.
	// Cancelling runs no code that takes w.mu.
	w.cancel(context.DeadlineExceeded)
	w.mu.Unlock()
}
