package listener

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/sender"
)

// A Deliverer delivers msgs[i] to dests[i], for every i (the two slices
// have the same length), and returns nil once all are delivered or, for a
// durable deliverer, committed. [Forward] delivers through one:
//
//   - a *sender.Sender sends them at once, in process: not durable, and a
//     failure for one destination does not undo the others;
//   - an *outbox.Queue stores them in its outbox in one Put, all or
//     none (see natsstore's Put for its one exception), and delivers
//     them later: durable.
//
// A failure that retrying cannot mend is a *sender.DeliveryError whose
// Retryable is false (or a joined error of only such errors).
type Deliverer interface {
	Deliver(ctx context.Context, dests []sender.Destination, msgs []sender.Message) error
}

// forwardNamespace is the UUIDv5 namespace of delivery ids made by Forward.
var forwardNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/heraldhq/herald/listener#Forward"))

// DeliveryID returns the delivery id (webhook-id) that [Forward] uses for
// ev sent to a destination: a UUIDv5 of the event's topic, its id, its
// source (Context["source"], the CloudEvents source attribute, when set)
// and the destination name. A redelivered event is sent with the same id, by any
// worker, before or after a restart, so that receivers and the outbox
// deduplicate it; two destinations get distinct ids; and so do two events
// that share an id but not a topic, since an id is unique only within its
// topic (a publisher allowed one topic must not use up the delivery of
// another's event), and within its source (CloudEvents 1.0 makes source and
// id unique together: two sources may use one id). A nil ev counts as an
// event without topic or id.
func DeliveryID(ev *Event, destination string) string {
	var topic, id, source string
	if ev != nil {
		topic, id, source = ev.Topic, ev.ID, ev.Context["source"]
	}
	// Topics and event ids never hold NUL (Validate refuses control
	// characters), so the names below read one way only; the source, which
	// may hold anything, is length-prefixed, under a namespace of its own
	// so that the ids of events without a source are unchanged.
	if source != "" {
		return uuid.NewSHA1(forwardSourceNamespace,
			[]byte(topic+"\x00"+id+"\x00"+strconv.Itoa(len(source))+":"+source+destination)).String()
	}
	return uuid.NewSHA1(forwardNamespace, []byte(topic+"\x00"+id+"\x00"+destination)).String()
}

// forwardSourceNamespace is the UUIDv5 namespace of the delivery ids of
// events that name their source.
var forwardSourceNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/heraldhq/herald/listener#Forward/source"))

// Forward returns a Handler that delivers each event as a webhook to every
// one of dests that wants its topic (sender.Destination.Wants), through d:
//
//	l.On("job:*", listener.Forward(queue, dest))        // durable: an *outbox.Queue
//	l.On("job:*", listener.Forward(s, destA, destB))    // in process: a *sender.Sender
//
// is all it takes. The body is the event's native JSON envelope; the topic
// is passed along; the delivery id of each destination is
// [DeliveryID](ev, dest.Name), so a redelivered event is delivered under the
// same ids. All of an event's deliveries go to d in one call: a durable
// deliverer commits them together or not at all, and the handler returns
// nil only once they are committed (or, through a Sender, delivered).
// The topic filters are those of dests; a Queue then delivers to its own
// destination of each name, with that one's URL, headers and Signer.
// A failure the deliverer reports as not retryable (a 4xx, sender.ErrGone,
// an event a queue cannot store) becomes a [Permanent] error; others stay
// retryable, so the source redelivers the event. Faults of the
// configuration are retryable too, so that the source keeps the event
// until they are fixed: a destination that a Queue's Destinations lack
// fails each event that wants it with an error naming it, and nothing of
// the event is stored; a destination whose Topics holds a malformed
// pattern fails every event with an error wrapping
// sender.ErrInvalidPattern; through a Sender, a destination whose URL is
// invalid, not https or refused by the address guard, whose Headers or
// ClientCert cannot be sent, or whose Signer or OAuth2 token fails
// (sender.ErrInvalidURL, ErrInsecureURL, ErrBlockedAddr,
// ErrInvalidMessage, ErrSign, ErrToken). Through a Queue, the event is
// acknowledged and stored, and those are met by the Queue that sends: its
// Run refuses to start with a destination whose URL its Sender refuses
// whatever the delivery (outbox.ErrInvalid), and the rest dead-letter the
// delivery at its first attempt with a reason that says what to change
// (outbox.AdminHandler lists it; replay it once fixed). A nil d is a zero
// sender.Sender.
func Forward(d Deliverer, dests ...sender.Destination) Handler {
	return forward(d, dests, false)
}

