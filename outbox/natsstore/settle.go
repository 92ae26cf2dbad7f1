package natsstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/outbox"
)

// Ack removes a delivered delivery; see [outbox.Outbox.Ack]. It replaces
// the record with a tombstone that expires after [Config.DuplicateWindow].
func (o *Outbox) Ack(ctx context.Context, id, token string) error {
	return o.settle(ctx, id, token, func(r *record) { r.tombstone() })
}

// Reschedule records a failed attempt; see [outbox.Outbox.Reschedule].
func (o *Outbox) Reschedule(ctx context.Context, id, token string, due time.Time, a outbox.Attempt) error {
	return o.settle(ctx, id, token, func(r *record) {
		r.addAttempt(a)
		r.Attempts++
		r.Due, r.Until = nanos(due), 0
	})
}

// Release gives a leased delivery back; see [outbox.Outbox.Release].
func (o *Outbox) Release(ctx context.Context, id, token string) error {
	return o.settle(ctx, id, token, func(r *record) { r.Until = 0 })
}

// DeadLetter moves a leased delivery to the dead letters; see
// [outbox.Outbox.DeadLetter].
func (o *Outbox) DeadLetter(ctx context.Context, id, token, reason string, a outbox.Attempt) error {
	return o.settle(ctx, id, token, func(r *record) {
		r.addAttempt(a)
		r.Attempts++
		r.State, r.Until = stateDead, 0
		r.Reason, r.DeadAt = outbox.ClipText(reason), nanos(time.Now())
	})
}

// tombstone empties r into the marker of a forgotten delivery.
func (r *record) tombstone() {
	*r = record{meta: meta{ID: r.ID, State: stateGone}}
}

// settle ends the lease of id named by token: it changes the leased record
// with f and writes it back, guarded by the lease's revision.
func (o *Outbox) settle(ctx context.Context, id, token string, f func(*record)) error {
	rev, err := strconv.ParseUint(token, 10, 64)
	if err != nil || rev == 0 {
		return outbox.ErrLeaseLost
	}
	o.mu.Lock()
	if err := o.checkOpen(); err != nil {
		o.mu.Unlock()
		return err
	}
	var r *record
	if e := o.entries[id]; e != nil && e.rev == rev && e.rec != nil {
		cp := *e.rec
		r = &cp
	}
	o.mu.Unlock()
	if r == nil {
		if r, err = o.read(ctx, id, rev); err != nil {
			return err
		}
	}
	if r.State != statePending || r.Until == 0 {
		return outbox.ErrLeaseLost // not a lease
	}
	f(r)
	_, err = o.write(ctx, r, rev)
	return err
}

// write stores r guarded by the expected revision rev (0: the subject must
// be empty), applies it to the index and returns the new revision. A
// failed guard is [outbox.ErrLeaseLost].
func (o *Outbox) write(ctx context.Context, r *record, rev uint64) (uint64, error) {
	m, err := r.msg(o.subject(r.ID))
	if err != nil {
		return 0, err
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
	if r.State == stateGone {
		opts = append(opts, jetstream.WithMsgTTL(o.cfg.DuplicateWindow))
	}
	ack, err := o.js.PublishMsg(ctx, m, opts...)
	if isConflict(err) {
		o.mu.Lock()
		if e := o.entries[r.ID]; e != nil {
			o.markStaleLocked(e, rev)
		}
		o.mu.Unlock()
		return 0, outbox.ErrLeaseLost
	}
	if err != nil {
		return 0, fmt.Errorf("natsstore: write %s: %w", r.ID, err)
	}
	o.mu.Lock()
	if !o.closed {
		o.applyLocked(r.meta, ack.Sequence, false)
	}
	o.mu.Unlock()
	return ack.Sequence, nil
}
