package natsstore

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/deadlist"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// DeadLetters lists dead letters; see [outbox.Admin.DeadLetters]. It
// reads the index, so dead letters made by other processes appear within
// milliseconds of their writing.
func (o *store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	if err := o.lock(ctx); err != nil {
		return nil, err
	}
	defer o.mu.Unlock()
	var dead []*entry
	for _, e := range o.entries {
		if e.State == stateDead {
			dead = append(dead, e)
		}
	}
	var after *deadlist.Cursor
	if q.After != nil {
		after = &deadlist.Cursor{Dest: q.After.Destination, ID: q.After.ID}
	}
	key := func(e **entry) (string, string) { return (*e).Destination, (*e).ID }
	page := deadlist.Page(dead, key, q.Destination, after, q.Limit)
	out := make([]outbox.DeadLetter, len(page))
	for i, e := range page {
		out[i] = outbox.DeadLetter{Delivery: e.delivery(nil), Reason: e.Reason, At: wire.Time(e.DeadAt)}
	}
	return out, nil
}

// Replay moves dead letters back to pending; see [outbox.Admin.Replay].
// Each is read (its body included) and rewritten, one round trip each.
func (o *store) Replay(ctx context.Context, s outbox.Selector) (int, error) {
	return o.eachDead(ctx, s, func(r *record) {
		r.State, r.Reason, r.DeadAt = statePending, "", 0
		r.Attempts, r.Due, r.Until = 0, wire.Nanos(time.Now()), 0
	})
}

// Purge deletes dead letters; see [outbox.Admin.Purge]. Each becomes a
// tombstone that keeps its id reserved for [Config.DuplicateWindow].
func (o *store) Purge(ctx context.Context, s outbox.Selector) (int, error) {
	return o.eachDead(ctx, s, func(r *record) { r.tombstone() })
}

// eachDead rewrites with f the dead letters s selects and counts them. A
// dead letter changed by another worker meanwhile is not counted.
func (o *store) eachDead(ctx context.Context, s outbox.Selector, f func(*record)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	type target struct {
		id  string
		rev uint64
	}
	var ts []target
	if err := o.lock(ctx); err != nil {
		return 0, err
	}
	for _, e := range o.entries {
		if e.State == stateDead && s.Matches(e.Destination, e.ID) {
			ts = append(ts, target{e.ID, e.rev})
		}
	}
	o.mu.Unlock()
	n := 0
	for _, t := range ts {
		r, err := o.read(ctx, t.id, t.rev)
		if errors.Is(err, outbox.ErrLeaseLost) {
			continue
		}
		if err != nil {
			return n, err
		}
		if r.State != stateDead {
			continue
		}
		f(r)
		if _, err := o.write(ctx, r, t.rev); errors.Is(err, outbox.ErrLeaseLost) {
			continue
		} else if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
