// Package boltstore is the durable, embedded [outbox.Outbox]: one bbolt
// file on local disk, written by one process at a time.
//
// Every change is committed with fsync before the call returns. Concurrent
// changes share a commit: a single committer goroutine takes every change
// waiting when it starts a transaction, so 64 concurrent enqueuers pay for
// a handful of fsyncs rather than 64, while a lone enqueuer waits for no
// batching delay.
//
// Layout: each pending delivery's record (destination, topic, due time,
// attempts) and body in one value keyed by destination, due time and id;
// each dead letter's keyed by destination and id; an index from id to
// where the delivery is; and the attempt history, the newest 64 attempts
// of each delivery (see [outbox.Admin.History]: recording one deletes the
// oldest, and the surplus a file of an earlier version kept). Deliveries
// with a partition key wait in line behind the earliest one of their
// destination and key, which alone is in the due index, so the store
// keeps their order across restarts. Leasing seeks the
// pending deliveries of each destination that may take more, so it reads
// nothing of blocked destinations, and reads each delivery it leases as it
// walks past it; acknowledging deletes entries next to one another, in the
// order they fell due, whatever the ids. The file's pages are memory
// mapped by the kernel, so the heap does not grow with pending bodies.
// Files of the two earlier layouts are migrated at Open.
//
// Leases are held in memory: the file is locked by the process that opened
// it, so when that process dies its leases die with it, and on the next
// Open every delivery that was in flight is due again (at least once
// delivery).
//
// Open checks the file before using it: a file that is not a bbolt database,
// a truncated one, a damaged record, a missing body or index entry, a file
// held by another process, or a directory gives an error wrapping
// [outbox.ErrCorrupt] or [ErrLocked], never a panic and never a silently
// shortened queue. With [Options] NoCreate or ReadOnly, it also refuses a
// path that holds no outbox yet, instead of creating one, and writes
// nothing to a file it refuses.
//
// # The store
//
// [Open] returns an [outbox.Store]: every method of [outbox.Outbox],
// [outbox.Admin] and [outbox.DestinationStore], and it keeps the order of
// a partition key across restarts (it has OrdersByKey; see
// [outbox.Store]). Its methods are safe for concurrent use. Beyond the
// contract:
//
//   - Put returns once its deliveries are committed with fsync; concurrent
//     Puts share commits. Deliveries come validated and with their
//     defaults from the Queue; Put refuses, with [outbox.ErrInvalid], only
//     what the file's format cannot hold, before it writes anything.
//   - Settle hands every settlement of a call to the committer as one
//     change, committed at once (the Queue gathered the batch already).
//     SetDestinationState is durable when it returns.
//   - Lease seeks the due deliveries of each destination in turn, starting
//     after the one it served last, skips those [outbox.LeaseOptions.Allow]
//     refuses without reading them, and passes over the deliveries it
//     knows are still leased.
//     It copies each body into a buffer it lends: a Queue gives the buffer
//     back once the delivery is sent and net/http has finished writing
//     it, so that a drain leaves no body's worth of garbage per delivery;
//     any other caller keeps what it gets.
//   - DeadLetters lists in destination and id order; Purge deletes the
//     history of what it purges; Replay makes dead letters due now, with no
//     attempts counted.
//   - Stats counts from counters kept in memory: it reads nothing from disk.
//   - Close stops the committer after the changes already submitted,
//     closes the file and drops every lease; later calls fail with
//     [outbox.ErrClosed].
//   - With [Options.ReadOnly], every method that would change the outbox
//     (Put, Settle, Replay, Purge, SetDestinationState) fails, and so
//     does Lease, since nothing leased could be settled; several
//     read-only stores may open one file at once.
//
// # Few cores
//
// A commit waits for the disk in system calls (two fdatasync and the page
// writes), and Go keeps the waiting goroutine's processor meanwhile: in a
// busy program its runtime takes a processor back from a system call only
// after milliseconds. On a machine with few cores a worker that commits
// often therefore leaves part of a core idle. Running it with GOMAXPROCS one
// above the number of cores gives that back. On 2 cores the repository's
// benchmark measured, with GOMAXPROCS=3 against the default: a Queue
// draining this store at 0.89× of direct sends instead of 0.84–0.87×, and
// 20–37 % more durable end-to-end events a second (an HTTP intake, a
// Queue, a receiver) with 64 clients; with 16, from 3 % fewer to 12 %
// more.
package boltstore
