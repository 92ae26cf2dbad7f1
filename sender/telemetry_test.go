package sender_test

import (
	"context"
	"crypto/tls"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/telemetry/telemetrytest"
	"github.com/heraldhq/herald/sender"
)

const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// traceServer answers 503 to the first request and 204 afterwards, and
// keeps the traceparent header of every request.
func traceServer(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Traceparent"))
		mu.Unlock()
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func tracedSender(srv *httptest.Server) *sender.Sender {
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return &sender.Sender{
		TLS:           &tls.Config{RootCAs: roots},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry:         sender.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond},
	}
}

// observedSender is tracedSender recording its spans in rec and its
// metrics in reader, its connections closed when t ends.
func observedSender(t *testing.T, srv *httptest.Server) (s *sender.Sender, rec *tracetest.SpanRecorder, reader *sdkmetric.ManualReader) {
	rec, reader = tracetest.NewSpanRecorder(), sdkmetric.NewManualReader()
	s = tracedSender(srv)
	s.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(s.CloseIdleConnections)
	return s, rec, reader
}

func TestSendSpansAndMetrics(t *testing.T) {
	srv, headers := traceServer(t)
	s, rec, reader := observedSender(t, srv)

	ctx := telemetry.WithTraceparent(context.Background(), incoming)
	dest := sender.Destination{Name: "acme", URL: srv.URL + "/hook?token=s3cret", Signer: newTestScheme()}
	if _, err := s.Send(ctx, dest, sender.Message{ID: "d-1", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want a send span and two attempt spans", len(spans))
	}
	var send sdktrace.ReadOnlySpan
	var attempts []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		switch sp.Name() {
		case "herald.send":
			send = sp
		case "herald.attempt":
			attempts = append(attempts, sp)
		default:
			t.Fatalf("unexpected span %q", sp.Name())
		}
	}
	if send == nil || len(attempts) != 2 {
		t.Fatalf("span tree: send %v, %d attempts", send != nil, len(attempts))
	}
	if got := send.Parent().SpanID().String(); got != "00f067aa0ba902b7" || send.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("the send span does not continue the caller's trace: parent %s", got)
	}
	sent := headers()
	for i, a := range attempts {
		if a.Parent().SpanID() != send.SpanContext().SpanID() {
			t.Errorf("attempt %d is not a child of the send span", i+1)
		}
		attrs := attrMap(a.Attributes())
		if attrs["herald.attempt"] != int64(i+1) || attrs["herald.destination"] != "acme" || attrs["herald.delivery.id"] != "d-1" {
			t.Errorf("attempt %d attributes: %v", i+1, attrs)
		}
		want := []int64{503, 204}[i]
		if attrs["http.response.status_code"] != want {
			t.Errorf("attempt %d status %v, want %d", i+1, attrs["http.response.status_code"], want)
		}
		if _, ok := attrs["herald.retry.wait_seconds"]; ok != (i == 0) {
			t.Errorf("attempt %d: retry wait present %v", i+1, ok)
		}
		if sent[i] != telemetry.Traceparent(a.SpanContext()) {
			t.Errorf("request %d carried traceparent %q, want the attempt span's %q", i+1, sent[i], telemetry.Traceparent(a.SpanContext()))
		}
		if strings.Contains(a.Status().Description, "s3cret") {
			t.Errorf("attempt %d status leaks the query string: %s", i+1, a.Status().Description)
		}
		for _, kv := range a.Attributes() {
			if strings.Contains(kv.Value.Emit(), "s3cret") || strings.Contains(kv.Value.Emit(), "127.0.0.1") {
				t.Errorf("attribute %s leaks the URL: %s", kv.Key, kv.Value.Emit())
			}
		}
	}

	checkRetriedMetrics(t, reader, "acme")
}

