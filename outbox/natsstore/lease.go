package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/outbox"
)

// loadParallel bounds the concurrent body reads of one Lease.
const loadParallel = 16

// Lease leases due deliveries; see [outbox.Outbox.Lease]. It chooses from
// the index (earliest due first within a destination, destinations in
// turn), reads the chosen records and writes a lease on each, guarded by
// its revision. A delivery another worker claimed meanwhile is skipped, so
// Lease may return fewer than are due; the Queue asks again.
func (o *Outbox) Lease(ctx context.Context, lo outbox.LeaseOptions) ([]outbox.Leased, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lo = lo.WithDefaults()
	o.mu.Lock()
	if err := o.checkOpen(); err != nil {
		o.mu.Unlock()
		return nil, err
	}
	picks := o.pickLocked(lo)
	o.mu.Unlock()
	if len(picks) == 0 {
		return nil, nil
	}
	recs, conflicts := o.load(ctx, picks)
	until := lo.Now.Add(lo.TTL)
	type claim struct {
		p   pick
		r   *record
		ack jetstream.PubAckFuture
	}
	claims := make([]claim, 0, len(picks))
	// failed are the picks not leased; behind, those that failed because
	// the index is behind the stream. A pick that failed for another
	// reason (the server unreachable, ctx ended) is simply eligible again.
	var failed, behind []pick
	var pubErr error
	for i, p := range picks {
		r := recs[i]
		if r == nil || pubErr != nil {
			failed = append(failed, p)
			if conflicts[i] {
				behind = append(behind, p)
			}
			continue
		}
		r.Until = nanos(until)
		m, err := r.msg(o.subject(r.ID))
		if err == nil {
			var f jetstream.PubAckFuture
			// Guarded by the revision that was picked and read.
			f, err = o.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(p.rev))
			if err == nil {
				claims = append(claims, claim{p, r, f})
				continue
			}
		}
		pubErr = err
		failed = append(failed, p)
	}
	var out []outbox.Leased
	for _, c := range claims {
		select {
		case ack := <-c.ack.Ok():
			o.mu.Lock()
			c.p.e.claiming = false
			if !o.closed {
				if e := o.applyLocked(c.r.meta, ack.Sequence, false); e != nil && e.rev == ack.Sequence {
					e.rec = c.r
				}
			}
			o.mu.Unlock()
			out = append(out, outbox.Leased{
				Delivery: c.r.delivery(c.r.body),
				Token:    strconv.FormatUint(ack.Sequence, 10),
				Until:    until,
			})
		case err := <-c.ack.Err():
			switch {
			case isConflict(err):
				behind = append(behind, c.p)
			case pubErr == nil:
				pubErr = err
			}
			failed = append(failed, c.p)
		case <-ctx.Done():
			// The claims not yet acknowledged may still succeed; their
			// leases then run out unused.
			failed = append(failed, c.p)
			if pubErr == nil {
				pubErr = ctx.Err()
			}
		}
	}
	o.mu.Lock()
	for _, p := range failed {
		p.e.claiming = false
	}
	for _, p := range behind {
		o.markStaleLocked(p.e, p.rev)
	}
	o.mu.Unlock()
	o.refresh(ctx, behind)
	if len(out) == 0 && pubErr != nil {
		return nil, fmt.Errorf("natsstore: lease: %w", pubErr)
	}
	return out, nil
}

// staleRetry is how long a stale entry waits for the watcher before Lease
// tries it again anyway.
const staleRetry = 2 * time.Second

// eligible reports whether e may be leased at now.
func eligible(e *entry, now int64) bool {
	return e.State == statePending && !e.claiming && e.Due <= now && e.Until <= now &&
		(!e.stale || time.Since(e.staleAt) >= staleRetry)
}

// markStaleLocked marks e stale if the index still holds it at rev, the
// revision a guarded write or read found outdated: if the watcher applied
// a newer one meanwhile, the index is current again and must not wait for
// another. o.mu is held.
func (o *Outbox) markStaleLocked(e *entry, rev uint64) {
	if e.rev == rev {
		e.stale, e.staleAt = true, time.Now()
	}
}

// pick is an entry chosen by Lease, with the id and revision it had then.
type pick struct {
	e   *entry
	id  string
	rev uint64
}

// pickLocked chooses up to lo.Max entries to lease and marks them as being
// claimed. o.mu is held.
func (o *Outbox) pickLocked(lo outbox.LeaseOptions) []pick {
	now := nanos(lo.Now)
	names := make([]string, 0, len(o.dests))
	for name, l := range o.dests {
		if len(l.entries) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	start, _ := slices.BinarySearch(names, o.lastDest+"\x00")
	var picks []pick
	for i := range names {
		if len(picks) >= lo.Max {
			break
		}
		name := names[(start+i)%len(names)]
		l := o.dests[name]
		l.sort()
		first := -1
		for j, e := range l.entries {
			if e.Due > now && l.member(e) {
				break // sorted by due: nothing later is due
			}
			if l.member(e) && eligible(e, now) {
				first = j
				break
			}
		}
		if first < 0 {
			continue
		}
		n := lo.Max - len(picks)
		if lo.Allow != nil {
			n = min(n, lo.Allow(name))
		}
		if n <= 0 {
			continue
		}
		for _, e := range l.entries[first:] {
			if n == 0 || e.Due > now && l.member(e) {
				break
			}
			if l.member(e) && eligible(e, now) {
				e.claiming = true
				picks = append(picks, pick{e, e.ID, e.rev})
				n--
			}
		}
		o.lastDest = name
	}
	return picks
}

// load reads the records of picks at their indexed revisions, a few at a
// time. A record that cannot be read is nil, and its conflict is set when
// that is because it changed meanwhile (or is no longer pending).
func (o *Outbox) load(ctx context.Context, picks []pick) (recs []*record, conflict []bool) {
	recs, conflict = make([]*record, len(picks)), make([]bool, len(picks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, loadParallel)
	for i := range picks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := o.read(ctx, picks[i].id, picks[i].rev)
			switch {
			case err == nil && r.State == statePending:
				recs[i] = r
			case err == nil, errors.Is(err, outbox.ErrLeaseLost):
				conflict[i] = true
			}
		}()
	}
	wg.Wait()
	return recs, conflict
}

// read returns the record of id stored at revision rev, or an error
// wrapping [outbox.ErrLeaseLost] when the message at rev is not that
// record (it was replaced).
func (o *Outbox) read(ctx context.Context, id string, rev uint64) (*record, error) {
	sm, err := o.stream.GetMsg(ctx, rev)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, outbox.ErrLeaseLost
	}
	if err != nil {
		return nil, fmt.Errorf("natsstore: read %s: %w", id, err)
	}
	if sm.Subject != o.subject(id) {
		return nil, outbox.ErrLeaseLost
	}
	r, err := decodeRecord(sm.Header, sm.Data)
	if err != nil {
		return nil, fmt.Errorf("natsstore: read %s: %w", id, err)
	}
	return r, nil
}
