package listener

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// Validator is implemented by payload types that can check themselves;
// [Handle] calls Validate after decoding.
type Validator interface {
	Validate() error
}

// Handle registers on l a typed handler for pattern: the payload is decoded
// from JSON into a T (unknown fields are ignored), validated when T (or *T)
// implements [Validator], and passed to fn. A payload that does not decode or
// validate never reaches fn: the handler returns a [Permanent] error matching
// [ErrInvalidPayload], which sources answer with 400 and no redelivery.
// Handle is a function because methods cannot have type parameters.
func Handle[T any](l *Listener, pattern string, fn func(ctx context.Context, ev *Event, v T) error, filters ...Filter) error {
	if fn == nil {
		return fmt.Errorf("%w for pattern %.64q", ErrNilHandler, pattern)
	}
	return l.On(pattern, Typed(fn), filters...)
}

// Typed adapts a typed function to a [Handler], with the decoding and
// validation described at [Handle]; use it to wrap typed handlers in
// middleware of your own.
func Typed[T any](fn func(ctx context.Context, ev *Event, v T) error) Handler {
	name := reflect.TypeFor[T]().String()
	return func(ctx context.Context, ev *Event) error {
		v, err := decodePayload[T](ev.Payload, name)
		if err != nil {
			return err
		}
		return fn(ctx, ev, v)
	}
}

// DecodePayload decodes and validates an event's payload into a T as
// [Handle] does, for handlers that decode themselves.
func DecodePayload[T any](ev *Event) (T, error) {
	return decodePayload[T](ev.Payload, reflect.TypeFor[T]().String())
}

func decodePayload[T any](payload json.RawMessage, name string) (T, error) {
	var v T
	if len(payload) == 0 {
		return v, Permanent(fmt.Errorf("%w: no payload to decode into %s", ErrInvalidPayload, name))
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		return v, Permanent(fmt.Errorf("%w: decoding %s: %s", ErrInvalidPayload, name, jsonReason(err)))
	}
	if isNilPointer(v) {
		return v, Permanent(fmt.Errorf("%w: null payload for %s", ErrInvalidPayload, name))
	}
	if val, ok := any(v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return v, Permanent(fmt.Errorf("%w: %s: %w", ErrInvalidPayload, name, err))
		}
	} else if val, ok := any(&v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return v, Permanent(fmt.Errorf("%w: %s: %w", ErrInvalidPayload, name, err))
		}
	}
	return v, nil
}

// isNilPointer reports whether v is a nil pointer (a JSON null decoded into
// a pointer type), whose Validate method might not expect a nil receiver.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
