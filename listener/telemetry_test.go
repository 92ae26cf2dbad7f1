package listener_test

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/heraldhq/herald/internal/telemetry/telemetrytest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00-" + incomingTrace + "-00f067aa0ba902b7-01"
	ceTrace        = "0af7651916cd43dd8448eb211c80319c"
	ceParent       = "00-" + ceTrace + "-b7ad6b7169203331-01"
)

func postEvent(t *testing.T, h http.Handler, contentType, body string, header http.Header) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	return rw.Code
}

// An event's trace context, from the traceparent header or from the
// CloudEvents extension, is the parent of its "herald.event" span and
// reaches the webhooks that Forward sends; events are counted by outcome.
func TestListenerTelemetry(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	l := listener.New(listener.WithTelemetry(
		sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
		sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	dest := rcv.Destination(nil)
	dest.Name = "acme"
	if err := l.On("**", listener.Forward(rcv.Sender(), dest)); err != nil {
		t.Fatal(err)
	}
	h := &listener.HTTPHandler{Dispatcher: l}
	if code := postEvent(t, h, "application/json", `{"id":"e1","topic":"job:ready"}`, http.Header{"Traceparent": {incomingParent}}); code != http.StatusNoContent {
		t.Fatalf("envelope: %d", code)
	}
	ce := `{"specversion":"1.0","id":"e2","type":"job:done","source":"/x","traceparent":"` + ceParent + `","data":{}}`
	if code := postEvent(t, h, "application/cloudevents+json", ce, nil); code != http.StatusNoContent {
		t.Fatalf("cloudevent: %d", code)
	}
	if code := postEvent(t, h, "application/json", `{"id":`, nil); code != http.StatusBadRequest {
		t.Fatalf("malformed: %d", code)
	}
	ds, err := rcv.WaitFor(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	traces := map[string]bool{}
	for _, d := range ds {
		parts := strings.Split(d.Header.Get("Traceparent"), "-")
		if len(parts) != 4 {
			t.Fatalf("webhook %s has no traceparent", d.ID)
		}
		traces[parts[1]] = true
	}
	if !traces[incomingTrace] || !traces[ceTrace] {
		t.Fatalf("webhooks continued traces %v, want %s (header) and %s (CloudEvents extension)", traces, incomingTrace, ceTrace)
	}
	events := 0
	for _, sp := range rec.Ended() {
		if sp.Name() != "herald.event" {
			continue
		}
		events++
		want := map[string]string{"e1": "00f067aa0ba902b7", "e2": "b7ad6b7169203331"}
		var id string
		for _, kv := range sp.Attributes() {
			if kv.Key == "herald.event.id" {
				id = kv.Value.AsString()
			}
		}
		if got := sp.Parent().SpanID().String(); got != want[id] || !sp.Parent().IsRemote() {
			t.Errorf("event %s span parent %s, want the remote %s", id, got, want[id])
		}
	}
	if events != 2 {
		t.Fatalf("%d event spans, want 2", events)
	}
	want := map[string]int64{"herald_events_received_total{outcome=handled}": 2, "herald_events_received_total{outcome=rejected}": 1}
	if got := telemetrytest.Points(t, reader); !maps.Equal(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// The traceparent of an event posted to the HTTPHandler reaches the
// webhook at a real HTTPS receiver through a bbolt outbox, with the
// process's queue and store closed and reopened in between, with no
// OpenTelemetry provider configured at all.
func TestTraceparentThroughBoltRestart(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	dest.Name = "acme"
	path := filepath.Join(t.TempDir(), "outbox.db")

	store, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &outbox.Queue{Outbox: store, Sender: rcv.Sender(), Destinations: []sender.Destination{dest}}
	l := listener.New()
	if err := l.On("**", listener.Forward(q, dest)); err != nil {
		t.Fatal(err)
	}
	h := &listener.HTTPHandler{Dispatcher: l}
	if code := postEvent(t, h, "application/json", `{"id":"e1","topic":"job:ready"}`, http.Header{"Traceparent": {incomingParent}}); code != http.StatusNoContent {
		t.Fatalf("post: %d", code)
	}
	if err := store.Close(); err != nil { // the queue never ran: a stop before any attempt
		t.Fatal(err)
	}

	store, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	q = &outbox.Queue{Outbox: store, Sender: rcv.Sender(), Destinations: []sender.Destination{dest}}
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background()) }()
	ds, err := rcv.WaitFor(1, 10*time.Second)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = q.Shutdown(sctx)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if got := ds[0].Header.Get("Traceparent"); got != incomingParent {
		t.Fatalf("webhook traceparent %q after a restart, want the incoming %q", got, incomingParent)
	}
	if !bytes.Contains(ds[0].Body, []byte(`"e1"`)) {
		t.Fatalf("webhook body %s is not the event", ds[0].Body)
	}
}
