package outbox_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/telemetry/telemetrytest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// meteredReceiver returns a sendertest receiver, a Sender for it whose
// meter provider records into the returned manual reader, and the reader.
func meteredReceiver(t *testing.T) (*sendertest.Receiver, *sender.Sender, *sdkmetric.ManualReader) {
	t.Helper()
	rcv := sendertest.NewReceiver(t, nil)
	reader := sdkmetric.NewManualReader()
	s := rcv.Sender()
	s.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	return rcv, s, reader
}

// TestMetricsHookAfterOtel checks the order in which a Queue hands a
// sample to its metrics: OpenTelemetry's instruments first, then the
// Metrics hook. A test or a readiness check that waits on its hook then
// finds the sample counted in the instruments too; in the other order
// TestQueueSpansAndMetrics failed now and then. The hook holds the
// delivery's sample while the test reads the instruments.
func TestMetricsHookAfterOtel(t *testing.T) {
	rcv, s, reader := meteredReceiver(t)
	hook := &holdingHook{seen: make(chan struct{}, 1), resume: make(chan struct{})}
	q := &outbox.Queue{
		Outbox: outbox.NewMemory(), Sender: s, Metrics: hook, Poll: 10 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "ok", URL: rcv.URL()}},
	}
	if _, err := q.Enqueue(context.Background(), "ok", sender.Message{ID: "m", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	queuetest.Run(t, q)
	t.Cleanup(hook.release) // before the Queue's shutdown, which waits for the hook
	select {
	case <-hook.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the Metrics hook never saw the delivery")
	}
	key := "herald_deliveries_total{destination=ok,outcome=delivered}"
	if got := telemetrytest.Points(t, reader)[key]; got != 1 {
		t.Errorf("while the hook held the delivery's sample, %s = %d, want 1", key, got)
	}
}

// holdingHook is a Metrics hook that, on the first Delivered sample,
// signals seen and waits for release.
type holdingHook struct {
	seen, resume chan struct{}
	once         sync.Once
}

func (h *holdingHook) Observe(s outbox.Sample) {
	if s.Outcome != outbox.Delivered {
		return
	}
	select {
	case h.seen <- struct{}{}:
		<-h.resume
	default:
	}
}

func (*holdingHook) Depth(outbox.Stats, int) {}

func (h *holdingHook) release() { h.once.Do(func() { close(h.resume) }) }

// The span tree of a delivery through the outbox: the enqueuing (event)
// span links the "herald.delivery" span, its child; each attempt's
// "herald.send" span is a child of that delivery span, and the webhook
// carries the traceparent of its "herald.attempt" span. Metric values of
// every outcome are recorded under the fixed names.
func TestQueueSpansAndMetrics(t *testing.T) {
	ok, s, reader := meteredReceiver(t) // s trusts down too: httptest's servers share a certificate
	down := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return http.StatusServiceUnavailable, nil, nil
	}))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s.Retry.MaxAttempts = 1
	s.TracerProvider = tp
	c := &counter{}
	q := &outbox.Queue{
		Outbox: outbox.NewMemory(), Sender: s, Metrics: c, Poll: 10 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "ok", URL: ok.URL()}, {Name: "down", URL: down.URL()}},
		Schedule:     outbox.Schedule{Delays: []time.Duration{0, time.Millisecond}, Jitter: -1},
	}
	evCtx, ev := tp.Tracer("test").Start(context.Background(), "event")
	err := q.Deliver(evCtx, q.Destinations, []sender.Message{{ID: "d-ok", Body: []byte(`{}`)}, {ID: "d-down", Body: []byte(`{}`)}})
	ev.End()
	if err != nil {
		t.Fatal(err)
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "one delivery and one dead letter", func() bool {
		return c.get(outbox.Delivered) == 1 && c.get(outbox.DeadLettered) == 1
	})

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		byName[sp.Name()] = append(byName[sp.Name()], sp)
	}
	event := byName["event"][0]
	deliveries := byName["herald.delivery"]
	if len(deliveries) != 2 || len(event.Links()) != 2 {
		t.Fatalf("%d delivery spans, %d links from the event span; want 2 and 2", len(deliveries), len(event.Links()))
	}
	linked := map[string]bool{}
	for _, l := range event.Links() {
		linked[l.SpanContext.SpanID().String()] = true
	}
	for _, d := range deliveries {
		if d.Parent().SpanID() != event.SpanContext().SpanID() || !linked[d.SpanContext().SpanID().String()] {
			t.Errorf("delivery span %v is not a child of the event span linked from it", d.Attributes())
		}
	}
	// 1 attempt to ok, 2 to down (retry_scheduled, then dead_letter),
	// each numbered.
	if n := len(byName["herald.send"]); n != 3 {
		t.Fatalf("%d send spans, want 3", n)
	}
	numbers := map[string]int64{}
	for _, sp := range byName["herald.send"] {
		var dest string
		var n int64
		for _, kv := range sp.Attributes() {
			switch kv.Key {
			case "herald.destination":
				dest = kv.Value.AsString()
			case "herald.outbox.attempt":
				n = kv.Value.AsInt64()
			}
		}
		numbers[dest] += n
	}
	if numbers["ok"] != 1 || numbers["down"] != 1+2 {
		t.Errorf("outbox attempt numbers summed per destination %v, want ok 1, down 1+2", numbers)
	}
	attemptTP := map[string]bool{}
	for _, a := range byName["herald.attempt"] {
		attemptTP[telemetry.Traceparent(a.SpanContext())] = true
	}
	for _, sp := range byName["herald.send"] {
		ok := false
		for _, d := range deliveries {
			ok = ok || sp.Parent().SpanID() == d.SpanContext().SpanID()
		}
		if !ok {
			t.Errorf("send span is not a child of a delivery span")
		}
	}
	for _, d := range append(ok.Deliveries(), down.Deliveries()...) {
		if tp := d.Header.Get("Traceparent"); !attemptTP[tp] {
			t.Errorf("request %s carried %q, not its attempt span's traceparent", d.ID, tp)
		}
	}

	queuetest.WaitFor(t, 5*time.Second, "a depth sample", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.depths > 0 })
	got := telemetrytest.Points(t, reader)
	for k, want := range map[string]int64{
		"herald_deliveries_total{destination=ok,outcome=delivered}":         1,
		"herald_deliveries_total{destination=down,outcome=retry_scheduled}": 1,
		"herald_deliveries_total{destination=down,outcome=dead_letter}":     1,
		"herald_delivery_attempts_total{code=200,destination=ok}":           1,
		"herald_delivery_attempts_total{code=503,destination=down}":         2,
		"herald_delivery_duration_seconds{destination=ok}":                  1,
		"herald_delivery_duration_seconds{destination=down}":                2,
	} {
		if got[k] != want {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], want, got)
		}
	}
	if _, ok := got["herald_outbox_pending{}"]; !ok {
		t.Errorf("herald_outbox_pending not recorded: %v", got)
	}
	if _, ok := got["herald_outbox_dead_letters{}"]; !ok {
		t.Errorf("herald_outbox_dead_letters not recorded: %v", got)
	}
}

