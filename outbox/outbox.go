package outbox

import (
	"context"
	"errors"
	"time"
)

// An Outbox keeps deliveries durably until they are delivered or dead,
// and hands them out to workers under time-limited leases. It is what a
// [Queue] needs of a store: put, lease, settle, close. Listing, replaying
// and purging dead letters, attempt history and counts are the optional
// [Admin] interface.
//
// A leased delivery belongs to its lease holder, identified by the lease
// token, until the holder settles it, or until the lease runs out; then it
// is due again and may be leased by another worker. A settlement whose
// token no longer holds the lease fails with [ErrLeaseLost], so a slow
// worker cannot undo the work of the one that took over.
//
// The Queue validates deliveries (ids and destination names of 1 to 256
// bytes, topics and content types of at most 1024, bodies of at most
// 32 MiB) and fills their defaults (Due, Created) before Put, clips error
// and reason texts to 1024 bytes before Settle, and fills
// [LeaseOptions]; an implementation checks only what its storage format
// needs. It keeps every time as an int64 of Unix nanoseconds holds it:
// one before 1678 or after 2262 becomes the nearest such time, and keeps
// its place in time. Package outboxtest checks an implementation against
// this contract. Implementations are safe for concurrent use.
type Outbox interface {
	// Put stores deliveries and returns once they are durably committed.
	// Put is idempotent on the delivery id and destination: a delivery
	// whose id the outbox already holds for the same destination, pending,
	// leased or dead, is left as it is and the new one dropped without
	// error (a client retrying). An id the outbox holds for another
	// destination, or that ds gives for two destinations, fails the whole
	// Put with an error wrapping [ErrInvalid] that names the id and both
	// destinations: dropped, that delivery would never be sent. Once a
	// delivery has been acknowledged its id is forgotten. Put is all or
	// nothing: when it
	// returns an error, none of ds was stored, except where the store
	// says otherwise (natsstore keeps one a worker leased before its
	// undo, and names it in the error). When it returns nil, every
	// delivery of ds is held, whatever becomes of a concurrent Put of the
	// same id that fails (a client retrying an event on another worker).
	Put(ctx context.Context, ds ...Delivery) error

	// Lease takes up to o.Max due deliveries (due time not after o.Now,
	// and not held under a live lease) and leases them for o.TTL. It
	// returns an empty slice when none is due. A store that keeps key
	// order (see [Queue]) also passes over a delivery with a PartitionKey
	// while one put before it with the same destination and key is
	// pending or leased.
	Lease(ctx context.Context, o LeaseOptions) ([]Leased, error)

	// Settle ends leases with the outcomes of their attempts, and returns
	// one error per settlement, nil where it was recorded:
	//   - Delivered removes the delivery, its body and its history;
	//   - Retrying records the Attempt in the history, counts it in
	//     Delivery.Attempts, and makes the delivery due again at Due;
	//   - DeadLettered records the Attempt, counts it, and moves the
	//     delivery to the dead letters with Reason;
	//   - Released gives the delivery back without recording an attempt,
	//     due again at its previous due time.
	// Settlements are independent: one failing does not undo the others.
	// A store that writes to disk commits a batch together.
	Settle(ctx context.Context, ss []Settlement) []error

	// Close releases the outbox's resources. Leases die with it.
	Close() error
}

// The errors of every [Outbox] implementation, which the Queue and tools
// act on; match them with [errors.Is].
var (
	// ErrNotFound: no delivery (or dead letter) has the given id.
	ErrNotFound = errors.New("outbox: delivery not found")
	// ErrLeaseLost: the lease named by the id and token is no longer held:
	// it ran out and another worker took the delivery, or the delivery was
	// already acknowledged, rescheduled, released or dead-lettered.
	ErrLeaseLost = errors.New("outbox: lease lost")
	// ErrClosed: the outbox was closed.
	ErrClosed = errors.New("outbox: closed")
	// ErrCorrupt: stored data cannot be read back: a damaged file or record,
	// a missing body or index entry. Implementations wrap
	// it with the location of the damage.
	ErrCorrupt = errors.New("outbox: corrupt data")
)

