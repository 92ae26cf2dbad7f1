package pgstore

import (
	"strings"

	"github.com/heraldhq/herald/outbox"
)

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
// lock, held until its transaction ends (a Put's or a Replay's own
// transaction; an Enqueue: the caller's transaction): the next
// transaction that puts into the line waits for it, and takes a greater
// seq once the earlier is visible. A Put and a Replay take their lines'
// locks in the byte order of destination, then key, the order Enqueue
// asks of a caller's transaction that enqueues to several keys, so that
// none of them waits for another while holding a lock that one needs
// (in the order of the locks' hashes, a caller following that rule was
// failed as a deadlock beside a Put to the same two keys). Two callers'
// transactions that enqueue to several keys in opposite orders may
// deadlock, and PostgreSQL then fails one of them. Deliveries without a
// key take no lock.
//
// # Held deliveries
//
// A delivery waiting behind the head of its line is held: the due index,
// which Lease walks, leaves it out, so that a Lease reads each line's
// head and never its backlog, however long. Lease still checks that what
// it reads heads its line (a delivery may be left unheld behind the head,
// below); held only spares it the reading. What must never happen is the
// reverse, a line whose head is held: no Lease would find it. So every
// line with a pending delivery has a head that is not held, or a vacancy
// (a row of the vacancies table) that says its head must be looked for.
// Who keeps it so (and, should a process of an earlier version on the
// same tables break it, the repair walk of repair.go restores it):
//
//   - A Put, an Enqueue or a Replay, holding the locks of the lines it adds
//     to, marks a new delivery held when its statement sees a pending one in
//     the line, or an earlier one of the same Put; its statement's snapshot
//     may predate its locks, so a later statement of the same transaction
//     (sqlHeads), which sees all that committed before them, clears held
//     on the head of each of those lines. An Enqueue clears held on its own
//     delivery only, when it heads its line (sqlOwnHead): a held head put
//     by another transaction has a vacancy, which a Lease fills, and
//     clearing it from a caller's transaction would keep its row locked
//     until that transaction ends, and the head from its Lease for as long.
//     A caller's transaction that is not READ COMMITTED sees no more than
//     its first snapshot: it marks nothing held.
//   - A settlement that ends heads (delivered or dead) passes their lines
//     on to the next deliveries. Before the statements that end the heads,
//     one (sqlNoteLines) reads their lines and, for each line in which its
//     snapshot shows no other pending delivery, tries the line's lock,
//     without waiting; it notes the lines and whether each lock was
//     granted in a setting local to the transaction (the only way one
//     statement of a pipeline can hand a list to a later one without
//     writing rows). After them, the last statement (sqlPassOn), which
//     sees all that committed before those locks were tried, clears held
//     on the head each noted line has now. A line it finds empty is done
//     if its lock was granted: no one can add to the line before the
//     settlement commits, and whoever adds after sees the head gone. If
//     the lock was busy, a delivery may be on its way into the line in a
//     transaction not yet committed, held behind the head it saw: the
//     settlement records a vacancy.
//   - Lease fills the vacancies, before it reads the due index: it claims
//     them, tries their lines' locks, and then (sqlFill), in a statement
//     that sees all that committed before, clears held on the head each
//     line has now, and removes the vacancy of a line that has a head not
//     held, or that is empty and whose lock it holds. A vacancy it cannot
//     fill (the lock is busy: a Put or a caller's transaction is adding to
//     the line) stays for the next Lease. Vacancies are rare: a head ended
//     while the next delivery of its line was being put.
//
// No one waits for a line's lock but those that add to the line, as
// before: a settlement or a Lease only tries it, so neither waits for a
// caller's open transaction. A settlement's record of a vacancy locks
// the vacancy's row (ON CONFLICT DO UPDATE), so that a Lease that is
// filling it, and locked it first, either sees the new head or leaves it;
// the Lease claims rows with SKIP LOCKED and so never waits for one. The
// store's own transactions run READ COMMITTED, as the Lease's re-check
// above requires, and the statements after the first see what committed
// before they began.
//
// A delivery's lease token ends in keyedToken when it has a partition
// key, so that Settle gives it the statements that pass its line on,
// while those without a key keep the plain ones. The plain ones refuse a
// delivery with a key, so a token without the suffix (a lease taken
// before this scheme) fails with ErrLeaseLost rather than end a head
// without passing its line on.

