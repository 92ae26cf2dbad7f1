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

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// loadParallel bounds the concurrent body reads of one Lease.
const loadParallel = 16

// Lease leases due deliveries; see [outbox.Outbox.Lease]. It chooses from
// the index (earliest due first within a destination, destinations in
// turn), reads the chosen records and writes a lease on each, guarded by
// its revision. A delivery another worker claimed meanwhile is skipped, so
// Lease may return fewer than are due; the Queue asks again.
func (o *store) Lease(ctx context.Context, lo outbox.LeaseOptions) ([]outbox.Leased, error) {
	if err := o.lock(ctx); err != nil {
		return nil, err
	}
	picks := o.pickLocked(lo)
	o.mu.Unlock()
	if len(picks) == 0 {
		return nil, nil
	}
	recs, conflicts := o.load(ctx, picks)
	until := lo.Now.Add(lo.TTL)
	lr := o.publishClaims(picks, recs, conflicts, until)
	actx, cancel := context.WithTimeoutCause(ctx, claimAckWait, errNoClaimAck)
	out := o.awaitClaims(actx, &lr, until)
	cancel()
	o.mu.Lock()
	for _, p := range lr.failed {
		p.e.claiming = false
	}
	for _, p := range lr.behind {
		o.markStaleLocked(p.e, p.rev)
	}
	o.mu.Unlock()
	o.refresh(ctx, lr.behind)
	if len(out) == 0 && lr.err != nil {
		return nil, fmt.Errorf("natsstore: lease: %w", lr.err)
	}
	return out, nil
}

// claimAckWait bounds how long Lease waits for the acknowledgements of its
// claims. A clustered stream whose leader changes answers none of the
// publishes it received meanwhile, and an acknowledgement not answered
// has no end of its own: Lease would wait until its context ended, and a
// Queue's never does.
const claimAckWait = 10 * time.Second

// errNoClaimAck is why Lease gave up on a claim's acknowledgement.
var errNoClaimAck = fmt.Errorf("no acknowledgement of a lease's write within %v", claimAckWait)

// leaseClaim is one pick being leased: its record stamped with the lease,
// and the acknowledgement of the publish that claims it.
type leaseClaim struct {
	p   pick
	r   *record
	ack jetstream.PubAckFuture
}

// leaseRound is what one Lease call has done: the claims published, the
// picks not leased (failed) and, among them, those that failed because the
// index is behind the stream (behind), and the first publish error. A pick
// that failed for another reason (the server unreachable, ctx ended) is
// simply eligible again.
type leaseRound struct {
	claims         []leaseClaim
	failed, behind []pick
	err            error
}

// publishClaims publishes, for each pick whose record was read, the record
// stamped with the lease, guarded by the revision that was picked and read.
// After the first publish error it publishes no more.
func (o *store) publishClaims(picks []pick, recs []*record, conflicts []bool, until time.Time) leaseRound {
	lr := leaseRound{claims: make([]leaseClaim, 0, len(picks))}
	for i, p := range picks {
		r := recs[i]
		if r == nil || lr.err != nil {
			lr.failed = append(lr.failed, p)
			if conflicts[i] {
				lr.behind = append(lr.behind, p)
			}
			continue
		}
		r.Until = wire.Nanos(until)
		m, err := r.msg(o.subject(r.ID))
		if err == nil {
			var f jetstream.PubAckFuture
			f, err = o.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(p.rev))
			if err == nil {
				lr.claims = append(lr.claims, leaseClaim{p, r, f})
				continue
			}
		}
		lr.err = err
		lr.failed = append(lr.failed, p)
	}
	return lr
}

// awaitClaims waits for the acknowledgement of each claim of lr and returns
// the deliveries leased; a claim refused or not acknowledged before ctx
// ends (claimAckWait at most) joins lr's failed picks.
func (o *store) awaitClaims(ctx context.Context, lr *leaseRound, until time.Time) []outbox.Leased {
	var out []outbox.Leased
	for _, c := range lr.claims {
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
				lr.behind = append(lr.behind, c.p)
			case lr.err == nil:
				lr.err = err
			}
			lr.failed = append(lr.failed, c.p)
		case <-ctx.Done():
			// The claims not yet acknowledged may still succeed; their
			// leases then run out unused.
			lr.failed = append(lr.failed, c.p)
			if lr.err == nil {
				lr.err = ctx.Err()
				if errors.Is(context.Cause(ctx), errNoClaimAck) {
					lr.err = errNoClaimAck
				}
			}
		}
	}
	return out
}

// staleRetry is how long a stale entry waits for the watcher before Lease
// tries it again anyway.
const staleRetry = 2 * time.Second

// eligible reports whether e may be leased at now.
func eligible(e *entry, now int64) bool {
	return e.State == statePending && !e.claiming && !e.corrupt && e.Due <= now && e.Until <= now &&
		(!e.stale || time.Since(e.staleAt) >= staleRetry)
}

// later reports whether e is due in a second after the one of now. The
// index sorts by due second only, in an order of its own within one (see
// dueGrain), so an entry due later in now's second may come before one
// due already: only a later second ends the search.
func later(e *entry, now int64) bool {
	return e.Due/dueGrain > now/dueGrain
}

// markStaleLocked marks e stale if the index still holds it at rev, the
// revision a guarded write or read found outdated: if the watcher applied
// a newer one meanwhile, the index is current again and must not wait for
// another. o.mu is held.
func (o *store) markStaleLocked(e *entry, rev uint64) {
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
func (o *store) pickLocked(lo outbox.LeaseOptions) []pick {
	now := wire.Nanos(lo.Now)
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
			if later(e, now) && l.member(e) {
				break // sorted by due second: nothing later is due
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
			if n == 0 || later(e, now) && l.member(e) {
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
// that is because it changed meanwhile (or is no longer pending); one
// whose data is corrupt is set aside.
func (o *store) load(ctx context.Context, picks []pick) (recs []*record, conflict []bool) {
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
			case errors.Is(err, outbox.ErrCorrupt):
				o.setAside(picks[i], err)
			}
		}()
	}
	wg.Wait()
	return recs, conflict
}

// setAside marks the entry of p corrupt, if the index still holds it at
// the revision that could not be read (err), so that Lease no longer
// picks it: it would take a place of every Lease for ever.
func (o *store) setAside(p pick, err error) {
	o.mu.Lock()
	if !o.closed && p.e.rev == p.rev {
		p.e.corrupt = true
	}
	o.mu.Unlock()
	o.warn("outbox lease: unreadable record set aside", err)
}

// read returns the record of id stored at revision rev, or an error
// wrapping [outbox.ErrLeaseLost] when the message at rev is not that
// record (it was replaced).
func (o *store) read(ctx context.Context, id string, rev uint64) (*record, error) {
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
	r, err := o.recordAt(sm)
	if err != nil {
		return nil, fmt.Errorf("natsstore: read %s: %w", id, err)
	}
	return r, nil
}
