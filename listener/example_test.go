package listener_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

func ExampleListener_On() {
	l := listener.New()
	_ = l.On("job:*", func(ctx context.Context, ev *listener.Event) error {
		fmt.Println("job event:", ev.Topic)
		return nil
	})
	_ = l.On("*:created", func(ctx context.Context, ev *listener.Event) error {
		fmt.Println("created in workbook", ev.Context["workbook"])
		return nil
	}, listener.ContextMatches("workbook", "wb_*"), listener.Field("record.status", "active"))

	// One grammar for every pattern: "job:**" is refused ("job:*" matches
	// every action of job), here as in a destination's Topics.
	if err := l.On("job:**", func(context.Context, *listener.Event) error { return nil }); err != nil {
		fmt.Println("refused:", errors.Is(err, sender.ErrInvalidPattern))
	}
	_ = l.Dispatch(context.Background(), &listener.Event{ID: "1", Topic: "job:ready"})
	_ = l.Dispatch(context.Background(), &listener.Event{
		ID: "2", Topic: "records:created",
		Context: map[string]string{"workbook": "wb_7"},
		Payload: []byte(`{"record":{"status":"active"}}`),
	})
	// Output:
	// refused: true
	// job event: job:ready
	// created in workbook wb_7
}

type JobReady struct {
	JobID string `json:"jobId"`
}

func (j JobReady) Validate() error {
	if j.JobID == "" {
		return errors.New("jobId is required")
	}
	return nil
}

func ExampleHandle() {
	l := listener.New()
	_ = listener.Handle(l, "job:ready", func(ctx context.Context, ev *listener.Event, job JobReady) error {
		fmt.Println("run", job.JobID)
		return nil
	})
	_ = l.Dispatch(context.Background(), &listener.Event{ID: "1", Topic: "job:ready", Payload: []byte(`{"jobId":"j42"}`)})
	err := l.Dispatch(context.Background(), &listener.Event{ID: "2", Topic: "job:ready", Payload: []byte(`{}`)})
	fmt.Println(errors.Is(err, listener.ErrInvalidPayload), listener.IsPermanent(err))
	// Output:
	// run j42
	// true true
}

func ExampleForward() {
	signer, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("an-outbound-secret-of-32-bytes!!"))})
	if err != nil {
		panic(err)
	}
	dest := sender.Destination{Name: "billing", URL: "https://billing.example.com/webhooks", Signer: signer}

	l := listener.New()
	// In process: sent before the handler returns, not durable.
	_ = l.On("job:*", listener.Forward(&sender.Sender{}, dest))
	// Durable: committed to the queue's outbox (a boltstore file in
	// production) before the event is acknowledged, sent by queue.Run.
	queue := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{dest}}
	_ = l.On("invoice:*", listener.Forward(queue, dest))
	// Every job and invoice event now reaches billing as a signed webhook
	// whose webhook-id is stable across redeliveries of the same event:
	ev := &listener.Event{ID: "evt_1", Topic: "job:done"}
	fmt.Println(listener.DeliveryID(ev, "billing") == listener.DeliveryID(ev, "billing"))
	// Output: true
}

func ExampleHTTPHandler() {
	verifier, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("an-inbound-secret-of-32-bytes!!!"))})
	if err != nil {
		panic(err)
	}
	l := listener.New()
	_ = l.On("records:*", func(ctx context.Context, ev *listener.Event) error {
		fmt.Println("got", ev.ID, ev.Topic)
		return nil
	})
	h := &listener.HTTPHandler{Dispatcher: l, Verifier: verifier}
	// In production: http.ListenAndServe(":8080", h), or
	// l.Run(ctx, &listener.HTTPServer{Addr: ":8080", Handler: *h}), with
	// TLSConfig for HTTPS; the verifier checks signatures and timestamps,
	// and listener.New(listener.WithDedupe(0, 0)) skips replayed events.

	body := `{"id":"evt_1","topic":"records:created","payload":{"id":"r1"}}`
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	_ = verifier.Sign(req.Header, auth.Message{ID: "msg_1", Body: []byte(body)})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Println(w.Code)

	unsigned := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, unsigned)
	fmt.Println(w.Code)
	// Output:
	// got evt_1 records:created
	// 204
	// 401
}
