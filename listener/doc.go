// Package listener receives platform events and runs the handlers registered
// for them.
//
// A [Listener] routes each [Event] by topic ("domain:action", such as
// "job:ready") to the handlers whose pattern matches ("job:*", "*:created",
// "**") and whose [Filter]s accept it. A topic's payload type is declared
// with [Handle]; an event whose payload does not decode into it or fails its
// Validate runs no handler at all. Every matching handler runs, in
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
// # Events out: Forward
//
// [Forward] turns events into signed webhooks, through a [Deliverer]: a
// *sender.Sender delivers in process (not durable), an *outbox.Queue
// commits every delivery of the event to its outbox before the handler
// returns (durable), and delivers it later with retries:
//
//	l.On("job:*", listener.Forward(queue, dest))
//
// Each delivery's id is [DeliveryID](ev, dest.Name), derived from the
// event's topic, id and CloudEvents source, so a redelivered event keeps its webhook-id: the
// outbox stores it once while it holds the delivery, and an event
// redelivered after its delivery succeeded is sent again under the same
// id, for the receiver to deduplicate.
//
// # Stopping a durable worker
//
// Stop in this order, so that nothing acknowledged is lost and nothing in
// flight is cut short:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	ran := make(chan error, 1)
//	go func() { ran <- queue.Run(context.Background()) }() // not ctx: see below
//	err := l.Run(ctx, source)   // 1. on the signal: stop intake; 2. drain the handlers
//	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	queue.Shutdown(shutdownCtx) // 3. finish the deliveries in flight, release the rest
//	runErr := <-ran             // nil, the setting for which Run refused to start, or ErrClosed
//	store.Close()               // 4. the store last
//
// The handlers drain before the queue stops because they may still be
// enqueuing. Run the queue with a context the signal does not cancel: a
// Queue whose Run context ends gives its deliveries in flight back to the
// store unfinished (they are sent again later, by this worker or another),
// while Shutdown lets them finish until its own deadline.
package listener
