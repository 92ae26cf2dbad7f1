package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Deliver sends msgs[i] to dests[i] for every i, at once, and returns the
// failures joined with [errors.Join] (nil when every one succeeded). It is
// in process and not durable: a failure for one destination does not undo
// the others. Deliver makes a Sender a listener.Deliverer, as an outbox
// Queue is one. dests and msgs of different lengths fail with an error
// wrapping [ErrInvalidMessage], before any delivery.
func (s *Sender) Deliver(ctx context.Context, dests []Destination, msgs []Message) error {
	if len(dests) != len(msgs) {
		return fmt.Errorf("sender: Deliver: %w: %d destinations for %d messages", ErrInvalidMessage, len(dests), len(msgs))
	}
	if len(dests) == 1 {
		_, err := s.Send(ctx, dests[0], msgs[0])
		return err
	}
	errs := make([]error, len(dests))
	var wg sync.WaitGroup
	for i := range dests {
		wg.Go(func() { _, errs[i] = s.Send(ctx, dests[i], msgs[i]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
