package natsevents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/topic"
	"github.com/heraldhq/herald/listener"
)

// defaultSubjectPrefix is the subject prefix of events when none is given.
const defaultSubjectPrefix = "events"

// subjectOf returns the subject an event of topic is published on under
// prefix: "job:ready" under "events" is "events.job.ready". The topic must
// be valid, "domain:action" (an error matching [listener.ErrInvalidEvent]).
func subjectOf(prefix, t string) (string, error) {
	domain, action, ok := topic.Split(t)
	if !ok {
		return "", fmt.Errorf("%w: topic %.64q is not domain:action", listener.ErrInvalidEvent, t)
	}
	return prefix + "." + strings.ReplaceAll(domain, ".", "%2E") + "." + strings.ReplaceAll(action, ".", "%2E"), nil
}

// Publish publishes ev on js under the subject prefix (empty means
// "events", as for [Source.SubjectPrefix]), as the native JSON
// envelope with the subject, its id and its source as Nats-Msg-Id (see the package
// documentation), and returns once JetStream stored it or dropped it as a
// duplicate (a retry of the same publish). An invalid event is
// refused with an error matching [listener.ErrInvalidEvent].
func Publish(ctx context.Context, js jetstream.JetStream, prefix string, ev *listener.Event) error {
	if prefix == "" {
		prefix = defaultSubjectPrefix
	}
	if js == nil || ev == nil {
		return fmt.Errorf("%w: nil JetStream or event", listener.ErrInvalidEvent)
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	subj, err := subjectOf(prefix, ev.Topic)
	if err != nil {
		return err
	}
	body, err := ev.MarshalJSON()
	if err != nil {
		return fmt.Errorf("natsevents: encode event %s: %w", ev.ID, err)
	}
	m := nats.NewMsg(subj)
	m.Header.Set("Content-Type", "application/json")
	if tp := telemetry.FromContext(ctx); tp != "" {
		m.Header.Set(telemetry.HeaderTraceparent, tp) // the consumer's handlers continue the trace
	}
	m.Data = body
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID(subj, ev.ID, ev.Context["source"]))); err != nil {
		return fmt.Errorf("natsevents: publish event %s: %w", ev.ID, err)
	}
	return nil
}

// msgID is the Nats-Msg-Id of the event id published on subject: the
// subject, a space, and the id. JetStream drops a message whose Nats-Msg-Id
// it stored within the stream's duplicate window, whatever its subject;
// scoped by subject, an id taken first on one subject (by a publisher
// allowed only there) no longer drops the event of that id on another.
// A NATS subject never holds a space, so the first space ends it whatever
// the id holds, and two (subject, id) pairs never share a Nats-Msg-Id.
//
// An event that names its source (Context["source"], the CloudEvents
// source attribute) is scoped by it too, as the listener's dedupe and
// listener.DeliveryID are: CloudEvents makes source and id unique
// together, and the event of one source must not be dropped as the
// duplicate of another's. Its Nats-Msg-Id starts with the SHA-256 of the
// source in hex and a space; the source is unbounded, its hash is not. A
// hash holds no '.', which every subject does, so the first token tells
// the two forms apart.
func msgID(subject, id, source string) string {
	if source == "" {
		return subject + " " + id
	}
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:]) + " " + subject + " " + id
}

// subjectTopic returns the topic that subject stands for under prefix, the
// inverse of [subjectOf]; ok is false when subject is not the subject of any
// topic (a token too many or too few, or not in subjectOf's own spelling).
func subjectTopic(prefix, subject string) (topic string, ok bool) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return "", false
	}
	domain, action, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	topic = strings.ReplaceAll(domain, "%2E", ".") + ":" + strings.ReplaceAll(action, "%2E", ".")
	if s, err := subjectOf(prefix, topic); err != nil || s != subject {
		return "", false
	}
	return topic, true
}
