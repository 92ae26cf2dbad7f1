package natsevents_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener/natsevents"
)

// TestSourceRefusesAbsurdConcurrency: a Concurrency of math.MaxInt was
// taken, and twice it (the events a worker may hold) overflowed to a
// negative room: the Source fetched no event, ever, and handled nothing,
// without an error or a log line. Concurrency past 10000 (the outbox
// Queue's bound on Workers) is now refused by Setup and Serve.
func TestSourceRefusesAbsurdConcurrency(t *testing.T) {
	b := newBus(t)
	for _, n := range []int{math.MaxInt, math.MaxInt/2 + 1, 10001} {
		src := &natsevents.Source{JetStream: b.js, Concurrency: n}
		if err := src.Setup(context.Background()); err == nil || !strings.Contains(err.Error(), "Concurrency") {
			t.Errorf("Setup with Concurrency %d = %v, want an error naming Concurrency", n, err)
		}
	}
	src := &natsevents.Source{JetStream: b.js, Concurrency: 10000}
	if err := src.Setup(context.Background()); err != nil {
		t.Errorf("Setup with Concurrency 10000 = %v", err)
	}
}
