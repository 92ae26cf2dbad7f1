package outbox

import "time"

// Metrics receives what a Queue does, for counters, histograms and gauges.
// Its methods are called from the Queue's goroutines and must be safe for
// concurrent use and quick; see [Queue.Metrics] for what the Queue does
// when one blocks or panics. One that is also a [HoldMetrics] is told, at
// the pace of Depth, which destinations are held.
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

// HoldMetrics is what a [Metrics] may also implement to be told which of
// the Queue's destinations are held, so that an operator can alert on a
// destination disabled. A Queue calls Held for each of its destinations
// (by name, "" for one without) about once per poll interval, next to
// [Metrics.Depth] and whether or not the Outbox is an [Admin]: with the
// zero Hold once the destination is back in normal service, so that an
// implementation can set a gauge per destination and state without
// remembering what it set before. Like Metrics's, its calls must be safe
// for concurrent use and quick.
type HoldMetrics interface {
	// Held is called with each destination's Hold, the zero Hold for one
	// in normal service.
	Held(destination string, h Hold)
}

// Hold says why a destination is not in normal service; the zero Hold
// says it is. A disabled destination is only Disabled: nothing is sent
// to it, so neither its breaker nor its failures matter until it is
// enabled. Paused and Failing may come together.
type Hold struct {
	// Paused: its circuit breaker is open, for its cool-down, or half-open
	// with a probe in flight (see [Breaker]), or it asked for a pause with
	// Retry-After; its deliveries wait.
	Paused bool
	// Failing: the outbox records it failing, without a success for a
	// minute or half its DisableAfter; it is disabled if that lasts its
	// DisableAfter. Only a destination with a DisableAfter is recorded.
	Failing bool
	// Disabled: its deliveries are held in the outbox until it is
	// enabled: after a 410 Gone or its DisableAfter, here or in another
	// Queue on the outbox.
	Disabled bool
}

// reportHolds tells hm the Hold of each of the Queue's destinations. It
// runs once per poll interval, never per delivery; hm is called without
// q.mu held.
func (q *Queue) reportHolds(hm HoldMetrics) {
	type named struct {
		name string
		h    Hold
	}
	now := time.Now()
	q.mu.Lock()
	holds := make([]named, len(q.order))
	for i, st := range q.order {
		h := Hold{Disabled: st.ctl.disabled}
		if !h.Disabled {
			h.Paused = st.circuit.holds(now) || now.Before(st.ctl.paused)
			h.Failing = st.ctl.stored.Load()
		}
		holds[i] = named{st.dest.Name, h}
	}
	q.mu.Unlock()
	for _, n := range holds {
		hm.Held(n.name, n.h)
	}
}
