package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/heraldhq/herald/listener"
)

// FuzzHandlePayload: whatever payload an event carries, Dispatch to a
// Listener with two typed handlers (jobReady, validated by value, and
// *ptrValidated, by pointer) and "**" siblings registered before and
// after them never panics. A payload that both types decode and validate
// reaches each typed handler with the value json.Unmarshal gives, and the
// siblings run; any other is refused with a Permanent ErrInvalidPayload
// and runs no handler at all, typed or sibling.
func FuzzHandlePayload(f *testing.F) {
	for _, p := range []string{`{"jobId":"j1","priority":2}`, `{"jobId":"j1","N":-1}`, `{"priority":1}`, `null`, ``,
		` `, `{"jobId":7}`, `[1,2]`, `{"jobId":"a","jobId":""}`, `{"jobId":"\ud800"}`, `{"jobId":"x"} {}`,
		`{"jobId":"x","N":1e400}`, `"str"`, `{"JOBID":"x"}`, "{\"jobId\":\"x\xff\"}"} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var job jobReady
		var ptr *ptrValidated
		want := len(payload) > 0 && json.Unmarshal(payload, &job) == nil && job.Validate() == nil &&
			json.Unmarshal(payload, &ptr) == nil && ptr != nil && ptr.Validate() == nil

		l := listener.New()
		var siblings, typed int
		var gotJob jobReady
		var gotPtr *ptrValidated
		mustOn(t, l, "**", func(context.Context, *listener.Event) error { siblings++; return nil })
		if err := listener.Handle(l, "job:ready", func(_ context.Context, _ *listener.Event, v jobReady) error {
			typed++
			gotJob = v
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := listener.Handle(l, "job:*", func(_ context.Context, _ *listener.Event, v *ptrValidated) error {
			typed++
			gotPtr = v
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustOn(t, l, "**", func(context.Context, *listener.Event) error { siblings++; return nil })

		ev := &listener.Event{ID: "e", Topic: "job:ready"}
		if len(payload) > 0 {
			ev.Payload = json.RawMessage(payload)
		}
		err := l.Dispatch(context.Background(), ev)
		if !want {
			if !errors.Is(err, listener.ErrInvalidPayload) || !listener.IsPermanent(err) {
				t.Fatalf("payload %q: %v; want a Permanent ErrInvalidPayload", payload, err)
			}
			if typed != 0 || siblings != 0 {
				t.Fatalf("payload %q refused, yet %d typed and %d sibling handlers ran", payload, typed, siblings)
			}
			return
		}
		if err != nil {
			t.Fatalf("payload %q: %v", payload, err)
		}
		if typed != 2 || siblings != 2 || gotJob != job || gotPtr == nil || *gotPtr != *ptr {
			t.Fatalf("payload %q: %d typed, %d siblings ran with %+v, %+v; want 2, 2 with %+v, %+v",
				payload, typed, siblings, gotJob, gotPtr, job, ptr)
		}
	})
}
