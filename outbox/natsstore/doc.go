// Package natsstore is an [outbox.Store] on NATS JetStream, so that a fleet
// of worker processes, each running an [outbox.Queue], shares one set of
// pending deliveries.
//
// [Open] returns the store: every method of [outbox.Outbox],
// [outbox.Admin] and [outbox.DestinationStore], safe for concurrent use,
// and any number of stores, in any number of processes, may share one
// stream. It does not keep the order of a partition key (it has no
// OrdersByKey; see [outbox.Store]), so a Queue refuses an Ordered
// destination over it; nor does it keep a delivery's PartitionKey (a Queue
// sets one only for an Ordered destination), so its dead letters list
// none. Close stops the store's index watcher, and later
// calls fail with [outbox.ErrClosed]; leases held through it run out as
// usual and their deliveries are then taken by other workers. Close does
// not close the NATS connection.
//
// # Layout
//
// Every delivery is one record on its own subject of one stream: the
// subject is the configured prefix followed by the delivery id in unpadded
// base64url ("herald.outbox.<id>"), and the stream keeps one message per
// subject (MaxMsgsPerSubject 1), so the latest message of a subject is the
// delivery's state. Its headers hold the metadata (destination, topic, due
// time, attempt count, lease expiry, dead letter reason) as JSON; its data
// holds the attempt history and the body. Dead letters are records in the
// dead state in the same stream, so that an id stays unique across pending
// and dead deliveries and Put stays idempotent.
//
// The states of destinations ([outbox.DestinationStore]: which are
// disabled, which have been failing for long) live beside the stream, in
// a key-value bucket named after it with a _DEST suffix
// (HERALD_OUTBOX_DEST), one key per destination, watched into memory as
// the index is. A stream whose name holds other characters than ASCII
// letters, digits, '-' and '_' has them escaped in its bucket's name,
// which ends in _DEST_ESC instead ("A+B": A-2BB_DEST_ESC), so that no two
// streams share a bucket.
//
// Every change is a publish that JetStream acknowledges only after storing
// it (on a quorum of replicas in a cluster), guarded by the
// Nats-Expected-Last-Subject-Sequence header: a compare-and-set on the
// delivery's latest revision. A lease is such a write: it stamps the
// record with the lease's expiry, and the lease token is the stream
// sequence of that write. Each settlement of Settle is a write
// expected to follow exactly that sequence, so a worker whose lease
// was taken over gets [outbox.ErrLeaseLost] and cannot undo the new
// holder's work, and two workers can never hold one delivery at once.
//
// Put publishes asynchronously, expecting no previous message on the
// subject, then waits for every acknowledgement: a delivery whose id is
// held (pending, leased or dead) is dropped by the server. An acknowledged
// or purged delivery leaves a small tombstone that expires after
// [Config.DuplicateWindow] (a per-message TTL) and keeps its destination;
// until then a Put of the same id is dropped too, so an enqueue retried
// just after its delivery succeeded does not send it twice. When the
// stream refuses one publish of a Put, Put deletes the others it stored,
// so that a Put is all or nothing (see below); it sets no Nats-Msg-Id,
// since the server would then drop the retry of a Put it undid.
//
// # Why records and not a work-queue consumer
//
// A work-queue stream drained by a durable pull consumer, with the ack wait
// as the lease, is the obvious shape, and this package does not use it for
// the outbox, on purpose. The [outbox.Outbox] contract asks for things a
// consumer cannot give: leases of a length chosen per call
// ([outbox.LeaseOptions.TTL], while AckWait is fixed per consumer), due
// times and lease expiry judged against the caller's clock
// ([outbox.LeaseOptions.Now]), a per-destination Allow that skips a
// blocked destination without reading its deliveries, earliest-due-first
// order within a destination, exact Stats, the History of a pending
// delivery, dead letters that keep their id reserved, and a Replay that
// keeps the history. The record layout gives all of them at the cost of one
// round trip per lease write. The listener side (package
// github.com/heraldhq/herald/listener/natsevents) is a plain durable
// consumer, where those needs do not arise.
//
// # The index
//
// Each store keeps an in-memory index of the metadata (not the bodies)
// of every record, filled at [Open] and kept current by an ordered
// consumer that receives headers only. Lease, Stats, DeadLetters, Replay
// and Purge read the index; Lease then loads the bodies of what it chose
// (direct get) and claims each delivery with a guarded write, so a stale
// index costs at most a failed claim, never a double lease. The index holds
// about 200 bytes per delivery; a fleet with a million pending deliveries
// needs about 200 MB per worker process. Changes made by other processes
// appear in the index within milliseconds; Stats and DeadLetters are
// therefore exact for one process and eventually exact for a fleet.
//
// # The methods
//
// Put encodes every delivery before it publishes any, and refuses one the
// record format cannot hold (an empty id or destination, one that is not
// UTF-8, or a body larger than the server's max_payload allows, less
// 32 KiB for the record's metadata) with [outbox.ErrInvalid]. A delivery
// whose id the stream holds for its destination (pending, leased, dead, or
// acknowledged or purged within [Config.DuplicateWindow], as a tombstone)
// is dropped; for another destination, it fails the Put with
// [outbox.ErrInvalid] (see [outbox.Outbox.Put]). When the stream refuses
// a publish, or ctx ends before every acknowledgement came, Put deletes
// the deliveries it stored and returns the error: call it again. The one
// exception is a delivery that a worker of the fleet leased, or another
// Put of the same id adopted, in the moment between its publish and the
// undo: it stays, and is sent; the error names it, and a retried Put drops
// it as held. Adopting is how a Put that finds its id
// held makes sure of it before it returns nil: the record held may be
// another Put's that has not returned yet and may still be undone (a
// client that gave up on one worker and sent the event to another), so a
// pending, unleased record is rewritten as it is, guarded by its revision,
// which the other Put's undo then finds replaced. Each held id costs two
// round trips, so a Put adopts up to 32 at once, and an id given more
// than once in one Put only once.
//
// Lease chooses from the index (earliest due first within a destination,
// destinations in turn), reads the chosen records and writes a lease on
// each, guarded by its revision; a delivery another worker claimed
// meanwhile is skipped, so Lease may return fewer than are due and the
// Queue asks again. Settle writes its settlements at once, each one
// guarded write: Delivered leaves a tombstone that expires after
// Config.DuplicateWindow, Retrying and DeadLettered rewrite the record
// with the attempt, Released clears the lease. Purge leaves such a
// tombstone too, keeping the id reserved; Replay reads and rewrites each
// dead letter, body included, one round trip each. History reads the
// record from the stream (one direct get), so it is exact across a fleet;
// a record keeps the newest 64 attempts (see [outbox.Admin.History]), fewer
// when their texts would make it too large for the stream.
// DestinationStates returns the states as the watcher last saw them, and
// SetDestinationState returns once the server stored the state.
//
// # Workers, failures and at-least-once
//
// Any number of processes may open the same stream, each with its own
// connection. A worker that dies (or loses its connection) holds its leases
// until they expire, [outbox.Queue.LeaseTTL] after they were taken; then
// any other worker takes the deliveries over. A worker that loses its
// connection mid-delivery may have sent a webhook whose outcome it can no
// longer record; the delivery is sent again after the lease expires, with
// the same id, so receivers deduplicate. Delivery is at least once, never
// at most once. The nats.Conn reconnects by itself (keep its default
// MaxReconnects or set -1); calls made while it is disconnected fail and
// the Queue retries them on its next poll. A server restart loses nothing
// that Put returned for: file storage is synced before the acknowledgement
// (set the server's sync_interval to "always" to survive power loss, not
// only a process crash).
//
// A full store loses nothing either. Bound the outbox's disk with the
// server's max_file_store or the account's JetStream limits: Open sets the
// stream's whole configuration, so a limit put on the stream itself (max
// messages, bytes or age) lasts only until the next worker starts. At any
// limit the server refuses the write that would pass it (the stream discards
// new, never an old record): Put fails with the server's reason ("insufficient
// resources", "maximum messages exceeded") and undoes itself. When the server's
// storage is full, or the stream at its message limit, deliveries are still
// leased and acknowledged (an acknowledgement replaces a record with a smaller
// tombstone), so that deliveries going out make room again: bytes at once,
// and at a message limit once their tombstones expire, after
// [Config.DuplicateWindow] (a tombstone is a message until then); at a
// stream's byte limit a lease, which makes its record larger, is refused
// too, and nothing goes out until the limit is raised or removed.
//
// # Running on a NATS cluster
//
// On a three-node cluster set [Config.Replicas] to 3: every write is then
// acknowledged after a quorum of two nodes stored it, and the outbox keeps
// working while one node is down. A stream whose leader changes answers
// none of the writes it received meanwhile: Lease and Put wait at most 10
// seconds for their acknowledgements. A delivery whose lease may have been
// written is leased again once that lease runs out; Put then fails, as when
// its context ends. Open creates or updates the stream
// idempotently, so every worker may call it at start-up with the same
// Config; a change of Replicas is applied by the update. It refuses, and
// leaves alone, a stream of the name that is not an outbox on the
// Config's Subject: another application's, or the outbox's own on other
// subjects, whose records would be left out of sight. Give the workers
// the URLs of all three nodes (nats.Connect("nats://a:4222,nats://b:4222,
// nats://c:4222")). Bodies are limited by the server's max_payload (1 MiB by
// default, 64 MiB at most), below 32 MiB; Put refuses larger
// ones with [outbox.ErrInvalid].
package natsstore
