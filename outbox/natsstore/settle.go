package natsstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Settle ends leases; see [outbox.Outbox.Settle]. Each settlement is one
// guarded write of the delivery's record, and they are written at once:
// Delivered leaves a tombstone that expires after [Config.DuplicateWindow],
// Retrying and DeadLettered rewrite the record with the attempt (and the
// reason, cut to 1024 bytes), Released clears the lease.
func (o *store) Settle(ctx context.Context, ss []outbox.Settlement) []error {
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i := range ss {
		if i == len(ss)-1 { // the last one on this goroutine: a lone one needs no other
			errs[i] = o.settleOne(ctx, &ss[i])
			break
		}
		wg.Go(func() { errs[i] = o.settleOne(ctx, &ss[i]) })
	}
	wg.Wait()
	return errs
}

// settleOne records one settlement.
func (o *store) settleOne(ctx context.Context, st *outbox.Settlement) error {
	var f func(*record)
	switch st.Outcome {
	case outbox.Delivered:
		f = (*record).tombstone
	case outbox.Retrying:
		f = func(r *record) {
			r.addAttempt(st.Attempt)
			r.Attempts = limits.CountOn(r.Attempts, math.MaxInt)
			r.Due, r.Until = wire.Nanos(st.Due), 0
		}
	case outbox.Released:
		f = func(r *record) { r.Until = 0 }
	case outbox.DeadLettered:
		f = func(r *record) {
			r.addAttempt(st.Attempt)
			r.Attempts = limits.CountOn(r.Attempts, math.MaxInt)
			r.State, r.Until = stateDead, 0
			r.Reason, r.DeadAt = limits.Clip(st.Reason), wire.Nanos(time.Now())
		}
	default:
		return fmt.Errorf("%w: unknown outcome %d", outbox.ErrInvalid, st.Outcome)
	}
	return o.settle(ctx, st.ID, st.Token, f)
}

// tombstone empties r into the marker of a forgotten delivery. It keeps
// the destination, so that a Put of the id for another destination within
// [Config.DuplicateWindow] is refused rather than dropped (see adopt).
func (r *record) tombstone() {
	*r = record{meta: meta{ID: r.ID, Destination: r.Destination, State: stateGone}}
}

// settle ends the lease of id named by token: it changes the leased record
// with f and writes it back, guarded by the lease's revision.
func (o *store) settle(ctx context.Context, id, token string, f func(*record)) error {
	rev, err := parseToken(token)
	if err != nil {
		return err
	}
	if err := o.lock(ctx); err != nil {
		return err
	}
	var r *record
	if e := o.entries[id]; e != nil && e.rev == rev && e.rec != nil {
		// A copy of its own history too: settlements of one lease run at
		// once, and each appends its attempt.
		cp := *e.rec
		cp.history = slices.Clone(cp.history)
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

// parseToken reads a lease token as Lease makes it: the revision of the
// leased record, in decimal without leading zeros. Anything else, which no
// lease of this store carries, is [outbox.ErrLeaseLost].
func parseToken(token string) (uint64, error) {
	// ParseUint takes decimal digits alone (no sign, no underscores in
	// base 10): the one other spelling of a number is a leading zero.
	rev, err := strconv.ParseUint(token, 10, 64)
	if err != nil || rev == 0 || token[0] == '0' {
		return 0, outbox.ErrLeaseLost
	}
	return rev, nil
}

// write stores r guarded by the expected revision rev (0: the subject must
// be empty), applies it to the index and returns the new revision. A
// failed guard is [outbox.ErrLeaseLost].
func (o *store) write(ctx context.Context, r *record, rev uint64) (uint64, error) {
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
