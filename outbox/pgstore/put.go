package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/idclash"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Put stores deliveries in one statement, all or none, skipping ids the
// outbox holds for the same destination, and wakes the workers of every
// process; see [outbox.Outbox.Put]. When some have a partition key, two
// more statements in the same transaction and round trip clear held on the
// heads of their lines (see order.go). The statement fails, and so rolls
// the Put back, on an id held for another destination (see putConflict):
// only then does Put ask which, to say so.
func (ob *store) Put(ctx context.Context, ds ...outbox.Delivery) error {
	if err := ob.live(); err != nil {
		return err
	}
	repeats, err := idclash.Batch(ctx, outbox.ErrInvalid, len(ds), func(i int) (string, string) { return ds[i].ID, ds[i].Destination })
	if err != nil || len(ds) == 0 {
		return err
	}
	var n int64
	each := once(ds, repeats)
	heads, keyed := headsOfLines(each)
	if !keyed && len(each) > 1 {
		// In the order of their ids, as Settle settles them: the
		// statement locks the rows of the ids it finds held (see
		// putConflict), and two Puts, or a Put and a Settle, that
		// locked the same rows in other orders would wait on each
		// other until the server ended one of them. A line's
		// deliveries keep the order given.
		each = slices.SortedFunc(slices.Values(each), byID)
	}
	args := ob.putArgs(each)
	for try := 1; ; try++ {
		n, err = ob.put(ctx, args, heads, keyed)
		if err == nil {
			break
		}
		if isClash(err) {
			if cerr := ob.clash(ctx, ds); cerr != nil {
				return cerr
			}
			// Acknowledged meanwhile: no longer held, try again.
			if try == putTries {
				// Held again at each try: the statement saw it held
				// last, so it is refused as such, not as a failed cast.
				return fmt.Errorf("%w: pgstore: put: a delivery id of the batch is held for another destination (held, acknowledged and held again across %d tries)", outbox.ErrInvalid, putTries)
			}
		}
		// Two Puts of the same ids in other orders (clients retrying
		// batches on two workers) wait on each other's rows, and the
		// server ends one of them: all of it rolled back, so try again.
		if !isDeadlock(err) && !isClash(err) || try == putTries || ctx.Err() != nil {
			return dbError(ctx, "put", err)
		}
		if err := apart(ctx, try); err != nil {
			return dbError(ctx, "put", err)
		}
	}
	if n > 0 {
		ob.notify.now() // committed: wake the workers of every process
	}
	return nil
}

// apart waits a random while, longer at each try, before a statement the
// server ended as a deadlock runs again: two that try again at once meet
// again (one Put in eight, in test runs with three immediate tries). It
// returns ctx's error if ctx ends first.
func apart(ctx context.Context, try int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(rand.N(time.Duration(try) * 10 * time.Millisecond)):
		return nil
	}
}

// retried runs f, and again while the server ends it as a deadlock, up to
// putTries times in all: a Put that meets held ids locks their rows in
// the order of their ids (see putConflict), as Settle, Replay and Purge
// do, but another transaction (an operator's, or a caller's holding rows
// of the table) may take them in its own; the one the server ended rolled
// back whole.
func retried(ctx context.Context, f func() error) error {
	for try := 1; ; try++ {
		err := f()
		if !isDeadlock(err) || try == putTries || ctx.Err() != nil {
			return err
		}
		if err := apart(ctx, try); err != nil {
			return err
		}
	}
}

// once returns ds without the repeats idclash.InBatch found (an id given
// again for the same destination), which the statement must not meet
// twice (see putConflict).
func once(ds []outbox.Delivery, repeats []bool) []outbox.Delivery {
	if repeats == nil {
		return ds
	}
	out := make([]outbox.Delivery, 0, len(ds))
	for i, d := range ds {
		if !repeats[i] {
			out = append(out, d)
		}
	}
	return out
}

