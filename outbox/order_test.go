package outbox_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestQueueOrderedRefused: over a store that does not keep key order, a
// Queue with an Ordered destination refuses to work, and says why, rather
// than reorder silently.
func TestQueueOrderedRefused(t *testing.T) {
	unordered := struct{ outbox.Outbox }{outbox.NewMemory()} // hides OrdersByKey
	q := &outbox.Queue{Outbox: unordered, Destinations: []sender.Destination{
		{Name: "plain", URL: "https://a.example/"},
		{Name: "strict", URL: "https://b.example/", Ordered: true},
	}}
	_, err := q.Enqueue(ctx, "plain", sender.Message{Body: []byte("{}")})
	if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), `"strict" is ordered`) {
		t.Fatalf("Enqueue = %v, want ErrInvalid naming the ordered destination", err)
	}
	if err := q.Run(ctx); !errors.Is(err, outbox.ErrInvalid) {
		t.Fatalf("Run = %v, want ErrInvalid", err)
	}
}

// TestQueueKeyOnlyWhenOrdered: the Queue stores a message's partition key
// for an Ordered destination only, and refuses a malformed key.
func TestQueueKeyOnlyWhenOrdered(t *testing.T) {
	ob := outbox.NewMemory()
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{
		{Name: "plain", URL: "https://a.example/"},
		{Name: "strict", URL: "https://b.example/", Ordered: true},
	}}
	for _, dest := range []string{"plain", "strict"} {
		if _, err := q.Enqueue(ctx, dest, sender.Message{ID: dest, Body: []byte("{}"), PartitionKey: "order-7"}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now().Add(time.Hour)})
	if err != nil || len(ls) != 2 {
		t.Fatalf("Lease = %d, %v", len(ls), err)
	}
	for _, l := range ls {
		if want := map[string]string{"strict": "order-7"}[l.Destination]; l.PartitionKey != want {
			t.Errorf("%s stored with key %q, want %q", l.Destination, l.PartitionKey, want)
		}
	}
	for _, key := range []string{"a\nb", strings.Repeat("k", 257), "\xff"} {
		for _, dest := range []string{"plain", "strict"} {
			_, err := q.Enqueue(ctx, dest, sender.Message{Body: []byte("{}"), PartitionKey: key})
			if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "partition key") {
				t.Errorf("Enqueue to %s with key %q = %v, want ErrInvalid about the partition key", dest, key, err)
			}
		}
	}
}

// TestQueueOrderedParallel: at a real HTTPS receiver, the deliveries of
// one key to an Ordered destination go one at a time; those of different
// keys, and those of one key to a destination without ordering, go in
// parallel.
func TestQueueOrderedParallel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ordered bool
		keys    int
		one     bool // want at most one request in flight
	}{
		{"ordered, one key", true, 1, true},
		{"ordered, many keys", true, 8, false},
		{"unordered, one key", false, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGauge(t, 20*time.Millisecond)
			ob := outbox.NewMemory()
			q := &outbox.Queue{
				Outbox: ob, Sender: loopbackSender(t, g.srv), Workers: 8, PerDestination: 8, Poll: 5 * time.Millisecond,
				Destinations: []sender.Destination{{Name: "d", URL: g.srv.URL, Ordered: tc.ordered}},
			}
			const n = 24
			for i := range n {
				m := sender.Message{Body: []byte("{}"), PartitionKey: fmt.Sprint("key", i%tc.keys)}
				if _, err := q.Enqueue(ctx, "d", m); err != nil {
					t.Fatal(err)
				}
			}
			queuetest.Run(t, q)
			queuetest.WaitFor(t, 20*time.Second, "every delivery", func() bool { return stats(t, ob).Pending == 0 })
			if got := g.maxSeen.Load(); (got == 1) != tc.one {
				t.Errorf("%d requests in flight at most; want one at a time: %v", got, tc.one)
			}
		})
	}
}

// TestQueueOrderedLineGoesOn: the deliveries of one key to an Ordered
// destination go out one after another, each as soon as the one before
// it is recorded, not one per poll interval: a Queue that polls once an
// hour delivers a line of five, through the memory store, which has no
// wake-ups of its own.
func TestQueueOrderedLineGoesOn(t *testing.T) {
	g := newGauge(t, 0)
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: loopbackSender(t, g.srv), Workers: 4, Poll: time.Hour,
		Destinations: []sender.Destination{{Name: "d", URL: g.srv.URL, Ordered: true}},
	}
	for range 5 {
		if _, err := q.Enqueue(ctx, "d", sender.Message{Body: []byte("{}"), PartitionKey: "K"}); err != nil {
			t.Fatal(err)
		}
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 20*time.Second, "the line of five, polling once an hour", func() bool { return g.count.Load() == 5 })
}
