// Package telemetrytest reads back the metrics herald's packages record,
// for their tests: one flat map of data points that a test compares with
// the points it expects. Only tests import it.
package telemetrytest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Points collects reader and returns each data point keyed by its metric's
// name and attributes, as in "herald_deliveries_total{destination=acme,
// outcome=delivered}" (attributes sorted by key, none: "{}"): the value of
// an int64 counter or gauge, the count of a float64 histogram. A metric of
// another kind fails the test.
func Points(t testing.TB, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	enc := attribute.DefaultEncoder()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			key := func(s attribute.Set) string { return m.Name + "{" + s.Encoded(enc) + "}" }
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					out[key(dp.Attributes)] += dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range data.DataPoints {
					out[key(dp.Attributes)] = dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					out[key(dp.Attributes)] += int64(dp.Count)
				}
			default:
				t.Fatalf("metric %s is a %T, which Points does not read", m.Name, m.Data)
			}
		}
	}
	return out
}
