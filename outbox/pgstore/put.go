package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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
// more statements clear held on the heads of their lines (see order.go).
// Two more check, when the insert skipped an id, that the outbox holds it
// for the same destination, and roll the Put back if not (sqlClash,
// sqlRefuse). All run in one transaction and one round trip.
func (ob *store) Put(ctx context.Context, ds ...outbox.Delivery) error {
	if err := ob.live(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return ctx.Err()
	}
	if _, err := idclash.InBatch(outbox.ErrInvalid, len(ds), func(i int) (string, string) { return ds[i].ID, ds[i].Destination }); err != nil {
		return err
	}
	var n int64
	args := ob.putArgs(ds)
	heads, keyed := headsOfLines(ds)
	for try := 1; ; try++ {
		var clash, err error
		n, clash, err = ob.put(ctx, args, heads, keyed)
		if clash != nil {
			return clash
		}
		if err == nil {
			break
		}
		// Two Puts of the same ids in other orders (clients retrying
		// batches on two workers) wait on each other's rows, and the
		// server ends one of them: all of it rolled back, so try again.
		if !isDeadlock(err) || try == putTries || ctx.Err() != nil {
			return dbError(ctx, "put", err)
		}
		// Apart, at random: two Puts that try again at once meet again
		// (one in eight test runs with three immediate tries).
		select {
		case <-ctx.Done():
			return dbError(ctx, "put", ctx.Err())
		case <-time.After(rand.N(time.Duration(try) * 10 * time.Millisecond)):
		}
	}
	if n > 0 {
		ob.notify.now() // committed: wake the workers of every process
	}
	return nil
}

// put runs sqlPut with args, or when keyed sqlPutKeyed and then sqlHeads
// with heads (after sqlByKey), then sqlClash and sqlRefuse, in one round
// trip and one transaction, and returns how many deliveries it inserted.
// clash is the error of an id held for another destination, for which
// sqlRefuse rolled it all back.
func (ob *store) put(ctx context.Context, args, heads []any, keyed bool) (n int64, clash, err error) {
	b := &pgx.Batch{}
	if keyed {
		b.Queue(ob.q.putKeyed, args...)
		b.Queue(ob.q.byKey)
		b.Queue(ob.q.heads, heads...)
	} else {
		b.Queue(ob.q.put, args...)
	}
	b.Queue(ob.q.clash, args[0], args[1])
	b.Queue(ob.q.refuse)
	br := ob.pool.SendBatch(ctx, b)
	var xid, held string
	err = br.QueryRow().Scan(&n, &xid, &held)
	for range b.Len() - 3 { // sqlByKey and sqlHeads
		if _, e := br.Exec(); err == nil {
			err = e
		}
	}
	if err == nil {
		clash, err = clashOf(br)
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if clash == nil {
		return n, nil, err
	}
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "22P02" {
		return 0, clash, nil // refused by sqlRefuse, as it should be
	}
	return 0, fmt.Errorf("pgstore: put: %w, and sqlRefuse did not roll it back: %v", clash, err), nil
}

// clashOf reads the result of sqlClash from br: the error of the first
// delivery it lists, or nil.
func clashOf(br pgx.BatchResults) (clash, err error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, held, dest, set string
		if err := rows.Scan(&id, &held, &dest, &set); err != nil {
			return nil, err
		}
		if clash == nil {
			clash = idclash.Err(outbox.ErrInvalid, id, held, dest)
		}
	}
	return clash, rows.Err()
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
