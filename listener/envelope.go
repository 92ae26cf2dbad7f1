package listener

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
	"unicode/utf8"
)

// envelope is the wire form of an Event.
type envelope struct {
	ID         string            `json:"id"`
	Topic      string            `json:"topic"`
	CreatedAt  time.Time         `json:"createdAt,omitzero"`
	Context    map[string]string `json:"context,omitempty"`
	Payload    json.RawMessage   `json:"payload,omitempty"`
	Namespaces []string          `json:"namespaces,omitempty"`
	// PartitionKey is last, so that envelopes without it keep their bytes.
	PartitionKey string `json:"partitionKey,omitempty"`
}

// MarshalJSON encodes the event as the native envelope.
func (e Event) MarshalJSON() ([]byte, error) {
	// Without HTML escaping, which would turn each '<', '>' and '&' of the
	// payload into six bytes: a forwarded envelope stays about the size of
	// the event that came in, within an outbox's body limit.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(envelope{
		ID:           e.ID,
		Topic:        e.Topic,
		CreatedAt:    e.CreatedAt,
		Context:      e.Context,
		Payload:      e.Payload,
		Namespaces:   e.Namespaces,
		PartitionKey: e.PartitionKey,
	}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON decodes the native envelope strictly: the value must be an
// object, its keys are matched exactly (case included), and an unknown or
// repeated key is an error matching [ErrInvalidEvent], as are more than 64
// context attributes or namespaces, refused as soon as the 65th is read.
// It does not check the other field values; call [Event.Validate] (the
// HTTP source does).
func (e *Event) UnmarshalJSON(data []byte) error {
	if ev, ok := walkEnvelope(data); ok {
		*e = ev
		return nil
	}
	return e.unmarshalStrict(data)
}

// unmarshalStrict is UnmarshalJSON through a json.Decoder, token by token:
// the path of every envelope that walkEnvelope gives up on, and the one
// that words the errors.
func (e *Event) unmarshalStrict(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var ev Event
	// fields are the envelope's keys with where each decodes to; bit i of
	// seen marks fields[i] as read.
	fields := [...]struct {
		key string
		dst any
	}{
		{"id", &ev.ID},
		{"topic", &ev.Topic},
		{"createdAt", &ev.CreatedAt},
		{"context", (*boundedContext)(&ev.Context)},
		{"payload", &ev.Payload},
		{"namespaces", (*boundedNamespaces)(&ev.Namespaces)},
		{"partitionKey", &ev.PartitionKey},
	}
	var seen uint8
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return err
		}
		i := 0
		for i < len(fields) && fields[i].key != key {
			i++
		}
		if i == len(fields) {
			return fmt.Errorf("%w: unknown field %.64q", ErrInvalidEvent, key)
		}
		if seen&(1<<i) != 0 {
			return fmt.Errorf("%w: duplicate field %q", ErrInvalidEvent, key)
		}
		seen |= 1 << i
		if err := dec.Decode(fields[i].dst); errors.Is(err, ErrInvalidEvent) {
			return err // more than maxAttributes
		} else if err != nil {
			return fmt.Errorf("%w: field %q: %v", ErrInvalidEvent, key, jsonReason(err))
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if err := expectEOF(dec); err != nil {
		return err
	}
	if bytes.Equal(ev.Payload, []byte("null")) {
		ev.Payload = nil
	}
	*e = ev
	return nil
}

// errManyAttributes and errManyNamespaces refuse an event of more than
// maxAttributes context attributes or namespaces.
var (
	errManyAttributes = fmt.Errorf("%w: more than %d context attributes", ErrInvalidEvent, maxAttributes)
	errManyNamespaces = fmt.Errorf("%w: more than %d namespaces", ErrInvalidEvent, maxAttributes)
)

// boundedContext is Event.Context as the envelope decodes it. Its
// UnmarshalJSON decodes as encoding/json decodes into a map[string]string
// (null leaves the map as it is, a null value is "", a repeated key takes
// its last value), but stops at the first key past maxAttributes distinct
// ones: a body of a hundred thousand tiny attributes costs 65 of them,
// not a map of all.
type boundedContext map[string]string

