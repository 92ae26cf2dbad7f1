package natsevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/listener"
)

// The Source pulls its consumer's events itself, over core NATS, rather
// than through nats.go's iterator. That iterator takes any message with an
// empty body and a Status header for one of the server's own, and any
// publisher on the event subjects can send one: with 409 or 400 it ended
// the iterator, stopping every worker in turn, with 100 it dropped the
// message silently. Here a message is an event when its reply subject is
// an acknowledgement's, which only the server sets; the server's own
// statuses have none.

// ackPrefix starts the reply subject of every message JetStream delivers
// to a consumer.
const ackPrefix = "$JS.ACK."

// pullExpiry is how long one pull request waits for events; the loop asks
// again when it ends, or a little after if its end never came (the
// connection was lost meanwhile).
const pullExpiry = 5 * time.Second

// maxQueuedStatuses and maxStatusSize bound what the queue keeps of
// messages that are not events. The server sends a few statuses per pull
// request, small and without a body; the rest was published on the inbox
// by someone else, and queued whole while every handler was busy it grew
// the queue without limit. A genuine status dropped is made up for by the
// request's deadline (see lost).
const (
	maxQueuedStatuses = 16
	maxStatusSize     = 8 << 10
)

// apiPrefix is the JetStream API prefix of js's requests.
func apiPrefix(o jetstream.JetStreamOptions) string {
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return "$JS.API."
}

// puller is the state of one consume loop.
type puller struct {
	c     *settings
	nc    *nats.Conn
	cons  jetstream.Consumer
	next  string        // the consumer's MSG.NEXT subject
	inbox string        // the prefix of every request's reply subject
	room  int           // events to hold ready for the handlers
	batch int           // the consumer's MaxRequestBatch, 0: no limit
	sem   chan struct{} // one per handler running
	freed chan struct{} // a handler finished

	mu     sync.Mutex
	queue  []*nats.Msg   // received, not yet taken: events are never dropped
	others int           // messages of the queue that are not events
	posted chan struct{} // a message was queued

	req   int          // the number of the request in flight, if any
	asked int          // events that request may still bring; 0: none in flight
	until time.Time    // when it should have ended, or a failed one be sent again
	sent  time.Time    // when it was sent
	due   *time.Timer  // set for until, one for the loop's life: not one per event
	keep  *time.Ticker // extends the AckWait of the events waiting in the queue
}

// consume hands the consumer's events to d, at most Concurrency at once,
// until ctx is cancelled (nil), the connection is closed for good or the
// consumer is gone (an error). It waits for the handlers it started.
func (c *settings) consume(ctx context.Context, cons jetstream.Consumer, d listener.Dispatcher) error {
	nc := c.JetStream.Conn()
	p := &puller{
		c: c, nc: nc, cons: cons,
		next:   apiPrefix(c.JetStream.Options()) + "CONSUMER.MSG.NEXT." + c.Stream + "." + c.Consumer,
		inbox:  nc.NewInbox(), // honours the connection's inbox prefix, which permissions may require
		room:   2 * c.Concurrency,
		sem:    make(chan struct{}, c.Concurrency),
		freed:  make(chan struct{}, 1),
		posted: make(chan struct{}, 1),
		due:    time.NewTimer(time.Hour),
		keep:   time.NewTicker(c.AckWait / 3),
	}
	if info := cons.CachedInfo(); info != nil {
		p.batch = info.Config.MaxRequestBatch // a server limit sets it: a larger request is refused
	}
	defer p.due.Stop()
	defer p.keep.Stop()
	// A callback, not a channel: a channel subscription drops what does
	// not fit, and an event dropped costs a delivery.
	sub, err := nc.Subscribe(p.inbox+".*", p.post)
	if err == nil {
		err = nc.FlushTimeout(settleTimeout) // the server has the subscription before any request
	}
	if err != nil {
		return fmt.Errorf("natsevents: consume %s: %w", c.Consumer, err)
	}
	closed := nc.StatusChanged(nats.CLOSED)
	defer nc.RemoveStatusListener(closed)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		_ = sub.Unsubscribe()
		_ = nc.FlushTimeout(time.Second) // so that the server stops sending here
		p.nakWaiting()
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if nc.IsClosed() {
			return fmt.Errorf("natsevents: consume %s: %w", c.Consumer, jetstream.ErrConnectionClosed)
		}
		if err := p.step(ctx, d, &wg, closed); err != nil {
			return err
		}
	}
}

