package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
	"github.com/heraldhq/herald/sender"
)

type jobReady struct {
	JobID    string `json:"jobId"`
	Priority int    `json:"priority"`
}

var errNoJobID = errors.New("jobId is required")

func (j jobReady) Validate() error {
	if j.JobID == "" {
		return errNoJobID
	}
	return nil
}

type ptrValidated struct{ N int }

func (p *ptrValidated) Validate() error {
	if p.N < 0 {
		return errors.New("negative")
	}
	return nil
}

func TestHandleTyped(t *testing.T) {
	var l listener.Listener
	var got []jobReady
	err := listener.Handle(&l, "job:ready", func(_ context.Context, ev *listener.Event, j jobReady) error {
		got = append(got, j)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := listenertest.Dispatch(t, &l, "job:ready", jobReady{JobID: "j1", Priority: 2}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].JobID != "j1" || got[0].Priority != 2 {
		t.Fatalf("got %+v", got)
	}

	for _, tc := range []struct {
		name    string
		payload string
		reason  string
	}{
		{"missing payload", "", "no payload"},
		{"wrong type", `{"jobId":7}`, "wrong JSON type"},
		{"not an object", `[1,2]`, "wrong JSON type"},
		{"validation fails", `{"priority":1}`, "jobId is required"},
	} {
		ev := &listener.Event{ID: "e", Topic: "job:ready"}
		if tc.payload != "" {
			ev.Payload = json.RawMessage(tc.payload)
		}
		err := l.Dispatch(context.Background(), ev)
		if !errors.Is(err, listener.ErrInvalidPayload) || !listener.IsPermanent(err) {
			t.Errorf("%s: got %v, want permanent ErrInvalidPayload", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.reason)
		}
	}
	if len(got) != 1 {
		t.Fatalf("handler ran on invalid payloads: %+v", got)
	}
	// The validation error itself stays matchable.
	err = l.Dispatch(context.Background(), &listener.Event{ID: "e", Topic: "job:ready", Payload: json.RawMessage(`{}`)})
	if !errors.Is(err, errNoJobID) {
		t.Fatalf("validation error lost: %v", err)
	}
}

func TestHandlePointerTypes(t *testing.T) {
	var l listener.Listener
	ran := 0
	if err := listener.Handle(&l, "a:b", func(_ context.Context, _ *listener.Event, p *ptrValidated) error { ran++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := listener.Handle(&l, "c:d", func(_ context.Context, _ *listener.Event, p ptrValidated) error { ran++; return nil }); err != nil {
		t.Fatal(err)
	}
	dispatch := func(topic, payload string) error {
		return l.Dispatch(context.Background(), &listener.Event{ID: "e", Topic: topic, Payload: json.RawMessage(payload)})
	}
	if err := dispatch("a:b", `{"N":1}`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][2]string{{"a:b", `{"N":-1}`}, {"a:b", `null`}, {"c:d", `{"N":-1}`}} {
		if err := dispatch(tc[0], tc[1]); !errors.Is(err, listener.ErrInvalidPayload) {
			t.Errorf("%v: got %v", tc, err)
		}
	}
	if err := dispatch("c:d", `{"N":0}`); err != nil {
		t.Fatal(err)
	}
	if ran != 2 {
		t.Fatalf("ran %d, want 2", ran)
	}
	if err := listener.Handle[jobReady](&l, "a:b", nil); !errors.Is(err, listener.ErrNilHandler) {
		t.Fatalf("nil typed handler: %v", err)
	}
	if err := listener.Handle(&l, "bad", func(context.Context, *listener.Event, jobReady) error { return nil }); !errors.Is(err, sender.ErrInvalidPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
}

func TestDecodePayload(t *testing.T) {
	v, err := listener.DecodePayload[jobReady](&listener.Event{Payload: json.RawMessage(`{"jobId":"x"}`)})
	if err != nil || v.JobID != "x" {
		t.Fatalf("got %+v, %v", v, err)
	}
}
