package outbox

import "time"

// Metrics receives what a Queue does, for counters, histograms and gauges.
// Its methods are called from the Queue's goroutines and must be safe for
// concurrent use and quick.
type Metrics interface {
	// Observe is called once per delivery attempt (or deferral) with its
	// outcome.
	Observe(s Sample)
	// Depth is called about once per poll interval with the outbox's
	// counts and the number of deliveries in flight, when the Outbox is
	// an [Admin] (every store of this module is).
	Depth(s Stats, inFlight int)
}

// Outcome is what became of one attempt of a delivery.
type Outcome int

// Outcomes of an attempt.
const (
	// Delivered: the destination answered 2xx; the delivery is gone.
	Delivered Outcome = iota
	// Retrying: the attempt failed and the delivery is rescheduled.
	Retrying
	// DeadLettered: the delivery became a dead letter.
	DeadLettered
	// Released: the delivery was given back unattempted, or its attempt
	// was cut short by shutdown; its attempt count is unchanged.
	Released
)

// String returns the outcome's name in lower case.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retrying:
		return "retrying"
	case DeadLettered:
		return "dead-lettered"
	case Released:
		return "released"
	}
	return "unknown"
}

// Sample is what [Metrics] observes of one attempt (or release) of a
// delivery: a measurement, not an event the listener handles.
type Sample struct {
	// Destination is the destination's name.
	Destination string
	// Outcome is what became of the delivery.
	Outcome Outcome
	// Status is the last HTTP status, 0 when no response came.
	Status int
	// Latency is the duration of the attempt, in-process retries included.
	Latency time.Duration
	// Attempt numbers the attempt from 1 (0 for a release).
	Attempt int
}
