package natsevents

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
)

// Defaults of a [Source], used for its zero fields (each field's doc says its value).
const (
	defaultStream           = "HERALD_EVENTS"
	defaultConsumer         = "herald-workers"
	defaultDeadLetterStream = "HERALD_EVENTS_DEAD"
	defaultDeadLetterPrefix = "events-dead"
	defaultMaxAge           = 7 * 24 * time.Hour
	defaultDuplicateWindow  = 2 * time.Minute
	defaultAckWait          = 30 * time.Second
	defaultMaxDeliver       = 5
	defaultRetryDelay       = time.Second
	defaultConcurrency      = 16
)

// Headers of a dead-lettered event.
const (
	HeaderDeadReason      = "Herald-Dead-Reason"      // why it died
	HeaderDeadDeliveries  = "Herald-Dead-Deliveries"  // how often it was delivered
	HeaderOriginalSubject = "Herald-Original-Subject" // where it was published
)

// Source is a [listener.Source] on a JetStream stream of events; see the
// package documentation. Only JetStream is required; the zero values of
// the other fields are the defaults each field names. Set the fields before Serve and
// do not change them afterwards. Every worker of a group uses the same
// Stream and Consumer.
type Source struct {
	// JetStream is the connection's JetStream context. Required.
	JetStream jetstream.JetStream
	// Stream names the event stream; empty means "HERALD_EVENTS".
	Stream string
	// SubjectPrefix is the prefix of the event subjects; the stream takes
	// SubjectPrefix+".>". Empty means "events".
	SubjectPrefix string
	// Consumer names the durable consumer the workers share; empty means
	// "herald-workers".
	Consumer string
	// DeadLetterStream names the stream of dead letters; empty means
	// "HERALD_EVENTS_DEAD".
	DeadLetterStream string
	// DeadLetterPrefix is the subject prefix of dead letters; empty means
	// "events-dead". It must not overlap SubjectPrefix.
	DeadLetterPrefix string
	// Replicas of both streams and the consumer: 1 (zero) on a single
	// server, 3 on a three-node cluster.
	Replicas int
	// Storage of the streams: file (zero, durable) or memory.
	Storage jetstream.StorageType
	// Retention of the event stream: LimitsPolicy (zero) keeps handled
	// events until MaxAge, so that other consumer groups can read them
	// too; WorkQueuePolicy removes each event once it is handled.
	Retention jetstream.RetentionPolicy
	// MaxAge bounds how long both streams keep messages; zero means
	// 7 days.
	MaxAge time.Duration
	// DuplicateWindow is how long JetStream remembers each Nats-Msg-Id
	// (subject, event id and source) to drop a republished event; zero means
	// 2 minutes. JetStream refuses less than 100ms.
	DuplicateWindow time.Duration
	// AckWait is how long a worker holds an event before JetStream gives
	// it to another; a handler still running extends it. Zero means
	// 30s.
	AckWait time.Duration
	// MaxDeliver is how many deliveries a failing event gets before it is
	// dead-lettered; zero means 5. JetStream counts every delivery, also
	// those a worker gives back without running a handler: the events it
	// had received ahead (up to 2×Concurrency) when it stops, and those
	// lost with its connection. So a rolling restart can use up one of
	// an event's deliveries; keep MaxDeliver at 3 or more where workers
	// restart often.
	MaxDeliver int
	// RetryDelay is the wait before a failed event is redelivered; zero
	// means 1s.
	RetryDelay time.Duration
	// Concurrency is how many events this worker handles at once; zero
	// means 16. At most 10000.
	Concurrency int
	// Logger receives failures (never payloads); nil logs nothing.
	Logger *slog.Logger
}

// settings is a Source with its defaults applied.
type settings struct{ Source }

