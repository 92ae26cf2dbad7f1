package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/internal/backoff"
	"github.com/heraldhq/herald/internal/bodypool"
	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/sender"
)

// Queue defaults, used for its zero fields.
const (
	defaultWorkers = 16
	defaultPoll    = time.Second
	// minLeaseTTL is the shortest LeaseTTL a Queue takes: a worker gives
	// back a delivery leased more than half a TTL ago, so a LeaseTTL of
	// 300 (nanoseconds, meant as seconds) had every delivery given back.
	minLeaseTTL = 100 * time.Millisecond
	// minPoll is the shortest Poll a Queue takes: each poll is a read of
	// the outbox, and a Poll of 1 (nanosecond, meant as a second) had an
	// idle Queue read it without pause, a core spent on nothing.
	minPoll = time.Millisecond
	// defaultBurst is the in-process attempts of the Sender a Queue makes
	// when it is given none: the outbox's [Schedule] does the long retries.
	defaultBurst = 2
)

// abandonGrace is how long after a Queue cut its sends short (Shutdown's
// context ended, or Run's) it still waits for the outbox to record their
// releases and outcomes; then the outbox calls under way are abandoned.
// A healthy store records them in milliseconds; one that hangs leaves
// them leased, and they are sent again once their leases end.
const abandonGrace = time.Second

// errQueueStopped: Run was called a second time.
var errQueueStopped = errors.New("outbox: Queue.Run called twice")

