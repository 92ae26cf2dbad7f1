package listener

import (
	"context"
	"reflect"
)

// WithClockForTest exposes withClock to the external tests.
var WithClockForTest = withClock

// Unexported names the external tests still check.
var (
	AllForTest           = allOf
	ParseHTTPForTest     = parseHTTP
	ValidateTopicForTest = validateTopic
	ErrNilHandlerForTest = errNilHandler
)

// Content types the external tests send.
const (
	ContentTypeCloudEventsForTest      = contentTypeCloudEvents
	ContentTypeCloudEventsBatchForTest = contentTypeCloudEventsBatch
)

// MemoryCursorForTest and FeedFuncForTest are the Poller's own cursor and
// a Feed from a function.
type (
	MemoryCursorForTest = memoryCursor
	FeedFuncForTest     = feedFunc
)

// DecodePayloadForTest calls decodePayload.
func DecodePayloadForTest[T any](ev *Event) (T, error) {
	return decodePayload[T](ev.Payload, reflect.TypeFor[T]().String())
}

// feedFunc adapts a function to a [Feed].
type feedFunc func(ctx context.Context, cursor string) ([]Event, string, error)

// Fetch calls f(ctx, cursor).
func (f feedFunc) Fetch(ctx context.Context, cursor string) ([]Event, string, error) {
	return f(ctx, cursor)
}
