package listener

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults used when the corresponding option is not given.
const (
	defaultConcurrency  = 64               // events handled at once by Run
	defaultDrainTimeout = 30 * time.Second // how long Run waits for in-flight handlers
	defaultDedupeWindow = 10 * time.Minute // see WithDedupe
	defaultDedupeSize   = 10000            // see WithDedupe
)

// An Option configures a [Listener] built with [New].
type Option func(*config)

type config struct {
	logger         *slog.Logger
	requireHandler bool
	dedupeWindow   time.Duration
	dedupeSize     int
	concurrency    int
	drainTimeout   time.Duration
	now            func() time.Time
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
}

// WithLogger sets where the listener logs panics and source problems (the
// requests an [HTTPHandler] refuses, a [Poller]'s failed fetches). The
// default logs nothing. Payloads, signatures and secrets are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithRequireHandler makes Dispatch return an error matching [ErrUnhandled]
// (and [Permanent]) when no handler matched an event. By default an
// unhandled event is acknowledged silently.
func WithRequireHandler() Option {
	return func(c *config) { c.requireHandler = true }
}

// WithDedupe skips events whose id was already handled successfully within
// window under the same topic and Context["source"] (a CloudEvent's
// source: CloudEvents makes source and id unique together), remembering
// at most size events (the oldest are forgotten first), so memory stays
// bounded. The topic is part of the key so that a publisher allowed one
// topic cannot, by reusing the id of an event of another, have that event
// skipped. window <= 0 or size <= 0 select 10 minutes and 10000 ids. An
// id is remembered only once all its handlers succeeded, so a failed
// event can be redelivered.
// Duplicates dispatched concurrently with the first delivery are not
// detected (an outbox Queue that Forward feeds stores their deliveries
// once). Deduplication is off by default.
//
// It is also the listener's replay protection: with a verifying HTTP
// source, a window longer than the verifier's timestamp tolerance (10
// minutes against the 5 of auth.NewStandard), and a size that holds every
// event of a window, skips a captured request played again while it is
// fresh, and the verifier refuses it after.
func WithDedupe(window time.Duration, size int) Option {
	return func(c *config) {
		if window <= 0 {
			window = defaultDedupeWindow
		}
		if size <= 0 {
			size = defaultDedupeSize
		}
		c.dedupeWindow, c.dedupeSize = window, size
	}
}

// WithConcurrency bounds how many events [Listener.Run] handles at once,
// across all its sources. n <= 0 selects 64.
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = n }
}

// WithDrainTimeout sets how long [Listener.Run] waits, once its context is
// cancelled, for in-flight handlers to finish before cancelling their
// contexts and returning [ErrDrainTimeout]. d <= 0 selects
// 30 seconds.
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) { c.drainTimeout = d }
}

// withClock replaces time.Now (tests).
func withClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}
