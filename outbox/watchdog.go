package outbox

import (
	"context"
	"sync"
	"time"
)

// A watchdog bounds each send of one worker, as a context.WithTimeout per
// send would, without a new context per send: a context with a deadline
// handed to Sender.Send costs net/http and the Sender a context, a
// cancellation registration and a channel of their own for every request,
// which cost the Queue about 3 % of its throughput. The worker's sends
// share one context instead; the watchdog's timer cancels it when a send
// outlives its time, and the next send then gets a new one. The timer is
// armed once per period, not per send: a pending timer that fires early
// re-arms itself for the rest.
type watchdog struct {
	parent context.Context

	mu       sync.Mutex
	ctx      context.Context
	cancel   context.CancelFunc
	timer    *time.Timer
	deadline time.Time // of the send in progress; zero between sends
	pending  bool      // whether the timer is set to fire
	fired    bool      // whether it cancelled the send in progress
}

// newWatchdog returns a watchdog whose contexts are children of parent.
// Call stop when done with it.
func newWatchdog(parent context.Context) *watchdog {
	w := &watchdog{parent: parent}
	w.timer = time.AfterFunc(time.Hour, w.bark)
	w.timer.Stop()
	return w
}

// start begins a send that may last d and returns its context.
func (w *watchdog) start(d time.Duration) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil || w.ctx.Err() != nil {
		if w.cancel != nil {
			w.cancel()
		}
		w.ctx, w.cancel = context.WithCancel(w.parent)
	}
	w.deadline, w.fired = time.Now().Add(d), false
	if !w.pending {
		w.pending = true
		w.timer.Reset(d)
	}
	return w.ctx
}

// end ends the send in progress and reports whether it ran out of time.
func (w *watchdog) end() (timedOut bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = time.Time{}
	return w.fired
}

// bark runs when the timer fires: it cancels the send in progress if its
// time is up, and re-arms the timer for the rest if not.
func (w *watchdog) bark() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = false
	if w.deadline.IsZero() {
		return
	}
	if rest := time.Until(w.deadline); rest > 0 {
		w.pending = true
		w.timer.Reset(rest)
		return
	}
	w.deadline, w.fired = time.Time{}, true
	w.cancel()
}

// stop stops the timer and releases the context.
func (w *watchdog) stop() {
	w.timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
}
