package pgstore

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// destQueries are the statements on the destination states table, with
// its name filled in.
type destQueries struct{ list, upsert, remove string }

// The statements on the destination states, {dst} for the table: one row
// per destination that has a state, times in Unix nanoseconds (0 for
// none).
const (
	sqlDestStates = `SELECT destination, failing_since_ns, disabled_ns, reason FROM {dst}`
	sqlDestUpsert = `INSERT INTO {dst} (destination, failing_since_ns, disabled_ns, reason) VALUES ($1, $2, $3, $4)
	ON CONFLICT (destination) DO UPDATE SET failing_since_ns = EXCLUDED.failing_since_ns,
		disabled_ns = EXCLUDED.disabled_ns, reason = EXCLUDED.reason`
	sqlDestRemove = `DELETE FROM {dst} WHERE destination = $1`
)

// prepareDest fills the table name into the statements.
func prepareDest(t tables) destQueries {
	r := strings.NewReplacer("{dst}", t.destinations)
	return destQueries{list: r.Replace(sqlDestStates), upsert: r.Replace(sqlDestUpsert), remove: r.Replace(sqlDestRemove)}
}

// DestinationStates returns the recorded destination states, shared by
// every process on the tables; see [outbox.DestinationStore]. Every row
// scans (its columns are NOT NULL numbers and text), but one written
// behind the store's back may hold no state a store may record: a reason
// over 1024 bytes reads as its destination held for reasonUnreadable, and
// a name no destination can have is skipped.
func (ob *store) DestinationStates(ctx context.Context) ([]outbox.DestinationState, error) {
	states, err := collect(ctx, ob, "destination states", ob.dst.list, func(r pgx.CollectableRow) (outbox.DestinationState, error) {
		var s outbox.DestinationState
		var failing, disabled int64
		var reason []byte
		err := r.Scan(&s.Destination, &failing, &disabled, &reason)
		s.FailingSince, s.Disabled, s.Reason = wire.Time(failing), wire.Time(disabled), string(reason)
		return s, err
	})
	if err != nil {
		return nil, err
	}
	out, now := states[:0], time.Now()
	for _, s := range states {
		if s.Validate() != nil {
			s = outbox.DestinationState{Destination: s.Destination, Disabled: now, Reason: reasonUnreadable}
			if s.Validate() != nil {
				continue
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// reasonUnreadable is the Reason of the state DestinationStates returns
// for a row that holds no state a store may record.
const reasonUnreadable = "its recorded state is unreadable (invalid): held until enabled or disabled again"

// SetDestinationState records s, replacing the destination's state, or
// removes the record when s has neither FailingSince nor Disabled; see
// [outbox.DestinationStore].
func (ob *store) SetDestinationState(ctx context.Context, s outbox.DestinationState) error {
	if err := ob.live(); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	var err error
	if s.FailingSince.IsZero() && s.Disabled.IsZero() {
		_, err = ob.pool.Exec(ctx, ob.dst.remove, s.Destination)
	} else {
		_, err = ob.pool.Exec(ctx, ob.dst.upsert, s.Destination, wire.Nanos(s.FailingSince), wire.Nanos(s.Disabled), []byte(s.Reason))
	}
	if err != nil {
		return dbError(ctx, "set the destination state", err)
	}
	return nil
}
