// Package listener receives platform events and runs the handlers registered
// for them.
//
// A [Listener] routes each [Event] by topic ("domain:action", such as
// "job:ready") to the handlers whose pattern matches ("job:*", "*:created",
// "**") and whose [Filter]s accept it. Every matching handler runs, in
// registration order; their errors are joined and returned to the source,
// which acknowledges the event only when the error is nil.
//
// Topics and patterns follow herald's one topic model, shared with
// sender.Destination.Topics and the relay's configuration (the grammar, with
// valid and invalid examples, is at sender.ValidatePattern): a topic is
// "domain:action"; a pattern is "domain:action" with '*' matching any run of
// topic characters within a segment, or "**" alone for every topic. So
// "job:ready", "job:*", "*:created", "j*b:re*" and "**" are patterns, and
// "job", "job:ready:now" and "job:**" are not (write "job:*"); a malformed
// pattern is refused by [Listener.On] with an error matching
// sender.ErrInvalidPattern.
//
// Events come in through sources: [Listener.Dispatch] in process, an
// [HTTPHandler] (the native JSON envelope and CloudEvents 1.0, optionally
// verified with an auth.Verifier; a verified event takes its id, topic and
// source from the signed body, so binary-mode CloudEvents, whose attributes
// are unsigned ce-* headers, are accepted only without one), an
// [HTTPServer] that owns its http.Server, and a [Poller] that pulls a
// platform's event feed with a cursor. [Listener.Run] runs sources with
// bounded concurrency and drains in-flight handlers on shutdown.
//
// [Forward] bridges to package sender: it delivers an event as a signed
// webhook to a sender.Destination, with a delivery id derived from the event
// id so that a redelivered event keeps its webhook-id.
package listener
