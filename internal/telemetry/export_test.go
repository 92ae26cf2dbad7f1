package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSetErrorExports: an error whose text has a multi-byte character
// across the cut, or bytes that are not UTF-8 (a handler's error may quote
// anything), used to leave a status text that is not UTF-8. OTLP carries
// it as a protobuf string, which must be: the exporter then refused the
// whole batch, every span exported with it lost.
func TestSetErrorExports(t *testing.T) {
	var got atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got.Add(1)
	}))
	defer collector.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(collector.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	for _, err := range []error{
		errors.New(strings.Repeat("x", maxStatusText-1) + "é"),
		errors.New("handler failed: \xff\xfe"),
	} {
		_, span := tracer.Start(context.Background(), "s")
		SetError(span, err)
		span.End()
	}
	if err := exp.ExportSpans(context.Background(), rec.Ended()); err != nil {
		t.Fatalf("export of the spans: %v", err)
	}
	if got.Load() != 1 {
		t.Fatalf("the collector got %d requests; want 1", got.Load())
	}
}
