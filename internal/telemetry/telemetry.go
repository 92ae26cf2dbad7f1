// Package telemetry is what herald's packages share of OpenTelemetry: the
// choice between a configured provider and the otel globals, the cheap
// "off" test that keeps an unconfigured program free of tracing and metric
// costs, and the W3C traceparent carried from events to webhooks, through
// the outbox, whether or not spans are recorded.
//
// It uses the OpenTelemetry API only; the SDK and exporters belong to the
// programs (cmd/herald).
package telemetry

import (
	"context"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald/internal/version"
)

// Scope is the instrumentation scope of herald's spans and instruments.
const Scope = "github.com/heraldhq/herald"

// The otel globals as they are before a program sets them: delegating
// no-ops. While the globals are still these, herald records nothing.
var (
	unsetTracerProvider = otel.GetTracerProvider()
	unsetMeterProvider  = otel.GetMeterProvider()
)

// maxStatusText bounds the error text a span's status carries.
const maxStatusText = 300

// SetError marks span failed by err, when err is not nil. The status
// carries the first line of err's text, at most maxStatusText bytes of
// UTF-8 (a byte that is not becomes U+FFFD): a handler's error may be
// long, or quote a multi-line body.
func SetError(span trace.Span, err error) {
	if err == nil {
		return
	}
	text := err.Error()
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	// OTLP carries the text as a protobuf string, which must be UTF-8: an
	// exporter refuses the whole batch of spans otherwise.
	if len(text) > maxStatusText {
		text = text[:maxStatusText]
	}
	text = strings.ToValidUTF8(text, "\uFFFD") // a rune split by the cut too
	if len(text) > maxStatusText {
		i := maxStatusText
		for !utf8.RuneStart(text[i]) {
			i--
		}
		text = text[:i]
	}
	span.SetStatus(codes.Error, text)
}

// Tracer returns herald's tracer from tp, or from the otel global provider
// when tp is nil. It returns nil when tracing is off: tp is a no-op
// provider, or tp is nil and the global provider was never set. Callers
// resolve it once, when they start, and make no span when it is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp, on := recording(tp, otel.GetTracerProvider, unsetTracerProvider); on {
		return tp.Tracer(Scope, trace.WithInstrumentationVersion(version.Version))
	}
	return nil
}

// Meter returns herald's meter from mp, or from the otel global provider
// when mp is nil, and nil when metrics are off, by the rule of [Tracer].
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp, on := recording(mp, otel.GetMeterProvider, unsetMeterProvider); on {
		return mp.Meter(Scope, metric.WithInstrumentationVersion(version.Version))
	}
	return nil
}

// recording returns p, or the global provider when p is nil, and whether
// it records anything: it is not a no-op provider, nor the global one
// while no program has set it (unset).
func recording[P comparable](p P, global func() P, unset P) (P, bool) {
	var none P
	if p == none {
		p = global()
		if p == unset {
			return none, false
		}
	}
	switch any(p).(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider,
		metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return none, false
	}
	return p, true
}

// Span attribute keys shared by the packages that trace a delivery; an
// attribute never holds a URL, a header value, a signature or a secret.
const (
	AttrDeliveryID  = attribute.Key("herald.delivery.id")
	AttrDestination = attribute.Key("herald.destination")
	AttrEventID     = attribute.Key("herald.event.id")
	AttrEventTopic  = attribute.Key("herald.event.topic")
)

// HeaderTraceparent is the W3C Trace Context header (and CloudEvents
// distributed-tracing extension attribute) name.
const HeaderTraceparent = "traceparent"

// canonicalTraceparent is HeaderTraceparent as net/http keys it.
const canonicalTraceparent = "Traceparent"

// MaxTraceparent bounds a stored traceparent: version 00 takes 55 bytes;
// later versions may append fields.
const MaxTraceparent = 256

// Traceparent returns the W3C traceparent of sc, "" when sc is not valid.
func Traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// FromContext returns the traceparent of the span context in ctx, "" when
// there is none. It does not allocate when there is none.
func FromContext(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return Traceparent(sc)
}

// Parse parses a W3C traceparent, as the Trace Context propagator reads
// it, and reports whether it is valid.
func Parse(s string) (trace.SpanContext, bool) {
	if s == "" || len(s) > MaxTraceparent {
		return trace.SpanContext{}, false
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), traceparentCarrier(s))
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}

// WithTraceparent returns ctx carrying the remote span context of the
// traceparent s, so that spans started from it, and webhooks sent with it,
// continue that trace. It returns ctx unchanged when s is empty or not
// valid, or when ctx already has a valid span context (which then wins).
func WithTraceparent(ctx context.Context, s string) context.Context {
	if s == "" || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	sc, ok := Parse(s)
	if !ok {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// SetHeader sets the traceparent header of h to tp, if tp is not empty.
func SetHeader(h map[string][]string, tp string) {
	if tp != "" {
		h[canonicalTraceparent] = []string{tp}
		delete(h, "Tracestate") // it belonged to another trace, if any
	}
}

// HeaderValue returns the traceparent header of h, "" when there is none
// or more than one.
func HeaderValue(h map[string][]string) string {
	if vs := h[canonicalTraceparent]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

// traceparentCarrier is a TextMapCarrier holding one traceparent.
type traceparentCarrier string

func (c traceparentCarrier) Get(key string) string {
	if key == HeaderTraceparent {
		return string(c)
	}
	return ""
}
func (traceparentCarrier) Set(string, string) {}
func (traceparentCarrier) Keys() []string     { return []string{HeaderTraceparent} }

// attemptKey is the context key of an outbox attempt number.
type attemptKey struct{}

// WithAttempt returns ctx carrying n, the number of the outbox attempt a
// Send makes, so that the Send's span can say which attempt it is. Callers
// add it only when tracing is on.
func WithAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}

// AttemptFrom returns the outbox attempt number in ctx, 0 when none.
func AttemptFrom(ctx context.Context) int {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n
}
