package natsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// History returns a delivery's attempts; see [outbox.Admin.History]. It
// reads the record from the stream (one direct get), so it is exact
// across a fleet for pending and dead deliveries alike.
func (o *store) History(ctx context.Context, id string) ([]outbox.AttemptRecord, error) {
	if err := o.lock(ctx); err != nil {
		return nil, err
	}
	o.mu.Unlock()
	// No delivery has an id the id rule refuses, and a long one would make
	// a subject past the server's max_control_line: the server would close
	// the connection, and with it every worker's use of this store.
	if wire.CheckID(id) != nil {
		return nil, outbox.ErrNotFound
	}
	sm, err := o.stream.GetLastMsgForSubject(ctx, o.subject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, outbox.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("natsstore: history of %s: %w", id, err)
	}
	r, err := o.recordAt(sm)
	if err != nil {
		return nil, fmt.Errorf("natsstore: history of %s: %w", id, err)
	}
	if r.State == stateGone {
		return nil, outbox.ErrNotFound
	}
	return r.attempts(), nil
}

// Stats counts deliveries; see [outbox.Admin.Stats]. It counts the index:
// exact for the changes made through this store, and within milliseconds
// of exact for those made by other processes.
func (o *store) Stats(ctx context.Context) (outbox.Stats, error) {
	if err := o.lock(ctx); err != nil {
		return outbox.Stats{}, err
	}
	defer o.mu.Unlock()
	now := wire.Nanos(time.Now())
	var s outbox.Stats
	for _, e := range o.entries {
		switch e.State {
		case statePending:
			s.Pending++
			if e.Until > now {
				s.Leased++
			}
		case stateDead:
			s.Dead++
		}
	}
	return s, nil
}