// Queue delivers the contents of an [Outbox]. Its workers lease due
// deliveries, send each with Sender.Send, and then acknowledge it,
// reschedule it along the Schedule, or dead-letter it.
//
// Set the fields, then call [Queue.Run]; do not change them afterwards.
// Enqueue may be called before, during and after Run.
//
// A delivery whose destination name is not among Destinations (it was
// removed from the configuration after the delivery was stored) is
// dead-lettered at lease time with the reason "unknown destination", so that
// it is visible and can be replayed once the destination is configured
// again, rather than failing silently on a schedule.
//
// A destination with Ordered set receives the deliveries that share a
// [sender.Message.PartitionKey] one at a time, in enqueue order: the next
// waits until the previous is delivered or dead-lettered, however many
// retries that takes, while other keys, and deliveries without a key, go
// out in parallel. The Outbox keeps that order, across restarts and
// workers: it must have a method OrdersByKey() bool that returns true
// ([NewMemory], the bbolt and PostgreSQL stores do; the NATS store does not), or every
// method of the Queue fails with [ErrInvalid].
//
// A destination's deliveries may wait in the outbox as a whole, holding no
// worker, while the other destinations keep their pace: for as long as a
// 429 or 503 asked with Retry-After (at most Breaker.MaxCooldown), for its
// rate limit ([sender.Destination.Rate]), for its breaker, and while it
// is disabled (see [Queue.OnDisable]).
type Queue struct {
	// Outbox holds the deliveries. Required.
	Outbox Outbox
	// Sender sends them. Each attempt but the last of the Schedule is one
	// request (the Queue sets Message.CallerRetries), and a failed one
	// waits in the outbox, holding no worker; the last attempt gets the
	// Sender's in-process retries, so its RetryPolicy should allow only a
	// short burst (MaxAttempts 1 to 3). A panic inside a Send of the
	// Queue's (in a Destination's Signer, the Sender's OnAttempt, Logger or
	// providers) is recovered and logged at Error with its stack, through
	// Logger (else slog.Default), and the attempt counts as failed and
	// retryable: the delivery follows its Schedule, and becomes a dead
	// letter at its end, whether or not the request was made. Nil means a Sender with
	// MaxAttempts 2 and otherwise the defaults, whose connections Run
	// closes before it returns.
	Sender *sender.Sender
	// Destinations are the destinations deliveries name, each with a
	// distinct, non-empty Name. Their URLs and Signers stay in memory.
	Destinations []sender.Destination
	// Workers is how many deliveries are sent at once, at most 10000
	// (more fails with [ErrInvalid]); zero means 16. Up to as many more
	// wait leased in memory, so that a worker finds its next delivery at
	// once: at most 2×Workers bodies are held, however many are pending.
	Workers int
	// PerDestination caps the deliveries sent at once to one destination,
	// so that a slow endpoint cannot occupy every worker (and at most
	// twice as many are leased for it); zero means half the workers,
	// rounded up. Two slow destinations can then still occupy them all
	// until their attempts time out: where many tenants share a Queue,
	// set it lower. At most 10000, as Workers.
	PerDestination int
	// Schedule spaces the attempts of a delivery; zero is the default.
	Schedule Schedule
	// Breaker configures the per-destination circuit breaker.
	Breaker Breaker
	// LeaseTTL is how long a worker holds a delivery; a delivery whose
	// worker died is due again after it. Each Send is given half of it.
	// Zero means 5 minutes; under 100 ms fails with [ErrInvalid].
	LeaseTTL time.Duration
	// Poll is how often an idle Queue looks for due deliveries (Enqueue
	// wakes it at once, and so does a store that can tell when another
	// process stored some, as pgstore's does); zero means one second. A
	// Lease that failed is tried again sooner: within 100 ms, then within
	// twice as long at each failure in a row, up to 5 seconds. Under 1 ms
	// fails with [ErrInvalid].
	Poll time.Duration
	// Metrics, if set, receives attempt outcomes and queue depth. The
	// Queue also records them as OpenTelemetry metrics, and traces its
	// deliveries, through its Sender's providers: see Delivery.TraceParent.
	// Its methods are called from the Queue's goroutines and must not
	// block: one that does holds up the outcomes behind it, and
	// [Queue.Shutdown] and [Queue.Run] stop waiting for it a second after
	// their contexts end, leaving what it holds leased, to be sent again
	// (at least once). A method that panics is recovered: the panic is
	// logged at Error with its stack, through Logger (else slog.Default),
	// and the Queue carries on; that sample or count is lost, nothing else.
	Metrics Metrics
	// OnDisable, if set, is called when the Queue disables a destination
	// (see [sender.Destination.DisableAfter]; a 410 Gone disables at
	// once), with its name and why; [Queue.Enable] resumes it. It is
	// called from a worker, after the destination is disabled and its
	// state recorded, and must not block: the worker's delivery waits for
	// it, and [Queue.Shutdown] and [Queue.Run] stop waiting for it a second
	// after their contexts end, leaving that delivery leased, to be sent
	// again once its lease ends. A panic in it is recovered and logged at
	// Error with its stack, through Logger (else slog.Default); the
	// destination stays disabled.
	OnDisable func(destination, reason string)
	// Logger receives a line per dead letter, breaker change and
	// destination disabled, here or in the outbox's recorded states (Warn),
	// per outbox failure (Error), per panic recovered in a callback of
	// the program's (Error, with its stack; at most one line per callback
	// in ten seconds, which counts the panics not logged since the last),
	// and when leasing succeeds again after failures (Info); nil means no
	// logs but for those panics, which go to slog.Default. Lines never carry
	// a URL, secret or signature. Its handler is called from the Queue's
	// goroutines and must not block, as Metrics's methods must not (see
	// there). A panic in it is recovered, and written to standard error
	// with its stack; that line is lost, and the Queue carries on.
	Logger *slog.Logger

	initOnce sync.Once
	initErr  error
	sender   *sender.Sender
	workers  int
	perDest  int
	ttl      time.Duration
	poll     time.Duration
	breaker  Breaker
	tracer   trace.Tracer // nil: tracing off
	metrics  Metrics      // Metrics (guarded) and otel's; nil: none
	log      *slog.Logger // Logger, its handler's panics recovered; nil: none
	// lends says that the Outbox takes the buffers of the bodies it
	// leases from bodypool, so that the workers give them back.
	lends bool
	// panics spaces the log lines of callbacks that keep panicking.
	panics panicLog

	// mu guards the destinations' state, the buffer and the counts; work
	// is signalled on it when deliveries are buffered or slots free up.
	mu       sync.Mutex
	work     *sync.Cond
	dests    map[string]*destState
	order    []*destState // the destinations, for round-robin picking
	next     int          // where the next pick starts in order
	buffered int          // leased deliveries waiting for a worker
	sending  int          // deliveries being sent
	wakeAt   time.Time    // when a paused or limited destination may send
	// retryAt is the earliest end of a lease whose outcome the outbox
	// failed to record: its delivery is due again then, and no store
	// notification says so.
	retryAt  time.Time
	stateGen uint64 // counts finished writes of destination states
	writing  int    // local state changes whose write to the store is under way
	halted   bool   // Run stopped leasing: workers release the buffer
	running  bool   // Run was called
	stopped  bool
	stop     chan struct{} // closed by Shutdown
	done     chan struct{} // closed when Run returns
	wake     chan struct{} // Enqueue and finishing workers poke the leaser
	// results carries the outcomes of attempts to the settler; its
	// capacity bounds those waiting to be written.
	results chan result

	// sends is the parent context of every Send; cancelled when shutdown
	// ran out of time.
	sends       context.Context
	cancelSends context.CancelFunc
	// store is the context of the outbox calls made while the Queue runs
	// (leases, outcomes, releases, destination states). It ends
	// abandonGrace after sends, so that a store that hangs (a database
	// server frozen, a network partition) cannot hold Shutdown, or Run
	// whose context ended, past it.
	store context.Context
	wg    sync.WaitGroup
}

