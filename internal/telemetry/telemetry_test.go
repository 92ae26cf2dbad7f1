package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

const sample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceparentRoundTrip(t *testing.T) {
	sc, ok := Parse(sample)
	if !ok {
		t.Fatalf("Parse(%q) refused a valid traceparent", sample)
	}
	if got := Traceparent(sc); got != sample {
		t.Fatalf("Traceparent = %q, want %q", got, sample)
	}
	ctx := WithTraceparent(context.Background(), sample)
	if got := FromContext(ctx); got != sample {
		t.Fatalf("FromContext(WithTraceparent) = %q, want %q", got, sample)
	}
	if !trace.SpanContextFromContext(ctx).IsRemote() {
		t.Fatal("the carried span context is not marked remote")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		"", "00", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero span id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
	} {
		if _, ok := Parse(s); ok {
			t.Errorf("Parse(%q) accepted an invalid traceparent", s)
		}
		if got := FromContext(WithTraceparent(context.Background(), s)); got != "" {
			t.Errorf("WithTraceparent(%q) carried %q", s, got)
		}
	}
}

func TestExistingSpanContextWins(t *testing.T) {
	ctx := WithTraceparent(context.Background(), sample)
	other := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if got := FromContext(WithTraceparent(ctx, other)); got != sample {
		t.Fatalf("a second traceparent replaced the first: %q", got)
	}
}

func TestOffWhenUnsetOrNoop(t *testing.T) {
	if Tracer(nil) != nil || Meter(nil) != nil {
		t.Fatal("the unset otel globals turned telemetry on")
	}
	if Tracer(tracenoop.NewTracerProvider()) != nil || Tracer(&tracenoop.TracerProvider{}) != nil {
		t.Fatal("a noop TracerProvider turned tracing on")
	}
	if Meter(metricnoop.NewMeterProvider()) != nil || Meter(&metricnoop.MeterProvider{}) != nil {
		t.Fatal("a noop MeterProvider turned metrics on")
	}
}

func TestOnWithAProvider(t *testing.T) {
	if Tracer(sdktrace.NewTracerProvider()) == nil {
		t.Fatal("an SDK TracerProvider left tracing off")
	}
	if Meter(sdkmetric.NewMeterProvider()) == nil {
		t.Fatal("an SDK MeterProvider left metrics off")
	}
}

func TestFromContextDoesNotAllocateWithoutTrace(t *testing.T) {
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = FromContext(ctx) }); n != 0 {
		t.Fatalf("FromContext without a trace allocates %v times", n)
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add(sample)
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := Parse(s)
		if !ok {
			return
		}
		// What Parse accepts, Traceparent writes as version 00 and Parse
		// reads back as the same span context.
		again, ok := Parse(Traceparent(sc))
		if !ok || again.TraceID() != sc.TraceID() || again.SpanID() != sc.SpanID() || again.TraceFlags() != sc.TraceFlags() {
			t.Fatalf("round trip of %q lost the span context", s)
		}
	})
}

// A span's error status carries the first line of the error, bounded; no
// error leaves the status unset.
func TestSetError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	for _, err := range []error{
		nil,
		errors.New("handler failed\nbody: {\"secret\": 1}"),
		errors.New(strings.Repeat("x", 1000)),
	} {
		_, span := tracer.Start(context.Background(), "s")
		SetError(span, err)
		span.End()
	}
	got := rec.Ended()
	want := []struct {
		code codes.Code
		text string
	}{{codes.Unset, ""}, {codes.Error, "handler failed"}, {codes.Error, strings.Repeat("x", maxStatusText)}}
	for i, w := range want {
		if s := got[i].Status(); s.Code != w.code || s.Description != w.text {
			t.Errorf("span %d: status %v %q, want %v %q", i, s.Code, s.Description, w.code, w.text)
		}
	}
}
