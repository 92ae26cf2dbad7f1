package natsevents

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of a [Source], used for its zero fields.
const (
	DefaultStream           = "HERALD_EVENTS"
	DefaultConsumer         = "herald-workers"
	DefaultDeadLetterStream = "HERALD_EVENTS_DEAD"
	DefaultDeadLetterPrefix = "events-dead"
	DefaultMaxAge           = 7 * 24 * time.Hour
	DefaultDuplicateWindow  = 2 * time.Minute
	DefaultAckWait          = 30 * time.Second
	DefaultMaxDeliver       = 5
	DefaultRetryDelay       = time.Second
	DefaultConcurrency      = 16
)

// Headers of a dead-lettered event.
const (
	HeaderDeadReason      = "Herald-Dead-Reason"      // why it died
	HeaderDeadDeliveries  = "Herald-Dead-Deliveries"  // how often it was delivered
	HeaderOriginalSubject = "Herald-Original-Subject" // where it was published
)

// Source is a [listener.Source] on a JetStream stream of events; see the
// package documentation. Only JetStream is required; the zero values of
// the other fields are the defaults above. Set the fields before Serve and
// do not change them afterwards. Every worker of a group uses the same
// Stream and Consumer.
type Source struct {
	// JetStream is the connection's JetStream context. Required.
	JetStream jetstream.JetStream
	// Stream names the event stream; empty means [DefaultStream].
	Stream string
	// SubjectPrefix is the prefix of the event subjects; the stream takes
	// SubjectPrefix+".>". Empty means [DefaultSubjectPrefix].
	SubjectPrefix string
	// Consumer names the durable consumer the workers share; empty means
	// [DefaultConsumer].
	Consumer string
	// DeadLetterStream names the stream of dead letters; empty means
	// [DefaultDeadLetterStream].
	DeadLetterStream string
	// DeadLetterPrefix is the subject prefix of dead letters; empty means
	// [DefaultDeadLetterPrefix]. It must not overlap SubjectPrefix.
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
	// [DefaultMaxAge].
	MaxAge time.Duration
	// DuplicateWindow is how long JetStream remembers each Nats-Msg-Id
	// (subject and event id) to drop a republished event; zero means
	// [DefaultDuplicateWindow]. JetStream refuses less than 100ms.
	DuplicateWindow time.Duration
	// AckWait is how long a worker holds an event before JetStream gives
	// it to another; a handler still running extends it. Zero means
	// [DefaultAckWait].
	AckWait time.Duration
	// MaxDeliver is how many deliveries a failing event gets before it is
	// dead-lettered; zero means [DefaultMaxDeliver].
	MaxDeliver int
	// RetryDelay is the wait before a failed event is redelivered; zero
	// means [DefaultRetryDelay].
	RetryDelay time.Duration
	// Concurrency is how many events this worker handles at once; zero
	// means [DefaultConcurrency].
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
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.Stream, DefaultStream)
	def(&c.SubjectPrefix, DefaultSubjectPrefix)
	def(&c.Consumer, DefaultConsumer)
	def(&c.DeadLetterStream, DefaultDeadLetterStream)
	def(&c.DeadLetterPrefix, DefaultDeadLetterPrefix)
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	switch {
	case c.SubjectPrefix == c.DeadLetterPrefix || strings.HasPrefix(c.DeadLetterPrefix+".", c.SubjectPrefix+".") ||
		strings.HasPrefix(c.SubjectPrefix+".", c.DeadLetterPrefix+"."):
		return c, fmt.Errorf("natsevents: dead-letter prefix %q overlaps subject prefix %q", c.DeadLetterPrefix, c.SubjectPrefix)
	case c.Replicas < 1 || c.MaxDeliver < 1 || c.Concurrency < 1 || c.AckWait < time.Second || c.RetryDelay < 0 || c.MaxAge < 0:
		return c, fmt.Errorf("natsevents: Replicas, MaxDeliver and Concurrency must be positive, AckWait at least 1s")
	}
	return c, nil
}

// setup creates or updates the streams and the consumer.
func (c *settings) setup(ctx context.Context) (jetstream.Consumer, error) {
	js := c.JetStream
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: c.Stream, Subjects: []string{c.SubjectPrefix + ".>"}, Retention: c.Retention,
		Storage: c.Storage, Replicas: c.Replicas, MaxAge: c.MaxAge, Duplicates: c.DuplicateWindow,
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
