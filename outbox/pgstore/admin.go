package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/deadlist"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// DeadLetters lists dead letters by destination, then id, bytewise; see
// [outbox.Admin.DeadLetters].
func (ob *store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	var afterDest, afterID string
	if q.After != nil {
		afterDest, afterID = q.After.Destination, q.After.ID
		if !textual(afterDest) || !textual(afterID) {
			return nil, fmt.Errorf("%w: pgstore: list dead letters after a destination or id that is not UTF-8 without NULs, which no dead letter has", outbox.ErrInvalid)
		}
	}
	if !textual(q.Destination) {
		return nil, nil // no dead letter has that destination
	}
	return collect(ctx, ob, "list dead letters", ob.q.deadLetters, func(r pgx.CollectableRow) (outbox.DeadLetter, error) {
		var d outbox.DeadLetter
		var topic, ctype, reason, trace, key []byte
		var due, created, dead int64
		var attempts int32
		err := r.Scan(&d.ID, &d.Destination, &d.EventID, &topic, &ctype, &due, &created, &attempts, &reason, &dead, &trace, &key)
		d.Topic, d.ContentType, d.Reason = string(topic), string(ctype), string(reason)
		d.TraceParent, d.PartitionKey = string(trace), string(key)
		d.Due, d.Created, d.Attempts, d.At = wire.Time(due), wire.Time(created), int(attempts), wire.Time(dead)
		return d, err
	}, q.Destination, q.After != nil, afterDest, afterID, deadlist.Limit(q.Limit))
}

// Replay moves dead letters back to pending, due now, at the back of
// their lines, and wakes the workers; see [outbox.Admin.Replay]. It runs
// in a transaction of its own: sqlReplay, then sqlHeads for the lines
// it added to (after sqlByKey; see order.go).
func (ob *store) Replay(ctx context.Context, s outbox.Selector) (int, error) {
	args, err := ob.selected(s)
	if err != nil {
		return 0, err
	}
	var n int64
	var dests []string
	var keys [][]byte
	err = retried(ctx, func() error {
		return pgx.BeginFunc(ctx, ob.pool, func(tx pgx.Tx) error {
			err := tx.QueryRow(ctx, ob.q.replay, append(args, wire.Nanos(time.Now()), ob.channel)...).Scan(&n, &dests, &keys)
			if err == nil && len(dests) > 0 {
				_, err = tx.Exec(ctx, ob.q.byKey)
			}
			if err == nil && len(dests) > 0 {
				_, err = tx.Exec(ctx, ob.q.heads, dests, keys)
			}
			return err
		})
	})
	if err != nil {
		return 0, dbError(ctx, "replay dead letters", err)
	}
	return int(n), nil
}

// Purge deletes dead letters and their history; see [outbox.Admin.Purge].
func (ob *store) Purge(ctx context.Context, s outbox.Selector) (int, error) {
	args, err := ob.selected(s)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := retried(ctx, func() error { return ob.pool.QueryRow(ctx, ob.q.purge, args...).Scan(&n) }); err != nil {
		return 0, dbError(ctx, "select dead letters", err)
	}
	return int(n), nil
}

// selected returns the arguments of deadSelected for s, once the outbox
// is known to be open and s valid.
func (ob *store) selected(s outbox.Selector) ([]any, error) {
	if err := ob.live(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	ids := s.IDs
	if ids == nil {
		ids = []string{}
	}
	return []any{s.All, s.Destination, ids}, nil
}

// History returns a delivery's attempts, oldest first; see
// [outbox.Admin.History].
func (ob *store) History(ctx context.Context, id string) ([]outbox.AttemptRecord, error) {
	if !textual(id) {
		return nil, fmt.Errorf("%w: an id that is not UTF-8 without NULs", outbox.ErrNotFound)
	}
	found, none := false, false
	out, err := collect(ctx, ob, "history", ob.q.history, func(r pgx.CollectableRow) (outbox.AttemptRecord, error) {
		found = true
		var at, latency *int64
		var status, tries *int32
		var msg []byte
		if err := r.Scan(&at, &status, &latency, &tries, &msg); err != nil || at == nil {
			none = at == nil // the one row of NULLs of a delivery without attempts
			return outbox.AttemptRecord{}, err
		}
		return outbox.AttemptRecord{At: wire.Time(*at), Status: int(*status), Latency: time.Duration(*latency),
			Tries: int(*tries), Error: string(msg)}, nil
	}, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", outbox.ErrNotFound, id)
	}
	if none {
		return []outbox.AttemptRecord{}, nil
	}
	return out, nil
}

// Stats counts deliveries; see [outbox.Admin.Stats]. It reads every row's
// state (not its body).
func (ob *store) Stats(ctx context.Context) (outbox.Stats, error) {
	if err := ob.live(); err != nil {
		return outbox.Stats{}, err
	}
	var pending, leased, dead int64
	err := ob.pool.QueryRow(ctx, ob.q.stats, wire.Nanos(time.Now())).Scan(&pending, &leased, &dead)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return outbox.Stats{}, dbError(ctx, "stats", err)
	}
	return outbox.Stats{Pending: int(pending), Leased: int(leased), Dead: int(dead)}, nil
}

// textual reports whether s can be a text parameter: PostgreSQL refuses
// NUL and invalid UTF-8 in one with an error of its own, so a name or id
// holding them, which no row can hold, is answered before the query.
func textual(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
