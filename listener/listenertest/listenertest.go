// Package listenertest helps unit-test code built on package listener:
// build an event from a topic and a Go value, to pass to
// [listener.Listener.Dispatch], and record which handlers ran. A Recorder
// starts afresh when set to its zero value.
package listenertest

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/listener"
)

// NewEvent returns a valid event for topic with a fresh id, CreatedAt now
// and v encoded as its JSON payload (a nil v leaves the payload empty). It
// fails tb if the event would be invalid or v does not encode.
func NewEvent(tb testing.TB, topic string, v any) *listener.Event {
	tb.Helper()
	ev := &listener.Event{ID: uuid.NewString(), Topic: topic, CreatedAt: time.Now().UTC()}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatalf("listenertest: encoding payload: %v", err)
		}
		ev.Payload = b
	}
	if err := ev.Validate(); err != nil {
		tb.Fatalf("listenertest: %v", err)
	}
	return ev
}

// Recorder records the runs of the handlers it makes. Its zero value is
// ready to use; it is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	ran    []string
	events []*listener.Event
}

// Handler returns a handler that records its name and the event, then
// returns err.
func (r *Recorder) Handler(name string, err error) listener.Handler {
	return func(_ context.Context, ev *listener.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ran = append(r.ran, name)
		r.events = append(r.events, ev)
		return err
	}
}

// Ran returns the names of the handlers that ran, in order.
func (r *Recorder) Ran() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran)
}

// Events returns the events the handlers saw, in the order of [Recorder.Ran].
func (r *Recorder) Events() []*listener.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}
