package outbox

// waker is an [Outbox] that can say when deliveries may have become due
// through someone else than this Queue: another process stored them, or a
// transaction that stored them committed. Wake returns a channel that is
// closed then; each call returns the channel of the next such moment. The
// Queue waits on it besides its own pokes and its Poll timer, so that it
// starts at once rather than at the next poll. The PostgreSQL store is one.
type waker interface {
	Wake() <-chan struct{}
}

// storeWake returns the channel of the Outbox's next wake-up, or nil (which
// never fires) when the Outbox cannot tell.
func (q *Queue) storeWake() <-chan struct{} {
	if w, ok := q.Outbox.(waker); ok {
		return w.Wake()
	}
	return nil
}
