package sender

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/telemetry"
)

// What a Sender tells about its deliveries besides its spans and metrics
// (telemetry.go): the OnAttempt hook and the log lines, all here, so that
// what they may show (never a URL's query, a header value, a signature or
// a secret) is checked in one place.

// Attempt describes one finished attempt of a delivery, as passed to
// [Sender.OnAttempt].
type Attempt struct {
	// ID is the delivery id, the same for every attempt.
	ID string
	// Destination is the destination's name, or its redacted URL.
	Destination string
	// Number counts attempts from 1.
	Number int
	// Status is the HTTP status, 0 when no response came.
	Status int
	// Err is nil on success, else the cause, wrapping a sentinel error.
	Err error
	// Duration is how long the attempt took.
	Duration time.Duration
	// Retry reports whether another attempt follows, after Wait.
	Retry bool
	// Wait is the pause before the next attempt, as the backoff computed
	// it (a capped Retry-After included); zero when Retry is false.
	Wait time.Duration
}

// report tells OnAttempt and the logger about the attempt that just ended.
func (d *delivery) report(ctx context.Context, now time.Time, retry bool) {
	s := d.s
	d.recordAttempt(ctx, now.Sub(d.attemptStart), retry)
	if s.OnAttempt != nil {
		s.OnAttempt(Attempt{
			ID: d.id, Destination: d.label, Number: d.attempts, Status: d.status,
			Err: d.cause, Duration: now.Sub(d.attemptStart), Retry: retry, Wait: d.wait,
		})
	}
	if retry && s.Logger != nil && s.Logger.Enabled(ctx, slog.LevelInfo) {
		s.Logger.LogAttrs(ctx, slog.LevelInfo, "webhook attempt failed, retrying", outboxAttempt(ctx,
			slog.String("id", d.id), slog.String("destination", d.label),
			slog.Int("attempt", d.attempts), slog.Int("status", d.status),
			slog.String("error", d.cause.Error()), slog.Duration("wait", d.wait))...)
	}
}

// logSuccess logs a delivered message at Debug.
func (s *Sender) logSuccess(ctx context.Context, res *Result, label string) {
	if s.Logger == nil || !s.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	s.Logger.LogAttrs(ctx, slog.LevelDebug, "webhook delivered", outboxAttempt(ctx,
		slog.String("id", res.ID), slog.String("destination", label),
		slog.Int("attempts", res.Attempts), slog.Int("status", res.Status),
		slog.Duration("latency", res.Latency))...)
}

// logFailure logs a failed delivery at Warn, or at Info when the failure
// is retryable and the caller retries.
func (s *Sender) logFailure(ctx context.Context, e *DeliveryError, callerRetries bool) {
	level := slog.LevelWarn
	if callerRetries && e.Retryable {
		level = slog.LevelInfo
	}
	if s.Logger == nil || !s.Logger.Enabled(ctx, level) {
		return
	}
	s.Logger.LogAttrs(ctx, level, "webhook failed", outboxAttempt(ctx,
		slog.String("id", e.ID), slog.String("destination", e.Destination),
		slog.Int("attempts", e.attempts), slog.Int("status", e.status),
		slog.Bool("retryable", e.Retryable), slog.String("error", e.Err.Error()))...)
}

// outboxAttempt returns attrs, followed by outbox_attempt, the number of
// the outbox Queue's attempt that ctx carries, if any: through a Queue
// each attempt is one Send, whose own count starts at 1 every time.
func outboxAttempt(ctx context.Context, attrs ...slog.Attr) []slog.Attr {
	if n := telemetry.AttemptFrom(ctx); n > 0 {
		return append(attrs, slog.Int("outbox_attempt", n))
	}
	return attrs
}
