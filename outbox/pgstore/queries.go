package pgstore

import (
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/limits"
)

// queries are the statements of an outbox, with its table names filled in.
type queries struct {
	put, putKeyed, putOne, putOneKeyed, heads, ownHead, dests, lease string
	heldFor, heldForAny                                              string
	ack, ackKeyed, retry, dead, deadKeyed, release                   string
	noteLines, passOn, byKey                                         string
	fill, claim, repair, notify, status, async                       string
	deadLetters, replay, purge, history, stats                       string
}

// The statements, with {d}, {a} and {v} for the tables, and {history}
// and {older} for limits.History and one less. Times are Unix
// nanoseconds. Those that keep the order of partition keys are in
// order.go.
//
// Every function and aggregate of the statements is named in pg_catalog.
// They run on the caller's connections, under its search_path, on which
// another role may create objects (in public, when PUBLIC keeps CREATE
// there), and PostgreSQL calls the function that matches a call most
// closely wherever it is: one in public taking (text, integer) was called
// instead of pg_catalog.hashtextextended(text, bigint), with herald's
// rights, which let it read every delivery. unnest of several arrays in
// FROM is the exception: PostgreSQL rewrites it into pg_catalog's unnest
// of each, and refuses it qualified. The operators compare values of one
// type, or one with a literal, which pg_catalog's match exactly, and
// pg_catalog is searched first: Open refuses a search_path that names
// another schema before it. The statements that run in a caller's
// transaction, under its search_path, whatever it is (sqlPutOne,
// sqlPutOneKeyed, sqlOwnHead and what they hold), name pg_catalog's
// operators and types too: OPERATOR(pg_catalog.=).
const (
	// sqlPut inserts deliveries given as one array per column, skipping
	// ids already held for the same destination (see putConflict), and
	// counts those it inserted. It sends no NOTIFY:
	// PostgreSQL holds the lock that orders notifications from the commit
	// of a notifying transaction until its WAL is flushed, so every
	// transaction that notifies waits for the fsyncs of all others (at 16
	// clients, the transactions that enqueued ran 8× slower). The
	// notifier sends the NOTIFY after the commit instead, in a transaction
	// of its own that writes nothing. Put uses it when no delivery has a
	// partition key, and sqlPutKeyed otherwise.
	sqlPut = `WITH ins AS (
		INSERT INTO {d} (id, destination, event_id, topic, content_type, body, due_ns, created_ns, attempts, trace_parent, partition_key)
		SELECT id, dest, ev, tp, ct, b, due, cr, n, tr, pk FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[], $7::int8[], $8::int8[], $9::int4[], $10::bytea[], $11::bytea[])
			WITH ORDINALITY AS u(id, dest, ev, tp, ct, b, due, cr, n, tr, pk, ord)
		WHERE ` + lockLines + ` ORDER BY ord
		` + putConflict + `
		RETURNING 1)
	` + putCounted

	// putCounted ends sqlPut and sqlPutKeyed: it returns how many
	// deliveries they inserted and the transaction's id.
	putCounted = `SELECT pg_catalog.count(*), pg_catalog.pg_current_xact_id()::text FROM ins`

	// putConflict is how sqlPut and sqlPutKeyed meet an id the outbox
	// holds: one held for the same destination is left as it is (the
	// WHERE is false: the row is locked until the Put commits, not
	// changed), and one held for another destination fails the statement,
	// and so rolls the Put back, with a cast that cannot succeed
	// (invalid_text_representation, naming putClash). DO UPDATE rather than
	// DO NOTHING reads the row that holds the id as committed when the
	// insert meets it, not as the statement's snapshot shows it, so that
	// it sees the row of a Put that committed while this one waited for
	// it. Put passes each id once: DO UPDATE cannot meet a row the same
	// statement inserted.
	putConflict = `ON CONFLICT (id) DO UPDATE SET id = ('` + putClash + `' || EXCLUDED.id)::pg_catalog.int4::text
		WHERE {d}.destination <> EXCLUDED.destination`

	// putClash starts the text whose cast fails a Put that gives an id
	// held for another destination (see putCounted).
	putClash = `herald: a delivery id is held for another destination: `

	// sqlHeldForAny returns the destinations of the deliveries among the
	// ids $1: a Put that putCounted refused asks it, to name the id.
	sqlHeldForAny = `SELECT x.id, x.destination FROM {d} x WHERE x.id = ANY($1::text[])`

	// sqlHeldFor returns the destination of the delivery $1: an Enqueue
	// whose insert skipped the id asks it, in the caller's transaction.
	sqlHeldFor = `SELECT x.destination FROM {d} x WHERE x.id OPERATOR(pg_catalog.=) $1`

	// sqlPutOne is sqlPut for one delivery without a partition key, given
	// as scalars: cheaper to send and plan, for an enqueue inside a
	// caller's transaction. It returns the transaction's id when it
	// inserted, and no row when the id was held. sqlPutOneKeyed is the
	// same for a delivery with a key: it takes its line's lock first, and
	// may mark the delivery held (see order.go).
	sqlPutOne = `INSERT INTO {d} (id, destination, event_id, topic, content_type, body, due_ns, created_ns, attempts, trace_parent, partition_key)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (id) DO NOTHING
	RETURNING pg_catalog.pg_current_xact_id()::pg_catalog.text`

	// sqlDests lists, in byte order, the destinations with a pending
	// delivery that is not held (every line has one, or a vacancy; see
	// order.go), skipping from one destination to the next through the due
	// index rather than reading every row, and then, if there is a vacancy
	// to fill, a row that says so. It does not ask whether one is
	// due: that walk, past the deliveries leased at the head of the index,
	// took as long as the lease itself; the lease finds nothing for a
	// destination with nothing due, at the cost of asking Allow about it.
	sqlDests = `WITH RECURSIVE ds(dest) AS (
		(SELECT destination FROM {d} WHERE dead_ns IS NULL AND NOT held ORDER BY destination LIMIT 1)
		UNION ALL
		SELECT (SELECT destination FROM {d} WHERE dead_ns IS NULL AND NOT held AND destination > ds.dest ORDER BY destination LIMIT 1)
		FROM ds WHERE ds.dest IS NOT NULL)
	SELECT dest, false FROM ds WHERE dest IS NOT NULL
	UNION ALL SELECT '', true WHERE EXISTS (SELECT 1 FROM {v})`

	// sqlLease leases, for each destination $1[i] in turn, up to $2[i]
	// of its deliveries due at $3, earliest first, skipping rows another
	// worker has locked, and at most $4 in all, under token $5 (followed
	// by keyedToken for a delivery with a key) until $6. It reads the due
	// index, which leaves out the deliveries held behind the heads of
	// their lines. It commits without waiting for the WAL flush (see
	// sqlAsync).
	sqlLease = `WITH pick AS (
		SELECT c.id FROM unnest($1::text[], $2::int4[]) WITH ORDINALITY AS a(dest, n, ord)
		CROSS JOIN LATERAL (
			SELECT id, due_ns FROM {d} x
			WHERE destination = a.dest AND dead_ns IS NULL AND NOT held AND due_ns <= $3
				AND (lease_until_ns IS NULL OR lease_until_ns <= $3) AND ` + headOfLine + `
			ORDER BY due_ns, id LIMIT a.n
			FOR UPDATE SKIP LOCKED) c
		ORDER BY a.ord, c.due_ns, c.id LIMIT $4)
	UPDATE {d} d SET lease_token = $5 || CASE WHEN d.partition_key = '' THEN '' ELSE '` + keyedToken + `' END, lease_until_ns = $6
	FROM pick, (SELECT pg_catalog.set_config('synchronous_commit', 'off', true)) async WHERE d.id = pick.id
	RETURNING d.id, d.destination, d.event_id, d.topic, d.content_type, d.body, d.due_ns, d.created_ns, d.attempts,
		d.trace_parent, d.partition_key`

	// sqlAsync starts a batch of settlements: their transaction commits
	// without waiting for the WAL to reach the disk, as leases do. A
	// server crash may lose the last few of them; each of those
	// deliveries is then due again, or leased until its lease runs out,
	// and is sent again under the same id: a duplicate, never a loss. A
	// Put waits for its flush: an acknowledged enqueue is durable.
	sqlAsync = `SELECT pg_catalog.set_config('synchronous_commit', 'off', true)`

	// sqlAck deletes a delivered delivery without a key; sqlAckKeyed
	// (order.go) is the one for a delivery with a key.
	sqlAck = `DELETE FROM {d} WHERE id = $1 AND lease_token = $2 AND partition_key = ''`

	// sqlRetry and sqlDead end a lease and record its attempt; they
	// insert no attempt, and affect no row, when the lease is lost. The
	// count stops at the column's maximum: past it the statement failed,
	// and with it every settlement of its batch.
	// sqlDead, like sqlAck, is for a delivery without a key.
	sqlRetry = `WITH u AS (
		UPDATE {d} SET attempts = LEAST(attempts, 2147483646) + 1, due_ns = $3, lease_token = NULL, lease_until_ns = NULL
		WHERE id = $1 AND lease_token = $2 RETURNING id), ` + dropOldest + `
	INSERT INTO {a} (delivery_id, at_ns, status, latency_ns, tries, error) SELECT id, $4, $5, $6, $7, $8 FROM u`
	sqlDead = `WITH u AS (
		UPDATE {d} SET attempts = LEAST(attempts, 2147483646) + 1, dead_ns = $3, reason = $9, lease_token = NULL, lease_until_ns = NULL
		WHERE id = $1 AND lease_token = $2 AND partition_key = '' RETURNING id), ` + dropOldest + `
	INSERT INTO {a} (delivery_id, at_ns, status, latency_ns, tries, error) SELECT id, $4, $5, $6, $7, $8 FROM u`

	// dropOldest follows the u of a statement that records an attempt of
	// the delivery u settled: it deletes the attempts before the newest
	// {older} (limits.History less the one inserted), so that the
	// delivery keeps the newest limits.History. Tables written by an
	// earlier version, which kept every attempt, lose all the surplus at
	// once. A delivery replayed again and again would otherwise grow its
	// rows, and its History, without bound.
	dropOldest = `dropped AS (DELETE FROM {a} WHERE delivery_id = (SELECT id FROM u)
		AND seq <= (SELECT seq FROM {a} WHERE delivery_id = (SELECT id FROM u) ORDER BY seq DESC OFFSET {older} LIMIT 1))`
	sqlRelease = `UPDATE {d} SET lease_token = NULL, lease_until_ns = NULL WHERE id = $1 AND lease_token = $2`
	// sqlNotify notifies without waiting for its commit to be flushed: a
	// notifying transaction gets a transaction id, so its commit is
	// written to the WAL, and it holds the notify lock until then; the
	// commit protects nothing, and others should not queue behind it.
	sqlNotify = `SELECT pg_catalog.set_config('synchronous_commit', 'off', true), pg_catalog.pg_notify($1, '')`
	// sqlStatus gives the transactions of $1 that are no longer in
	// progress, and whether they committed.
	sqlStatus = `SELECT x::text, pg_catalog.pg_xact_status(x) = 'committed' FROM pg_catalog.unnest($1::text[]::xid8[]) x
	WHERE pg_catalog.pg_xact_status(x) IS DISTINCT FROM 'in progress'`

	sqlDeadLetters = `SELECT id, destination, event_id, topic, content_type, due_ns, created_ns, attempts, reason, dead_ns,
		trace_parent, partition_key
	FROM {d} WHERE dead_ns IS NOT NULL AND ($1 = '' OR destination = $1) AND (NOT $2 OR (destination, id) > ($3, $4))
	ORDER BY destination, id LIMIT $5`

	// deadSelected is the condition of a Selector: $1 all, $2 a
	// destination, $3 ids.
	deadSelected = `dead_ns IS NOT NULL AND ($1 OR ($2 <> '' AND destination = $2) OR id = ANY($3::text[]))`
	// sqlReplay makes the dead letters of a Selector pending again, due
	// at $4, at the back of their lines, and notifies $5 if there were
	// any; it returns their number, and the destinations and keys of the
	// lines it added to, for sqlHeads. It locks the rows in the order of
	// their ids, as Put and Settle do, not in the order the table holds
	// them: a transaction of the store that locks the same rows then
	// waits on the Replay rather than deadlocking with it. It numbers them
	// anew in the order of their old seqs (o: PostgreSQL calls nextval
	// after the sort), so that the dead letters of one line go back in
	// the order they held in it; the identity sequence is found from the
	// table's oid, as its name may hold any character.
	sqlReplay = `WITH s AS (
		SELECT id, seq AS old, tableoid FROM {d} WHERE ` + deadSelected + ` AND ` + lockReplayed + ` ORDER BY id COLLATE "C" FOR UPDATE),
	o AS (SELECT id, pg_catalog.nextval(pg_catalog.pg_get_serial_sequence(tableoid::regclass::text, 'seq')::regclass) AS seq
		FROM s ORDER BY old),
	r AS (UPDATE {d} AS t SET dead_ns = NULL, reason = NULL, attempts = 0, due_ns = $4, ` + backOfLine + `
		FROM o WHERE t.id = o.id RETURNING t.destination, t.partition_key),
	n AS (SELECT pg_catalog.count(*) AS n FROM r),
	l AS (SELECT pg_catalog.array_agg(destination) AS ds, pg_catalog.array_agg(partition_key) AS ks
		FROM (SELECT DISTINCT destination, partition_key FROM r WHERE partition_key <> '') x)
	SELECT n.n, l.ds, l.ks FROM n CROSS JOIN l LEFT JOIN LATERAL (SELECT pg_catalog.pg_notify($5, '') WHERE n.n > 0) x ON true`
	// sqlPurge deletes the dead letters of a Selector, locking them in
	// the order of their ids as sqlReplay does.
	sqlPurge = `WITH s AS (SELECT id FROM {d} WHERE ` + deadSelected + ` ORDER BY id COLLATE "C" FOR UPDATE),
	r AS (DELETE FROM {d} AS t USING s WHERE t.id = s.id RETURNING 1) SELECT pg_catalog.count(*) FROM r`

	// sqlHistory returns the newest {history} attempts of a delivery,
	// oldest first: tables of an earlier version may hold more.
	sqlHistory = `SELECT a.at_ns, a.status, a.latency_ns, a.tries, a.error
	FROM {d} d LEFT JOIN LATERAL (SELECT seq, at_ns, status, latency_ns, tries, error FROM {a}
		WHERE delivery_id = d.id ORDER BY seq DESC LIMIT {history}) a ON true
	WHERE d.id = $1 ORDER BY a.seq`

	sqlStats = `SELECT pg_catalog.count(*) FILTER (WHERE dead_ns IS NULL),
		pg_catalog.count(*) FILTER (WHERE dead_ns IS NULL AND lease_until_ns > $1),
		pg_catalog.count(*) FILTER (WHERE dead_ns IS NOT NULL) FROM {d}`
)