// step asks for events if there is room, then waits for one thing to do:
// an event to hand to a free handler, a status, a handler finishing, a
// request that never ended, or the end.
func (p *puller) step(ctx context.Context, d listener.Dispatcher, wg *sync.WaitGroup, closed <-chan nats.Status) error {
	p.ask()
	if len(p.sem) < cap(p.sem) {
		if m := p.pop(); m != nil {
			return p.take(ctx, m, d, wg)
		}
	}
	var due <-chan time.Time // nil while no request is in flight or to retry
	if !p.until.IsZero() {
		p.due.Reset(max(time.Until(p.until), time.Millisecond)) // no stale tick since Go 1.23
		due = p.due.C
	}
	select {
	case <-ctx.Done():
	case <-closed:
	case <-p.freed:
	case <-p.posted:
	case <-due:
		return p.lost(ctx)
	case <-p.keep.C:
		p.keepWaiting()
	}
	return nil
}

// post queues a message of the inbox; it is the subscription's callback.
// An event is always queued (there are never more than were asked for);
// another message only while it is small and few others wait.
func (p *puller) post(m *nats.Msg) {
	p.mu.Lock()
	if !isEvent(m) {
		if p.others >= maxQueuedStatuses || m.Size() > maxStatusSize {
			p.mu.Unlock()
			return
		}
		p.others++
	}
	p.queue = append(p.queue, m)
	p.mu.Unlock()
	select {
	case p.posted <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued message, or nil.
func (p *puller) pop() *nats.Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	m := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if !isEvent(m) {
		p.others--
	}
	return m
}

// isEvent reports whether m is an event: its reply subject is an
// acknowledgement's, which only the server sets (the server refuses a
// reply subject a publisher may not publish on, and one allowed $JS.ACK
// may settle the events already).
func isEvent(m *nats.Msg) bool { return strings.HasPrefix(m.Reply, ackPrefix) }

// queued is how many messages wait in the queue.
func (p *puller) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// ask sends a pull request for as many events as there is room to hold
// ready, unless one is in flight or the room is less than half: events
// wait for a free handler, as many as there are handlers, so that a
// handler that finishes finds the next one at once. Each request has a
// reply subject of its own, so that the end of an old one is not taken
// for the end of the one in flight.
func (p *puller) ask() {
	free := p.room - p.queued() - len(p.sem)
	// until is the end of the request in flight, or when to retry one
	// that failed or was refused.
	if time.Now().Before(p.until) || free < p.room/2 {
		return
	}
	if p.batch > 0 {
		free = min(free, p.batch)
	}
	p.req++
	req := fmt.Appendf(nil, `{"batch":%d,"expires":%d}`, free, pullExpiry.Nanoseconds())
	if err := p.nc.PublishRequest(p.next, p.inbox+"."+strconv.Itoa(p.req), req); err != nil {
		p.c.log(slog.LevelWarn, "event pull request", err) // the connection is down: try again soon
		p.asked, p.until = 0, time.Now().Add(time.Second)
		return
	}
	p.sent = time.Now()
	p.asked, p.until = free, p.sent.Add(pullExpiry+time.Second)
}

// lost is called when a pull request's end never came, or a failed one
// is to be sent again: the connection was lost meanwhile, or the consumer
// is gone, which ends the loop.
func (p *puller) lost(ctx context.Context) error {
	p.asked, p.until = 0, time.Time{}
	return p.gone(ctx)
}

// gone returns an error if the consumer, or its stream, no longer exists.
func (p *puller) gone(ctx context.Context) error {
	if _, err := p.cons.Info(ctx); errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("natsevents: consume %s: %w", p.c.Consumer, err)
	}
	return nil
}

// keepWaiting extends the AckWait of the events waiting for a handler, so
// that JetStream does not give them to another worker, or to this one
// again, while they wait.
func (p *puller) keepWaiting() {
	p.mu.Lock()
	replies := make([]string, 0, len(p.queue))
	for _, m := range p.queue {
		if isEvent(m) {
			replies = append(replies, m.Reply)
		}
	}
	p.mu.Unlock()
	for _, r := range replies {
		_ = p.nc.Publish(r, []byte("+WPI"))
	}
}

