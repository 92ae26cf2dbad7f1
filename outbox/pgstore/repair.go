package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Repair. The statements of order.go keep every line's head unheld, but
// only those statements do: a process of an earlier version on the same
// tables (during a rolling upgrade: it leases held heads too, as it
// knows nothing of held) delivers or dead-letters a head without passing
// its line on, and replays a dead letter marked held into an empty line,
// and no Lease of this version would see those lines again. So Lease
// also walks the lines, repairLines of them at most every repairEvery
// (by its Now), each process on from where it stopped, and clears held
// on every head it finds held (sqlRepair); Open walks them all once.
//
// Clearing held never breaks an order: Lease checks that what it leases
// heads its line, whatever held says (held only spares it the reading).
// So the walk needs no lock, and no knowledge of transactions in
// flight: a head it clears that a settlement was about to clear is
// cleared once more. It leaves alone the lines with a vacancy, whose
// heads a Lease clears (sqlFill), so that under this version alone it
// finds nothing to do: the tests count what it releases. A line left stranded is leased again
// within about lines/repairLines intervals of the Lease calls of one
// process, sooner with several.

const (
	// repairEvery is how often, by LeaseOptions.Now, a Lease walks
	// repairLines lines.
	repairEvery = time.Second
	// repairLines is how many lines one walk reads: one probe of the line
	// index each.
	repairLines = 1000
)

// sqlRepair walks, through the line index, up to $3 lines after the line
// ($1 destination, $2 key), in (destination, key) order, reading the head
// of each, and clears held on the heads it finds held, but for lines
// with a vacancy (a Lease fills those) and rows another transaction has
// locked (being settled, or cleared). It returns the number of lines
// read, the last one, and the number of heads it released.
const sqlRepair = `WITH RECURSIVE w(n, destination, partition_key, id, held) AS (
		(SELECT 1, destination, partition_key, id, held FROM {d}
		WHERE dead_ns IS NULL AND partition_key <> '' AND (destination, partition_key) > ($1::text, $2::bytea)
		ORDER BY destination, partition_key, seq LIMIT 1)
		UNION ALL
		SELECT w.n + 1, h.* FROM w CROSS JOIN LATERAL (SELECT e.destination, e.partition_key, e.id, e.held FROM {d} e
			WHERE e.dead_ns IS NULL AND e.partition_key <> '' AND (e.destination, e.partition_key) > (w.destination, w.partition_key)
			ORDER BY e.destination, e.partition_key, e.seq LIMIT 1) h
		WHERE w.n < $3),
	stuck AS (SELECT id FROM {d} WHERE id = ANY (ARRAY(SELECT id FROM w WHERE held AND NOT EXISTS (SELECT 1 FROM {v} v
			WHERE v.destination = w.destination AND v.partition_key = w.partition_key)))
		AND held AND dead_ns IS NULL FOR UPDATE SKIP LOCKED),
	freed AS (UPDATE {d} SET held = false WHERE id IN (SELECT id FROM stuck) RETURNING 1)
	SELECT pg_catalog.count(*), coalesce((pg_catalog.array_agg(destination ORDER BY n DESC))[1], ''),
		coalesce((pg_catalog.array_agg(partition_key ORDER BY n DESC))[1], ''::bytea), (SELECT pg_catalog.count(*) FROM freed) FROM w`

// repairCursor is where a process's walk of the lines goes on from.
type repairCursor struct {
	at      time.Time // the Now of the last walk's Lease
	dest    string
	key     []byte
	walking bool // a walk is running
}

// repairDue reports whether a Lease at now should walk the lines, and if
// so marks a walk running.
func (ob *store) repairDue(now time.Time) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	c := &ob.repair
	if c.walking || (!c.at.IsZero() && !now.Before(c.at) && now.Before(c.at.Add(repairEvery))) {
		return false
	}
	c.walking, c.at = true, now
	return true
}

// repairSome walks the next repairLines lines, and starts again from the
// first line when it reaches the last.
func (ob *store) repairSome(ctx context.Context) error {
	ob.mu.Lock()
	dest, key := ob.repair.dest, ob.repair.key
	ob.mu.Unlock()
	dest, key, _, err := ob.repairWalk(ctx, dest, key)
	ob.mu.Lock()
	ob.repair.walking = false
	if err == nil {
		ob.repair.dest, ob.repair.key = dest, key
	}
	ob.mu.Unlock()
	return err
}

// repairAll walks every line once, repairLines at a time.
func (ob *store) repairAll(ctx context.Context) error {
	dest, key := "", []byte{}
	for {
		var done bool
		var err error
		if dest, key, done, err = ob.repairWalk(ctx, dest, key); err != nil || done {
			return err
		}
	}
}

// repairWalk runs sqlRepair from the line (dest, key) in a transaction
// of its own, which commits without waiting for the WAL flush (a head it
// cleared and a crash lost is cleared again), and returns the line to go
// on from, ("", []byte{}) once it read the last, which done reports.
func (ob *store) repairWalk(ctx context.Context, dest string, key []byte) (string, []byte, bool, error) {
	if key == nil {
		key = []byte{}
	}
	b := &pgx.Batch{}
	b.Queue(ob.q.async)
	b.Queue(ob.q.byKey)
	var n, freed int64
	var last string
	var lastKey []byte
	b.Queue(ob.q.repair, dest, key, repairLines).QueryRow(func(r pgx.Row) error {
		return r.Scan(&n, &last, &lastKey, &freed)
	})
	if err := ob.pool.SendBatch(ctx, b).Close(); err != nil {
		return dest, key, false, dbError(ctx, "checking the partition lines of ordered destinations (a routine walk)", err)
	}
	ob.repaired.Add(freed)
	if n < repairLines {
		return "", []byte{}, true, nil
	}
	return last, lastKey, false, nil
}
