package listener_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
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
		`{"jobId":"x","N":1e400}`, `"str"`, `{"JOBID":"x"}`, "{\"jobId\":\"x\xff\"}",
		`{"jobId":"","JobId":"x"}`, `{"jobId":"x","N":1,"n":-1}`, `{"a":{"b":1,"B":2},"jobId":"x"}`} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var job jobReady
		var ptr *ptrValidated
		want := len(payload) > 0 && json.Unmarshal(payload, &job) == nil && job.Validate() == nil &&
			json.Unmarshal(payload, &ptr) == nil && ptr != nil && ptr.Validate() == nil && !keysFold(payload)

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

// keysFold reports whether an object in the JSON document data has two
// keys that strings.EqualFold equates (the same key twice included): the
// payloads Handle refuses, since encoding/json reads one for a struct
// field and a reader matching keys exactly another. It compares every
// pair, as the test's own oracle.
func keysFold(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var objects [][]string // the keys seen of each open object; nil for an array
	var inObject []bool
	expectKey := []bool{}
	for {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		n := len(inObject) - 1
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				inObject = append(inObject, d == '{')
				objects = append(objects, nil)
				expectKey = append(expectKey, d == '{')
				continue
			}
			inObject, objects, expectKey = inObject[:n], objects[:n], expectKey[:n]
		} else if k, ok := t.(string); ok && n >= 0 && inObject[n] && expectKey[n] {
			for _, seen := range objects[n] {
				if strings.EqualFold(seen, k) {
					return true
				}
			}
			objects[n] = append(objects[n], k)
			expectKey[n] = false
			continue
		}
		if n = len(inObject) - 1; n >= 0 && inObject[n] {
			expectKey[n] = true
		}
	}
}