// Without any provider, the enqueuing span context's traceparent is
// stored with the delivery and sent as it is.
func TestQueueCarriesTraceparentWithoutTracing(t *testing.T) {
	rx := sendertest.NewReceiver(t, nil)
	mem := outbox.NewMemory()
	q := &outbox.Queue{Outbox: mem, Sender: rx.Sender(), Poll: 10 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "ok", URL: rx.URL()}}}
	const in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if _, err := q.Enqueue(telemetry.WithTraceparent(context.Background(), in), "ok", sender.Message{ID: "d", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	ls, err := mem.Lease(context.Background(), outbox.LeaseOptions{Max: 1, TTL: time.Millisecond, Now: time.Now()})
	if err != nil || len(ls) != 1 || ls[0].TraceParent != in {
		t.Fatalf("stored %+v, %v; want the traceparent %s", ls, err, in)
	}
	time.Sleep(2 * time.Millisecond) // let the lease lapse
	queuetest.Run(t, q)
	ds, err := rx.WaitFor(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds[0].Header.Get("Traceparent"); len(ds) != 1 || got != in {
		t.Fatalf("%d webhooks, the first carried %q; want one, with the incoming traceparent", len(ds), got)
	}
}

// Through a Queue each attempt is one Send, so the Sender's "webhook
// failed" line says attempts=1 every time: it must also say which
// attempt of the outbox's schedule it was, as the span does, with
// tracing off too, or a delivery failing its 3rd of 19 attempts reads
// like one failing its first.
func TestSenderLogNamesTheOutboxAttempt(t *testing.T) {
	rx := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return http.StatusInternalServerError, nil, nil
	}))
	logs := &syncbuf.Buffer{}
	s := rx.Sender()
	s.Retry.MaxAttempts = 1
	s.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	mem := outbox.NewMemory()
	q := &outbox.Queue{Outbox: mem, Sender: s, Poll: 10 * time.Millisecond,
		Schedule:     outbox.Schedule{Delays: []time.Duration{0, time.Millisecond, time.Millisecond}, Jitter: -1},
		Destinations: []sender.Destination{{Name: "down", URL: rx.URL()}}}
	if _, err := q.Enqueue(context.Background(), "down", sender.Message{ID: "d", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { return stats(t, mem).Dead == 1 })
	var got []any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "webhook failed" {
			got = append(got, m["outbox_attempt"])
		}
	}
	if want := []any{1.0, 2.0, 3.0}; !slices.Equal(got, want) {
		t.Fatalf("the webhook failed lines name outbox attempts %v, want %v", got, want)
	}
}
