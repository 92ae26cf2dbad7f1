package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
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
	if err := l.Dispatch(context.Background(), listenertest.NewEvent(t, "job:ready", jobReady{JobID: "j1", Priority: 2})); err != nil {
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
	if err := listener.Handle[jobReady](&l, "a:b", nil); !errors.Is(err, listener.ErrNilHandlerForTest) {
		t.Fatalf("nil typed handler: %v", err)
	}
	if err := listener.Handle(&l, "bad", func(context.Context, *listener.Event, jobReady) error { return nil }); !errors.Is(err, sender.ErrInvalidPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
}

func TestDecodePayload(t *testing.T) {
	v, err := listener.DecodePayloadForTest[jobReady](&listener.Event{Payload: json.RawMessage(`{"jobId":"x"}`)})
	if err != nil || v.JobID != "x" {
		t.Fatalf("got %+v, %v", v, err)
	}
}

// TestHandleRefusesBeforeAnyHandler is the newcomer's case: a typed
// handler on job:ready whose Validate fails, and a sibling Forward on
// job:*. The event is answered 400 and nothing is delivered: the payload is
// checked before any handler runs, the Forward registered first included.
func TestHandleRefusesBeforeAnyHandler(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	l := listener.New()
	mustOn(t, l, "job:*", listener.Forward(rcv.Sender(), rcv.Destination(nil)))
	typed := 0
	if err := listener.Handle(l, "job:ready", func(context.Context, *listener.Event, jobReady) error { typed++; return nil }); err != nil {
		t.Fatal(err)
	}
	mustOn(t, l, "**", func(context.Context, *listener.Event) error { typed++; return nil })
	h := &listener.HTTPHandler{Dispatcher: l}
	if w := post(h, jsonHeader(), `{"id":"evt_1","topic":"job:ready","payload":{"priority":1}}`); w.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", w.Code)
	}
	if typed != 0 || len(rcv.Deliveries()) != 0 {
		t.Fatalf("refused event ran %d handlers and made %d deliveries, want none", typed, len(rcv.Deliveries()))
	}
	// A valid payload runs every handler, the typed one with the value
	// decoded before dispatch.
	if w := post(h, jsonHeader(), `{"id":"evt_2","topic":"job:ready","payload":{"jobId":"j2"}}`); w.Code/100 != 2 {
		t.Fatalf("status %d, want 2xx", w.Code)
	}
	if typed != 2 || len(rcv.Deliveries()) != 1 {
		t.Fatalf("valid event: %d handlers, %d deliveries; want 2 and 1", typed, len(rcv.Deliveries()))
	}
	// A typed handler a filter turns away does not check the payload.
	l2 := listener.New()
	if err := listener.Handle(l2, "job:ready", func(context.Context, *listener.Event, jobReady) error { return nil },
		func(ev *listener.Event) bool { return ev.ID != "skip" }); err != nil {
		t.Fatal(err)
	}
	mustOn(t, l2, "job:*", func(context.Context, *listener.Event) error { return nil })
	if err := l2.Dispatch(context.Background(), &listener.Event{ID: "skip", Topic: "job:ready", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatalf("filtered-out typed handler refused the event: %v", err)
	}
}

// TestHandleDecodesOnce: two typed handlers of one type see one decode, a
// second type decodes on its own, and a panicking Validate is ErrPanic.
func TestHandleDecodesOnce(t *testing.T) {
	decodes = 0
	l := listener.New()
	var got []int
	for range 2 {
		if err := listener.Handle(l, "n:*", func(_ context.Context, _ *listener.Event, c counted) error { got = append(got, c.N); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := listener.Handle(l, "n:set", func(_ context.Context, _ *listener.Event, p ptrValidated) error { got = append(got, p.N); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Dispatch(context.Background(), &listener.Event{ID: "1", Topic: "n:set", Payload: json.RawMessage(`{"N":3}`)}); err != nil {
		t.Fatal(err)
	}
	if decodes != 1 || len(got) != 3 || got[0] != 3 || got[2] != 3 {
		t.Fatalf("decodes %d, got %v", decodes, got)
	}
	err := l.Dispatch(context.Background(), &listener.Event{ID: "2", Topic: "n:set", Payload: json.RawMessage(`{"N":-7}`)})
	if !errors.Is(err, listener.ErrPanic) || len(got) != 3 {
		t.Fatalf("panicking Validate: %v, handlers ran %d times", err, len(got)-3)
	}
}

var decodes int

type counted struct{ N int }

func (c counted) Validate() error {
	decodes++
	if c.N == -7 {
		panic("seven")
	}
	return nil
}

type transfer struct {
	Amount int `json:"amount"`
}

func (t transfer) Validate() error {
	if t.Amount <= 0 {
		return errors.New("amount must be positive")
	}
	return nil
}

// TestHandleRefusesFoldedKeys: a payload whose object holds a key twice,
// or two keys that differ only in case, is refused before any handler
// runs. encoding/json decodes the last of them into the field, so Validate
// passed {"amount":-5000,"AMOUNT":1} as 1 while ForwardPayload sent bytes
// whose "amount", to a reader matching keys exactly, is -5000.
func TestHandleRefusesFoldedKeys(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	l := listener.New()
	if err := listener.Handle(l, "pay:sent", func(context.Context, *listener.Event, transfer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mustOn(t, l, "pay:*", listener.ForwardPayload(rcv.Sender(), rcv.Destination(nil)))
	h := &listener.HTTPHandler{Dispatcher: l}
	for i, payload := range []string{
		`{"amount":-5000,"AMOUNT":1}`,
		`{"amount":-5000,"\u0041mount":1}`,
		`{"amount":-5000,"amount":1}`,
		`{"amount":1,"inner":{"k":1,"\u212a":2}}`, // the Kelvin sign folds to k, in a nested object too
	} {
		body := `{"id":"e` + string(rune('0'+i)) + `","topic":"pay:sent","payload":` + payload + `}`
		if w := post(h, jsonHeader(), body); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "only in case") {
			t.Errorf("payload %s: %d %q, want 400", payload, w.Code, w.Body.String())
		}
	}
	if w := post(h, jsonHeader(), `{"id":"ok","topic":"pay:sent","payload":{"amount":7,"inner":{"k":1,"K2":2}}}`); w.Code/100 != 2 {
		t.Errorf("a plain payload: %d %q", w.Code, w.Body.String())
	}
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("%d deliveries, want the plain payload's alone", n)
	}
}
