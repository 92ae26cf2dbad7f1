package pgstore

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

const (
	// headOfLine is the lease condition on a row x of the deliveries:
	// it has no key, or it heads its line. It reads the line through the
	// partial index on (destination, partition_key, seq).
	headOfLine = `(x.partition_key = '' OR NOT EXISTS (SELECT 1 FROM {d} e
		WHERE e.destination = x.destination AND e.partition_key = x.partition_key
			AND e.seq < x.seq AND e.dead_ns IS NULL AND e.partition_key <> ''))`

	// backOfLine is the assignment that puts a replayed delivery at the
	// back of its line: a new seq from the identity sequence.
	backOfLine = `seq = DEFAULT`
)

// OrdersByKey reports that the Store keeps the order of a partition key,
// across every process sharing its tables: it leases a delivery with a
// [outbox.Delivery.PartitionKey] only once every one put before it with
// the same destination and key is delivered or dead. A Queue requires it of
// a store for a destination with Ordered set.
func (ob *Store) OrdersByKey() bool { return true }
