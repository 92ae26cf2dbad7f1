package pgstore

import "github.com/heraldhq/herald/outbox"

// The order of a partition key. Every delivery has a seq, taken from the
// column's identity sequence when it is inserted, in Put order and, within
// one Put, in the order of its deliveries; a Put of an id the outbox holds
// inserts nothing, so the delivery keeps its place. A delivery with a
// partition key is leased only while it heads its line: no delivery of the
// same destination and key with a smaller seq is pending, leased or
// rescheduled. A delivered one is deleted and a dead one has dead_ns set, so
// neither holds the line; a replayed one takes a new seq, at the back.
//
// Two Lease statements running at once cannot both lease in one line: a
// line has one head in any snapshot, both statements lock it FOR UPDATE
// SKIP LOCKED, so one skips it while the other holds it, and one that
// locks it after the other committed re-checks its lease (READ COMMITTED
// re-evaluates the conditions on the row's new version) and passes over
// it. The next delivery of the line becomes head only when the head's
// deletion or dead-lettering commits, and stays behind it until then in
// every snapshot.
//
// A seq is taken when a row is inserted, but the row is seen only once its
// transaction commits, and transactions may commit out of seq order: a
// delivery enqueued in a caller's transaction that commits late would
// otherwise appear ahead of one already leased, and go out beside it. So
// a statement that takes seqs in a line first takes the line's advisory
// lock, held until its transaction ends (a Put: its one statement; an
// Enqueue: the caller's transaction; a Replay: its statement): the next
// transaction that puts into the line waits for it, and takes a greater
// seq once the earlier is visible. Locks are taken in the order of their
// hashes, so that two Puts never deadlock; two callers' transactions that
// enqueue to several keys in opposite orders may, and PostgreSQL then
// fails one of them. Deliveries without a key take no lock.

const (
	// headOfLine is the lease condition on a row x of the deliveries:
	// it has no key, or it heads its line. It reads the line through the
	// partial index on (destination, partition_key, seq).
	headOfLine = `(x.partition_key = '' OR NOT EXISTS (SELECT 1 FROM {d} e
		WHERE e.destination = x.destination AND e.partition_key = x.partition_key
			AND e.seq < x.seq AND e.dead_ns IS NULL AND e.partition_key <> ''))`

	// lockLines takes the advisory lock of each line that the
	// deliveries of a Put ($2 destinations, $11 keys) enter, in hash
	// order; it is a condition that always holds, evaluated once before
	// any row is inserted.
	lockLines = `(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(h) FROM (
		SELECT DISTINCT ` + lineHash + ` AS h FROM unnest($2::text[], $11::bytea[]) AS l(destination, partition_key)
		WHERE partition_key <> '') hs ORDER BY h) locked) >= 0`

	// lockLineOne is lockLines for one delivery, given as scalars.
	lockLineOne = `(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(` + lineHash + `)
		FROM (SELECT $2::text, $11::bytea) AS l(destination, partition_key) WHERE partition_key <> '') locked) >= 0`

	// lockReplayed is lockLines for the dead letters a Replay selects.
	lockReplayed = `(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(h) FROM (
		SELECT DISTINCT ` + lineHash + ` AS h FROM {d} WHERE ` + deadSelected + ` AND partition_key <> '') hs ORDER BY h) locked) >= 0`

	// lineHash names the line of a row's destination and partition_key
	// as an advisory lock key. Two lines that share a hash only wait for
	// each other.
	lineHash = `hashtextextended(destination || ' ' || encode(partition_key, 'hex'), 0)`

	// sqlPutOneKeyed is sqlPutOne for a delivery with a partition key.
	sqlPutOneKeyed = `INSERT INTO {d} (id, destination, event_id, topic, content_type, body, due_ns, created_ns, attempts, trace_parent, partition_key)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE ` + lockLineOne + `
	ON CONFLICT (id) DO NOTHING
	RETURNING pg_current_xact_id()::text`

	// backOfLine is the assignment that puts a replayed delivery at the
	// back of its line: a new seq from the identity sequence.
	backOfLine = `seq = DEFAULT`
)

// OrdersByKey reports that the store keeps the order of a partition key,
// across every process sharing its tables: it leases a delivery with a
// [outbox.Delivery.PartitionKey] only once every one put before it with
// the same destination and key is delivered or dead. A Queue requires it of
// a store for a destination with Ordered set.
func (ob *store) OrdersByKey() bool { return true }

// putOneSQL is the statement that puts d alone: the one that takes its
// line's lock when it has a partition key, the plain insert otherwise.
func (ob *store) putOneSQL(d *outbox.Delivery) string {
	if d.PartitionKey != "" {
		return ob.q.putOneKeyed
	}
	return ob.q.putOne
}
