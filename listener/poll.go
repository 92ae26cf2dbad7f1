package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/heraldhq/herald/internal/backoff"
)

// A Feed reads a platform's event list, which you implement for its API.
// Fetch returns the events after cursor, oldest first, and the cursor to ask
// for next time; "" is the beginning. It returns no events when there are no
// new ones. It must honour ctx.
type Feed interface {
	Fetch(ctx context.Context, cursor string) (events []Event, next string, err error)
}

// Poller is a [Source] that pulls events from a [Feed]. Each batch is
// dispatched in order; the cursor is saved only once every event of the
// batch was handled. A retryable failure (of the feed or of a handler)
// backs off and fetches the same batch again, so handlers may see an event
// twice (see [WithDedupe]); an event with a [Permanent] error or an invalid
// event is logged and skipped, so one poison event cannot stall the feed.
type Poller struct {
	// Feed is the platform's event list. Required.
	Feed Feed
	// Cursor keeps the position; nil keeps it in memory, lost on restart.
	Cursor CursorStore
	// Interval is the wait after a fetch that returned no events; default
	// 5s. Under 1 ms, Serve fails: it would fetch without pause.
	Interval time.Duration
	// MaxBackoff caps the wait after consecutive failures: a wait drawn
	// at random between Interval/4 and a ceiling that starts at Interval/2
	// and doubles with each failure; default 1m.
	MaxBackoff time.Duration

	mem memoryCursor
}

func (p *Poller) store() CursorStore {
	if p.Cursor != nil {
		return p.Cursor
	}
	return &p.mem
}

// Serve implements [Source]. It returns nil when ctx is cancelled, and an
// error when it has no Feed, an Interval under 1 ms or is given a nil d,
// or when the cursor cannot be loaded or saved.
func (p *Poller) Serve(ctx context.Context, d Dispatcher) error {
	if p.Feed == nil {
		return errors.New("listener: Poller has no Feed")
	}
	if d == nil {
		// The first valid event would panic the goroutine serving it.
		return errors.New("listener: Poller: nil Dispatcher")
	}
	interval := p.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if interval < time.Millisecond {
		// An Interval of 1 (nanosecond, meant as a second) would fetch
		// from the feed's API without pause.
		return fmt.Errorf("listener: Poller.Interval is %s, under 1ms", interval)
	}
	maxBackoff := p.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = time.Minute
	}
	log := loggerOf(d)
	cursor, err := p.store().Load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listener: loading cursor: %w", err)
	}
	failures := 0
	for ctx.Err() == nil {
		wait := interval
		n, next, err := p.poll(ctx, d, cursor, log)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = backoff.Exponential(max(interval/4, time.Millisecond), maxBackoff, failures)
			log.WarnContext(ctx, "listener: poll failed", "err", err, "failures", failures, "retry_in", wait)
		default:
			failures = 0
			advanced := next != cursor
			if advanced {
				if err := p.store().Save(ctx, next); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("listener: saving cursor: %w", err)
				}
				cursor = next
			}
			if n > 0 && advanced {
				continue // more may be waiting: fetch again at once
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return nil
}

// poll fetches one batch and dispatches it; it reports how many events the
// batch held, the next cursor, and the first retryable failure.
func (p *Poller) poll(ctx context.Context, d Dispatcher, cursor string, log *slog.Logger) (int, string, error) {
	events, next, err := p.fetch(ctx, cursor)
	if err != nil {
		return 0, "", fmt.Errorf("fetch: %w", err)
	}
	for i := range events {
		ev := &events[i]
		if err := ev.Validate(); err != nil {
			log.WarnContext(ctx, "listener: skipping invalid event from feed", "err", err)
			continue
		}
		err := d.Dispatch(ctx, ev)
		switch {
		case err == nil:
		case IsPermanent(err):
			log.ErrorContext(ctx, "listener: event failed permanently, skipped",
				"event", ev.ID, "topic", ev.Topic, "err", err)
		default:
			return len(events), "", fmt.Errorf("event %s: %w", ev.ID, err)
		}
	}
	return len(events), next, nil
}

// fetch calls the Feed, turning a panic into an error matching [ErrPanic]:
// a Feed that chokes on odd platform data is a failed fetch, tried again
// after a backoff, not the end of the process.
func (p *Poller) fetch(ctx context.Context, cursor string) (events []Event, next string, err error) {
	defer func() {
		if r := recover(); r != nil {
			events, next, err = nil, "", fmt.Errorf("%w: Feed.Fetch: %v\n%s", ErrPanic, r, debug.Stack())
		}
	}()
	return p.Feed.Fetch(ctx, cursor)
}
