package sender

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/internal/telemetry"
)

// Span and attribute names of a delivery. Attributes never hold a URL, a
// header value, a signature or a secret: a destination is named by its
// Name, "" when it has none (logs and errors name it by its redacted URL).
const (
	spanSend    = "herald.send"    // one Send
	spanAttempt = "herald.attempt" // one HTTP request of it

	attrAttempt       = attribute.Key("herald.attempt")
	attrStatus        = attribute.Key("http.response.status_code")
	attrRetryWait     = attribute.Key("herald.retry.wait_seconds")
	attrAttempts      = attribute.Key("herald.attempts")
	attrOutboxAttempt = attribute.Key("herald.outbox.attempt")
)

// Metric names of the attempts a Sender makes.
const (
	metricAttempts = "herald_delivery_attempts_total"
	metricDuration = "herald_delivery_duration_seconds"
)

// durationBuckets are the bounds, in seconds, of the attempt duration
// histogram: from a fast receiver on the same network to the default
// 30-second attempt timeout.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// senderTelemetry is what a Sender records, resolved once by init: nil when
// neither tracing nor metrics are on, so that a Sender left unconfigured
// pays one pointer test per attempt.
type senderTelemetry struct {
	tracer   trace.Tracer        // nil: no spans
	attempts metric.Int64Counter // nil: no metrics
	duration metric.Float64Histogram
}

// newTelemetry resolves the Sender's providers (or the otel globals).
func (s *Sender) newTelemetry() *senderTelemetry {
	t := &senderTelemetry{tracer: telemetry.Tracer(s.TracerProvider)}
	if m := telemetry.Meter(s.MeterProvider); m != nil {
		var err1, err2 error
		t.attempts, err1 = m.Int64Counter(metricAttempts,
			metric.WithDescription("HTTP requests made to deliver webhooks, by destination and status code (\"error\" when no response came)."))
		t.duration, err2 = m.Float64Histogram(metricDuration, metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...),
			metric.WithDescription("Duration of each HTTP request of a webhook delivery, by destination."))
		if err1 != nil || err2 != nil {
			t.attempts, t.duration = nil, nil // a provider that cannot make them records nothing
		}
	}
	if t.tracer == nil && t.attempts == nil {
		return nil
	}
	return t
}

// startSpan starts the span of a Send, a child of the caller's span, if
// tracing is on.
func (d *delivery) startSpan() {
	t := d.s.tel
	if t == nil || t.tracer == nil {
		return
	}
	_, d.span = t.tracer.Start(d.parent, spanSend, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(telemetry.AttrDeliveryID.String(d.id), telemetry.AttrDestination.String(d.dest.Name)))
	if n := telemetry.AttemptFrom(d.parent); n > 0 {
		d.span.SetAttributes(attrOutboxAttempt.Int(n)) // an outbox Queue's attempt
	}
}

// endSpan ends the span of a Send with its outcome: a DeliveryError's
// cause, as the log line gives it, without the "to <destination>" that
// names an unnamed destination by its URL.
func (d *delivery) endSpan(err error) {
	d.endAttemptSpan()
	if d.span == nil {
		return
	}
	d.span.SetAttributes(attrAttempts.Int(d.attempts))
	var de *DeliveryError
	if errors.As(err, &de) && de.Err != nil {
		err = de.Err
	}
	telemetry.SetError(d.span, err)
	d.span.End()
	d.span = nil
}

// traceparent returns the traceparent header of the attempt about to
// start, starting its span when tracing is on: the attempt's span context,
// else the caller's ("" when the caller has none).
func (d *delivery) traceparent() string {
	if d.span == nil {
		return d.callerTrace
	}
	ctx := trace.ContextWithSpan(d.parent, d.span)
	_, d.attemptSpan = d.s.tel.tracer.Start(ctx, spanAttempt, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(telemetry.AttrDeliveryID.String(d.id), telemetry.AttrDestination.String(d.dest.Name), attrAttempt.Int(d.attempts+1)))
	return telemetry.Traceparent(d.attemptSpan.SpanContext())
}

// recordAttempt records the attempt that just ended: its span, if any,
// and its metrics.
func (d *delivery) recordAttempt(ctx context.Context, took time.Duration, retry bool) {
	t := d.s.tel
	if t == nil {
		return
	}
	if t.attempts != nil {
		code := "error"
		if d.status != 0 {
			code = strconv.Itoa(d.status)
		}
		dest := attribute.String("destination", d.dest.Name)
		t.attempts.Add(ctx, 1, metric.WithAttributes(dest, attribute.String("code", code)))
		t.duration.Record(ctx, took.Seconds(), metric.WithAttributes(dest))
	}
	if sp := d.attemptSpan; sp != nil {
		if d.status != 0 {
			sp.SetAttributes(attrStatus.Int(d.status))
		}
		if retry {
			sp.SetAttributes(attrRetryWait.Float64(d.wait.Seconds()))
		}
		telemetry.SetError(sp, d.cause)
		d.endAttemptSpan()
	}
}

// endAttemptSpan ends the current attempt's span, if any.
func (d *delivery) endAttemptSpan() {
	if d.attemptSpan != nil {
		d.attemptSpan.End()
		d.attemptSpan = nil
	}
}

// startTrace starts the span of a Send when tracing is on, and otherwise
// keeps the caller's traceparent, if any, for the attempts' headers.
func (d *delivery) startTrace() {
	if t := d.s.tel; t != nil && t.tracer != nil {
		d.startSpan()
		return
	}
	d.callerTrace = telemetry.FromContext(d.parent)
}
