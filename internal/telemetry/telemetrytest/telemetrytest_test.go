package telemetrytest

import (
	"context"
	"maps"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// TestPoints records a counter, a gauge and a histogram and reads each
// point back under its name and sorted attributes.
func TestPoints(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("t")
	ctx := context.Background()
	c, _ := m.Int64Counter("c_total")
	c.Add(ctx, 2, metric.WithAttributes(attribute.String("outcome", "ok"), attribute.String("destination", "acme")))
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("destination", "acme"), attribute.String("outcome", "ok")))
	c.Add(ctx, 5)
	g, _ := m.Int64Gauge("g")
	g.Record(ctx, 7)
	g.Record(ctx, 4)
	h, _ := m.Float64Histogram("h_seconds")
	h.Record(ctx, 0.1)
	h.Record(ctx, 3)
	want := map[string]int64{"c_total{destination=acme,outcome=ok}": 3, "c_total{}": 5, "g{}": 4, "h_seconds{}": 2}
	if got := Points(t, reader); !maps.Equal(got, want) {
		t.Fatalf("Points = %v, want %v", got, want)
	}
}