// prepare fills the table names into the statements.
func prepare(t tables) queries {
	r := strings.NewReplacer("{d}", t.deliveries, "{a}", t.attempts, "{v}", t.vacancies,
		"{history}", strconv.Itoa(limits.History), "{older}", strconv.Itoa(limits.History-1))
	return queries{
		put: r.Replace(sqlPut), putKeyed: r.Replace(sqlPutKeyed), putOne: r.Replace(sqlPutOne), putOneKeyed: r.Replace(sqlPutOneKeyed),
		heldFor: r.Replace(sqlHeldFor), heldForAny: r.Replace(sqlHeldForAny),
		heads: r.Replace(sqlHeads), ownHead: r.Replace(sqlOwnHead), dests: r.Replace(sqlDests), lease: r.Replace(sqlLease),
		ack: r.Replace(sqlAck), ackKeyed: r.Replace(sqlAckKeyed), retry: r.Replace(sqlRetry),
		noteLines: r.Replace(sqlNoteLines), passOn: r.Replace(sqlPassOn), byKey: sqlByKey,
		dead: r.Replace(sqlDead), deadKeyed: r.Replace(sqlDeadKeyed), release: r.Replace(sqlRelease),
		fill: r.Replace(sqlFill), claim: r.Replace(sqlClaim), repair: r.Replace(sqlRepair), notify: sqlNotify, status: sqlStatus, async: sqlAsync,
		deadLetters: r.Replace(sqlDeadLetters), replay: r.Replace(sqlReplay), purge: r.Replace(sqlPurge),
		history: r.Replace(sqlHistory), stats: r.Replace(sqlStats),
	}
}