// destState is what the Queue knows about one destination.
type destState struct {
	dest    sender.Destination
	queue   leasedQueue // leased, waiting for a worker
	sending int
	circuit circuit
	// calm is set, under mu, while the breaker is closed with no failure
	// counted: a success then leaves the circuit as it is.
	calm atomic.Bool
	ctl  control // pause, rate limit, disabled (control.go)
}

// init applies defaults and indexes the destinations.
func (q *Queue) init() error {
	q.initOnce.Do(func() {
		q.log = guardLog(q.Logger)
		_, q.lends = q.Outbox.(bodypool.Lender)
		q.sender = q.Sender
		if q.sender == nil {
			q.sender = &sender.Sender{Retry: sender.RetryPolicy{MaxAttempts: defaultBurst}}
		}
		q.initTelemetry()
		q.workers = q.Workers
		if q.workers <= 0 {
			q.workers = defaultWorkers
		}
		q.perDest = q.PerDestination
		if q.perDest <= 0 {
			q.perDest = (q.workers + 1) / 2
		}
		q.ttl = q.LeaseTTL
		if q.ttl <= 0 {
			q.ttl = defaultLeaseTTL
		}
		q.poll = q.Poll
		if q.poll <= 0 {
			q.poll = defaultPoll
		}
		q.breaker = q.Breaker.withDefaults()
		q.stop = make(chan struct{})
		q.done = make(chan struct{})
		q.work = sync.NewCond(&q.mu)
		q.wake = make(chan struct{}, 1)
		if q.initErr = q.checkWorkers(); q.initErr != nil {
			return
		}
		if q.ttl < minLeaseTTL {
			// Every delivery would be stale before a worker took it, and
			// given back unattempted, again and again, silently.
			q.initErr = fmt.Errorf("%w: Queue.LeaseTTL is %s, under %s (each attempt gets half of it)", ErrInvalid, q.ttl, minLeaseTTL)
			return
		}
		if q.poll < minPoll {
			q.initErr = fmt.Errorf("%w: Queue.Poll is %s, under %s (each poll reads the outbox)", ErrInvalid, q.poll, minPoll)
			return
		}
		q.results = make(chan result, 16*q.workers)
		q.sends, q.cancelSends = context.WithCancel(context.Background())
		q.store = abandoned(q.sends, abandonGrace)
		q.dests = make(map[string]*destState, len(q.Destinations))
		if q.Outbox == nil {
			q.initErr = fmt.Errorf("%w: Queue.Outbox is nil", ErrInvalid)
			return
		}
		if math.IsNaN(q.Schedule.Jitter) {
			// Spread would make every retry delay minus 292 years.
			q.initErr = fmt.Errorf("%w: Schedule.Jitter is not a number", ErrInvalid)
			return
		}
		q.initErr = q.indexDests()
	})
	return q.initErr
}

// indexDests indexes the destinations by name, in q.dests and q.order,
// refusing a name no Queue can be given, two of one name, a Rate that is
// not a number and an ordered destination the outbox cannot order.
func (q *Queue) indexDests() error {
	for _, d := range q.Destinations {
		if err := checkName("destination name", d.Name, limits.Name); err != nil {
			return err
		}
		if _, dup := q.dests[d.Name]; dup {
			return fmt.Errorf("%w: two destinations named %q", ErrInvalid, d.Name)
		}
		if math.IsNaN(d.Rate) {
			// It would admit no delivery, silently, for ever.
			return fmt.Errorf("%w: destination %q has a Rate that is not a number", ErrInvalid, d.Name)
		}
		st := &destState{dest: d, ctl: control{limit: newLimiter(d.Rate, d.Burst)}}
		if err := q.checkOrdered(st); err != nil {
			return err
		}
		q.dests[d.Name] = st
		q.order = append(q.order, st)
	}
	return nil
}

