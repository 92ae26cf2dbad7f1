package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// defaultEventsSubject is natsevents' default subject prefix: a relay
// given it uses natsevents' default stream names too, so that it reads
// what natsevents.Publish and Source.Setup with their defaults write.
const defaultEventsSubject = "events"

// maxEventsAckWait bounds the ack wait of the relay's event consumer.
const maxEventsAckWait = 30 * time.Second

// checkEventsSubject refuses an --events-subject that is not a literal
// subject prefix: dot-separated tokens of printable UTF-8 without
// wildcards or white space (no terminal control either, nor a Unicode
// space or format character).
func checkEventsSubject(s string) error {
	if len(s) > 128 {
		return errors.New("--events-subject is longer than 128 bytes")
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") || !utf8.ValidString(tok) || strings.IndexFunc(tok, unprintable) >= 0 {
			return fmt.Errorf("--events-subject %s: want tokens such as acme.events, without wildcards or spaces", showArg(s))
		}
	}
	return nil
}

// unprintable reports a rune that is not printed as itself: a control
// character (C0, DEL or C1), a space of any kind, a format character.
func unprintable(r rune) bool { return r == ' ' || !unicode.IsPrint(r) }

// eventSource is the natsevents.Source of --events-subject on js: events
// published under subject ("events.job.ready" for job:ready), consumed by
// one durable consumer that every relay of the fleet shares. Its stream
// names derive from the subject, so that relays given different subjects
// on one server never share (and rewrite) a stream.
//
// ackWait is how long a relay holds an event before the stream gives it
// to another relay: --lease-ttl, up to 30 seconds (a handler still running
// extends it; it only commits deliveries to the outbox).
func eventSource(js jetstream.JetStream, subject string, replicas int, ackWait time.Duration, logger *slog.Logger) *natsevents.Source {
	s := &natsevents.Source{JetStream: js, SubjectPrefix: subject, Replicas: replicas, Logger: logger,
		AckWait: min(max(ackWait, time.Second), maxEventsAckWait)}
	if subject != defaultEventsSubject {
		sum := sha256.Sum256([]byte(subject))
		name := strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, subject)
		name = fmt.Sprintf("HERALD_EVENTS_%.32s_%s", name, hex.EncodeToString(sum[:4]))
		s.Stream, s.DeadLetterStream, s.DeadLetterPrefix = name, name+"_DEAD", subject+"-dead"
	}
	return s
}

// eventIntake is the relay's second intake, beside HTTP: events from a
// JetStream stream, dispatched to the same Listener (same deduplication,
// same Forward) as the events posted to /events. A nil *eventIntake is
// no intake.
type eventIntake struct {
	src    *natsevents.Source
	closed func() bool // reports the connection closed for good
	logger *slog.Logger
	stop   context.CancelFunc
	done   chan struct{} // closed when Serve returned
	err    error         // Serve's result, once done is closed
}

// start serves the intake into d until close; the returned channel is
// closed when it stops for good, with the reason in e.err (nil when
// closed). A failure while the connection lives (the server restarting)
// is logged and Serve is called again a second later, so that the intake
// rides out a NATS outage as the outbox does. On a nil intake it returns
// a nil channel, which never delivers.
func (e *eventIntake) start(d listener.Dispatcher) <-chan struct{} {
	if e == nil {
		return nil
	}
	var ctx context.Context
	ctx, e.stop = context.WithCancel(context.Background())
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		for {
			err := e.src.Serve(ctx, d)
			if ctx.Err() != nil || err == nil {
				return
			}
			if e.closed() {
				e.err = err
				return
			}
			e.logger.Warn("relay: event intake from NATS failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return e.done
}

// close stops taking events from the stream and waits for the handlers
// in flight to commit their deliveries and acknowledge their events.
func (e *eventIntake) close() {
	if e == nil || e.stop == nil {
		return
	}
	e.stop()
	<-e.done
}

// newEventIntake makes the intake of --events-subject on st, which must be
// a NATS store: the event streams live on its server and use its
// connection. It creates the streams and the consumer, so that a relay
// that starts is ready to take events.
func newEventIntake(st store, subject string, ackWait time.Duration, logger *slog.Logger) (*eventIntake, error) {
	ns, ok := st.(*natsStore)
	if !ok {
		return nil, usageError{errors.New("--events-subject needs a nats:// --store: the event stream lives on its server")}
	}
	js, err := jetstream.New(ns.nc)
	if err != nil {
		return nil, err
	}
	src := eventSource(js, subject, ns.replicas, ackWait, logger)
	ctx, cancel := context.WithTimeout(context.Background(), natsOpenTimeout)
	defer cancel()
	if err := src.Setup(ctx); err != nil {
		return nil, fmt.Errorf("--events-subject %s: %w", subject, err)
	}
	return &eventIntake{src: src, closed: ns.nc.IsClosed, logger: logger}, nil
}
