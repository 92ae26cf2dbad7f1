package natsstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/outbox"
)

// DeadLetters lists dead letters; see [outbox.Admin.DeadLetters]. It
// reads the index, so dead letters made by other processes appear within
// milliseconds of their writing.
func (o *store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = limits.List
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.checkOpen(); err != nil {
		return nil, err
	}
	var out []outbox.DeadLetter
	for _, e := range o.entries {
		if e.State != stateDead || q.Destination != "" && e.Destination != q.Destination {
			continue
		}
		if q.After != nil && compareCursor(e.Destination, e.ID, q.After) <= 0 {
			continue
		}
		out = append(out, outbox.DeadLetter{Delivery: e.delivery(nil), Reason: e.Reason, At: fromNanos(e.DeadAt)})
	}
	slices.SortFunc(out, func(a, b outbox.DeadLetter) int {
		return compareCursor(a.Destination, a.ID, &b)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// compareCursor orders dead letters by destination, then id.
func compareCursor(dest, id string, d *outbox.DeadLetter) int {
	return cmp.Or(cmp.Compare(dest, d.Destination), cmp.Compare(id, d.ID))
}

// Replay moves dead letters back to pending; see [outbox.Admin.Replay].
// Each is read (its body included) and rewritten, one round trip each.
func (o *store) Replay(ctx context.Context, s outbox.Selector) (int, error) {
	return o.eachDead(ctx, s, func(r *record) {
		r.State, r.Reason, r.DeadAt = statePending, "", 0
		r.Attempts, r.Due, r.Until = 0, nanos(time.Now()), 0
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
	o.mu.Lock()
	if err := o.checkOpen(); err != nil {
		o.mu.Unlock()
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
