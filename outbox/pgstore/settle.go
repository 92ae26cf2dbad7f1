package pgstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Settle ends leases; see [outbox.Outbox.Settle]. The settlements go in
// one round trip and one transaction; one whose token no longer holds
// the lease changes nothing and fails with [outbox.ErrLeaseLost], while
// the others are recorded. A delivered or dead delivery with a partition
// key passes its line on to the next (see order.go): the transaction then
// starts with sqlByKey and sqlNoteLines and ends with sqlPassOn.
func (ob *store) Settle(ctx context.Context, ss []outbox.Settlement) []error {
	if err := ob.live(); err != nil {
		return slices.Repeat([]error{err}, len(ss))
	}
	errs := make([]error, len(ss))
	if len(ss) == 0 {
		return errs
	}
	var ids, tokens []string // of the settlements that end keyed deliveries
	for _, s := range ss {
		if endsKeyed(s) {
			ids, tokens = append(ids, s.ID), append(tokens, s.Token)
		}
	}
	passes := len(ids) > 0
	b := &pgx.Batch{}
	b.Queue(ob.q.async)
	if passes {
		b.Queue(ob.q.byKey)
		b.Queue(ob.q.noteLines, ids, tokens)
	}
	lead := b.Len()                 // the statements before the settlements
	sent := make([]int, 0, len(ss)) // the settlements queued, by index
	released := false
	for _, i := range byIDs(ss) {
		s := ss[i]
		a := s.Attempt
		attempt := []any{s.ID, s.Token, nil, wire.Nanos(a.At), a.Status, int64(a.Latency), a.Tries, []byte(a.Error)}
		switch s.Outcome {
		case outbox.Delivered:
			b.Queue(pick(endsKeyed(s), ob.q.ackKeyed, ob.q.ack), s.ID, s.Token)
		case outbox.Retrying:
			attempt[2] = wire.Nanos(s.Due)
			b.Queue(ob.q.retry, attempt...)
		case outbox.DeadLettered:
			attempt[2] = wire.Nanos(time.Now())
			b.Queue(pick(endsKeyed(s), ob.q.deadKeyed, ob.q.dead), append(attempt, []byte(s.Reason))...)
		case outbox.Released:
			b.Queue(ob.q.release, s.ID, s.Token)
			released = true
		default:
			errs[i] = errUnknownOutcome(s.Outcome)
			continue
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return errs
	}
	if passes {
		b.Queue(ob.q.passOn)
	}
	// A Put of held ids locks their rows in its order (see putConflict):
	// a client retrying a batch while a worker settles the same
	// deliveries in another order waits on them as they wait on it, and
	// the server ends one of the two, all of it rolled back: try again,
	// as Put does.
	var failed error
	for try := 1; ; try++ {
		failed = ob.sendSettlements(ctx, b, lead, sent, errs)
		if !isDeadlock(failed) || try == putTries || ctx.Err() != nil {
			break
		}
		for _, i := range sent {
			errs[i] = nil // a lease lost in the rolled-back try may not be
		}
		b = requeued(b)
	}
	if failed != nil { // the transaction rolled back: nothing was recorded
		for _, i := range sent {
			errs[i] = dbError(ctx, "settle", failed)
		}
	} else if released {
		ob.notify.now() // other workers may take what was released
	}
	return errs
}

// byIDs returns the indexes of ss in the order of their ids, in which Put
// locks the rows it finds held (see Put): a Settle and a Put that locked
// the same rows in other orders would wait on each other until the
// server ended one of them.
func byIDs(ss []outbox.Settlement) []int {
	order := make([]int, len(ss))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return strings.Compare(ss[i].ID, ss[j].ID) })
	return order
}

// requeued returns a new batch of b's statements: pgx keeps in a sent
// batch the server's prepared statements, which a failed batch may have
// dropped.
func requeued(b *pgx.Batch) *pgx.Batch {
	nb := &pgx.Batch{}
	for _, q := range b.QueuedQueries {
		nb.Queue(q.SQL, q.Arguments...)
	}
	return nb
}

// endsKeyed reports whether s ends the lease of a delivery with a
// partition key for good: delivered or dead.
func endsKeyed(s outbox.Settlement) bool {
	return isKeyedToken(s.Token) && (s.Outcome == outbox.Delivered || s.Outcome == outbox.DeadLettered)
}

// pick returns keyed when the settlement ends a delivery with a
// partition key, and plain otherwise.
func pick(isKeyed bool, keyed, plain string) string {
	if isKeyed {
		return keyed
	}
	return plain
}

// sendSettlements sends b, whose statements after the first lead ones
// (sqlAsync, and those that start passing lines on) settle ss[sent[i]],
// each in one, in one round trip, which PostgreSQL runs as one implicit
// transaction, and sets errs[sent[i]] to ErrLeaseLost for those whose
// lease was lost. It returns why the transaction rolled back, or nil once
// it committed.
func (ob *store) sendSettlements(ctx context.Context, b *pgx.Batch, lead int, sent []int, errs []error) error {
	br := ob.pool.SendBatch(ctx, b)
	var failed error
	for range lead {
		if failed == nil {
			_, failed = br.Exec()
		}
	}
	for _, i := range sent {
		if failed != nil {
			break
		}
		tag, err := br.Exec()
		if err != nil {
			failed = err
			break
		}
		if tag.RowsAffected() == 0 {
			errs[i] = outbox.ErrLeaseLost
		}
	}
	if err := br.Close(); err != nil && failed == nil {
		failed = err
	}
	return failed
}