// checkURLs refuses to run with a destination the Queue's Sender would
// refuse every delivery of (a URL that does not parse, a scheme other
// than https, a literal address its guard forbids; see
// [sender.Sender.Validate]): each would fail at once and end a dead
// letter. Enqueue does not check: a Queue that only enqueues may have no
// Sender, or another than the one that sends.
func (q *Queue) checkURLs() error {
	for _, st := range q.order {
		if err := q.sender.Validate(st.dest); err != nil {
			return fmt.Errorf("%w: destination %q: %w", ErrInvalid, st.dest.Name, err)
		}
	}
	return nil
}

// checkWorkers refuses a Workers or PerDestination past [limits.Workers]:
// Workers of 1e8 would allocate gigabytes for the outcome channel and the
// workers, one past MaxInt/16 would overflow the channel's length, and a
// PerDestination past MaxInt/2 the count of deliveries a destination may
// have leased, so that none would ever be.
func (q *Queue) checkWorkers() error {
	for _, f := range [...]struct {
		name string
		n    int
	}{{"Workers", q.Workers}, {"PerDestination", q.PerDestination}} {
		if f.n > limits.Workers {
			return fmt.Errorf("%w: Queue.%s is %d, more than %d", ErrInvalid, f.name, f.n, limits.Workers)
		}
	}
	return nil
}

// Enqueue stores a delivery of m to the named destination and returns its
// id once it is durably committed (as durable as the Outbox). An empty m.ID
// gets a new UUIDv7; m.EventID is kept as the delivery's
// [Delivery.EventID], and m.PartitionKey as its [Delivery.PartitionKey]
// when the destination is Ordered. Enqueue is idempotent on the id and
// destination: enqueuing an id the outbox still holds for that destination
// does nothing and returns that id. Ids must be unique across
// destinations: an id the outbox holds for another destination fails with
// an error wrapping [ErrInvalid] that names it and both destinations, and
// stores nothing. An unknown destination fails with an error
// wrapping [ErrInvalid] that names it: the Queue's Destinations are at
// fault, not m, and a Queue given that destination stores m.
func (q *Queue) Enqueue(ctx context.Context, destination string, m sender.Message) (string, error) {
	if err := q.init(); err != nil {
		return "", err
	}
	d, err := q.delivery(destination, m)
	if err != nil {
		return "", err
	}
	if err := q.put(ctx, []Delivery{d}); err != nil {
		return "", err
	}
	return d.ID, nil
}

// Deliver enqueues msgs[i] for dests[i], for every i, in one Put: once it
// returns nil all are durably committed, and when it fails none is stored.
// It is Enqueue for several destinations at once, and makes a Queue a
// listener.Deliverer, so that listener.Forward(q, dests...) is durable.
// Only the destinations' names count: the Queue delivers to its own
// Destinations of those names. A delivery that can never be stored (an
// invalid id, partition key or body, or an id that the outbox holds, or
// msgs gives, for another destination) fails with a *sender.DeliveryError
// that is not Retryable, wrapping [ErrInvalid]. A destination not among
// the Queue's Destinations fails the same way but Retryable, naming it:
// the Queue's configuration is at fault, not the message, and a Queue
// given that destination stores it, so that a Forward source keeps the
// event until then. Either way nothing is stored.
func (q *Queue) Deliver(ctx context.Context, dests []sender.Destination, msgs []sender.Message) error {
	if err := q.init(); err != nil {
		return err
	}
	if len(dests) != len(msgs) {
		return fmt.Errorf("%w: %d destinations for %d messages", ErrInvalid, len(dests), len(msgs))
	}
	ds := make([]Delivery, len(msgs))
	for i := range msgs {
		d, err := q.delivery(dests[i].Name, msgs[i])
		if err != nil {
			return &sender.DeliveryError{ID: msgs[i].ID, Destination: shownName(dests[i].Name), Err: err,
				Retryable: errors.Is(err, errUnknownDestination) || !errors.Is(err, ErrInvalid)}
		}
		ds[i] = d
	}
	if err := q.put(ctx, ds); err != nil {
		if errors.Is(err, ErrInvalid) && len(dests) > 0 {
			return &sender.DeliveryError{Destination: dests[0].Name, Err: err}
		}
		return err
	}
	return nil
}

