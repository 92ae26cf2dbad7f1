package listener

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// errNilHandler is a programming error of On and Handle.
var errNilHandler = errors.New("listener: nil handler")

// validator is implemented by payload types that can check themselves
// with a method Validate() error; [Handle] calls it after decoding.
type validator interface {
	Validate() error
}

// Handle registers on l a typed handler for pattern, and declares T the
// payload type of the topics pattern matches. Before any handler runs for
// such an event (this one or any other that matches, a Forward on "job:*"
// included), the payload is decoded from JSON into a T (unknown fields are
// ignored) and validated when T (or *T) has a method Validate() error. A
// payload with an object that holds a key twice, or two keys that differ
// only in case, is refused: encoding/json decodes the last of them into
// T's field, while a reader matching keys exactly (a Forward's receiver)
// may read another, which Validate never saw. A payload
// that does not decode or validate runs no handler at all: Dispatch returns
// a [Permanent] error matching [ErrInvalidPayload], which sources answer
// with 400 and no redelivery, so a refused event is never forwarded. Filters
// and namespaces still apply: a typed handler that would not run for an
// event does not check its payload. The payload is decoded once per event
// and type, and fn receives that value.
// Handle is a function because methods cannot have type parameters.
func Handle[T any](l *Listener, pattern string, fn func(ctx context.Context, ev *Event, v T) error, filters ...Filter) error {
	if fn == nil {
		return fmt.Errorf("%w for pattern %.64q", errNilHandler, pattern)
	}
	t := reflect.TypeFor[T]()
	name := t.String()
	check := func(ev *Event) (any, error) { return decodePayload[T](ev.Payload, name) }
	h := func(ctx context.Context, ev *Event) error {
		if v, ok := decoded(ctx, ev, t).(T); ok {
			return fn(ctx, ev, v)
		}
		// Dispatched without the check (a handler of this route called
		// directly, or its decoded value not found): decode here.
		v, err := decodePayload[T](ev.Payload, name)
		if err != nil {
			return err
		}
		return fn(ctx, ev, v)
	}
	return l.on(pattern, h, &payloadCheck{t: t, decode: check}, filters)
}

// payloadCheck is the payload type a [Handle] route declares.
type payloadCheck struct {
	t      reflect.Type
	decode func(*Event) (any, error)
}

// payloads are the values Dispatch decoded for one event, one per type;
// typed handlers find theirs in their context.
type payloads struct {
	ev   *Event
	vals []typedValue
}

type typedValue struct {
	t reflect.Type
	v any
}

type payloadsKey struct{}

// decoded returns the value of type t that Dispatch decoded for ev, or nil.
func decoded(ctx context.Context, ev *Event, t reflect.Type) any {
	p, _ := ctx.Value(payloadsKey{}).(*payloads)
	if p == nil || p.ev != ev {
		return nil
	}
	for _, tv := range p.vals {
		if tv.t == t {
			return tv.v
		}
	}
	return nil
}

// ErrInvalidPayload: a typed handler could not decode or validate the
// payload. It is always [Permanent].
var ErrInvalidPayload = errors.New("listener: invalid payload")

// decodePayload decodes and validates payload into a T as [Handle] does;
// name is T's name for the errors.
func decodePayload[T any](payload json.RawMessage, name string) (T, error) {
	var v T
	if len(payload) == 0 {
		return v, Permanent(fmt.Errorf("%w: no payload to decode into %s", ErrInvalidPayload, name))
	}
	if key, ok := foldedKey(payload); ok {
		return v, Permanent(fmt.Errorf("%w: decoding %s: key %.64q repeats, or another of its object differs from it only in case", ErrInvalidPayload, name, key))
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		return v, Permanent(fmt.Errorf("%w: decoding %s: %s", ErrInvalidPayload, name, jsonReason(err)))
	}
	if isNilPointer(v) {
		return v, Permanent(fmt.Errorf("%w: null payload for %s", ErrInvalidPayload, name))
	}
	if val, ok := any(v).(validator); ok {
		if err := val.Validate(); err != nil {
			return v, Permanent(fmt.Errorf("%w: %s: %w", ErrInvalidPayload, name, err))
		}
	} else if val, ok := any(&v).(validator); ok {
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