// ForwardPayload is [Forward] with the event's payload as the body instead
// of the whole envelope (a missing payload is sent as JSON null).
func ForwardPayload(d Deliverer, dests ...sender.Destination) Handler {
	return forward(d, dests, true)
}

func forward(d Deliverer, dests []sender.Destination, payloadOnly bool) Handler {
	if d == nil {
		d = &sender.Sender{}
	}
	dests = append([]sender.Destination(nil), dests...)
	if err := checkTopics(dests); err != nil {
		return func(context.Context, *Event) error { return err }
	}
	return func(ctx context.Context, ev *Event) error {
		to := make([]sender.Destination, 0, len(dests))
		for _, dest := range dests {
			if dest.Wants(ev.Topic) {
				to = append(to, dest)
			}
		}
		if len(to) == 0 {
			return nil
		}
		body := []byte(ev.Payload)
		if !payloadOnly {
			var err error
			if body, err = ev.MarshalJSON(); err != nil {
				return Permanent(fmt.Errorf("listener: forward %s: encoding event: %w", ev.ID, err))
			}
		} else if len(body) == 0 {
			body = []byte("null")
		}
		msgs := make([]sender.Message, len(to))
		for i, dest := range to {
			msgs[i] = sender.Message{ID: DeliveryID(ev, dest.Name), EventID: ev.ID, Topic: ev.Topic, Body: body, ContentType: "application/json",
				PartitionKey: ev.PartitionKey}
		}
		err := d.Deliver(ctx, to, msgs)
		if err == nil {
			return nil
		}
		if notRetryable(err) {
			return Permanent(fmt.Errorf("listener: forward %s: %w", ev.ID, err))
		}
		return fmt.Errorf("listener: forward %s: %w", ev.ID, err)
	}
}

// configFaults are the failures of a Sender that come of a destination's
// configuration, not of the event or the receiver's verdict: a Sender
// reports them as not retryable, since sending again the same way cannot
// help, but the source that keeps the event can send it again once the
// configuration is fixed.
//
// Forward's delivery ids and content type are always valid, so a Sender's
// ErrInvalidMessage is the destination's too: its Headers, ClientCert, or
// OAuth2 beside an Authorization header.
var configFaults = []error{sender.ErrInvalidURL, sender.ErrInsecureURL, sender.ErrBlockedAddr, sender.ErrSign, sender.ErrToken,
	sender.ErrInvalidMessage}

// configFault reports whether err is one of configFaults.
func configFault(err error) bool {
	for _, f := range configFaults {
		if errors.Is(err, f) {
			return true
		}
	}
	return false
}

// checkTopics checks the topic filters of dests. A malformed pattern
// matches nothing (sender.Destination.Wants), so its destination would
// miss every event while Forward reported each as handled: Forward fails
// every event instead, retryably, since the configuration is at fault and
// the source keeps the event until it is fixed.
func checkTopics(dests []sender.Destination) error {
	for _, d := range dests {
		for i, p := range d.Topics {
			if err := sender.ValidatePattern(p); err != nil {
				return fmt.Errorf("listener: forward: destination %q: Topics[%d]: %w", d.Name, i, err)
			}
		}
	}
	return nil
}

// notRetryable reports whether err is a sender.DeliveryError that is not
// retryable and not a fault of the destination's configuration
// (configFault), or already [Permanent]; a joined error only when each of
// its errors is.
func notRetryable(err error) bool {
	for err != nil {
		if isMarked(err) {
			return true
		}
		switch u := err.(type) {
		case *sender.DeliveryError:
			return !u.Retryable && !configFault(u)
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			for _, e := range errs {
				if !notRetryable(e) {
					return false
				}
			}
			return len(errs) > 0
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}