// shownName is name when it is one a Queue can be given, else "": an
// error's text then neither carries a control character nor grows with it.
func shownName(name string) string {
	if checkName("destination name", name, limits.Name) != nil {
		return ""
	}
	return name
}

// errUnknownDestination: a delivery names a destination that is not among
// the Queue's Destinations. It is wrapped with [ErrInvalid], so that
// Deliver can tell this fault of the configuration from a bad message.
var errUnknownDestination = errors.New("unknown destination")

// delivery makes the Delivery that Enqueue and Deliver store for m; put
// validates it and fills its times.
func (q *Queue) delivery(destination string, m sender.Message) (Delivery, error) {
	st, ok := q.dests[destination]
	if !ok {
		// A name no Queue can be given is not quoted (it may be a
		// megabyte, or hold a NUL). It is still a fault of the
		// configuration (Forward's destinations), which Deliver reports
		// as retryable, so that the source keeps the event until fixed.
		if err := checkName("destination name", destination, limits.Name); err != nil {
			return Delivery{}, fmt.Errorf("%w, a name no Queue takes: %w", errUnknownDestination, err)
		}
		return Delivery{}, fmt.Errorf("%w: %w %q: not among the Queue's Destinations", ErrInvalid, errUnknownDestination, destination)
	}
	if m.ID == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return Delivery{}, fmt.Errorf("outbox: cannot make a delivery id: %w", err)
		}
		m.ID = u.String()
	}
	key, err := partitionKey(st, &m)
	if err != nil {
		return Delivery{}, err
	}
	return Delivery{ID: m.ID, Destination: destination, EventID: m.EventID, Topic: m.Topic, ContentType: m.ContentType, Body: m.Body,
		PartitionKey: key}, nil
}

// put validates ds and fills their defaults (see fill), stores them in one
// Put, all or none, and wakes the leaser.
func (q *Queue) put(ctx context.Context, ds []Delivery) error {
	if err := q.fill(ds); err != nil {
		return err
	}
	spans := q.traceDeliveries(ctx, ds)
	err := q.Outbox.Put(ctx, ds...)
	endSpans(spans, err)
	if err != nil {
		return err
	}
	q.poke()
	return nil
}

// poke wakes the leaser without blocking.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done or [Queue.Shutdown] is called. When ctx is
// done, Run stops leasing, cancels the deliveries in flight, releases them
// unspent, and returns ctx's error; after Shutdown it returns nil, at once
// when Shutdown came before Run did. When the Outbox is closed under it
// (close it only after Run has returned), Run stops as it does when ctx
// ends, and returns an error wrapping [ErrClosed]. Run may be called
// once; a second call fails, and so does one whose Sender refuses a
// destination's URL whatever the delivery (see [sender.Sender.Validate]),
// at once and with an error wrapping [ErrInvalid]. Once its deliveries are cancelled, the
// outbox has a second to record their releases and outcomes: calls of an
// outbox that hangs longer are abandoned, and leave their deliveries
// leased until their leases end, when they are sent again. The same
// second bounds a callback of the user's that blocks (Metrics,
// HoldMetrics, OnDisable, the Logger's handler, the Sender's OnAttempt,
// LookupNetIP, Logger or a Destination's Signer): Run returns without
// waiting for it, and the goroutine that made the call stops once it
// returns, starting no attempt and recording nothing more.
func (q *Queue) Run(ctx context.Context) error {
	if err := q.init(); err != nil {
		return err
	}
	if err := q.checkURLs(); err != nil {
		return err
	}
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return errQueueStopped
	}
	q.running = true
	stopped := q.stopped
	q.mu.Unlock()
	defer close(q.done)
	if stopped {
		// Shutdown came first: a signal at once, before the goroutine
		// that runs the Queue started. Nothing was leased, nothing is
		// wrong.
		return nil
	}

	err := q.serve(ctx)
	q.cancelSends()
	if q.Sender == nil {
		// The Sender is the Queue's own, which no one else can close, and
		// Run is not called again: its kept-alive connections would stay
		// open for the transport's idle timeout.
		q.sender.CloseIdleConnections()
	}
	return err
}