// UnmarshalJSON decodes data, one valid JSON value (as the json package
// and walkObject give it).
func (m *boundedContext) UnmarshalJSON(data []byte) error {
	if null, err := nullOr(data, '{', reflect.TypeFor[map[string]string]()); null || err != nil {
		return err
	}
	if *m == nil {
		*m = boundedContext{}
	}
	var err error
	ok := walkMembers(data, func(k, v []byte) bool {
		var key, val string
		if bytes.IndexByte(k, '\\') < 0 && utf8.Valid(k) {
			key = string(k)
		} else if !setString(&key, append(append([]byte{'"'}, k...), '"')) {
			return false
		}
		if _, ok := (*m)[key]; !ok && len(*m) == maxAttributes {
			err = errManyAttributes
			return false
		}
		if !setString(&val, v) {
			err = &json.UnmarshalTypeError{Value: jsonKind(v[0]), Type: reflect.TypeFor[string]()}
			return false
		}
		(*m)[key] = val
		return true
	})
	if !ok && err == nil {
		err = errMalformed
	}
	return err
}

// boundedNamespaces is Event.Namespaces as the envelope decodes it. Its
// UnmarshalJSON decodes as encoding/json decodes into a []string (null
// leaves the slice as it is, [] is an empty slice, a null element is ""),
// but stops at the element past maxAttributes.
type boundedNamespaces []string

// UnmarshalJSON decodes data, one valid JSON value.
func (l *boundedNamespaces) UnmarshalJSON(data []byte) error {
	if null, err := nullOr(data, '[', reflect.TypeFor[[]string]()); null || err != nil {
		return err
	}
	list := []string{}
	var err error
	ok := walkElements(data, func(v []byte) bool {
		var s string
		switch {
		case len(list) == maxAttributes:
			err = errManyNamespaces
		case !setString(&s, v):
			err = &json.UnmarshalTypeError{Value: jsonKind(v[0]), Type: reflect.TypeFor[string]()}
		default:
			list = append(list, s)
			return true
		}
		return false
	})
	if !ok && err == nil {
		err = errMalformed
	}
	if err == nil {
		*l = list
	}
	return err
}

// errMalformed is what boundedContext and boundedNamespaces answer for
// data that is not valid JSON, which their callers never pass.
var errMalformed = errors.New("malformed JSON")

// nullOr reports whether data, one JSON value, is null, and fails as
// encoding/json would decode it into a t when it is neither null nor a
// value that starts with open ('{' or '[').
func nullOr(data []byte, open byte, t reflect.Type) (null bool, err error) {
	switch c := firstByte(data); c {
	case 'n':
		return true, nil
	case open:
		return false, nil
	default:
		return false, &json.UnmarshalTypeError{Value: jsonKind(c), Type: t}
	}
}

// firstByte returns the first byte of data after white space, or 0.
func firstByte(data []byte) byte {
	s := jscan{d: data}
	s.ws()
	return s.peek()
}

// jsonKind names the kind of JSON value that starts with c as
// encoding/json's UnmarshalTypeError does.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "number"
}

// decodeEnvelope parses and validates one native envelope.
func decodeEnvelope(body []byte) (*Event, error) {
	var ev Event
	if err := ev.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	// Either path read the payload as valid JSON already.
	if err := ev.validateFields(); err != nil {
		return nil, err
	}
	return &ev, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, jsonReason(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		if want == '{' {
			return fmt.Errorf("%w: not a JSON object", ErrInvalidEvent)
		}
		return fmt.Errorf("%w: expected %q", ErrInvalidEvent, want)
	}
	return nil
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidEvent, jsonReason(err))
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: malformed object", ErrInvalidEvent)
	}
	return key, nil
}

// expectEOF rejects anything but white space after the value.
func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrInvalidEvent)
	}
	return nil
}

// jsonReason shortens encoding/json errors into a reason that never quotes
// more than a little of the input.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "wrong JSON type (" + te.Value + ")"
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "unexpected end of JSON"
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return "time is not RFC 3339"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
