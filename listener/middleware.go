package listener

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/heraldhq/herald/internal/backoff"
)

// Recover returns middleware that turns a panic in the handler into an
// error matching [ErrPanic], logging the stack to logger (nil: no log).
// Dispatch already recovers panics; use Recover inside [Retry] so that a
// panic is retried like any other failure.
func Recover(logger *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) (err error) {
			defer func() {
				if p := recover(); p != nil {
					if logger != nil {
						logger.ErrorContext(ctx, "listener: handler panicked",
							"event", ev.ID, "topic", ev.Topic,
							"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					}
					err = fmt.Errorf("%w: %v", ErrPanic, p)
				}
			}()
			return next(ctx, ev)
		}
	}
}

// Timeout returns middleware that gives the handler a child context with
// deadline d; the caller's context is left untouched. d <= 0 adds nothing.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, ev *Event) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, ev)
		}
	}
}

// RetryPolicy bounds the retries of the [Retry] middleware. The zero value
// selects the defaults given on each field. Its fields mean what those of
// sender.RetryPolicy mean.
type RetryPolicy struct {
	MaxAttempts int           // total attempts, the first included, default 3; 1 disables retries
	MinWait     time.Duration // shortest wait between attempts, default 100ms
	MaxWait     time.Duration // cap on one wait, default 5s
}

// Retry returns middleware that calls the handler again when it fails, up to
// p.MaxAttempts times in all. Retry n waits a random time between MinWait and
// min(MaxWait, MinWait·2^n), the sender's full-jitter backoff. It does not
// retry [Permanent] errors and stops waiting as soon as the context is done;
// it then returns the last error.
func Retry(p RetryPolicy) Middleware {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.MinWait <= 0 {
		p.MinWait = 100 * time.Millisecond
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 5 * time.Second
	}
	if p.MaxWait < p.MinWait {
		p.MaxWait = p.MinWait
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, ev *Event) error {
			var err error
			for attempt := 0; attempt < p.MaxAttempts; attempt++ {
				if attempt > 0 {
					t := time.NewTimer(backoff.Exponential(p.MinWait, p.MaxWait, attempt))
					select {
					case <-ctx.Done():
						t.Stop()
						return err
					case <-t.C:
					}
				}
				if err = next(ctx, ev); err == nil || IsPermanent(err) || ctx.Err() != nil {
					return err
				}
			}
			return err
		}
	}
}

// Logging returns middleware that logs each handled event to logger: at
// Debug level on success, at Error level on failure, with the event id,
// topic, duration and error (never the payload). A nil logger logs nothing.
func Logging(logger *slog.Logger) Middleware {
	return func(next Handler) Handler {
		if logger == nil {
			return next
		}
		return func(ctx context.Context, ev *Event) error {
			start := time.Now()
			err := next(ctx, ev)
			if err != nil {
				logger.ErrorContext(ctx, "listener: handler failed",
					"event", ev.ID, "topic", ev.Topic, "duration", time.Since(start),
					"permanent", IsPermanent(err), "err", err)
			} else {
				logger.DebugContext(ctx, "listener: handled",
					"event", ev.ID, "topic", ev.Topic, "duration", time.Since(start))
			}
			return err
		}
	}
}