// Admin is what an [Outbox] may offer people and tools besides what a
// [Queue] needs: dead letters, attempt history and counts. Every store of
// this module implements it. Where you hold only an Outbox, reach it with a
// type assertion (the Queue does, for [Metrics.Depth]); [AdminHandler]
// serves it over HTTP.
type Admin interface {
	// DeadLetters lists dead letters matching q, ordered by destination
	// and then id. Bodies are not loaded.
	DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)

	// Replay moves the selected dead letters back to pending, due now,
	// with their attempt count reset to zero (their history is kept), and
	// returns how many moved. A store that keeps the order of a partition
	// key puts each at the back of its line, and the dead letters of one
	// line in the order they held in it, the order they died in, whatever
	// their ids.
	Replay(ctx context.Context, s Selector) (int, error)

	// Purge deletes the selected dead letters and returns how many.
	Purge(ctx context.Context, s Selector) (int, error)

	// History returns the recorded attempts of a pending or dead delivery,
	// oldest first, or [ErrNotFound]. A store keeps the newest 64 attempts
	// of a delivery at most, deleting the oldest as it records new ones,
	// so that a dead letter replayed again and again does not grow its
	// history without bound (natsstore may keep fewer, when their texts
	// would not fit its record).
	History(ctx context.Context, id string) ([]AttemptRecord, error)

	// Stats counts the deliveries held.
	Stats(ctx context.Context) (Stats, error)
}

// Settlement is what to record of one leased delivery, for
// [Outbox.Settle].
type Settlement struct {
	// ID and Token name the delivery and its lease.
	ID, Token string
	// Outcome says what became of the attempt.
	Outcome Outcome
	// Due is when a Retrying delivery is due again.
	Due time.Time
	// Attempt is the attempt recorded by Retrying and DeadLettered.
	Attempt AttemptRecord
	// Reason says why a DeadLettered delivery died.
	Reason string
}

// Delivery is one message waiting for one destination.
type Delivery struct {
	// ID identifies the delivery and is sent as its webhook-id. Required:
	// 1 to 256 bytes of printable ASCII without spaces.
	ID string `json:"id"`
	// Destination names the [sender.Destination] to deliver to. Required:
	// 1 to 256 bytes of UTF-8 without control characters, line separators
	// or bidi controls, as it shows in logs and listings.
	Destination string `json:"destination"`
	// EventID is the id of the event the delivery was made from, if any,
	// so that a dead letter can be traced to its event: at most 256 bytes
	// of UTF-8 without control characters, line separators or bidi
	// controls.
	EventID string `json:"event_id,omitempty"`
	// TraceParent is the W3C traceparent of the span the delivery was
	// enqueued under, if any: every attempt continues that trace and
	// sends it on as its traceparent header, after a restart too. The
	// Queue fills it from Enqueue's context; at most 256 bytes of
	// printable ASCII. It is tracing metadata, not authenticated.
	TraceParent string `json:"traceparent,omitempty"`
	// Topic is the event topic, if any: at most 1024 bytes of UTF-8
	// without control characters, line separators or bidi controls.
	Topic string `json:"topic,omitempty"`
	// PartitionKey, if set, puts the delivery in line behind the earlier
	// ones of its destination and key: a store that keeps key order (see
	// [Queue]) leases it only once every delivery put before it with the
	// same destination and key is delivered or dead. At most 256 bytes
	// without control characters. The Queue sets it only for a destination
	// with Ordered set.
	PartitionKey string `json:"partition_key,omitempty"`
	// ContentType of the body; empty means application/json.
	ContentType string `json:"content_type,omitempty"`
	// Body is the exact request body, at most 32 MiB. It is
	// never encoded as JSON, so that a listing cannot leak it.
	Body []byte `json:"-"`
	// Due is when the delivery may next be attempted.
	Due time.Time `json:"due"`
	// Created is when the delivery was first stored.
	Created time.Time `json:"created"`
	// Attempts counts the failed attempts recorded since the delivery was
	// stored or last replayed. The Queue picks the next delay of its
	// [Schedule] with it.
	Attempts int `json:"attempts"`
}

