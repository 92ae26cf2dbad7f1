package listener

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/topic"
	"github.com/heraldhq/herald/internal/wire"
)

// maxIDLen bounds an event id in bytes, checked by [Event.Validate].
const maxIDLen = 256

// maxAttributes bounds an event's Context entries, and its Namespaces,
// checked by [Event.Validate]: they are small routing attributes, and a
// body of a megabyte could hold a hundred thousand of them, each a map
// entry to keep and forward.
const maxAttributes = 64

// ErrInvalidEvent: an event is malformed (missing id or topic, bad
// topic syntax, unknown or duplicate envelope fields, trailing data).
var ErrInvalidEvent = errors.New("listener: invalid event")

// Event is one platform event. Its JSON form, the native envelope, uses the
// keys id, topic, createdAt (RFC 3339), context, payload, namespaces and
// partitionKey, in both directions.
//
// Handlers share one *Event per dispatch and must not modify it.
type Event struct {
	// ID identifies the event; the same event redelivered keeps its id.
	// Required: 1 to 256 bytes of UTF-8 without control characters, line
	// separators or bidi controls, as it becomes part of delivery ids and
	// shows in logs.
	ID string
	// Topic is "domain:action", such as "job:ready". Required.
	Topic string
	// CreatedAt is when the platform created the event; zero if unknown.
	CreatedAt time.Time
	// Context holds small string attributes for routing and filtering
	// (a workbook id, a tenant, CloudEvents source, subject and extensions),
	// at most 64.
	Context map[string]string
	// Payload is the event's data, as raw JSON; nil when there is none.
	Payload json.RawMessage
	// Namespaces lists the namespaces the event belongs to; handlers
	// registered on [Listener.Namespace] children only see events in theirs.
	// At most 64.
	Namespaces []string
	// PartitionKey, if set, names the sequence the event belongs to (an
	// order, an account): [Forward] passes it on as the message's
	// sender.Message.PartitionKey, so that an outbox queue delivers the
	// events of one key to an Ordered destination one at a time, in
	// order. The HTTP source takes it from the native envelope's
	// partitionKey field or the CloudEvents partitionkey extension, both
	// signed bytes when the source verifies. At most 256 bytes without
	// control characters.
	PartitionKey string

	// refused is set by a Field filter that found the payload ambiguous,
	// on the copy of the event that one dispatch's filters see; the
	// dispatch then refuses the event.
	refused error
}

// inNamespace reports whether ns is one of the event's namespaces.
func (e *Event) inNamespace(ns string) bool {
	for _, n := range e.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// Validate checks the fields a source requires: a non-empty id of at most
// 256 bytes of UTF-8 without control characters, line separators or bidi
// controls, a well-formed topic, a CreatedAt that RFC 3339
// can write (a year of 0 to 9999, an offset under 24 hours), at most 64
// namespaces and context entries, none with an empty name, a partition key
// of at most 256 bytes without control characters, and a payload that is
// valid JSON.
// Errors match [ErrInvalidEvent].
func (e *Event) Validate() error {
	if e == nil {
		return fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	if err := e.validateFields(); err != nil {
		return err
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return fmt.Errorf("%w: payload is not valid JSON", ErrInvalidEvent)
	}
	return nil
}

// validateFields is Validate without the payload, for an event decoded
// from an envelope, whose payload was read as valid JSON already.
func (e *Event) validateFields() error {
	if err := validateID(e.ID); err != nil {
		return err
	}
	if err := validateTopic(e.Topic); err != nil {
		return err
	}
	if err := validateTime(e.CreatedAt); err != nil {
		return err
	}
	if len(e.Context) > maxAttributes {
		return errManyAttributes
	}
	if len(e.Namespaces) > maxAttributes {
		return errManyNamespaces
	}
	for k := range e.Context {
		if k == "" {
			return fmt.Errorf("%w: empty context key", ErrInvalidEvent)
		}
	}
	for _, ns := range e.Namespaces {
		if ns == "" {
			return fmt.Errorf("%w: empty namespace", ErrInvalidEvent)
		}
	}
	if err := wire.CheckKey(e.PartitionKey); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return nil
}

// validateID checks that id is non-empty, at most 256 bytes and text that
// shows as itself in a log (wire.Displayable: valid UTF-8 without control
// characters, line separators or bidi controls): it becomes part of
// delivery ids, and an outbox stores it as text, so that refusing it here
// spares a durable Forward refusing it for good. Errors match
// [ErrInvalidEvent].
func validateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: missing id", ErrInvalidEvent)
	case len(id) > maxIDLen:
		return fmt.Errorf("%w: id longer than %d bytes", ErrInvalidEvent, maxIDLen)
	}
	if err := wire.CheckText(id); err != nil {
		return fmt.Errorf("%w: id %w", ErrInvalidEvent, err)
	}
	return nil
}

// validateTopic checks that t is "domain:action": two non-empty segments
// of ASCII letters, digits, '_', '-' and '.', at most 255 bytes in
// all. Errors match [ErrInvalidEvent].
func validateTopic(t string) error {
	if !topic.Valid(t) {
		if t == "" {
			return fmt.Errorf("%w: missing topic", ErrInvalidEvent)
		}
		return fmt.Errorf("%w: topic %.64q is not domain:action", ErrInvalidEvent, t)
	}
	return nil
}

// validateTime checks that t, when set, is a time that MarshalJSON can
// write, and so [Forward] and natsevents.Publish: RFC 3339 allows a year
// of 0 to 9999 and an offset under 24 hours, and Go's parsers take offsets
// up to 99:59. Such an event passed the intake, ran the handlers before a
// Forward, and then failed the Forward for good. Errors match
// [ErrInvalidEvent].
func validateTime(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	var buf [64]byte
	if _, err := t.AppendText(buf[:0]); err != nil {
		return fmt.Errorf("%w: createdAt (CloudEvents time) is not an RFC 3339 time: a year of 0 to 9999, an offset under 24 hours", ErrInvalidEvent)
	}
	return nil
}
