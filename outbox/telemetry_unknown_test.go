package outbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/telemetry/telemetrytest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestMetricsUnknownDestinations: the outbox may hold deliveries to
// destinations the Queue does not know (another worker's configuration,
// one removed since, or another writer's records), and the Queue
// dead-letters them. herald_deliveries_total labelled each with its
// name, so what the store held made series without bound; they share the
// empty destination now.
func TestMetricsUnknownDestinations(t *testing.T) {
	rcv, s, reader := meteredReceiver(t)
	ob := outbox.NewMemory()
	const n = 20
	now := time.Now()
	for i := range n {
		d := outbox.Delivery{ID: fmt.Sprint("d", i), Destination: fmt.Sprint("gone-", i), Body: []byte(`{}`), Due: now, Created: now}
		if err := ob.Put(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	q := &outbox.Queue{Outbox: ob, Sender: s, Poll: 10 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "ok", URL: rcv.URL()}}}
	queuetest.Run(t, q)
	var series map[string]int64
	for i := 0; ; i++ { // until the Queue has counted every dead letter
		series = map[string]int64{}
		total := int64(0)
		for k, v := range telemetrytest.Points(t, reader) {
			if strings.HasPrefix(k, "herald_deliveries_total{") {
				series[k] = v
				total += v
			}
		}
		if total == n {
			break
		}
		if i == 1000 {
			t.Fatalf("the deliveries to unknown destinations were not counted: %v", series)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := "herald_deliveries_total{destination=,outcome=dead_letter}"
	if len(series) != 1 || series[want] != n {
		t.Fatalf("series %v; want %s = %d alone", series, want, n)
	}
}
