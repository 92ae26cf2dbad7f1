package listener

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/sender"
)

// A ForwardOption tunes [Forward].
type ForwardOption func(*forwardConfig)

type forwardConfig struct {
	payloadOnly bool
	contentType string
}

// ForwardPayload makes [Forward] send the event's payload as the body
// instead of the whole envelope (a missing payload is sent as JSON null).
func ForwardPayload() ForwardOption {
	return func(c *forwardConfig) { c.payloadOnly = true }
}

// forwardNamespace is the UUIDv5 namespace of delivery ids made by Forward.
var forwardNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/heraldhq/herald/listener#Forward"))

// DeliveryID returns the delivery id (webhook-id) that [Forward] uses for
// ev sent to a destination: a UUIDv5 of the event's topic, its id and the
// destination name. A redelivered event is sent with the same id, by any
// worker, before or after a restart, so that receivers and the outbox
// deduplicate it; two destinations get distinct ids; and so do two events
// that share an id but not a topic, since an id is unique only within its
// topic (a publisher allowed one topic must not use up the delivery of
// another's event). A nil ev counts as an event without topic or id.
func DeliveryID(ev *Event, destination string) string {
	var topic, id string
	if ev != nil {
		topic, id = ev.Topic, ev.ID
	}
	// Topics and event ids never hold NUL (Validate refuses control
	// characters), so the name below reads one way only.
	return uuid.NewSHA1(forwardNamespace, []byte(topic+"\x00"+id+"\x00"+destination)).String()
}

// Forward returns a Handler that delivers each event as a webhook to dest
// through s (nil: a zero sender.Sender), so that
//
//	l.On("job:*", listener.Forward(s, dest))
//
// is all it takes. The body is the event's native JSON envelope (or its
// payload, with [ForwardPayload]); the topic is passed along; the delivery
// id is [DeliveryID](ev, dest.Name). Events whose topic dest does not
// want (dest.Topics, see sender.Destination.Wants) are skipped. A failure
// the sender reports as not retryable (4xx, sender.ErrGone, a bad URL)
// becomes a [Permanent] error; others stay retryable.
func Forward(s *sender.Sender, dest sender.Destination, opts ...ForwardOption) Handler {
	var cfg forwardConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if s == nil {
		s = &sender.Sender{}
	}
	return func(ctx context.Context, ev *Event) error {
		if !dest.Wants(ev.Topic) {
			return nil
		}
		var body []byte
		if cfg.payloadOnly {
			body = ev.Payload
			if len(body) == 0 {
				body = []byte("null")
			}
		} else {
			var err error
			if body, err = ev.MarshalJSON(); err != nil {
				return Permanent(fmt.Errorf("listener: forward %s: encoding event: %w", ev.ID, err))
			}
		}
		msg := sender.Message{
			ID:          DeliveryID(ev, dest.Name),
			Topic:       ev.Topic,
			Body:        body,
			ContentType: "application/json",
		}
		_, err := s.Send(ctx, dest, msg)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("listener: forward %s: %w", ev.ID, err)
		var de *sender.DeliveryError
		if errors.Is(err, sender.ErrGone) || errors.As(err, &de) && !de.Retryable {
			return Permanent(err)
		}
		return err
	}
}
