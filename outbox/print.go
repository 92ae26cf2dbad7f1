package outbox

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/shown"
	"github.com/heraldhq/herald/sender"
)

// shown returns q as it may be printed: a pointer to a struct of a type
// named Queue with the exported fields of Queue, the Sender and the
// Destinations as their own Format methods show them, what else the
// program supplied (the Outbox, Metrics, OnDisable, the Logger) by its
// type, and none of the unexported state, whose copies of the
// destinations would print whole. A nil q gives a nil pointer of that type.
func (q *Queue) shown() any {
	type Queue struct {
		Outbox         string
		Sender         *sender.Sender
		Destinations   []sender.Destination
		Workers        int
		PerDestination int
		Schedule       Schedule
		Breaker        Breaker
		LeaseTTL       time.Duration
		Poll           time.Duration
		Metrics        string
		OnDisable      string
		Logger         string
	}
	if q == nil {
		return (*Queue)(nil)
	}
	return &Queue{Outbox: shown.Type(q.Outbox), Sender: q.Sender, Destinations: q.Destinations, Workers: q.Workers,
		PerDestination: q.PerDestination, Schedule: q.Schedule, Breaker: q.Breaker, LeaseTTL: q.LeaseTTL, Poll: q.Poll,
		Metrics: shown.Type(q.Metrics), OnDisable: shown.Type(q.OnDisable), Logger: shown.Type(q.Logger)}
}

// Format prints q under every fmt verb and flag as the struct it is, with
// its exported fields only: the Sender and the Destinations as they print
// themselves (no key, header value or URL credential), the Outbox, Metrics,
// OnDisable and Logger by their types. Under %s, %q and the like fmt
// printed what the Queue's state points to, each destination whole among
// it. slog's text handler prints it so too. The method is on *Queue, which
// holds a lock: a Queue held by value in a struct that is printed still
// prints whole, so hold it by pointer.
func (q *Queue) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), q.shown())
}