// keyedToken ends the lease token of a delivery with a partition key.
const keyedToken = "+k"

// isKeyedToken reports whether token is the lease token of a delivery
// with a partition key.
func isKeyedToken(token string) bool { return strings.HasSuffix(token, keyedToken) }

const (
	// headOfLine is the lease condition on a row x of the deliveries:
	// it has no key, or it heads its line. It reads the line through the
	// partial index on (destination, partition_key, seq).
	headOfLine = `(x.partition_key OPERATOR(pg_catalog.=) '' OR NOT EXISTS (SELECT 1 FROM {d} e
		WHERE e.destination OPERATOR(pg_catalog.=) x.destination AND e.partition_key OPERATOR(pg_catalog.=) x.partition_key
			AND e.seq OPERATOR(pg_catalog.<) x.seq AND e.dead_ns IS NULL AND e.partition_key OPERATOR(pg_catalog.<>) ''))`

	// lockLines takes the advisory lock of each line that the
	// deliveries of a Put ($2 destinations, $11 keys) enter, in byte
	// order of destination, then key; it is a condition that always
	// holds, evaluated once before any row is inserted.
	lockLines = `(SELECT pg_catalog.count(*) FROM (SELECT pg_catalog.pg_advisory_xact_lock(` + lineHash + `) FROM (
		SELECT DISTINCT destination, partition_key FROM unnest($2::text[], $11::bytea[]) AS l(destination, partition_key)
		WHERE partition_key <> '') ls ORDER BY destination COLLATE "C", partition_key) locked) >= 0`

	// lockLineOne is lockLines for one delivery, given as scalars.
	lockLineOne = `(SELECT pg_catalog.count(*) FROM (SELECT pg_catalog.pg_advisory_xact_lock(` + lineHash + `)
		FROM (SELECT $2::pg_catalog.text, $11::pg_catalog.bytea) AS l(destination, partition_key)
		WHERE partition_key OPERATOR(pg_catalog.<>) '') locked) OPERATOR(pg_catalog.>=) 0`

	// lockReplayed is lockLines for the dead letters a Replay selects.
	lockReplayed = `(SELECT pg_catalog.count(*) FROM (SELECT pg_catalog.pg_advisory_xact_lock(` + lineHash + `) FROM (
		SELECT DISTINCT destination, partition_key FROM {d} WHERE ` + deadSelected + ` AND partition_key <> '') ls
		ORDER BY destination COLLATE "C", partition_key) locked) >= 0`

	// lineHash names the line of a row's destination and partition_key
	// as an advisory lock key. Two lines that share a hash only wait for
	// each other.
	lineHash = `pg_catalog.hashtextextended(destination OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.encode(partition_key, 'hex'), 0)`

	// sqlByKey makes the rest of a transaction of the store plan without
	// sequential scans. Its statements that keep lines read and write a
	// few rows each, found by key; on a small table that churns, the
	// planner may prefer a sequential scan, and a plan made while the
	// table was small is kept while its dead rows pile up (sqlPassOn has
	// no parameters: it is planned once per connection). It is never run
	// in a caller's transaction. It turns JIT compilation off too: a
	// statement that must scan a table (sqlClaim and sqlFill scan the
	// vacancies) is then costed as disabled, over 10^10, far above
	// jit_above_cost, and PostgreSQL compiled it, with inlining and
	// optimization, for 0.4 to 1.6 s, at every Lease while a vacancy
	// waited, to read a row or two.
	sqlByKey = `SELECT pg_catalog.set_config('enable_seqscan', 'off', true), pg_catalog.set_config('jit', 'off', true)`

	// readCommitted holds in a READ COMMITTED transaction, whose every
	// statement sees what committed before it began.
	readCommitted = `pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed'`

	// sqlPutKeyed is sqlPut for deliveries of which some have a partition
	// key: it takes their lines' locks, and marks held each one that its
	// snapshot shows behind a pending delivery of its line or that comes
	// after another of its line in the Put (place > 1).
	sqlPutKeyed = `WITH ins AS (
		INSERT INTO {d} (id, destination, event_id, topic, content_type, body, due_ns, created_ns, attempts, trace_parent, partition_key, held)
		SELECT id, dest, ev, tp, ct, b, due, cr, n, tr, pk, pk <> '' AND ` + readCommitted + ` AND (place > 1 OR EXISTS (SELECT 1 FROM {d} e
				WHERE e.destination = dest AND e.partition_key = pk AND e.dead_ns IS NULL AND e.partition_key <> ''))
		FROM (SELECT *, pg_catalog.row_number() OVER (PARTITION BY dest, pk ORDER BY ord) AS place
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[], $7::int8[], $8::int8[], $9::int4[], $10::bytea[], $11::bytea[])
			WITH ORDINALITY AS u(id, dest, ev, tp, ct, b, due, cr, n, tr, pk, ord)) u
		WHERE ` + lockLines + ` ORDER BY ord
		` + putConflict + `
		RETURNING 1)
	` + putCounted

	// sqlPutOneKeyed is sqlPutOne for a delivery with a partition key: it
	// takes its line's lock first, and marks it held when its snapshot
	// shows a pending delivery in the line.
	sqlPutOneKeyed = `INSERT INTO {d} (id, destination, event_id, topic, content_type, body, due_ns, created_ns, attempts, trace_parent, partition_key, held)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ` + readCommitted + ` AND EXISTS (SELECT 1 FROM {d} e
		WHERE e.destination OPERATOR(pg_catalog.=) $2 AND e.partition_key OPERATOR(pg_catalog.=) $11 AND e.dead_ns IS NULL
			AND e.partition_key OPERATOR(pg_catalog.<>) '')
	WHERE ` + lockLineOne + `
	ON CONFLICT (id) DO NOTHING
	RETURNING pg_catalog.pg_current_xact_id()::pg_catalog.text`

	// sqlHeads clears held on the head of each line of $1 destinations
	// and $2 keys, in the transaction that added to them after it took
	// their locks (its arguments: headsOfLines).
	sqlHeads = `UPDATE {d} SET held = false WHERE id = ANY (ARRAY(
		SELECT (SELECT e.id FROM {d} e WHERE e.destination = l.destination AND e.partition_key = l.partition_key
			AND e.dead_ns IS NULL AND e.partition_key <> '' ORDER BY e.seq LIMIT 1)
		FROM (SELECT DISTINCT destination, partition_key FROM unnest($1::text[], $2::bytea[]) AS l(destination, partition_key)
			WHERE partition_key <> '') l))
	AND held AND ` + readCommitted

	// sqlOwnHead is sqlHeads for an Enqueue, in a caller's transaction:
	// it clears held on the delivery $1 it put, when that heads its line.
	sqlOwnHead = `UPDATE {d} x SET held = false WHERE x.id OPERATOR(pg_catalog.=) $1 AND x.held AND ` + readCommitted + ` AND ` + headOfLine

	// backOfLine is the assignment that puts a replayed delivery at the
	// back of its line: a new seq from the identity sequence (o.seq, see
	// sqlReplay), held if it has a key (the Replay then clears held on the
	// head of each line, as a Put does).
	backOfLine = `seq = o.seq, held = (partition_key <> '' AND ` + readCommitted + `)`

	// endedLines names the setting, local to a settling transaction, in
	// which sqlNoteLines notes the lines of the heads it ends for
	// sqlPassOn: a JSON array of arrays of the destination, the key in
	// hex, and whether the line's lock was granted (null when it was not
	// tried: the line had a next delivery).
	endedLines = `'herald.ended_lines'`

	// sqlNoteLines is the first statement of a settlement that ends the
	// deliveries $1 (ids), with keys, under the tokens $2: it notes their
	// lines, trying the lock of each that has no other pending delivery.
	sqlNoteLines = `SELECT pg_catalog.set_config(` + endedLines + `, coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(destination, pg_catalog.encode(partition_key, 'hex'), locked))::text, '[]'), true)
	FROM unnest($1::text[], $2::text[]) AS s(id, token)
	CROSS JOIN LATERAL (SELECT x.destination, x.partition_key, CASE WHEN EXISTS (SELECT 1 FROM {d} e
			WHERE e.destination = x.destination AND e.partition_key = x.partition_key
				AND e.dead_ns IS NULL AND e.partition_key <> '' AND e.id <> x.id)
		THEN NULL ELSE pg_catalog.pg_try_advisory_xact_lock(` + lineHash + `) END AS locked
		FROM {d} x WHERE x.id = s.id AND x.lease_token = s.token AND x.partition_key <> '') l`

	// sqlAckKeyed is sqlAck for a delivery with a partition key, after
	// sqlNoteLines.
	sqlAckKeyed = `DELETE FROM {d} WHERE id = $1 AND lease_token = $2 AND partition_key <> ''`

	// sqlDeadKeyed is sqlDead for a delivery with a partition key, after
	// sqlNoteLines.
	sqlDeadKeyed = `WITH u AS (
		UPDATE {d} SET attempts = LEAST(attempts, 2147483646) + 1, dead_ns = $3, reason = $9, lease_token = NULL, lease_until_ns = NULL
		WHERE id = $1 AND lease_token = $2 AND partition_key <> '' RETURNING id), ` + dropOldest + `
	INSERT INTO {a} (delivery_id, at_ns, status, latency_ns, tries, error) SELECT id, $4, $5, $6, $7, $8 FROM u`

	// sqlPassOn is the last statement of a settlement that ended heads:
	// for each line noted, it clears held on the line's head, and records
	// a vacancy for a line it finds empty whose lock was not granted.
	sqlPassOn = `WITH l AS (SELECT DISTINCT j->>0 AS destination, pg_catalog.decode(j->>1, 'hex') AS partition_key, (j->>2)::boolean AS locked
		FROM pg_catalog.json_array_elements(pg_catalog.current_setting(` + endedLines + `)::json) j),
	f AS (SELECT l.destination, l.partition_key, l.locked, h.id FROM l
		LEFT JOIN LATERAL (SELECT e.id FROM {d} e WHERE e.destination = l.destination AND e.partition_key = l.partition_key
			AND e.dead_ns IS NULL AND e.partition_key <> '' ORDER BY e.seq LIMIT 1) h ON true),
	promoted AS (UPDATE {d} SET held = false WHERE id = ANY (ARRAY(SELECT id FROM f WHERE id IS NOT NULL)) AND held)
	INSERT INTO {v} (destination, partition_key, owner, locked)
	SELECT destination, partition_key, pg_catalog.pg_current_xact_id(), false FROM f WHERE id IS NULL AND locked IS NOT TRUE
	ON CONFLICT (destination, partition_key) DO UPDATE SET owner = EXCLUDED.owner, locked = false`

	// sqlFill fills the vacancies this transaction claimed (sqlClaim), in
	// a statement after the claim: it clears held on the head each line
	// has now, unless another transaction has the head locked, and removes
	// the vacancies of lines that have a head not held, and of empty lines
	// whose lock it holds. The others stay.
	sqlFill = `WITH m AS (
		SELECT v.destination, v.partition_key, v.locked, f.id, f.held FROM {v} v
		LEFT JOIN LATERAL (SELECT e.id, e.held FROM {d} e WHERE e.destination = v.destination AND e.partition_key = v.partition_key
			AND e.dead_ns IS NULL AND e.partition_key <> '' ORDER BY e.seq LIMIT 1) f ON true
		WHERE v.owner = pg_catalog.pg_current_xact_id()),
	headed AS (SELECT id FROM {d} WHERE id = ANY (ARRAY(SELECT id FROM m WHERE held)) AND held FOR UPDATE SKIP LOCKED),
	promoted AS (UPDATE {d} SET held = false WHERE id = ANY (ARRAY(SELECT id FROM headed)))
	DELETE FROM {v} v USING m WHERE v.destination = m.destination AND v.partition_key = m.partition_key
		AND CASE WHEN m.id IS NULL THEN m.locked ELSE NOT m.held OR m.id IN (SELECT id FROM headed) END`

	// sqlClaim claims, for this transaction, the vacancies no other
	// transaction has locked, trying each line's lock.
	sqlClaim = `UPDATE {v} SET owner = pg_catalog.pg_current_xact_id(), locked = pg_catalog.pg_try_advisory_xact_lock(` + lineHash + `)
	FROM (SELECT destination AS d, partition_key AS k FROM {v} FOR UPDATE SKIP LOCKED) c
	WHERE destination = c.d AND partition_key = c.k`
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

// headsOfLines returns the arguments of sqlHeads for the lines of ds,
// and whether any has a partition key.
func headsOfLines(ds []outbox.Delivery) (args []any, keyed bool) {
	var dests []string
	var keys [][]byte
	for i := range ds {
		if ds[i].PartitionKey != "" {
			dests, keys = append(dests, ds[i].Destination), append(keys, []byte(ds[i].PartitionKey))
		}
	}
	return []any{dests, keys}, len(dests) > 0
}
