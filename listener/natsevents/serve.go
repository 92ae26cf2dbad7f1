package natsevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/listener"
)

// settleTimeout bounds an ack, nak or dead-letter publish.
const settleTimeout = 10 * time.Second

// Serve implements [listener.Source]: it creates the streams and consumer
// if needed, then hands events to d, at most Concurrency at once, until
// ctx is cancelled; it then stops fetching, lets the handlers it started
// finish and settle their events, and returns nil (as it does when ctx is
// cancelled while it creates the streams). Connection losses are
// ridden out: the nats.Conn reconnects and the consumer resumes (see the
// package documentation for the connection options). If the connection is
// closed for good (nats.Conn.Close, or its reconnect attempts exhausted) or
// the consumer is deleted, Serve lets its handlers finish and returns an
// error (matching jetstream.ErrConnectionClosed in the first case,
// jetstream.ErrConsumerDeleted or jetstream.ErrConsumerNotFound in the
// second); the events it held are redelivered to other workers after
// AckWait.
func (s *Source) Serve(ctx context.Context, d listener.Dispatcher) error {
	if d == nil {
		return errors.New("natsevents: nil Dispatcher")
	}
	c, err := s.withDefaults()
	if err != nil {
		return err
	}
	cons, err := c.setup(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // cancelled while setting up: nothing was taken
		}
		return err
	}
	return c.consume(ctx, cons, d)
}

// handle dispatches one event and settles it: ack on success, dead letter
// on a permanent error or the last delivery, nak with RetryDelay otherwise.
func (c *settings) handle(ctx context.Context, d listener.Dispatcher, msg delivered) {
	md, err := msg.Metadata()
	if err != nil {
		c.log(slog.LevelError, "event without metadata", err)
		_ = msg.Term()
		return
	}
	var ev listener.Event
	// The subject first: a message on one that names no topic is refused,
	// never dead-lettered. Its dead letter would be on a subject as long
	// as it, which the server's max_control_line (it closes the
	// connection) or max_payload (it carries the subject) may not take.
	if _, ok := subjectTopic(c.SubjectPrefix, msg.Subject()); !ok {
		c.refuse(msg, &ev, "the subject names no topic")
		return
	}
	if err := ev.UnmarshalJSON(msg.Data()); err != nil {
		c.deadLetter(msg, md, "invalid event: "+err.Error())
		return
	}
	if !c.takeSubjectTopic(msg, &ev) {
		return
	}
	if err := ev.Validate(); err != nil {
		c.deadLetter(msg, md, "invalid event: "+err.Error())
		return
	}
	if int(md.NumDelivered) > c.MaxDeliver {
		// The last attempt died with its worker before it could settle.
		c.deadLetter(msg, md, fmt.Sprintf("delivered %d times, the limit is %d", md.NumDelivered, c.MaxDeliver))
		return
	}

	// Keep the event while the handlers run longer than AckWait.
	hctx, done := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(c.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	// A W3C traceparent message header (tracing metadata, as the
	// CloudEvents extension in the event is) continues its trace.
	err = d.Dispatch(telemetry.WithTraceparent(hctx, msg.Headers().Get(telemetry.HeaderTraceparent)), &ev)
	done()

	switch {
	case err == nil:
		sctx, cancel := context.WithTimeout(ctx, settleTimeout)
		defer cancel()
		if err := msg.DoubleAck(sctx); err != nil {
			c.log(slog.LevelWarn, "event ack failed; it will be redelivered", err, slog.String("id", ev.ID))
		}
	case errors.Is(err, listener.ErrStopped):
		_ = msg.Nak() // the listener is draining: another worker takes it
	case listener.IsPermanent(err):
		c.deadLetter(msg, md, "permanent: "+err.Error())
	case int(md.NumDelivered) >= c.MaxDeliver:
		c.deadLetter(msg, md, fmt.Sprintf("failed %d times: %s", md.NumDelivered, err))
	default:
		c.log(slog.LevelWarn, "event handler failed; redelivering", err,
			slog.String("id", ev.ID), slog.Uint64("delivery", md.NumDelivered))
		_ = msg.NakWithDelay(c.RetryDelay)
	}
}

// takeSubjectTopic gives ev the topic of the subject msg was published on:
// NATS permissions govern who may publish on a subject, so the subject,
// not the body, decides the topic. A body without a topic takes the
// subject's; one whose topic differs, or a subject that names no topic, is
// refused: terminated, so that it is not redelivered, and logged without
// its payload. It reports whether ev may be dispatched.
func (c *settings) takeSubjectTopic(msg delivered, ev *listener.Event) bool {
	topic, ok := subjectTopic(c.SubjectPrefix, msg.Subject())
	switch {
	case !ok:
		c.refuse(msg, ev, "the subject names no topic")
		return false
	case ev.Topic == "":
		ev.Topic = topic
	case ev.Topic != topic:
		c.refuse(msg, ev, "the event's topic is not its subject's")
		return false
	}
	return true
}

// refuse terminates msg without dispatching it and logs why at WARN, with
// the subject, the event's id and topic (clipped) and never the payload.
// The subject is clipped too: a subject that names no topic may hold
// anything NATS takes, bidi and C1 controls among it.
func (c *settings) refuse(msg delivered, ev *listener.Event, reason string) {
	c.log(slog.LevelWarn, "event refused", errors.New(reason),
		slog.String("subject", clip(msg.Subject(), 1024)), slog.String("id", clip(ev.ID, 256)),
		slog.String("topic", clip(ev.Topic, 255)))
	if err := msg.TermWithReason("refused: " + reason); err != nil {
		c.log(slog.LevelWarn, "event term failed", err)
	}
}

// clip bounds a string taken from a message before it is logged, and
// quotes it (Go syntax, escapes for what is not graphic) when it would not
// show as itself (wire.Displayable): refuse logs an event's id and topic
// before they are validated, and a bidi control or line separator there
// could make the line read as another.
func clip(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // cut between characters, not inside one
		}
		s = s[:n] + "…"
	}
	return wire.Show(s)
}

