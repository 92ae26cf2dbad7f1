// Package outbox delivers webhooks durably: it keeps pending deliveries in
// an [Outbox] and runs a [Queue] of workers over it that lease due
// deliveries, send them with a [sender.Sender], and then acknowledge,
// reschedule or dead-letter them.
//
// An Outbox stores each delivery by destination name together with its
// message (id, topic, body, content type); it never stores URLs, signers or
// secrets. The Queue is given the configured [sender.Destination] values and
// resolves names when it leases, so keys and URLs can rotate without touching
// stored deliveries.
//
// Delivery is at least once: a delivery whose worker dies (or whose lease
// runs out) is leased again, and receivers deduplicate on the delivery id,
// which stays the same across attempts.
//
// Every store of this module is a [Store]: [NewMemory], here, for tests
// and small volumes; the bbolt file store in package boltstore, the
// durable default; a NATS JetStream stream in package natsstore, for a
// fleet of workers; PostgreSQL tables in package pgstore, the
// transactional outbox, where a delivery is enqueued inside the caller's
// own database transaction. Package outboxtest holds the conformance
// suite every implementation passes, yours included.
// The [Outbox] contract is what the Queue needs (put, lease, settle,
// close); dead letters, history and counts are the optional [Admin]
// interface, which [AdminHandler] serves over HTTP. The Queue validates
// deliveries and fills their defaults before it stores them, so a store
// checks only what its format needs, and hands a store the outcomes of
// many attempts in one Settle, so that a store writing to disk commits
// them together.
//
// Failed deliveries follow a long [Schedule] (seconds to hours, with
// jitter), waiting in the outbox, not in a worker; a destination that keeps
// failing opens its circuit [Breaker], which defers its deliveries without
// spending their attempts, and a per-destination concurrency limit keeps
// one slow endpoint from occupying every worker. A destination as a whole
// may also wait: for the Retry-After of its 429 or 503, for its rate limit
// ([sender.Destination.Rate]), or, disabled, until it is enabled again
// (after 410 Gone or [sender.Destination.DisableAfter]); its deliveries
// then stay in the outbox and the other destinations keep their pace.
// Deliveries that failed for a reason that retrying cannot fix, or ran out
// of schedule, become dead letters, which can be listed, replayed and
// purged. A reason retrying cannot fix is an answer the Sender does not
// retry: any status but 408, 425, 429, 500, 502, 503 and 504, so a 401 or
// 403 too (a receiver that does not have a rotated key yet): replay its
// dead letters once it has.
//
// A destination with Ordered set receives the deliveries that share a
// partition key one at a time, in enqueue order, the next only once the
// previous is delivered or dead; the store keeps that order, so it holds
// across restarts and workers. The stores of [NewMemory], bbolt and
// PostgreSQL (across every process sharing it) keep it; the NATS store
// does not, and a Queue refuses an Ordered destination over it.
package outbox