// put runs sqlPut with args, or when keyed sqlPutKeyed and then sqlHeads
// with heads (after sqlByKey), in one round trip and one transaction, and
// returns how many deliveries it inserted.
func (ob *store) put(ctx context.Context, args, heads []any, keyed bool) (int64, error) {
	var n int64
	var xid string
	if !keyed {
		err := ob.pool.QueryRow(ctx, ob.q.put, args...).Scan(&n, &xid)
		return n, err
	}
	b := &pgx.Batch{}
	b.Queue(ob.q.putKeyed, args...)
	b.Queue(ob.q.byKey)
	b.Queue(ob.q.heads, heads...)
	br := ob.pool.SendBatch(ctx, b)
	err := br.QueryRow().Scan(&n, &xid)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// clash returns the error of a Put of ds that putConflict refused for an id
// held for another destination: it reads the destinations of ds's ids to
// name the id and both destinations. It returns nil when none differs any
// more (the delivery was acknowledged meanwhile): the Put may try again.
func (ob *store) clash(ctx context.Context, ds []outbox.Delivery) error {
	ids := make([]string, len(ds))
	want := make(map[string]string, len(ds))
	for i, d := range ds {
		ids[i], want[d.ID] = d.ID, d.Destination
	}
	rows, qerr := ob.pool.Query(ctx, ob.q.heldForAny, ids)
	if qerr != nil {
		return dbError(ctx, "put", qerr)
	}
	defer rows.Close()
	for rows.Next() {
		var id, held string
		if err := rows.Scan(&id, &held); err != nil {
			return dbError(ctx, "put", err)
		}
		if dest := want[id]; held != dest {
			return idclash.Err(outbox.ErrInvalid, id, held, dest)
		}
	}
	if err := rows.Err(); err != nil {
		return dbError(ctx, "put", err)
	}
	return nil
}

// byID orders deliveries by their ids' bytes.
func byID(a, b outbox.Delivery) int { return strings.Compare(a.ID, b.ID) }

// isClash reports whether err is putConflict's refusal of an id held for
// another destination.
func isClash(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, putClash)
}

// putTries is how many times Put runs its statement when the server ends
// it to break a deadlock.
const putTries = 5

// isDeadlock reports whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// putArgs are the arguments of the put statement for ds: one array per
// column.
func (ob *store) putArgs(ds []outbox.Delivery) []any {
	var (
		ids, dests, events = make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
		topics, types      = make([][]byte, len(ds)), make([][]byte, len(ds))
		bodies             = make([][]byte, len(ds))
		due, created       = make([]int64, len(ds)), make([]int64, len(ds))
		attempts           = make([]int32, len(ds))
		traces, keys       = make([][]byte, len(ds)), make([][]byte, len(ds))
	)
	for i, d := range ds {
		ids[i], dests[i], events[i] = d.ID, d.Destination, d.EventID
		topics[i], types[i] = []byte(d.Topic), []byte(d.ContentType)
		bodies[i] = d.Body
		if bodies[i] == nil {
			bodies[i] = []byte{} // NOT NULL: an empty body is a body
		}
		due[i], created[i] = wire.Nanos(d.Due), wire.Nanos(d.Created)
		attempts[i] = int32(min(d.Attempts, math.MaxInt32))
		traces[i], keys[i] = []byte(d.TraceParent), []byte(d.PartitionKey)
	}
	return []any{ids, dests, events, topics, types, bodies, due, created, attempts, traces, keys}
}

// putOneArgs are the arguments of the putOne statement for d.
func putOneArgs(d *outbox.Delivery) []any {
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	return []any{d.ID, d.Destination, d.EventID, []byte(d.Topic), []byte(d.ContentType), body,
		wire.Nanos(d.Due), wire.Nanos(d.Created), int32(min(d.Attempts, math.MaxInt32)),
		[]byte(d.TraceParent), []byte(d.PartitionKey)}
}