// deadLetter publishes msg to the dead-letter subject and terminates it.
// When the publish fails the event is redelivered instead, never lost.
func (c *settings) deadLetter(msg delivered, md *jetstream.MsgMetadata, reason string) {
	// The reason shows in listings and logs: what would not show as
	// itself (wire.Displayable) becomes a space.
	reason = strings.Map(func(r rune) rune {
		if !wire.DisplayableRune(r) {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	dm := nats.NewMsg(c.DeadLetterPrefix + strings.TrimPrefix(msg.Subject(), c.SubjectPrefix))
	for k, v := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			dm.Header[k] = v
		}
	}
	dm.Header.Set(HeaderDeadReason, reason)
	dm.Header.Set(HeaderDeadDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	dm.Header.Set(HeaderOriginalSubject, msg.Subject())
	dm.Data = msg.Data()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	// The id makes a dead letter published twice (a retry after a lost
	// answer) one. Sequences start over in a stream created again, so the
	// time the event was stored is part of it: an event of the new stream
	// must not be dropped as the duplicate of an old one's dead letter.
	id := md.Stream + "-" + strconv.FormatUint(md.Sequence.Stream, 10) + "-" + strconv.FormatInt(md.Timestamp.UnixNano(), 10)
	if _, err := c.JetStream.PublishMsg(ctx, dm, jetstream.WithMsgID(id)); err != nil {
		c.log(slog.LevelError, "dead letter publish failed; redelivering", err)
		_ = msg.NakWithDelay(c.RetryDelay)
		return
	}
	c.log(slog.LevelWarn, "event dead-lettered", errors.New(reason), slog.String("subject", msg.Subject()))
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		c.log(slog.LevelWarn, "event term failed", err)
	}
}

// log writes a line when a Logger is set.
func (c *settings) log(level slog.Level, msg string, err error, attrs ...slog.Attr) {
	if c.Logger == nil {
		return
	}
	c.Logger.LogAttrs(context.Background(), level, msg, append(attrs, slog.String("error", err.Error()))...)
}