// take handles one message of the inbox: an event goes to a handler (a
// handler is free), a status of the server for the request in flight ends
// it. Statuses of earlier requests are spent.
func (p *puller) take(ctx context.Context, m *nats.Msg, d listener.Dispatcher, wg *sync.WaitGroup) error {
	if !isEvent(m) {
		current := m.Subject == p.inbox+"."+strconv.Itoa(p.req)
		switch status, descr := m.Header.Get("Status"), m.Header.Get("Description"); {
		case status == "409" && strings.EqualFold(descr, "Consumer Deleted"):
			// Anyone who may publish on the inbox can send this: believe
			// the server only.
			if err := p.gone(ctx); err != nil {
				return fmt.Errorf("natsevents: consume %s: %w", p.c.Consumer, jetstream.ErrConsumerDeleted)
			}
			if current {
				p.asked, p.until = 0, time.Now().Add(time.Second)
			}
		case status == "100" || !current: // a heartbeat, or the end of an old request
		case status == "404" || status == "408":
			// The request in flight expired. The server says so at its
			// expiry, never before; an earlier one is someone else's, and
			// taken for the end it would have the loop send a request
			// while the server holds the last, again and again.
			if time.Since(p.sent) >= pullExpiry-pullExpiry/10 {
				p.asked, p.until = 0, time.Time{}
			}
		default: // refused (409, 400, 503...): ask again, but not at once
			p.c.log(slog.LevelWarn, "event pull request refused", fmt.Errorf("%s %s", status, clip(descr, 256)))
			p.asked, p.until = 0, time.Now().Add(time.Second)
		}
		return nil
	}
	if p.asked > 0 {
		if p.asked--; p.asked == 0 {
			p.until = time.Time{} // the request is filled
		}
	}
	p.sem <- struct{}{} // free: take is called only then
	wg.Add(1)
	go func() {
		defer func() {
			<-p.sem
			wg.Done()
			select {
			case p.freed <- struct{}{}:
			default:
			}
		}()
		p.c.handle(context.WithoutCancel(ctx), d, delivered{m, p.nc})
	}()
	return nil
}

// nakWaiting gives back the events received and not yet handled.
func (p *puller) nakWaiting() {
	for m := p.pop(); m != nil; m = p.pop() {
		if isEvent(m) {
			_ = (delivered{m, p.nc}).Nak()
		}
	}
}

// delivered is one event as the server delivered it: its reply subject
// takes the acknowledgements.
type delivered struct {
	m  *nats.Msg
	nc *nats.Conn
}

// Subject is the subject the event was published on.
func (e delivered) Subject() string { return e.m.Subject }

// Data is the event's body.
func (e delivered) Data() []byte { return e.m.Data }

// Headers are the event's headers.
func (e delivered) Headers() nats.Header { return e.m.Header }

// Metadata reads the stream and consumer sequences and the delivery count
// from the reply subject.
func (e delivered) Metadata() (*jetstream.MsgMetadata, error) {
	md, err := e.m.Metadata()
	if err != nil {
		return nil, err
	}
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Consumer: md.Sequence.Consumer, Stream: md.Sequence.Stream},
		NumDelivered: md.NumDelivered, NumPending: md.NumPending, Timestamp: md.Timestamp,
		Stream: md.Stream, Consumer: md.Consumer, Domain: md.Domain,
	}, nil
}

// DoubleAck acknowledges the event and waits for the server to confirm.
func (e delivered) DoubleAck(ctx context.Context) error {
	_, err := e.nc.RequestWithContext(ctx, e.m.Reply, []byte("+ACK"))
	return err
}

// Nak asks for the event to be redelivered at once.
func (e delivered) Nak() error { return e.nc.Publish(e.m.Reply, []byte("-NAK")) }

// NakWithDelay asks for the event to be redelivered after delay.
func (e delivered) NakWithDelay(delay time.Duration) error {
	return e.nc.Publish(e.m.Reply, fmt.Appendf(nil, `-NAK {"delay":%d}`, delay.Nanoseconds()))
}

// Term ends the event's deliveries.
func (e delivered) Term() error { return e.nc.Publish(e.m.Reply, []byte("+TERM")) }

// TermWithReason ends the event's deliveries, saying why.
func (e delivered) TermWithReason(reason string) error {
	return e.nc.Publish(e.m.Reply, []byte("+TERM "+reason))
}

// InProgress resets the event's AckWait.
func (e delivered) InProgress() error { return e.nc.Publish(e.m.Reply, []byte("+WPI")) }
