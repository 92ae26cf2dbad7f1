package outbox

import "errors"

// Sentinel errors of the package and of every [Outbox] implementation.
// Match them with [errors.Is].
var (
	// ErrNotFound: no delivery (or dead letter) has the given id.
	ErrNotFound = errors.New("outbox: delivery not found")
	// ErrLeaseLost: the lease named by the id and token is no longer held:
	// it ran out and another worker took the delivery, or the delivery was
	// already acknowledged, rescheduled, released or dead-lettered.
	ErrLeaseLost = errors.New("outbox: lease lost")
	// ErrInvalid: a delivery, selector or option is malformed (empty id,
	// control characters in a name, oversized body, a destination the
	// Queue was not given, ...).
	ErrInvalid = errors.New("outbox: invalid argument")
	// ErrClosed: the outbox was closed.
	ErrClosed = errors.New("outbox: closed")
	// errQueueStopped: the Queue was shut down, or its Run has not been
	// called and never will be.
	errQueueStopped = errors.New("outbox: queue stopped")
	// ErrCorrupt: stored data cannot be read back: a damaged file or record,
	// a missing body or index entry. Implementations wrap
	// it with the location of the damage.
	ErrCorrupt = errors.New("outbox: corrupt data")
)
