package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/idclash"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// Enqueue stores a delivery of m to the named destination inside the
// caller's open transaction tx, and returns its id: the transactional
// outbox. The delivery exists exactly when tx commits, together with
// whatever else tx wrote; if tx rolls back, it never existed and nothing is
// sent. q is the Queue that delivers it, whose Outbox must be a
// store of [Open] in tx's database: it validates the delivery and fills its
// defaults as [outbox.Queue.Enqueue] does ([outbox.Queue.Prepare]), and
// its workers, and those of every process on the outbox, are woken when
// tx commits. Like Enqueue it is idempotent on the id and destination: an
// id the outbox holds for the named destination is left as it is, and m
// is then not stored. An id it holds for another destination fails with
// an error wrapping [outbox.ErrInvalid] that names the id and both
// destinations, and stores nothing; tx is left open and usable, to roll
// back or go on with. So give each destination's delivery an id of its own
// (or leave m.ID empty for a new one). Only when the insert found the id
// held does Enqueue read its destination, in tx, in a second statement.
//
// A delivery with a partition key (to a destination with Ordered set)
// holds its line until tx ends: another transaction, or a Put, that
// enqueues to the same destination and key waits for tx, so that the
// line follows commit order. Keep such transactions short, and enqueue to
// several keys in byte order (of the destination's name, then of the
// key), the order in which Puts and Replays take them, or PostgreSQL may
// fail one of two transactions that wait for each other (a deadlock).
//
// The workers are woken once tx commits: the outbox watches tx's
// transaction id and sends the NOTIFY when it sees it committed, within a
// few milliseconds (a process that exits first leaves them to their next
// poll).
//
//	tx, err := pool.Begin(ctx)
//	// ... the business write, with tx
//	id, err := pgstore.Enqueue(ctx, tx, q, "billing", sender.Message{Topic: "order:paid", Body: body})
//	// ...
//	err = tx.Commit(ctx)
func Enqueue(ctx context.Context, tx pgx.Tx, q *outbox.Queue, destination string, m sender.Message) (string, error) {
	if tx == nil {
		return "", errNilTx
	}
	return enqueueTx(ctx, q, destination, m, func(s *enqueueStmts) (xid string, err error) {
		if s.held != "" {
			return heldFor(tx.QueryRow(ctx, s.held, s.args[0]))
		}
		if s.heads == "" {
			err = tx.QueryRow(ctx, s.query, s.args...).Scan(&xid)
		} else { // both statements in one round trip
			b := &pgx.Batch{}
			b.Queue(s.query, s.args...)
			b.Queue(s.heads, s.headsArgs...)
			br := tx.SendBatch(ctx, b)
			err = br.QueryRow().Scan(&xid)
			if cerr := br.Close(); cerr != nil && (err == nil || errors.Is(err, pgx.ErrNoRows)) {
				err = cerr // sqlHeads failed
			}
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		return xid, err
	})
}

// EnqueueSQL is [Enqueue] for a database/sql transaction of the pgx driver
// (github.com/jackc/pgx/v5/stdlib, driver name "pgx"): the delivery
// exists exactly when tx commits.
func EnqueueSQL(ctx context.Context, tx *sql.Tx, q *outbox.Queue, destination string, m sender.Message) (string, error) {
	if tx == nil {
		return "", errNilTx
	}
	return enqueueTx(ctx, q, destination, m, func(s *enqueueStmts) (xid string, err error) {
		if s.held != "" {
			return heldFor(tx.QueryRowContext(ctx, s.held, s.args[0]))
		}
		err = tx.QueryRowContext(ctx, s.query, s.args...).Scan(&xid)
		if errors.Is(err, sql.ErrNoRows) {
			xid, err = "", nil
		}
		if err == nil && s.heads != "" {
			_, err = tx.ExecContext(ctx, s.heads, s.headsArgs...)
		}
		return xid, err
	})
}

// errNilTx refuses an enqueue without a transaction to enqueue in.
var errNilTx = fmt.Errorf("%w: pgstore: nil transaction", outbox.ErrInvalid)

// enqueueStmts are the statements of an enqueue: query, which inserts the
// delivery and returns the transaction's id, then, for a delivery with a
// partition key, heads, which clears held on it if it heads its line (see
// order.go). When held is set, the insert found the id held: run held
// alone, with args[0], the id, for the destination it is held for.
type enqueueStmts struct {
	query, heads, held string
	args, headsArgs    []any
}

// heldFor reads the result of sqlHeldFor: the destination the id is held
// for, or "" when it is no longer held.
func heldFor(row interface{ Scan(...any) error }) (string, error) {
	var dest string
	err := row.Scan(&dest)
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return dest, err
}

// enqueueTries bounds the inserts of an Enqueue whose id was held at the
// insert and gone by the look at its destination (acknowledged meanwhile).
const enqueueTries = 3

// enqueueTx stores the delivery q makes of m with insert, which runs the
// statements in the caller's transaction, in order, and returns the
// transaction's id, or "" when the outbox held the id already (the
// delivery is then left as it is), and has the workers woken once that
// transaction commits. For a held id it has insert run the held statement
// alone, which returns the destination the id is held for, and fails
// when that is another: no statement fails, so the transaction is intact.
func enqueueTx(ctx context.Context, q *outbox.Queue, destination string, m sender.Message, insert func(*enqueueStmts) (string, error)) (string, error) {
	if q == nil {
		return "", fmt.Errorf("%w: pgstore: nil Queue", outbox.ErrInvalid)
	}
	ob, ok := q.Outbox.(*store)
	if !ok {
		return "", fmt.Errorf("%w: pgstore: the Queue's Outbox is a %T, not a store of pgstore.Open", outbox.ErrInvalid, q.Outbox)
	}
	if err := ob.live(); err != nil {
		return "", err
	}
	d, err := q.Prepare(destination, m)
	if err != nil {
		return "", err
	}
	s := &enqueueStmts{query: ob.putOneSQL(&d), args: putOneArgs(&d)}
	if d.PartitionKey != "" {
		s.heads, s.headsArgs = ob.q.ownHead, []any{d.ID}
	}
	for range enqueueTries {
		xid, err := insert(s)
		if err != nil {
			return "", dbError(ctx, "enqueue", err)
		}
		if xid != "" {
			ob.notify.watch(xid)
			return d.ID, nil
		}
		held := &enqueueStmts{held: ob.q.heldFor, args: s.args}
		dest, err := insert(held)
		switch {
		case err != nil:
			return "", dbError(ctx, "enqueue", err)
		case dest == d.Destination:
			return d.ID, nil // held for it: idempotent
		case dest != "":
			return "", idclash.Err(outbox.ErrInvalid, d.ID, dest, d.Destination)
		}
	}
	return "", fmt.Errorf("pgstore: enqueue %s: the id was held at every insert and gone at every look", d.ID)
}