// Leased is a delivery held under a lease.
type Leased struct {
	Delivery
	// Token identifies this lease; pass it to [Outbox.Settle].
	Token string
	// Until is when the lease runs out.
	Until time.Time
}

// LeaseOptions say what [Outbox.Lease] may take. A Queue fills Max, TTL
// and Now, so a store relies on them and fills no defaults of its own;
// whoever else calls Lease (a tool, a test) fills them too.
type LeaseOptions struct {
	// Max is the most deliveries to lease, at least 1.
	Max int
	// TTL is how long the leases last: [Queue.LeaseTTL].
	TTL time.Duration
	// Now is the time that decides what is due and when the leases run
	// out: the current time.
	Now time.Time
	// Allow, if set, says how many deliveries to the named destination may
	// be leased by this call (zero or less: none). Implementations call it
	// at most once per destination and call, and skip a refused
	// destination without reading its deliveries, so that a blocked
	// destination costs nothing. Nil allows any number. Lease visits
	// destinations in turn, starting after the last one it served, so that
	// one busy destination does not take every lease.
	Allow func(destination string) int
}

// defaultLeaseTTL is the lease duration when [Queue.LeaseTTL] is zero.
const defaultLeaseTTL = 5 * time.Minute

// AttemptRecord is one attempt of a delivery as the outbox keeps it in the
// delivery's history (an attempt may be a short burst of in-process retries
// by the Sender, each reported live as a [sender.Attempt]). It never holds
// a secret, a signature or a URL query string.
type AttemptRecord struct {
	// At is when the attempt started.
	At time.Time `json:"at"`
	// Status is the last HTTP status, 0 when no response came.
	Status int `json:"status,omitempty"`
	// Latency is how long the attempt took, in-process retries included.
	Latency time.Duration `json:"latency_ns"`
	// Tries is how many HTTP requests the attempt made.
	Tries int `json:"tries,omitempty"`
	// Error describes the failure; empty on success. At most
	// 1024 bytes.
	Error string `json:"error,omitempty"`
}

// DeadLetter is a delivery that will not be attempted again unless replayed.
type DeadLetter struct {
	// Delivery is the dead delivery, without its Body.
	Delivery
	// Reason says why it died; a Queue gives one of "rejected: <cause>",
	// "schedule exhausted after <n> attempts: <cause>", "unknown
	// destination", and "gone (410)" over an Outbox that is not a
	// [DestinationStore] (over one that is, a 410 disables the destination
	// and the delivery waits for it).
	Reason string `json:"reason"`
	// At is when it died.
	At time.Time `json:"dead_at"`
}

// DeadLetterQuery selects dead letters to list. The zero value lists them
// all, up to 1000.
type DeadLetterQuery struct {
	// Destination restricts the list to one destination; empty means all.
	Destination string
	// After resumes a listing: pass the last dead letter of the previous
	// page, and only those ordered after it (by destination, then id) are
	// returned; only its Destination and ID matter. Nil starts at the
	// beginning.
	After *DeadLetter
	// Limit caps the number returned; zero or less means
	// 1000.
	Limit int
}

// Selector selects dead letters to replay or purge: those whose id is in
// IDs, or every one for Destination, or every one at all when All is set.
// Set exactly one of the three: a zero Selector, and one that sets two or
// more, are errors ([ErrInvalid]), so that nothing purges everything by
// accident and a Destination never widens to every destination's (with
// All) or to dead letters of other destinations (with IDs).
type Selector struct {
	IDs         []string `json:"ids,omitempty"`         // dead letters with these ids
	Destination string   `json:"destination,omitempty"` // every dead letter for this destination
	All         bool     `json:"all,omitempty"`         // every dead letter

	ids map[string]bool // IDs as a set, made by Validate when there are many
}

// Stats counts deliveries in an outbox.
type Stats struct {
	// Pending counts deliveries waiting or in flight, leased ones included.
	Pending int `json:"pending"`
	// Leased counts deliveries under a live lease.
	Leased int `json:"leased"`
	// Dead counts dead letters.
	Dead int `json:"dead"`
}