// serve is Run once it has started: it starts the settler, the workers
// and the leasing loop, and returns what Run returns once they have
// stopped, or once they were cut short and one of them did not stop
// within the grace of q.store.
func (q *Queue) serve(ctx context.Context) error {
	settled := make(chan struct{})
	go q.settler(settled)
	for range q.workers {
		q.wg.Add(1)
		go q.worker()
	}
	// ctx ending cuts the sends short at once (no grace period), even
	// while the leasing loop is in a user's callback and cannot see it.
	defer context.AfterFunc(ctx, q.cancelSends)()
	var leaseErr error
	leased := make(chan struct{})
	go func() {
		defer close(leased)
		leaseErr = q.lease(ctx)
	}()
	// The Queue's goroutines stop here, in the background, so that Run
	// can stop waiting for them: one may be in a callback of the user's
	// (Metrics, OnDisable, the Logger's handler, the Sender's) that does
	// not return.
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		<-leased
		q.mu.Lock()
		q.halted = true // workers release what is still buffered, then stop
		q.work.Broadcast()
		q.mu.Unlock()
		if leaseErr != nil {
			q.cancelSends() // the outbox was closed: no grace period
		}
		q.wg.Wait()
		close(q.results) // the workers are gone: the settler writes the rest
		<-settled
	}()
	select {
	case <-finished:
		return leaseErr
	case <-q.store.Done():
		// The sends were cut short (ctx ended, Shutdown's did, or the
		// outbox was closed) more than abandonGrace ago, and a goroutine
		// of the Queue is still in a callback or an outbox call that does
		// not return. It is left to finish that call, and then stops: no
		// new attempt starts, and its outbox calls fail at once (q.store
		// has ended). What it had leased and not settled stays leased
		// until the lease ends, and is sent again then.
		select {
		case <-leased:
			return leaseErr
		default:
			return ctx.Err() // nil after Shutdown
		}
	}
}

// Shutdown stops leasing, waits for the deliveries in flight to finish and
// their outcomes to be recorded until ctx is done, then cancels those still
// running and releases them without spending an attempt, and returns once
// Run has returned. It returns an error wrapping ctx's error (and its
// cause) if the deadline cut deliveries short; an outbox that hangs then
// (a database server frozen, a network partition), or a callback of the
// user's that blocks, holds it about a second more, as it does Run, and
// no longer: what they hold stays leased in the outbox, and is sent again
// once its lease ends, by this process's next Run or another's. Calling
// Shutdown on a Queue that is not running just stops it from ever
// running: a Run called afterwards returns nil without leasing.
func (q *Queue) Shutdown(ctx context.Context) error {
	if err := q.init(); err != nil {
		return err
	}
	q.mu.Lock()
	running := q.running
	if !q.stopped {
		q.stopped = true
		close(q.stop)
	}
	q.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-q.done:
		return nil // Run has returned: nothing left to cut short
	default:
	}
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancelSends()
		<-q.done // within abandonGrace: Run waits no longer
		return ctxError(ctx)
	}
}

// ctxError returns the error of ctx, which has ended, wrapping its cause
// too when that is another error.
func ctxError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || errors.Is(cause, err) {
		return fmt.Errorf("outbox: Shutdown: %w", err)
	}
	return fmt.Errorf("outbox: Shutdown: %w: %w", err, cause)
}

// abandoned returns a context that ends grace after parent does.
func abandoned(parent context.Context, grace time.Duration) context.Context {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	context.AfterFunc(parent, func() { time.AfterFunc(grace, cancel) })
	return ctx
}

