package pgstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Lease leases due deliveries; see [outbox.Outbox.Lease]. It lists the
// destinations with something pending, asks o.Allow about each once, in turn
// starting after the one it served last, and leases from those it admits
// in one statement (see sqlLease): rows other workers hold locked are
// skipped, not waited for. When a line has a vacancy to fill (see
// order.go), it fills it first; every repairEvery, it first walks some
// lines for heads left held (see repair.go).
func (ob *store) Lease(ctx context.Context, o outbox.LeaseOptions) ([]outbox.Leased, error) {
	if err := ob.live(); err != nil {
		return nil, err
	}
	if ob.repairDue(o.Now) {
		if err := ob.repairSome(ctx); err != nil {
			return nil, err
		}
	}
	dests, vacant, err := ob.destinations(ctx)
	if err == nil && vacant {
		if err = ob.fillVacancies(ctx); err == nil {
			dests, _, err = ob.destinations(ctx)
		}
	}
	if err != nil || len(dests) == 0 {
		return nil, err
	}
	ob.mu.Lock()
	start, _ := slices.BinarySearch(dests, ob.lastDest+"\x00")
	ob.mu.Unlock()
	var (
		visit []string
		caps  []int32
	)
	for i := range dests {
		dest := dests[(start+i)%len(dests)]
		n := o.Max
		if o.Allow != nil {
			n = min(n, o.Allow(dest))
		}
		if n > 0 {
			visit, caps = append(visit, dest), append(caps, int32(min(n, math.MaxInt32)))
		}
	}
	if len(visit) == 0 {
		return nil, nil
	}
	token := rand.Text()
	until := o.Now.Add(o.TTL)
	// When collecting fails, the statement may have committed leases this
	// call cannot return: they run out after o.TTL, and are leased again.
	out, err := collect(ctx, ob, "lease", ob.q.lease, func(r pgx.CollectableRow) (outbox.Leased, error) {
		l := outbox.Leased{Token: token, Until: until}
		var topic, ctype, trace, key []byte
		var due, created int64
		var attempts int32
		err := r.Scan(&l.ID, &l.Destination, &l.EventID, &topic, &ctype, &l.Body, &due, &created, &attempts, &trace, &key)
		l.Topic, l.ContentType = string(topic), string(ctype)
		l.TraceParent, l.PartitionKey = string(trace), string(key)
		l.Due, l.Created, l.Attempts = wire.Time(due), wire.Time(created), int(attempts)
		if l.PartitionKey != "" {
			l.Token += keyedToken // as sqlLease stored it
		}
		return l, err
	}, visit, caps, wire.Nanos(o.Now), o.Max, token, wire.Nanos(until))
	if err != nil {
		return nil, err
	}
	ob.served(visit, out)
	return out, nil
}

// destinations lists the destinations with a pending delivery that is
// not held, in byte order, and reports whether a line has a vacancy to
// fill (see sqlDests).
func (ob *store) destinations(ctx context.Context) (dests []string, vacant bool, err error) {
	type row struct {
		dest    string
		vacancy bool
	}
	rows, err := collect(ctx, ob, "lease", ob.q.dests, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.dest, &x.vacancy)
		return x, err
	})
	for _, x := range rows {
		if x.vacancy {
			vacant = true
		} else {
			dests = append(dests, x.dest)
		}
	}
	return dests, vacant, err
}

// fillVacancies claims the vacancies no other transaction is filling,
// and fills them (see order.go), in one transaction that commits without
// waiting for the WAL flush: a vacancy lost in a crash was filled,
// or is filled again.
func (ob *store) fillVacancies(ctx context.Context) error {
	b := &pgx.Batch{}
	b.Queue(ob.q.async)
	b.Queue(ob.q.byKey)
	b.Queue(ob.q.claim)
	b.Queue(ob.q.fill)
	if err := ob.pool.SendBatch(ctx, b).Close(); err != nil {
		return dbError(ctx, "fill the vacancies of lines", err)
	}
	return nil
}

// served remembers the last destination in visit that got deliveries, so
// that the next Lease starts after it.
func (ob *store) served(visit []string, out []outbox.Leased) {
	got := make(map[string]bool, len(visit))
	for _, l := range out {
		got[l.Destination] = true
	}
	for i := len(visit) - 1; i >= 0; i-- {
		if got[visit[i]] {
			ob.mu.Lock()
			ob.lastDest = visit[i]
			ob.mu.Unlock()
			return
		}
	}
}

// errUnknownOutcome is the error of a settlement with an outcome that is
// none of the four.
func errUnknownOutcome(o outbox.Outcome) error {
	return fmt.Errorf("%w: unknown outcome %d", outbox.ErrInvalid, o)
}
