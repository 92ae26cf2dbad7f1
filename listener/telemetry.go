package listener

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/internal/telemetry"
)

// WithTelemetry sets the OpenTelemetry providers of the listener. With a
// tracer, each dispatched event gets a span "herald.event" (its id and
// topic as attributes; never its payload), a child of the event's W3C
// trace context: the traceparent header of an [HTTPHandler] request, else
// the event's CloudEvents distributed-tracing extension ("traceparent" in
// [Event.Context]). Deliveries that [Forward] makes are children of that
// span, linked from it, and their webhooks carry its trace. With a meter,
// herald_events_received_total{outcome} counts events: handled, failed
// (to be redelivered) and rejected (a [Permanent] failure, or a request an
// HTTPHandler refused before dispatch). A nil provider means the otel
// global one, as it is when the listener first dispatches; while no
// program has set it, nothing is recorded and nothing is spent. The trace
// context is carried to deliveries either way.
//
// The traceparent of an event is unsigned metadata, even when a Verifier
// checks the request: it decides which trace a delivery joins, never what
// is delivered or where.
func WithTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) Option {
	return func(c *config) { c.tracerProvider, c.meterProvider = tp, mp }
}

// listenerTelemetry is what a listener records, resolved once.
type listenerTelemetry struct {
	tracer   trace.Tracer        // nil: no spans
	received metric.Int64Counter // nil: no metrics
}

// telemetry returns the listener's telemetry, nil when it is off.
func (r *router) telemetry() *listenerTelemetry {
	r.telOnce.Do(func() {
		t := &listenerTelemetry{tracer: telemetry.Tracer(r.cfg.tracerProvider)}
		if m := telemetry.Meter(r.cfg.meterProvider); m != nil {
			c, err := m.Int64Counter("herald_events_received_total",
				metric.WithDescription("Events received, by outcome: handled, failed (to be redelivered) or rejected."))
			if err == nil {
				t.received = c
			}
		}
		if t.tracer != nil || t.received != nil {
			r.tel = t
		}
	})
	return r.tel
}

// Dispatch runs every handler that matches ev, in registration order, and
// returns their errors joined as [errors.Join] joins them (nil when all
// succeeded). A failing or panicking handler does not stop the others. Before
// any handler runs, the payload is checked against the type of every matching
// [Handle]: when it does not decode or validate, no handler runs and the
// error is a [Permanent] one matching [ErrInvalidPayload]. An event whose
// topic and id were already handled (see [WithDedupe]) is skipped with a nil
// error. An event whose id is missing, over 256 bytes or not printable, or
// whose topic is malformed, is a [Permanent] error matching
// [ErrInvalidEvent]; one whose payload is ambiguous to a [Field] filter, one
// matching [ErrInvalidPayload]. On a child listener, Dispatch routes through
// the whole tree, as a source would.
//
// The handlers' context carries the event's trace context (see
// [WithTelemetry]), so that the deliveries they make continue its trace.
func (l *Listener) Dispatch(ctx context.Context, ev *Event) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if ev != nil && ev.Context != nil {
		ctx = telemetry.WithTraceparent(ctx, ev.Context[telemetry.HeaderTraceparent])
	}
	t := l.router().telemetry()
	if t == nil {
		return l.dispatch(ctx, ev)
	}
	var span trace.Span
	if t.tracer != nil && ev != nil {
		ctx, span = t.tracer.Start(ctx, "herald.event", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(telemetry.AttrEventID.String(ev.ID), telemetry.AttrEventTopic.String(ev.Topic)))
	}
	err := l.dispatch(ctx, ev)
	outcome := outcomeOf(err)
	if span != nil {
		span.SetAttributes(attribute.String("herald.event.outcome", outcome))
		telemetry.SetError(span, err)
		span.End()
	}
	t.count(ctx, outcome)
	return err
}

// outcomeOf names what became of a dispatched event.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "handled"
	case IsPermanent(err):
		return "rejected"
	default:
		return "failed"
	}
}

// count adds one event of outcome to herald_events_received_total.
func (t *listenerTelemetry) count(ctx context.Context, outcome string) {
	if t != nil && t.received != nil {
		t.received.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}

// telemetryOf returns the telemetry of the listener behind d, as loggerOf
// does its logger; nil when off or when d is not a listener.
func telemetryOf(d Dispatcher) *listenerTelemetry {
	switch d := d.(type) {
	case *Listener:
		return d.router().telemetry()
	case *gate:
		return d.l.router().telemetry()
	}
	return nil
}
