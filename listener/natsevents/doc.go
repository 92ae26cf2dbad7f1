// Package natsevents is a [listener.Source] that takes events from a NATS
// JetStream stream, so that several worker processes share the intake.
//
// Events are published (see [Publish]) as the native JSON envelope of
// [listener.Event] on subjects derived from their topic,
// "<prefix>.<domain>.<action>" ("events.job.ready" for "job:ready"; a '.'
// inside a segment is written "%2E").
//
// Their Nats-Msg-Id is the subject, a space and the event id
// ("events.job.ready evt_1"), so that a publish retried within the stream's
// duplicate window is stored once. JetStream deduplicates on Nats-Msg-Id
// across the whole stream, whatever the subject: scoped by subject, the id
// of an event due on one subject cannot be taken first by a publisher
// allowed only another and have that event dropped as a duplicate. A
// subject holds no space, so the pair reads one way only. An event that
// names its CloudEvents source (Context["source"]) has the SHA-256 of the
// source in hex and a space before that ("<64 hex> events.job.ready
// evt_1"): source and id are unique together, so two sources' events of
// one id are two events, as they are to the listener. Publishers that do
// not use [Publish] should set Nats-Msg-Id the same way. NATS permissions do
// not govern headers, though: a publisher that writes Nats-Msg-Id itself can
// still name another subject's, and the event published there with that id
// within [Source.DuplicateWindow] is dropped. Where publishers of different
// subjects are not trusted alike, give events ids that cannot be guessed
// (UUIDs) and keep the window short.
//
// The subject decides an event's topic, since NATS permissions govern
// who may publish on it: a body without a topic takes its subject's, and
// one whose topic is not its subject's (or a subject that names no topic)
// is refused, terminated without being dispatched or dead-lettered, and
// logged at WARN without its payload. A [Source] consumes them through one durable pull consumer shared
// by every worker of the group: each event goes to one worker, which
// acknowledges it only after its handlers succeeded. A failed event is
// redelivered after [Source.RetryDelay]; after [Source.MaxDeliver]
// deliveries, or at once when the handlers' error is
// [listener.IsPermanent], it is published to the dead-letter subject
// "<DeadLetterPrefix>.<domain>.<action>" (with the failure in the
// Herald-Dead-Reason header) and terminated. A worker that dies or loses its
// connection leaves its events unacknowledged; JetStream redelivers them to
// the others after [Source.AckWait]. Delivery to handlers is therefore at
// least once: handlers should be idempotent (see listener.WithDedupe).
//
// Serve creates or updates the streams and the consumer idempotently, so
// every worker may start with the same Source. The event stream takes
// events up to 4 KiB under the server's max_payload, the room their dead
// letter needs; a larger one is refused to its publisher. On a three-node NATS cluster
// set Replicas to 3 and give the connection all three server URLs; the
// stream and consumer then survive the loss of one node.
//
// Connect every worker so that it rides out a server restart or network
// loss instead of closing its connection: nats.MaxReconnects(-1) (the
// default, 60 attempts, gives up after a few minutes of outage),
// nats.ReconnectWait of a second or less (the default 2s is fine too), and
// keep the default reconnect buffer so that acks sent while reconnecting
// are not dropped. Events in flight when the connection drops are
// acknowledged after the reconnect or, if that fails, redelivered after
// AckWait; handlers must be idempotent either way. A connection that is
// closed for good makes Serve return an error.
//
// Events reach a worker on its connection's inbox, as the replies of its
// pull requests. Anyone who may subscribe to that inbox reads them, and
// anyone who may publish there can send it statuses: the worker checks
// with the server before it believes that its consumer is gone, and ends
// a request only at its expiry, but the events themselves are not secret
// to such a user. Where other users of the account may use _INBOX.>, give
// workers an inbox prefix of their own (nats.CustomInboxPrefix) and the
// permissions to match.
package natsevents
