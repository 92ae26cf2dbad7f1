// Package pgstore is an [outbox.Store] on PostgreSQL: the transactional
// outbox. A program that keeps its state in PostgreSQL enqueues a webhook
// inside its own transaction ([Enqueue], [EnqueueSQL]), so that the
// webhook exists exactly when the business write commits, and any number
// of worker processes on any number of hosts, each running an
// [outbox.Queue], share the deliveries.
//
// [Open] returns the store: every method of [outbox.Outbox],
// [outbox.Admin] and [outbox.DestinationStore], safe for concurrent use by
// any number of processes at once, and both optional capabilities of
// [outbox.Store]: it keeps the order of a partition key across every
// process sharing its tables (OrdersByKey), and it wakes the Queue when
// deliveries may have become due (Wake; see Waking below). Put stores its
// deliveries in one transaction, all or none, skipping ids the outbox holds
// for the same destination and failing on one it holds for another;
// Settle sends its settlements in one round trip and one transaction, and
// one whose token no longer holds the lease changes nothing and fails with
// [outbox.ErrLeaseLost] while the others are recorded. DeadLetters lists
// by destination, then id, bytewise; Purge deletes the history of what it
// purges; Stats reads every row's state (not its body); destination states
// are shared by every process on the tables. Close stops listening for
// wake-ups, and later calls fail with [outbox.ErrClosed]; it does not
// close the pool, which stays the caller's. Against a server that hangs (a
// frozen host, a partition), the pool's Close then waits up to 15 seconds
// more for the connections whose queries the Queue's Shutdown cut short:
// pgx sends the server a cancel request on each and waits that long, so a
// stop's grace period needs the Shutdown deadline, a second, and those 15
// seconds.
//
// # Layout
//
// Five tables, in a schema and with a name prefix of the caller's choice
// ([Options]): one row per delivery, pending or dead, with its body and
// metadata; one row per recorded attempt, the newest 64 of each
// delivery (see [outbox.Admin.History]: the statement that records one
// deletes the oldest, and the surplus tables of an earlier version kept);
// one row per destination state ([outbox.DestinationStore]: a
// destination disabled by one process is disabled for all); and one row per line of ordered deliveries whose
// head was delivered or died while the next was being put, until a Lease
// makes that one the head (a vacancy); and one row holding the schema's
// version. A delivery waiting behind
// the head of its line is marked held, and the index that Lease reads
// leaves it out, so that a Lease costs the same however long the lines
// behind their heads. Times are stored as Unix
// nanoseconds, so that a delivery reads back exactly as it was put; ids and
// destination names sort bytewise (COLLATE "C"), as in the other stores;
// topics, content types and error texts are stored as bytes, whatever they
// hold. [Open] creates the tables and migrates them, version by version,
// under an advisory lock, so that processes starting at once do not race;
// a later field of [outbox.Delivery] is a column added by a new migration.
//
// # Roles
//
// The role of the pool owns the tables: [Open] creates and migrates them,
// so it needs USAGE and CREATE on their schema (and CREATE on the
// database only when the schema is missing). Or another role made them:
// the owner of their schema (a migration role), which granted the pool's
// role their use (SELECT, INSERT, UPDATE, DELETE, and USAGE on the
// schema and its sequences); Open then needs no CREATE, while the
// schema's version is current. It refuses tables owned by any other role
// it is not a member of, which could have made them to read them. No
// other role can read the tables unless granted them. Every function in the statements is named in pg_catalog, and
// Open refuses a search_path that names a schema before pg_catalog, so
// that functions and operators another role creates on the search_path
// are never used. Channels are not private in PostgreSQL: any role that
// may connect to the database can LISTEN on the outbox's (learning when
// deliveries are put, not what) or NOTIFY it (waking the workers for
// nothing); nor are advisory locks: a role that holds the outbox's can
// make Open, or enqueues to a line, wait.
//
// # Leases
//
// Lease picks due deliveries of each destination that
// [outbox.LeaseOptions.Allow] admits, earliest due first, with SELECT …
// FOR UPDATE SKIP LOCKED, and stamps them in the same statement with a
// random lease token and the lease's expiry: two workers never hold one
// delivery at once, and a worker never waits for another's lock. A
// settlement names the token, so a worker whose lease ran out and was taken
// over gets [outbox.ErrLeaseLost]. When a worker dies, its deliveries are
// due again once their leases run out, with the same id, so the webhook-id
// is the same (at least once delivery). Expiry and due times are judged
// against the clock of the leasing process: hosts' clocks should agree to
// well within a lease.
//
// Leases and settlements commit without waiting for the WAL to reach the
// disk (synchronous_commit off for their transactions alone): they are
// most of the outbox's writes, and a server crash that loses the last few
// only makes those deliveries due again, to be sent again under the same
// id: a duplicate, never a loss. A Put, and a caller's transaction, wait
// for their flush as their settings say: an acknowledged enqueue is
// durable.
//
// # Waking
//
// Wake returns a channel that is closed when deliveries may have become
// due; each call returns the channel of the next wake-up. Its first call
// starts listening for the outbox's notifications on a connection of its
// own (after a lost connection the channel is closed too, since
// notifications may have been missed), so that an [outbox.Queue] over the
// store starts leasing as soon as any process stores a delivery, and polls
// only as a fallback ([outbox.Queue.Poll]). The NOTIFY is sent after the commit, never inside
// it: PostgreSQL holds the lock that orders notifications from the commit
// of a notifying transaction until its WAL is flushed, which would make
// every enqueuing transaction wait for the fsyncs of all the others. A Put,
// a released lease and a replay notify once they committed; for a delivery
// enqueued inside a caller's transaction, the outbox watches the
// transaction's id and notifies within a few milliseconds of seeing it
// committed (and never for one that rolled back). Notifications are
// coalesced, and one that is lost (the enqueuing process exited first)
// costs a poll interval, never a delivery.
package pgstore