// checkRetriedMetrics checks the metrics of a Send to traceServer's
// receiver, labelled dest: one attempt of each status, 503 then 204, and
// both in the duration histogram.
func checkRetriedMetrics(t *testing.T, reader *sdkmetric.ManualReader, dest string) {
	t.Helper()
	want := map[string]int64{
		"herald_delivery_attempts_total{code=503,destination=" + dest + "}": 1,
		"herald_delivery_attempts_total{code=204,destination=" + dest + "}": 1,
		"herald_delivery_duration_seconds{destination=" + dest + "}":        2,
	}
	if got := telemetrytest.Points(t, reader); !maps.Equal(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// A destination without a Name is labelled "" in metrics and spans, never
// by its URL: a path names a tenant or holds a token, and a label per URL
// would add a metric series for every endpoint ever sent to.
func TestSendTelemetryOfUnnamedDestination(t *testing.T) {
	srv, _ := traceServer(t)
	s, rec, reader := observedSender(t, srv)

	dest := sender.Destination{URL: srv.URL + "/tenant-1234/hook", Signer: newTestScheme()}
	if _, err := s.Send(context.Background(), dest, sender.Message{ID: "d-1", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, sp := range rec.Ended() {
		for _, kv := range sp.Attributes() {
			if v := kv.Value.Emit(); strings.Contains(v, "tenant-1234") || strings.Contains(v, "127.0.0.1") {
				t.Errorf("span %s attribute %s holds the URL: %s", sp.Name(), kv.Key, v)
			}
		}
		if got := attrMap(sp.Attributes())["herald.destination"]; got != "" {
			t.Errorf("span %s: herald.destination %q, want \"\"", sp.Name(), got)
		}
	}
	checkRetriedMetrics(t, reader, "")

	// A failed Send's span carries the failure, but not the error's
	// "to <URL>": the destination is already an attribute.
	srv2, _ := traceServer(t) // its first answer is 503
	s2, rec2, _ := observedSender(t, srv2)
	s2.Retry.MaxAttempts = 1
	dest2 := sender.Destination{URL: srv2.URL + "/tenant-1234/hook", Signer: newTestScheme()}
	if _, err := s2.Send(context.Background(), dest2, sender.Message{ID: "d-2", Body: []byte(`{}`)}); err == nil {
		t.Fatal("Send succeeded against a 503")
	}
	for _, sp := range rec2.Ended() {
		d := sp.Status().Description
		if d == "" || strings.Contains(d, "tenant-1234") || strings.Contains(d, "127.0.0.1") {
			t.Errorf("span %s status %q: want the failure without the URL", sp.Name(), d)
		}
	}
}

// Without any provider configured (the otel globals unset), no span is
// made, and every request carries the caller's traceparent as it came.
func TestSendCarriesTraceparentWithoutTracing(t *testing.T) {
	srv, headers := traceServer(t)
	s := tracedSender(srv)
	defer s.CloseIdleConnections()
	ctx := telemetry.WithTraceparent(context.Background(), incoming)
	if _, err := s.Send(ctx, sender.Destination{Name: "acme", URL: srv.URL}, sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if got := headers(); len(got) != 2 || got[0] != incoming || got[1] != incoming {
		t.Fatalf("traceparent headers %q, want the caller's on both attempts", got)
	}
	// And none at all when the caller has no trace.
	srv2, headers2 := traceServer(t)
	s2 := tracedSender(srv2)
	defer s2.CloseIdleConnections()
	if _, err := s2.Send(context.Background(), sender.Destination{URL: srv2.URL}, sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if got := headers2(); len(got) != 2 || got[0] != "" || got[1] != "" {
		t.Fatalf("traceparent headers %q without a trace, want none", got)
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// BenchmarkSendTelemetry compares, in one run, Send with no provider (the
// otel globals unset: the default) against Send with an SDK tracer and
// meter whose spans go nowhere, to show what turning telemetry on costs:
//
//	go test -run '^$' -bench SendTelemetry -benchmem ./sender/
func BenchmarkSendTelemetry(b *testing.B) {
	srv := benchServer(b)
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := tracedSender(srv)
			if on {
				s.TracerProvider = sdktrace.NewTracerProvider()
				s.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			}
			b.Cleanup(s.CloseIdleConnections)
			dest := sender.Destination{Name: "bench", URL: srv.URL}
			ctx := telemetry.WithTraceparent(context.Background(), incoming)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Send(ctx, dest, sender.Message{Body: benchBody}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