// lease is the leasing loop of Run. It returns nil after Shutdown, ctx's
// error when ctx ends, and one wrapping ErrClosed when the outbox was
// closed. Its calls of the outbox end with ctx, and as those
// of the other goroutines of Run do (q.store), so that a Lease that hangs
// cannot hold Shutdown past its context.
func (q *Queue) lease(run context.Context) error {
	ctx, cancel := context.WithCancel(run)
	defer cancel()
	defer context.AfterFunc(q.store, cancel)()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastDepth, lastStates time.Time
	failures := 0 // Leases failed in a row
	for {
		select {
		case <-ctx.Done():
			return run.Err() // nil when it was q.store that ended: after Shutdown
		case <-q.stop:
			return nil
		default:
		}
		if time.Since(lastStates) >= q.poll {
			lastStates = time.Now()
			q.loadStates(ctx) // destinations disabled or enabled elsewhere
		}
		if q.metrics != nil && time.Since(lastDepth) >= q.poll {
			lastDepth = time.Now()
			if s, err := q.stats(ctx); err == nil {
				q.mu.Lock()
				n := q.sending
				q.mu.Unlock()
				q.metrics.Depth(s, n)
			}
			if hm, ok := q.metrics.(HoldMetrics); ok {
				q.reportHolds(hm)
			}
		}
		if ctx.Err() != nil {
			continue // it ended during a callback: lease nothing more
		}
		woken := q.storeWake() // before take: a wake-up during it is not missed
		n, err := q.take(ctx)
		if errors.Is(err, ErrClosed) && ctx.Err() == nil {
			select {
			case <-q.stop:
				return nil // closed during Shutdown: the order turned round, but stopping all the same
			default:
			}
			// Nothing can be leased or recorded again: say so, rather
			// than fail quietly for as long as the process lives.
			return fmt.Errorf("outbox: the Queue's outbox was closed while Run was delivering: %w", err)
		}
		if err == nil && failures > 0 {
			q.logRecovered(ctx, failures)
		}
		if n > 0 {
			failures = 0
			continue // there may be more due; if not, take returns 0
		}
		if err == nil {
			failures = 0
		} else {
			q.retryLease(failures)
			failures++
		}
		timer.Reset(q.idle())
		select {
		case <-ctx.Done():
			return run.Err() // nil when it was q.store that ended: after Shutdown
		case <-q.stop:
			return nil
		case <-q.wake:
		case <-woken:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// Waits before the leasing loop tries again after a failed Lease, drawn by
// backoff.Exponential: from the first, the ceiling doubled at each failure
// in a row up to the last, and never longer than Poll.
const (
	leaseRetryFirst = 50 * time.Millisecond
	leaseRetryMax   = 5 * time.Second
)

// retryLease has the leasing loop try again soon after a Lease failed,
// following failures more in a row, rather than after Poll: the failure (a
// connection the database closed, a server that restarted) may have passed
// at once, and deliveries stored meanwhile were announced by notifications
// the loop has already consumed. Poll may be an hour where a store
// notifies.
func (q *Queue) retryLease(failures int) {
	d := backoff.Exponential(leaseRetryFirst, leaseRetryMax, failures+1)
	q.mu.Lock()
	q.wakeBy(time.Now().Add(d))
	q.mu.Unlock()
}

// stats counts the outbox's deliveries when it is an [Admin].
func (q *Queue) stats(ctx context.Context) (Stats, error) {
	ad, ok := q.Outbox.(Admin)
	if !ok {
		return Stats{}, ErrNotFound
	}
	return ad.Stats(ctx)
}

// breakerOf reports the state of the named destination's circuit
// breaker, and false when the Queue has no such destination.
func (q *Queue) breakerOf(destination string) (breakerState, bool) {
	if q.init() != nil {
		return 0, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st, ok := q.dests[destination]
	if !ok {
		return 0, false
	}
	return st.circuit.state, true
}

// logRecovered logs that a Lease succeeded after failures in a row, so
// that an operator who saw their Error lines learns that the outbox
// answers again.
func (q *Queue) logRecovered(ctx context.Context, failures int) {
	if q.log != nil {
		q.log.LogAttrs(ctx, slog.LevelInfo, "outbox lease succeeded again", slog.Int("failed_before", failures))
	}
}

// logError logs a failure of the outbox itself.
func (q *Queue) logError(ctx context.Context, msg string, err error, attrs ...slog.Attr) {
	if q.log == nil {
		return
	}
	q.log.LogAttrs(ctx, slog.LevelError, msg, append(attrs, slog.String("error", err.Error()))...)
}

// errQuiet reports whether err is an expected outcome of a race (a lease
// taken over, the outbox closing at shutdown) not worth an error line.
func errQuiet(err error) bool {
	return errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrClosed)
}
