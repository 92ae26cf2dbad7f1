package pgstore

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Settle ends leases; see [outbox.Outbox.Settle]. The settlements go in
// one round trip and one transaction; one whose token no longer holds
// the lease changes nothing and fails with [outbox.ErrLeaseLost], while
// the others are recorded. A delivered or dead delivery with a partition
// key passes its line on to the next (see order.go): the transaction
// then ends with sqlFill.
func (ob *store) Settle(ctx context.Context, ss []outbox.Settlement) []error {
	if err := ob.live(); err != nil {
		return slices.Repeat([]error{err}, len(ss))
	}
	errs := make([]error, len(ss))
	if len(ss) == 0 {
		return errs
	}
	b := &pgx.Batch{}
	b.Queue(ob.q.async)
	sent := make([]int, 0, len(ss)) // the settlements queued, by index
	released, passed := false, false
	for i, s := range ss {
		a := s.Attempt
		attempt := []any{s.ID, s.Token, nil, wire.Nanos(a.At), a.Status, int64(a.Latency), a.Tries, []byte(a.Error)}
		keyed := isKeyedToken(s.Token)
		switch s.Outcome {
		case outbox.Delivered:
			b.Queue(pick(keyed, ob.q.ackKeyed, ob.q.ack), s.ID, s.Token)
			passed = passed || keyed
		case outbox.Retrying:
			attempt[2] = wire.Nanos(s.Due)
			b.Queue(ob.q.retry, attempt...)
		case outbox.DeadLettered:
			attempt[2] = wire.Nanos(time.Now())
			b.Queue(pick(keyed, ob.q.deadKeyed, ob.q.dead), append(attempt, []byte(s.Reason))...)
			passed = passed || keyed
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
	if passed {
		b.Queue(ob.q.fill) // the vacancies the settlements recorded
	}
	if ob.sendSettlements(ctx, b, sent, errs) && released {
		ob.notify.now() // other workers may take what was released
	}
	return errs
}

// pick returns keyed when the settlement is of a delivery with a
// partition key, and plain otherwise.
func pick(isKeyed bool, keyed, plain string) string {
	if isKeyed {
		return keyed
	}
	return plain
}

// sendSettlements sends b, whose statements after the first (sqlAsync)
// settle ss[sent[i]], and whose last may be sqlFill, in one round trip,
// which PostgreSQL runs as one implicit transaction, sets errs for them,
// and reports whether it committed.
func (ob *store) sendSettlements(ctx context.Context, b *pgx.Batch, sent []int, errs []error) bool {
	br := ob.pool.SendBatch(ctx, b)
	_, failed := br.Exec() // sqlAsync
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
	if failed != nil { // the transaction rolled back: nothing was recorded
		for _, i := range sent {
			errs[i] = dbError(ctx, "settle", failed)
		}
		return false
	}
	return true
}
