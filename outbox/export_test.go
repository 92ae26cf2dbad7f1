package outbox

// Names the outbox_test tests use to look inside a Queue.

var ErrQueueStopped = errQueueStopped

const (
	BreakerClosed = breakerClosed
	BreakerOpen   = breakerOpen
)

func (q *Queue) BreakerState(destination string) (breakerState, bool) {
	return q.breakerOf(destination)
}