// withDefaults returns s with its zero fields set, or an error.
func (s *Source) withDefaults() (settings, error) {
	c := settings{*s}
	if c.JetStream == nil {
		return c, fmt.Errorf("natsevents: Source.JetStream is nil")
	}
	orDefault(&c.Stream, defaultStream)
	orDefault(&c.SubjectPrefix, defaultSubjectPrefix)
	orDefault(&c.Consumer, defaultConsumer)
	orDefault(&c.DeadLetterStream, defaultDeadLetterStream)
	orDefault(&c.DeadLetterPrefix, defaultDeadLetterPrefix)
	orDefault(&c.Replicas, 1)
	orDefault(&c.MaxAge, defaultMaxAge)
	orDefault(&c.DuplicateWindow, defaultDuplicateWindow)
	orDefault(&c.AckWait, defaultAckWait)
	orDefault(&c.MaxDeliver, defaultMaxDeliver)
	orDefault(&c.RetryDelay, defaultRetryDelay)
	orDefault(&c.Concurrency, defaultConcurrency)
	switch {
	case !wire.SubjectPrefix(c.SubjectPrefix) || !wire.SubjectPrefix(c.DeadLetterPrefix):
		return c, fmt.Errorf("natsevents: subject prefix %q or dead-letter prefix %q is not tokens like \"events\" or \"tenant.events\" (no wildcards, white space or control characters)", c.SubjectPrefix, c.DeadLetterPrefix)
	case c.SubjectPrefix == c.DeadLetterPrefix || strings.HasPrefix(c.DeadLetterPrefix+".", c.SubjectPrefix+".") ||
		strings.HasPrefix(c.SubjectPrefix+".", c.DeadLetterPrefix+"."):
		return c, fmt.Errorf("natsevents: dead-letter prefix %q overlaps subject prefix %q", c.DeadLetterPrefix, c.SubjectPrefix)
	case c.Replicas < 1 || c.MaxDeliver < 1 || c.Concurrency < 1 || c.AckWait < time.Second || c.RetryDelay < 0 || c.MaxAge < 0:
		return c, fmt.Errorf("natsevents: Replicas, MaxDeliver and Concurrency must be positive, AckWait at least 1s")
	case c.Concurrency > limits.Workers:
		// Twice MaxInt overflows the room for events: none was ever
		// fetched, and the Source served nothing, silently.
		return c, fmt.Errorf("natsevents: Concurrency %d is more than %d", c.Concurrency, limits.Workers)
	}
	return c, nil
}

// deadLetterRoom is what a dead letter adds to its event: the reason (at
// most 1024 bytes), the delivery count, the original subject.
const deadLetterRoom = 4 << 10

// eventMaxSize is the largest event the stream takes, given the server's
// max_payload: small enough that its dead letter still fits. A larger
// event could be neither handled nor dead-lettered, and was redelivered
// for ever, holding a place among the consumer's unacknowledged events.
// Its publisher is refused instead, and knows.
func eventMaxSize(maxPayload int64) int32 {
	return int32(maxPayload - min(deadLetterRoom, maxPayload/2))
}

// setup creates or updates the streams and the consumer.
func (c *settings) setup(ctx context.Context) (jetstream.Consumer, error) {
	js := c.JetStream
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: c.Stream, Subjects: []string{c.SubjectPrefix + ".>"}, Retention: c.Retention,
		Storage: c.Storage, Replicas: c.Replicas, MaxAge: c.MaxAge, Duplicates: c.DuplicateWindow,
		MaxMsgSize: eventMaxSize(js.Conn().MaxPayload()),
	}); err != nil {
		return nil, fmt.Errorf("natsevents: create stream %s: %w", c.Stream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: c.DeadLetterStream, Subjects: []string{c.DeadLetterPrefix + ".>"},
		Storage: c.Storage, Replicas: c.Replicas, MaxAge: c.MaxAge, Duplicates: c.DuplicateWindow,
	}); err != nil {
		return nil, fmt.Errorf("natsevents: create stream %s: %w", c.DeadLetterStream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:       c.Consumer,
		Description:   "herald listener workers",
		FilterSubject: c.SubjectPrefix + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		// Unlimited: the Source counts deliveries itself and
		// dead-letters, so that an event is never left stranded.
		MaxDeliver: -1,
		Replicas:   c.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsevents: create consumer %s: %w", c.Consumer, err)
	}
	return cons, nil
}

// Setup creates or updates the event stream, the dead-letter stream and
// the durable consumer, as Serve does first. Publishers call it to make
// sure the stream exists before their first [Publish]. It is idempotent.
func (s *Source) Setup(ctx context.Context) error {
	c, err := s.withDefaults()
	if err != nil {
		return err
	}
	_, err = c.setup(ctx)
	return err
}

// orDefault sets *v to d when *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
