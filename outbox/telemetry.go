package outbox

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/sender"
)

// A Queue traces and measures through its Sender's TracerProvider and
// MeterProvider (or the otel globals, for a Queue without a Sender): a
// span "herald.delivery" per delivery enqueued, a child of the enqueuing
// span (an event's, through listener.Forward) and linked from it; its
// traceparent is stored with the delivery (Delivery.TraceParent), so that
// every attempt, after a restart too, is a child of it and sends it on.
// With tracing off the enqueuing span context's traceparent is stored as
// it is. Metrics: herald_deliveries_total{destination,outcome} (the
// destination "" for one the Queue does not know), herald_outbox_pending,
// herald_outbox_dead_letters and herald_destination_state{destination,state}
// (1 while the destination is paused, failing or disabled, as [Hold]
// says, 0 otherwise), through the [Metrics] and [HoldMetrics] hooks.

// spanDelivery names the delivery span.
const spanDelivery = "herald.delivery"

// initTelemetry resolves the tracer and the metrics of the Queue, once,
// from its sender; q.metrics stays nil when neither Metrics nor otel
// metrics are on.
func (q *Queue) initTelemetry() {
	q.tracer = telemetry.Tracer(q.sender.TracerProvider)
	om := newOtelMetrics(telemetry.Meter(q.sender.MeterProvider), q.Destinations)
	user := q.guardMetrics(q.Metrics)
	switch {
	case om != nil && user != nil:
		q.metrics = bothMetrics{om, user}
	case om != nil:
		q.metrics = om
	default:
		q.metrics = user
	}
}

// traceDeliveries gives each of ds without a TraceParent the one it is to
// keep: with tracing on, that of a new "herald.delivery" span, child of
// ctx's span and linked from it, returned to be ended once stored;
// otherwise that of ctx's span context, if any.
func (q *Queue) traceDeliveries(ctx context.Context, ds []Delivery) []trace.Span {
	if q.tracer == nil {
		tp := telemetry.FromContext(ctx)
		for i := range ds {
			if ds[i].TraceParent == "" {
				ds[i].TraceParent = tp
			}
		}
		return nil
	}
	parent := trace.SpanFromContext(ctx)
	spans := make([]trace.Span, 0, len(ds))
	for i := range ds {
		d := &ds[i]
		if d.TraceParent != "" {
			continue
		}
		_, sp := q.tracer.Start(ctx, spanDelivery, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(telemetry.AttrDeliveryID.String(d.ID), telemetry.AttrDestination.String(d.Destination), telemetry.AttrEventID.String(d.EventID)))
		d.TraceParent = telemetry.Traceparent(sp.SpanContext())
		if parent.IsRecording() {
			parent.AddLink(trace.Link{SpanContext: sp.SpanContext(), Attributes: []attribute.KeyValue{telemetry.AttrDeliveryID.String(d.ID)}})
		}
		spans = append(spans, sp)
	}
	return spans
}

// endSpans ends the delivery spans of a Put, with its error.
func endSpans(spans []trace.Span, err error) {
	for _, sp := range spans {
		telemetry.SetError(sp, err)
		sp.End()
	}
}

// otelMetrics is the [Metrics] that records a Queue's samples as
// OpenTelemetry instruments of the fixed herald_* names.
type otelMetrics struct {
	deliveries    metric.Int64Counter
	pending, dead metric.Int64Gauge
	held          metric.Int64Gauge // herald_destination_state
	// known holds the names of the Queue's destinations: a delivery to
	// another (dead-lettered as unknown) is counted under the empty name,
	// so that what the outbox holds cannot add series without bound.
	known map[string]bool
}

// newOtelMetrics makes the instruments on m for a Queue with the
// destinations ds; nil when m is nil or fails.
func newOtelMetrics(m metric.Meter, ds []sender.Destination) *otelMetrics {
	if m == nil {
		return nil
	}
	o := otelMetrics{known: make(map[string]bool, len(ds))}
	for _, d := range ds {
		o.known[d.Name] = true
	}
	var e1, e2, e3, e4 error
	o.deliveries, e1 = m.Int64Counter("herald_deliveries_total",
		metric.WithDescription("Webhook delivery attempts of the outbox by outcome: delivered, retry_scheduled or dead_letter."))
	o.pending, e2 = m.Int64Gauge("herald_outbox_pending",
		metric.WithDescription("Deliveries pending in the outbox, in flight included."))
	o.dead, e3 = m.Int64Gauge("herald_outbox_dead_letters",
		metric.WithDescription("Dead letters held in the outbox."))
	o.held, e4 = m.Int64Gauge("herald_destination_state",
		metric.WithDescription("1 while the destination is held in the state: paused (breaker open, or Retry-After), failing (recorded, not yet disabled) or disabled; 0 otherwise."))
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		return nil
	}
	return &o
}

// Observe counts a settled attempt; a release is not an outcome.
func (o *otelMetrics) Observe(s Sample) {
	var outcome string
	switch s.Outcome {
	case Delivered:
		outcome = "delivered"
	case Retrying:
		outcome = "retry_scheduled"
	case DeadLettered:
		outcome = "dead_letter"
	default:
		return
	}
	dest := s.Destination
	if !o.known[dest] {
		dest = ""
	}
	o.deliveries.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("destination", dest), attribute.String("outcome", outcome)))
}

// Depth records the outbox's counts.
func (o *otelMetrics) Depth(s Stats, _ int) {
	ctx := context.Background()
	o.pending.Record(ctx, int64(s.Pending))
	o.dead.Record(ctx, int64(s.Dead))
}

// Held sets the destination's herald_destination_state series, one per
// state, to 1 or 0. The destination is one of the Queue's (so the series
// are bounded by its configuration); "" is one without a name.
func (o *otelMetrics) Held(destination string, h Hold) {
	ctx := context.Background()
	dest := attribute.String("destination", destination)
	for _, s := range [...]struct {
		state string
		on    bool
	}{{"paused", h.Paused}, {"failing", h.Failing}, {"disabled", h.Disabled}} {
		var v int64
		if s.on {
			v = 1
		}
		o.held.Record(ctx, v, metric.WithAttributes(dest, attribute.String("state", s.state)))
	}
}

// bothMetrics hands every sample to otel's metrics and then to the user's
// Metrics, in that order: a hook that sees a sample can count on the
// OpenTelemetry instruments having recorded it already.
type bothMetrics [2]Metrics

func (b bothMetrics) Observe(s Sample) { b[0].Observe(s); b[1].Observe(s) }

func (b bothMetrics) Depth(s Stats, inFlight int) { b[0].Depth(s, inFlight); b[1].Depth(s, inFlight) }

// Held hands h to each of the two that is a [HoldMetrics].
func (b bothMetrics) Held(destination string, h Hold) {
	for _, m := range b {
		if hm, ok := m.(HoldMetrics); ok {
			hm.Held(destination, h)
		}
	}
}
