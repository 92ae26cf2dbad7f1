package outbox

import (
	"io"
	"time"
)

// Names the outbox_test tests use to look inside a Queue.

var ErrQueueStopped = errQueueStopped

const (
	BreakerClosed = breakerClosed
	BreakerOpen   = breakerOpen
)

func (q *Queue) BreakerState(destination string) (breakerState, bool) {
	return q.breakerOf(destination)
}

// Stopping reports whether Shutdown has been called on q.
func Stopping(q *Queue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stopped
}

// AbandonGrace is how long after its sends were cut short a Queue still
// waits for the outbox and the user's callbacks.
const AbandonGrace = abandonGrace

// SetPanicOut sets where the panics of a Logger's handler are written,
// and returns a function that puts it back.
func SetPanicOut(w io.Writer) (restore func()) {
	old := panicOut
	panicOut = w
	return func() { panicOut = old }
}

// SetPanicEvery sets how often the panics of one callback are logged, and
// returns a function that puts it back.
func SetPanicEvery(d time.Duration) (restore func()) {
	old := panicEvery
	panicEvery = d
	return func() { panicEvery = old }
}
